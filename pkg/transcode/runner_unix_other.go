//go:build unix && !linux

package transcode

import "syscall"

// dieWithParent: only Linux has a parent-death signal; elsewhere a prep
// killed outright leaves its ffmpeg to finish on its own.
func dieWithParent(*syscall.SysProcAttr) {}
