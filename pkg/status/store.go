package status

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prep-audio/prep/internal/grouplog"
)

// The store file is JSON Lines, one record a line, appended and fsync'd:
//
//	{"kind":"status","provider":"meta","message_id":"wamid…","status":"read","time":…,"received":…,…}
//	{"kind":"raw","raw":{"provider":"meta","received":…,"reason":"…","body":"…"}}
//
// A "status" line is an Event. A "raw" line is an authentic body kept whole
// because it could not be parsed or carried no statuses. A last line
// without its newline was torn by a crash mid-write (it was never
// acknowledged): readers ignore it, and the next writer starts on a fresh
// line.
const (
	kindStatus = "status"
	kindRaw    = "raw"
)

// line is one record of the store file.
type line struct {
	Kind string `json:"kind"`
	*Event
	Raw *Raw `json:"raw,omitempty"`
}

// Raw is an authentic body kept whole for inspection.
type Raw struct {
	Provider Provider  `json:"provider"`
	Received time.Time `json:"received"`
	// Reason says why it was kept (a parse error, "no statuses").
	Reason string `json:"reason"`
	// Body is the body as received; Encoding is "base64" when it is not
	// valid UTF-8.
	Body     string `json:"body"`
	Encoding string `json:"encoding,omitempty"`
}

// NewRaw keeps body (copied) with the reason it could not be used.
func NewRaw(p Provider, received time.Time, reason string, body []byte) *Raw {
	r := &Raw{Provider: p, Received: received, Reason: reason}
	if utf8.Valid(body) {
		r.Body = string(body)
	} else {
		r.Body, r.Encoding = base64.StdEncoding.EncodeToString(body), "base64"
	}
	return r
}

// Bytes is the body as received.
func (r *Raw) Bytes() []byte {
	if r.Encoding == "base64" {
		b, _ := base64.StdEncoding.DecodeString(r.Body)
		return b
	}
	return []byte(r.Body)
}

// Sink is where a Receiver hands what it received. Append returns only
// once events and raw (either may be empty) are durable; an error means
// they were not stored and the body is not acknowledged.
type Sink interface {
	Append(ctx context.Context, events []Event, raw *Raw) error
}

// Store is the append-only, fsync'd, group-committed log of events, and
// the Index over it. Appends from many goroutines share one write and one
// fsync. One process writes a store file at a time (it is locked); others
// read it with OpenReader.
type Store struct {
	*Index
	path string
	g    *grouplog.File

	// mu guards the events queued and not yet durable, so a second copy
	// of one is not queued while its first is in flight. Lock order: mu,
	// then Index.mu.
	mu       sync.Mutex
	pend     []pending
	pendKeys map[eventKey]uint64 // event key → the sequence that carries it

	// Corrupt is how many lines of the existing file could not be read (a
	// line torn by a crash mid-write); they are ignored.
	Corrupt int
}

// pending is what one queued sequence adds to the Index once durable.
type pending struct {
	seq    uint64
	events []Event
	keys   []eventKey // events' keys, in pendKeys until durable
	raw    *RawInfo
}

var _ Sink = (*Store)(nil)

