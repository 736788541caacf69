//go:build unix

package transcode

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts ffmpeg in its own process group and makes
// cancellation kill the whole group (kill(-pgid, SIGKILL)), so nothing
// ffmpeg started outlives it. Where the kernel offers it (Linux), ffmpeg
// also dies with prep: a prep killed with SIGKILL runs no cancellation,
// and an orphaned encode would go on holding prep's output pipes.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(cmd.SysProcAttr)
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
