package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/status"
)

// hostileName is a file name with a newline and a terminal escape sequence.
const hostileName = "a\nXYZZY\x1b[31m.ogg"

// checkNoRawControls fails when human output carries a raw escape or
// carriage return, or a line that starts with the part of the name after
// its newline (the name broke its line).
func checkNoRawControls(t *testing.T, what, out string) {
	t.Helper()
	if strings.ContainsAny(out, "\x1b\r") {
		t.Errorf("%s: a raw escape or carriage return in the output:\n%q", what, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "XYZZY") || strings.HasPrefix(l, "WYZZY") {
			t.Errorf("%s: a file name broke its line:\n%q", what, out)
		}
	}
}

// Issue 13 finding 7: a file name with a newline or an escape sequence is
// quoted on every human-output line that prints it (prep batch's table,
// prep transcode, prep upload, prep run, errors), not printed raw — before,
// only prep inspect quoted it, and these lines split or drove the terminal.
func TestFileNamesWithControlCharactersAreQuoted(t *testing.T) {
	dir := t.TempDir()
	note := filepath.Join(dir, hostileName)
	copyVoiceNote(t, note)
	missing := filepath.Join(dir, "c\nWYZZY\x1b]0;title\a.ogg")
	sb := startSB(t, sandbox.Config{})

	t.Run("batch", func(t *testing.T) {
		manifest := filepath.Join(dir, "m.csv")
		f, err := os.Create(manifest)
		if err != nil {
			t.Fatal(err)
		}
		w := csv.NewWriter(f)
		w.WriteAll([][]string{{"to", "file", "provider"}, {"+447700900001", hostileName, "meta"}, {"+447700900002", filepath.Base(missing), "meta"}})
		f.Close()
		out, errOut, code := runCLI(t, nil, "batch", "--sandbox", sb.URL(), "--manifest", manifest)
		if code != exitFailed {
			t.Fatalf("exit %d, want 1 (one row's file is missing)\n%s\n%s", code, out, errOut)
		}
		checkNoRawControls(t, "batch", out+errOut)
		if !strings.Contains(out, strconv.Quote(hostileName)) {
			t.Errorf("the batch table does not show %s quoted:\n%s", strconv.Quote(hostileName), out)
		}
	})
	t.Run("upload", func(t *testing.T) {
		env := map[string]string{"WHATSAPP_ACCESS_TOKEN": "sandbox", "WHATSAPP_API_URL": sb.MetaURL()}
		out, errOut, code := runCLI(t, env, "upload", "--to", "meta", "--no-cache", "--phone-number-id", "106540352242922", note, missing)
		if code != exitFailed {
			t.Fatalf("exit %d, want 1 (one file missing)\n%s\n%s", code, out, errOut)
		}
		checkNoRawControls(t, "upload", out+errOut)
		if !strings.Contains(out, strconv.Quote(note)) {
			t.Errorf("upload does not show %s quoted:\n%s", strconv.Quote(note), out)
		}
	})
	t.Run("transcode", func(t *testing.T) {
		testdeps.Tool(t, "ffmpeg", "make deps")
		out, errOut, code := runCLI(t, nil, "transcode", "--out-dir", t.TempDir(), note, missing)
		if code != exitFailed {
			t.Fatalf("exit %d, want 1 (one file missing)\n%s\n%s", code, out, errOut)
		}
		checkNoRawControls(t, "transcode", out+errOut)
		if !strings.Contains(out, strconv.Quote(note)) {
			t.Errorf("transcode does not show %s quoted:\n%s", strconv.Quote(note), out)
		}
	})
	t.Run("run", func(t *testing.T) {
		testdeps.Tool(t, "ffmpeg", "make deps")
		out, errOut, _ := runCLI(t, nil, "run", "--sandbox", sb.URL(), "--provider", "meta", "--to", "+447700900003", note)
		checkNoRawControls(t, "run", out+errOut)
		if !strings.Contains(out, strconv.Quote(note)) {
			t.Errorf("run does not show %s quoted:\n%s\n%s", strconv.Quote(note), out, errOut)
		}
		out, errOut, _ = runCLI(t, nil, "run", "--sandbox", sb.URL(), "--provider", "meta", "--to", "+447700900003", missing)
		checkNoRawControls(t, "run, a missing file", out+errOut)
	})
}

func TestEscapeControls(t *testing.T) {
	for in, want := range map[string]string{
		"plain é text":         "plain é text",
		"a\nb\x1b[31m.ogg":     `a\nb\x1b[31m.ogg`,
		"cr\rbell\a\x9b":       `cr\rbell\a\x9b`,
		"c1 \u009b":            `c1 \u009b`,
		"bad \xff utf8":        `bad \xff utf8`,
		"tab\tkept? no, esc'd": `tab\tkept? no, esc'd`,
	} {
		if got := escapeControls(in); got != want {
			t.Errorf("escapeControls(%q) = %q, want %q", in, got, want)
		}
	}
}

// A webhook body's message id and error text are the sender's bytes:
// prep webhooks prints each event on one line of its own, with no
// terminal escape sequence. (Before: a message id "x\x1b[2J\n2026… forged"
// cleared the terminal and printed a second, forged event line.)
func TestWebhookEventLinesEscapeControls(t *testing.T) {
	var out strings.Builder
	p := &eventPrinter{human: &out}
	at := time.Date(2026, 3, 18, 10, 0, 0, 0, time.UTC)
	p.stored(status.Infobip, []status.Event{
		{Provider: status.Infobip, MessageID: "x\x1b[2J\n2026-03-18T10:00:00Z infobip   read      forged", Status: status.Delivered, Time: at},
		{Provider: status.Meta, MessageID: "wamid.1", Status: status.Failed, Time: at,
			Error: &status.Failure{Code: 131053, Title: "Media\rupload\x07error", Advice: "re-upload"}},
	}, nil)
	p.rejected(status.Meta, 401, "bad signature \x1b]0;title\x07")
	got := out.String()
	if n := strings.Count(got, "\n"); n != 3 {
		t.Errorf("%d lines for 3 events, want 3:\n%s", n, got)
	}
	if strings.ContainsAny(got, "\x1b\r\x07") {
		t.Errorf("control characters printed: %q", got)
	}
	if !strings.Contains(got, `"x\x1b[2J\n2026`) {
		t.Errorf("the message id is not shown quoted: %q", got)
	}
}
