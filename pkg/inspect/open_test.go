package inspect

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFileRefusesNonRegular: a FIFO, a device, a socket and a directory are
// refused promptly with KindNotRegular naming the file and what it is —
// before they are opened for reading (issue 13, finding 1: a FIFO blocked
// inspect in openat, where no signal ended it; /dev/zero was "empty").
func TestFileRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.ogg")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	sock := filepath.Join(dir, "s.ogg")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	defer l.Close()
	link := filepath.Join(dir, "link.ogg")
	require.NoError(t, os.Symlink(fifo, link))

	cases := []struct {
		name, path, what string
	}{
		{"fifo", fifo, "named pipe (FIFO)"},
		{"symlink to a fifo", link, "named pipe (FIFO)"},
		{"/dev/zero", "/dev/zero", "character device"},
		{"socket", sock, "socket"},
		{"directory", dir, "directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			type result struct {
				rep *Report
				err error
			}
			done := make(chan result, 1)
			go func() {
				rep, err := File(context.Background(), c.path)
				done <- result{rep, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(5 * time.Second):
				// Unblock the open so the test process can end.
				if w, err := os.OpenFile(c.path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
				t.Fatalf("inspect of %s did not return within 5 s", c.name)
			}
			var ie *Error
			require.True(t, errors.As(r.err, &ie), "want *Error, got %v", r.err)
			assert.Equal(t, KindNotRegular, ie.Kind, "%v", r.err)
			assert.Contains(t, r.err.Error(), c.path)
			assert.Contains(t, r.err.Error(), c.what)
			assert.NotContains(t, r.err.Error(), "empty")
			require.NotNil(t, r.rep)
			assert.True(t, r.rep.Has(CodeNotRegular), "%+v", r.rep.Problems)
			assert.False(t, r.rep.AudioReady)
		})
	}
}

func TestOpenRegular(t *testing.T) {
	p := filepath.Join("..", "..", "testdata", "ogg-opus-mono-48k-2s.ogg")
	f, st, err := OpenRegular(p)
	require.NoError(t, err)
	defer f.Close()
	assert.True(t, st.Mode().IsRegular())
	b := make([]byte, 4)
	_, err = f.ReadAt(b, 0)
	require.NoError(t, err)
	assert.Equal(t, "OggS", string(b))

	_, _, err = OpenRegular(filepath.Join(t.TempDir(), "missing.ogg"))
	var ie *Error
	require.True(t, errors.As(err, &ie))
	assert.Equal(t, KindUnreadable, ie.Kind)
	assert.True(t, errors.Is(err, os.ErrNotExist))
}
