package queue

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/upload"
)

// TestLinkMediaOfAnotherLinkHost: workers whose link hosts differ (one
// uploads to S3, one to the sandbox's file host) share a queue. The
// recordings bucket keeps a link upload's key and its URL without the
// presigned query, which only the host that made it can make into a URL
// the provider fetches: the file-host worker sending a recording the S3
// worker uploaded must upload it to its own host, not send the S3 object
// unsigned. Before the fix its rows failed (FetchURL: uploaded through
// another link host; before that check, the sandbox fetched the unsigned
// URL: HTTP 403, 131052).
func TestLinkMediaOfAnotherLinkHost(t *testing.T) {
	testdeps.Tool(t, "ffmpeg", "make deps")
	cfg := upload.S3ConfigFromEnv(os.Getenv) // as prep reads it
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		testdeps.Missing(t, "S3_ENDPOINT/S3_BUCKET not set (make test starts versitygw; by hand: source scripts/versitygw.sh && s3_start)")
	}
	cfg.Prefix = fmt.Sprintf("queue-linkhost-%d/", time.Now().UnixNano())
	_, _, q := testQueue(t)
	sb, err := sandbox.Start(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	s3, err := upload.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stages := func(link upload.Uploader) PipelineStages {
		p, err := pipeline.NewSandboxPipeline(pipeline.SandboxConfig{URL: sb.URL(), Link: link, SendOptions: []send.Option{send.WithRateLimit(0, 0)}, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return PipelineStages{P: p}
	}
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "ogg-opus-mono-48k-2s.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.ogg"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	fast := map[send.Provider]float64{send.Infobip: 1e6}
	run := func(st Stages, first int) *pipeline.BatchResult {
		name := fmt.Sprintf("m%d.csv", first)
		os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("to,file,provider\n+1555%07d,a.ogg,infobip\n+1555%07d,a.ogg,infobip\n", first, first+1)), 0o644)
		m, err := pipeline.ParseManifest(filepath.Join(dir, name), pipeline.ManifestDefaults{})
		if err != nil {
			t.Fatal(err)
		}
		sub := submit(t, q, m, SubmitOptions{Rate: fast})
		stop := runWorkers(t, q, st, 1, WorkerOptions{Jobs: 1, TempDir: t.TempDir()})
		defer stop()
		return waitResult(t, q, sub)
	}
	for i, st := range []Stages{stages(s3), stages(nil)} {
		res := run(st, 10*i)
		if !res.AllSent() {
			t.Fatalf("worker %d: %+v", i, res.Rows)
		}
	}
	msgs := sb.Messages()
	if len(msgs) != 4 {
		t.Fatalf("%d messages in the sandbox, want 4", len(msgs))
	}
	for _, m := range msgs {
		if m.Failure != "" || m.Bytes == 0 {
			t.Errorf("to %s: the provider could not fetch %s: %s", m.To, upload.RedactURL(m.Link), m.Failure)
		}
	}
	if l := msgs[3].Link; !strings.HasPrefix(l, sb.URL()+"/_sandbox/files/") {
		t.Errorf("the file-host worker sent %s", upload.RedactURL(l))
	}
}

// TestRecordingMediaAt: a worker whose link host keys its uploads
// ("link@HOST") still sends an entry written at the plain destination
// before, when it holds whole presigned URLs; a plain entry holding keys
// (only its own host can presign them), or media ids, is nobody's.
func TestRecordingMediaAt(t *testing.T) {
	const obj = "http://127.0.0.1:9000/bucket/voice/ab.ogg"
	now := time.Now()
	for _, tt := range []struct {
		name  string
		media map[string][]MediaRef
		mk    string
		want  string // FetchURL of the first part, "" when none
	}{
		{"own host", map[string][]MediaRef{"link@h": {{Ref: upload.Ref{URL: obj, Key: "voice/ab.ogg"}, At: now}}}, "link@h", obj},
		{"older whole URL", map[string][]MediaRef{"link": {{Ref: upload.Ref{URL: obj + "?X-Amz-Signature=1"}, At: now}}}, "link@h", obj + "?X-Amz-Signature=1"},
		{"plain entry with keys", map[string][]MediaRef{"link": {{Ref: upload.Ref{URL: obj, Key: "voice/ab.ogg"}, At: now}}}, "link@h", ""},
		{"plain media id", map[string][]MediaRef{"meta": {{Ref: upload.Ref{MediaID: "1"}, At: now}}}, "meta@A", ""},
		{"another host", map[string][]MediaRef{"link@other": {{Ref: upload.Ref{URL: obj, Key: "voice/ab.ogg"}, At: now}}}, "link@h", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Recording{Media: tt.media}
			got := ""
			if m := r.mediaAt(tt.mk, time.Hour); m != nil {
				got = m[0].FetchURL()
			}
			if got != tt.want {
				t.Fatalf("mediaAt(%s) sends %q, want %q", tt.mk, got, tt.want)
			}
		})
	}
}
