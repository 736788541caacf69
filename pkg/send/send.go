// Package send is the provider layer of prep: one Client per WhatsApp
// provider account — Meta's Cloud API, 360dialog or Infobip — and the
// messages service over it (Send). Package upload's media uploader is the
// other service over the same Client.
//
// A Client owns everything that talks to the account: the HTTP transport
// (redirects never followed, so the credential never reaches another
// host), the credential and how each provider takes it, base URLs and API
// version, one retry policy (RetryPolicy) with one classification of
// Meta's, 360dialog's and Infobip's error answers, the rate limiter and
// the rate-limit pauses, and the scrubbing of the credential from every
// error, event and log line. Build it with NewMeta, NewD360, NewInfobip or
// FromEnv; it is safe for concurrent use.
//
// What Send guarantees:
//
//   - Messages are validated (international phone number, exactly one of
//     media id or link, http(s) links, provider field lengths) before any
//     request; a mistake is a *ValidationError.
//   - Provider refusals are *APIError, classified by Kind (window, media,
//     auth, invalid_parameter, rate_limit, transient) with advice. Meta
//     reports most rate limits as HTTP 400 with a code (4, 80007, 130429,
//     131056): they are classified by code, not by status.
//   - Retries only where safe (see RetryPolicy): rate limits and transient
//     errors, with exponential backoff and full jitter, Retry-After
//     honoured up to a cap, sleeping on ctx, a fresh body per attempt, a
//     bounded number of attempts. A pair-rate limit (131056) holds back
//     only that recipient; other rate limits pause the whole account.
//   - A request that may have reached the provider without an answer is an
//     *InDoubtError and is not retried, for any provider: none documents
//     an idempotency key (Infobip's messageId, generated once and kept
//     across attempts, identifies the message in delivery reports but is
//     not documented to drop a repeat). RetryPolicy.RetryInDoubt is the
//     explicit consent to retry anyway.
//   - A client-side rate limiter per account, owned by the Client and
//     shared by every goroutine using it: 80 messages/s for Meta and
//     360dialog, 4,000 requests/s for Infobip, configurable with
//     WithRateLimit. A rate-limit answer to any request of the account (a
//     message or a media upload) pauses all of them.
//   - Credentials never appear in errors, retry events or logs.
package send

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/time/rate"
)

// Provider names a WhatsApp API provider.
type Provider string

// The providers.
const (
	Meta    Provider = "meta"
	D360    Provider = "360dialog"
	Infobip Provider = "infobip"
)

// ParseProvider accepts "meta", "360dialog" (also "d360", "360") and
// "infobip", in any case.
func ParseProvider(s string) (Provider, error) {
	switch normalizeName(s) {
	case "meta", "whatsapp", "cloud", "cloudapi":
		return Meta, nil
	case "360dialog", "d360", "360":
		return D360, nil
	case "infobip":
		return Infobip, nil
	}
	return "", invalid("provider", "%q is not one of meta, 360dialog, infobip", s)
}

