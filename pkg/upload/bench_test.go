package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/send"
	"net/http"
	"os"
	"testing"
)

// BenchmarkPrepareOgg: inspect + SHA-256 of a 2 s voice note (what every
// upload does before any request).
func BenchmarkPrepareOgg(b *testing.B) {
	data, err := os.ReadFile(testdata + "/ogg-opus-mono-48k-2s.ogg")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		p, err := prepare(context.Background(), File{R: bytes.NewReader(data), Size: int64(len(data))}, true)
		if err != nil {
			b.Fatal(err)
		}
		p.close()
	}
}

// BenchmarkHash16MB: hashing a file at the size limit.
func BenchmarkHash16MB(b *testing.B) {
	data := make([]byte, 16_000_000)
	rand.Read(data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := hashReader(context.Background(), bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}

func benchMedia(b *testing.B, cached bool) {
	path := testdata + "/ogg-opus-mono-48k-2s.ogg"
	if _, err := os.Stat(path); err != nil {
		b.Fatal(err)
	}
	s := startSandbox(b)
	var cache *Cache
	if cached {
		c, err := OpenCache(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		cache = c
	}
	u := newSandboxUploader(b, s, send.Meta, cache)
	for b.Loop() {
		if _, err := u.Upload(context.Background(), File{Path: path}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMediaUploadSandbox: one multipart upload to the sandbox's Meta
// media endpoint over loopback (the sandbox inspects the bytes too).
func BenchmarkMediaUploadSandbox(b *testing.B) { benchMedia(b, false) }

// BenchmarkMediaUploadCacheHit: the same file again, answered by the cache.
func BenchmarkMediaUploadCacheHit(b *testing.B) { benchMedia(b, true) }

// BenchmarkS3UploadReused: an upload S3 already has (HEAD + presign).
func BenchmarkS3UploadReused(b *testing.B) {
	if os.Getenv("S3_ENDPOINT") == "" {
		testdeps.Missing(b, "S3_ENDPOINT unset: S3 benchmarks need a server (source scripts/versitygw.sh && s3_start)")
	}
	path := testdata + "/ogg-opus-mono-48k-2s.ogg"
	cfg := S3Config{Bucket: os.Getenv("S3_BUCKET"), Endpoint: os.Getenv("S3_ENDPOINT"), Region: "us-east-1",
		AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"), Prefix: "bench/",
		HTTPClient: &http.Client{}}
	u, err := NewS3(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := u.Upload(context.Background(), File{Path: path}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ref, err := u.Upload(context.Background(), File{Path: path})
		if err != nil || !ref.Reused {
			b.Fatal(err)
		}
	}
}
