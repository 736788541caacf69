//go:build unix

package transcode

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
)

// benchSignals is the varied set of the fit-rate benchmark: what a voice
// note may hold, from speech to the worst case for VBR (a pure tone and
// white noise) and near-silence.
func benchSignals(dur float64) map[string][]string {
	d := secs(dur)
	return map[string][]string{
		"speech": append(speechLike(dur, 16000), "-ac", "1"),
		"tone":   {"-f", "lavfi", "-i", "sine=f=440:r=48000:d=" + d},
		"chord":  {"-f", "lavfi", "-i", "aevalsrc='0.2*sin(2*PI*261*t)+0.2*sin(2*PI*329*t)+0.2*sin(2*PI*392*t)':s=44100:d=" + d, "-ac", "2"},
		"pink":   {"-f", "lavfi", "-i", "anoisesrc=seed=7:c=pink:r=44100:a=0.3:d=" + d},
		"white":  {"-f", "lavfi", "-i", "anoisesrc=seed=7:c=white:r=48000:a=0.5:d=" + d},
		"hush":   {"-f", "lavfi", "-i", "anoisesrc=seed=7:c=brown:r=16000:a=0.003:d=" + d},
	}
}

// BenchmarkFitRate encodes the varied set over a range of durations and
// budgets and reports the share that fit on the first encode and, where
// the budget (not the 32 kbit/s cap) bounds the bitrate, the share of the
// budget used. To keep it affordable, long memos are scaled: D seconds
// with budget B is planned like 10·D seconds with 10·B (same bitrate).
func BenchmarkFitRate(b *testing.B) {
	needFFmpeg(b)
	src := b.TempDir()
	type point struct {
		dur    float64
		budget int64
	}
	points := []point{
		{5, rules.VoiceMaxBytes}, {64, rules.VoiceMaxBytes}, // the cap binds
		{13, 51_200}, {15, 51_200}, {20, 51_200}, {30, 51_200}, {45, 51_200}, {60, 51_200}, // 130–600 s memos, scaled
		{20, 25_600}, {40, 102_400}, // other budgets
	}
	inputs := map[string]string{}
	for _, pt := range points {
		for name, args := range benchSignals(pt.dur) {
			key := fmt.Sprintf("%s-%gs", name, pt.dur)
			if _, ok := inputs[key]; !ok {
				inputs[key] = gen(b, src, key+".wav", args...)
			}
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		total, first, bound := 0, 0, 0
		minUse, sumUse := 1.0, 0.0
		for _, pt := range points {
			tr := mustNew(b, Options{MaxBytes: pt.budget})
			for name := range benchSignals(pt.dur) {
				key := fmt.Sprintf("%s-%gs", name, pt.dur)
				dir := b.TempDir()
				res, err := tr.ToDir(context.Background(), FileInput(inputs[key]), dir)
				if err != nil {
					b.Fatalf("%s @ %d: %v", key, pt.budget, err)
				}
				total++
				if res.Attempts == 1 {
					first++
				} else {
					b.Logf("%s @ %d bytes: %d attempts", key, pt.budget, res.Attempts)
				}
				if res.Plan.Bitrate < tr.Options().MaxBitrate {
					bound++
					use := float64(res.Outputs[0].Bytes) / float64(pt.budget)
					sumUse += use
					minUse = min(minUse, use)
				}
			}
		}
		b.ReportMetric(100*float64(first)/float64(total), "first-try-%")
		b.ReportMetric(float64(total), "inputs")
		if bound > 0 {
			b.ReportMetric(float64(bound), "budget-bound")
			b.ReportMetric(100*sumUse/float64(bound), "budget-use-mean-%")
			b.ReportMetric(100*minUse, "budget-use-min-%")
		}
	}
}

// BenchmarkMemo64s compares prep on one 64 s memo (mono AAC M4A, as
// phones record) with one bare ffmpeg Opus encode of the same file, both
// timed in every iteration, alternating, to share the machine's noise.
// "bare" is `ffmpeg -i memo.m4a -c:a libopus out.ogg` (libopus defaults);
// "bare-same" adds prep's encoder settings (-ac 1 -ar 16000 -b:a 32k
// -application voip), so the difference is prep's own overhead.
func BenchmarkMemo64s(b *testing.B) {
	needFFmpeg(b)
	src := b.TempDir()
	memo := gen(b, src, "memo.m4a", append(speechLike(64, 44100), "-ac", "1", "-c:a", "aac", "-b:a", "64k")...)
	tr := mustNew(b, Options{})
	bare := func(extra ...string) (time.Duration, time.Duration) {
		args := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", memo}, extra...)
		args = append(args, "-c:a", "libopus", filepath.Join(b.TempDir(), "bare.ogg"))
		start, cpu0 := time.Now(), cpuTime()
		if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		return time.Since(start), cpuTime() - cpu0
	}
	var tPrep, tBare, tSame, cPrep, cBare, cSame time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start, cpu0 := time.Now(), cpuTime()
		res, err := tr.ToDir(context.Background(), FileInput(memo), b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		tPrep += time.Since(start)
		cPrep += cpuTime() - cpu0
		if res.Attempts != 1 {
			b.Errorf("%d attempts", res.Attempts)
		}
		w, c := bare()
		tBare, cBare = tBare+w, cBare+c
		w, c = bare("-ac", "1", "-ar", "16000", "-b:a", "32k", "-application", "voip")
		tSame, cSame = tSame+w, cSame+c
	}
	n := float64(b.N)
	b.ReportMetric(float64(tPrep.Milliseconds())/n, "prep-ms")
	b.ReportMetric(float64(tBare.Milliseconds())/n, "bare-ms")
	b.ReportMetric(float64(tSame.Milliseconds())/n, "bare-same-ms")
	b.ReportMetric(float64(tPrep)/float64(tBare), "x-bare")
	b.ReportMetric(float64(tPrep)/float64(tSame), "x-bare-same")
	// CPU time (own + children, user+sys) is steadier than wall time on a
	// shared machine.
	b.ReportMetric(float64(cPrep.Milliseconds())/n, "prep-cpu-ms")
	b.ReportMetric(float64(cSame.Milliseconds())/n, "bare-same-cpu-ms")
	b.ReportMetric(float64(cPrep)/float64(cBare), "cpu-x-bare")
	b.ReportMetric(float64(cPrep)/float64(cSame), "cpu-x-bare-same")
}

// cpuTime is the user+sys time of this process and its waited-for
// children.
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

// BenchmarkBatchJobs2 transcodes six distinct 30 s files with two
// workers and one after another, alternating, and reports the ratio.
func BenchmarkBatchJobs2(b *testing.B) {
	needFFmpeg(b)
	src := b.TempDir()
	var paths []string
	for i := 0; i < 6; i++ {
		args := append(speechLike(30, 16000+8000*(i%2)), "-ac", fmt.Sprint(1+i%2))
		paths = append(paths, gen(b, src, fmt.Sprintf("in%d.wav", i), args...))
	}
	tr := mustNew(b, Options{})
	runAll := func(workers int) time.Duration {
		dir := b.TempDir()
		jobs := make([]Job, len(paths))
		for i, p := range paths {
			jobs[i] = Job{Input: FileInput(p), Dir: dir}
		}
		start := time.Now()
		tr.Batch(context.Background(), jobs, workers, func(i int, r *Result, err error) {
			if err != nil {
				b.Errorf("%s: %v", paths[i], err)
			}
		})
		return time.Since(start)
	}
	var seq, par time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate which goes first, so drifting load hits both alike.
		if i%2 == 0 {
			seq += runAll(1)
			par += runAll(2)
		} else {
			par += runAll(2)
			seq += runAll(1)
		}
	}
	b.ReportMetric(float64(seq.Milliseconds())/float64(b.N), "seq-ms")
	b.ReportMetric(float64(par.Milliseconds())/float64(b.N), "jobs2-ms")
	b.ReportMetric(float64(par)/float64(seq), "x-seq")
}

