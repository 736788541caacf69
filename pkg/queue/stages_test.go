package queue

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// TestPipelineStagesMediaAccount: the account a worker keys its media on
// is the media-id cache's (upload.MediaUploader.CacheKey): distinct for
// two Meta phone numbers and for two 360dialog keys (never showing the
// key), empty for no link host; for an S3 link host its bucket's URL
// (without the access key id: keys are presigned again there only).
func TestPipelineStagesMediaAccount(t *testing.T) {
	stages := func(phoneID, d360Key string) PipelineStages {
		t.Helper()
		meta, err := send.NewMeta(send.WithBaseURL("http://127.0.0.1:9"), send.WithToken("secret-token"), send.WithPhoneNumberID(phoneID))
		if err != nil {
			t.Fatal(err)
		}
		d360, err := send.NewD360(send.WithBaseURL("http://127.0.0.1:9"), send.WithAPIKey(d360Key))
		if err != nil {
			t.Fatal(err)
		}
		mm, _ := upload.NewMedia(meta, nil)
		dm, _ := upload.NewMedia(d360, nil)
		p, err := pipeline.New(pipeline.Config{
			Senders: map[send.Provider]send.Sender{send.Meta: meta, send.D360: d360},
			Media:   map[send.Provider]upload.Uploader{send.Meta: mm, send.D360: dm},
		})
		if err != nil {
			t.Fatal(err)
		}
		return PipelineStages{P: p}
	}
	a, b := stages("100000000000001", "key-of-a"), stages("100000000000002", "key-of-b")
	link := pipeline.Destination(send.Infobip, true)
	for _, dest := range []string{pipeline.Destination(send.Meta, false), pipeline.Destination(send.D360, false), link} {
		ma, mb := a.MediaAccount(dest), b.MediaAccount(dest)
		if dest == link {
			if ma != "" || mb != "" {
				t.Errorf("%s: accounts %q and %q, want none (a link is not account-bound)", dest, ma, mb)
			}
			continue
		}
		if ma == "" || ma == mb {
			t.Errorf("%s: accounts %q and %q, want two distinct ones", dest, ma, mb)
		}
		for _, secret := range []string{"secret-token", "key-of-a", "key-of-b"} {
			if strings.Contains(ma+mb, secret) {
				t.Errorf("%s: account %q / %q shows a credential", dest, ma, mb)
			}
		}
	}
	if got := a.MediaAccount("meta"); !strings.HasPrefix(got, "100000000000001@") {
		t.Errorf("Meta account %q, want the phone number id first", got)
	}
	s3, err := upload.NewS3(context.Background(), upload.S3Config{Bucket: "voice", Endpoint: "http://127.0.0.1:9", Region: "us-east-1",
		AccessKeyID: "AKIAEXAMPLEKEYID", SecretAccessKey: "secret-key", Prefix: "p/"})
	if err != nil {
		t.Fatal(err)
	}
	ib, err := send.NewInfobip(send.WithBaseURL("http://127.0.0.1:9"), send.WithAPIKey("k"), send.WithSender("447860099299"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(pipeline.Config{Senders: map[send.Provider]send.Sender{send.Infobip: ib}, Link: s3})
	if err != nil {
		t.Fatal(err)
	}
	if got := (PipelineStages{P: p}).MediaAccount(link); got != "http://127.0.0.1:9/voice/" {
		t.Errorf("S3 link host %q, want http://127.0.0.1:9/voice/", got)
	}
}

// TestPipelineStagesPartialUploadNotMedia: a recording split in parts
// whose second part's upload is refused has no media at that destination
// — not its first part alone, which the worker would store as the
// recording's media and every row would be sent with, part 2 never sent
// and the row "sent". (Failed before the fix: Media["meta"] held 1 ref of
// the 2 parts.)
func TestPipelineStagesPartialUploadNotMedia(t *testing.T) {
	testdeps.Tool(t, "ffmpeg", "make deps")
	dir := t.TempDir()
	src := filepath.Join(dir, "talk.wav")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
		"anoisesrc=duration=20:color=pink:sample_rate=16000", "-ac", "1", src).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	var mu sync.Mutex
	uploads := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/media") {
			http.NotFound(w, r)
			return
		}
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		uploads++
		n := uploads
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n > 1 {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"(#100) Invalid parameter","type":"OAuthException","code":100}}`)
			return
		}
		io.WriteString(w, `{"id":"media-1"}`)
	}))
	defer srv.Close()
	meta, err := send.NewMeta(send.WithBaseURL(srv.URL), send.WithToken("t"), send.WithPhoneNumberID("100000000000001"))
	if err != nil {
		t.Fatal(err)
	}
	mm, err := upload.NewMedia(meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(pipeline.Config{
		Senders:   map[send.Provider]send.Sender{send.Meta: meta},
		Media:     map[send.Provider]upload.Uploader{send.Meta: mm},
		Transcode: transcode.Options{MaxBytes: 8_000},
	})
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	prep, err := PipelineStages{P: p}.Prepare(context.Background(), PrepareRequest{Path: src, Name: src,
		Profile: transcode.ProfileVoice, Split: true, Dests: []string{"meta"}, Dir: work})
	mu.Lock()
	n := uploads
	mu.Unlock()
	if n < 2 {
		t.Fatalf("%d upload requests (err %v): the recording was not split, the test did not test", n, err)
	}
	if err == nil {
		t.Fatal("no error, want the refused upload's")
	}
	if prep != nil && prep.Media["meta"] != nil {
		t.Errorf("media at meta %+v with the upload of a part refused, want none (the row would be sent without its other parts)", prep.Media["meta"])
	}
}
