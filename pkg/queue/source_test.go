package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/upload"
)

// s3Sources reads sources from the tests' S3 (versitygw), configured as
// prep's is from the environment: the Sources and the bucket; the test
// ends when there is none (failing under CI).
func s3Sources(t *testing.T) (*Sources, string) {
	t.Helper()
	cfg := upload.S3ConfigFromEnv(os.Getenv)
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		testdeps.Missing(t, "S3_ENDPOINT/S3_BUCKET not set (make test starts versitygw; by hand: source scripts/versitygw.sh && s3_start)")
	}
	srcs, err := NewSources(context.Background(), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srcs, cfg.Bucket
}

// TestS3SourceHashCache: a resubmission takes an S3 source's SHA-256 from
// the cache while its ETag and size are the same, and hashes it again
// (the new content) once the object is replaced.
func TestS3SourceHashCache(t *testing.T) {
	srcs, bucket := s3Sources(t)
	_, _, q := testQueue(t)
	ctx := context.Background()
	key := fmt.Sprintf("queue-source-test/%d.ogg", time.Now().UnixNano())
	src := "s3://" + bucket + "/" + key
	put := func(b []byte) string {
		if _, err := srcs.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:])
	}
	want1 := put([]byte("first version of the recording"))
	for i := range 2 {
		got, err := q.hashSource(ctx, srcs, src)
		if err != nil || got != want1 {
			t.Fatalf("hash %d: %s %v, want %s", i, got, err, want1)
		}
	}
	if _, err := q.sources.Get(ctx, sourceKey(src)); err != nil {
		t.Fatalf("no cached hash: %v", err)
	}
	want2 := put([]byte("second version, same key, other bytes"))
	if got, err := q.hashSource(ctx, srcs, src); err != nil || got != want2 {
		t.Fatalf("after replacing the object: %s %v, want %s (a stale cached hash)", got, err, want2)
	}
}

// TestSubmitRefusesNonRegular: a manifest row naming a FIFO or a device is
// invalid at once, naming the file, and the other rows are queued (a FIFO
// used to block Submit forever in open(2), and /dev/zero was read to the
// size cap before being refused).
func TestSubmitRefusesNonRegular(t *testing.T) {
	_, _, q := testQueue(t)
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "ff"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.ogg"), []byte("a recording"), 0o644)
	p := filepath.Join(dir, "m.csv")
	os.WriteFile(p, []byte("to,file,provider\n15550101,ff,meta\n15550102,a.ogg,meta\n15550103,/dev/zero,meta\n"), 0o644)
	m, err := pipeline.ParseManifest(p, pipeline.ManifestDefaults{})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		sub *Submission
		err error
	}
	done := make(chan result, 1)
	go func() {
		sub, err := q.Submit(context.Background(), m, SubmitOptions{})
		done <- result{sub, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Submit still running after 20s (blocked opening the FIFO?)")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	tests := []struct {
		row  int
		want string // "" for a valid row
	}{
		{0, "a named pipe (FIFO), not a regular file"},
		{1, ""},
		{2, "a character device, not a regular file"},
	}
	for _, tt := range tests {
		sr := res.sub.Rows[tt.row]
		switch {
		case tt.want == "" && (sr.Err != nil || sr.Key == ""):
			t.Errorf("row %d: %v, want queued", tt.row, sr.Err)
		case tt.want != "" && (sr.Err == nil || !strings.Contains(sr.Err.Error(), tt.want) ||
			!strings.HasPrefix(sr.Err.Error(), "file "+sr.Row.File+": inspect ")):
			t.Errorf("row %d: %v, want invalid: file %s: inspect …: %s", tt.row, sr.Err, sr.Row.File, tt.want)
		}
	}
	if res.sub.Queued != 1 {
		t.Errorf("queued %d rows, want 1", res.sub.Queued)
	}
}

