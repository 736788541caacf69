package upload

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestS3RedirectNotFollowed (issue 13, finding 2): an S3 endpoint that
// answers 307 — to itself, or to another host — is not followed. Before
// the fix the SDK's client followed it without limit (35,000 requests in
// 30 s) and sent the SigV4 Authorization to the other host. Now each
// operation makes one request, nothing reaches the other host, and the
// error says the endpoint redirected.
func TestS3RedirectNotFollowed(t *testing.T) {
	var otherN atomic.Int32
	var mu sync.Mutex
	var otherAuth []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherN.Add(1)
		mu.Lock()
		otherAuth = append(otherAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer other.Close()

	callers := &http.Client{Timeout: 10 * time.Second} // follows redirects by default
	for _, tc := range []struct {
		name string
		to   func(self string, r *http.Request) string
		hc   *http.Client
	}{
		{"to itself", func(self string, r *http.Request) string { return self + r.URL.RequestURI() }, nil},
		{"with a growing path", func(self string, r *http.Request) string { return self + r.URL.Path + "/x" }, nil},
		{"to another host", func(_ string, r *http.Request) string { return other.URL + r.URL.RequestURI() }, nil},
		{"to another host, caller's client", func(_ string, r *http.Request) string { return other.URL + r.URL.RequestURI() }, callers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			var self string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				http.Redirect(w, r, tc.to(self, r), http.StatusTemporaryRedirect)
			}))
			defer srv.Close()
			self = srv.URL
			up, err := NewS3(t.Context(), S3Config{Bucket: "b", Endpoint: srv.URL, Region: "us-east-1",
				AccessKeyID: "AKIAREDIRECTTEST", SecretAccessKey: "s3cr3t-redirect-key",
				HTTPClient: tc.hc})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, err = up.Upload(ctx, File{Path: sample(t, "ogg-opus-mono-48k-2s.ogg")})
			var se *S3Error
			if !errors.As(err, &se) || se.Kind != S3Redirect || se.Status != http.StatusTemporaryRedirect {
				t.Fatalf("err %v (%T); want an *S3Error of kind %q with status 307", err, err, S3Redirect)
			}
			// HEAD then PUT, each once: the SDK does not retry a 3xx.
			if got := n.Load(); got > 2 {
				t.Errorf("%d requests to the endpoint, want at most 2 (one per operation)", got)
			}
			if got := otherN.Load(); got != 0 {
				mu.Lock()
				t.Errorf("%d requests reached the other host (Authorization %q)", got, otherAuth)
				mu.Unlock()
			}
		})
	}
}

// TestS3ClientRedirectNotFollowed: NewS3Client, the S3 client every reader
// of objects uses (pkg/queue's sources too), follows no redirect either.
func TestS3ClientRedirectNotFollowed(t *testing.T) {
	var otherN, n atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { otherN.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c, err := NewS3Client(t.Context(), S3Config{Endpoint: srv.URL, Region: "us-east-1", AccessKeyID: "AKIAREDIRECTTEST", SecretAccessKey: "s3cr3t"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
	if err == nil || n.Load() != 1 || otherN.Load() != 0 {
		t.Errorf("err %v, %d requests to the endpoint, %d to the other host; want an error after 1 and 0", err, n.Load(), otherN.Load())
	}
}
