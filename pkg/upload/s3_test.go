package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"

	"github.com/prep-audio/prep/internal/testdeps"
)

// s3Env returns the configuration of the S3 server the tests run against
// (scripts/versitygw.sh: `source scripts/versitygw.sh; s3_start`, or
// `make test`). Without S3_ENDPOINT the test is skipped (failed under CI).
func s3Env(t *testing.T) S3Config {
	t.Helper()
	ep := os.Getenv("S3_ENDPOINT")
	if ep == "" {
		testdeps.Missing(t, "S3_ENDPOINT unset: S3 tests need a server (make test, or source scripts/versitygw.sh && s3_start)")
	}
	bucket := os.Getenv("S3_BUCKET")
	if bucket == "" {
		bucket = "prep-test"
	}
	return S3Config{
		Bucket:          bucket,
		Endpoint:        ep,
		Region:          firstNonEmpty(os.Getenv("S3_REGION"), os.Getenv("AWS_REGION"), "us-east-1"),
		AccessKeyID:     os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		// Every test writes under its own prefix so runs never see each
		// other's objects.
		Prefix: "test-" + uuid.NewString() + "/",
	}
}

// countingTransport counts requests by method.
type countingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[r.Method]++
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

func (c *countingTransport) count(m string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[m]
}

func fileSHA(t *testing.T, path string) (string, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), b
}

func TestS3EveryAcceptedType(t *testing.T) {
	cfg := s3Env(t)
	ctx := context.Background()
	ct := &countingTransport{base: http.DefaultTransport}
	cfg.HTTPClient = &http.Client{Transport: ct}
	u, err := NewS3(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range accepted {
		t.Run(tt.file, func(t *testing.T) {
			src := sample(t, tt.file)
			// Named as something else: the key, type and extension must come
			// from the content.
			path := copyAs(t, src, "recording.bin")
			sum, want := fileSHA(t, path)
			puts := ct.count(http.MethodPut)
			ref, err := u.Upload(ctx, File{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			if ref.Reused || ct.count(http.MethodPut) != puts+1 {
				t.Fatalf("first upload: reused=%v, PUTs %d→%d", ref.Reused, puts, ct.count(http.MethodPut))
			}
			if ref.Key != cfg.Prefix+sum+tt.ext || ref.SHA256 != sum || ref.MIME != tt.mime || ref.Bytes != int64(len(want)) {
				t.Fatalf("ref %+v, want key %s%s%s mime %s", ref, cfg.Prefix, sum, tt.ext, tt.mime)
			}
			// What is shown carries no credential; the link is the
			// presigned URL.
			if strings.Contains(ref.URL, "?") || strings.Contains(ref.URL, cfg.AccessKeyID) || !strings.Contains(ref.Link, "X-Amz-Signature=") ||
				RedactURL(ref.Link) != ref.URL || !strings.HasSuffix(ref.URL, "/"+ref.Key) {
				t.Fatalf("URL %s, link with a signature: %v", ref.URL, strings.Contains(ref.Link, "X-Amz-Signature="))
			}
			if b, _ := json.Marshal(ref); strings.Contains(string(b), "X-Amz") || strings.Contains(string(b), cfg.AccessKeyID) {
				t.Fatalf("the JSON of a Ref carries the presigned query: %s", RedactURL(string(b)))
			}
			// Made again from the key: still a working presigned URL.
			again, err := u.URL(ctx, ref.Key)
			if err != nil || RedactURL(again) != ref.URL {
				t.Fatalf("URL(key): %s %v", RedactURL(again), err)
			}
			// Through the presigned URL: same bytes, served with the type.
			resp, err := http.Get(ref.FetchURL())
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Equal(got, want) {
				t.Fatalf("GET presigned: %d, %d bytes (want %d)", resp.StatusCode, len(got), len(want))
			}
			if ctype := resp.Header.Get("Content-Type"); ctype != tt.mime {
				t.Fatalf("served Content-Type %q, want %q", ctype, tt.mime)
			}
			// Second upload (another name, same bytes): HEAD only, no PUT.
			ref2, err := u.Upload(ctx, File{Path: copyAs(t, src, "again.ogg")})
			if err != nil {
				t.Fatal(err)
			}
			if !ref2.Reused || ref2.Key != ref.Key || ct.count(http.MethodPut) != puts+1 {
				t.Fatalf("second upload: reused=%v key %s, PUTs %d", ref2.Reused, ref2.Key, ct.count(http.MethodPut)-puts)
			}
		})
	}
}

func TestS3PublicURLAndTTL(t *testing.T) {
	cfg := s3Env(t)
	ctx := context.Background()
	src := sample(t, "ogg-opus-mono-48k-2s.ogg")
	sum, _ := fileSHA(t, src)

	cfg.PresignTTL = 90 * time.Second
	u, err := NewS3(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := u.Upload(ctx, File{Path: src})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ref.Link, "X-Amz-Expires=90") {
		t.Fatalf("presigned URL without the TTL: %s", RedactURL(ref.Link))
	}
	cfg.PublicURL = "https://cdn.example.com/media/"
	pu, err := NewS3(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref, err = pu.Upload(ctx, File{Path: src})
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://cdn.example.com/media/" + cfg.Prefix + sum + ".ogg"; ref.URL != want || !ref.Reused {
		t.Fatalf("public URL %s (reused %v), want %s", ref.URL, ref.Reused, want)
	}
}

func TestS3WrongContentTypeIsRewritten(t *testing.T) {
	cfg := s3Env(t)
	ctx := context.Background()
	u, err := NewS3(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	src := sample(t, "ogg-opus-mono-48k-2s.ogg")
	sum, data := fileSHA(t, src)
	key := u.Key(sum, ".ogg")
	// Someone else put the right bytes with the wrong type.
	_, err = u.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key),
		Body: bytes.NewReader(data), ContentType: aws.String("video/mp4")})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := u.Upload(ctx, File{Path: src})
	if err != nil || ref.Reused {
		t.Fatalf("ref %+v err %v: want a rewrite", ref, err)
	}
	head, err := u.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key)})
	if err != nil || aws.ToString(head.ContentType) != "audio/ogg" {
		t.Fatalf("after upload: %v %v", aws.ToString(head.ContentType), err)
	}
}

