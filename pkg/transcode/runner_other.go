//go:build !unix

package transcode

import "os/exec"

// setProcessGroup: without process groups, exec kills ffmpeg itself.
func setProcessGroup(cmd *exec.Cmd) {}
