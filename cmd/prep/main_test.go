package main

import (
	"bytes"
	"context"
	"testing"
)

// runCLI runs prep in-process with the given environment and returns what
// it printed and the exit code main would use.
func runCLI(t *testing.T, environ map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string { return environ[k] }}
	err := run(context.Background(), e, args)
	return out.String(), errb.String(), exitCode(err)
}

func TestUsage(t *testing.T) {
	if _, _, code := runCLI(t, nil); code != exitUsage {
		t.Errorf("no args: exit %d, want %d", code, exitUsage)
	}
	if _, _, code := runCLI(t, nil, "nope"); code != exitUsage {
		t.Errorf("unknown command: exit %d, want %d", code, exitUsage)
	}
	out, _, code := runCLI(t, nil, "help")
	if code != exitOK || !bytes.Contains([]byte(out), []byte("inspect")) {
		t.Errorf("help: exit %d, output %q", code, out)
	}
}
