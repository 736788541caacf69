package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prep-audio/prep/internal/grouplog"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/upload"
)

// State is a row's (or a row part's) state in the journal.
type State string

// Journal states, in the order a row goes through them.
const (
	StateRun      State = "run"      // a run started (no row)
	StatePrepared State = "prepared" // inspected and transcoded
	StateUploaded State = "uploaded" // uploaded; Media says where
	StateSending  State = "sending"  // the request is about to leave
	StateSent     State = "sent"     // the provider accepted it; MessageID
	StateFailed   State = "failed"   // the provider refused it; Error
	StateUnknown  State = "unknown"  // the request left and no answer came
)

// Record is one journal line.
type Record struct {
	Key       string        `json:"key,omitempty"`
	Row       int           `json:"row,omitempty"`
	Part      int           `json:"part"`
	Parts     int           `json:"parts,omitempty"`
	State     State         `json:"state"`
	To        string        `json:"to,omitempty"`
	Provider  send.Provider `json:"provider,omitempty"`
	MessageID string        `json:"message_id,omitempty"`
	ClientID  string        `json:"client_id,omitempty"` // the client message id sent (Infobip messageId)
	Media     string        `json:"media,omitempty"`
	// Content and Dest name a recording's upload (State uploaded, no
	// Key): the recording's content key and where it went, Media the
	// parts' ids or URLs joined with ";" (a presigned URL without its
	// query: upload.RedactURL) and, for a link host, Keys their object
	// keys in part order, from which a rerun presigns the URLs again (a presigned URL is
	// a credential and is never written here).
	Content string    `json:"content,omitempty"`
	Dest    string    `json:"dest,omitempty"`
	Keys    []string  `json:"keys,omitempty"`
	Error   string    `json:"error,omitempty"`
	Time    time.Time `json:"time"`
}

// JournalError is a failure to read, lock or write the journal. A batch
// stops sending when its journal cannot be written: sending without a
// durable record would break the exactly-once promise.
type JournalError struct {
	Path string
	Line int // the 1-based line that could not be read (ErrJournalCorrupt), else 0
	Err  error
}

