package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/sandbox"
)

// distinctNotes writes n distinct compliant voice notes (1 s tones of
// different pitches, mono Ogg Opus at 16 kHz) into dir.
func distinctNotes(t *testing.T, dir string, n int) []string {
	t.Helper()
	var names []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("note%d.ogg", i)
		out, err := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
			"-i", fmt.Sprintf("sine=frequency=%d:sample_rate=16000:duration=1", 200+50*i),
			"-ac", "1", "-c:a", "libopus", "-b:a", "16k", "-y", filepath.Join(dir, name)).CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		names = append(names, name)
	}
	return names
}

// sandboxRequests counts the requests Meta's and 360dialog's APIs got.
func sandboxRequests(sb *sandbox.Server) int {
	return len(sb.Requests(sandbox.Meta)) + len(sb.Requests(sandbox.D360))
}

// Issue 13 item 4: Ctrl-C at a random point of a batch over distinct
// recordings, then a rerun: the provider received each recording exactly
// once (a graceful stop finishes the uploads in flight and the journal
// records them; the rerun sends those uploads instead of uploading
// again), and every recipient got exactly one message. 20 interrupted
// runs, each bounded in time.
func TestBatchInterruptedNeverUploadsTwice(t *testing.T) {
	needFFmpeg(t)
	bin := prepBinary(t)
	const (
		runs       = 20
		recordings = 6
		perRec     = 3 // rows (recipients) per recording
	)
	src := t.TempDir()
	notes := distinctNotes(t, src, recordings)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	deadline := time.Now().Add(4 * time.Minute)
	interrupted, uploadsAtStop := 0, 0
	for run := 0; run < runs; run++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d runs in the time allowed", run, runs)
		}
		sb := startSB(t, sandbox.Config{})
		for _, p := range []sandbox.Provider{sandbox.Meta, sandbox.D360} {
			// Each request takes a while, so the signal often lands with
			// uploads out.
			sb.SetFaults(p, sandbox.Faults{Latency: 25 * time.Millisecond})
		}
		dir := t.TempDir()
		var b strings.Builder
		b.WriteString("to,file,provider\n")
		for i, name := range notes {
			data, err := os.ReadFile(filepath.Join(src, name))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, name), data, 0o644)
			for k := 0; k < perRec; k++ {
				// One destination per recording: its upload count is 1.
				fmt.Fprintf(&b, "+4477009%02d%03d,%s,%s\n", run, i*perRec+k, name, []string{"meta", "360dialog"}[i%2])
			}
		}
		manifest := filepath.Join(dir, "m.csv")
		os.WriteFile(manifest, []byte(b.String()), 0o644)
		report := filepath.Join(dir, "r.jsonl")
		// Signal once the providers have seen `at` requests: 0 is at once,
		// up to every upload plus a few sends.
		at := rng.IntN(recordings + 4)
		code, out := runBatchProcessWhen(t, bin, sb, manifest, report, []syscall.Signal{syscall.SIGINT},
			func() bool { return sandboxRequests(sb) >= at })
		switch code {
		case exitSignal, -int(syscall.SIGINT): // the latter: before main set up its handler
			interrupted++
		case exitOK:
		default:
			t.Fatalf("run %d: exit %d\n%s", run, code, out)
		}
		stopUploads := len(sb.Media(sandbox.Meta)) + len(sb.Media(sandbox.D360))
		uploadsAtStop += stopUploads
		code, out = runBatchProcess(t, bin, sb, manifest, report, 0, 0)
		if code != exitOK {
			t.Fatalf("run %d: rerun exit %d\n%s", run, code, out)
		}
		uploads := len(sb.Media(sandbox.Meta)) + len(sb.Media(sandbox.D360))
		if uploads != recordings {
			t.Errorf("run %d (SIGINT at request %d, %d uploads by then): %d uploads for %d distinct recordings", run, at, stopUploads, uploads, recordings)
		}
		for to, msgs := range messagesByRecipient(sb) {
			if len(msgs) != 1 {
				t.Errorf("run %d: %s got %d messages", run, to, len(msgs))
			}
		}
		if n := len(sb.Messages()); n != recordings*perRec {
			t.Errorf("run %d: %d messages for %d rows", run, n, recordings*perRec)
		}
		sb.Close()
	}
	t.Logf("%d runs, %d interrupted by SIGINT (%d uploads done before the stops in all); every rerun: uploads == %d distinct recordings checked",
		runs, interrupted, uploadsAtStop, recordings)
	if interrupted < runs/2 {
		t.Errorf("only %d of %d runs were interrupted before they finished", interrupted, runs)
	}
}
