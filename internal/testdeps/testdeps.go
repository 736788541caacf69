// Package testdeps is for the tests that need a tool (ffmpeg, ffprobe,
// opusinfo, chromium), a server (S3, NATS) or a file outside the
// repository: without it such a test skips on a developer's machine, and
// fails under CI (the CI environment variable set), saying what is missing
// — so no CI run can pass by skipping. make test installs all of them.
package testdeps

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// CI reports whether the tests run under CI (the CI environment variable is
// set), where nothing a test needs may be missing.
func CI() bool { return os.Getenv("CI") != "" }

// Missing ends t for a missing dependency: t.Fatal under CI, t.Skip
// otherwise. The message says what is missing and how to get it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("%s (CI is set: a missing dependency fails the test)", msg)
	}
	t.Skip(msg)
}

// Tool returns the path of the named program, or ends t with Missing when it
// is not on PATH; install says how to get it.
func Tool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not installed (%s)", name, install)
	}
	return p
}
