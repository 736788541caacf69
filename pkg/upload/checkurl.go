package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gabriel-vasile/mimetype"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
)

// URLCheck is what a provider would find fetching a media URL.
type URLCheck struct {
	URL         string `json:"url"`                 // as given, query redacted (presigned signatures are credentials)
	FinalURL    string `json:"final_url,omitempty"` // after redirects, query redacted
	Status      int    `json:"status"`
	HTTPS       bool   `json:"https"`
	ContentType string `json:"content_type"` // as served
	Size        int64  `json:"size"`         // total bytes, -1 when the server does not say
	Ranges      bool   `json:"ranges"`       // the server honours Range requests
	// RealMIME is the type of the content itself: from a full inspection
	// when Inspected is "full", else sniffed from the first bytes.
	RealMIME  string          `json:"real_mime"`
	Container string          `json:"container,omitempty"`
	Codec     string          `json:"codec,omitempty"`
	Channels  int             `json:"channels,omitempty"`
	Duration  float64         `json:"duration_s,omitempty"`
	Inspected string          `json:"inspected"` // "full", "sniffed" or "none"
	Fetched   int64           `json:"fetched_bytes"`
	Problems  []URLProblem    `json:"problems"`
	OK        bool            `json:"ok"` // no problem of severity "error"
	Report    *inspect.Report `json:"-"`
}

// URLProblem is one finding of CheckURL.
type URLProblem struct {
	Code     string `json:"code"`
	Severity string `json:"severity"` // "error": the provider will fail; "warning": it may
	Message  string `json:"message"`
}

// URL check problem codes.
const (
	URLUnreachable         = "unreachable"
	URLHTTPStatus          = "http_status"
	URLNotHTTPS            = "not_https"
	URLNotPublic           = "not_public"
	URLNoContentType       = "no_content_type"
	URLContentTypeMismatch = "content_type_mismatch"
	URLNotAccepted         = "not_accepted"
	URLTooLarge            = "too_large"
	URLTooLargeForVoice    = "too_large_for_voice"
	URLSizeUnknown         = "size_unknown"
	URLEmpty               = "empty"
	URLPartial             = "partially_inspected"
)

// CheckOptions tunes CheckURL.
type CheckOptions struct {
	HTTPClient *http.Client // default: 30s timeout, follows up to 10 redirects
	// MaxFetch bounds the bytes downloaded (default 2 MB). Content up to
	// this size is inspected whole; larger content is inspected through
	// Range requests while the budget lasts, else sniffed from its start.
	MaxFetch int64
}

const probeBytes = 64 << 10

var errBudget = errors.New("fetch budget exhausted")

// CheckURL fetches the headers and the first bytes of rawURL (a Range
// request) and reports what Meta, 360dialog and Infobip would check when
// fetching it: the HTTP status, https, the served Content-Type against the
// real content, the size against the limit (rules), and whether the content
// is a type WhatsApp accepts. The error is non-nil only for a URL that is
// not http(s); an unreachable URL is a problem in the result.
func CheckURL(ctx context.Context, rawURL string, o CheckOptions) (*URLCheck, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &InputError{Op: "fetch", Name: RedactURL(rawURL), Err: errors.New("not an http(s) URL")}
	}
	if o.MaxFetch <= 0 {
		o.MaxFetch = 2 << 20
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	c := &URLCheck{URL: RedactURL(rawURL), HTTPS: u.Scheme == "https", Size: -1, Inspected: "none", Problems: []URLProblem{}}
	defer c.finish()
	c.checkHost(u)
	f := &fetcher{ctx: ctx, client: client, url: rawURL, budget: o.MaxFetch}
	head, whole, err := c.fetchHead(f, rawURL, o.MaxFetch)
	if err != nil {
		return nil, err // the context ended
	}
	if len(head) == 0 || c.Size == 0 {
		return c, nil // nothing to inspect (a problem is recorded when head is nil)
	}
	if err := c.inspectHead(ctx, f, head, whole, u.Path); err != nil {
		return nil, err
	}
	return c, nil
}

// checkHost warns about what the providers cannot or will not fetch.
func (c *URLCheck) checkHost(u *url.URL) {
	if u.Scheme != "https" && !c.has(URLNotHTTPS) {
		c.warn(URLNotHTTPS, "the URL is http; Meta and 360dialog expect https links (Infobip accepts http)")
	}
	if isPrivateHost(u.Hostname()) && !c.has(URLNotPublic) {
		c.warn(URLNotPublic, fmt.Sprintf("%s is not a public host: a provider cannot fetch it", u.Hostname()))
	}
}