func (e *JournalError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("journal %s: line %d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("journal %s: %v", e.Path, e.Err)
}
func (e *JournalError) Unwrap() error { return e.Err }

// ErrJournalLocked is wrapped by the error of OpenJournal when another
// process holds the journal.
var ErrJournalLocked = errors.New("in use by another prep batch (locked)")

// ErrJournalCorrupt is wrapped by the error of OpenJournal when a line
// other than a torn last one cannot be read: the states it held are lost,
// and going on could send a row twice.
var ErrJournalCorrupt = errors.New("unreadable record: the journal is damaged (a row it held may have been sent)")

// Journal is an append-only, fsync'd log of row states. Appends from many
// goroutines are group-committed: one write and one fsync cover every
// record queued meanwhile, and Append returns only once its record is on
// disk.
type Journal struct {
	path string
	g    *grouplog.File
}

// OpenJournal opens (creating it when missing) and locks the journal at
// path and returns the records it already holds. A last line torn by a
// crash (the unterminated start of a record) is cut off: its record never
// became durable, so its request never left. Any other unreadable line
// (NUL bytes, garbage, a damaged line followed by others) is an error
// wrapping ErrJournalCorrupt that names the line.
func OpenJournal(path string) (*Journal, []Record, error) {
	j, recs, bad, err := openJournal(path, false)
	if err != nil {
		return nil, nil, err
	}
	if len(bad) > 0 {
		j.Close()
		return nil, nil, &JournalError{Path: path, Line: bad[0].line, Err: ErrJournalCorrupt}
	}
	return j, recs, nil
}

// badLine is an unreadable journal line: its number and the row key that
// could still be read from it, if any.
type badLine struct {
	line int
	key  string
}

// openJournal is OpenJournal that returns the unreadable lines instead of
// failing on them. With batchKeys, a send's record whose key is not one a
// batch gives (a damaged key, which would match no row and so hide its
// send) is an unreadable line too.
func openJournal(path string, batchKeys bool) (*Journal, []Record, []badLine, error) {
	g, err := grouplog.Open(path, grouplog.Options{Perm: 0o644, Wrap: func(err error) error {
		switch {
		case errors.Is(err, grouplog.ErrLocked):
			err = ErrJournalLocked
		case errors.Is(err, grouplog.ErrClosed):
			err = os.ErrClosed
		}
		return &JournalError{Path: path, Err: err}
	}})
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (*Journal, []Record, []badLine, error) {
		g.Close()
		return nil, nil, nil, &JournalError{Path: path, Err: err}
	}
	j, f := &Journal{path: path, g: g}, g.OS()
	rp, err := replayJournal(f)
	if err != nil {
		return fail(err)
	}
	switch {
	case rp.tornAt >= 0:
		// Cut the torn tail so the next record starts a line of its own.
		if err := f.Truncate(rp.tornAt); err != nil {
			return fail(err)
		}
	case !rp.lastNL:
		// A whole record without its newline: end its line.
		if _, err := f.Write([]byte("\n")); err != nil {
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	grouplog.SyncDir(filepath.Dir(path))
	if !batchKeys {
		return j, rp.recs, rp.bad, nil
	}
	recs, bad := rp.recs[:0:0], rp.bad
	for i, r := range rp.recs {
		switch r.State {
		case StateSending, StateSent, StateFailed, StateUnknown:
			if !isBatchKey(r.Key) {
				bad = append(bad, badLine{line: rp.lines[i]})
				continue
			}
		}
		recs = append(recs, r)
	}
	sort.Slice(bad, func(a, b int) bool { return bad[a].line < bad[b].line })
	return j, recs, bad, nil
}

// replayed is what an existing journal holds.
type replayed struct {
	recs   []Record
	lines  []int     // the 1-based line of each record
	bad    []badLine // unreadable lines before the last
	lastNL bool      // the file ends with a newline (or is empty)
	tornAt int64     // offset of an unreadable last line without a newline, else -1
}

// keyInLine finds a row key in an unreadable line, when enough of it is
// left.
var keyInLine = regexp.MustCompile(`"key":"([0-9a-f]{32})"`)

// isTorn reports whether an unreadable last line (no newline at its end)
// looks like what a crash leaves: the start of a record that was being
// appended. NUL bytes or anything else there is damage, not a tear: the
// bytes of records already on disk, overwritten (zeroed whole, newlines
// too, the last rows' lines look like one unterminated line).
func isTorn(b []byte) bool {
	return b[0] == '{' && bytes.IndexByte(b, 0) < 0 && utf8.Valid(b)
}

// MaxParts bounds the parts of one row a journal record may name: far
// more than any split makes (a 1 GiB recording at the 6 kbit/s floor is
// about 2,000 voice notes), and few enough that walking a row's parts
// stays cheap. A larger number is a damaged line, not a row.
const MaxParts = 100_000

// valid reports whether r is a record a journal holds: a known state, a
// send's states with the row's key, an upload with its recording and
// destination (or, in older journals, its row). Well-formed JSON that is not one (a state or a field name
// damaged) is an unreadable line: skipped, it could hide a send.
func (r Record) valid() bool {
	if r.Part < 0 || r.Parts < 0 || r.Row < 0 || r.Part >= MaxParts || r.Parts > MaxParts {
		return false
	}
	switch r.State {
	case StateRun, StatePrepared:
		return true
	case StateSending, StateSent, StateFailed, StateUnknown:
		return r.Key != ""
	case StateUploaded:
		return r.Key != "" || r.Content != "" && r.Dest != ""
	}
	return false
}

// isBatchKey reports whether key is a key a batch gives its rows
// (assignKeys: 32 lowercase hex digits).
func isBatchKey(key string) bool {
	if len(key) != 32 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// replayJournal reads the records of r from its start.
func replayJournal(r io.ReadSeeker) (replayed, error) {
	rp := replayed{lastNL: true, tornAt: -1}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return rp, err
	}
	br := bufio.NewReaderSize(r, 64*1024)
	var off int64
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			complete := line[len(line)-1] == '\n'
			rp.lastNL = complete
			// Every line is a record: a blank line (spaces or carriage
			// returns written over a record) is damage like any other.
			b := bytes.TrimSpace(line)
			var rec Record
			switch {
			case json.Unmarshal(b, &rec) == nil && rec.valid():
				rp.recs = append(rp.recs, rec)
				rp.lines = append(rp.lines, n)
			case !complete && len(b) > 0 && isTorn(b):
				rp.tornAt = off
			default:
				bl := badLine{line: n}
				if m := keyInLine.FindSubmatch(b); m != nil {
					bl.key = string(m[1])
				}
				rp.bad = append(rp.bad, bl)
			}
			off += int64(len(line))
		}
		if err == io.EOF {
			return rp, nil
		}
		if err != nil {
			return rp, err
		}
	}
}

// Path is the journal's file name.
func (j *Journal) Path() string { return j.path }

// encode is r's journal line, newline included.
func encode(r Record) ([]byte, error) {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Append writes r and returns once it is on disk (fsync'd).
func (j *Journal) Append(r Record) error {
	b, err := encode(r)
	if err != nil {
		return err
	}
	seq, err := j.g.Queue(b)
	if err != nil {
		return err
	}
	return j.g.Wait(seq)
}

// AppendAsync queues r; it reaches the disk with the next Append, Flush or
// Close. For records whose loss in a crash is harmless (prepared,
// uploaded).
func (j *Journal) AppendAsync(r Record) error {
	b, err := encode(r)
	if err != nil {
		return err
	}
	_, err = j.g.Queue(b)
	return err
}

// Flush makes every queued record durable.
func (j *Journal) Flush() error { return j.g.Flush() }

// Close flushes, unlocks and closes the journal. Closing it again does
// nothing.
func (j *Journal) Close() error { return j.g.Close() }

// partState is what the journal says about one part of one row.
type partState struct {
	state     State // the last of sending, sent, failed, unknown ("" if none)
	messageID string
	clientID  string
	err       string
	media     string
}

// rowHistory is what the journal says about one row.
type rowHistory struct {
	parts int // known number of parts (0 when never sent)
	part  map[int]*partState
	// unreadable says why the row is in doubt when an unreadable journal
	// line may have been its own.
	unreadable string
}

// replayRows folds records into per-row histories. "sent" is final for a
// part whatever follows; otherwise the last outcome wins, and "sending"
// without an outcome means the process stopped while the request was out.
func replayRows(recs []Record) map[string]*rowHistory {
	out := map[string]*rowHistory{}
	for _, r := range recs {
		if r.Key == "" || r.State == StateRun {
			continue
		}
		h := out[r.Key]
		if h == nil {
			h = &rowHistory{part: map[int]*partState{}}
			out[r.Key] = h
		}
		if r.Parts > h.parts {
			h.parts = r.Parts
		}
		switch r.State {
		case StateSending, StateSent, StateFailed, StateUnknown:
		default:
			continue
		}
		ps := h.part[r.Part]
		if ps == nil {
			ps = &partState{}
			h.part[r.Part] = ps
		}
		if ps.state == StateSent {
			continue
		}
		ps.state = r.State
		if r.MessageID != "" {
			ps.messageID = r.MessageID
		}
		if r.ClientID != "" {
			ps.clientID = r.ClientID
		}
		if r.Media != "" {
			ps.media = r.Media
		}
		ps.err = r.Error
	}
	return out
}

// uploadReuse is how long an upload recorded in the journal is used again
// by a rerun instead of uploading the recording again: well within the
// life of a media id (Meta keeps them 30 days) and of a presigned URL (up
// to 7 days).
const uploadReuse = 24 * time.Hour

// uploadKey names one recording's upload to one destination.
type uploadKey struct {
	content string
	dest    string
}

// replayUploads returns the recent uploads the journal recorded, by
// recording and destination.
func replayUploads(recs []Record, now time.Time) map[uploadKey][]upload.Ref {
	out := map[uploadKey][]upload.Ref{}
	for _, r := range recs {
		if r.State != StateUploaded || r.Content == "" || r.Media == "" || now.Sub(r.Time) > uploadReuse {
			continue
		}
		refs := strings.Split(r.Media, ";")
		if r.Parts > 0 && len(refs) != r.Parts {
			continue
		}
		keys := r.Keys
		if keys != nil && len(keys) != len(refs) {
			continue
		}
		media := make([]upload.Ref, len(refs))
		for i, ref := range refs {
			media[i] = refFor(destination(r.Dest), ref)
			if keys != nil {
				media[i].Key = keys[i]
			}
		}
		out[uploadKey{r.Content, r.Dest}] = media
	}
	return out
}

// anyFailed reports whether a part of the row was refused.
func (h *rowHistory) anyFailed() bool {
	if h == nil {
		return false
	}
	for _, ps := range h.part {
		if ps.state == StateFailed {
			return true
		}
	}
	return false
}

// allSent reports whether every part of the row was sent.
func (h *rowHistory) allSent() bool {
	if h == nil || h.parts == 0 {
		return false
	}
	for i := 0; i < h.parts; i++ {
		if ps := h.part[i]; ps == nil || ps.state != StateSent {
			return false
		}
	}
	return true
}

// inDoubt reports whether a part not sent was started and never answered.
func (h *rowHistory) inDoubt() (bool, string) {
	if h == nil {
		return false, ""
	}
	if h.unreadable != "" {
		return true, h.unreadable
	}
	for i := 0; i < h.span(); i++ {
		ps := h.part[i]
		if ps == nil {
			continue
		}
		switch ps.state {
		case StateSending:
			return true, "the send started in an earlier run and no answer was recorded (the process stopped): it may have been delivered"
		case StateUnknown:
			msg := ps.err
			if msg == "" {
				msg = "no answer from the provider"
			}
			return true, "in doubt in an earlier run: " + msg
		}
	}
	return false, ""
}

// messageIDs returns the sent parts' message ids in part order.
func (h *rowHistory) messageIDs() []string {
	if h == nil {
		return nil
	}
	var ids []string
	for i := 0; i < h.span(); i++ {
		if ps := h.part[i]; ps != nil && ps.state == StateSent {
			ids = append(ids, ps.messageID)
		}
	}
	return ids
}

// span is one more than the highest part index the row has seen.
func (h *rowHistory) span() int {
	n := h.parts
	for i := range h.part {
		if i+1 > n {
			n = i + 1
		}
	}
	return n
}
