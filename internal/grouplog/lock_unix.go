//go:build unix

package grouplog

import (
	"errors"
	"os"
	"syscall"
)

// Lock takes an exclusive, non-blocking advisory lock (flock) on f:
// ErrLocked when another process holds it.
func Lock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrLocked
	}
	return err
}

// Unlock releases Lock's lock.
func Unlock(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