// fetchHead gets the status, headers, size and the first bytes (all of
// them when the server ignores Range, up to maxFetch). whole says head is
// the entire content. A nil head with a nil error means a problem was
// recorded and there is nothing to inspect; an error is the context's.
func (c *URLCheck) fetchHead(f *fetcher, rawURL string, maxFetch int64) (head []byte, whole bool, err error) {
	resp, err := f.get(0, probeBytes-1)
	if err == nil && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		// Some servers (S3 among them) answer 416 to a Range on an empty
		// object; providers fetch without one.
		resp.Body.Close()
		resp, err = f.get(0, -1)
	}
	if err != nil {
		if f.ctx.Err() != nil {
			return nil, false, f.ctx.Err()
		}
		c.fail(URLUnreachable, fmt.Sprintf("no answer: %v", scrubURLError(err)))
		return nil, false, nil
	}
	defer resp.Body.Close()
	c.Status = resp.StatusCode
	c.ContentType = resp.Header.Get("Content-Type")
	if resp.Request != nil && resp.Request.URL != nil && resp.Request.URL.String() != rawURL {
		c.FinalURL = RedactURL(resp.Request.URL.String())
		c.HTTPS = resp.Request.URL.Scheme == "https"
		c.checkHost(resp.Request.URL) // the provider fetches where the redirect leads
	}
	if resp.StatusCode/100 != 2 {
		c.fail(URLHTTPStatus, fmt.Sprintf("the server answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
		return nil, false, nil
	}
	if resp.StatusCode == http.StatusPartialContent {
		c.Ranges = true
		c.Size = contentRangeTotal(resp.Header.Get("Content-Range"))
		head, err = f.read(resp.Body, probeBytes)
	} else {
		c.Size = resp.ContentLength
		head, err = f.read(resp.Body, maxFetch) // no range support: take what the budget allows
	}
	if err != nil && !errors.Is(err, errBudget) {
		c.fail(URLUnreachable, fmt.Sprintf("reading the body: %v", scrubURLError(err)))
		return nil, false, nil
	}
	c.Fetched = f.fetched
	whole = c.Size >= 0 && int64(len(head)) >= c.Size
	if c.Size < 0 && !c.Ranges && int64(len(head)) < maxFetch {
		whole, c.Size = true, int64(len(head)) // the server sent everything it has
	}
	c.checkSize()
	if head == nil {
		head = []byte{}
	}
	return head, whole, nil
}

// inspectHead inspects the content — from head, fetching more by Range
// where the server allows — and judges it as the upload check does; where
// the bytes do not suffice, the type is sniffed from the first ones.
func (c *URLCheck) inspectHead(ctx context.Context, f *fetcher, head []byte, whole bool, name string) error {
	sniffed := func() error {
		c.Inspected = "sniffed"
		c.RealMIME = sniffMIME(head)
		c.warn(URLPartial, fmt.Sprintf("inspection needed more than the %d bytes fetched; the type is sniffed from the first bytes, not fully inspected", c.Fetched))
		c.checkContentType(rules.ByMIME(c.RealMIME))
		return nil
	}
	var ra io.ReaderAt
	size := c.Size
	switch {
	case whole:
		ra, size = bytes.NewReader(head[:min(int64(len(head)), c.Size)]), min(int64(len(head)), c.Size)
	case c.Ranges && c.Size > 0:
		ra = &rangeReader{f: f, size: c.Size, blocks: map[int64][]byte{0: head}}
	case size < 0:
		// A prefix of unknown reach: inspected as a whole file it would
		// read as truncated.
		return sniffed()
	default:
		ra = &prefixReader{b: head}
	}
	rep, ierr := inspect.Reader(ctx, ra, size, name)
	c.Fetched = f.fetched
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if ierr != nil && (errors.Is(ierr, errBudget) || errors.Is(ierr, errBeyondPrefix)) {
		return sniffed()
	}
	c.Inspected = "full"
	c.Report = rep
	c.RealMIME, c.Container, c.Codec, c.Channels, c.Duration = rep.MIME, rep.Container, rep.Codec, rep.Channels, rep.Duration
	typ, aerr := accept(c.URL, rep)
	var re *RefusedError
	if errors.As(aerr, &re) {
		for _, p := range re.Problems {
			if p.Code == inspect.CodeTooLarge && c.has(URLTooLarge) {
				continue
			}
			c.fail(URLNotAccepted, fmt.Sprintf("%s (%s)", p.Message, p.Code))
		}
		c.checkContentType(rules.ByMIME(c.RealMIME))
		return nil
	}
	c.checkContentType(typ, true)
	if rep.Has(inspect.CodeTooLargeForVoice) && rules.IsVoiceType(typ.Container, typ.Codec) {
		c.warn(URLTooLargeForVoice, fmt.Sprintf("%d bytes is over the %d-byte voice-note budget: it would show a download icon", c.Size, rules.VoiceMaxBytes))
	}
	return nil
}

func (c *URLCheck) checkSize() {
	switch {
	case c.Size < 0:
		c.warn(URLSizeUnknown, "the server gives no size (no Content-Length or Content-Range)")
	case c.Size == 0:
		c.fail(URLEmpty, "the content is empty")
	case c.Size > rules.AudioMaxBytes:
		c.fail(URLTooLarge, fmt.Sprintf("%d bytes is over WhatsApp's limit of %d bytes", c.Size, rules.AudioMaxBytes))
	}
}

// checkContentType compares the served Content-Type with the type of the
// content (ok=false: the content is not an accepted type).
func (c *URLCheck) checkContentType(typ rules.MediaType, ok bool) {
	served := strings.TrimSpace(c.ContentType)
	if served == "" {
		c.fail(URLNoContentType, "the server sends no Content-Type")
		return
	}
	if !ok {
		return
	}
	if st, sok := rules.ByMIME(served); !sok || st.MIME != typ.MIME {
		c.fail(URLContentTypeMismatch, fmt.Sprintf("served as %s but the content is %s: serve it with Content-Type %s", served, typ.Name, typ.MIME))
	}
}

func (c *URLCheck) finish() {
	c.OK = true
	for _, p := range c.Problems {
		if p.Severity == "error" {
			c.OK = false
		}
	}
}

func (c *URLCheck) has(code string) bool {
	for _, p := range c.Problems {
		if p.Code == code {
			return true
		}
	}
	return false
}

func (c *URLCheck) fail(code, msg string) {
	c.Problems = append(c.Problems, URLProblem{Code: code, Severity: "error", Message: msg})
}

func (c *URLCheck) warn(code, msg string) {
	c.Problems = append(c.Problems, URLProblem{Code: code, Severity: "warning", Message: msg})
}

// fetcher makes GET requests within a byte budget.
type fetcher struct {
	ctx     context.Context
	client  *http.Client
	url     string
	budget  int64
	mu      sync.Mutex
	fetched int64
}

func (f *fetcher) get(from, to int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, err
	}
	if to >= 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", from, to))
	}
	req.Header.Set("User-Agent", "prep-check-url")
	return f.client.Do(req)
}

