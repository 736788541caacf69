// Package grouplog is a durable, append-only file written with group
// commit: the one implementation behind pkg/pipeline's batch journal and
// pkg/status's webhook store.
//
// A File is opened, checked to be a regular file and locked exclusively
// (flock where the platform has it). Callers queue whole records (bytes
// they format themselves, newline included) and wait for them: one
// goroutine writes and fsyncs everything queued so far while the others
// wait, so many concurrent appenders share one write and one fsync. A
// failed write or fsync is sticky: nothing queued afterwards is ever
// acknowledged, and the file must be reopened.
//
// The record format, replay and indexing stay with the callers: they read
// and repair the file through OS before the first Queue.
package grouplog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"syscall"
)

// ErrLocked is returned (through the wrap function given to Open) when
// another process holds the file's lock.
var ErrLocked = errors.New("locked by another process")

// ErrClosed is returned (through the wrap function) by Queue after Close.
var ErrClosed = errors.New("closed")

// File is an append-only, locked file with group commit. Its methods are
// safe for concurrent use.
type File struct {
	f    *os.File
	w    io.Writer // f, or a test's writer
	wrap func(error) error
	// synced is called by the goroutine that made records durable, with
	// the sequence they reach, before any waiter returns.
	synced func(upto uint64)

	mu      sync.Mutex
	cond    *sync.Cond
	buf     []byte
	queued  uint64 // sequence of the last Queue
	done    uint64 // sequence durable so far
	syncing bool
	err     error // sticky write or fsync error (wrapped)
	closed  bool
}

// Options tune Open.
type Options struct {
	// Perm is the mode of a file created by Open.
	Perm os.FileMode
	// Wrap turns every error File returns into the caller's error type
	// (ErrLocked and ErrClosed included, so the caller can map them). A
	// nil Wrap returns errors as they are.
	Wrap func(error) error
	// Synced, when set, is called after each successful write and fsync
	// with the sequence now durable, by the goroutine that did them and
	// before any Wait it covers returns. It runs without File's lock
	// held, so it may take the caller's locks (never call File's methods
	// from it).
	Synced func(upto uint64)
}

// Open opens path for appending (creating it with o.Perm when missing),
// refuses what is not a regular file (a FIFO would block a replay, a
// device never end it) and takes an exclusive, non-blocking lock on it
// (ErrLocked when another process holds it). Every error is passed
// through o.Wrap.
func Open(path string, o Options) (*File, error) {
	wrap := o.Wrap
	if wrap == nil {
		wrap = func(err error) error { return err }
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, o.Perm)
	if err != nil {
		return nil, wrap(err)
	}
	if err := CheckRegular(f); err != nil {
		f.Close()
		return nil, wrap(err)
	}
	if err := Lock(f); err != nil {
		f.Close()
		return nil, wrap(err)
	}
	g := &File{f: f, w: f, wrap: wrap, synced: o.Synced}
	g.cond = sync.NewCond(&g.mu)
	return g, nil
}

// CheckRegular returns an error when f is not a regular file.
func CheckRegular(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	return nil
}

// OpenRead opens path for reading and refuses what is not a regular file
// (CheckRegular). It opens without blocking, so a FIFO is refused rather
// than waited on for a writer; a regular file reads as usual.
func OpenRead(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if err := CheckRegular(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// OS is the open file, for the caller's replay and repair (read,
// truncate, end a last line, fsync) before the first Queue. Writing to it
// once records are queued would interleave with group commits.
func (g *File) OS() *os.File { return g.f }

// Queue appends the parts of b (copied: whole records, newlines
// included) to what the next group commit writes, as one sequence, and
// returns it for Wait. It fails with the sticky error, or ErrClosed after
// Close. With no bytes it queues nothing and returns 0: a check that the
// file still takes records.
func (g *File) Queue(b ...[]byte) (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return 0, g.err
	}
	if g.closed {
		return 0, g.wrap(ErrClosed)
	}
	n := 0
	for _, p := range b {
		n += len(p)
	}
	if n == 0 {
		return 0, nil
	}
	g.buf = slices.Grow(g.buf, n)
	for _, p := range b {
		g.buf = append(g.buf, p...)
	}
	g.queued++
	return g.queued, nil
}

// Wait returns once the records of sequence seq (and every earlier one)
// are written and fsync'd, doing the write and fsync itself when no other
// goroutine is (group commit). It returns the sticky error when a write
// or fsync failed.
func (g *File) Wait(seq uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waitLocked(seq)
}

// Flush makes everything queued so far durable.
func (g *File) Flush() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waitLocked(g.queued)
}

// waitLocked is Wait with g.mu held.
func (g *File) waitLocked(seq uint64) error {
	for g.done < seq {
		if g.err != nil {
			return g.err
		}
		if g.syncing {
			g.cond.Wait()
			continue
		}
		g.syncing = true
		buf, upto := g.buf, g.queued
		g.buf = nil
		g.mu.Unlock()
		_, err := g.w.Write(buf)
		if err == nil {
			err = g.f.Sync()
		}
		if err == nil && g.synced != nil {
			g.synced(upto)
		}
		g.mu.Lock()
		g.syncing = false
		if err != nil {
			g.err = g.wrap(err)
		} else {
			g.done = upto
		}
		g.cond.Broadcast()
	}
	return g.err
}

// Err is the sticky write or fsync error, if one stopped the file.
func (g *File) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Close flushes what is queued, unlocks and closes the file and returns
// the first error. Closing it again does nothing; Queue after Close fails.
func (g *File) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	err := g.waitLocked(g.queued)
	g.closed = true
	g.mu.Unlock()
	Unlock(g.f)
	if cerr := g.f.Close(); err == nil && cerr != nil {
		err = g.wrap(cerr)
	}
	return err
}

// SyncDir fsyncs a directory so a newly created file's entry survives a
// crash (best effort).
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
