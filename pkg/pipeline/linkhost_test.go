package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/upload"
)

// stopAfterUpload is a link host that stops its batch once an upload is
// made: the batch is interrupted after the upload, before the send.
type stopAfterUpload struct {
	up   upload.Uploader
	stop func()
}

func (s stopAfterUpload) Upload(ctx context.Context, f upload.File) (*upload.Ref, error) {
	ref, err := s.up.Upload(ctx, f)
	s.stop()
	return ref, err
}

// TestResumeOnAnotherLinkHost: a batch interrupted after its upload to
// one link host and resumed with another (S3 configured, or no longer)
// must not send the journal's object from the new host: the S3 object's
// URL without its signature (no presigned URL can be made without S3),
// or the file host's key presigned in a bucket that never had it. It
// uploads to the host of this run instead, and the provider fetches what
// it was sent (the sandbox fetches links when they are sent). Before the
// fix the resumed Infobip message failed with 131052 (HTTP 403 from S3
// for the unsigned URL, 404 for the key presigned in the bucket).
func TestResumeOnAnotherLinkHost(t *testing.T) {
	needFFmpeg(t)
	ep := os.Getenv("S3_ENDPOINT")
	if ep == "" {
		testdeps.Missing(t, "S3_ENDPOINT unset: source scripts/versitygw.sh && s3_start")
	}
	sb, err := sandbox.Start(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	s3, err := upload.NewS3(context.Background(), upload.S3Config{
		Bucket: firstNonEmpty(os.Getenv("S3_BUCKET"), "prep-test"), Endpoint: ep,
		Region:      firstNonEmpty(os.Getenv("S3_REGION"), os.Getenv("AWS_REGION"), "us-east-1"),
		AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		Prefix: fmt.Sprintf("linkhost-test-%d/", time.Now().UnixNano()),
	})
	if err != nil {
		t.Fatal(err)
	}
	pipelineWith := func(link upload.Uploader) *Pipeline {
		p, err := NewSandboxPipeline(SandboxConfig{URL: sb.URL(), Link: link, TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	fileHost := func() upload.Uploader { return pipelineWith(nil).link }
	for i, tt := range []struct {
		name          string
		first, second func() upload.Uploader
	}{
		{"S3 then the sandbox's file host", func() upload.Uploader { return s3 }, fileHost},
		{"the sandbox's file host then S3", fileHost, func() upload.Uploader { return s3 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// Each case its own content: the file host and S3 keep objects
			// by content.
			src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "ogg-opus-mono-48k-2s.ogg"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "a.mp3"), src, 0o644); err != nil {
				t.Fatal(err)
			}
			to := fmt.Sprintf("+4477009004%02d", i)
			m := mustManifest(t, dir, "m.csv", "to,file,provider,profile\n"+to+",a.mp3,infobip,audio\n")
			journal := filepath.Join(dir, "journal")
			var b *Batch
			b = pipelineWith(stopAfterUpload{up: tt.first(), stop: func() { b.Stop() }}).NewBatch(m, BatchOptions{Journal: journal})
			res, err := b.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows[0].Status != StatusSkipped || res.Summary.Uploads != 1 || len(sb.Messages()) != i {
				t.Fatalf("first run: %+v, %d uploads, %d messages in the sandbox", res.Rows[0], res.Summary.Uploads, len(sb.Messages()))
			}
			res = runBatch(t, pipelineWith(tt.second()), m, BatchOptions{Journal: journal})
			msgs := sb.Messages()
			if res.Rows[0].Status != StatusSent || len(msgs) != i+1 {
				t.Fatalf("resumed: %+v, %d messages in the sandbox", res.Rows[0], len(msgs))
			}
			got := msgs[len(msgs)-1]
			if got.Failure != "" || got.Bytes == 0 {
				t.Fatalf("the provider could not fetch %s: %s %+v", upload.RedactURL(got.Link), got.Failure, got.Statuses)
			}
			if strings.Contains(res.Rows[0].Media, "?") {
				t.Fatalf("report media %s", res.Rows[0].Media)
			}
		})
	}
}
