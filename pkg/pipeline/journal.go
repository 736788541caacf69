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
	"sync"
	"time"
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
	Key       string    `json:"key,omitempty"`
	Row       int       `json:"row,omitempty"`
	Part      int       `json:"part"`
	Parts     int       `json:"parts,omitempty"`
	State     State     `json:"state"`
	To        string    `json:"to,omitempty"`
	Provider  Provider  `json:"provider,omitempty"`
	MessageID string    `json:"message_id,omitempty"`
	ClientID  string    `json:"client_id,omitempty"` // the client message id sent (Infobip messageId)
	Media     string    `json:"media,omitempty"`
	Error     string    `json:"error,omitempty"`
	Time      time.Time `json:"time"`
}

// JournalError is a failure to read, lock or write the journal. A batch
// stops sending when its journal cannot be written: sending without a
// durable record would break the exactly-once promise.
type JournalError struct {
	Path string
	Err  error
}

func (e *JournalError) Error() string { return fmt.Sprintf("journal %s: %v", e.Path, e.Err) }
func (e *JournalError) Unwrap() error { return e.Err }

// ErrJournalLocked is wrapped by the error of OpenJournal when another
// process holds the journal.
var ErrJournalLocked = errors.New("in use by another prep batch (locked)")

// Journal is an append-only, fsync'd log of row states. Appends from many
// goroutines are group-committed: one write and one fsync cover every
// record queued meanwhile, and Append returns only once its record is on
// disk.
type Journal struct {
	path string
	f    *os.File

	mu      sync.Mutex
	cond    *sync.Cond
	buf     []byte
	queued  uint64 // records queued so far
	synced  uint64 // records durable so far
	syncing bool
	err     error // sticky write error
	closed  bool

	// Corrupt is how many lines of the existing journal could not be read
	// (a line torn by a crash mid-write); they are ignored.
	Corrupt int
}

// OpenJournal opens (creating it when missing) and locks the journal at
// path and returns the records it already holds.
func OpenJournal(path string) (*Journal, []Record, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, &JournalError{Path: path, Err: err}
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, nil, &JournalError{Path: path, Err: err}
	}
	j := &Journal{path: path, f: f}
	j.cond = sync.NewCond(&j.mu)
	recs, lastNL, err := j.replay()
	if err != nil {
		f.Close()
		return nil, nil, &JournalError{Path: path, Err: err}
	}
	if !lastNL {
		// A torn last line: start ours on a fresh one.
		if _, err := f.Write([]byte("\n")); err != nil {
			f.Close()
			return nil, nil, &JournalError{Path: path, Err: err}
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, nil, &JournalError{Path: path, Err: err}
	}
	syncDir(filepath.Dir(path))
	return j, recs, nil
}

// replay reads the existing records. lastNL is false when the file does
// not end with a newline.
func (j *Journal) replay() (recs []Record, lastNL bool, err error) {
	if _, err := j.f.Seek(0, io.SeekStart); err != nil {
		return nil, false, err
	}
	br := bufio.NewReaderSize(j.f, 64*1024)
	lastNL = true
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			lastNL = line[len(line)-1] == '\n'
			b := bytes.TrimSpace(line)
			if len(b) > 0 {
				var r Record
				if json.Unmarshal(b, &r) != nil || r.State == "" {
					j.Corrupt++
				} else {
					recs = append(recs, r)
				}
			}
		}
		if err == io.EOF {
			return recs, lastNL, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}

// Path is the journal's file name.
func (j *Journal) Path() string { return j.path }

func (j *Journal) enqueue(r Record) (uint64, error) {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return 0, err
	}
	if j.err != nil {
		return 0, j.err
	}
	if j.closed {
		return 0, &JournalError{Path: j.path, Err: os.ErrClosed}
	}
	j.buf = append(j.buf, b...)
	j.buf = append(j.buf, '\n')
	j.queued++
	return j.queued, nil
}

// Append writes r and returns once it is on disk (fsync'd).
func (j *Journal) Append(r Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	seq, err := j.enqueue(r)
	if err != nil {
		return err
	}
	return j.waitLocked(seq)
}

// AppendAsync queues r; it reaches the disk with the next Append, Flush or
// Close. For records whose loss in a crash is harmless (prepared,
// uploaded).
func (j *Journal) AppendAsync(r Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, err := j.enqueue(r)
	return err
}

// Flush makes every queued record durable.
func (j *Journal) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.waitLocked(j.queued)
}

// waitLocked waits until record seq is durable, doing the write and fsync
// itself when no other goroutine is (group commit). j.mu is held.
func (j *Journal) waitLocked(seq uint64) error {
	for j.synced < seq {
		if j.err != nil {
			return j.err
		}
		if j.syncing {
			j.cond.Wait()
			continue
		}
		j.syncing = true
		buf, upto := j.buf, j.queued
		j.buf = nil
		j.mu.Unlock()
		_, err := j.f.Write(buf)
		if err == nil {
			err = j.f.Sync()
		}
		j.mu.Lock()
		j.syncing = false
		if err != nil {
			j.err = &JournalError{Path: j.path, Err: err}
		} else {
			j.synced = upto
		}
		j.cond.Broadcast()
	}
	return j.err
}

// Close flushes, unlocks and closes the journal. Closing it again does
// nothing.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	err := j.waitLocked(j.queued)
	j.closed = true
	j.mu.Unlock()
	unlockFile(j.f)
	if cerr := j.f.Close(); err == nil && cerr != nil {
		err = &JournalError{Path: j.path, Err: cerr}
	}
	return err
}

// syncDir fsyncs a directory so a newly created file's entry survives a
// crash (best effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

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
