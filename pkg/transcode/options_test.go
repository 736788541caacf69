package transcode

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
)

// TestSplitSmallBudget exercises --split cheaply: with a 12 KB budget
// a 40 s recording cannot fit even at the floor, so it is cut into
// consecutive notes, preferably at the pauses of the speech-like signal.
func TestSplitSmallBudget(t *testing.T) {
	needFFmpeg(t)
	src := t.TempDir()
	in := gen(t, src, "talk.wav", append(speechLike(40, 16000), "-ac", "1")...)
	const budget = 12_000
	dir := t.TempDir()
	// Without Split: refused as too long, in the library's words (no CLI
	// flags: prep adds them when it prints).
	_, err := mustNew(t, Options{MaxBytes: budget}).ToDir(context.Background(), FileInput(in), dir)
	var te *Error
	if !errors.As(err, &te) || te.Kind != KindTooLong || strings.Contains(err.Error(), "--") {
		t.Errorf("refusal %v: want too_long without flag names", err)
	}
	tr := mustNew(t, Options{MaxBytes: budget, Split: true})
	res, err := tr.ToFile(context.Background(), FileInput(in), filepath.Join(dir, "talk.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	noTemps(t, dir)
	if len(res.Outputs) < 2 {
		t.Fatalf("%d outputs, want several parts", len(res.Outputs))
	}
	total := 0.0
	for i, o := range res.Outputs {
		if want := filepath.Join(dir, fmt.Sprintf("talk-part%d.ogg", i+1)); o.Path != want {
			t.Errorf("part %d is %s, want %s", i+1, o.Path, want)
		}
		rep := checkVoice(t, o.Path, budget, 0)
		total += rep.Duration
	}
	if math.Abs(total-40) > 0.1*float64(len(res.Outputs)) {
		t.Errorf("parts last %.2f s in all, want 40 s", total)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(res.Outputs) {
		t.Errorf("dir holds %d files for %d parts", len(ents), len(res.Outputs))
	}
	// Parts other than the last should end in a pause: the signal is
	// gated off while sin(2π·0.23·t) < -0.6, i.e. in windows of about
	// 0.9 s every 4.35 s.
	inPause := 0
	cum := 0.0
	for _, o := range res.Outputs[:len(res.Outputs)-1] {
		cum += o.Duration
		if math.Sin(2*math.Pi*0.23*cum) < -0.5 {
			inPause++
		}
	}
	if inPause != len(res.Outputs)-1 {
		t.Errorf("%d of %d cuts fell in a pause", inPause, len(res.Outputs)-1)
	}
}

// TestTrimAndNormalize: leading silence goes, the result is still a
// voice note.
func TestTrimAndNormalize(t *testing.T) {
	needFFmpeg(t)
	src := t.TempDir()
	// 2 s of silence, then 3 s of tone.
	in := gen(t, src, "lead.wav", "-f", "lavfi", "-i", "sine=f=440:r=16000:d=3", "-af", "adelay=2000,volume=0.1")
	for _, o := range []Options{{TrimSilence: true}, {Normalize: true}, {TrimSilence: true, Normalize: true}, {Profile: ProfileAudio, Normalize: true}} {
		t.Run(fmt.Sprintf("%s,trim=%v,normalize=%v", o.Profile, o.TrimSilence, o.Normalize), func(t *testing.T) {
			dir := t.TempDir()
			res, err := mustNew(t, o).ToDir(context.Background(), FileInput(in), dir)
			if err != nil {
				t.Fatal(err)
			}
			var rep *inspect.Report
			if o.Profile == ProfileAudio {
				rep, err = inspect.File(context.Background(), res.Outputs[0].Path)
				if err != nil || !rep.AudioReady || rep.SampleRate != 16000 {
					t.Fatalf("audio output: %v %+v", err, rep)
				}
			} else {
				rep = checkVoice(t, res.Outputs[0].Path, rules.VoiceMaxBytes, 0)
			}
			if rep.Duration < 2.9 || rep.Duration > 3.3 {
				t.Errorf("duration %.2f s, want the 3 s of tone without the 2 s of silence", rep.Duration)
			}
		})
	}
}

// TestBatchParallel runs distinct inputs two at a time and checks every
// result, and that Batch reports each job exactly once.
func TestBatchParallel(t *testing.T) {
	needFFmpeg(t)
	src := t.TempDir()
	var jobs []Job
	dir := t.TempDir()
	for i := 0; i < 4; i++ {
		p := gen(t, src, fmt.Sprintf("in%d.wav", i), "-f", "lavfi", "-i", fmt.Sprintf("sine=f=%d:r=16000:d=%d", 300+100*i, 1+i))
		jobs = append(jobs, Job{Input: FileInput(p), Dir: dir})
	}
	var mu sync.Mutex
	seen := map[int]int{}
	results := make([]*Result, len(jobs))
	mustNew(t, Options{}).Batch(context.Background(), jobs, 2, func(i int, r *Result, err error) {
		mu.Lock()
		defer mu.Unlock()
		seen[i]++
		if err != nil {
			t.Errorf("job %d: %v", i, err)
			return
		}
		results[i] = r
	})
	// Checked here, on the test's goroutine: checkVoice may call t.Fatal.
	// (That two jobs really overlap is measured by BenchmarkBatchJobs2.)
	for i := range jobs {
		if seen[i] != 1 {
			t.Errorf("job %d reported %d times", i, seen[i])
		}
		if results[i] != nil {
			checkVoice(t, results[i].Outputs[0].Path, rules.VoiceMaxBytes, float64(1+i))
		}
	}
}

// TestOutputToSelf: writing over the input (same path) works, because
// the output goes to a temporary file renamed at the end.
func TestOutputToSelf(t *testing.T) {
	needFFmpeg(t)
	src := t.TempDir()
	in := gen(t, src, "self.ogg", "-f", "lavfi", "-i", "sine=f=440:r=44100:d=2", "-c:a", "libvorbis")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := mustNew(t, Options{}).ToFile(ctx, FileInput(in), in); err != nil {
		t.Fatal(err)
	}
	rep, err := inspect.File(ctx, in)
	if err != nil || !rep.VoiceReady {
		t.Fatalf("%v %+v", err, rep)
	}
	noTemps(t, src)
}
