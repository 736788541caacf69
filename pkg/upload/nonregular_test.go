package upload

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckRefusesFIFO: a FIFO is refused at once, never opened for
// reading (issue 13, finding 1: open(2) of a FIFO blocks until a writer
// comes, and no signal ends it).
func TestCheckRefusesFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "note.ogg")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	done := make(chan error, 1)
	go func() {
		_, _, err := Check(context.Background(), File{Path: fifo})
		done <- err
	}()
	select {
	case err := <-done:
		var ie *inspect.Error
		require.True(t, errors.As(err, &ie), "%v", err)
		assert.Equal(t, inspect.KindNotRegular, ie.Kind)
		assert.Contains(t, err.Error(), "FIFO")
	case <-time.After(5 * time.Second):
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		t.Fatal("Check of a FIFO did not return within 5 s")
	}
}
