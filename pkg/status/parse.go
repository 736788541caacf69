package status

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// metaBody is Meta's webhook envelope (Meta, "Status messages webhook
// reference",
// https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/reference/messages/status;
// Meta Business Messaging OpenAPI v23.0, components/schemas/WebhookPayload →
// Entry → Change → StatusMessageValue → Statuses). 360dialog forwards the
// same envelope.
type metaBody struct {
	Entry []struct {
		Changes []struct {
			Value metaValue[metaStatus] `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// metaValue is a change's value; S is a status as decoded (metaStatus, or
// json.RawMessage to decode each on its own).
type metaValue[S any] struct {
	Statuses []S             `json:"statuses"`
	Messages json.RawMessage `json:"messages"`
	Errors   json.RawMessage `json:"errors"`
}

// metaBodyEach is metaBody with each status left to decode on its own.
type metaBodyEach struct {
	Entry []struct {
		Changes []struct {
			Value metaValue[json.RawMessage] `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type metaStatus struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	Timestamp    flexInt    `json:"timestamp"`
	RecipientID  flexString `json:"recipient_id"`
	CallbackData string     `json:"biz_opaque_callback_data"`
	Errors       []graphErr `json:"errors"`
}

type graphErr struct {
	Code      flexNum `json:"code"`
	Title     string  `json:"title"`
	Message   string  `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

// flexString is a string a provider may send as a number (a recipient's
// phone number): the number's digits.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) >= 2 && b[0] == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b):
		*f = flexString(b[1 : len(b)-1]) // no escapes: the bytes are the string
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case string(b) == "null":
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		*f = flexString(b)
	default:
		return fmt.Errorf("%.40s is not a string", b)
	}
	return nil
}

// flexNum is a whole number a provider may send as a string ("131053").
type flexNum int

func (f *flexNum) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "" || s == "null" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%.40q is not a whole number", s)
	}
	*f = flexNum(n)
	return nil
}

// flexBool is a boolean a provider may send as a string ("true").
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "" || s == "null" {
		return nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%.40q is not true or false", s)
	}
	*f = flexBool(v)
	return nil
}

// flexInt is Unix seconds sent as a string ("1751142888") or a number.
type flexInt struct {
	v   int64
	set bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "" || s == "null" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %.40q is not Unix seconds", s)
	}
	f.v, f.set = n, true
	return nil
}

// ParseMeta reads a Meta Cloud API webhook body (also what 360dialog
// forwards) into events, with p the provider it came from. Every status of
// every change of every entry is an event; the statuses Meta documents are
// sent, delivered, read, played (voice notes: Meta changelog of 3 Nov 2025;
// 360dialog, "Audio", https://docs.360dialog.com/docs/messaging/message-types/audio)
// and failed. The error, when not nil, says what of the body was not
// understood (a bad status is skipped, the others are returned); a body
// with no statuses at all (incoming messages, other fields) returns no
// events and ErrNoStatuses.
//
// A status with a field of an unexpected type (a float timestamp, an
// object for a string) is skipped alone: the others of the body count.
func ParseMeta(p Provider, body []byte, received time.Time) ([]Event, error) {
	var c collected
	var b metaBody
	err := json.Unmarshal(body, &b)
	if err == nil {
		for _, en := range b.Entry {
			for _, ch := range en.Changes {
				metaChange(&c, p, &ch.Value, received, func(s *metaStatus) (*metaStatus, error) { return s, nil })
			}
		}
		return c.result(p)
	}
	// Valid JSON with something of an unexpected type (a syntax error is
	// found before anything is decoded): decode each status on its own.
	var se *json.SyntaxError
	var each metaBodyEach
	if errors.As(err, &se) || json.Unmarshal(body, &each) != nil {
		return nil, parseErr(p, fmt.Errorf("not JSON of the webhook envelope: %w", err))
	}
	for _, en := range each.Entry {
		for _, ch := range en.Changes {
			metaChange(&c, p, &ch.Value, received, func(raw *json.RawMessage) (*metaStatus, error) {
				var s metaStatus
				if err := json.Unmarshal(*raw, &s); err != nil {
					return nil, fmt.Errorf("a status (%.80s): %v", *raw, err)
				}
				return &s, nil
			})
		}
	}
	return c.result(p)
}

// metaChange collects the events of one change's statuses, each decoded
// by dec.
func metaChange[S any](c *collected, p Provider, v *metaValue[S], received time.Time, dec func(*S) (*metaStatus, error)) {
	if len(v.Messages) > 0 && string(v.Messages) != "null" || len(v.Errors) > 0 && string(v.Errors) != "null" {
		c.other = true
	}
	for i := range v.Statuses {
		s, err := dec(&v.Statuses[i])
		if err != nil {
			c.add(Event{}, err)
			continue
		}
		c.add(metaEvent(p, s, received))
	}
}

// collected gathers a body's events and the first few problems found in
// its statuses; result says what the body was as a whole.
type collected struct {
	evs   []Event
	probs []string
	other bool // something besides statuses (Meta: messages, errors)
}

func (c *collected) add(e Event, err error) {
	if err != nil {
		if len(c.probs) < 5 {
			c.probs = append(c.probs, err.Error())
		}
		return
	}
	c.evs = append(c.evs, e)
}

func (c *collected) result(p Provider) ([]Event, error) {
	switch {
	case len(c.probs) > 0:
		return c.evs, parseErr(p, errors.New(strings.Join(c.probs, "; ")))
	case len(c.evs) == 0:
		return nil, parseErr(p, ErrNoStatuses)
	case c.other:
		return c.evs, parseErr(p, ErrNotOnlyStatuses)
	}
	return c.evs, nil
}

// ErrNoStatuses is wrapped when an authentic body carries no statuses;
// ErrNotOnlyStatuses when it carries statuses and something else too (an
// incoming message, an error). Such bodies are kept whole in the store.
var (
	ErrNoStatuses      = errors.New("no statuses")
	ErrNotOnlyStatuses = errors.New("statuses and other content")
)

func metaEvent(p Provider, s *metaStatus, received time.Time) (Event, error) {
	if s.ID == "" {
		return Event{}, errors.New("a status without an id")
	}
	st := Status(strings.ToLower(s.Status))
	switch st {
	case Sent, Delivered, Read, Played, Failed:
	default:
		return Event{}, fmt.Errorf("status %.40q of %.80s is not one prep knows", s.Status, s.ID)
	}
	e := Event{Provider: p, MessageID: s.ID, Status: st, Received: received.UTC(),
		Recipient: string(s.RecipientID), CallbackData: s.CallbackData}
	if s.Timestamp.set {
		// Unix seconds up to the year 9999 (what a time can be written as).
		if s.Timestamp.v < 0 || s.Timestamp.v > 253402300799 {
			return Event{}, fmt.Errorf("timestamp %d of %.80s is out of range", s.Timestamp.v, s.ID)
		}
		e.Time = time.Unix(s.Timestamp.v, 0).UTC()
	}
	timeOrReceived(&e)
	if st == Failed {
		f := &Failure{Time: e.Time}
		if len(s.Errors) > 0 {
			ge := s.Errors[0]
			f.Code, f.Title, f.Message, f.Details = int(ge.Code), ge.Title, ge.Message, ge.ErrorData.Details
		}
		advise(p, f)
		e.Error = f
	}
	return e, nil
}

// infobipBody is a delivery report or a seen report (Infobip OpenAPI
// 3.210.0, schemas DeliveryResult/DeliveryReport and SeenResult/SeenReport;
// Infobip, "Send WhatsApp audio message", notifyUrl,
// https://www.infobip.com/docs/api/channels/whatsapp/whatsapp-outbound-messages/send-whatsapp-audio-message).
// One URL receives both: a seen report has seenAt, a delivery report has
// status and doneAt.
type infobipBody struct {
	Results []infobipResult `json:"results"`
}

// infobipBodyEach is infobipBody with each result left to decode on its
// own.
type infobipBodyEach struct {
	Results []json.RawMessage `json:"results"`
}

type infobipResult struct {
	MessageID    string `json:"messageId"`
	To           string `json:"to"`
	SentAt       string `json:"sentAt"`
	DoneAt       string `json:"doneAt"`
	SeenAt       string `json:"seenAt"`
	CallbackData string `json:"callbackData"`
	Status       *struct {
		GroupID     flexNum `json:"groupId"`
		GroupName   string  `json:"groupName"`
		ID          flexNum `json:"id"`
		Name        string  `json:"name"`
		Description string  `json:"description"`
	} `json:"status"`
	Error *struct {
		GroupID     flexNum  `json:"groupId"`
		GroupName   string   `json:"groupName"`
		ID          flexNum  `json:"id"`
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Permanent   flexBool `json:"permanent"`
	} `json:"error"`
}

// ParseInfobip reads an Infobip delivery or seen report into events. Status
// groups map as: ACCEPTED → accepted, PENDING → sent, DELIVERED →
// delivered, UNDELIVERABLE, EXPIRED and REJECTED → failed; a seen report
// is read. The error, when not nil, says which results were skipped (a
// result with a field of an unexpected type is skipped alone).
func ParseInfobip(body []byte, received time.Time) ([]Event, error) {
	var c collected
	var b infobipBody
	err := json.Unmarshal(body, &b)
	if err == nil {
		for i := range b.Results {
			c.add(infobipEvent(&b.Results[i], received))
		}
		return c.result(Infobip)
	}
	// As ParseMeta: valid JSON, something of an unexpected type.
	var se *json.SyntaxError
	var each infobipBodyEach
	if errors.As(err, &se) || json.Unmarshal(body, &each) != nil {
		return nil, parseErr(Infobip, fmt.Errorf("not JSON of a delivery or seen report: %w", err))
	}
	for _, raw := range each.Results {
		var r infobipResult
		if err := json.Unmarshal(raw, &r); err != nil {
			c.add(Event{}, fmt.Errorf("a result (%.80s): %v", raw, err))
			continue
		}
		c.add(infobipEvent(&r, received))
	}
	return c.result(Infobip)
}

// infobipGroup names a status group id (Infobip, "Response status and
// error codes",
// https://www.infobip.com/docs/essentials/response-status-and-error-codes).
func infobipGroup(id int) string {
	switch id {
	case 0:
		return "ACCEPTED"
	case 1:
		return "PENDING"
	case 2:
		return "UNDELIVERABLE"
	case 3:
		return "DELIVERED"
	case 4:
		return "EXPIRED"
	case 5:
		return "REJECTED"
	}
	return ""
}

func infobipEvent(r *infobipResult, received time.Time) (Event, error) {
	if r.MessageID == "" {
		return Event{}, errors.New("a result without a messageId")
	}
	e := Event{Provider: Infobip, MessageID: r.MessageID, Received: received.UTC(), Recipient: r.To, CallbackData: r.CallbackData}
	var err error
	if r.SeenAt != "" {
		e.Status = Read
		e.Time, err = infobipTime(r.SeenAt)
		return e, err
	}
	if r.Status == nil {
		return Event{}, fmt.Errorf("result %.80s has neither status nor seenAt", r.MessageID)
	}
	group := strings.ToUpper(r.Status.GroupName)
	if group == "" {
		group = infobipGroup(int(r.Status.GroupID))
	}
	switch group {
	case "ACCEPTED":
		e.Status = Accepted
	case "PENDING":
		e.Status = Sent
	case "DELIVERED":
		e.Status = Delivered
	case "UNDELIVERABLE", "EXPIRED", "REJECTED":
		e.Status = Failed
	default:
		return Event{}, fmt.Errorf("status group %.40q of %.80s is not one prep knows", r.Status.GroupName, r.MessageID)
	}
	e.Detail = r.Status.Name
	at := r.DoneAt
	if at == "" {
		at = r.SentAt
	}
	if at != "" {
		if e.Time, err = infobipTime(at); err != nil {
			return Event{}, err
		}
	}
	timeOrReceived(&e)
	if e.Status == Failed {
		f := &Failure{Time: e.Time, Title: r.Status.Name, Message: r.Status.Description}
		if r.Error != nil && r.Error.ID != 0 {
			f.Code, f.Title, f.Details = int(r.Error.ID), r.Error.Name, r.Error.Description
			if f.Message == "" {
				f.Message = r.Error.Description
			}
		}
		adviseInfobip(group, f)
		e.Error = f
	}
	return e, nil
}

// timeOrReceived gives an event the provider sent without a time of its
// own the time it was received, marked TimeReceived: a stored event never
// says it happened in the year 1.
func timeOrReceived(e *Event) {
	if e.Time.IsZero() {
		e.Time, e.TimeReceived = e.Received, true
	}
}

// infobipTime parses Infobip's yyyy-MM-dd'T'HH:mm:ss.SSSZ (a +0000 zone),
// or RFC 3339.
func infobipTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			if t = t.UTC(); t.Year() < 1 || t.Year() > 9999 {
				break
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %.40q is not Infobip's yyyy-MM-ddTHH:mm:ss.SSSZ", s)
}
