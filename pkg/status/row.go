package status

import "time"

// Ref names one sent part of a row, as the sender recorded it.
type Ref struct {
	// ID is the provider's message id (Meta's wamid, Infobip's messageId —
	// which prep fixes before sending); "" when the send left and no answer
	// came.
	ID string
	// CallbackData is what the send carried as callback data (the row's
	// key, in biz_opaque_callback_data): it finds a message whose id was
	// never known.
	CallbackData string
	// NotBefore, when set, is when the part's request was about to leave.
	// A message found by callback data whose first event is more than
	// ClockSkew older is another send's — the same row key in an earlier
	// batch (the same recording to the same recipient) — and is not
	// taken.
	NotBefore time.Time
}

// ClockSkew is how far a provider's event times may run behind the clock
// that timed a send (Meta's timestamps are whole seconds).
const ClockSkew = 2 * time.Minute

// first is the time of the message's earliest event.
func (m *Message) first() time.Time {
	var t time.Time
	for _, at := range m.At {
		if t.IsZero() || at.Before(t) {
			t = at
		}
	}
	return t
}

// before reports whether m's events began before a send at notBefore
// (zero: no bound) could have made them.
func (m *Message) before(notBefore time.Time) bool {
	f := m.first()
	return !notBefore.IsZero() && !f.IsZero() && f.Before(notBefore.Add(-ClockSkew))
}

// Row is the delivery of a row sent as one or more parts.
type Row struct {
	// Status combines the parts' (see Combine): delivered only when every
	// part is.
	Status Status `json:"status"`
	// Parts are the messages found for the refs, in order (Status Unknown
	// and no ID when nothing was found).
	Parts []Message `json:"parts"`
	// Error is the first failed part's failure.
	Error *Failure `json:"error,omitempty"`
	// Updated is the latest event time of any part.
	Updated time.Time `json:"updated"`
}

// Row finds the messages of a row's parts — by id, or, for a part whose
// id is not known (a send in doubt), by callback data among the messages
// not already taken by another part and not older than the part's send
// (Ref.NotBefore) — and combines their statuses. A part found by callback
// data resolves the doubt without resending: its message left.
func (ix *Index) Row(parts ...Ref) Row {
	out := Row{Parts: make([]Message, len(parts))}
	used := map[string]bool{}
	statuses := make([]Status, len(parts))
	for i, p := range parts {
		if p.ID != "" {
			m, _ := ix.Message(p.ID)
			out.Parts[i] = m
			used[p.ID] = true
		}
	}
	for i, p := range parts {
		if p.ID == "" {
			out.Parts[i] = Message{Status: Unknown}
			if p.CallbackData != "" {
				for _, m := range ix.ByCallback(p.CallbackData) {
					if !used[m.ID] && !m.before(p.NotBefore) {
						out.Parts[i] = m
						used[m.ID] = true
						break
					}
				}
			}
		}
		m := &out.Parts[i]
		statuses[i] = m.Status
		if m.Status == Failed && out.Error == nil && m.Error != nil {
			out.Error = m.Error
		}
		if m.Updated.After(out.Updated) {
			out.Updated = m.Updated
		}
	}
	out.Status = Combine(statuses...)
	return out
}
