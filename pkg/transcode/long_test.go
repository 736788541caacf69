package transcode

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
)

// The 25-minute encodes take minutes of CPU on a shared machine, so they
// run only with: go test ./pkg/transcode -run Long -long
var long = flag.Bool("long", false, "run the 25-minute transcodes (slow)")

// long25 makes a 25-minute recording quickly: 20 s of 8 kHz speech-like
// audio, looped.
func long25(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	seed := gen(t, dir, "seed.wav", append(speechLike(20, 8000), "-ac", "1")...)
	return gen(t, dir, "lecture.wav", "-stream_loop", "-1", "-i", seed, "-t", "1500", "-c", "copy")
}

// TestLong25MinRefused needs no encode: the plan refuses, naming the
// three ways out.
func TestLong25MinRefused(t *testing.T) {
	needFFmpeg(t)
	in := long25(t)
	dir := t.TempDir()
	_, err := mustNew(t, Options{}).ToDir(context.Background(), FileInput(in), dir)
	var te *Error
	if !errors.As(err, &te) || te.Kind != KindTooLong {
		t.Fatalf("err = %v, want too_long", err)
	}
	if strings.Contains(err.Error(), "--") {
		t.Errorf("%q names CLI flags (prep adds them, not the library)", err)
	}
	noTemps(t, dir)
}

func TestLong25MinSplit(t *testing.T) {
	if !*long {
		t.Skip("slow: run with -long")
	}
	needFFmpeg(t)
	in := long25(t)
	srcDur := sourceDuration(t, in)
	dir := t.TempDir()
	res, err := mustNew(t, Options{Split: true}).ToDir(context.Background(), FileInput(in), dir)
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for i, o := range res.Outputs {
		if want := filepath.Join(dir, fmt.Sprintf("lecture-part%d.ogg", i+1)); o.Path != want {
			t.Errorf("part %s, want %s", o.Path, want)
		}
		total += checkVoice(t, o.Path, rules.VoiceMaxBytes, 0).Duration
		t.Logf("%s: %d bytes, %.1f s", filepath.Base(o.Path), o.Bytes, o.Duration)
	}
	if len(res.Outputs) < 3 || math.Abs(total-srcDur) > 0.5 {
		t.Errorf("%d parts, %.2f s in all; want ≥ 3 covering %.2f s", len(res.Outputs), total, srcDur)
	}
	noTemps(t, dir)
}

func TestLong25MinOversizeAndAudio(t *testing.T) {
	if !*long {
		t.Skip("slow: run with -long")
	}
	needFFmpeg(t)
	in := long25(t)
	srcDur := sourceDuration(t, in)
	for _, o := range []Options{{AllowOversize: true}, {Profile: ProfileAudio}} {
		dir := t.TempDir()
		res, err := mustNew(t, o).ToDir(context.Background(), FileInput(in), dir)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := inspect.File(context.Background(), res.Outputs[0].Path)
		if err != nil || !rep.AudioReady || math.Abs(rep.Duration-srcDur) > 0.5 {
			t.Errorf("%s: %v %+v", o.Profile, err, rep)
		}
		t.Logf("%s: %s %d bytes %.1f s, %d attempts", o.Profile, filepath.Base(rep.Path), rep.Size, rep.Duration, res.Attempts)
	}
}

// sourceDuration is the input's duration as pkg/inspect reads it (the
// looped file runs a little past 25 minutes: -stream_loop with -c copy
// stops at a packet boundary).
func sourceDuration(t *testing.T, p string) float64 {
	t.Helper()
	rep, err := inspect.File(context.Background(), p)
	if err != nil || rep.Duration < 1499 {
		t.Fatalf("source: %v %+v", err, rep)
	}
	return rep.Duration
}
