package send

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Client sends audio messages through one provider and one sender account.
// Build it once (NewMeta, NewD360, NewInfobip) and share it: it is safe for
// concurrent use, and its rate limiter and pauses are shared by all callers.
type Client struct {
	provider Provider
	endpoint string // full URL of the send endpoint
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

// Provider reports which provider the client sends through.
func (c *Client) Provider() Provider { return c.provider }

// Endpoint is the URL the client posts to (it holds no credentials).
func (c *Client) Endpoint() string { return c.endpoint }

// NewMeta builds a Cloud API client: POST {base}/{version}/{phone-number-id}/messages
// with "Authorization: Bearer {token}" (seeds/001). WithToken and
// WithPhoneNumberID are required.
func NewMeta(opts ...Option) (*Client, error) {
	cfg := apply(opts)
	if cfg.senderSet {
		return nil, invalid("option", "WithSender is for Infobip; Meta sends from the phone number id")
	}
	if cfg.cred == "" {
		return nil, invalid("credentials", "Meta needs an access token (WHATSAPP_ACCESS_TOKEN)")
	}
	if err := checkID("phone number id", cfg.phoneID, 64); err != nil {
		return nil, invalid("phone number id", "Meta needs the business phone number id (WHATSAPP_PHONE_NUMBER_ID): %s", err.(*ValidationError).Reason)
	}
	version := cfg.version
	if version == "" {
		version = DefaultMetaVersion
	}
	if err := checkID("API version", version, 16); err != nil {
		return nil, err
	}
	base, err := baseURL(cfg.baseURL, DefaultMetaBaseURL)
	if err != nil {
		return nil, err
	}
	c := newClient(Meta, cfg, base+"/"+url.PathEscape(version)+"/"+url.PathEscape(cfg.phoneID)+"/messages", MetaMessagesPerSecond, DefaultRetry())
	return c, nil
}

// NewD360 builds a 360dialog client: POST {base}/messages with the
// "D360-API-KEY" header, no bearer (seeds/002). WithAPIKey is required.
func NewD360(opts ...Option) (*Client, error) {
	cfg := apply(opts)
	switch {
	case cfg.senderSet:
		return nil, invalid("option", "WithSender is for Infobip")
	case cfg.phoneSet:
		return nil, invalid("option", "WithPhoneNumberID is for Meta; 360dialog's key selects the number")
	case cfg.versionSet:
		return nil, invalid("option", "WithAPIVersion is for Meta; 360dialog's path has no version")
	case cfg.cred == "":
		return nil, invalid("credentials", "360dialog needs an API key (D360_API_KEY)")
	}
	base, err := baseURL(cfg.baseURL, DefaultD360BaseURL)
	if err != nil {
		return nil, err
	}
	return newClient(D360, cfg, base+"/messages", MetaMessagesPerSecond, DefaultRetry()), nil
}

// NewInfobip builds an Infobip client: POST {base}/whatsapp/1/message/audio
// with "Authorization: App {key}" (seeds/000, Infobip OpenAPI). WithBaseURL
// (per account) and WithAPIKey are required; WithSender gives the default
// From. A request in doubt is not retried, as for Meta: see RetryPolicy.RetryInDoubt.
func NewInfobip(opts ...Option) (*Client, error) {
	cfg := apply(opts)
	switch {
	case cfg.phoneSet:
		return nil, invalid("option", "WithPhoneNumberID is for Meta; Infobip uses a sender number (WithSender)")
	case cfg.versionSet:
		return nil, invalid("option", "WithAPIVersion is for Meta")
	case cfg.cred == "":
		return nil, invalid("credentials", "Infobip needs an API key (INFOBIP_API_KEY)")
	case strings.TrimSpace(cfg.baseURL) == "":
		return nil, invalid("base URL", "Infobip's base URL is per account (INFOBIP_BASE_URL, e.g. https://xxxxx.api.infobip.com)")
	}
	sender := ""
	if cfg.sender != "" {
		s, err := NormalizePhone(cfg.sender)
		if err != nil {
			return nil, invalid("sender", "%s", err.(*ValidationError).Reason)
		}
		sender = s
	}
	base, err := baseURL(cfg.baseURL, "")
	if err != nil {
		return nil, err
	}
	c := newClient(Infobip, cfg, base+"/whatsapp/1/message/audio", InfobipRequestsPerSecond, DefaultRetry())
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

func newClient(p Provider, cfg *config, endpoint string, defRate float64, defPolicy RetryPolicy) *Client {
	c := &Client{provider: p, endpoint: endpoint, cred: cfg.cred, hc: cfg.hc, hook: cfg.hook, logger: cfg.logger, ua: cfg.userAgent, now: cfg.now, pair: map[string]time.Time{}}
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
	if cfg.policy != nil {
		c.policy = cfg.policy.withDefaults()
	} else {
		c.policy = defPolicy.withDefaults()
	}
	switch {
	case cfg.limiter != nil:
		c.limiter = cfg.limiter
	case !cfg.rateSet:
		c.limiter = accountLimiter(endpoint, cfg.cred, defRate, 0)
	case cfg.perSecond > 0 && !math.IsInf(cfg.perSecond, 0) && !math.IsNaN(cfg.perSecond):
		c.limiter = accountLimiter(endpoint, cfg.cred, cfg.perSecond, cfg.burst)
	}
	return c
}

// limiters holds one limiter per sender account and limit, so that
// clients built separately for the same account (same endpoint — for Meta
// it holds the phone number id — and same credential) share the budget.
var limiters sync.Map // key → *rate.Limiter

func accountLimiter(endpoint, cred string, perSecond float64, burst int) *rate.Limiter {
	if burst <= 0 {
		burst = int(perSecond / 20)
		if burst < 1 {
			burst = 1
		}
	}
	// The key holds a hash of the credential, never the credential.
	sum := sha256.Sum256([]byte(cred))
	key := fmt.Sprintf("%s|%x|%g|%d", endpoint, sum[:8], perSecond, burst)
	l, _ := limiters.LoadOrStore(key, rate.NewLimiter(rate.Limit(perSecond), burst))
	return l.(*rate.Limiter)
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

// answer is what one attempt got.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error // transport error or body read error
	// wrote: the request was (or may have been) written to the provider.
	wrote bool
}

const maxBody = 1 << 20

// roundTrip makes one attempt with a fresh body.
func (c *Client) roundTrip(ctx context.Context, body []byte) answer {
	actx, cancel := context.WithTimeout(ctx, c.policy.AttemptTimeout)
	defer cancel()
	var started, wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		GetConn: func(string) { started.Store(true) },
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(actx, trace), http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	switch c.provider {
	case Meta:
		req.Header.Set("Authorization", "Bearer "+c.cred)
	case D360:
		req.Header.Set("D360-API-KEY", c.cred)
	case Infobip:
		req.Header.Set("Authorization", "App "+c.cred)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		w := wrote.Load()
		if !started.Load() && !isDialError(err) {
			// A transport without traces: we cannot tell, so assume the
			// worst.
			w = true
		}
		if isDialError(err) {
			w = false
		}
		return answer{err: err, wrote: w}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	a := answer{status: resp.StatusCode, header: resp.Header, body: b, wrote: true}
	if err != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		a.err = err
	}
	return a
}

func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// parseFunc turns a provider's answer into a receipt or an error (an
// *APIError, or an *InDoubtError for an unreadable acceptance).
type parseFunc func(a answer) (*Receipt, error)

// do runs the attempts of one message.
func (c *Client) do(ctx context.Context, to, messageID string, body []byte, parse parseFunc) (*Receipt, error) {
	var last error
	// doubt: an earlier attempt may have reached the provider (retried
	// with RetryInDoubt). No later answer proves it did not, so every
	// failure from then on is reported in doubt, wrapping the last error.
	doubt := false
	settle := func(err error, attempts int) error {
		var ide *InDoubtError
		if !doubt || errors.As(err, &ide) {
			return err
		}
		return &InDoubtError{Provider: c.provider, To: to, MessageID: messageID, Attempts: attempts, Err: err}
	}
	for attempt := 1; ; attempt++ {
		if err := c.waitTurn(ctx, to); err != nil {
			return nil, settle(c.ctxErr(err, last), attempt-1)
		}
		a := c.roundTrip(ctx, body)
		var (
			err    error
			apiErr *APIError
			reason string
		)
		if a.err != nil {
			if ctx.Err() != nil {
				if a.wrote {
					return nil, &InDoubtError{Provider: c.provider, To: to, MessageID: messageID, Attempts: attempt, Err: ctx.Err()}
				}
				return nil, settle(c.ctxErr(ctx.Err(), last), attempt)
			}
			msg := c.scrub(transportMessage(a.err))
			if !a.wrote {
				err = fmt.Errorf("%s: the request never reached the provider: %s", c.provider, msg)
				reason = "the request never reached the provider, so retrying cannot duplicate it"
			} else {
				err = &InDoubtError{Provider: c.provider, To: to, MessageID: messageID, Attempts: attempt, Err: errors.New(msg)}
				if !c.policy.RetryInDoubt {
					c.emit(RetryEvent{Provider: c.provider, To: to, Attempt: attempt, Reason: "in doubt: the request may have reached the provider and none of the three providers documents an idempotency key, so a retry could send the message twice", Err: err})
					return nil, err
				}
				doubt = true
				reason = "in doubt, retried as asked (RetryInDoubt): the message may be received twice"
			}
		} else {
			r, perr := parse(a)
			if perr == nil {
				r.Attempts = attempt
				return r, nil
			}
			if !errors.As(perr, &apiErr) {
				if ide := (*InDoubtError)(nil); errors.As(perr, &ide) {
					ide.Attempts = attempt
				}
				return nil, settle(perr, attempt)
			}
			err = apiErr
			if !apiErr.Retryable {
				c.emit(RetryEvent{Provider: c.provider, To: to, Attempt: attempt, Reason: fmt.Sprintf("not retried: %s errors are not temporary", apiErr.Class), Err: err})
				return nil, settle(err, attempt)
			}
			reason = fmt.Sprintf("%s (HTTP %d", apiErr.Class, apiErr.HTTPStatus)
			if apiErr.Code != 0 {
				reason += fmt.Sprintf(", code %d", apiErr.Code)
			}
			reason += ")"
		}
		last = err
		if attempt >= c.policy.MaxAttempts {
			c.emit(RetryEvent{Provider: c.provider, To: to, Attempt: attempt, Reason: fmt.Sprintf("giving up after %d attempts: %s", attempt, reason), Err: err})
			return nil, settle(err, attempt)
		}
		wait := c.policy.backoff(attempt)
		if apiErr != nil && apiErr.RetryAfter > 0 {
			if apiErr.RetryAfter > c.policy.MaxRetryAfter {
				c.emit(RetryEvent{Provider: c.provider, To: to, Attempt: attempt, Reason: fmt.Sprintf("not retried: Retry-After %s is longer than the cap %s", apiErr.RetryAfter, c.policy.MaxRetryAfter), Err: err})
				return nil, settle(err, attempt)
			}
			wait = apiErr.RetryAfter
			reason += fmt.Sprintf("; Retry-After %s honoured", apiErr.RetryAfter)
		} else if apiErr != nil && apiErr.Code == codePairRate && wait < c.policy.PairDelay {
			wait = c.policy.PairDelay
			reason += fmt.Sprintf("; waiting the pair interval %s", wait)
		}
		if dl, ok := ctx.Deadline(); ok && c.now().Add(wait).After(dl) {
			c.emit(RetryEvent{Provider: c.provider, To: to, Attempt: attempt, Reason: "not retried: the context's deadline comes before the next attempt could start", Err: err})
			return nil, settle(err, attempt)
		}
		if apiErr != nil && apiErr.Class == ClassRateLimit {
			if apiErr.Code == codePairRate {
				c.hold(to, wait)
				reason += "; only this recipient waits"
			} else {
				c.hold("", wait)
				reason += "; the whole account waits"
			}
		}
		c.emit(RetryEvent{Provider: c.provider, To: to, Attempt: attempt, Retry: true, Wait: wait, Reason: reason, Err: err})
		if err := sleep(ctx, wait); err != nil {
			return nil, settle(c.ctxErr(err, last), attempt)
		}
	}
}

// ctxErr reports a cancellation, keeping the last attempt's error.
func (c *Client) ctxErr(err, last error) error {
	if last == nil {
		return fmt.Errorf("%s: %w", c.provider, err)
	}
	return fmt.Errorf("%s: %w while waiting to retry after: %w", c.provider, err, last)
}

// transportMessage describes a transport error without the URL (which
// holds no secret, but is noise) where possible.
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "attempt timed out"
	}
	return err.Error()
}

