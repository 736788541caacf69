package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/send"
	"golang.org/x/time/rate"
)

// The media-endpoint tests run against pkg/sandbox over loopback.

func startSandbox(t testing.TB) *sandbox.Server {
	t.Helper()
	s, err := sandbox.Start(sandbox.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fastRetry keeps retry tests quick.
var fastRetry = send.RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond}

const sandboxPhoneID = "106540352242922"

// account builds the provider client a media uploader runs over, at base
// with the credential cred; opts come last and win.
func account(t testing.TB, base string, p send.Provider, cred string, opts ...send.Option) *send.Client {
	t.Helper()
	opts = append([]send.Option{send.WithBaseURL(base), send.WithRetry(fastRetry)}, opts...)
	var (
		c   *send.Client
		err error
	)
	if p == send.Meta {
		c, err = send.NewMeta(append([]send.Option{send.WithToken(cred), send.WithPhoneNumberID(sandboxPhoneID)}, opts...)...)
	} else {
		c, err = send.NewD360(append([]send.Option{send.WithAPIKey(cred)}, opts...)...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sandboxBase(s *sandbox.Server, p send.Provider) string {
	if p == send.Meta {
		return s.MetaURL()
	}
	return s.D360URL()
}

func newSandboxUploader(t testing.TB, s *sandbox.Server, p send.Provider, cache *Cache, opts ...send.Option) *MediaUploader {
	t.Helper()
	u, err := NewMedia(account(t, sandboxBase(s, p), p, "sandbox", opts...), cache)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestMediaEveryAcceptedType: every accepted type, named wrongly on disk,
// reaches both media endpoints with its real MIME type and a file name with
// its canonical extension.
func TestMediaEveryAcceptedType(t *testing.T) {
	s := startSandbox(t)
	ctx := context.Background()
	for _, p := range []send.Provider{send.Meta, send.D360} {
		u := newSandboxUploader(t, s, p, nil)
		for _, tt := range accepted {
			t.Run(string(p)+"/"+tt.file, func(t *testing.T) {
				path := copyAs(t, sample(t, tt.file), "voice note.mp4")
				sum, data := fileSHA(t, path)
				ref, err := u.Upload(ctx, File{Path: path})
				if err != nil {
					t.Fatal(err)
				}
				media := s.Media(p)
				if len(media) == 0 {
					t.Fatal("the sandbox holds no media")
				}
				got := media[len(media)-1]
				if got.ID != ref.MediaID || got.MIME != tt.mime || got.FileName != "voice_note"+tt.ext ||
					got.SHA256 != sum || got.Bytes != int64(len(data)) {
					t.Fatalf("sandbox has %+v; ref %+v; want %s voice_note%s sha %s", got, ref, tt.mime, tt.ext, sum)
				}
				if ref.MIME != tt.mime || ref.Ext != tt.ext || ref.SHA256 != sum || ref.Reused {
					t.Fatalf("ref %+v", ref)
				}
			})
		}
	}
}

func TestMediaRetries(t *testing.T) {
	ogg := func(t *testing.T) string { return sample(t, "ogg-opus-mono-48k-2s.ogg") }
	tests := []struct {
		name     string
		faults   []sandbox.Fault
		attempts int // requests the sandbox must see
		wantErr  bool
		check    func(t *testing.T, err error)
	}{
		{"500 then ok", []sandbox.Fault{{Status: 500}}, 2, false, nil},
		{"429, 503, transient 131016 then ok", []sandbox.Fault{{Status: 429}, {Status: 503}, {Status: 400, Code: 131016}}, 4, false, nil},
		{"connection closed before processing", []sandbox.Fault{{DropBefore: true}}, 2, false, nil},
		{"gives up after MaxAttempts", []sandbox.Fault{{Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}, {Status: 500}}, 4, true,
			func(t *testing.T, err error) {
				var ae *send.APIError
				if !errors.As(err, &ae) || ae.Attempts != 4 || !ae.Retryable || ae.HTTPStatus != 500 {
					t.Fatalf("err = %#v", err)
				}
			}},
		{"invalid parameter is not retried", []sandbox.Fault{{Status: 400, Code: 100}}, 1, true,
			func(t *testing.T, err error) {
				var ae *send.APIError
				if !errors.As(err, &ae) || ae.Code != 100 || ae.Retryable || ae.Attempts != 1 {
					t.Fatalf("err = %#v", err)
				}
			}},
	}
	ctx := context.Background()
	for _, p := range []send.Provider{send.Meta, send.D360} {
		for _, tt := range tests {
			t.Run(string(p)+"/"+tt.name, func(t *testing.T) {
				path := ogg(t)
				s := startSandbox(t)
				u := newSandboxUploader(t, s, p, nil)
				s.Inject(p, tt.faults...)
				ref, err := u.Upload(ctx, File{Path: path})
				if n := len(s.Requests(p)); n != tt.attempts {
					t.Fatalf("%d requests, want %d (err %v)", n, tt.attempts, err)
				}
				if tt.wantErr {
					if err == nil {
						t.Fatalf("no error, ref %+v", ref)
					}
					tt.check(t, err)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				// Each attempt sent the whole body afresh: the object the
				// sandbox finally kept has the file's exact hash.
				sum, _ := fileSHA(t, path)
				media := s.Media(p)
				if len(media) != 1 || media[0].SHA256 != sum || media[0].ID != ref.MediaID {
					t.Fatalf("media %+v, want one with sha %s", media, sum)
				}
			})
		}
	}
}

func TestMediaRetryAfterHonoured(t *testing.T) {
	s := startSandbox(t)
	u := newSandboxUploader(t, s, send.Meta, nil, send.WithRetry(send.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Second}))
	s.Inject(sandbox.Meta, sandbox.Fault{Status: 429, Code: 130429, RetryAfter: time.Second})
	start := time.Now()
	if _, err := u.Upload(context.Background(), File{Path: sample(t, "ogg-opus-mono-48k-2s.ogg")}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("retried after %v, want the 1s Retry-After", el)
	}
}

func TestMediaBackoffStopsOnContext(t *testing.T) {
	s := startSandbox(t)
	// Full jitter draws the wait in [0, 24h): one under the 200 ms or the
	// 5 s below (which would retry, succeed and fail the test) comes once
	// in 17,000 runs; with a minute and 10 s it came once in six.
	u := newSandboxUploader(t, s, send.Meta, nil, send.WithRetry(send.RetryPolicy{MaxAttempts: 5, BaseDelay: 24 * time.Hour, MaxDelay: 24 * time.Hour}))
	s.Inject(sandbox.Meta, sandbox.Fault{Status: 503})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := u.Upload(ctx, File{Path: sample(t, "ogg-opus-mono-48k-2s.ogg")})
	var ae *send.APIError
	if !errors.Is(err, context.Canceled) || !errors.As(err, &ae) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %v; want the cancellation and the 503", err, time.Since(start))
	}
	// A deadline the backoff would overrun: no retry starts, the 503 is
	// returned at once.
	s.Inject(sandbox.Meta, sandbox.Fault{Status: 503})
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	start = time.Now()
	_, err = u.Upload(dctx, File{Path: sample(t, "ogg-opus-mono-48k-2s.ogg")})
	if !errors.As(err, &ae) || ae.HTTPStatus != 503 || time.Since(start) > 4*time.Second {
		t.Fatalf("err = %v after %v; want the 503 at once", err, time.Since(start))
	}
}

func TestMediaAuthErrorHasNoSecret(t *testing.T) {
	s := startSandbox(t)
	const meta, d360 = "EAAJB-wrong-token-12345", "wrong-d360-key-67890"
	for _, tt := range []struct {
		p      send.Provider
		secret string
	}{
		{send.Meta, meta},
		{send.D360, d360},
	} {
		u, err := NewMedia(account(t, sandboxBase(s, tt.p), tt.p, tt.secret), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = u.Upload(context.Background(), File{Path: sample(t, "ogg-opus-mono-48k-2s.ogg")})
		var ae *send.APIError
		if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusUnauthorized || ae.Retryable || ae.Kind != send.KindAuth {
			t.Fatalf("%s: err = %#v", tt.p, err)
		}
		if strings.Contains(err.Error(), tt.secret) {
			t.Fatalf("%s: secret in %q", tt.p, err)
		}
		// The library names no environment variable: the CLI adds that.
		if strings.Contains(err.Error(), "WHATSAPP_") || strings.Contains(err.Error(), "D360_") {
			t.Errorf("%s: an environment variable in a library error: %q", tt.p, err)
		}
	}
	if n := len(s.Requests(sandbox.Meta)); n != 1 {
		t.Fatalf("auth failure retried: %d requests", n)
	}
}

func TestMediaCache(t *testing.T) {
	s := startSandbox(t)
	ctx := context.Background()
	dir := t.TempDir()
	cache, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := sample(t, "ogg-opus-mono-48k-2s.ogg")
	for _, p := range []send.Provider{send.Meta, send.D360} {
		t.Run(string(p), func(t *testing.T) {
			cached := newSandboxUploader(t, s, p, cache)
			first, err := cached.Upload(ctx, File{Path: path})
			if err != nil || first.Reused {
				t.Fatalf("first: %+v %v", first, err)
			}
			n := len(s.Requests(p))
			second, err := cached.Upload(ctx, File{Path: copyAs(t, path, "other-name.opus")})
			if err != nil {
				t.Fatal(err)
			}
			if !second.Reused || second.MediaID != first.MediaID || len(s.Requests(p)) != n {
				t.Fatalf("second: %+v, requests %d→%d", second, n, len(s.Requests(p)))
			}
			// --no-cache: no cache given, the file is uploaded again.
			plain := newSandboxUploader(t, s, p, nil)
			third, err := plain.Upload(ctx, File{Path: path})
			if err != nil || third.Reused || len(s.Requests(p)) != n+1 {
				t.Fatalf("no cache: %+v %v, requests %d", third, err, len(s.Requests(p))-n)
			}
		})
	}
	// Another phone number id is another account: no cache hit.
	other := newSandboxUploader(t, s, send.Meta, cache, send.WithPhoneNumberID("999"))
	n := len(s.Requests(sandbox.Meta))
	ref, err := other.Upload(ctx, File{Path: path})
	if err != nil || ref.Reused || len(s.Requests(sandbox.Meta)) != n+1 {
		t.Fatalf("other account: %+v %v", ref, err)
	}
	// An expired entry is not used.
	u := newSandboxUploader(t, s, send.Meta, cache)
	cache.now = func() time.Time { return time.Now().Add(CacheTTL + time.Minute) }
	defer func() { cache.now = time.Now }()
	ref, err = u.Upload(ctx, File{Path: path})
	if err != nil || ref.Reused {
		t.Fatalf("after expiry: %+v %v", ref, err)
	}
}

// TestMediaConcurrentSameFile: a batch uploading one file for many
// recipients at once makes one request.
func TestMediaConcurrentSameFile(t *testing.T) {
	s := startSandbox(t)
	path := sample(t, "ogg-opus-mono-48k-2s.ogg")
	// Slow answers so that the calls overlap.
	u := newSandboxUploader(t, s, send.Meta, nil, send.WithHTTPClient(&http.Client{Transport: slowTransport{d: 100 * time.Millisecond}}))
	const n = 6
	refs := make([]*Ref, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); refs[i], errs[i] = u.Upload(context.Background(), File{Path: path}) }()
	}
	wg.Wait()
	fresh := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if refs[i].MediaID != refs[0].MediaID {
			t.Fatalf("ids differ: %s %s", refs[i].MediaID, refs[0].MediaID)
		}
		if !refs[i].Reused {
			fresh++
		}
	}
	if got := len(s.Requests(sandbox.Meta)); got != 1 || fresh != 1 {
		t.Fatalf("%d requests, %d fresh refs; want 1 and 1", got, fresh)
	}
}

type slowTransport struct{ d time.Duration }

func (s slowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	time.Sleep(s.d)
	return http.DefaultTransport.RoundTrip(r)
}

func TestFlightLeaderCanceled(t *testing.T) {
	var f flight
	lctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.do(lctx, "k", func() (string, error) {
			close(started)
			<-lctx.Done()
			return "", lctx.Err()
		})
	}()
	<-started
	done := make(chan struct{})
	var val string
	var shared bool
	var err error
	go func() {
		val, shared, err = f.do(context.Background(), "k", func() (string, error) { return "mine", nil })
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	<-done
	wg.Wait()
	if err != nil || val != "mine" || shared {
		t.Fatalf("follower got %q shared=%v err=%v; want to run itself", val, shared, err)
	}
}

// TestMediaDropAfterProcessing: the endpoint kept the upload but the answer
// was lost. The upload is retried (a media upload is safe to repeat: the
// first object is merely orphaned and expires with Meta's 30 days), and the
// id returned is the one the provider answered.
func TestMediaDropAfterProcessing(t *testing.T) {
	s := startSandbox(t)
	u := newSandboxUploader(t, s, send.Meta, nil)
	s.Inject(sandbox.Meta, sandbox.Fault{Drop: true})
	ref, err := u.Upload(context.Background(), File{Path: sample(t, "ogg-opus-mono-48k-2s.ogg")})
	if err != nil {
		t.Fatal(err)
	}
	media := s.Media(sandbox.Meta)
	if len(s.Requests(sandbox.Meta)) != 2 || len(media) != 2 || media[1].ID != ref.MediaID {
		t.Fatalf("requests %d, media %+v, ref %s", len(s.Requests(sandbox.Meta)), media, ref.MediaID)
	}
}

// TestMediaRedirectKeepsSecret: a media endpoint that redirects to another
// host must not get the credential forwarded there. net/http strips only
// Authorization and cookies on a cross-host redirect, so 360dialog's
// D360-API-KEY header would go along (and a 307 re-sends the body).
func TestMediaRedirectKeepsSecret(t *testing.T) {
	const key = "d360-secret-key-redirect"
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		for k, v := range r.Header {
			if strings.Contains(strings.Join(v, " "), key) {
				leaked = append(leaked, k)
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"from-the-other-host"}`)
	}))
	defer other.Close()
	// "localhost" vs 127.0.0.1: another host as far as net/http is concerned.
	target := strings.Replace(other.URL, "127.0.0.1", "localhost", 1) + "/media"
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target, http.StatusTemporaryRedirect)
	}))
	defer front.Close()
	for _, p := range []send.Provider{send.D360, send.Meta} {
		u, err := NewMedia(account(t, front.URL, p, key), nil)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := u.Upload(context.Background(), File{Path: sample(t, "ogg-opus-mono-48k-2s.ogg")})
		if err == nil {
			t.Errorf("%s: a redirect was followed to %s (media id %q); want an error", p, target, ref.MediaID)
		}
		if err != nil && strings.Contains(err.Error(), key) {
			t.Errorf("%s: secret in %q", p, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Errorf("the credential reached another host in headers %v", leaked)
	}
}

// TestMediaEchoedSecretScrubbed: a server (or a proxy in front of it) that
// echoes the credential in its error answer does not get it into the
// error, as pkg/send does for messages.
func TestMediaEchoedSecretScrubbed(t *testing.T) {
	const secret = "EAAJB-echoed-secret-4242"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred := r.Header.Get("Authorization") + r.Header.Get("D360-API-KEY")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":"bad credential %s","type":"%s","code":100,"fbtrace_id":"%s"}}`, cred, cred, cred)
	}))
	defer echo.Close()
	for _, p := range []send.Provider{send.Meta, send.D360} {
		u, err := NewMedia(account(t, echo.URL, p, secret), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = u.Upload(context.Background(), File{Path: sample(t, "ogg-opus-mono-48k-2s.ogg")})
		var ae *send.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("%s: err %v", p, err)
		}
		if s := fmt.Sprintf("%v %+v", err, *ae); strings.Contains(s, secret) {
			t.Errorf("%s: the credential is in the error: %s", p, s)
		}
	}
}

