package status

import (
	"sort"
	"strconv"
	"time"

	"github.com/prep-audio/prep/pkg/send"
)

// Provider names a WhatsApp provider; the names are pkg/send's.
type Provider = send.Provider

// The providers.
const (
	Meta    = send.Meta
	D360    = send.D360
	Infobip = send.Infobip
)

// Status is a message's delivery status.
type Status string

// The statuses, in order (Failed and Unknown stand apart). Unknown is the
// status of a message no event was received for.
const (
	Unknown   Status = "unknown"
	Accepted  Status = "accepted"
	Sent      Status = "sent"
	Delivered Status = "delivered"
	Read      Status = "read"
	Played    Status = "played"
	Failed    Status = "failed"
)

// rank orders the positive statuses; 0 for Failed, Unknown and anything
// else.
func (s Status) rank() int {
	switch s {
	case Accepted:
		return 1
	case Sent:
		return 2
	case Delivered:
		return 3
	case Read:
		return 4
	case Played:
		return 5
	}
	return 0
}

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool { return s.rank() > 0 || s == Failed || s == Unknown }

// Reached reports whether a message in status s got at least as far as
// target: Played reached Read, Delivered, Sent and Accepted. Failed reaches
// only Failed; Unknown reaches nothing.
func (s Status) Reached(target Status) bool {
	if s == Failed || target == Failed {
		return s == target
	}
	return s.rank() > 0 && s.rank() >= target.rank()
}

// Settled reports whether a message in status s needs no more waiting for
// target: it reached target or it failed.
func (s Status) Settled(target Status) bool { return s == Failed || s.Reached(target) }

// ParseStatus accepts a status name (accepted, sent, delivered, read,
// played, failed, unknown).
func ParseStatus(s string) (Status, error) {
	st := Status(s)
	if !st.Valid() {
		return "", &Error{Kind: ErrInvalid, Op: "status " + strconv.Quote(s), Err: errNotAStatus}
	}
	return st, nil
}

// Event is one status update for one message, as a provider sent it.
type Event struct {
	Provider  Provider `json:"provider"`
	MessageID string   `json:"message_id"`
	Status    Status   `json:"status"`
	// Time is the provider's own time of the event (Meta's timestamp,
	// Infobip's doneAt or seenAt); zero when the provider gave none.
	Time time.Time `json:"time"`
	// Received is when prep received it.
	Received  time.Time `json:"received"`
	Recipient string    `json:"recipient,omitempty"`
	// CallbackData is Meta's biz_opaque_callback_data or Infobip's
	// callbackData, as set on the send.
	CallbackData string `json:"callback_data,omitempty"`
	// Detail is the provider's own name of the status when it says more
	// than Status (Infobip's status name, e.g. DELIVERED_TO_HANDSET).
	Detail string `json:"detail,omitempty"`
	// Error is the failure of a failed event.
	Error *Failure `json:"error,omitempty"`
}

// key identifies an event for deduplication: same provider, message id,
// status and time.
func (e *Event) key() string {
	return string(e.Provider) + "\x00" + e.MessageID + "\x00" + string(e.Status) + "\x00" + strconv.FormatInt(e.Time.UnixNano(), 10)
}

// Failure is why a message failed, as the provider said it, with prep's
// advice.
type Failure struct {
	// Code is the provider's error code: Meta's Graph error code (131053,
	// 131047, …) or Infobip's error id.
	Code    int    `json:"code,omitempty"`
	Title   string `json:"title,omitempty"`
	Message string `json:"message,omitempty"`
	Details string `json:"details,omitempty"`
	// Kind is prep's classification of the code (pkg/send's classes:
	// media, window, …; "undeliverable", "expired", "rejected"); Advice
	// what to do about it.
	Kind   string `json:"kind,omitempty"`
	Advice string `json:"advice,omitempty"`
	// Time is when the failure happened (the event's time).
	Time time.Time `json:"time"`
}