// OpenStore opens (creating it when missing) and locks the store file at
// path, and indexes what it already holds. grouplog.Open refuses what is
// not a regular file (opened read-write, a FIFO does not block the open).
func OpenStore(path string) (*Store, error) {
	s := &Store{Index: newIndex(), path: path, pendKeys: map[eventKey]uint64{}}
	g, err := grouplog.Open(path, grouplog.Options{Perm: 0o600, Synced: s.synced, Wrap: func(err error) error {
		switch {
		case errors.Is(err, grouplog.ErrLocked):
			err = ErrStoreLocked
		case errors.Is(err, grouplog.ErrClosed):
			err = errClosed
		}
		return storeErr(path, err)
	}})
	if err != nil {
		return nil, err
	}
	s.g = g
	f := g.OS()
	fail := func(err error) (*Store, error) {
		g.Close()
		return nil, storeErr(path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	n, corrupt, torn, err := readLines(f, s.Index)
	if err != nil {
		return fail(err)
	}
	s.Corrupt = corrupt
	if torn > 0 {
		// A torn last line was being written when the writer died: it was
		// never acknowledged. Cut it so ours starts a line of its own.
		if err := f.Truncate(n); err != nil {
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	grouplog.SyncDir(filepath.Dir(path))
	return s, nil
}

// Path is the store's file name.
func (s *Store) Path() string { return s.path }

// Append stores events and raw and returns once they are on disk. Events
// already stored (same provider, id, status and time) are not written
// again; Append still waits until their first copy is durable.
func (s *Store) Append(ctx context.Context, events []Event, raw *Raw) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Encode outside the lock: it is most of the work.
	lines := make([][]byte, len(events))
	keys := make([]eventKey, len(events))
	enc := make([]byte, 0, 320*len(events)) // one allocation for the body's lines
	for i := range events {
		n := len(enc)
		b, ok := appendEventLine(enc, &events[i])
		if !ok {
			jb, err := json.Marshal(line{Kind: kindStatus, Event: &events[i]})
			if err != nil {
				return &Error{Kind: ErrInvalid, Op: "event " + events[i].MessageID, Err: err}
			}
			b = append(enc, jb...)
		}
		enc = append(b, '\n')
		lines[i], keys[i] = enc[n:len(enc):len(enc)], s.Index.keyOf(&events[i])
	}
	var rawLine []byte
	if raw != nil {
		b, err := json.Marshal(line{Kind: kindRaw, Raw: raw})
		if err != nil {
			return &Error{Kind: ErrInvalid, Op: "raw body", Err: err}
		}
		rawLine = append(b, '\n')
	}

	s.mu.Lock()
	var need uint64
	var out [][]byte
	p := pending{}
	s.Index.mu.RLock()
	for i := range events {
		k := keys[i]
		if s.Index.has(k) {
			continue
		}
		if q, ok := s.pendKeys[k]; ok {
			need = max(need, q) // 0: queued by this call already
			continue
		}
		out = append(out, lines[i])
		p.events, p.keys = append(p.events, events[i]), append(p.keys, k)
		s.pendKeys[k] = 0 // its sequence once queued, below
	}
	s.Index.mu.RUnlock()
	if rawLine != nil {
		out = append(out, rawLine)
		p.raw = &RawInfo{Provider: raw.Provider, Received: raw.Received, Reason: raw.Reason, Size: len(raw.Body)}
	}
	// Queue fails after a write error or Close even with nothing to queue
	// (every event already stored).
	seq, err := s.g.Queue(out...)
	if err != nil {
		for _, k := range p.keys {
			delete(s.pendKeys, k)
		}
		s.mu.Unlock()
		return err
	}
	if seq > 0 {
		p.seq, need = seq, seq
		s.pend = append(s.pend, p)
		for _, k := range p.keys {
			s.pendKeys[k] = seq
		}
	}
	s.mu.Unlock()
	return s.g.Wait(need)
}

// synced adds what became durable up to sequence upto to the Index, then
// forgets its keys (in that order, so a concurrent Append always finds an
// event in one or the other). It runs in the goroutine that did the
// write and fsync, before any Append it covers returns.
func (s *Store) synced(upto uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(s.pend) && s.pend[n].seq <= upto {
		n++
	}
	done := s.pend[:n]
	s.Index.mu.Lock()
	for _, p := range done {
		for _, e := range p.events {
			s.Index.applyLocked(e)
		}
		if p.raw != nil {
			s.Index.raws = append(s.Index.raws, *p.raw)
		}
	}
	s.Index.notifyLocked()
	s.Index.mu.Unlock()
	for _, p := range done {
		for _, k := range p.keys {
			delete(s.pendKeys, k)
		}
	}
	s.pend = slices.Delete(s.pend, 0, n)
}

// Err is the write error that stopped the store, if one did: once a write
// or fsync failed nothing more is acknowledged (Append fails), and the
// store must be reopened.
func (s *Store) Err() error { return s.g.Err() }

// Close writes what is queued, unlocks and closes the store. Closing it
// again does nothing; Append after Close fails.
func (s *Store) Close() error { return s.g.Close() }

// readLines indexes the complete lines of r. It returns the bytes consumed
// (up to the end of the last complete line), how many complete lines could
// not be read, and how many bytes follow the last newline (a torn or
// still-being-written line).
func readLines(r io.Reader, ix *Index) (consumed int64, corrupt int, tail int, err error) {
	br := bufio.NewReaderSize(r, 256*1024)
	ix.mu.Lock()
	defer func() {
		if consumed > 0 { // only news wakes those waiting on Changed
			ix.notifyLocked()
		}
		ix.mu.Unlock()
	}()
	for {
		b, rerr := br.ReadBytes('\n')
		if len(b) > 0 && b[len(b)-1] == '\n' {
			consumed += int64(len(b))
			if t := bytes.TrimSpace(b); len(t) > 0 {
				if !indexLine(ix, t) {
					corrupt++
				}
			}
		} else {
			tail = len(b)
		}
		if rerr == io.EOF {
			return consumed, corrupt, tail, nil
		}
		if rerr != nil {
			return consumed, corrupt, tail, rerr
		}
	}
}

// indexLine applies one store line; false when it is not a record.
func indexLine(ix *Index, b []byte) bool {
	var l line
	if json.Unmarshal(b, &l) != nil {
		return false
	}
	switch l.Kind {
	case kindStatus:
		if l.Event == nil || l.Event.MessageID == "" || !l.Event.Status.Valid() {
			return false
		}
		ix.applyLocked(*l.Event)
		return true
	case kindRaw:
		if l.Raw == nil {
			return false
		}
		ix.raws = append(ix.raws, RawInfo{Provider: l.Raw.Provider, Received: l.Raw.Received, Reason: l.Raw.Reason, Size: len(l.Raw.Body)})
		return true
	}
	return false
}

// Reader reads a store file another process writes, and indexes it. Call
// Refresh (or run Follow) to take in what was appended since.
type Reader struct {
	*Index
	path string

	mu  sync.Mutex
	off int64
	// Corrupt is how many complete lines could not be read.
	Corrupt int
}

// OpenReader reads the store file at path. The file must exist.
func OpenReader(path string) (*Reader, error) {
	r := &Reader{Index: newIndex(), path: path}
	if err := r.refresh(false); err != nil {
		return nil, err
	}
	return r, nil
}

// Path is the store's file name.
func (r *Reader) Path() string { return r.path }

// Refresh indexes the complete lines appended since the last read. A
// missing file is an error.
func (r *Reader) Refresh() error { return r.refresh(false) }

func (r *Reader) refresh(missingOK bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := grouplog.OpenRead(r.path)
	if err != nil {
		if missingOK && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return storeErr(r.path, err)
	}
	defer f.Close()
	if _, err := f.Seek(r.off, io.SeekStart); err != nil {
		return storeErr(r.path, err)
	}
	n, corrupt, _, err := readLines(f, r.Index)
	r.off += n
	r.Corrupt += corrupt
	if err != nil {
		return storeErr(r.path, err)
	}
	return nil
}

// Follow refreshes every interval until ctx is done (a file that does not
// exist yet is waited for). It returns ctx's error, or the first read
// error.
func (r *Reader) Follow(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := r.refresh(true); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
