//go:build unix

package transcode

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
)

// TestRefusesNonRegularFiles: a FIFO, a directory, a socket and character
// devices are refused (Kind not_regular_file, the inspect error found with
// errors.As) before anything opens them, and ffmpeg never runs. Before the
// fix inspect's refusal was ignored and ffmpeg was started on the path: on
// a FIFO it blocked in open(2) until killed; /dev/zero and /dev/urandom
// were decoded as raw data.
func TestRefusesNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.ogg")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.ogg")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.ogg")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// An ffmpeg that leaves a mark when it runs.
	mark := filepath.Join(dir, "ffmpeg-ran")
	fake := filepath.Join(dir, "ffmpeg")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\ntouch '"+mark+"'\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{fifo, sub, sock, "/dev/zero", "/dev/urandom", "/dev/null"} {
		t.Run(filepath.Base(in), func(t *testing.T) {
			for _, o := range []Options{{FFmpeg: fake}, {FFmpeg: fake, Profile: ProfileAudio}} {
				tr := mustNew(t, o)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				start := time.Now()
				_, err := tr.ToDir(ctx, FileInput(in), t.TempDir())
				cancel()
				var te *Error
				var ie *inspect.Error
				if !errors.As(err, &te) || te.Kind != KindNotRegular || !errors.As(err, &ie) || ie.Kind != inspect.KindNotRegular {
					t.Errorf("%s (%s): want a %s refusal, got %v", in, o.Profile, KindNotRegular, err)
				} else {
					t.Logf("%v", err)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("%s took %s", in, d)
				}
				if _, err := os.Stat(mark); err == nil {
					t.Errorf("%s: ffmpeg ran", in)
					os.Remove(mark)
				}
			}
		})
	}
}

// TestReadNoteRefusesFIFO: the whole-note reader (the granule check and
// the repack read the source with it, after inspect looked at the path) is
// refused a path swapped for a FIFO at once, instead of waiting in open(2)
// for a writer. Before the fix it used os.Open and hung here.
func TestReadNoteRefusesFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "note.ogg")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := readNote(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		var ie *inspect.Error
		if !errors.As(err, &ie) || ie.Kind != inspect.KindNotRegular {
			t.Errorf("readNote(FIFO) = %v, want an inspect %s refusal", err, inspect.KindNotRegular)
		}
	case <-time.After(5 * time.Second):
		// Unblock the open so the test process can end.
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		t.Fatal("readNote of a FIFO did not return within 5 s")
	}
}