// hold pauses a recipient ("" = the whole account) for d.
func (c *Client) hold(to string, d time.Duration) {
	until := c.now().Add(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	if to == "" {
		if until.After(c.pauseUntil) {
			c.pauseUntil = until
		}
		return
	}
	if len(c.pair) > 4096 {
		now := c.now()
		for k, t := range c.pair {
			if t.Before(now) {
				delete(c.pair, k)
			}
		}
	}
	if until.After(c.pair[to]) {
		c.pair[to] = until
	}
}

// waitTurn waits for account and recipient holds, then for the limiter.
func (c *Client) waitTurn(ctx context.Context, to string) error {
	for {
		c.mu.Lock()
		until := c.pauseUntil
		if t, ok := c.pair[to]; ok && t.After(until) {
			until = t
		}
		c.mu.Unlock()
		d := until.Sub(c.now())
		if d <= 0 {
			break
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The limiter refuses to wait past the deadline.
			return fmt.Errorf("the rate limiter's next slot is after the deadline: %w", context.DeadlineExceeded)
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) emit(ev RetryEvent) {
	if c.hook != nil {
		c.hook(ev)
	}
	if c.logger != nil {
		attrs := []any{"provider", string(ev.Provider), "to", ev.To, "attempt", ev.Attempt, "reason", ev.Reason}
		if ev.Err != nil {
			attrs = append(attrs, "error", ev.Err.Error())
		}
		if ev.Retry {
			c.logger.Info("send: retrying", append(attrs, "wait", ev.Wait)...)
		} else {
			c.logger.Warn("send: not retrying", attrs...)
		}
	}
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
