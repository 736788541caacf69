package transcode

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
)

// TestGeneratedInputs runs the voice profile over inputs made at test
// time: layouts, video, durations, and the three actions.
func TestGeneratedInputs(t *testing.T) {
	needFFmpeg(t)
	src := t.TempDir()
	compliant := gen(t, src, "note.ogg", "-f", "lavfi", "-i", "sine=f=300:r=48000:d=3", "-ac", "1", "-c:a", "libopus", "-b:a", "24k")
	mislabeled := filepath.Join(src, "note-really-opus.mp3")
	if b, err := os.ReadFile(compliant); err != nil || os.WriteFile(mislabeled, b, 0o644) != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		path   string
		dur    float64
		action Action
		// budgetUse: the output must use at least this share of the budget.
		budgetUse float64
	}{
		{"0.3s-wav", gen(t, src, "short.wav", "-f", "lavfi", "-i", "sine=f=440:r=16000:d=0.3"), 0.3, ActionTranscode, 0},
		{"stereo-mp3", gen(t, src, "stereo.mp3", append(speechLike(5, 44100), "-ac", "2", "-c:a", "libmp3lame")...), 5, ActionTranscode, 0},
		{"5.1-flac", gen(t, src, "surround.flac", "-f", "lavfi", "-i", "sine=f=220:r=48000:d=2", "-af", "pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0"), 2, ActionTranscode, 0},
		{"video-mp4", gen(t, src, "clip.mp4", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:d=2", "-f", "lavfi", "-i", "sine=f=500:r=44100:d=2", "-c:v", "mpeg4", "-c:a", "aac", "-shortest"), 2, ActionTranscode, 0},
		{"cover-art-m4a", gen(t, src, "cover.m4a", "-f", "lavfi", "-i", "sine=f=500:r=44100:d=2", "-f", "lavfi", "-i", "color=c=red:s=64x64:d=1", "-map", "0:a", "-map", "1:v", "-frames:v", "1", "-c:v", "mjpeg", "-disposition:v", "attached_pic", "-c:a", "aac"), 2, ActionTranscode, 0},
		{"opus-webm", gen(t, src, "rec.webm", "-f", "lavfi", "-i", "sine=f=300:r=48000:d=3", "-ac", "1", "-c:a", "libopus", "-b:a", "24k"), 3, ActionRemux, 0},
		{"compliant", compliant, 3, ActionPassthrough, 0},
		{"mislabeled", mislabeled, 3, ActionPassthrough, 0},
	}
	tr := mustNew(t, Options{})
	// The budget binds (40 s at 32 kbit/s would be ~160 KB): the plan
	// must use the 80 KB budget (≥ 90%) in one encode.
	small := mustNew(t, Options{MaxBytes: 80_000})
	budgetCase := struct {
		name   string
		path   string
		dur    float64
		action Action
		// budgetUse: the output must use at least this share of the budget.
		budgetUse float64
	}{"40s-speech-budget", gen(t, src, "memo.wav", append(speechLike(40, 16000), "-ac", "1")...), 40, ActionTranscode, 0.90}
	cases = append(cases, budgetCase)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := t.TempDir()
			budget, use := rules.VoiceMaxBytes, tr
			if c.budgetUse > 0 {
				budget, use = 80_000, small
			}
			res, err := use.ToDir(ctx, FileInput(c.path), dir)
			if err != nil {
				t.Fatal(err)
			}
			noTemps(t, dir)
			if res.Action != c.action {
				t.Errorf("action %s, want %s (%s)", res.Action, c.action, res.Plan.Reason)
			}
			out := res.Outputs[0]
			base := strings.TrimSuffix(filepath.Base(c.path), filepath.Ext(c.path))
			if want := filepath.Join(dir, base+rules.Voice().Ext); out.Path != want {
				t.Errorf("output %s, want %s", out.Path, want)
			}
			rep := checkVoice(t, out.Path, budget, c.dur)
			if rep.Size != out.Bytes || rep.Duration != out.Duration || rep.Channels != out.Channels {
				t.Errorf("result %+v disagrees with inspect %+v", out, rep)
			}
			if res.Action == ActionPassthrough {
				a, _ := os.ReadFile(c.path)
				b, _ := os.ReadFile(out.Path)
				if !bytes.Equal(a, b) {
					t.Error("passthrough changed the bytes")
				}
				if res.Attempts != 0 {
					t.Errorf("passthrough with %d attempts", res.Attempts)
				}
			} else if res.Attempts != 1 {
				t.Errorf("%d attempts, want a first-try fit", res.Attempts)
			}
			if c.budgetUse > 0 && float64(out.Bytes) < c.budgetUse*float64(budget) {
				t.Errorf("%d bytes uses under %.0f%% of the budget", out.Bytes, 100*c.budgetUse)
			}
		})
	}
}

