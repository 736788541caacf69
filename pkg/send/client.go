package send

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Client is one provider account — a Meta business phone number, a
// 360dialog API key or an Infobip account — and everything that talks to
// it: the HTTP transport (no redirects), the credential and how it is sent,
// the base URL, the retry policy (RetryPolicy), the rate limiter and the
// rate-limit pauses, and the scrubbing of the credential from every error.
// Build one per account (NewMeta, NewD360, NewInfobip or FromEnv) and share
// it: it is safe for concurrent use, and what uses it — Send for messages,
// package upload's media uploader for media — shares its retry policy and
// its rate-limit pauses (the limiter paces the messages).
type Client struct {
	provider Provider
	base     string // base URL, path prefix kept, no trailing slash
	version  string // Meta: Graph API version
	phoneID  string // Meta: business phone number id
	cred     string
	sender   string // Infobip default From (digits)
	ua       string

	hc      *http.Client
	policy  RetryPolicy
	limiter *rate.Limiter
	hook    func(RetryEvent)
	logger  *slog.Logger
	now     func() time.Time

	mu         sync.Mutex
	pauseUntil time.Time            // account-wide hold after a rate limit
	pair       map[string]time.Time // per-recipient hold after 131056
}

var _ Sender = (*Client)(nil)

// Provider reports which provider the account is at.
func (c *Client) Provider() Provider { return c.provider }

// URL is the address of an API path of this account (it holds no
// credentials): "messages" or "media" under {base}/{version}/{phone number
// id}/ for Meta, under {base}/ for 360dialog and Infobip.
func (c *Client) URL(path string) string {
	path = strings.TrimLeft(path, "/")
	if c.provider == Meta {
		return c.base + "/" + url.PathEscape(c.version) + "/" + url.PathEscape(c.phoneID) + "/" + path
	}
	return c.base + "/" + path
}

// Endpoint is the URL messages are posted to.
func (c *Client) Endpoint() string { return c.URL(c.messagesPath()) }

func (c *Client) messagesPath() string {
	if c.provider == Infobip {
		return "whatsapp/1/message/audio"
	}
	return "messages"
}

// Account identifies the account without revealing its credential: Meta's
// phone number id, or for 360dialog and Infobip (whose key selects the
// account) "key-" and 16 hex digits of a salted SHA-256 of the key. Caches
// of what belongs to an account (media ids) key on it.
func (c *Client) Account() string {
	if c.provider == Meta {
		return c.phoneID
	}
	// The salt is the one the media-id cache has always used, so that
	// cached entries stay valid.
	sum := sha256.Sum256([]byte("prep media cache\x00" + c.cred))
	return "key-" + hex.EncodeToString(sum[:8])
}

// NewMeta builds a client for a Cloud API phone number: requests go to
// {base}/{version}/{phone-number-id}/… with "Authorization: Bearer {token}"
// (Meta's "Send messages" guide,
// https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-messages).
// WithToken and WithPhoneNumberID are required.
func NewMeta(opts ...Option) (*Client, error) {
	cfg := apply(opts)
	if cfg.senderSet {
		return nil, invalidFor(Meta, "option", "WithSender is for Infobip; Meta sends from the phone number id")
	}
	if cfg.cred == "" {
		return nil, invalidFor(Meta, "credentials", "Meta needs an access token")
	}
	if err := checkID("phone number id", cfg.phoneID, 64); err != nil {
		return nil, invalidFor(Meta, "phone number id", "Meta needs the business phone number id: %s", reason(err))
	}
	version := cfg.version
	if version == "" {
		version = DefaultMetaVersion
	}
	if err := checkID("API version", version, 16); err != nil {
		return nil, invalidFor(Meta, "API version", "%s", reason(err))
	}
	base, err := baseURL(cfg.baseURL, DefaultMetaBaseURL)
	if err != nil {
		return nil, invalidFor(Meta, "base URL", "%s", reason(err))
	}
	c := newClient(Meta, cfg, base, MetaMessagesPerSecond)
	c.version, c.phoneID = version, cfg.phoneID
	return c, nil
}

// NewD360 builds a 360dialog client: requests go to {base}/… with the
// "D360-API-KEY" header, no bearer (360dialog's "Media messages" docs,
// https://docs.360dialog.com/docs/messaging/media). WithAPIKey is required.
func NewD360(opts ...Option) (*Client, error) {
	cfg := apply(opts)
	switch {
	case cfg.senderSet:
		return nil, invalidFor(D360, "option", "WithSender is for Infobip")
	case cfg.phoneSet:
		return nil, invalidFor(D360, "option", "WithPhoneNumberID is for Meta; 360dialog's key selects the number")
	case cfg.versionSet:
		return nil, invalidFor(D360, "option", "WithAPIVersion is for Meta; 360dialog's path has no version")
	case cfg.cred == "":
		return nil, invalidFor(D360, "credentials", "360dialog needs an API key")
	}
	base, err := baseURL(cfg.baseURL, DefaultD360BaseURL)
	if err != nil {
		return nil, invalidFor(D360, "base URL", "%s", reason(err))
	}
	return newClient(D360, cfg, base, MetaMessagesPerSecond), nil
}

