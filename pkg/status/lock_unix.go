//go:build unix

package status

import (
	"errors"
	"os"
	"syscall"
)

// errLocked is wrapped when another process writes the store.
var errLocked = errors.New("in use by another prep receiver (locked)")

func lockFile(f *os.File) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return errLocked
		}
		return err
	}
	return nil
}

func unlockFile(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