// TestAudioProfileGenerated: compliant audio passes through, video is
// remuxed away, the rest becomes AAC in M4A with mono kept mono.
func TestAudioProfileGenerated(t *testing.T) {
	needFFmpeg(t)
	src := t.TempDir()
	cases := []struct {
		name     string
		path     string
		action   Action
		ext      string
		channels int
	}{
		{"mp3-passthrough", gen(t, src, "a.mp3", "-f", "lavfi", "-i", "sine=f=440:r=44100:d=2", "-c:a", "libmp3lame"), ActionPassthrough, ".mp3", 1},
		{"video-remux", gen(t, src, "v.mp4", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:d=2", "-f", "lavfi", "-i", "sine=f=500:r=44100:d=2", "-c:v", "mpeg4", "-c:a", "aac", "-ac", "2", "-shortest"), ActionRemux, ".m4a", 2},
		{"mono-wav", gen(t, src, "m.wav", "-f", "lavfi", "-i", "sine=f=440:r=22050:d=2"), ActionTranscode, ".m4a", 1},
		{"surround-flac", gen(t, src, "s.flac", "-f", "lavfi", "-i", "sine=f=220:r=48000:d=2", "-af", "pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0"), ActionTranscode, ".m4a", 2},
	}
	tr := mustNew(t, Options{Profile: ProfileAudio})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			res, err := tr.ToDir(context.Background(), FileInput(c.path), dir)
			if err != nil {
				t.Fatal(err)
			}
			noTemps(t, dir)
			out := res.Outputs[0]
			rep, err := inspect.File(context.Background(), out.Path)
			if err != nil || !rep.AudioReady || rep.HasVideo {
				t.Fatalf("output not accepted audio: %v %+v", err, rep)
			}
			if res.Action != c.action || filepath.Ext(out.Path) != c.ext || rep.Channels != c.channels {
				t.Errorf("got %s %s %d ch, want %s %s %d ch", res.Action, filepath.Ext(out.Path), rep.Channels, c.action, c.ext, c.channels)
			}
			if rep.Duration < 1.9 || rep.Duration > 2.1 {
				t.Errorf("duration %.3f, want 2 s", rep.Duration)
			}
		})
	}
}

// TestReaderToWriter: an MP4 arriving as a stream is spooled (MP4 needs
// seeking) and the voice note is written to a writer.
func TestReaderToWriter(t *testing.T) {
	needFFmpeg(t)
	src := t.TempDir()
	// moov at the end (no faststart): only a seekable copy can be read.
	in := gen(t, src, "x.m4a", "-f", "lavfi", "-i", "sine=f=440:r=44100:d=2", "-c:a", "aac", "-ac", "2")
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tmp := t.TempDir()
	tr := mustNew(t, Options{TempDir: tmp})
	var buf bytes.Buffer
	res, err := tr.ToWriter(context.Background(), ReaderInput(struct{ io_Reader }{f}, "upload.m4a"), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if res.Input != "upload.m4a" || res.Outputs[0].Path != "" || int64(buf.Len()) != res.Outputs[0].Bytes {
		t.Errorf("result %+v, wrote %d bytes", res, buf.Len())
	}
	rep, err := inspect.Reader(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), "out.ogg")
	if err != nil || !rep.VoiceReady || rep.Duration < 1.95 || rep.Duration > 2.05 {
		t.Errorf("written note: %v %+v", err, rep)
	}
	ents, _ := os.ReadDir(tmp)
	if len(ents) != 0 {
		t.Errorf("temp dir not empty: %v", ents)
	}
}

