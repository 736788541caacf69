package upload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/rules"
)

// bigReader is data followed by zeros up to size (a large file without
// the memory).
type bigReader struct {
	data []byte
	size int64
	off  int64
}

func (b *bigReader) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), b.size-b.off))
	for i := 0; i < n; i++ {
		at := b.off + int64(i)
		if at < int64(len(b.data)) {
			p[i] = b.data[at]
		} else {
			p[i] = 0
		}
	}
	b.off += int64(n)
	return n, nil
}

func (b *bigReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		b.off = off
	case io.SeekCurrent:
		b.off += off
	case io.SeekEnd:
		b.off = b.size + off
	}
	return b.off, nil
}

// host serves body with a Content-Type ("-" = none) through
// http.ServeContent (Range support) or, with ranges false, whole.
func host(t *testing.T, body io.ReadSeeker, ctype string, ranges bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ctype == "-" {
			w.Header()["Content-Type"] = nil
		} else {
			w.Header().Set("Content-Type", ctype)
		}
		body.Seek(0, io.SeekStart)
		if ranges {
			http.ServeContent(w, r, "", time.Time{}, body)
			return
		}
		io.Copy(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func codes(c *URLCheck, severity string) []string {
	var out []string
	for _, p := range c.Problems {
		if p.Severity == severity {
			out = append(out, p.Code)
		}
	}
	return out
}

func TestCheckURL(t *testing.T) {
	ogg, err := os.ReadFile(sample(t, "ogg-opus-mono-48k-2s.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(sample(t, "hostile-html.mp3"))
	tests := []struct {
		name      string
		body      io.ReadSeeker
		ctype     string
		ranges    bool
		ok        bool
		errors    []string // expected error codes, in order
		inspected string
		size      int64
	}{
		{"right type, ranges", bytes.NewReader(ogg), "audio/ogg", true, true, nil, "full", int64(len(ogg))},
		{"right type with parameters", bytes.NewReader(ogg), "audio/ogg; codecs=opus", true, true, nil, "full", int64(len(ogg))},
		{"right type, no ranges", bytes.NewReader(ogg), "audio/ogg", false, true, nil, "full", int64(len(ogg))},
		{"wrong type", bytes.NewReader(ogg), "video/mp4", true, false, []string{URLContentTypeMismatch}, "full", int64(len(ogg))},
		{"generic type", bytes.NewReader(ogg), "application/octet-stream", true, false, []string{URLContentTypeMismatch}, "full", int64(len(ogg))},
		{"no type", bytes.NewReader(ogg), "-", true, false, []string{URLNoContentType}, "full", int64(len(ogg))},
		{"html served as mp3", bytes.NewReader(html), "audio/mpeg", true, false, []string{URLNotAccepted}, "full", int64(len(html))},
		{"over 16 MB", &bigReader{data: ogg, size: rules.AudioMaxBytes + 1}, "audio/ogg", true, false, []string{URLTooLarge}, "", rules.AudioMaxBytes + 1},
		{"empty", bytes.NewReader(nil), "audio/ogg", false, false, []string{URLEmpty}, "none", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := host(t, tt.body, tt.ctype, tt.ranges)
			c, err := CheckURL(context.Background(), srv.URL+"/media/v.ogg", CheckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := codes(c, "error")
			if c.OK != tt.ok || strings.Join(got, ",") != strings.Join(tt.errors, ",") {
				t.Fatalf("ok=%v errors %v, want ok=%v %v; problems %+v", c.OK, got, tt.ok, tt.errors, c.Problems)
			}
			if tt.inspected != "" && c.Inspected != tt.inspected {
				t.Fatalf("inspected %q, want %q", c.Inspected, tt.inspected)
			}
			if c.Size != tt.size || c.Status/100 != 2 || c.Ranges != tt.ranges && tt.size > 0 {
				t.Fatalf("size %d status %d ranges %v", c.Size, c.Status, c.Ranges)
			}
			if c.Fetched > 2<<20 {
				t.Fatalf("fetched %d bytes, over the budget", c.Fetched)
			}
			// Loopback over http: both warned about.
			if w := strings.Join(codes(c, "warning"), ","); !strings.Contains(w, URLNotHTTPS) || !strings.Contains(w, URLNotPublic) {
				t.Fatalf("warnings %s", w)
			}
		})
	}
}

func TestCheckURLLargeFileFetchesLittle(t *testing.T) {
	ogg, _ := os.ReadFile(sample(t, "ogg-opus-mono-48k-2s.ogg"))
	// 10 MB: under the limit; inspected through Range requests or sniffed,
	// never downloaded whole.
	srv := host(t, &bigReader{data: ogg, size: 10_000_000}, "audio/ogg", true)
	c, err := CheckURL(context.Background(), srv.URL+"/big.ogg", CheckOptions{MaxFetch: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("inspected %s, fetched %d bytes, problems %+v", c.Inspected, c.Fetched, c.Problems)
	if c.Fetched > 256<<10 || c.Size != 10_000_000 || c.RealMIME != "audio/ogg" {
		t.Fatalf("fetched %d, size %d, real %s", c.Fetched, c.Size, c.RealMIME)
	}
	if c.has(URLTooLarge) || c.has(URLContentTypeMismatch) {
		t.Fatalf("problems %+v", c.Problems)
	}
}

func TestCheckURLStatusAndNetwork(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c, err := CheckURL(context.Background(), srv.URL+"/gone.ogg", CheckOptions{})
	if err != nil || c.OK || c.Status != 404 || !c.has(URLHTTPStatus) {
		t.Fatalf("404: %+v %v", c, err)
	}
	// 416 to the Range probe (S3 does this for empty objects): checked
	// again without Range.
	srv416 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("Content-Type", "audio/ogg")
	}))
	defer srv416.Close()
	c, err = CheckURL(context.Background(), srv416.URL+"/empty.ogg", CheckOptions{})
	if err != nil || c.Status != 200 || !c.has(URLEmpty) || c.has(URLHTTPStatus) {
		t.Fatalf("416 then empty: %+v %v", c, err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	c, err = CheckURL(context.Background(), "http://"+addr+"/x.ogg", CheckOptions{})
	if err != nil || c.OK || !c.has(URLUnreachable) {
		t.Fatalf("closed port: %+v %v", c, err)
	}
	var ie *InputError
	for _, bad := range []string{"ftp://example.com/a.ogg", "not a url", "/relative.ogg"} {
		if _, err := CheckURL(context.Background(), bad, CheckOptions{}); !errors.As(err, &ie) {
			t.Errorf("%q: err = %v, want *InputError", bad, err)
		}
	}
}

func TestCheckURLRedirectAndRedaction(t *testing.T) {
	ogg, _ := os.ReadFile(sample(t, "ogg-opus-mono-48k-2s.ogg"))
	media := host(t, bytes.NewReader(ogg), "audio/ogg", true)
	const sig = "X-Amz-Signature=deadbeefcafe"
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, media.URL+"/final.ogg?"+sig, http.StatusFound)
	}))
	defer redir.Close()
	c, err := CheckURL(context.Background(), redir.URL+"/start.ogg?token=s3cr3t", CheckOptions{})
	if err != nil || !c.OK {
		t.Fatalf("%+v %v", c, err)
	}
	if !strings.HasPrefix(c.FinalURL, media.URL+"/final.ogg") {
		t.Fatalf("final URL %q", c.FinalURL)
	}
	js, _ := json.Marshal(c)
	if strings.Contains(string(js), "s3cr3t") || strings.Contains(string(js), "deadbeef") {
		t.Fatalf("credentials in the result: %s", js)
	}
}

// TestCheckURLOnSandboxHost checks a file on the sandbox's stand-in media
// host, as an Infobip or link flow would use it.
func TestCheckURLOnSandboxHost(t *testing.T) {
	s := startSandbox(t)
	ogg, _ := os.ReadFile(sample(t, "ogg-opus-mono-48k-2s.ogg"))
	good := s.HostFile("good.ogg", "audio/ogg", ogg)
	bad := s.HostFile("bad.mp4", "video/mp4", ogg)
	c, err := CheckURL(context.Background(), good, CheckOptions{})
	if err != nil || !c.OK || c.Codec != "opus" {
		t.Fatalf("good: %+v %v", c, err)
	}
	c, err = CheckURL(context.Background(), bad, CheckOptions{})
	if err != nil || c.OK || !c.has(URLContentTypeMismatch) {
		t.Fatalf("bad: %+v %v", c, err)
	}
}

// TestCheckURLOnS3 checks what the S3 uploader returns: a presigned URL
// that serves the right type.
func TestCheckURLOnS3(t *testing.T) {
	cfg := s3Env(t)
	u, err := NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range accepted {
		t.Run(tt.file, func(t *testing.T) {
			ref, err := u.Upload(context.Background(), File{Path: sample(t, tt.file)})
			if err != nil {
				t.Fatal(err)
			}
			c, err := CheckURL(context.Background(), ref.FetchURL(), CheckOptions{})
			if err != nil || !c.OK || c.ContentType != tt.mime || c.Inspected != "full" {
				t.Fatalf("%+v %v", c, err)
			}
			if strings.Contains(c.URL, "X-Amz-Signature=") {
				t.Fatalf("signature in %s", c.URL)
			}
		})
	}
}

// TestCheckURLRedirectToHTTP: an https link that redirects to plain http
// is fetched over http; the check says so, as it does for an http link.
func TestCheckURLRedirectToHTTP(t *testing.T) {
	ogg, _ := os.ReadFile(sample(t, "ogg-opus-mono-48k-2s.ogg"))
	media := host(t, bytes.NewReader(ogg), "audio/ogg", true)
	redir := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, media.URL+"/final.ogg", http.StatusFound)
	}))
	defer redir.Close()
	c, err := CheckURL(context.Background(), redir.URL+"/start.ogg", CheckOptions{HTTPClient: redir.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPS || !c.has(URLNotHTTPS) {
		t.Errorf("https %v, problems %+v; want https false and a %s warning", c.HTTPS, c.Problems, URLNotHTTPS)
	}
}

// TestCheckURLUnknownSizeBeyondBudget: a server that streams without a
// length or ranges, longer than the fetch budget, gave prep only a prefix
// of unknown reach; judging that prefix as the whole file called a good
// file truncated. It is sniffed instead.
func TestCheckURLUnknownSizeBeyondBudget(t *testing.T) {
	ogg, _ := os.ReadFile(sample(t, "ogg-opus-mono-48k-2s.ogg"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/ogg")
		for i := 0; i < len(ogg); i += 1024 { // chunked: no Content-Length
			w.Write(ogg[i:min(i+1024, len(ogg))])
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	c, err := CheckURL(context.Background(), srv.URL+"/v.ogg", CheckOptions{MaxFetch: int64(len(ogg)) / 2})
	if err != nil {
		t.Fatal(err)
	}
	if !c.OK || c.has(URLNotAccepted) || c.Inspected != "sniffed" || c.RealMIME != "audio/ogg" {
		t.Errorf("ok %v, inspected %q, real %q, problems %+v; want a sniffed audio/ogg and no error", c.OK, c.Inspected, c.RealMIME, c.Problems)
	}
}
