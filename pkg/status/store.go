package status

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
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
	f    *os.File

	mu       sync.Mutex
	cond     *sync.Cond
	buf      []byte
	pend     []Event
	pendRaw  []RawInfo
	pendKeys map[eventKey]uint64 // event key → the sequence that carries it
	queued   uint64
	synced   uint64
	syncing  bool
	err      error // sticky: once a write failed, nothing more is acknowledged
	closed   bool

	// Corrupt is how many lines of the existing file could not be read (a
	// line torn by a crash mid-write); they are ignored.
	Corrupt int
}

var _ Sink = (*Store)(nil)

// OpenStore opens (creating it when missing) and locks the store file at
// path, and indexes what it already holds.
func OpenStore(path string) (*Store, error) {
	if err := regular(path, true); err != nil {
		return nil, storeErr(path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, storeErr(path, err)
	}
	if err := regularFile(f); err != nil {
		f.Close()
		return nil, storeErr(path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, storeErr(path, err)
	}
	s := &Store{Index: newIndex(), path: path, f: f, pendKeys: map[eventKey]uint64{}}
	s.cond = sync.NewCond(&s.mu)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, storeErr(path, err)
	}
	n, corrupt, torn, err := readLines(f, s.Index)
	if err != nil {
		f.Close()
		return nil, storeErr(path, err)
	}
	s.Corrupt = corrupt
	if torn > 0 {
		// A torn last line was being written when the writer died: it was
		// never acknowledged. Cut it so ours starts a line of its own.
		if err := f.Truncate(n); err != nil {
			f.Close()
			return nil, storeErr(path, err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, storeErr(path, err)
	}
	syncDir(filepath.Dir(path))
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
		enc = b
		lines[i], keys[i] = enc[n:len(enc):len(enc)], s.Index.keyOf(&events[i])
	}
	var rawLine []byte
	if raw != nil {
		b, err := json.Marshal(line{Kind: kindRaw, Raw: raw})
		if err != nil {
			return &Error{Kind: ErrInvalid, Op: "raw body", Err: err}
		}
		rawLine = b
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if s.closed {
		return storeErr(s.path, errClosed)
	}
	var need uint64
	s.buf = slices.Grow(s.buf, len(enc)+len(events)+len(rawLine)+1)
	s.Index.mu.RLock()
	for i := range events {
		k := keys[i]
		if s.Index.has(k) {
			continue
		}
		if q, ok := s.pendKeys[k]; ok {
			need = max(need, q)
			continue
		}
		s.queued++
		s.buf = append(s.buf, lines[i]...)
		s.buf = append(s.buf, '\n')
		s.pend = append(s.pend, events[i])
		s.pendKeys[k] = s.queued
		need = s.queued
	}
	s.Index.mu.RUnlock()
	if rawLine != nil {
		s.queued++
		s.buf = append(s.buf, rawLine...)
		s.buf = append(s.buf, '\n')
		s.pendRaw = append(s.pendRaw, RawInfo{Provider: raw.Provider, Received: raw.Received, Reason: raw.Reason, Size: len(raw.Body)})
		need = s.queued
	}
	return s.waitLocked(need)
}

// waitLocked waits until record seq is durable, doing the write and fsync
// itself when no other goroutine is (group commit, as pkg/pipeline's
// journal does). s.mu is held.
func (s *Store) waitLocked(seq uint64) error {
	for s.synced < seq {
		if s.err != nil {
			return s.err
		}
		if s.syncing {
			s.cond.Wait()
			continue
		}
		s.syncing = true
		buf, evs, raws, upto := s.buf, s.pend, s.pendRaw, s.queued
		s.buf, s.pend, s.pendRaw = nil, nil, nil
		s.mu.Unlock()
		_, err := s.f.Write(buf)
		if err == nil {
			err = s.f.Sync()
		}
		if err == nil {
			s.Index.mu.Lock()
			for _, e := range evs {
				s.Index.applyLocked(e)
			}
			s.Index.raws = append(s.Index.raws, raws...)
			s.Index.notifyLocked()
			s.Index.mu.Unlock()
		}
		s.mu.Lock()
		s.syncing = false
		for i := range evs {
			delete(s.pendKeys, s.Index.keyOf(&evs[i]))
		}
		if err != nil {
			s.err = storeErr(s.path, err)
		} else {
			s.synced = upto
		}
		s.cond.Broadcast()
	}
	return s.err
}

// Err is the write error that stopped the store, if one did: once a write
// or fsync failed nothing more is acknowledged (Append fails), and the
// store must be reopened.
func (s *Store) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close writes what is queued, unlocks and closes the store. Closing it
// again does nothing; Append after Close fails.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	err := s.waitLocked(s.queued)
	s.closed = true
	s.mu.Unlock()
	unlockFile(s.f)
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = storeErr(s.path, cerr)
	}
	return err
}

// readLines indexes the complete lines of r. It returns the bytes consumed
// (up to the end of the last complete line), how many complete lines could
// not be read, and how many bytes follow the last newline (a torn or
// still-being-written line).
func readLines(r io.Reader, ix *Index) (consumed int64, corrupt int, tail int, err error) {
	br := bufio.NewReaderSize(r, 256*1024)
	ix.mu.Lock()
	defer func() {
		ix.notifyLocked()
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

// regular refuses what is not a regular file before it is opened (a FIFO
// would block the open or the read, a device never end it). A missing file
// is fine when missingOK.
func regular(path string, missingOK bool) error {
	fi, err := os.Stat(path)
	if err != nil {
		if missingOK && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	return nil
}

// regularFile checks an opened file again (it may have been replaced).
func regularFile(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	return nil
}

// syncDir fsyncs a directory so a newly created file's entry survives a
// crash (best effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
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
	if err := regular(r.path, missingOK); err != nil {
		if missingOK && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return storeErr(r.path, err)
	}
	f, err := os.Open(r.path)
	if err != nil {
		return storeErr(r.path, err)
	}
	defer f.Close()
	if err := regularFile(f); err != nil {
		return storeErr(r.path, err)
	}
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
