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
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Provider names a WhatsApp provider with a media endpoint. The values are
// the ones the CLI and pkg/sandbox use.
type Provider string

// Providers with a media endpoint.
const (
	Meta Provider = "meta"
	D360 Provider = "360dialog"
)

// Default endpoints.
const (
	DefaultMetaURL     = "https://graph.facebook.com"
	DefaultMetaVersion = "v23.0"
	DefaultD360URL     = "https://waba-v2.360dialog.io"
)

// MediaConfig configures a media-endpoint uploader.
type MediaConfig struct {
	Provider Provider
	// BaseURL: Meta default DefaultMetaURL (requests go to
	// {BaseURL}/{Version}/{PhoneNumberID}/media); 360dialog default
	// DefaultD360URL (requests go to {BaseURL}/media).
	BaseURL       string
	Version       string       // Meta Graph API version, default DefaultMetaVersion
	PhoneNumberID string       // Meta: required
	Token         string       // Meta: access token (Authorization: Bearer)
	APIKey        string       // 360dialog: D360-API-KEY
	HTTPClient    *http.Client // copied; redirects are never followed (credentials stay on the endpoint's host)
	Retry         Retry
	// Cache, when set, remembers media ids by (provider, endpoint, account,
	// sha256) so the same bytes are not uploaded twice.
	Cache *Cache
}

// Retry bounds the retries of transient failures (5xx, 429, connection
// errors, Graph errors marked is_transient or with a transient code).
type Retry struct {
	MaxAttempts int           // total attempts; default 4
	BaseDelay   time.Duration // first backoff; default 500ms, doubled each time, with jitter
	MaxDelay    time.Duration // longest single wait (also caps Retry-After); default 30s
}

func (r Retry) withDefaults() Retry {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 4
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = 500 * time.Millisecond
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = 30 * time.Second
	}
	return r
}

// MediaUploader uploads to the Meta Cloud API or 360dialog media endpoint
// and returns a media id.
type MediaUploader struct {
	cfg      MediaConfig
	endpoint string // the full POST URL
	account  string // cache account: phone number id, or a digest of the 360dialog key
	client   *http.Client
	flight   flight
}

var _ Uploader = (*MediaUploader)(nil)

// NewMedia builds a media-endpoint uploader. It makes no request.
func NewMedia(cfg MediaConfig) (*MediaUploader, error) {
	// Redirects are never followed: net/http forwards every header but
	// Authorization and cookies to another host, so 360dialog's
	// D360-API-KEY (and the file) would go wherever the answer points.
	// A caller's client is copied, not changed.
	u := &MediaUploader{cfg: cfg, client: &http.Client{Timeout: 5 * time.Minute}}
	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient
		u.client = &hc
	}
	u.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u.cfg.Retry = cfg.Retry.withDefaults()
	switch cfg.Provider {
	case Meta:
		if u.cfg.BaseURL == "" {
			u.cfg.BaseURL = DefaultMetaURL
		}
		if u.cfg.Version == "" {
			u.cfg.Version = DefaultMetaVersion
		}
		if cfg.Token == "" {
			return nil, &ConfigError{Setting: "WHATSAPP_ACCESS_TOKEN", Msg: "no access token given"}
		}
		if cfg.PhoneNumberID == "" {
			return nil, &ConfigError{Setting: "WHATSAPP_PHONE_NUMBER_ID", Msg: "no phone number id given"}
		}
		if strings.ContainsAny(u.cfg.Version+cfg.PhoneNumberID, "/?#") {
			return nil, &ConfigError{Setting: "WHATSAPP_PHONE_NUMBER_ID", Msg: "version and phone number id must not contain / ? #"}
		}
		u.endpoint = strings.TrimRight(u.cfg.BaseURL, "/") + "/" + url.PathEscape(u.cfg.Version) + "/" + url.PathEscape(cfg.PhoneNumberID) + "/media"
		u.account = cfg.PhoneNumberID
	case D360:
		if u.cfg.BaseURL == "" {
			u.cfg.BaseURL = DefaultD360URL
		}
		if cfg.APIKey == "" {
			return nil, &ConfigError{Setting: "D360_API_KEY", Msg: "no API key given"}
		}
		u.endpoint = strings.TrimRight(u.cfg.BaseURL, "/") + "/media"
		// The key identifies the 360dialog number; the cache stores only a
		// salted digest of it, never the key.
		sum := sha256.Sum256([]byte("prep media cache\x00" + cfg.APIKey))
		u.account = "key-" + hex.EncodeToString(sum[:8])
	default:
		return nil, &ConfigError{Setting: "provider", Msg: fmt.Sprintf("%q has no media endpoint (want %q or %q)", cfg.Provider, Meta, D360)}
	}
	bu, err := url.Parse(u.endpoint)
	if err != nil || (bu.Scheme != "http" && bu.Scheme != "https") || bu.Host == "" {
		return nil, &ConfigError{Setting: "API URL", Msg: "must be an http(s) URL"}
	}
	if bu.User != nil || bu.RawQuery != "" || bu.Fragment != "" {
		// Credentials go in the token or key settings, never in the URL
		// (it is kept in every cache entry and quoted in errors).
		return nil, &ConfigError{Setting: "API URL", Msg: "must not carry user info, a query or a fragment"}
	}
	return u, nil
}

