package transcode

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/inspect/codec"
	"github.com/prep-audio/prep/pkg/transcode/internal/oggopus"

	"github.com/prep-audio/prep/internal/testdeps"
)

// needTool skips a test when a tool is missing, and fails it under CI
// (make test installs every tool the tests need).
func needTool(t testing.TB, name string) {
	t.Helper()
	testdeps.Tool(t, name, "make test installs it")
}

// opusinfoClean runs Xiph's opusinfo (opus-tools) on a note and fails on
// any warning or error, e.g. "Sample count behind granule".
func opusinfoClean(t testing.TB, path string) {
	t.Helper()
	needTool(t, "opusinfo")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "opusinfo", path).CombinedOutput()
	low := strings.ToLower(string(out))
	if err != nil || strings.Contains(low, "warning") || strings.Contains(low, "error") {
		t.Errorf("opusinfo %s: %v\n%s", filepath.Base(path), err, out)
	}
}

// decodeLibopus decodes a note with libopus, the reference decoder, to
// 48 kHz s16le (ffmpeg's native Opus decoder differs in the last bits
// across packet boundaries, so it is not the judge of identity).
func decodeLibopus(t testing.TB, path string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-c:a", "libopus", "-i", fileURL(path), "-f", "s16le", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pcm, err := cmd.Output()
	if err != nil {
		t.Fatalf("decoding %s with libopus: %v: %s", path, err, stderr.String())
	}
	return pcm
}

