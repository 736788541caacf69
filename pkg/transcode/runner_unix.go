//go:build unix

package transcode

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts ffmpeg in its own process group and makes
// cancellation kill the whole group (kill(-pgid, SIGKILL)), so nothing
// ffmpeg started outlives it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
