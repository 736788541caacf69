package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 13 finding 1 for manifests: `prep batch --manifest` on a FIFO (a
// named pipe, or a shell's process substitution) or a device is refused
// before it is opened for reading, exit 2 — before the fix the FIFO's open
// blocked and neither SIGTERM nor SIGINT ended the process (this test sends
// SIGTERM after a second and kills it after 10 s), and /dev/zero grew the
// process's memory without bound.
func TestBatchManifestNotRegularFileExits2(t *testing.T) {
	bin := prepBinary(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "m.csv")
	mkfifo(t, fifo)
	cases := map[string]struct{ path, want string }{
		"a FIFO":      {fifo, "named pipe"},
		"/dev/zero":   {"/dev/zero", "character device"},
		"a directory": {dir, "directory"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, "batch", "--provider", "meta", "--manifest", c.path)
			cmd.Env = append(os.Environ(), "PREP_SANDBOX_URL=", "PREP_PROVIDER=")
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stderr, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			term := time.AfterFunc(time.Second, func() { cmd.Process.Signal(syscall.SIGTERM) })
			kill := time.AfterFunc(10*time.Second, func() {
				t.Errorf("prep batch --manifest %s still running 9 s after SIGTERM: killed", c.path)
				cmd.Process.Kill()
			})
			err := cmd.Wait()
			term.Stop()
			kill.Stop()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != exitUsage || !strings.Contains(stderr.String(), c.want) || !strings.Contains(stderr.String(), "regular file") {
				t.Errorf("exit %d, want %d with a refusal saying %q:\n%s", code, exitUsage, c.want, stderr.String())
			}
		})
	}
}

// Issue 13 finding 7: a manifest without a row (a header alone) is an input
// error — exit 2 with "no rows" on stderr, nothing done — where before it
// exited 1 with no message at all.
func TestBatchManifestWithoutRowsExits2(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"empty.csv": "to,file\n", "blank.csv": "to,file,provider\n\n\n", "empty.jsonl": "\n"} {
		t.Run(name, func(t *testing.T) {
			manifest := filepath.Join(dir, name)
			if err := os.WriteFile(manifest, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := runCLI(t, nil, "batch", "--provider", "meta", "--manifest", manifest)
			_, _, err, _ := runCLIErr(t, "batch", "--provider", "meta", "--manifest", manifest)
			if code != exitUsage || err == nil || !strings.Contains(err.Error(), "no rows") || !strings.Contains(err.Error(), manifest) {
				t.Errorf("exit %d, err %v; want %d naming %s with no rows\nstdout %s\nstderr %s", code, err, exitUsage, manifest, stdout, stderr)
			}
			if _, err := os.Stat(manifest + ".journal"); err == nil {
				t.Errorf("a journal was created for a manifest without rows")
			}
		})
	}
}