// CacheKey is the cache key an upload of content with that SHA-256 uses.
func (u *MediaUploader) CacheKey(sha256hex string) CacheKey {
	return CacheKey{Provider: u.cfg.Provider, Endpoint: u.endpoint, Account: u.account, SHA256: sha256hex}
}

// Upload checks f, then returns the cached media id for its bytes if one
// is still fresh (Ref.Reused), else uploads it as multipart/form-data with
// messaging_product=whatsapp, type=<real MIME> and file=<name><canonical
// ext> (meta-business-messaging-api_v23.0.yaml, POST
// /{Version}/{Phone-Number-ID}/media, operationId uploadImage: form-data
// "file" and "messaging_product"; the answer is {"id": …}).
func (u *MediaUploader) Upload(ctx context.Context, f File) (*Ref, error) {
	p, err := prepare(ctx, f, true)
	if err != nil {
		return nil, err
	}
	defer p.close()
	ref := p.ref()
	key := u.CacheKey(p.sha256)
	if u.cfg.Cache != nil {
		if e, ok := u.cfg.Cache.Get(key); ok {
			ref.MediaID, ref.Reused = e.MediaID, true
			return ref, nil
		}
	}
	// Concurrent uploads of the same bytes to the same account share one
	// request (a batch sending one file to many recipients).
	id, shared, err := u.flight.do(ctx, key.file(), func() (string, error) {
		id, err := u.post(ctx, p)
		if err == nil && u.cfg.Cache != nil {
			// A cache that cannot be written costs a re-upload later,
			// nothing more; the upload itself succeeded.
			_ = u.cfg.Cache.Put(key, CacheEntry{MediaID: id, MIME: p.typ.MIME, Ext: p.typ.Ext, Bytes: p.size})
		}
		return id, err
	})
	if err != nil {
		return nil, err
	}
	ref.MediaID, ref.Reused = id, shared
	return ref, nil
}