// parseNote reads a note's Ogg Opus stream.
func parseNote(t testing.TB, path string) *oggopus.Stream {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := oggopus.Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// checkNative checks a natively packed note: every audio packet code 3,
// at most 60 ms, full (3 frames of 20 ms) unless it is the last or the
// next has another configuration; granules count the samples. It returns
// the configurations seen (packets per config).
func checkNative(t testing.TB, s *oggopus.Stream) map[int]int {
	t.Helper()
	configs := map[int]int{}
	samples := int64(0)
	for i, a := range s.Audio {
		p, err := codec.ParseOpusPacket(a.Data)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		configs[int(p.TOC.Config)]++
		if p.TOC.Code != 3 || p.Samples() > oggopus.MaxPacketSamples {
			t.Errorf("packet %d: code %d, %d frames", i, p.TOC.Code, len(p.Frames))
		}
		if i < len(s.Audio)-1 {
			next, _ := codec.ParseOpusPacket(s.Audio[i+1].Data)
			if next.TOC.Config == p.TOC.Config && p.Samples() < oggopus.MaxPacketSamples {
				t.Errorf("packet %d: %d frames, not full", i, len(p.Frames))
			}
		}
		samples += int64(p.Samples())
		// A page's granule is the samples of the packets completed up to
		// its end (RFC 7845 §4).
		endsPage := i == len(s.Audio)-1 || s.Audio[i+1].Granule != a.Granule
		if !a.Last && (endsPage && a.Granule != samples || a.Granule < samples) {
			t.Errorf("packet %d: page granule %d, samples so far %d", i, a.Granule, samples)
		}
	}
	if last := s.Audio[len(s.Audio)-1].Granule; last > samples {
		t.Errorf("final granule %d ahead of the %d samples", last, samples)
	}
	return configs
}

// TestPackingPCMIdentical encodes a table of inputs with one frame a
// packet and natively packed, and checks that libopus decodes both to the
// same samples, byte for byte, with the same duration and final granule,
// and the native note's shape: every packet code 3 with three 20 ms frames
// (the last of a run possibly fewer), always; and the TOC configurations
// libopus 1.3.1 chooses, as measured (pkg/transcode/README.md, "TOC
// configuration"): SILK WB (9) on every packet for silence and noise at
// the cap and for everything at planned CBR bitrates of 10 kbit/s and
// more; at the 32 kbit/s cap what libopus hears as music may be CELT WB
// (23): most of a tone, and a few packets of a long speech memo (at least
// 95 % stay config 9: 1,050 of 1,069 in one draw of the memo's noise); and
// SILK NB (1) on every packet below 10 kbit/s (the planner goes there for
// memos over about 386 s; ffmpeg exposes no way to force WB).
func TestPackingPCMIdentical(t *testing.T) {
	needFFmpeg(t)
	needTool(t, "opusinfo")
	src := t.TempDir()
	for _, c := range []struct {
		name    string
		args    []string
		bitrate int     // a planned CBR bitrate (--bitrate); 0: the plan's (the cap here)
		configs []int   // the TOC configurations every audio packet must have one of
		min9    float64 // with 23 allowed: the least share of config 9 packets
	}{
		{"speech-2s-16k", speechLike(2, 16000), 0, []int{9, 23}, 0.95},
		{"speech-20s-48k", speechLike(20, 48000), 0, []int{9, 23}, 0.95},
		{"speech-64s-44k", speechLike(64, 44100), 0, []int{9, 23}, 0.95},
		{"speech-5s-8k", speechLike(5, 8000), 0, []int{9, 23}, 0.95},
		{"speech-5s-12k", speechLike(5, 12000), 0, []int{9, 23}, 0.95},
		{"speech-5s-24k", speechLike(5, 24000), 0, []int{9, 23}, 0.95},
		{"silence-5s-16k", []string{"-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "5"}, 0, []int{9}, 1},
		{"noise-5s-48k", []string{"-f", "lavfi", "-i", "anoisesrc=seed=7:c=white:r=48000:a=0.3:d=5"}, 0, []int{9}, 1},
		{"tone-3s-16k", []string{"-f", "lavfi", "-i", "sine=f=440:sample_rate=16000:d=3"}, 0, []int{9, 23}, 0},
		{"tone-3s-16k-cbr10k", []string{"-f", "lavfi", "-i", "sine=f=440:sample_rate=16000:d=3"}, 10000, []int{9}, 1},
		{"speech-5s-48k-cbr10k", speechLike(5, 48000), 10000, []int{9}, 1},
		{"speech-5s-48k-cbr9.6k", speechLike(5, 48000), 9600, []int{1}, 0},
		{"speech-5s-48k-cbr6.8k", speechLike(5, 48000), 6800, []int{1}, 0},
	} {
		single := mustNew(t, Options{Packing: PackingSingle, Bitrate: c.bitrate, VBR: vbrFor(c.bitrate)})
		native := mustNew(t, Options{Bitrate: c.bitrate, VBR: vbrFor(c.bitrate)})
		t.Run(c.name, func(t *testing.T) {
			in := gen(t, src, c.name+".wav", c.args...)
			ctx := context.Background()
			dir := t.TempDir()
			rs, err := single.ToFile(ctx, FileInput(in), filepath.Join(dir, "single.ogg"))
			if err != nil {
				t.Fatal(err)
			}
			rn, err := native.ToFile(ctx, FileInput(in), filepath.Join(dir, "native.ogg"))
			if err != nil {
				t.Fatal(err)
			}
			if rn.Attempts != 1 || rn.Plan.Packing != PackingNative || rs.Plan.Packing != PackingSingle {
				t.Errorf("native: %d attempts, packing %q / %q", rn.Attempts, rn.Plan.Packing, rs.Plan.Packing)
			}
			sp, np := rs.Outputs[0].Path, rn.Outputs[0].Path
			a, b := decodeLibopus(t, sp), decodeLibopus(t, np)
			if !bytes.Equal(a, b) {
				t.Errorf("libopus decodes the repacked note differently: %d vs %d bytes of PCM", len(a), len(b))
			}
			if rs.Outputs[0].Duration != rn.Outputs[0].Duration {
				t.Errorf("duration %.6f s single, %.6f s native", rs.Outputs[0].Duration, rn.Outputs[0].Duration)
			}
			ss, ns := parseNote(t, sp), parseNote(t, np)
			if g1, g2 := ss.Audio[len(ss.Audio)-1].Granule, ns.Audio[len(ns.Audio)-1].Granule; g1 != g2 || ss.Head.PreSkip != ns.Head.PreSkip {
				t.Errorf("final granule %d single, %d native; pre-skip %d, %d", g1, g2, ss.Head.PreSkip, ns.Head.PreSkip)
			}
			if rn.Outputs[0].Bytes > rn.Plan.Estimate || rn.Outputs[0].Bytes > rs.Outputs[0].Bytes {
				t.Errorf("native %d bytes: over the plan's %d or the single note's %d", rn.Outputs[0].Bytes, rn.Plan.Estimate, rs.Outputs[0].Bytes)
			}
			configs := checkNative(t, ns)
			total := 0
			for cfg, n := range configs {
				total += n
				if !slices.Contains(c.configs, cfg) {
					t.Errorf("TOC configs %v: want only %v", configs, c.configs)
				}
			}
			if share := float64(configs[9]) / float64(max(total, 1)); share < c.min9 {
				t.Errorf("TOC configs %v: %.1f%% config 9, want at least %.0f%%", configs, 100*share, 100*c.min9)
			}
			opusinfoClean(t, np)
			t.Logf("%s: single %d bytes, native %d bytes (%+.2f%%), %d → %d packets, configs %v",
				c.name, rs.Outputs[0].Bytes, rn.Outputs[0].Bytes, 100*float64(rn.Outputs[0].Bytes-rs.Outputs[0].Bytes)/float64(rs.Outputs[0].Bytes), len(ss.Audio), len(ns.Audio), configs)
		})
	}
}

// TestPackingCompliantNotes: a compliant note of one SILK frame a packet
// is repacked (no ffmpeg run, same samples); a native note and a CELT note
// pass through byte for byte; Reencode re-encodes; PackingSingle passes
// through.
func TestPackingCompliantNotes(t *testing.T) {
	needFFmpeg(t)
	ctx := context.Background()
	dir := t.TempDir()
	in := gen(t, dir, "memo.wav", speechLike(4, 16000)...)
	single := filepath.Join(dir, "single.ogg")
	if _, err := mustNew(t, Options{Packing: PackingSingle}).ToFile(ctx, FileInput(in), single); err != nil {
		t.Fatal(err)
	}
	celt := "../../testdata/ogg-opus-mono-48k-2s.ogg"
	for _, c := range []struct {
		name   string
		opts   Options
		in     string
		action Action
		same   bool // byte-identical output
	}{
		{"single-repacked", Options{}, single, ActionRepack, false},
		{"single-kept", Options{Packing: PackingSingle}, single, ActionPassthrough, true},
		{"single-reencoded", Options{Reencode: true}, single, ActionTranscode, false},
		{"celt-kept", Options{}, celt, ActionPassthrough, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.ogg")
			res, err := mustNew(t, c.opts).ToFile(ctx, FileInput(c.in), out)
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != c.action {
				t.Fatalf("action %s (%s), want %s", res.Action, res.Plan.Reason, c.action)
			}
			a, _ := os.ReadFile(c.in)
			b, _ := os.ReadFile(out)
			if bytes.Equal(a, b) != c.same {
				t.Errorf("output identical to the input: %v, want %v", bytes.Equal(a, b), c.same)
			}
			if r := res.Outputs[0].Report; r == nil || r.Path != out || r.Size != int64(len(b)) || !r.VoiceReady {
				t.Errorf("the output's report %+v is not the inspection of %s", r, out)
			}
			if c.action == ActionRepack {
				if res.Attempts != 0 || len(b) >= len(a) {
					t.Errorf("repack: %d ffmpeg runs, %d bytes from %d", res.Attempts, len(b), len(a))
				}
				if !bytes.Equal(decodeLibopus(t, c.in), decodeLibopus(t, out)) {
					t.Error("the repacked note decodes to other samples")
				}
				checkNative(t, parseNote(t, out))
				// Repacked again: already native, passed through.
				again := filepath.Join(t.TempDir(), "again.ogg")
				r2, err := mustNew(t, c.opts).ToFile(ctx, FileInput(out), again)
				if err != nil || r2.Action != ActionPassthrough {
					t.Errorf("a native note: %v %+v", err, r2)
				}
			}
			if c.name == "celt-kept" && !strings.Contains(res.Plan.Reason, "not SILK wideband") {
				t.Errorf("reason %q does not say why it was kept", res.Plan.Reason)
			}
			opusinfoClean(t, out)
			if rep, err := inspect.File(ctx, out); err != nil || !rep.VoiceReady {
				t.Errorf("not a voice note: %v", err)
			}
		})
	}
}

// vbrFor is the VBR mode the planner gives a bitrate: CBR for a planned
// bitrate, the default (constrained, at the cap) otherwise.
func vbrFor(bitrate int) string {
	if bitrate > 0 {
		return VBROff
	}
	return ""
}
