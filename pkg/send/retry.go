package send

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds and paces retries. Only rate limits, transient
// provider errors and requests that certainly never reached the provider are
// retried; everything else is returned at once.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, the first included
	// (1 = never retry). Default 5.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the exponential backoff with full
	// jitter: attempt n waits a random time in [0, min(MaxDelay,
	// BaseDelay·2^(n-1))). Defaults 500ms and 30s.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// MaxRetryAfter caps a provider's Retry-After: a longer one is not
	// waited for and the error is returned. Default 60s.
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
	// AttemptTimeout bounds each attempt (connect, write, answer). Default
	// 30s. A timeout after the body was written is "in doubt".
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
// attempts (n ≥ 1).
func (p RetryPolicy) backoff(n int) time.Duration {
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
	return rand.N(ceil)
}

// RetryEvent is one decision after a failed attempt, given to the hook set
// with WithRetryHook and logged with WithLogger. It carries no credentials.
type RetryEvent struct {
	Provider Provider
	To       string
	Attempt  int  // the attempt that failed, from 1
	Retry    bool // whether another attempt follows
	// Wait is the pause before the next attempt (Retry-After or backoff).
	Wait   time.Duration
	Reason string
	Err    error
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
