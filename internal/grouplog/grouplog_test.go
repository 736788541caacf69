package grouplog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "log: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

func open(t *testing.T, path string, synced func(uint64)) *File {
	t.Helper()
	g, err := Open(path, Options{Perm: 0o600, Synced: synced, Wrap: func(err error) error { return &wrapped{err} }})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Every record a Wait acknowledged is in the file, whole, and the Synced
// hook saw its sequence before Wait returned; concurrent appenders share
// commits.
func TestConcurrentAppendersDurableAfterWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var hooked atomic.Uint64
	var commits atomic.Int64
	g := open(t, path, func(upto uint64) {
		commits.Add(1)
		if upto > hooked.Load() {
			hooked.Store(upto)
		}
	})
	const writers, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				seq, err := g.Queue([]byte(fmt.Sprintf("w%d-%d", w, i)), []byte("\n"))
				if err != nil {
					errs <- err
					return
				}
				if err := g.Wait(seq); err != nil {
					errs <- err
					return
				}
				if h := hooked.Load(); h < seq {
					errs <- fmt.Errorf("Wait(%d) returned before the hook saw it (hook at %d)", seq, h)
					return
				}
				// Durable: another handle on the file sees the record.
				b, err := os.ReadFile(path)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Contains(b, []byte(fmt.Sprintf("w%d-%d\n", w, i))) {
					errs <- fmt.Errorf("record w%d-%d missing after Wait", w, i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != writers*each {
		t.Fatalf("%d lines, want %d", len(lines), writers*each)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l] {
			t.Errorf("line %q twice", l)
		}
		seen[l] = true
	}
	if c := commits.Load(); c < 1 || c > writers*each {
		t.Errorf("%d commits for %d records", c, writers*each)
	}
	t.Logf("%d records in %d group commits", writers*each, commits.Load())
}

type failWriter struct{ calls int }

func (w *failWriter) Write(p []byte) (int, error) {
	w.calls++
	return 0, errors.New("disk on fire")
}

// After a failed write nothing more is acknowledged: Wait, Queue, Flush,
// Err and Close all return the same wrapped error, and the hook never ran.
func TestStickyErrorAfterFailedWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	hooked := false
	g := open(t, path, func(uint64) { hooked = true })
	fw := &failWriter{}
	g.w = fw // an injected failing writer: a real disk error is not reproducible here
	seq, err := g.Queue([]byte("a\n"))
	if err != nil {
		t.Fatal(err)
	}
	werr := g.Wait(seq)
	var we *wrapped
	if !errors.As(werr, &we) || !strings.Contains(werr.Error(), "disk on fire") {
		t.Fatalf("Wait = %v, want the wrapped write error", werr)
	}
	for name, err := range map[string]error{
		"Wait again": g.Wait(seq),
		"Flush":      g.Flush(),
		"Err":        g.Err(),
	} {
		if err != werr {
			t.Errorf("%s = %v, want the sticky %v", name, err, werr)
		}
	}
	if _, err := g.Queue([]byte("b\n")); err != werr {
		t.Errorf("Queue after failure = %v, want the sticky %v", err, werr)
	}
	if err := g.Close(); err != werr {
		t.Errorf("Close = %v, want the sticky %v", err, werr)
	}
	if fw.calls != 1 {
		t.Errorf("%d writes, want 1 (no retry after failure)", fw.calls)
	}
	if hooked {
		t.Error("Synced hook ran for a failed write")
	}
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("file holds %q", b)
	}
}

func TestOpenLockedRegularClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	g := open(t, path, nil)
	if runtime.GOOS != "windows" && runtime.GOOS != "plan9" {
		_, err := Open(path, Options{})
		if !errors.Is(err, ErrLocked) {
			t.Errorf("second Open = %v, want ErrLocked", err)
		}
	}
	if seq, err := g.Queue(); seq != 0 || err != nil {
		t.Errorf("empty Queue = %d, %v", seq, err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := g.Queue([]byte("x\n")); !errors.Is(err, ErrClosed) {
		t.Errorf("Queue after Close = %v, want ErrClosed", err)
	}
	// Unlocked by Close: another Open takes the lock.
	g2 := open(t, path, nil)
	g2.Close()
	if _, err := os.Stat(os.DevNull); err == nil && runtime.GOOS != "windows" {
		if _, err := Open(os.DevNull, Options{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Open(%s) = %v, want not a regular file", os.DevNull, err)
		}
	}
}