// post sends the multipart request, retrying transient failures with a
// fresh body each time.
func (u *MediaUploader) post(ctx context.Context, p *prepared) (string, error) {
	head, tail, ctype, err := multipartFrame(p.stem+p.typ.Ext, p.typ.MIME)
	if err != nil {
		return "", err
	}
	length := int64(len(head)) + p.size + int64(len(tail))
	newBody := func() io.ReadCloser {
		return io.NopCloser(io.MultiReader(bytes.NewReader(head), p.body(), bytes.NewReader(tail)))
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.endpoint, newBody())
		if err != nil {
			return "", err
		}
		req.ContentLength = length
		req.GetBody = func() (io.ReadCloser, error) { return newBody(), nil }
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Accept", "application/json")
		if u.cfg.Provider == Meta {
			req.Header.Set("Authorization", "Bearer "+u.cfg.Token)
		} else {
			req.Header.Set("D360-API-KEY", u.cfg.APIKey)
		}
		id, wait, err := u.do(req)
		if err == nil {
			return id, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		var ae *APIError
		transient := true
		if errors.As(err, &ae) {
			ae.Attempts = attempt
			transient = ae.Transient
		} else {
			err = &NetworkError{Provider: u.cfg.Provider, Attempts: attempt, Err: err}
		}
		lastErr = err
		if !transient || attempt >= u.cfg.Retry.MaxAttempts {
			return "", lastErr
		}
		delay := backoff(u.cfg.Retry, attempt)
		if wait > 0 {
			delay = min(wait, u.cfg.Retry.MaxDelay)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
	}
}

// do makes one request. It returns the media id, or the Retry-After wait
// and an *APIError (an HTTP answer) or another error (no answer).
func (u *MediaUploader) do(req *http.Request) (string, time.Duration, error) {
	resp, err := u.client.Do(req)
	if err != nil {
		return "", 0, scrubURLError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode/100 == 2 {
		id := mediaID(body)
		if id == "" {
			return "", 0, &APIError{Provider: u.cfg.Provider, Status: resp.StatusCode, Message: "the answer holds no media id"}
		}
		return id, 0, nil
	}
	// A server or proxy may echo the request's headers: the credential
	// never goes into an error (scrubbed before the message is cut to
	// length, and again once JSON escapes are decoded).
	ae := parseAPIError(u.cfg.Provider, resp.StatusCode, []byte(u.scrub(string(body))))
	ae.Message, ae.Type, ae.TraceID = u.scrub(ae.Message), u.scrub(ae.Type), u.scrub(ae.TraceID)
	ae.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
	return "", ae.RetryAfter, ae
}

// scrub removes the token or API key from text that may end up in an
// error.
func (u *MediaUploader) scrub(s string) string {
	for _, cred := range []string{u.cfg.Token, u.cfg.APIKey} {
		if len(cred) >= 4 {
			s = strings.ReplaceAll(s, cred, "[redacted]")
		}
	}
	return s
}

// mediaID reads {"id": "…"} (Meta, 360dialog Cloud API) or
// {"media": [{"id": "…"}]} (360dialog on-premise answers).
func mediaID(body []byte) string {
	var v struct {
		ID    json.RawMessage `json:"id"`
		Media []struct {
			ID string `json:"id"`
		} `json:"media"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	if len(v.ID) > 0 {
		var s string
		if json.Unmarshal(v.ID, &s) == nil {
			return s
		}
		var n json.Number
		if json.Unmarshal(v.ID, &n) == nil {
			return n.String()
		}
	}
	if len(v.Media) > 0 {
		return v.Media[0].ID
	}
	return ""
}

// transientCodes are Graph error codes worth retrying: 1 and 2 (API
// unknown/service), 4 (application rate limit, 429 with is_transient in the
// v23.0 spec), 80007 and 130429 (rate limits), 131000 (something went
// wrong), 131016 (service unavailable), 133004 (server temporarily
// unavailable).
var transientCodes = map[int]bool{1: true, 2: true, 4: true, 80007: true, 130429: true, 131000: true, 131016: true, 133004: true}

// parseAPIError reads a Graph API error object
// ({"error": {message, type, code, error_subcode, fbtrace_id, is_transient}},
// GraphAPIError in meta-business-messaging-api_v23.0.yaml) or 360dialog's
// {"error": "…"} / {"meta": {...}} forms.
func parseAPIError(p Provider, status int, body []byte) *APIError {
	e := &APIError{Provider: p, Status: status}
	var v struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && len(v.Error) > 0 {
		var g struct {
			Message   string `json:"message"`
			Type      string `json:"type"`
			Code      int    `json:"code"`
			Subcode   int    `json:"error_subcode"`
			TraceID   string `json:"fbtrace_id"`
			Transient bool   `json:"is_transient"`
			Data      struct {
				Details string `json:"details"`
			} `json:"error_data"`
		}
		var s string
		if json.Unmarshal(v.Error, &g) == nil {
			e.Message, e.Type, e.Code, e.Subcode, e.TraceID, e.Transient = g.Message, g.Type, g.Code, g.Subcode, g.TraceID, g.Transient
			if g.Data.Details != "" && g.Data.Details != g.Message {
				e.Message = strings.TrimSpace(e.Message + ": " + g.Data.Details)
			}
		} else if json.Unmarshal(v.Error, &s) == nil {
			e.Message = s
		}
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(http.StatusText(status))
	}
	if len(e.Message) > 300 {
		e.Message = e.Message[:300] + "…"
	}
	if status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || transientCodes[e.Code] {
		e.Transient = true
	}
	return e
}

func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// backoff is the wait after the attempt-th failure: BaseDelay·2^(n-1) with
// ±25% jitter, at most MaxDelay.
func backoff(r Retry, attempt int) time.Duration {
	d := r.BaseDelay << min(attempt-1, 20)
	if d <= 0 || d > r.MaxDelay {
		d = r.MaxDelay
	}
	j := time.Duration(rand.Int64N(int64(d)/2 + 1))
	return d - d/4 + j
}

// multipartFrame builds everything of the multipart body but the file
// bytes: the fields and the file part's header (head) and the closing
// boundary (tail). The file goes between them, so each attempt streams it
// afresh with an exact Content-Length.
func multipartFrame(filename, mime string) (head, tail []byte, contentType string, err error) {
	var hb, tb bytes.Buffer
	sw := &switchWriter{w: &hb}
	mw := multipart.NewWriter(sw)
	if err := mw.WriteField("messaging_product", "whatsapp"); err != nil {
		return nil, nil, "", err
	}
	if err := mw.WriteField("type", mime); err != nil {
		return nil, nil, "", err
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, escapeQuotes(filename)))
	h.Set("Content-Type", mime)
	if _, err := mw.CreatePart(h); err != nil {
		return nil, nil, "", err
	}
	sw.w = &tb
	if err := mw.Close(); err != nil {
		return nil, nil, "", err
	}
	return hb.Bytes(), tb.Bytes(), mw.FormDataContentType(), nil
}

type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "", "\n", "")

func escapeQuotes(s string) string { return quoteEscaper.Replace(s) }

// scrubURLError drops the query string from a *url.Error's URL (media
// endpoints carry no secrets in URLs, but a misconfigured base URL might).
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery, u.User = "", nil
			return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
	}
	return err
}
