package send

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"+16505551234", "16505551234", true},
		{"16505551234", "16505551234", true},
		{"+1 (650) 555-1234", "16505551234", true},
		// "(0)" is the national trunk prefix, written but never dialled
		// from abroad: +44 (0)20 7946 0000 is 442079460000.
		{"+44 (0)20 7946 0000", "442079460000", true},
		{"+49 (0) 170 1234567", "491701234567", true},
		{"+31(0)612345678", "31612345678", true},
		{"(0)44 20 7946 0000", "", false}, // no country code before it
		{" +44 113.496.0001 ", "441134960001", true},
		{"+491701234", "491701234", true},            // 9 digits
		{"12345678", "12345678", true},               // 8: the shortest accepted
		{"123456789012345", "123456789012345", true}, // 15: E.164's longest
		{"1234567", "", false},
		{"1234567890123456", "", false},
		{"", "", false},
		{"   ", "", false},
		{"+", "", false},
		{"0044 1134960001", "", false}, // 00 prefix: ambiguous, refused
		{"07700900123", "", false},     // national format
		{"+1650555123a", "", false},
		{"++16505551234", "", false},
		{"1650555\x001234", "", false},
		{"+１６５０５５５１２３４", "", false}, // fullwidth digits are not ASCII digits
		{strings.Repeat("1", 100), "", false},
	}
	for _, tt := range tests {
		got, err := NormalizePhone(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("NormalizePhone(%q): error %T is not a *ValidationError", tt.in, err)
			}
		}
	}
}

