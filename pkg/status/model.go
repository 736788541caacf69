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

// Statuses returns every status, best first: the positive ones by rank
// (Played down to Accepted), then Failed and Unknown. Summaries list
// delivery counts in this order.
func Statuses() []Status {
	return []Status{Played, Read, Delivered, Sent, Accepted, Failed, Unknown}
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
	// Infobip's doneAt or seenAt); when the provider gave none, it is
	// Received and TimeReceived is set.
	Time time.Time `json:"time"`
	// Received is when prep received it.
	Received time.Time `json:"received"`
	// TimeReceived says the provider gave no time of its own (an Infobip
	// report without doneAt, sentAt or seenAt): Time is Received. Such an
	// event is a duplicate of any other with the same provider, message id
	// and status, whenever it came: the same report retried.
	TimeReceived bool   `json:"time_received,omitempty"`
	Recipient    string `json:"recipient,omitempty"`
	// CallbackData is Meta's biz_opaque_callback_data or Infobip's
	// callbackData, as set on the send.
	CallbackData string `json:"callback_data,omitempty"`
	// Detail is the provider's own name of the status when it says more
	// than Status (Infobip's status name, e.g. DELIVERED_TO_HANDSET).
	Detail string `json:"detail,omitempty"`
	// Error is the failure of a failed event.
	Error *Failure `json:"error,omitempty"`
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
	// Kind is prep's classification of the code; Advice what to do
	// about it.
	Kind   FailureKind `json:"kind,omitempty"`
	Advice string      `json:"advice,omitempty"`
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
	// Detail is the provider's own name of its latest status, when it has
	// one (Infobip's DELIVERED_TO_HANDSET).
	Detail string `json:"detail,omitempty"`
	// Error is the failure when Status is Failed (the earliest failure).
	Error *Failure `json:"error,omitempty"`
	// Notes are the other failures: those that came with a delivered,
	// read or played (multi-device) are kept, but are not the outcome.
	Notes []Failure `json:"notes,omitempty"`
	// At is each status's own time (the earliest event of that status; the
	// time prep received it when the provider gave none).
	At map[Status]time.Time `json:"at,omitempty"`
	// Updated is the latest of those times.
	Updated time.Time `json:"updated"`
	// Events is how many distinct events were received (duplicates
	// ignored); the events themselves are in the store file.
	Events int `json:"events"`
}

// nSlots is how many statuses a message keeps a time for: accepted,
// sent, delivered, read, played (rank − 1) and failed.
const nSlots = 6

func slot(s Status) int {
	if s == Failed {
		return nSlots - 1
	}
	return s.rank() - 1
}

func slotStatus(i int) Status {
	switch i {
	case 0:
		return Accepted
	case 1:
		return Sent
	case 2:
		return Delivered
	case 3:
		return Read
	case 4:
		return Played
	}
	return Failed
}

// msgState is the index's compact form of a Message: fixed-size times and
// no per-message map, so a receiver holding millions of messages stays
// small and cheap to garbage-collect.
type msgState struct {
	provider  Provider
	id        string
	recipient string
	cb        string
	detail    string
	best      Status
	at        [nSlots]int64 // Unix ns; 0: not seen
	updated   int64
	fails     []Failure
	events    int32
}

// apply merges one (not duplicated) event. The outcome does not depend on
// the order events arrive in.
func (m *msgState) apply(e *Event) {
	if m.id == "" {
		m.id, m.provider = e.MessageID, e.Provider
	}
	if m.recipient == "" {
		m.recipient = e.Recipient
	}
	if m.cb == "" {
		m.cb = e.CallbackData
	}
	m.events++
	t := e.Time
	if t.IsZero() {
		t = e.Received
	}
	if !t.IsZero() {
		ns := t.UnixNano()
		if i := slot(e.Status); i >= 0 && (m.at[i] == 0 || ns < m.at[i]) {
			m.at[i] = ns
		}
		if ns >= m.updated {
			m.updated = ns
			if e.Detail != "" {
				m.detail = e.Detail
			}
		}
	} else if e.Detail != "" {
		m.detail = e.Detail
	}
	if e.Status == Failed {
		f := Failure{}
		if e.Error != nil {
			f = *e.Error
		}
		if f.Time.IsZero() {
			f.Time = e.Time
		}
		// Earliest first: it is the one that decided.
		i := sort.Search(len(m.fails), func(i int) bool { return f.Time.Before(m.fails[i].Time) })
		m.fails = append(m.fails, Failure{})
		copy(m.fails[i+1:], m.fails[i:])
		m.fails[i] = f
	} else if e.Status.rank() > m.best.rank() {
		m.best = e.Status
	}
}

// status is the outcome.
func (m *msgState) status() Status {
	switch {
	case m.best.Reached(Delivered):
		return m.best
	case len(m.fails) > 0:
		return Failed
	case m.best.rank() > 0:
		return m.best
	}
	return Unknown
}

// message is the public form (callers get their own copy).
func (m *msgState) message() Message {
	out := Message{Provider: m.provider, ID: m.id, Recipient: m.recipient, CallbackData: m.cb,
		Status: m.status(), Detail: m.detail, Events: int(m.events)}
	if len(m.fails) > 0 {
		fails := append([]Failure(nil), m.fails...)
		if out.Status == Failed {
			out.Error = &fails[0]
			fails = fails[1:]
		}
		if len(fails) > 0 {
			out.Notes = fails
		}
	}
	for i, ns := range m.at {
		if ns != 0 {
			if out.At == nil {
				out.At = map[Status]time.Time{}
			}
			out.At[slotStatus(i)] = time.Unix(0, ns).UTC()
		}
	}
	if m.updated != 0 {
		out.Updated = time.Unix(0, m.updated).UTC()
	}
	return out
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