func TestS3ConcurrentUploadsMakeOneObject(t *testing.T) {
	cfg := s3Env(t)
	ctx := context.Background()
	ct := &countingTransport{base: http.DefaultTransport}
	cfg.HTTPClient = &http.Client{Transport: ct}
	u, err := NewS3(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	src := sample(t, "ogg-opus-mono-48k-2s.ogg")
	const n = 8
	refs := make([]*Ref, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refs[i], errs[i] = u.Upload(ctx, File{Path: src})
		}()
	}
	wg.Wait()
	fresh := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !refs[i].Reused {
			fresh++
		}
		if refs[i].Key != refs[0].Key {
			t.Fatalf("keys differ: %s %s", refs[i].Key, refs[0].Key)
		}
	}
	if fresh != 1 || ct.count(http.MethodPut) != 1 {
		t.Fatalf("%d uploads not reused, %d PUTs; want 1 and 1", fresh, ct.count(http.MethodPut))
	}
	// A second uploader (another process, say) racing the same bytes still
	// leaves one object.
	u2, err := NewS3(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u2.Upload(ctx, File{Path: src}); err != nil {
		t.Fatal(err)
	}
	out, err := u.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(cfg.Bucket), Prefix: aws.String(cfg.Prefix)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != refs[0].Key {
		t.Fatalf("objects under the prefix: %d", len(out.Contents))
	}
}

func TestS3Errors(t *testing.T) {
	base := s3Env(t)
	ctx := context.Background()
	src := sample(t, "ogg-opus-mono-48k-2s.ogg")

	closed := func() string { // a loopback port nobody listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}()
	const secret = "definitely-wrong-secret-0123456789"
	tests := []struct {
		name string
		edit func(*S3Config)
		kind ErrorKind
	}{
		{"wrong secret", func(c *S3Config) { c.SecretAccessKey = secret }, S3Auth},
		{"unknown access key", func(c *S3Config) { c.AccessKeyID = "nobody" }, S3Auth},
		{"missing bucket", func(c *S3Config) { c.Bucket = "prep-no-such-bucket-" + uuid.NewString()[:8] }, S3NoBucket},
		{"network", func(c *S3Config) { c.Endpoint = closed; c.MaxAttempts = 1 }, S3Network},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.edit(&cfg)
			u, err := NewS3(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = u.Upload(ctx, File{Path: src})
			var se *S3Error
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *S3Error", err)
			}
			if se.Kind != tt.kind {
				t.Fatalf("kind %s, want %s: %v", se.Kind, tt.kind, err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), base.SecretAccessKey) {
				t.Fatalf("secret in error: %v", err)
			}
			t.Log(err)
		})
	}
}

// TestS3Canceled: a canceled context is reported as such, not as an S3
// error.
func TestS3Canceled(t *testing.T) {
	cfg := s3Env(t)
	u, err := NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = u.put(ctx, &prepared{}, "k")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// TestS3HeadForbiddenStillPuts: without s3:ListBucket (a common
// uploader policy: GetObject and PutObject only), S3 answers HEAD on a
// missing key with 403, not 404. That is "not there yet", not an auth
// failure: the PUT decides. A fake S3 plays that policy.
func TestS3HeadForbiddenStillPuts(t *testing.T) {
	var mu sync.Mutex
	var methods []string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		switch r.Method {
		case http.MethodHead:
			w.WriteHeader(http.StatusForbidden)
		case http.MethodPut:
			io.Copy(io.Discard, r.Body)
			w.Header().Set("ETag", `"x"`)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	}))
	defer fake.Close()
	u, err := NewS3(context.Background(), S3Config{Bucket: "b", Endpoint: fake.URL, Region: "us-east-1",
		AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "not-a-real-secret", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := u.Upload(context.Background(), File{Path: sample(t, "ogg-opus-mono-48k-2s.ogg")})
	mu.Lock()
	defer mu.Unlock()
	if err != nil || ref.Reused || fmt.Sprint(methods) != "[HEAD PUT]" {
		t.Fatalf("ref %+v, err %v, requests %v; want a fresh object after HEAD 403, PUT", ref, err, methods)
	}
}
