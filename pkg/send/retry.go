package send

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy is the one retry policy of an account's Client, for
// messages and media uploads alike. What is retried, and how:
//
//	answer                                          retried   wait                          pause
//	rate limit: HTTP 429; Graph 4, 80007, 130429     yes       Retry-After, else backoff     the whole account
//	pair rate limit: Graph 131056                    yes       Retry-After, else ≥ PairDelay this recipient
//	transient: 5xx, 408; Graph 1, 2, 131000,         yes       Retry-After, else backoff     —
//	  131016, 133004, is_transient
//	any other error answer (auth, window, media,     no        —                             —
//	  invalid parameter, unknown)
//	no connection (never reached the provider)       yes       backoff                       —
//	sent, no answer (in doubt)                       only a Request.Repeatable one (a media
//	                                                 upload) or with RetryInDoubt
//	Retry-After longer than MaxRetryAfter            no: the error (with RetryAfter) is returned
//
// Backoff is exponential with full jitter: attempt n waits a random time
// in [0, min(MaxDelay, BaseDelay·2^(n-1))). At most MaxAttempts attempts;
// waits sleep on the context and end with it; no retry starts that the
// context's deadline would cut. A refusal code decides over the HTTP status
// (Meta sends most rate limits as HTTP 400; a 100 behind a 429 is not
// retried).
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, the first included
	// (1 = never retry). Default 5.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the exponential backoff with full
	// jitter. Defaults 500ms and 30s.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// MaxRetryAfter caps a provider's Retry-After: a longer one is not
	// waited for (waiting less would only be refused again) and the error
	// is returned. Default 60s.
	MaxRetryAfter time.Duration
	// RetryInDoubt allows retrying a request that may have reached the
	// provider (body written, then no answer): the explicit consent to a
	// possible duplicate (`prep batch --resend-unknown` is the CLI's). Off
	// by default for every provider. Meta and 360dialog have no idempotency
	// key. Infobip's messageId is kept across attempts, but Infobip's "Send
	// WhatsApp audio message" reference
	// (https://www.infobip.com/docs/api/channels/whatsapp/whatsapp-outbound-messages/send-whatsapp-audio-message)
	// says only that it is "the ID that uniquely identifies the message
	// sent": nothing says a repeated messageId is dropped, and against a
	// dropping endpoint retries did deliver 2–4 copies (issue 13).
	RetryInDoubt bool
	// PairDelay is the least wait before retrying a message refused with
	// 131056 (too many messages to one recipient) when the provider gave no
	// Retry-After. Meta allows roughly one message every 6 seconds to the
	// same user (Cloud API "Throughput", pair rate limit), which a
	// sub-second backoff would only hit again. Default 6s.
	PairDelay time.Duration
	// AttemptTimeout bounds each attempt (connect, write, answer) unless
	// the Request sets its own. Default 30s. A timeout after the body was
	// written is "in doubt".
	AttemptTimeout time.Duration
}

// DefaultRetry is the policy clients use unless WithRetry says otherwise.
func DefaultRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: 5, BaseDelay: 500 * time.Millisecond, MaxDelay: 30 * time.Second, MaxRetryAfter: 60 * time.Second, PairDelay: 6 * time.Second, AttemptTimeout: 30 * time.Second}
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetry()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = d.MaxRetryAfter
	}
	if p.PairDelay <= 0 {
		p.PairDelay = d.PairDelay
	}
	if p.AttemptTimeout <= 0 {
		p.AttemptTimeout = d.AttemptTimeout
	}
	return p
}

// backoff returns the full-jitter delay before attempt n+1 after n failed
// attempts (n ≥ 1): draw(ceiling), ceiling = min(MaxDelay, BaseDelay·2^(n-1)).
func (p RetryPolicy) backoff(n int, draw func(time.Duration) time.Duration) time.Duration {
	ceil := p.BaseDelay
	for i := 1; i < n && ceil < p.MaxDelay; i++ {
		ceil *= 2
	}
	if ceil > p.MaxDelay {
		ceil = p.MaxDelay
	}
	if ceil <= 0 {
		return 0
	}
	return draw(ceil)
}

// RetryEvent is one decision after a failed attempt, given to the hook set
// with WithRetryHook and logged with WithLogger. It carries no credentials.
type RetryEvent struct {
	Provider Provider
	Path     string // the request's path under the account: "messages", "media", …
	To       string // the recipient, for a message
	Attempt  int    // the attempt that failed, from 1
	Retry    bool   // whether another attempt follows
	// Wait is the pause before the next attempt (Retry-After or backoff).
	Wait   time.Duration
	Reason string
	Err    error
}

// hold is whom a rate limit pauses.
type hold int

const (
	holdNone      hold = iota
	holdRecipient      // the message's recipient only (131056)
	holdAccount        // every request of the account
)

// decision is what to do after a failed attempt.
type decision struct {
	retry  bool
	wait   time.Duration
	hold   hold
	reason string
}

// decide applies the policy to the failed attempt number attempt: an error
// answer (api), or no answer (api nil), where arrived says the request may
// have reached the provider and repeatable that repeating it is harmless.
// draw picks the jittered wait below a ceiling (rand.N; a test passes a
// fixed one).
func (p RetryPolicy) decide(attempt int, api *APIError, arrived, repeatable bool, draw func(time.Duration) time.Duration) decision {
	var why string
	switch {
	case api == nil && !arrived:
		why = "the request never reached the provider, so retrying cannot duplicate it"
	case api == nil && repeatable:
		why = "no answer; repeating this request is harmless"
	case api == nil && p.RetryInDoubt:
		why = "in doubt, retried as asked (RetryInDoubt): the message may be received twice"
	case api == nil:
		return decision{reason: "in doubt: the request may have reached the provider and none of the three providers documents an idempotency key, so a retry could send the message twice"}
	case !api.Retryable:
		return decision{reason: fmt.Sprintf("not retried: %s errors are not temporary", api.Kind)}
	default:
		why = fmt.Sprintf("%s (HTTP %d", api.Kind, api.HTTPStatus)
		if api.Code != 0 {
			why += fmt.Sprintf(", code %d", api.Code)
		}
		why += ")"
	}
	if attempt >= p.MaxAttempts {
		return decision{reason: fmt.Sprintf("giving up after %d attempts: %s", attempt, why)}
	}
	d := decision{retry: true, wait: p.backoff(attempt, draw)}
	switch {
	case api == nil:
	case api.RetryAfter > p.MaxRetryAfter:
		return decision{reason: fmt.Sprintf("not retried: Retry-After %s is longer than the cap %s", api.RetryAfter, p.MaxRetryAfter)}
	case api.RetryAfter > 0:
		d.wait = api.RetryAfter
		why += fmt.Sprintf("; Retry-After %s honoured", api.RetryAfter)
	case api.Code == codePairRate && d.wait < p.PairDelay:
		d.wait = p.PairDelay
		why += fmt.Sprintf("; waiting the pair interval %s", d.wait)
	}
	if api != nil && api.Kind == KindRateLimit {
		if api.Code == codePairRate {
			d.hold = holdRecipient
			why += "; only this recipient waits"
		} else {
			d.hold = holdAccount
			why += "; the whole account waits"
		}
	}
	d.reason = why
	return d
}

// parseRetryAfter reads a Retry-After header: delta-seconds or an HTTP
// date (RFC 9110 §10.2.3). It returns 0 when absent or unreadable.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > 86400*7 {
			s = 86400 * 7
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
