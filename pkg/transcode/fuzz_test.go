package transcode

import (
	"math"
	"strings"
	"testing"

	"github.com/prep-audio/prep/pkg/inspect"
)

// FuzzPlan: no report, however odd, may panic the planner or the argument
// builder, and every voice transcode plan with a known duration must be
// predicted within its budget.
func FuzzPlan(f *testing.F) {
	f.Add("ogg", "opus", 1, 10.0, int64(40000), int64(32000), false, false, 0, false, false)
	f.Add("webm", "opus", 1, 30.0, int64(90000), int64(24000), true, false, 0, false, true)
	f.Add("wav", "pcm_s16le", 6, 1500.0, int64(48000044), int64(0), false, true, 24000, true, false)
	f.Add("", "", 0, math.Inf(1), int64(-1), int64(-5), true, true, 0, false, false)
	f.Fuzz(func(t *testing.T, container, codec string, ch int, dur float64, size, br int64, video, trunc bool, bitrate int, split, audio bool) {
		rep := &inspect.Report{Container: container, Codec: codec, Channels: ch, Duration: dur, Size: size, Bitrate: br, HasVideo: video, Truncated: trunc, Streams: 1, Problems: []inspect.Problem{}}
		rep.AudioReady = !video && !trunc && ch == 1
		rep.VoiceReady = rep.AudioReady && container == "ogg" && codec == "opus"
		o := Options{Bitrate: bitrate, Split: split}
		if audio {
			o = Options{Profile: ProfileAudio, Bitrate: bitrate}
		}
		tr, err := New(o)
		if err != nil {
			return
		}
		p, err := tr.Plan(rep)
		if err != nil {
			return
		}
		if p.Action == ActionPassthrough || p.Split {
			return
		}
		args, err := p.Args("/in/x", "/out/y", Segment{Start: math.Abs(dur) / 3})
		if err != nil {
			t.Fatalf("Args: %v", err)
		}
		if !strings.Contains(strings.Join(args, " "), " -map 0:a:0 ") {
			t.Fatalf("args without -map 0:a:0: %v", args)
		}
		if !audio && bitrate == 0 && p.Action == ActionTranscode && dur > 0 && !math.IsInf(dur, 0) && p.Estimate > p.Budget {
			t.Fatalf("estimate %d over budget %d for %.1f s", p.Estimate, p.Budget, dur)
		}
	})
}

// FuzzCutPoints: parts always cover the input in order, none over the
// limit, whatever silencedetect reports.
func FuzzCutPoints(f *testing.F) {
	f.Add(1500.0, 600.0, 590.0, 592.0, 1190.0, 1191.0)
	f.Add(10.0, 3.0, -1.0, 100.0, 2.5, 2.4)
	f.Fuzz(func(t *testing.T, dur, partMax, s1, e1, s2, e2 float64) {
		if dur <= 0 || partMax <= 0.5 || dur/partMax > 1000 || math.IsInf(dur, 0) || math.IsNaN(dur) || math.IsNaN(partMax) || math.IsInf(partMax, 0) {
			return
		}
		segs := cutPoints(dur, partMax, []silence{{s1, e1}, {s2, e2}})
		if len(segs) == 0 {
			t.Fatal("no segments")
		}
		pos := 0.0
		for i, s := range segs {
			if math.Abs(s.Start-pos) > 1e-6 || s.Dur <= 0 || s.Dur > partMax+1e-3 {
				t.Fatalf("segment %d = %+v (pos %.3f, max %.3f): %+v", i, s, pos, partMax, segs)
			}
			pos += s.Dur
		}
		if math.Abs(pos-dur) > 1e-6 {
			t.Fatalf("segments end at %.3f, want %.3f", pos, dur)
		}
	})
}

// FuzzSilenceField: the silencedetect line parser never panics and never
// returns a negative or non-finite time.
func FuzzSilenceField(f *testing.F) {
	f.Add("[silencedetect @ 0x1] silence_end: 3.94844 | silence_duration: 1.33106")
	f.Add("silence_start: -5")
	f.Add("silence_start: NaN")
	f.Fuzz(func(t *testing.T, line string) {
		for _, k := range []string{"silence_start:", "silence_end:"} {
			if v, ok := field(line, k); ok && (v < 0 || math.IsNaN(v) || math.IsInf(v, 0)) {
				t.Fatalf("field(%q) = %v", line, v)
			}
		}
	})
}
