package transcode

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/prep-audio/prep/pkg/inspect"
)

// TestUnknownDuration: AIFF is audio ffmpeg decodes but pkg/inspect does
// not parse, so the duration is unknown: the first encode runs at the cap,
// and being over budget, exactly one corrective encode fits it.
func TestUnknownDuration(t *testing.T) {
	needFFmpeg(t)
	src := t.TempDir()
	in := gen(t, src, "memo.aiff", append(speechLike(30, 16000), "-ac", "1", "-f", "aiff")...)
	if rep, err := inspect.File(context.Background(), in); err == nil && rep.Duration > 0 {
		t.Fatalf("inspect now reads AIFF (%.1f s): this test needs an input it cannot read; pick another", rep.Duration)
	}
	const budget = 50_000
	dir := t.TempDir()
	res, err := mustNew(t, Options{MaxBytes: budget}).ToDir(context.Background(), FileInput(in), dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Errorf("%d attempts, want 2 (cap, then corrected)", res.Attempts)
	}
	rep := checkVoice(t, res.Outputs[0].Path, budget, 30)
	if float64(rep.Size) < 0.9*budget {
		t.Errorf("corrected encode uses %d of %d bytes", rep.Size, budget)
	}
	noTemps(t, dir)

	// The same with a budget too small even for the floor: with --split
	// the measured duration sends it to the splitter.
	dir = t.TempDir()
	res, err = mustNew(t, Options{MaxBytes: 10_000, Split: true}).ToDir(context.Background(), FileInput(in), dir)
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for i, o := range res.Outputs {
		if want := filepath.Join(dir, fmt.Sprintf("memo-part%d.ogg", i+1)); o.Path != want {
			t.Errorf("part %s, want %s", o.Path, want)
		}
		total += checkVoice(t, o.Path, 10_000, 0).Duration
	}
	if len(res.Outputs) < 2 || math.Abs(total-30) > 0.2 {
		t.Errorf("%d parts lasting %.2f s, want several covering 30 s", len(res.Outputs), total)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(res.Outputs) {
		t.Errorf("dir holds %d files for %d parts", len(ents), len(res.Outputs))
	}
}