// TestPrepareErrorNamesSource: a recording failing its inspection on a
// worker fails its rows with an error naming the source (the s3:// URL or
// the manifest's path), not the worker's temporary copy, without stutter;
// and the summary counts only the recordings prepared. (Before: "s3://…:
// inspect: inspect /tmp/prep-worker-…/src-noise.bin: …", and every claim
// counted as prepared.)
func TestPrepareErrorNamesSource(t *testing.T) {
	srcs, bucket := s3Sources(t)
	_, _, q := testQueue(t)
	ctx := context.Background()
	key := fmt.Sprintf("queue-prepare-error-%d/noise.bin", time.Now().UnixNano())
	body := []byte("noise, not audio, from S3")
	if _, err := srcs.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	s3src := "s3://" + bucket + "/" + key
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "noise.ogg"), []byte("local noise, not audio"), 0o644)
	os.WriteFile(filepath.Join(dir, "good.ogg"), []byte("a good recording"), 0o644)
	p := filepath.Join(dir, "m.csv")
	os.WriteFile(p, []byte("to,file,provider\n15550101,"+s3src+",meta\n15550102,noise.ogg,meta\n15550103,good.ogg,meta\n"), 0o644)
	m, err := pipeline.ParseManifest(p, pipeline.ManifestDefaults{})
	if err != nil {
		t.Fatal(err)
	}
	fk := newFake()
	// The noise recordings are inspected for real (as the pipeline does,
	// its inspect stage wrapping inspect's error); good.ogg passes.
	var shaMu sync.Mutex
	shas := map[string]string{} // PrepareRequest.SHA256 by file name
	fk.prepareHook = func(ctx context.Context, req PrepareRequest) error {
		shaMu.Lock()
		shas[filepath.Base(req.Path)] = req.SHA256
		shaMu.Unlock()
		if !strings.HasPrefix(filepath.Base(req.Path), "noise") && !strings.HasPrefix(filepath.Base(req.Path), "src-noise") {
			return nil
		}
		if _, err := inspect.File(ctx, req.Path); err != nil {
			return &pipeline.StageError{Stage: pipeline.StageInspect, Err: err}
		}
		return errors.New("noise inspected as audio")
	}
	sub, err := q.Submit(ctx, m, SubmitOptions{Sources: srcs})
	if err != nil {
		t.Fatal(err)
	}
	stop := runWorkers(t, q, fk, 1, WorkerOptions{Sources: srcs})
	defer stop()
	res := waitResult(t, q, sub)
	tests := []struct {
		row    int
		status pipeline.Status
		prefix string // of the error
	}{
		{0, pipeline.StatusFailed, "inspect " + s3src + ": "},
		{1, pipeline.StatusFailed, "inspect " + filepath.Join(dir, "noise.ogg") + ": "},
		{2, pipeline.StatusSent, ""},
	}
	for _, tt := range tests {
		r := res.Rows[tt.row]
		if r.Status != tt.status || !strings.HasPrefix(r.Error, tt.prefix) ||
			strings.Contains(r.Error, os.TempDir()+"/prep-worker-") || strings.Contains(r.Error, "inspect: inspect") {
			t.Errorf("row %d: %s %q, want %s with an error starting %q (no temp path, no stutter)", tt.row, r.Status, r.Error, tt.status, tt.prefix)
		}
	}
	if res.Summary.Prepared != 1 {
		t.Errorf("summary: %d prepared, want 1 (two recordings failed inspection)", res.Summary.Prepared)
	}
	// The S3 source's SHA-256, checked by the fetch, is passed on (the
	// prepare stage does not hash it again); a local path's is not.
	sum := sha256.Sum256(body)
	shaMu.Lock()
	defer shaMu.Unlock()
	if got := shas["src-noise.bin"]; got != hex.EncodeToString(sum[:]) {
		t.Errorf("S3 source prepared with SHA256 %q, want the fetched bytes' %x", got, sum)
	}
	if got := shas["good.ogg"]; got != "" {
		t.Errorf("local source prepared with SHA256 %q, want none (the prepare stage hashes it)", got)
	}
}

// TestParseS3Keys: an s3:// source names its key as written — S3 keys may
// hold '?', '#', '%', spaces and '+' — never URL-decoded or cut at a query
// or fragment. (ParseS3 used url.Parse: "s3://b/what?.ogg" read the object
// "what", another recording sent to the row's recipient; "100%.ogg" was
// refused and "a%2Fb" became "a/b".)
func TestParseS3Keys(t *testing.T) {
	for _, c := range []struct {
		src, bucket, key string
		bad              bool
	}{
		{src: "s3://b/plain.ogg", bucket: "b", key: "plain.ogg"},
		{src: "s3://b/dir/sub/x.ogg", bucket: "b", key: "dir/sub/x.ogg"},
		{src: "s3://b/what?.ogg", bucket: "b", key: "what?.ogg"},
		{src: "s3://b/a#b.ogg", bucket: "b", key: "a#b.ogg"},
		{src: "s3://b/100%.ogg", bucket: "b", key: "100%.ogg"},
		{src: "s3://b/a%2Fb.ogg", bucket: "b", key: "a%2Fb.ogg"},
		{src: "s3://b/sp ace+plus.ogg", bucket: "b", key: "sp ace+plus.ogg"},
		{src: "s3://b//lead.ogg", bucket: "b", key: "/lead.ogg"},
		{src: "s3://b/", bad: true},
		{src: "s3://b", bad: true},
		{src: "s3:///key", bad: true},
		{src: "s3://", bad: true},
		{src: "s3://user:pw@b/k", bad: true},
		{src: "s3://b?x/k", bad: true},
		{src: "http://b/k", bad: true},
	} {
		b, k, err := ParseS3(c.src)
		if c.bad {
			if err == nil {
				t.Errorf("ParseS3(%q) = %q, %q; want an error", c.src, b, k)
			}
			continue
		}
		if err != nil || b != c.bucket || k != c.key {
			t.Errorf("ParseS3(%q) = %q, %q, %v; want %q, %q", c.src, b, k, err, c.bucket, c.key)
		}
	}
}

// TestS3SourceOddKeys: the object read is the one the manifest names,
// whatever characters its key holds, and no other object whose key is a
// prefix of it.
func TestS3SourceOddKeys(t *testing.T) {
	srcs, bucket := s3Sources(t)
	ctx := context.Background()
	dir := fmt.Sprintf("queue-odd-keys-%d/", time.Now().UnixNano())
	put := func(key, body string) {
		if _, err := srcs.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader(body)}); err != nil {
			t.Fatalf("put %q: %v", key, err)
		}
	}
	put(dir+"what", "the wrong recording")
	put(dir+"a", "the wrong recording")
	for _, key := range []string{"what?.ogg", "a#b.ogg", "100%.ogg", "sp ace+plus.ogg"} {
		body := "recording " + key
		put(dir+key, body)
		sum := sha256.Sum256([]byte(body))
		sha, _, err := srcs.Hash(ctx, "s3://"+bucket+"/"+dir+key)
		if err != nil || sha != hex.EncodeToString(sum[:]) {
			t.Errorf("%q: hash %s, %v; want the object's own %x", key, sha, err, sum)
		}
	}
}
