//go:build !unix

package grouplog

import "os"

// Lock is a no-op where flock is unavailable: do not let two processes
// write one file there.
func Lock(*os.File) error { return nil }

// Unlock is a no-op where flock is unavailable.
func Unlock(*os.File) {}