// BenchmarkAMRDTX measures the CPU (prep + ffmpeg) of one Android-style
// 60 s AMR-NB recording with DTX, as a voice note: "before" is the old
// plan (strict -xerror run fails at the first SID frame, a lenient second
// run encodes what ffmpeg can decode), "after" the DTX plan (one run).
func BenchmarkAMRDTX(b *testing.B) {
	needFFmpeg(b)
	dir := b.TempDir()
	in := amrDTXSample(b, dir, "memo.amr", false, 3000, false)
	tr := mustNew(b, Options{})
	for _, mode := range []string{"before", "after"} {
		b.Run(mode, func(b *testing.B) {
			var cpu time.Duration
			runs, decoded := 0, 0.0
			for i := 0; i < b.N; i++ {
				n, c, d := encodeAMRBench(b, tr, in, dir, mode == "before")
				runs, cpu, decoded = runs+n, cpu+c, decoded+d
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(runs)/float64(b.N), "ffmpeg-runs/op")
			// What the note holds: before, only the speech (SID/NO_DATA
			// frames dropped); after, the whole minute.
			b.ReportMetric(decoded/float64(b.N), "note-samples-s")
		})
	}
}

// encodeAMRBench encodes in once as a voice note, the DTX plan switched
// off for "before"; it returns the ffmpeg runs, the CPU they and prep took
// and the seconds of audio the note really holds (libopus decode, not
// counted).
func encodeAMRBench(b *testing.B, tr *Transcoder, in, dir string, before bool) (int, time.Duration, float64) {
	ctx := context.Background()
	c0 := cpuTime()
	j := &job{t: tr, name: in, src: in}
	defer j.cleanup()
	rep, err := inspect.File(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	p, err := tr.Plan(rep)
	if err != nil {
		b.Fatal(err)
	}
	if before {
		p.DTX = false
	}
	tmp, err := j.newTemp(dir, "bench-*.ogg")
	if err != nil {
		b.Fatal(err)
	}
	e, err := j.encodeVerified(ctx, p, rep, tmp, Segment{})
	if err != nil {
		b.Fatal(err)
	}
	cpu := cpuTime() - c0
	b.StopTimer()
	defer b.StartTimer()
	return e.attempts, cpu, float64(len(decodeLibopus(b, tmp))) / 2 / 48000
}