func normalizeName(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '-' || c == '_' || c == ' ' {
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// Sender sends one audio message.
type Sender interface {
	Send(ctx context.Context, m Message) (*Receipt, error)
}

// Message is one audio message. Exactly one of MediaID and Link is set;
// Infobip sends by link only.
type Message struct {
	To      string // international phone number; "+", spaces, dashes allowed
	MediaID string // uploaded media id (Meta, 360dialog)
	Link    string // http(s) URL of the audio
	Voice   bool   // send as a voice note (Ogg Opus, play icon up to 512 KB)
	Extras  Extras
}

// Extras are optional fields. CallbackData is taken by every provider;
// the others are Infobip's (Infobip's "Send WhatsApp audio message",
// OpenAPI AudioMessage), and setting one for Meta or 360dialog is a
// validation error.
type Extras struct {
	From      string // sender number; default: the client's WithSender
	MessageID string // default: a new UUID, kept across retries
	// CallbackData is Meta's and 360dialog's biz_opaque_callback_data (at
	// most 512 characters; echoed in the message's status webhooks: Meta,
	// "Send messages",
	// https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages)
	// or Infobip's callbackData (at most 4000).
	CallbackData  string
	NotifyURL     string // where Infobip posts delivery and seen reports
	EntityID      string
	ApplicationID string
}

func (x Extras) empty() bool { return x == Extras{} }

// Receipt is the provider's acceptance of a message. Acceptance is not
// delivery: statuses arrive later by webhook.
type Receipt struct {
	Provider Provider `json:"provider"`
	To       string   `json:"to"` // the recipient as sent (digits)
	// MessageID is the provider's id: "wamid.…" or Infobip's messageId.
	MessageID string `json:"message_id"`
	// Status is the status as the provider gave it: Meta's message_status
	// (e.g. "accepted", often absent) or Infobip's status name (e.g.
	// PENDING_ENROUTE).
	Status      string `json:"status,omitempty"`
	StatusGroup string `json:"status_group,omitempty"` // Infobip status groupName (PENDING, …)
	Description string `json:"description,omitempty"`  // Infobip status description
	WAID        string `json:"wa_id,omitempty"`        // Meta contacts[0].wa_id
	Attempts    int    `json:"attempts"`
}

// Option configures a client.
type Option func(*config)

type config struct {
	baseURL, version, cred, phoneID, sender, userAgent string
	versionSet, phoneSet, senderSet                    bool

	hc        *http.Client
	policy    *RetryPolicy
	rateSet   bool
	perSecond float64
	burst     int
	limiter   *rate.Limiter
	hook      func(RetryEvent)
	logger    *slog.Logger
	now       func() time.Time
}

// WithBaseURL sets the API base URL. A path prefix is kept
// ("http://127.0.0.1:8080/meta" → ".../meta/v23.0/{id}/messages"). A URL
// without a scheme gets https://. Defaults: https://graph.facebook.com
// (Meta), https://waba-v2.360dialog.io (360dialog); Infobip's is per
// account and required.
func WithBaseURL(u string) Option { return func(c *config) { c.baseURL = u } }

// WithAPIVersion sets Meta's Graph API version (default v23.0).
func WithAPIVersion(v string) Option {
	return func(c *config) { c.version, c.versionSet = v, true }
}

// WithToken sets Meta's access token (sent as "Authorization: Bearer").
func WithToken(token string) Option { return func(c *config) { c.cred = token } }

// WithAPIKey sets 360dialog's D360-API-KEY or Infobip's API key (sent as
// "Authorization: App").
func WithAPIKey(key string) Option { return func(c *config) { c.cred = key } }

// WithPhoneNumberID sets Meta's business phone number id (required).
func WithPhoneNumberID(id string) Option {
	return func(c *config) { c.phoneID, c.phoneSet = id, true }
}

// WithSender sets Infobip's default sender number (Extras.From overrides).
func WithSender(from string) Option {
	return func(c *config) { c.sender, c.senderSet = from, true }
}

// WithHTTPClient sets the *http.Client (the client uses a copy that does
// not follow redirects). The default keeps up to 64 idle connections per
// host (connection reuse under concurrency). Redirects are never followed,
// so credentials never go to another host.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.hc = hc } }

// WithRetry sets the retry policy (zero fields take DefaultRetry's values).
func WithRetry(p RetryPolicy) Option { return func(c *config) { c.policy = &p } }

// WithRateLimit sets the client-side limit in requests per second (0 or
// less turns it off) and the burst (0 = a twentieth of a second's worth,
// at least 1). Every message attempt, retries included, takes a token
// (media uploads do not: the providers' throughput limits count messages).
// The limiter belongs to the client: share the client (or pass one limiter
// with WithLimiter) to share the account's budget.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(c *config) { c.rateSet, c.perSecond, c.burst = true, perSecond, burst }
}

// WithLimiter makes the client use l (it overrides WithRateLimit), e.g. to
// share one budget between clients of the same account built apart.
func WithLimiter(l *rate.Limiter) Option { return func(c *config) { c.limiter = l } }

// WithRetryHook calls f with every decision taken after a failed attempt.
// f must be safe for concurrent use.
func WithRetryHook(f func(RetryEvent)) Option { return func(c *config) { c.hook = f } }

// WithLogger logs retry decisions (Info when retrying, Warn when giving up).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithUserAgent sets the User-Agent header (default "prep-send/1").
func WithUserAgent(ua string) Option { return func(c *config) { c.userAgent = ua } }

// Defaults from the providers.
const (
	// DefaultMetaBaseURL and DefaultMetaVersion: Meta's "Audio messages" ("curl
	// 'https://graph.facebook.com/<API_VERSION>/...", "v23.0").
	DefaultMetaBaseURL = "https://graph.facebook.com"
	DefaultMetaVersion = "v23.0"
	// DefaultD360BaseURL: 360dialog's docs ("POST https://waba-v2.360dialog.io/messages").
	DefaultD360BaseURL = "https://waba-v2.360dialog.io"
	// MetaMessagesPerSecond is Cloud API's default throughput per business
	// phone number (Meta "Throughput" docs, issue 5: 80 messages/s); beyond
	// it Meta answers 130429. Applied to 360dialog too (same Cloud API).
	MetaMessagesPerSecond = 80
	// InfobipRequestsPerSecond: Infobip's "Send WhatsApp audio message" and its OpenAPI
	// x-throttling-info ("4000 requests / second (per account)").
	InfobipRequestsPerSecond = 4000
)