// TestMediaSharesTheAccount: media uploads and messages of one account go
// through one client. The limiter paces messages only (the providers'
// throughput limits count messages), and a rate limit answered to an
// upload (130429) pauses the account's messages too.
func TestMediaSharesTheAccount(t *testing.T) {
	s := startSandbox(t)
	path := sample(t, "ogg-opus-mono-48k-2s.ogg")
	link := s.HostFile("v.ogg", "audio/ogg", mustRead(t, path))

	// A message budget of one token an hour: uploads do not take it (one
	// that did would wait an hour; the context ends the test first).
	lim := rate.NewLimiter(rate.Every(time.Hour), 1)
	c := account(t, s.MetaURL(), send.Meta, "sandbox", send.WithLimiter(lim))
	u, err := NewMedia(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for range 3 {
		if _, err := u.Upload(ctx, File{Path: path}); err != nil {
			t.Fatal(err)
		}
	}
	if tok := lim.Tokens(); tok < 0.99 {
		t.Errorf("after 3 uploads the message budget holds %.2f tokens, want 1: uploads do not take message tokens", tok)
	}
	if _, err := c.Send(ctx, send.Message{To: "+16505550001", Link: link}); err != nil || lim.Tokens() > 0.01 {
		t.Errorf("a message: %v, %.2f tokens left; want it to take the token", err, lim.Tokens())
	}

	// A 130429 on an upload pauses the whole account for its Retry-After.
	var sent time.Duration
	done := make(chan struct{})
	c = account(t, s.MetaURL(), send.Meta, "sandbox", send.WithRetryHook(func(ev send.RetryEvent) {
		if ev.Retry && ev.Path == "media" {
			go func() {
				defer close(done)
				t0 := time.Now()
				_, _ = c.Send(context.Background(), send.Message{To: "+16505550999", Link: link})
				sent = time.Since(t0)
			}()
		}
	}))
	u, _ = NewMedia(c, nil)
	s.Inject(sandbox.Meta, sandbox.Fault{Status: 400, Code: 130429, RetryAfter: time.Second})
	if _, err := u.Upload(t.Context(), File{Path: path}); err != nil {
		t.Fatal(err)
	}
	<-done
	if sent < 800*time.Millisecond {
		t.Errorf("a message during the upload's 1s rate-limit pause went out after %v", sent)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
