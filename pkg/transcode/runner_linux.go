//go:build linux

package transcode

import "syscall"

// dieWithParent asks the kernel to SIGKILL ffmpeg when the thread that
// started it ends (prctl PR_SET_PDEATHSIG): when prep is killed outright.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
