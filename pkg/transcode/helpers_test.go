package transcode

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
)

// needFFmpeg skips tests that run ffmpeg when it is not installed, and
// fails them under CI (make deps installs it).
func needFFmpeg(t testing.TB) {
	t.Helper()
	testdeps.Tool(t, "ffmpeg", "make deps installs it")
}

// gen makes a test input with ffmpeg: args are everything between the
// global options and the output path.
func gen(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	full := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)
	full = append(full, out)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if b, err := exec.CommandContext(ctx, "ffmpeg", full...).CombinedOutput(); err != nil {
		t.Fatalf("generating %s: %v: %s", name, err, b)
	}
	return out
}

// speechLike is a lavfi source that behaves like a voice memo for the
// encoder: a gliding harmonic voice with syllable-rate amplitude
// modulation and pauses, over a little pink noise (seeded: the same
// samples every run, so the encoder's choices are the same every run).
func speechLike(dur float64, rate int) []string {
	d := strings.TrimRight(strings.TrimRight(secs(dur), "0"), ".")
	r := itoa(rate)
	return []string{
		"-f", "lavfi", "-i", "aevalsrc='0.3*(sin(2*PI*(120+20*sin(2*PI*0.5*t))*t)+0.5*sin(4*PI*(120+20*sin(2*PI*0.5*t))*t)+0.3*sin(6*PI*(120+20*sin(2*PI*0.5*t))*t))*(0.5+0.5*sin(2*PI*3*t))*gt(sin(2*PI*0.23*t),-0.6)':s=" + r + ":d=" + d,
		"-f", "lavfi", "-i", "anoisesrc=c=pink:r=" + r + ":a=0.02:seed=1:d=" + d,
		"-filter_complex", "[0][1]amix=inputs=2:duration=shortest",
	}
}

func itoa(i int) string { return strings.TrimSpace(strings.Replace(secs(float64(i)), ".000", "", 1)) }

// checkVoice inspects an output on its own and checks it is a voice note
// within budget with about the source's duration (srcDur 0: unchecked),
// and that opusinfo finds nothing wrong with it.
func checkVoice(t testing.TB, path string, budget int64, srcDur float64) *inspect.Report {
	t.Helper()
	rep, err := inspect.File(context.Background(), path)
	if err != nil {
		t.Fatalf("inspect %s: %v", path, err)
	}
	if rep.Container != rules.Voice().Container || rep.Codec != rules.Voice().Codec || rep.Channels != 1 {
		t.Errorf("%s is %s/%s %d ch, want mono Ogg Opus", path, rep.Container, rep.Codec, rep.Channels)
	}
	if rep.Size > budget {
		t.Errorf("%s is %d bytes, over %d", path, rep.Size, budget)
	}
	if srcDur > 0 && math.Abs(rep.Duration-srcDur) > 0.06+0.01*srcDur {
		t.Errorf("%s lasts %.3f s, source %.3f s", path, rep.Duration, srcDur)
	}
	if filepath.Ext(path) != rules.Voice().Ext {
		t.Errorf("%s: want extension %s", path, rules.Voice().Ext)
	}
	// Every note passes Xiph's validator with no warning.
	opusinfoClean(t, path)
	return rep
}

// noTemps fails if dir holds anything but the expected outputs.
func noTemps(t testing.TB, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") || strings.HasPrefix(e.Name(), ".prep-in-") {
			t.Errorf("temporary file left behind: %s", filepath.Join(dir, e.Name()))
		}
	}
}

func mustNew(t testing.TB, o Options) *Transcoder {
	t.Helper()
	tr, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