// Text is the failure in one line: title or message, and details.
func (f *Failure) Text() string {
	if f == nil {
		return ""
	}
	s := f.Title
	if s == "" {
		s = f.Message
	}
	if f.Details != "" && f.Details != s {
		if s != "" {
			s += ": "
		}
		s += f.Details
	}
	return s
}

// Message is what is known of one message: its outcome merged from every
// event received for it.
type Message struct {
	Provider     Provider `json:"provider"`
	ID           string   `json:"message_id"`
	Recipient    string   `json:"recipient,omitempty"`
	CallbackData string   `json:"callback_data,omitempty"`
	// Status is the outcome: the highest positive status if delivered or
	// beyond, else failed if a failure came, else the highest of
	// accepted/sent.
	Status Status `json:"status"`
	// Error is the failure when Status is Failed.
	Error *Failure `json:"error,omitempty"`
	// Notes are failures that came with a delivered, read or played
	// (multi-device): kept, but not the outcome.
	Notes []Failure `json:"notes,omitempty"`
	// At is each status's own time (the first event of that status).
	At map[Status]time.Time `json:"at,omitempty"`
	// Updated is the latest event time (the provider's, or when prep
	// received it when the provider gave none).
	Updated time.Time `json:"updated"`
	// Events are the distinct events, as received.
	Events []Event `json:"events,omitempty"`
}

// apply merges one (not duplicated) event into m. The outcome does not
// depend on the order events arrive in.
func (m *Message) apply(e Event) {
	if m.ID == "" {
		m.ID, m.Provider = e.MessageID, e.Provider
	}
	if m.Recipient == "" {
		m.Recipient = e.Recipient
	}
	if m.CallbackData == "" {
		m.CallbackData = e.CallbackData
	}
	m.Events = append(m.Events, e)
	t := e.Time
	if t.IsZero() {
		t = e.Received
	}
	if m.At == nil {
		m.At = map[Status]time.Time{}
	}
	if old, ok := m.At[e.Status]; !ok || t.Before(old) {
		m.At[e.Status] = t
	}
	if t.After(m.Updated) {
		m.Updated = t
	}
	m.settle()
}

// settle recomputes the outcome from the events.
func (m *Message) settle() {
	best := Unknown
	var fails []Failure
	for i := range m.Events {
		e := &m.Events[i]
		if e.Status == Failed {
			f := Failure{}
			if e.Error != nil {
				f = *e.Error
			}
			if f.Time.IsZero() {
				f.Time = e.Time
			}
			fails = append(fails, f)
			continue
		}
		if e.Status.rank() > best.rank() {
			best = e.Status
		}
	}
	// The earliest failure first: it is the one that decided.
	sort.SliceStable(fails, func(i, j int) bool { return fails[i].Time.Before(fails[j].Time) })
	m.Error, m.Notes = nil, nil
	switch {
	case best.Reached(Delivered):
		m.Status = best
		m.Notes = fails
	case len(fails) > 0:
		m.Status = Failed
		m.Error = &fails[0]
		if len(fails) > 1 {
			m.Notes = fails[1:]
		}
	default:
		m.Status = best
	}
}

// clone is a deep copy of m (callers get their own).
func (m *Message) clone() Message {
	c := *m
	c.Events = append([]Event(nil), m.Events...)
	c.Notes = append([]Failure(nil), m.Notes...)
	if m.Error != nil {
		e := *m.Error
		c.Error = &e
	}
	if m.At != nil {
		c.At = make(map[Status]time.Time, len(m.At))
		for k, v := range m.At {
			c.At[k] = v
		}
	}
	return c
}

// Combine is the status of a row sent as several parts (a long recording
// split into voice notes), from its parts' statuses: failed when any part
// failed, unknown when any part has no status yet, else the least advanced
// part's status — a row is delivered only when every part is. No parts is
// Unknown.
func Combine(parts ...Status) Status {
	if len(parts) == 0 {
		return Unknown
	}
	out := Played
	for _, p := range parts {
		if p == Failed {
			return Failed
		}
	}
	for _, p := range parts {
		if p.rank() == 0 {
			return Unknown
		}
		if p.rank() < out.rank() {
			out = p
		}
	}
	return out
}
