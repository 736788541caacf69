package testdeps

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// TestMissing runs a child test that calls Missing, with and without CI,
// and checks that it skipped (no CI) or failed (CI).
func TestMissing(t *testing.T) {
	if os.Getenv("TESTDEPS_CHILD") != "" {
		Missing(t, "widget not installed")
		return
	}
	for _, tt := range []struct {
		name   string
		ci     string
		failed bool
	}{
		{"no CI: skip", "", false},
		{"CI: fail", "true", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMissing$", "-test.v")
			cmd.Env = append(os.Environ(), "TESTDEPS_CHILD=1", "CI="+tt.ci)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tt.failed {
				t.Fatalf("failed = %v, want %v:\n%s", failed, tt.failed, out)
			}
			if !tt.failed && !bytes.Contains(out, []byte("--- SKIP")) {
				t.Fatalf("no skip reported:\n%s", out)
			}
		})
	}
}