// NewInfobip builds an Infobip client: requests go to {base}/… with
// "Authorization: App {key}" (Infobip's "Send WhatsApp audio message",
// https://www.infobip.com/docs/api/channels/whatsapp/whatsapp-outbound-messages/send-whatsapp-audio-message).
// WithBaseURL (per account) and WithAPIKey are required; WithSender gives
// the default From. A request in doubt is not retried, as for Meta: see
// RetryPolicy.RetryInDoubt.
func NewInfobip(opts ...Option) (*Client, error) {
	cfg := apply(opts)
	switch {
	case cfg.phoneSet:
		return nil, invalidFor(Infobip, "option", "WithPhoneNumberID is for Meta; Infobip uses a sender number (WithSender)")
	case cfg.versionSet:
		return nil, invalidFor(Infobip, "option", "WithAPIVersion is for Meta")
	case cfg.cred == "":
		return nil, invalidFor(Infobip, "credentials", "Infobip needs an API key")
	case strings.TrimSpace(cfg.baseURL) == "":
		return nil, invalidFor(Infobip, "base URL", "Infobip's base URL is per account (e.g. https://xxxxx.api.infobip.com)")
	}
	sender := ""
	if cfg.sender != "" {
		s, err := NormalizePhone(cfg.sender)
		if err != nil {
			return nil, invalidFor(Infobip, "sender", "%s", reason(err))
		}
		sender = s
	}
	base, err := baseURL(cfg.baseURL, "")
	if err != nil {
		return nil, invalidFor(Infobip, "base URL", "%s", reason(err))
	}
	c := newClient(Infobip, cfg, base, InfobipRequestsPerSecond)
	c.sender = sender
	return c, nil
}

func apply(opts []Option) *config {
	cfg := &config{}
	for _, o := range opts {
		if o != nil {
			o(cfg)
		}
	}
	cfg.cred = strings.TrimSpace(cfg.cred)
	cfg.phoneID = strings.TrimSpace(cfg.phoneID)
	cfg.version = strings.TrimSpace(cfg.version)
	return cfg
}

// baseURL checks a base URL and returns it without a trailing slash; its
// path prefix is kept.
func baseURL(s, def string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = def
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", invalid("base URL", "%q is not an http(s) URL", redactURL(s))
	}
	if u.User != nil {
		return "", invalid("base URL", "must not carry credentials; use the token or key options")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", invalid("base URL", "must not have a query or fragment")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable)"
}

func newClient(p Provider, cfg *config, base string, defRate float64) *Client {
	c := &Client{provider: p, base: base, cred: cfg.cred, hc: cfg.hc, hook: cfg.hook, logger: cfg.logger, ua: cfg.userAgent, now: cfg.now, pair: map[string]time.Time{}}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	} else {
		// A caller's client is copied, never changed, and made not to
		// follow redirects: net/http keeps every header but Authorization
		// and cookies on a redirect to another host (D360-API-KEY would
		// go along) and re-sends a 307's body there.
		hc := *c.hc
		hc.CheckRedirect = noRedirect
		c.hc = &hc
	}
	if c.ua == "" {
		c.ua = "prep-send/1"
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.policy = DefaultRetry()
	if cfg.policy != nil {
		c.policy = cfg.policy.withDefaults()
	}
	switch {
	case cfg.limiter != nil:
		c.limiter = cfg.limiter
	case !cfg.rateSet:
		c.limiter = newLimiter(defRate, 0)
	case cfg.perSecond > 0 && !math.IsInf(cfg.perSecond, 0) && !math.IsNaN(cfg.perSecond):
		c.limiter = newLimiter(cfg.perSecond, cfg.burst)
	}
	return c
}

// newLimiter is the client's own limiter; burst 0 means a twentieth of a
// second's worth, at least 1.
func newLimiter(perSecond float64, burst int) *rate.Limiter {
	if burst <= 0 {
		burst = max(int(perSecond/20), 1)
	}
	return rate.NewLimiter(rate.Limit(perSecond), burst)
}

func defaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{
		Transport:     tr,
		CheckRedirect: noRedirect,
	}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// scrub removes the credential from text that may end up in an error.
func (c *Client) scrub(s string) string {
	if len(c.cred) >= 4 {
		s = strings.ReplaceAll(s, c.cred, "[redacted]")
	}
	return s
}

// snippet is a short, credential-free excerpt of a non-JSON error body.
func (c *Client) snippet(b []byte) string {
	s := c.scrub(strings.TrimSpace(string(b)))
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// reason is a validation error's reason (or the error's text).
func reason(err error) string {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return err.Error()
}

func invalidFor(p Provider, field, format string, a ...any) *ValidationError {
	e := invalid(field, format, a...)
	e.Provider = p
	return e
}
