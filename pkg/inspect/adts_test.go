package inspect

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prep-audio/prep/pkg/rules"
)

// adtsDur is what ffmpeg's AAC encoder makes of a d-second sine at rate:
// ceil(d·rate/1024) frames of 1024 samples plus one priming frame.
func adtsDur(d float64, rate int) float64 {
	frames := math.Ceil(d*float64(rate)/1024) + 1
	return frames * 1024 / float64(rate)
}

// adtsFrames splits an ADTS stream into frames (test helper; relies only on
// the 13-bit frame_length field, ISO/IEC 13818-7 §6.2.1).
func adtsFrames(tb testing.TB, b []byte) [][]byte {
	tb.Helper()
	var out [][]byte
	for off := 0; off < len(b); {
		if len(b)-off < 7 || b[off] != 0xFF {
			tb.Fatalf("test sample: no ADTS header at %d", off)
		}
		n := int(b[off+3]&3)<<11 | int(b[off+4])<<3 | int(b[off+5])>>5
		out = append(out, b[off:off+n])
		off += n
	}
	return out
}

func apeTag() []byte {
	// APEv2 footer only (no header): "APETAGEX", version 2000, size 32+items, 0 items, flags 0.
	item := fmtConcat([]byte{5, 0, 0, 0, 0, 0, 0, 0}, []byte("Title\x00hello"))
	f := fmtConcat([]byte("APETAGEX"), []byte{0xD0, 0x07, 0, 0}, []byte{byte(32 + len(item)), 0, 0, 0}, []byte{1, 0, 0, 0}, make([]byte, 4), make([]byte, 8))
	return fmtConcat(item, f)
}

func id3v1Tag() []byte {
	b := make([]byte, 128)
	copy(b, "TAGprep sample")
	return b
}

func adtsCases() []fmtCase {
	adts, aac := rules.ContainerADTS, rules.CodecAAC
	mono := "aac-adts-lc-mono-44100.aac"
	ok := func(name string, build func(tb testing.TB) []byte) fmtCase {
		return fmtCase{name: name, build: build, container: adts, codec: aac, channels: 1, rate: 44100, dur: adtsDur(2, 44100), tol: 1e-6}
	}
	return []fmtCase{
		{name: "lc mono 44100", file: mono, container: adts, codec: aac, channels: 1, rate: 44100, dur: adtsDur(2, 44100), tol: 1e-6, bitrate: 32000, bitrateTol: 0.15, mime: "audio/aac"},
		{name: "lc stereo 48000", file: "aac-adts-lc-stereo-48000.aac", container: adts, codec: aac, channels: 2, rate: 48000, dur: adtsDur(1, 48000), tol: 1e-6},
		{name: "lc mono 8000", file: "aac-adts-lc-mono-8000.aac", container: adts, codec: aac, channels: 1, rate: 8000, dur: adtsDur(2, 8000), tol: 1e-6},
		{name: "id3v2 prefixed", file: "aac-adts-id3v2-prefixed.aac", container: adts, codec: aac, channels: 1, rate: 44100, dur: adtsDur(2, 44100), tol: 1e-6},
		{name: "crc protected", file: "aac-adts-crc-protected-mono-44100.aac", container: adts, codec: aac, channels: 1, rate: 44100, dur: adtsDur(2, 44100), tol: 1e-6},

		// Built at run time.
		{name: "last frame cut", build: func(tb testing.TB) []byte { b := fmtSample(tb, mono); return b[:len(b)-10] },
			container: adts, codec: aac, channels: 1, rate: 44100, dur: adtsDur(2, 44100) - 1024.0/44100, tol: 1e-6, truncated: true},
		{name: "cut inside a header", build: func(tb testing.TB) []byte {
			fr := adtsFrames(tb, fmtSample(tb, mono))
			return fmtConcat(bytes.Join(fr[:20], nil), fr[20][:4])
		}, container: adts, codec: aac, channels: 1, rate: 44100, dur: 20 * 1024.0 / 44100, tol: 1e-6, truncated: true},
		ok("3 MB ID3v2 tag first", func(tb testing.TB) []byte { return fmtConcat(fmtID3v2(3<<20), fmtSample(tb, mono)) }),
		ok("junk before the first frame", func(tb testing.TB) []byte {
			return fmtConcat(bytes.Repeat([]byte("junk "), 100), fmtSample(tb, mono))
		}),
		ok("junk between frames", func(tb testing.TB) []byte {
			fr := adtsFrames(tb, fmtSample(tb, mono))
			return fmtConcat(bytes.Join(fr[:40], nil), bytes.Repeat([]byte{0x55}, 300), bytes.Join(fr[40:], nil))
		}),
		ok("APEv2 and ID3v1 at the end", func(tb testing.TB) []byte { return fmtConcat(fmtSample(tb, mono), apeTag(), id3v1Tag()) }),
		{name: "single frame file", build: func(tb testing.TB) []byte { return adtsFrames(tb, fmtSample(tb, mono))[5] },
			container: adts, codec: aac, channels: 1, rate: 44100, dur: 1024.0 / 44100, tol: 1e-6},
		{name: "random bytes are not audio", build: func(tb testing.TB) []byte {
			r := rand.New(rand.NewPCG(1, 2))
			b := make([]byte, 8192)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return b
		}, err: CodeNotAudio},
		{name: "one lone header is not taken for ADTS", build: func(tb testing.TB) []byte {
			// One valid-looking header and nothing consistent after it:
			// mimetype sniffs audio/aac, no parser accepts it, so the core
			// calls it corrupt.
			return fmtConcat([]byte{0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC}, bytes.Repeat([]byte("text "), 200))
		}, err: CodeCorrupt},
	}
}

func TestADTS(t *testing.T) { runFmtCases(t, adtsCases()) }

func FuzzADTS(f *testing.F) {
	seedFmtFuzz(f, adtsCases())
	f.Fuzz(fuzzFmt)
}

// adts16MB repeats the stereo sample's frames to 16 MB.
func adts16MB(tb testing.TB) []byte {
	s := fmtSample(tb, "aac-adts-lc-stereo-48000.aac")
	var b []byte
	for len(b)+len(s) <= 16<<20 {
		b = append(b, s...)
	}
	return b
}

func TestADTSLarge(t *testing.T) {
	b := adts16MB(t)
	rep, err := inspectBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	n := len(b) / len(fmtSample(t, "aac-adts-lc-stereo-48000.aac"))
	if want := float64(n) * adtsDur(1, 48000); math.Abs(rep.Duration-want) > 1e-3 || rep.Truncated {
		t.Fatalf("duration %v truncated %v, want %v", rep.Duration, rep.Truncated, want)
	}
}

func BenchmarkADTS(b *testing.B) {
	b.Run("small", func(b *testing.B) { benchFmt(b, fmtSample(b, "aac-adts-lc-mono-44100.aac")) })
	b.Run("16MB", func(b *testing.B) { benchFmt(b, adts16MB(b)) })
}

func ExampleReader_adts() {
	b := fmtSampleExample("aac-adts-id3v2-prefixed.aac")
	rep, err := Reader(context.Background(), fmtReader(b), int64(len(b)), "voice.aac")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s %d Hz %d ch %.3f s\n", rep.MIME, rep.Codec, rep.SampleRate, rep.Channels, rep.Duration)
	// Output: audio/aac aac 44100 Hz 1 ch 2.043 s
}