// read reads up to n bytes of r, counting them against the budget.
func (f *fetcher) read(r io.Reader, n int64) ([]byte, error) {
	f.mu.Lock()
	left := f.budget - f.fetched
	f.mu.Unlock()
	if left <= 0 {
		return nil, errBudget
	}
	b, err := io.ReadAll(io.LimitReader(r, min(n, left)))
	f.mu.Lock()
	f.fetched += int64(len(b))
	f.mu.Unlock()
	if err == nil && n > left && int64(len(b)) == left {
		err = errBudget
	}
	return b, err
}

// rangeReader reads a remote file through Range requests in 64 KB blocks.
type rangeReader struct {
	f      *fetcher
	size   int64
	mu     sync.Mutex
	blocks map[int64][]byte
}

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= r.size {
			return n, io.EOF
		}
		idx := pos / probeBytes
		b, err := r.block(idx)
		if err != nil {
			return n, err
		}
		in := pos - idx*probeBytes
		if in >= int64(len(b)) {
			return n, io.ErrUnexpectedEOF
		}
		n += copy(p[n:], b[in:])
	}
	return n, nil
}

func (r *rangeReader) block(idx int64) ([]byte, error) {
	r.mu.Lock()
	b, ok := r.blocks[idx]
	r.mu.Unlock()
	if ok {
		return b, nil
	}
	from := idx * probeBytes
	resp, err := r.f.get(from, min(from+probeBytes, r.size)-1)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return nil, fmt.Errorf("range request answered %d", resp.StatusCode)
	}
	b, err = r.f.read(resp.Body, probeBytes)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.blocks[idx] = b
	r.mu.Unlock()
	return b, nil
}

var errBeyondPrefix = errors.New("read beyond the fetched prefix")

// prefixReader is the first bytes of a larger file of unknown reach.
type prefixReader struct{ b []byte }

func (r *prefixReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(r.b)) {
		n := 0
		if off >= 0 && off < int64(len(r.b)) {
			n = copy(p, r.b[off:])
		}
		return n, errBeyondPrefix
	}
	return copy(p, r.b[off:]), nil
}

func sniffMIME(b []byte) string {
	m := mimetype.Detect(b).String()
	if i := strings.IndexByte(m, ';'); i >= 0 {
		m = m[:i]
	}
	return m
}

// contentRangeTotal reads the total of "bytes a-b/total" (-1 if "*" or bad).
func contentRangeTotal(h string) int64 {
	i := strings.LastIndexByte(h, '/')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(h[i+1:]), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// isPrivateHost reports loopback, private, link-local and "localhost"
// hosts, which no provider can reach.
func isPrivateHost(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || strings.HasSuffix(h, ".local") || strings.HasSuffix(h, ".internal") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified())
}

// scrubURLError drops the query string and user info from a *url.Error's
// URL (a presigned URL's query holds its signature).
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if _, perr := url.Parse(ue.URL); perr == nil {
			return &url.Error{Op: ue.Op, URL: RedactURL(ue.URL), Err: ue.Err}
		}
	}
	return err
}
