package transcode

import (
	"context"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// amrDTXSample writes an Android-style AMR recording with DTX (speech and
// silences coded as SID/NO_DATA) with the project's generator
// (internal/testgen/amr): frames × 20 ms long. mp4 remuxes it into 3GP.
func amrDTXSample(t testing.TB, dir, name string, wb bool, frames int, to3gp bool) string {
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
// (the 3 s sample: 2.5 s of samples under a 3 s granule).
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
	}{
		{"nb-10s.amr", false, 500, false},
		{"nb-3.02s.amr", false, 151, false}, // ends inside a DTX silence
		{"wb-10s.awb", true, 500, false},
		{"nb-10s.3gp", false, 500, true},
		{"wb-6s.3gp", true, 300, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := amrDTXSample(t, dir, c.name, c.wb, c.frames, c.to3gp)
			want := float64(c.frames) * 0.020
			ctx := context.Background()
			res, err := voice.ToDir(ctx, FileInput(in), t.TempDir())
			if err != nil {
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
