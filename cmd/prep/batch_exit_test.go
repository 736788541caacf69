package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/send"
)

// runCLIErr runs prep in process and returns what main would print: the
// outputs, the error and the exit code.
func runCLIErr(t *testing.T, args ...string) (stdout, stderr string, err error, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	err = run(context.Background(), e, args)
	return out.String(), errb.String(), err, exitCode(err)
}

// oneRowBatch writes a one-row manifest over the sample voice note.
func oneRowBatch(t *testing.T, dir string) string {
	t.Helper()
	copyVoiceNote(t, filepath.Join(dir, "a.ogg"))
	manifest := filepath.Join(dir, "m.csv")
	if err := os.WriteFile(manifest, []byte("to,file,provider\n+447700900001,a.ogg,meta\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return manifest
}

// Issue 13 finding 7: a journal that cannot be used means nothing was done:
// exit 2 (the README's "nothing done"), not 1, and no message leaves.
func TestBatchUnusableJournalExits2(t *testing.T) {
	sb := startSB(t, sandbox.Config{})
	dir := t.TempDir()
	manifest := oneRowBatch(t, dir)
	locked := filepath.Join(dir, "locked.journal")
	j, _, err := pipeline.OpenJournal(locked)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	fifo := filepath.Join(dir, "fifo.journal")
	mkfifo(t, fifo)
	cases := map[string]string{
		"locked by another batch": locked,
		"in a missing directory":  filepath.Join(dir, "no", "such", "j"),
		"a directory":             dir,
		"a FIFO":                  fifo,
		"a device":                "/dev/full",
	}
	for name, journal := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err, code := runCLIErr(t, "batch", "--sandbox", sb.URL(), "--manifest", manifest, "--journal", journal)
			if code != exitUsage || err == nil || !strings.Contains(err.Error(), "journal") {
				t.Errorf("exit %d (%v), want %d naming the journal", code, err, exitUsage)
			}
		})
	}
	if n := len(sb.Messages()); n != 0 {
		t.Errorf("%d messages sent without a usable journal", n)
	}
}

// Issue 13 finding 4 through the CLI: a damaged journal stops the batch
// (exit 2, the line named, nothing sent); --journal-corrupt unknown goes on
// with the rows it may have recorded in doubt (exit 1, nothing resent).
func TestBatchCorruptJournalCLI(t *testing.T) {
	sb := startSB(t, sandbox.Config{})
	dir := t.TempDir()
	manifest := oneRowBatch(t, dir)
	if _, errOut, _, code := runCLIErr(t, "batch", "--sandbox", sb.URL(), "--manifest", manifest); code != exitOK {
		t.Fatalf("first run: exit %d\n%s", code, errOut)
	}
	journal := manifest + ".journal"
	b, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	// Zero the sent line (keeping its newline), as a disk or an editor may.
	lines := bytes.SplitAfter(b, []byte("\n"))
	bad := 0
	for i, l := range lines {
		if bytes.Contains(l, []byte(`"state":"sent"`)) {
			copy(l, bytes.Repeat([]byte{0}, len(l)-1))
			bad = i + 1
		}
	}
	if bad == 0 {
		t.Fatalf("no sent line in\n%s", b)
	}
	os.WriteFile(journal, bytes.Join(lines, nil), 0o644)
	_, _, err, code := runCLIErr(t, "batch", "--sandbox", sb.URL(), "--manifest", manifest)
	if code != exitUsage || err == nil || !strings.Contains(err.Error(), fmt.Sprintf("line %d", bad)) || !strings.Contains(err.Error(), "--journal-corrupt") {
		t.Errorf("damaged journal: exit %d, %v; want %d naming line %d", code, err, exitUsage, bad)
	}
	out, errOut, _, code := runCLIErr(t, "batch", "--sandbox", sb.URL(), "--manifest", manifest, "--journal-corrupt", "unknown")
	if code != exitFailed || !strings.Contains(out, "unknown") {
		t.Errorf("--journal-corrupt unknown: exit %d, want %d\n%s\n%s", code, exitFailed, out, errOut)
	}
	if n := len(sb.Messages()); n != 1 {
		t.Errorf("%d messages, want 1: the row of the damaged line was resent", n)
	}
}

// Issue 13 finding 7: a batch-level error (the journal failed mid-run, e.g.
// no space left on device) is a diagnostic on stderr, not part of stdout's
// report; a report that could not be written is not announced on stdout.
func TestShowBatchErrorsGoToStderr(t *testing.T) {
	res := &pipeline.BatchResult{
		Rows:    []pipeline.RowResult{{Row: 2, To: "+447700900001", File: "a.ogg", Provider: send.Meta, Status: pipeline.StatusSkipped, Error: "not sent: the journal could not be written"}},
		Summary: pipeline.Summary{Rows: 1, Counts: map[pipeline.Status]int{pipeline.StatusSkipped: 1}, Error: "journal j: write j: no space left on device"},
	}
	dir := t.TempDir()
	for _, asJSON := range []bool{false, true} {
		var out, errb bytes.Buffer
		e := &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
		report := filepath.Join(dir, "missing", "r.jsonl")
		reportErr, err := showBatch(e, "batch", res, "j", report, asJSON)
		if err != nil || reportErr == nil {
			t.Fatalf("json %v: report error %v, stdout error %v", asJSON, reportErr, err)
		}
		if strings.Contains(out.String(), "no space left") && !asJSON {
			t.Errorf("the journal's error is on stdout:\n%s", out.String())
		}
		if !strings.Contains(errb.String(), "no space left on device") || !strings.Contains(errb.String(), "report:") {
			t.Errorf("json %v: stderr lacks the journal or report error:\n%s", asJSON, errb.String())
		}
		if strings.Contains(out.String(), "report: "+report) {
			t.Errorf("json %v: stdout announces a report that was not written:\n%s", asJSON, out.String())
		}
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}
