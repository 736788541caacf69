package queue

import (
	"strings"
	"testing"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/upload"
)

// TestPipelineStagesMediaAccount: the account a worker keys its media on
// is the media-id cache's (upload.MediaUploader.CacheKey): distinct for
// two Meta phone numbers and for two 360dialog keys (never showing the
// key), empty for the link host.
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
}
