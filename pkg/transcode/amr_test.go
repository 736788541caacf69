package transcode

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// amrDTXSample writes an Android-style AMR recording with DTX (speech and
// silences coded as SID/NO_DATA) with the project's generator
// (internal/testgen/amr): frames × 20 ms long, runs the generator's -runs
// (speech:silence frame counts, "" its default 25:25). to3gp remuxes it
// into 3GP.
func amrDTXSample(t testing.TB, dir, name string, wb bool, frames int, to3gp bool, runs ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	raw := out
	if to3gp {
		raw += ".amr"
	}
	mode := "7"
	if wb {
		mode = "2"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"run", "../../internal/testgen/amr", "-dtx", "-mode", mode, "-frames", strconv.Itoa(frames), "-seed", "7", "-o", raw}
	if wb {
		args = append(args, "-wb")
	}
	if len(runs) > 0 && runs[0] != "" {
		args = append(args, "-runs", runs[0])
	}
	if b, err := exec.CommandContext(ctx, "go", args...).CombinedOutput(); err != nil {
		t.Fatalf("testgen/amr: %v: %s", err, b)
	}
	if to3gp {
		gen(t, dir, name, "-i", raw, "-c", "copy")
	}
	return out
}

// TestAMRDTXOnce: AMR with DTX, as .amr/.awb and in 3GP, encodes in one
// ffmpeg run with no warning, and the note decodes (libopus) to the
// recording's length, frames × 20 ms, within 60 ms; opusinfo finds nothing
// (checkVoice). Before the DTX plan these took 2 runs and came out short
// (the 3 s sample: 2.5 s of samples under a 3 s granule). The mostly-DTX
// recordings (more than ffmpeg's default max_error_rate, 2/3, of frames
// SID/NO_DATA) failed outright with exit status 69 before the DTX plan
// passed -max_error_rate 1, and reported 0 attempts.
func TestAMRDTXOnce(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	voice := mustNew(t, Options{})
	audio := mustNew(t, Options{Profile: ProfileAudio})
	for _, c := range []struct {
		name   string
		wb     bool
		frames int
		to3gp  bool
		runs   string
	}{
		{"nb-10s.amr", false, 500, false, ""},
		{"nb-3.02s.amr", false, 151, false, ""}, // ends inside a DTX silence
		{"wb-10s.awb", true, 500, false, ""},
		{"nb-10s.3gp", false, 500, true, ""},
		{"wb-6s.3gp", true, 300, true, ""},
		{"nb-12s-mostly-dtx.amr", false, 600, false, "50:500:50"}, // 50 speech, 500 DTX, 50 speech
		{"nb-12s-mostly-dtx.3gp", false, 600, true, "50:500:50"},
		{"wb-12s-mostly-dtx.awb", true, 600, false, "50:500:50"},
		{"nb-60s-3s-speech-7s-silence.amr", false, 3000, false, "150:350"},
		{"nb-4s-all-dtx.amr", false, 200, false, "0:1"},
		{"nb-4s-all-dtx.3gp", false, 200, true, "0:1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := amrDTXSample(t, dir, c.name, c.wb, c.frames, c.to3gp, c.runs)
			want := float64(c.frames) * 0.020
			ctx := context.Background()
			res, err := voice.ToDir(ctx, FileInput(in), t.TempDir())
			if err != nil {
				var te *Error
				if errors.As(err, &te) && te.Attempts == 0 {
					t.Errorf("the failed encode reports 0 attempts, but ffmpeg ran")
				}
				t.Fatal(err)
			}
			if res.Attempts != 1 || res.Warning != "" || !res.Plan.DTX {
				t.Errorf("%d attempts, warning %q, DTX plan %v", res.Attempts, res.Warning, res.Plan.DTX)
			}
			out := res.Outputs[0].Path
			checkVoice(t, out, 512_000, want)
			got := float64(len(decodeLibopus(t, out))) / 2 / 48000
			if math.Abs(got-want) > 0.060 {
				t.Errorf("decoded %.3f s, the recording is %d frames = %.3f s", got, c.frames, want)
			}
			t.Logf("%s: decoded %.3f s for %.3f s (Δ %+.0f ms), %d run", c.name, got, want, 1000*(got-want), res.Attempts)

			ra, err := audio.ToDir(ctx, FileInput(in), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			// AMR-NB in .amr is accepted WhatsApp audio: passed through.
			if ra.Action != ActionPassthrough && (ra.Attempts != 1 || ra.Warning != "") || math.Abs(ra.Outputs[0].Duration-want) > 0.060+0.05 {
				t.Errorf("audio: %d attempts, warning %q, %.3f s for %.3f s", ra.Attempts, ra.Warning, ra.Outputs[0].Duration, want)
			}
		})
	}
}

// TestFailedEncodeCountsAttempts: an encode that fails after ffmpeg ran
// says how many runs it made (Error.Attempts), where it said 0 before (the
// failed result had none to report). The ffmpeg here is a script that
// fails like ffmpeg on undecodable input: a strict run, then a lenient one.
func TestFailedEncodeCountsAttempts(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	in := gen(t, dir, "tone.wav", "-f", "lavfi", "-i", "sine=f=440:d=1:r=16000")
	fake := filepath.Join(dir, "ffmpeg")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'Error while decoding stream #0:0: Invalid data found when processing input' >&2\nexit 69\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tr := mustNew(t, Options{FFmpeg: fake})
	_, err := tr.ToDir(context.Background(), FileInput(in), t.TempDir())
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("want a *Error, got %v", err)
	}
	if te.Attempts != 2 {
		t.Errorf("Attempts = %d after a strict and a lenient run (kind %s: %v)", te.Attempts, te.Kind, err)
	}
}
