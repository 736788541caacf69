package upload

import (
	"bytes"
	"context"
	"errors"
	"github.com/prep-audio/prep/pkg/send"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
)

// testdata is the repository's sample directory.
const testdata = "../../testdata"

// sample returns the path of a testdata sample, skipping the test when the
// file is missing or when pkg/inspect has no parser for its container yet
// (the report has no container). Once the parser exists the test runs and
// can fail.
func sample(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(testdata, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("sample %s missing (testdata is committed; make samples remakes it)", name)
	}
	rep, _ := inspect.File(context.Background(), p)
	if rep.Container == "" && !rep.Has(inspect.CodeNotAudio) && !rep.Has(inspect.CodeEmpty) {
		t.Fatalf("pkg/inspect cannot parse %s: %s", name, rep.Error)
	}
	return p
}

// accepted are the samples of every type WhatsApp accepts, with the type
// they are (from the sample's name and how testdata/gen made it, not from
// this package).
var accepted = []struct {
	file, mime, ext string
}{
	{"ogg-opus-mono-48k-2s.ogg", "audio/ogg", ".ogg"},
	{"aac-adts-lc-mono-44100.aac", "audio/aac", ".aac"},
	{"amr-nb-mr122-sox-2s.amr", "audio/amr", ".amr"},
	{"mp3-vbr-q4-mono-44100-xing.mp3", "audio/mpeg", ".mp3"},
	{"m4a-aac-stereo-48000-faststart.m4a", "audio/mp4", ".m4a"},
}

// refused are samples no provider takes, with the problem expected.
var refused = []struct {
	file string
	code inspect.Code
}{
	{"hostile-html.mp3", inspect.CodeNotAudio},
	{"hostile-empty.mp3", inspect.CodeEmpty},
	{"ogg-opus-stereo-input44100-3s.opus", inspect.CodeNotMono},
	{"ogg-vorbis-stereo-44k-2s.ogg", inspect.CodeUnsupportedCodec},
	{"mp4-video-mpeg4-with-aac.mp4", inspect.CodeHasVideo},
	{"webm-opus-mono-2s.webm", inspect.CodeUnsupportedContainer},
	{"wav-pcm-s16le-mono-16k-0.25s.wav", inspect.CodeUnsupportedContainer},
}

// copyAs copies a sample to a temp file with another name.
func copyAs(t *testing.T, src, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// fakeFile is bytes with a hand-made inspection, for tests of this
// package's own logic independent of the parsers.
func fakeFile(data []byte, rep inspect.Report) File {
	rep.Size = int64(len(data))
	return File{R: bytes.NewReader(data), Size: int64(len(data)), Name: "fake.bin", Report: &rep}
}

var monoOpus = inspect.Report{Container: "ogg", Codec: "opus", Channels: 1, Streams: 1, MIME: "audio/ogg", AudioReady: true, VoiceReady: true, Problems: []inspect.Problem{}}

func TestAcceptTable(t *testing.T) {
	tests := []struct {
		name     string
		rep      inspect.Report
		wantMIME string // "" = refused
		wantCode inspect.Code
	}{
		{"mono opus", monoOpus, "audio/ogg", ""},
		{"ext mismatch only", with(monoOpus, func(r *inspect.Report) {
			r.Problems = []inspect.Problem{{Code: inspect.CodeExtMismatch}}
		}), "audio/ogg", ""},
		{"over voice budget is still audio", with(monoOpus, func(r *inspect.Report) {
			r.VoiceReady = false
			r.Problems = []inspect.Problem{{Code: inspect.CodeTooLargeForVoice}}
		}), "audio/ogg", ""},
		{"stereo aac is fine", inspect.Report{Container: "adts", Codec: "aac", Channels: 2, AudioReady: true,
			Problems: []inspect.Problem{{Code: inspect.CodeNotMono}}}, "audio/aac", ""},
		{"stereo opus", with(monoOpus, func(r *inspect.Report) {
			r.Channels, r.AudioReady = 2, false
			r.Problems = []inspect.Problem{{Code: inspect.CodeNotMono, Message: "2 channels"}}
		}), "", inspect.CodeNotMono},
		{"stereo opus without the problem listed", with(monoOpus, func(r *inspect.Report) { r.Channels = 2 }), "", inspect.CodeNotMono},
		{"video flag without the problem listed", with(monoOpus, func(r *inspect.Report) { r.HasVideo = true }), "", inspect.CodeHasVideo},
		{"vorbis", inspect.Report{Container: "ogg", Codec: "vorbis", Channels: 2,
			Problems: []inspect.Problem{{Code: inspect.CodeUnsupportedCodec}}}, "", inspect.CodeUnsupportedCodec},
		{"unknown type, no problems listed", inspect.Report{Container: "wav", Codec: "pcm_s16le", Channels: 1}, "", inspect.CodeUnsupportedContainer},
		{"not audio", inspect.Report{MIME: "text/html", Problems: []inspect.Problem{{Code: inspect.CodeNotAudio}}}, "", inspect.CodeNotAudio},
		{"truncated", with(monoOpus, func(r *inspect.Report) {
			r.Truncated, r.AudioReady = true, false
			r.Problems = []inspect.Problem{{Code: inspect.CodeTruncated}}
		}), "", inspect.CodeTruncated},
		{"not ready, no reason given", with(monoOpus, func(r *inspect.Report) { r.AudioReady = false }), "", inspect.CodeCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, err := accept("x", &tt.rep)
			if tt.wantMIME != "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if typ.MIME != tt.wantMIME {
					t.Fatalf("MIME %q, want %q", typ.MIME, tt.wantMIME)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *RefusedError", err)
			}
			if re.Kind != tt.wantCode {
				t.Fatalf("code %q, want %q", re.Kind, tt.wantCode)
			}
		})
	}
}

