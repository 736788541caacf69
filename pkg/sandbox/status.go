package sandbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Status names of the trail. They are Meta's webhook statuses; "played"
// is sent for voice notes the first time the recipient plays one (Meta
// changelog of 3 Nov 2025; 360dialog's audio docs: "On March 17th, 2026,
// voice messages started receiving a 'played' status webhook") although
// Meta's v23.0 OpenAPI (components/schemas/Statuses) does not list it.
const (
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusPlayed    = "played"
	StatusFailed    = "failed"
)

// Order is how one message's statuses reach the receiver. Meta's webhook
// docs warn that the order is not guaranteed
// (https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/reference/messages/status).
type Order string

// The orders the sandbox can produce.
const (
	// InOrder: sent, delivered, read (and played when the note is played).
	InOrder Order = "in-order"
	// ReadBeforeDelivered: the delivered status arrives after read (it
	// keeps its own, earlier, timestamp).
	ReadBeforeDelivered Order = "read-before-delivered"
	// SkipDelivered: the recipient reads at once and no delivered status
	// is sent.
	SkipDelivered Order = "skip-delivered"
	// FailedAfterDelivered: a failed status (131026, another of the
	// recipient's devices) follows delivered; read follows as usual. Meta
	// and 360dialog only (Infobip reports one final delivery status).
	FailedAfterDelivered Order = "failed-after-delivered"
)

// Orders lists the orders, for flag help and validation.
func Orders() []Order {
	return []Order{InOrder, ReadBeforeDelivered, SkipDelivered, FailedAfterDelivered}
}

// Recipient scripts what happens to every message to one recipient.
type Recipient struct {
	// Fail makes every message to the recipient fail with this code
	// (e.g. 131053 media upload error, 131047 outside the 24-hour window,
	// 131026 undeliverable): accepted, then a failed status.
	Fail int
	// Order is how the statuses reach the receiver; "" = InOrder (or the
	// random rates of Config.Delivery).
	Order Order
	// Duplicate delivers every status of these messages twice.
	Duplicate bool
}

// Delivery shapes how statuses reach the receiver. The zero value
// delivers each status alone, once, in order, retrying a non-2xx answer
// 5 times with backoff from 200ms.
type Delivery struct {
	// Batch is the most statuses one POST carries (Meta: up to 1000 in
	// "entry[].changes[].value.statuses[]"; Infobip: "results[]"). 0 or 1:
	// one per POST. With Batch > 1 the statuses of several messages share
	// a body, split into one entry per business phone number and two or
	// more changes.
	Batch int
	// BatchWindow is how long a status waits for others to share its
	// POST; default Config.StatusDelay when Batch > 1.
	BatchWindow time.Duration
	// Random rates (0..1) per message or per status.
	DuplicateRate            float64 // statuses delivered twice
	ReadBeforeDeliveredRate  float64 // messages whose delivered arrives after read
	SkipDeliveredRate        float64 // messages read at once (no delivered)
	FailedAfterDeliveredRate float64 // messages with a failed (131026) after delivered
	DropRate                 float64 // POSTs dropped once (not sent) and retried
	// Retries is how many times a POST answered non-2xx (or not answered,
	// or dropped) is retried; default 5, negative = never. Meta retries
	// for up to 7 days; the sandbox is bounded.
	Retries int
	// RetryBackoff is the first retry's delay, doubled for each next one
	// (capped at 30s); default 200ms.
	RetryBackoff time.Duration
}

func (d Delivery) check() error {
	for _, r := range []float64{d.DuplicateRate, d.ReadBeforeDeliveredRate, d.SkipDeliveredRate, d.FailedAfterDeliveredRate, d.DropRate} {
		if r < 0 || r > 1 {
			return errors.New("delivery rates must be between 0 and 1")
		}
	}
	if d.ReadBeforeDeliveredRate+d.SkipDeliveredRate+d.FailedAfterDeliveredRate > 1 {
		return errors.New("the order rates add up to more than 1")
	}
	if d.Batch < 0 || d.Batch > 1000 {
		return errors.New("batch must be between 0 and 1000 statuses")
	}
	if d.BatchWindow < 0 || d.RetryBackoff < 0 {
		return errors.New("delivery durations must not be negative")
	}
	return nil
}

