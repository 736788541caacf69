package queue

import (
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
)

// State is a row's state in the rows bucket.
type State string

// Row states. queued → sending → sent | failed | unknown; a split row goes
// back to queued between its parts (IDs holds the parts sent).
const (
	StateQueued  State = "queued"  // submitted, not (or not completely) sent
	StateSending State = "sending" // a worker's request is (or may be) out
	StateSent    State = "sent"    // every part accepted; IDs
	StateFailed  State = "failed"  // a stage failed or the provider refused; resubmitting retries it
	StateUnknown State = "unknown" // the request left and no answer was stored: maybe delivered; not resent
)

// Terminal reports whether no worker will change the state by itself.
func (s State) Terminal() bool { return s == StateSent || s == StateFailed || s == StateUnknown }

// Row is one manifest row's state, the value of its key in the rows bucket.
type Row struct {
	Batch        string            `json:"batch"`
	Key          string            `json:"key"` // the journal's row key
	Line         int               `json:"line"`
	To           string            `json:"to"` // normalized (digits)
	File         string            `json:"file"`
	Source       string            `json:"source"` // s3://bucket/key or a local path
	Provider     send.Provider     `json:"provider"`
	Profile      transcode.Profile `json:"profile"`
	CallbackData string            `json:"callback_data,omitempty"`
	SHA256       string            `json:"sha256"`
	Dest         string            `json:"dest"`
	Split        bool              `json:"split,omitempty"`

	State State `json:"state"`
	// Worker and Attempt name who set "sending" (a fresh attempt id per
	// request), so a worker can tell its own write from another's.
	Worker   string   `json:"worker,omitempty"`
	Attempt  string   `json:"attempt,omitempty"`
	Part     int      `json:"part"`                // the part being (or last) sent
	Parts    int      `json:"parts,omitempty"`     // known once prepared
	IDs      []string `json:"message_ids"`         // message ids of the parts sent, in order
	ClientID string   `json:"client_id,omitempty"` // client message id of the part in flight (Infobip)
	Media    []string `json:"media,omitempty"`     // media id or URL per part
	Error    string   `json:"error,omitempty"`
	// Resend lets a worker send a row found unknown again (the batch was
	// resubmitted with ResendUnknown).
	Resend bool `json:"resend,omitempty"`
	// Queued is when the row was last (re)queued by a submitter.
	Queued  time.Time       `json:"queued"`
	Updated time.Time       `json:"updated"`
	Timing  pipeline.Timing `json:"timing"`
}

// ContentKey names a distinct recording: its SHA-256 and profile, as the
// local batch groups them (KV-safe: "sha256.profile").
func ContentKey(sha string, p transcode.Profile) string { return sha + "." + string(p) }

// rowKV is a row's key in the rows bucket.
func rowKV(batch, key string) string { return batch + "." + key }

// BatchName makes a name usable as a batch id (and a KV key token): letters,
// digits, '-' and '_' kept, anything else '_'.
func BatchName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
	if s == "" {
		s = "batch"
	}
	return s
}