func TestCheckLink(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"https://example.com/a.ogg", true},
		{"http://127.0.0.1:8080/_sandbox/files/a.ogg?x=1&y=2", true},
		{"ftp://example.com/a.ogg", false},
		{"file:///etc/passwd", false},
		{"example.com/a.ogg", false},
		{"https://", false},
		{"https://exa mple.com/a.ogg", false},
		{"javascript:alert(1)", false},
		{"", false},
		{"https://example.com/" + strings.Repeat("a", 2048), false},
		{"https://example.com/\x7f", false},
	}
	for _, tt := range tests {
		err := checkLink("link", tt.in, 2048)
		if (err == nil) != tt.ok {
			t.Errorf("checkLink(%.40q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func TestParseProvider(t *testing.T) {
	for in, want := range map[string]Provider{"meta": Meta, "Meta": Meta, "360dialog": D360, "D360": D360, "360": D360, "infobip": Infobip, "INFOBIP": Infobip} {
		if got, err := ParseProvider(in); err != nil || got != want {
			t.Errorf("ParseProvider(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "twilio", "meta2"} {
		_, err := ParseProvider(in)
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("ParseProvider(%q) error = %v, want *ValidationError", in, err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 120 ", 120 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"abc", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"99999999999999999999", 0}, // overflow: unreadable
		{"9999999", 7 * 24 * time.Hour},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.v != "" {
			h.Set("Retry-After", tt.v)
		}
		if got := parseRetryAfter(h, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestBackoffFullJitter(t *testing.T) {
	p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}.withDefaults()
	for n, ceil := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 40: time.Second} {
		var max, min time.Duration = 0, ceil
		for range 2000 {
			d := p.backoff(n, rand.N[time.Duration])
			if d < 0 || d >= ceil {
				t.Fatalf("backoff(%d) = %v, outside [0,%v)", n, d, ceil)
			}
			max, min = maxDur(max, d), minDur(min, d)
		}
		// Full jitter spreads over the whole range, not around the ceiling.
		if max < ceil*8/10 || min > ceil*2/10 {
			t.Errorf("backoff(%d) spans [%v,%v], want most of [0,%v)", n, min, max, ceil)
		}
	}
}

// TestRetryPolicy is the retry policy as a table: one decision per kind of
// failure, for messages and media uploads of every provider (the jittered
// wait is fixed at its ceiling here).
func TestRetryPolicy(t *testing.T) {
	p := DefaultRetry()
	api := func(pr Provider, status, code int, ra time.Duration) *APIError {
		e := &APIError{Provider: pr, HTTPStatus: status, Code: code, RetryAfter: ra}
		classify(e)
		return e
	}
	const none, rcpt, acct = holdNone, holdRecipient, holdAccount
	tests := []struct {
		name       string
		attempt    int
		api        *APIError
		arrived    bool
		repeatable bool
		inDoubtOK  bool // RetryInDoubt
		retry      bool
		wait       time.Duration
		hold       hold
	}{
		{"meta 429", 1, api(Meta, 429, 0, 0), false, false, false, true, 500 * time.Millisecond, acct},
		{"meta code 4 as HTTP 400", 2, api(Meta, 400, 4, 0), false, false, false, true, time.Second, acct},
		{"meta 80007", 1, api(Meta, 400, 80007, 0), false, false, false, true, 500 * time.Millisecond, acct},
		{"360dialog 130429 with Retry-After", 1, api(D360, 400, 130429, 3*time.Second), false, false, false, true, 3 * time.Second, acct},
		{"infobip 429", 1, api(Infobip, 429, 0, 0), false, false, false, true, 500 * time.Millisecond, acct},
		{"meta 131056 pair", 1, api(Meta, 400, 131056, 0), false, false, false, true, 6 * time.Second, rcpt},
		{"meta 131056 with Retry-After", 1, api(Meta, 400, 131056, 2*time.Second), false, false, false, true, 2 * time.Second, rcpt},
		{"meta 500", 3, api(Meta, 500, 0, 0), false, false, false, true, 2 * time.Second, none},
		{"meta 408", 1, api(Meta, 408, 0, 0), false, false, false, true, 500 * time.Millisecond, none},
		{"infobip 408", 1, api(Infobip, 408, 0, 0), false, false, false, true, 500 * time.Millisecond, none},
		{"meta 133004", 1, api(Meta, 400, 133004, 0), false, false, false, true, 500 * time.Millisecond, none},
		{"meta 131000", 1, api(Meta, 400, 131000, 0), false, false, false, true, 500 * time.Millisecond, none},
		{"meta backoff capped", 9, api(Meta, 503, 0, 0), false, false, false, false, 0, none},
		{"Retry-After over the cap", 1, api(Meta, 429, 0, 61*time.Second), false, false, false, false, 0, none},
		{"Retry-After at the cap", 1, api(Meta, 429, 0, 60*time.Second), false, false, false, true, 60 * time.Second, acct},
		{"last attempt", 5, api(Meta, 500, 0, 0), false, false, false, false, 0, none},
		{"auth", 1, api(Meta, 401, 190, 0), false, false, false, false, 0, none},
		{"window", 1, api(Meta, 400, 131047, 0), false, false, false, false, 0, none},
		{"invalid parameter behind a 429", 1, api(Meta, 429, 100, 0), false, false, false, false, 0, none},
		{"infobip 400", 1, api(Infobip, 400, 0, 0), false, false, false, false, 0, none},
		{"never reached", 1, nil, false, false, false, true, 500 * time.Millisecond, none},
		{"never reached, last attempt", 5, nil, false, false, false, false, 0, none},
		{"in doubt: a message", 1, nil, true, false, false, false, 0, none},
		{"in doubt with RetryInDoubt", 1, nil, true, false, true, true, 500 * time.Millisecond, none},
		{"no answer to a media upload (repeatable)", 2, nil, true, true, false, true, time.Second, none},
	}
	for _, tt := range tests {
		pol := p
		pol.RetryInDoubt = tt.inDoubtOK
		d := pol.decide(tt.attempt, tt.api, tt.arrived, tt.repeatable, func(c time.Duration) time.Duration { return c })
		if d.retry != tt.retry || (d.retry && (d.wait != tt.wait || d.hold != tt.hold)) || d.reason == "" {
			t.Errorf("%s: retry %v wait %v hold %v (%q); want %v %v %v", tt.name, d.retry, d.wait, d.hold, d.reason, tt.retry, tt.wait, tt.hold)
		}
	}
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

func minDur(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

func TestClassify(t *testing.T) {
	tests := []struct {
		p         Provider
		status    int
		code      int
		transient bool
		valid     map[string][]string
		class     ErrorKind
		retryable bool
	}{
		{Meta, 400, 131047, false, nil, KindWindow, false},
		{Meta, 400, 131053, false, nil, KindMedia, false},
		{Meta, 400, 131052, false, nil, KindMedia, false},
		{Meta, 401, 190, false, nil, KindAuth, false},
		{D360, 401, 0, false, nil, KindAuth, false},
		{Meta, 403, 200, false, nil, KindAuth, false},
		{Meta, 400, 100, false, nil, KindInvalidParameter, false},
		// The code decides over the status: 100 is never retried, even
		// behind a 429 or a 5xx or marked transient.
		{Meta, 429, 100, false, nil, KindInvalidParameter, false},
		{D360, 503, 100, true, nil, KindInvalidParameter, false},
		{Meta, 429, 131047, false, nil, KindWindow, false},
		{Meta, 429, 131053, false, nil, KindMedia, false},
		{Meta, 429, 190, false, nil, KindAuth, false},
		{Meta, 400, 131009, false, nil, KindInvalidParameter, false},
		{Meta, 400, 131008, false, nil, KindInvalidParameter, false},
		{Meta, 403, 131005, false, nil, KindAuth, false},
		{Meta, 400, 4, false, nil, KindRateLimit, true},
		{Meta, 400, 80007, false, nil, KindRateLimit, true},
		{Meta, 400, 130429, false, nil, KindRateLimit, true},
		{Meta, 400, 131056, false, nil, KindRateLimit, true},
		{D360, 429, 0, false, nil, KindRateLimit, true},
		{Meta, 500, 131000, false, nil, KindTransient, true},
		{Meta, 400, 131000, false, nil, KindTransient, true},
		{Meta, 503, 131016, false, nil, KindTransient, true},
		{Meta, 502, 0, false, nil, KindTransient, true},
		{Meta, 400, 999999, true, nil, KindTransient, true},
		{Meta, 400, 999999, false, nil, KindUnknown, false},
		{Infobip, 401, 0, false, nil, KindAuth, false},
		{Infobip, 403, 0, false, nil, KindAuth, false},
		{Infobip, 429, 0, false, nil, KindRateLimit, true},
		{Infobip, 500, 0, false, nil, KindTransient, true},
		{Infobip, 400, 0, false, nil, KindInvalidParameter, false},
		{Infobip, 400, 0, false, map[string][]string{"content.mediaUrl": {"is not a valid url"}}, KindMedia, false},
		{Infobip, 404, 0, false, nil, KindUnknown, false},
	}
	for _, tt := range tests {
		e := &APIError{Provider: tt.p, HTTPStatus: tt.status, Code: tt.code, Transient: tt.transient, ValidationErrors: tt.valid}
		classify(e)
		if e.Kind != tt.class || e.Retryable != tt.retryable || e.Advice == "" {
			t.Errorf("%s HTTP %d code %d: class %q retryable %v advice %q; want %q %v", tt.p, tt.status, tt.code, e.Kind, e.Retryable, e.Advice, tt.class, tt.retryable)
		}
	}
}

func TestConstructorsValidate(t *testing.T) {
	tests := []struct {
		name string
		new  func() (*Client, error)
		ok   bool
	}{
		{"meta ok", func() (*Client, error) { return NewMeta(WithToken("t0ken"), WithPhoneNumberID("123")) }, true},
		{"meta no token", func() (*Client, error) { return NewMeta(WithPhoneNumberID("123")) }, false},
		{"meta no phone id", func() (*Client, error) { return NewMeta(WithToken("t0ken")) }, false},
		{"meta phone id with slash", func() (*Client, error) { return NewMeta(WithToken("t0ken"), WithPhoneNumberID("1/2")) }, false},
		{"meta sender", func() (*Client, error) {
			return NewMeta(WithToken("t0ken"), WithPhoneNumberID("123"), WithSender("441134960000"))
		}, false},
		{"meta ftp base", func() (*Client, error) {
			return NewMeta(WithToken("t0ken"), WithPhoneNumberID("123"), WithBaseURL("ftp://x"))
		}, false},
		{"meta userinfo base", func() (*Client, error) {
			return NewMeta(WithToken("t0ken"), WithPhoneNumberID("123"), WithBaseURL("https://u:p@x"))
		}, false},
		{"360 ok", func() (*Client, error) { return NewD360(WithAPIKey("k3y1")) }, true},
		{"360 no key", func() (*Client, error) { return NewD360() }, false},
		{"360 version", func() (*Client, error) { return NewD360(WithAPIKey("k3y1"), WithAPIVersion("v1")) }, false},
		{"infobip ok", func() (*Client, error) { return NewInfobip(WithAPIKey("k3y1"), WithBaseURL("xyz.api.infobip.com")) }, true},
		{"infobip no base", func() (*Client, error) { return NewInfobip(WithAPIKey("k3y1")) }, false},
		{"infobip bad sender", func() (*Client, error) {
			return NewInfobip(WithAPIKey("k3y1"), WithBaseURL("https://x"), WithSender("abc"))
		}, false},
		{"infobip phone id", func() (*Client, error) {
			return NewInfobip(WithAPIKey("k3y1"), WithBaseURL("https://x"), WithPhoneNumberID("1"))
		}, false},
	}
	for _, tt := range tests {
		c, err := tt.new()
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.name, err, tt.ok)
			continue
		}
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("%s: %T is not a *ValidationError", tt.name, err)
			}
		} else if c == nil {
			t.Errorf("%s: nil client", tt.name)
		}
	}
}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		name string
		new  func() (*Client, error)
		want string
	}{
		{"meta default", func() (*Client, error) { return NewMeta(WithToken("t0ken"), WithPhoneNumberID("106540352242922")) },
			"https://graph.facebook.com/v23.0/106540352242922/messages"},
		{"meta prefix and version", func() (*Client, error) {
			return NewMeta(WithToken("t0ken"), WithPhoneNumberID("1"), WithBaseURL("http://127.0.0.1:9/a/meta/"), WithAPIVersion("v99.0"))
		}, "http://127.0.0.1:9/a/meta/v99.0/1/messages"},
		{"360 default", func() (*Client, error) { return NewD360(WithAPIKey("k3y1")) }, "https://waba-v2.360dialog.io/messages"},
		{"360 prefix", func() (*Client, error) { return NewD360(WithAPIKey("k3y1"), WithBaseURL("http://h/360dialog")) }, "http://h/360dialog/messages"},
		{"infobip no scheme", func() (*Client, error) { return NewInfobip(WithAPIKey("k3y1"), WithBaseURL("xyz.api.infobip.com")) },
			"https://xyz.api.infobip.com/whatsapp/1/message/audio"},
		{"infobip prefix", func() (*Client, error) { return NewInfobip(WithAPIKey("k3y1"), WithBaseURL("http://h:1/infobip/")) },
			"http://h:1/infobip/whatsapp/1/message/audio"},
	}
	for _, tt := range tests {
		c, err := tt.new()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if c.Endpoint() != tt.want {
			t.Errorf("%s: endpoint %q, want %q", tt.name, c.Endpoint(), tt.want)
		}
	}
}

func TestMessageValidation(t *testing.T) {
	meta, _ := NewMeta(WithToken("t0ken"), WithPhoneNumberID("1"))
	ib, _ := NewInfobip(WithAPIKey("k3y1"), WithBaseURL("https://x"), WithSender("441134960000"))
	long := func(n int) string { return strings.Repeat("x", n) }
	link := "https://example.com/a.ogg"
	tests := []struct {
		name  string
		c     *Client
		m     Message
		field string
	}{
		{"bad number", meta, Message{To: "12", MediaID: "1"}, "to"},
		{"no media", meta, Message{To: "+16505551234"}, "media"},
		{"both", meta, Message{To: "+16505551234", MediaID: "1", Link: link}, "media"},
		{"ftp link", meta, Message{To: "+16505551234", Link: "ftp://x/a.ogg"}, "link"},
		{"media id with space", meta, Message{To: "+16505551234", MediaID: "1 2"}, "media id"},
		{"extras on meta", meta, Message{To: "+16505551234", MediaID: "1", Extras: Extras{MessageID: "x"}}, "extras"},
		{"meta long callback", meta, Message{To: "+16505551234", MediaID: "1", Extras: Extras{CallbackData: long(513)}}, "callback data"},
		{"infobip media id", ib, Message{To: "+16505551234", MediaID: "1"}, "media"},
		{"infobip no link", ib, Message{To: "+16505551234"}, "link"},
		{"infobip bad from", ib, Message{To: "+16505551234", Link: link, Extras: Extras{From: "sender"}}, "from"},
		{"infobip long message id", ib, Message{To: "+16505551234", Link: link, Extras: Extras{MessageID: long(101)}}, "message id"},
		{"infobip long callback", ib, Message{To: "+16505551234", Link: link, Extras: Extras{CallbackData: long(4001)}}, "callback data"},
		{"infobip bad notify", ib, Message{To: "+16505551234", Link: link, Extras: Extras{NotifyURL: "mailto:a@b"}}, "notify URL"},
		{"infobip long entity", ib, Message{To: "+16505551234", Link: link, Extras: Extras{EntityID: long(256)}}, "entity id"},
		{"infobip long app", ib, Message{To: "+16505551234", Link: link, Extras: Extras{ApplicationID: long(256)}}, "application id"},
		{"infobip long link", ib, Message{To: "+16505551234", Link: "https://e.com/" + long(2040)}, "link"},
	}
	for _, tt := range tests {
		// The clients point at hosts that do not exist: a request would
		// fail differently from a validation error.
		_, err := tt.c.Send(t.Context(), tt.m)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tt.field {
			t.Errorf("%s: err = %v, want a *ValidationError on %q", tt.name, err, tt.field)
		}
	}
	// At the limits, the same fields pass validation.
	if _, _, _, err := ib.infobipBody(Message{To: "+16505551234", Link: link, Extras: Extras{MessageID: long(100), CallbackData: long(4000), EntityID: long(255), ApplicationID: long(255)}}); err != nil {
		t.Errorf("fields at their limits: %v", err)
	}
}