// script decides, once per message, how its statuses go: the recipient's
// script when there is one, else the random rates.
func (s *Server) script(to string) Recipient {
	if r, ok := s.recipients[digits(to)]; ok {
		if r.Order == "" {
			r.Order = InOrder
		}
		return r
	}
	d := s.cfg.Delivery
	r := Recipient{Order: InOrder}
	x := rand.Float64()
	switch {
	case x < d.ReadBeforeDeliveredRate:
		r.Order = ReadBeforeDelivered
	case x < d.ReadBeforeDeliveredRate+d.SkipDeliveredRate:
		r.Order = SkipDelivered
	case x < d.ReadBeforeDeliveredRate+d.SkipDeliveredRate+d.FailedAfterDeliveredRate:
		r.Order = FailedAfterDelivered
	}
	return r
}

func rand01() float64 { return rand.Float64() }

// progress walks a message through its status trail in the background,
// one step every StatusDelay, queueing each step's webhook or report.
// "played" is never part of it: it happens when the voice note is played
// (Play, or the play button on the page).
//
// The trail is the message's own (msg, not its id): a client may reuse an
// id (Infobip's messageId, resent when in doubt), and each message must
// keep its own trail.
func (s *Server) progress(msg *Message, fail int, details string) {
	sc := s.script(msg.To)
	if fail == 0 && sc.Fail != 0 {
		fail, details = sc.Fail, ""
	}
	if fail != 0 && details == "" {
		details = graphDetails[fail]
	}
	s.goBackground(func(ctx context.Context) {
		step := func(name string, code int, details string, emit bool) (Status, bool) {
			if !sleepCtx(ctx, s.cfg.StatusDelay) {
				return Status{}, false
			}
			st := s.appendStatus(msg, Status{Name: name, Code: code, Time: time.Now()}, details)
			if emit {
				s.emit(msg, st, details, sc.Duplicate)
			}
			return st, true
		}
		if fail != 0 {
			if _, ok := step(StatusFailed, fail, details, true); ok {
				s.finish(msg, false)
			}
			return
		}
		if _, ok := step(StatusSent, 0, "", true); !ok {
			return
		}
		order := sc.Order
		if order == FailedAfterDelivered && msg.Provider == Infobip {
			order = InOrder
		}
		switch order {
		case SkipDelivered:
		case ReadBeforeDelivered:
			d, ok := step(StatusDelivered, 0, "", false)
			if !ok {
				return
			}
			if _, ok := step(StatusRead, 0, "", true); !ok {
				return
			}
			s.emit(msg, d, "", sc.Duplicate)
			s.finish(msg, true)
			return
		case FailedAfterDelivered:
			if _, ok := step(StatusDelivered, 0, "", true); !ok {
				return
			}
			if _, ok := step(StatusFailed, 131026, "The message was not delivered to one of the recipient's devices.", true); !ok {
				return
			}
		default:
			if _, ok := step(StatusDelivered, 0, "", true); !ok {
				return
			}
		}
		if _, ok := step(StatusRead, 0, "", true); !ok {
			return
		}
		s.finish(msg, true)
	})
}

// appendStatus adds st to msg's trail; a failure's details are kept as
// the message's Failure unless it already failed.
func (s *Server) appendStatus(msg *Message, st Status, details string) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg.Statuses = append(msg.Statuses, st)
	if st.Code != 0 && msg.Failure == "" {
		msg.Failure = details
	}
	return st
}

// finish ends a trail: read (ok) or failed. A play asked for before the
// note was read is played now.
func (s *Server) finish(msg *Message, read bool) {
	s.mu.Lock()
	msg.read, msg.failed = read, !read
	play := read && msg.playWanted && !msg.played
	var st Status
	if play {
		msg.played = true
		st = Status{Name: StatusPlayed, Time: time.Now()}
		msg.Statuses = append(msg.Statuses, st)
	}
	s.mu.Unlock()
	if play {
		s.emit(msg, st, "", s.script(msg.To).Duplicate)
	}
}

// PlayError is why Play refused (find it with errors.As).
type PlayError struct {
	ID     string
	Reason string
	Found  bool // false: no such message
}

func (e *PlayError) Error() string { return "sandbox: play " + e.ID + ": " + e.Reason }

// Play plays the voice note id as the recipient would: the first time,
// it sends the "played" status (Meta, 360dialog; Infobip has no played
// report, the trail records it). A note not yet read is played as soon
// as it is (playing opens the chat). Playing again sends nothing. Only
// voice notes shown with a play button can be played; a failed one
// cannot.
func (s *Server) Play(id string) error {
	s.mu.Lock()
	var msg *Message
	for _, m := range s.messages {
		if m.ID == id {
			msg = m
		}
	}
	switch {
	case msg == nil:
		s.mu.Unlock()
		return &PlayError{ID: id, Reason: "no such message"}
	case !msg.PlayIcon:
		s.mu.Unlock()
		return &PlayError{ID: id, Found: true, Reason: "not a voice note shown with a play button"}
	case msg.failed:
		s.mu.Unlock()
		return &PlayError{ID: id, Found: true, Reason: "the message failed"}
	case msg.played || msg.playWanted && !msg.read:
		s.mu.Unlock()
		return nil
	case !msg.read:
		msg.playWanted = true
		s.mu.Unlock()
		return nil
	}
	msg.played = true
	st := Status{Name: StatusPlayed, Time: time.Now()}
	msg.Statuses = append(msg.Statuses, st)
	s.mu.Unlock()
	s.emit(msg, st, "", s.script(msg.To).Duplicate)
	return nil
}

