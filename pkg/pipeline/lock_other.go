//go:build !unix

package pipeline

import "os"

// lockFile is a no-op where flock is unavailable: do not run two batches
// on one journal there.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}