// io_Reader hides the file's ReaderAt/Seeker so the stream path is taken.
type io_Reader interface{ Read([]byte) (int, error) }

// TestDamagedInputs: corrupt, truncated and non-audio inputs end with a
// typed error or a valid note, never a hang or a temp file.
func TestDamagedInputs(t *testing.T) {
	needFFmpeg(t)
	src := t.TempDir()
	good := gen(t, src, "good.wav", "-f", "lavfi", "-i", "sine=f=440:r=16000:d=4")
	goodMP4 := gen(t, src, "good.m4a", "-f", "lavfi", "-i", "sine=f=440:r=16000:d=4", "-c:a", "aac")
	b, _ := os.ReadFile(good)
	m, _ := os.ReadFile(goodMP4)
	noise := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x13, 0x37}, 20000)
	mid := append(append([]byte{}, b[:len(b)/2]...), noise[:4000]...)
	mid = append(mid, b[len(b)/2+4000:]...)
	files := map[string][]byte{
		"random.mp3":      noise,
		"truncated.wav":   b[:len(b)/3],
		"truncated.m4a":   m[:len(m)/2],
		"garbage-mid.wav": mid,
		"header-only.wav": b[:44],
		"text.ogg":        []byte("this is not audio at all\n"),
		"empty.ogg":       nil,
		"opus-head-only.ogg": func() []byte {
			c, _ := os.ReadFile(gen(t, src, "o.ogg", "-f", "lavfi", "-i", "sine=d=1", "-c:a", "libopus"))
			return c[:200]
		}(),
	}
	tr := mustNew(t, Options{})
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(src, name)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			dir := t.TempDir()
			res, err := tr.ToDir(ctx, FileInput(p), dir)
			noTemps(t, dir)
			if err != nil {
				var te *Error
				if !errors.As(err, &te) || te.Kind == KindCanceled {
					t.Fatalf("want a typed error, got %v", err)
				}
				if ents, _ := os.ReadDir(dir); len(ents) != 0 {
					t.Errorf("failed, yet left %v", ents)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("multi-line error: %q", err)
				}
				return
			}
			checkVoice(t, res.Outputs[0].Path, rules.VoiceMaxBytes, 0)
		})
	}
}

// TestFFmpegMissing: a clear, typed error that says how to install.
func TestFFmpegMissing(t *testing.T) {
	src := t.TempDir()
	wav := filepath.Join(src, "x.wav")
	// A valid 0.1 s WAV by hand (no ffmpeg needed).
	if err := os.WriteFile(wav, wavBytes(1600), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := mustNew(t, Options{FFmpeg: filepath.Join(src, "no-such-ffmpeg")})
	_, err := tr.ToDir(context.Background(), FileInput(wav), t.TempDir())
	var te *Error
	if !errors.As(err, &te) || te.Kind != KindFFmpegMissing || !strings.Contains(err.Error(), "apt-get install ffmpeg") {
		t.Fatalf("got %v", err)
	}
	// An ffmpeg without libopus: a stand-in script that fails the way
	// ffmpeg does.
	fake := filepath.Join(src, "ffmpeg")
	script := "#!/bin/sh\necho \"Unknown encoder 'libopus'\" >&2\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tr = mustNew(t, Options{FFmpeg: fake})
	_, err = tr.ToDir(context.Background(), FileInput(wav), t.TempDir())
	if !errors.As(err, &te) || te.Kind != KindEncoderMissing || !strings.Contains(err.Error(), "apt-get install ffmpeg") {
		t.Fatalf("got %v", err)
	}
}

// wavBytes is a mono 16 kHz 16-bit WAV of n silent samples.
func wavBytes(n int) []byte {
	le32 := func(v int) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	var b bytes.Buffer
	b.WriteString("RIFF")
	b.Write(le32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	b.Write(le32(16))
	b.Write([]byte{1, 0, 1, 0})
	b.Write(le32(16000))
	b.Write(le32(32000))
	b.Write([]byte{2, 0, 16, 0})
	b.WriteString("data")
	b.Write(le32(2 * n))
	b.Write(make([]byte, 2*n))
	return b.Bytes()
}