// graphStatus is one entry of Meta's statuses[] (Meta webhooks reference,
// messages/status; spec components/schemas/Statuses).
func graphStatus(m Message, st Status, details string) map[string]any {
	out := map[string]any{
		"id":           m.ID,
		"status":       st.Name,
		"timestamp":    strconv.FormatInt(st.Time.Unix(), 10),
		"recipient_id": m.To,
	}
	if m.Callback != "" {
		// Echoed as set on the send (Meta: "biz_opaque_callback_data").
		out["biz_opaque_callback_data"] = m.Callback
	}
	if st.Name == StatusSent || st.Name == StatusDelivered {
		out["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "category": "service"}
	}
	if st.Name == StatusFailed {
		out["errors"] = []map[string]any{{
			"code":       st.Code,
			"title":      graphTitle(st.Code),
			"message":    graphTitle(st.Code),
			"error_data": map[string]any{"details": details},
			"href":       "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
		}}
	}
	return out
}

// Infobip report statuses (Infobip "Response status and error codes",
// https://www.infobip.com/docs/essentials/response-status-and-error-codes).
func ibDelivered() map[string]any {
	return map[string]any{"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET", "description": "Message delivered to handset"}
}

func ibUndelivered() map[string]any {
	return map[string]any{"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED", "description": "Message sent not delivered"}
}

func ibNoError() map[string]any {
	return map[string]any{"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "description": "No Error", "permanent": false}
}

// infobipTime is the time format of Infobip reports (yyyy-MM-dd'T'HH:mm:ss.SSSZ).
const infobipTime = "2006-01-02T15:04:05.000-0700"

// infobipResult is one entry of a delivery report's or seen report's
// results[], field for field as Infobip's OpenAPI defines them
// (webhooks receive-whatsapp-delivery-reports: bulkId, price, status,
// error, messageId, doneAt, messageCount, sentAt, to, contact;
// receive-whatsapp-seen-reports: messageId, from, to, sentAt, seenAt,
// applicationId, entityId, contact). Infobip's docs say callbackData is
// included in delivery reports, but the schema has no such field, so the
// sandbox does not send it. kind is "" for statuses Infobip does not
// report (sent, played).
func infobipResult(m Message, st Status, details string) (map[string]any, string) {
	contact := map[string]any{"phoneNumber": m.To}
	switch st.Name {
	case StatusDelivered, StatusFailed:
		r := map[string]any{
			"bulkId":       "",
			"price":        map[string]any{"pricePerMessage": 0, "currency": "EUR"},
			"status":       ibDelivered(),
			"error":        ibNoError(),
			"messageId":    m.ID,
			"doneAt":       st.Time.Format(infobipTime),
			"messageCount": 1,
			"sentAt":       m.Time.Format(infobipTime),
			"to":           m.To,
			"contact":      contact,
		}
		if st.Name == StatusFailed {
			r["status"] = ibUndelivered()
			// Infobip relays WhatsApp's error; the id and name are the
			// WhatsApp code, in Infobip's error object.
			r["error"] = map[string]any{"groupId": 2, "groupName": "USER_ERRORS", "id": st.Code,
				"name": "EC_" + strings.ToUpper(strings.ReplaceAll(graphTitle(st.Code), " ", "_")), "description": details, "permanent": true}
		}
		return r, kindDLR
	case StatusRead:
		r := map[string]any{"messageId": m.ID, "from": m.From, "to": m.To, "sentAt": m.Time.Format(infobipTime),
			"seenAt": st.Time.Format(infobipTime), "contact": contact}
		if m.applicationID != "" {
			r["applicationId"] = m.applicationID
		}
		if m.entityID != "" {
			r["entityId"] = m.entityID
		}
		return r, kindSeen
	}
	return nil, ""
}

// Signature returns the X-Hub-Signature-256 value Meta sends with a
// webhook body: "sha256=" + hex(HMAC-SHA256(body, appSecret)).
func Signature(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
