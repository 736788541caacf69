//go:build unix

package grouplog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OpenRead opens a regular file, reports a missing one as such, and
// refuses a FIFO (without waiting for a writer), a directory and a device.
func TestOpenRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "log")
	if err := os.WriteFile(file, []byte("a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		check      func(error) bool
	}{
		{"regular", file, func(err error) bool { return err == nil }},
		{"missing", filepath.Join(dir, "none"), func(err error) bool { return errors.Is(err, os.ErrNotExist) }},
		{"fifo", fifo, notRegular},
		{"directory", dir, notRegular},
		{"device", os.DevNull, notRegular},
	}
	for _, c := range cases {
		done := make(chan error, 1)
		go func() {
			f, err := OpenRead(c.path)
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !c.check(err) {
				t.Errorf("%s: OpenRead(%s) = %v", c.name, c.path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: OpenRead(%s) hung", c.name, c.path)
		}
	}
}

func notRegular(err error) bool {
	return err != nil && strings.Contains(err.Error(), "not a regular file")
}