func with(r inspect.Report, f func(*inspect.Report)) inspect.Report {
	r.Problems = append([]inspect.Problem(nil), r.Problems...)
	f(&r)
	return r
}

func TestTooLargeRefusedFromRulesLimit(t *testing.T) {
	// A report claiming a size over the rules limit is refused even if it
	// says it is ready: this package checks the limit itself.
	rep := monoOpus
	rep.Size = rules.AudioMaxBytes + 1
	_, err := accept("big.ogg", &rep)
	var re *RefusedError
	if !errors.As(err, &re) || re.Kind != inspect.CodeTooLarge {
		t.Fatalf("err = %v, want too_large refusal", err)
	}
	if !strings.Contains(re.Error(), "transcode it first") || strings.Contains(re.Error(), "prep ") {
		t.Fatalf("no transcode advice, or the CLI's words, in %q", re.Error())
	}
}

func TestFileStem(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/tmp/voice.mp4", "voice"},
		{"my recording.wav", "my_recording"},
		{"../../etc/passwd", "passwd"},
		{"ünïcødé.ogg", "ncd"},
		{"", "audio"},
		{".ogg", "audio"},
		{`a"b\c.ogg`, "abc"},
		{strings.Repeat("x", 100) + ".mp3", strings.Repeat("x", 64)},
	}
	for _, tt := range tests {
		if got := fileStem(tt.in); got != tt.want {
			t.Errorf("fileStem(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRefusedBeforeAnyRequest: refused files never reach the network, for
// every destination.
func TestRefusedBeforeAnyRequest(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	ctx := context.Background()
	meta, err := NewMedia(account(t, srv.URL, send.Meta, "t0ken"), nil)
	if err != nil {
		t.Fatal(err)
	}
	d360, err := NewMedia(account(t, srv.URL, send.D360, "k3y1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s3u, err := NewS3(ctx, S3Config{Bucket: "b", Endpoint: srv.URL, Region: "us-east-1", AccessKeyID: "a", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range refused {
		t.Run(tt.file, func(t *testing.T) {
			p := sample(t, tt.file)
			for name, u := range map[string]Uploader{"meta": meta, "360dialog": d360, "s3": s3u} {
				ref, err := u.Upload(ctx, File{Path: p})
				var re *RefusedError
				if !errors.As(err, &re) {
					t.Fatalf("%s: err = %v (ref %+v), want *RefusedError", name, err, ref)
				}
				if !hasCode(re.Problems, tt.code) {
					t.Errorf("%s: problems %+v, want %s", name, re.Problems, tt.code)
				}
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d requests were made for refused files", n)
	}
}

func TestPrecomputedReportAndHashAreUsed(t *testing.T) {
	data := []byte("not really audio, but the caller's report says it is")
	f := fakeFile(data, monoOpus)
	f.SHA256 = strings.Repeat("ab", 32)
	p, err := prepare(context.Background(), f, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if p.sha256 != f.SHA256 || p.typ.MIME != "audio/ogg" {
		t.Fatalf("got %s %s", p.sha256, p.typ.MIME)
	}
	// A report for other bytes (size differs) is not trusted: the bytes are
	// inspected again and found not to be audio.
	f.Report.Size++
	_, err = prepare(context.Background(), f, true)
	var re *RefusedError
	if !errors.As(err, &re) || re.Kind != inspect.CodeNotAudio {
		t.Fatalf("err = %v, want not_audio refusal", err)
	}
}

func TestInputErrors(t *testing.T) {
	ctx := context.Background()
	for name, f := range map[string]File{
		"missing":   {Path: filepath.Join(t.TempDir(), "nope.ogg")},
		"directory": {Path: t.TempDir()},
		"nothing":   {},
	} {
		_, _, err := Check(ctx, f)
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: err = %v, want *InputError", name, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := Check(cctx, fakeFile([]byte("x"), monoOpus)); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
}

func TestHashReader(t *testing.T) {
	// sha256("abc"), FIPS 180-2 appendix B.1.
	got, err := hashReader(context.Background(), strings.NewReader("abc"), 3)
	if err != nil || got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("got %s, %v", got, err)
	}
}

func TestMediaIDForms(t *testing.T) {
	tests := map[string]string{
		`{"id":"4490709327384033"}`:        "4490709327384033",
		`{"id":4490709327384033}`:          "4490709327384033",
		`{"media":[{"id":"f043afd0-1"}]}`:  "f043afd0-1",
		`{"messaging_product":"whatsapp"}`: "",
		`not json`:                         "",
	}
	for body, want := range tests {
		if got := mediaID([]byte(body)); got != want {
			t.Errorf("mediaID(%s) = %q, want %q", body, got, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	cases := map[string]func() error{
		"no client": func() error { _, err := NewMedia(nil, nil); return err },
		"infobip": func() error {
			c, err := send.NewInfobip(send.WithAPIKey("k3y1"), send.WithBaseURL("https://x.api.infobip.com"))
			if err != nil {
				return err
			}
			_, err = NewMedia(c, nil)
			return err
		},
		"no bucket": func() error { _, err := NewS3(ctx, S3Config{}); return err },
		"ttl too long": func() error {
			_, err := NewS3(ctx, S3Config{Bucket: "b", PresignTTL: MaxPresignTTL + time.Second})
			return err
		},
		// SigV4 counts X-Amz-Expires in whole seconds: 500ms would sign a
		// URL that expires as it is made.
		"ttl under a second": func() error {
			_, err := NewS3(ctx, S3Config{Bucket: "b", PresignTTL: 500 * time.Millisecond})
			return err
		},
		"bad public url": func() error { _, err := NewS3(ctx, S3Config{Bucket: "b", PublicURL: "cdn.example.com"}); return err },
	}
	for name, f := range cases {
		var ce *ConfigError
		if err := f(); !errors.As(err, &ce) {
			t.Errorf("%s: err = %v, want *ConfigError", name, err)
		}
	}
}

// TestErrorsDoNotStutter: an error names the file (or the setting) once
// ("upload FILE: inspect FILE: …" was issue 10's stutter).
func TestErrorsDoNotStutter(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.ogg")
	_, _, inputErr := Check(context.Background(), File{Path: missing})
	_, configErr := NewS3(context.Background(), S3Config{})
	_, urlErr := CheckURL(context.Background(), "ftp://example.com/a.ogg", CheckOptions{})
	for _, tt := range []struct {
		name string
		err  error
		once string // must appear exactly once
	}{
		{"missing file", inputErr, missing},
		{"no bucket", configErr, "bucket"},
		{"not http", urlErr, "fetch ftp://example.com/a.ogg:"}, // was "upload ftp://…"
	} {
		if tt.err == nil {
			t.Fatalf("%s: no error", tt.name)
		}
		msg := tt.err.Error()
		if n := strings.Count(msg, tt.once); n != 1 {
			t.Errorf("%s: %q names %q %d times, want once", tt.name, msg, tt.once, n)
		}
	}
}
