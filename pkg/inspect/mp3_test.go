package inspect

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/prep-audio/prep/pkg/rules"
)

// Expected durations come from testdata/gen/mp3.sh: files with a LAME
// Info/Xing tag are exact (the tag records the encoder delay and padding);
// estimates and frame walks include LAME's delay and padding, under 2257
// samples (≤ 0.06 s at 44.1/48 kHz).
const mp3EstTol = 0.06

func apeTagSized(n int) []byte {
	val := bytes.Repeat([]byte("x"), n)
	item := fmtConcat(binary.LittleEndian.AppendUint32(nil, uint32(len(val))), make([]byte, 4), []byte("Comment\x00"), val)
	f := fmtConcat([]byte("APETAGEX"), []byte{0xD0, 0x07, 0, 0}, binary.LittleEndian.AppendUint32(nil, uint32(32+len(item))),
		[]byte{1, 0, 0, 0}, make([]byte, 4), make([]byte, 8))
	return fmtConcat(item, f)
}

// mp3WithVBRI rewrites the first frame of a CBR MPEG-1 stereo/mono stream
// into a Fraunhofer VBRI frame (header 32 bytes after the frame header)
// claiming `frames` frames and the stream's byte count.
func mp3WithVBRI(tb testing.TB, frames uint32) []byte {
	b := append([]byte{}, fmtSample(tb, "mp3-cbr-64k-mono-44100-noxing.mp3")...)
	v := fmtConcat([]byte("VBRI"), []byte{0, 1}, []byte{0, 0}, []byte{0, 75}, binary.BigEndian.AppendUint32(nil, uint32(len(b))),
		binary.BigEndian.AppendUint32(nil, frames))
	first := 0
	if string(b[:3]) == "ID3" { // ffmpeg writes a small ID3v2 tag first
		first = 10 + (int(b[6])<<21 | int(b[7])<<14 | int(b[8])<<7 | int(b[9]))
	}
	copy(b[first+36:], v)
	return b
}

func mp3Cases() []fmtCase {
	mp3c, mp3 := rules.ContainerMP3, rules.CodecMP3
	cbr := "mp3-cbr-64k-mono-44100-noxing.mp3"
	est := func(name string, build func(tb testing.TB) []byte) fmtCase {
		return fmtCase{name: name, build: build, container: mp3c, codec: mp3, channels: 1, rate: 44100, dur: 2, tol: mp3EstTol, bitrate: 64000}
	}
	return []fmtCase{
		{name: "cbr info tag", file: "mp3-cbr-128k-stereo-44100-info-tag.mp3", container: mp3c, codec: mp3, channels: 2, rate: 44100, dur: 1, tol: 0.001, bitrate: 128000, mime: "audio/mpeg"},
		{name: "cbr no xing estimate", file: cbr, container: mp3c, codec: mp3, channels: 1, rate: 44100, dur: 2, tol: mp3EstTol, bitrate: 64000},
		{name: "vbr xing", file: "mp3-vbr-q4-mono-44100-xing.mp3", container: mp3c, codec: mp3, channels: 1, rate: 44100, dur: 2, tol: 0.001},
		{name: "vbr no xing frame walk", file: "mp3-vbr-q2-stereo-48000-noxing-framewalk.mp3", container: mp3c, codec: mp3, channels: 2, rate: 48000, dur: 1, tol: mp3EstTol},
		{name: "mpeg-2 lsf", file: "mp3-mpeg2-lsf-24000-mono.mp3", container: mp3c, codec: mp3, channels: 1, rate: 24000, dur: 2, tol: 0.001, bitrate: 32000},
		{name: "mpeg-2.5", file: "mp3-mpeg25-8000-mono.mp3", container: mp3c, codec: mp3, channels: 1, rate: 8000, dur: 2, tol: 0.001, bitrate: 16000},
		{name: "id3v2 cover and id3v1", file: "mp3-id3v2-cover-id3v1.mp3", container: mp3c, codec: mp3, channels: 2, rate: 44100, dur: 1, tol: 0.001, bitrate: 64000},
		{name: "layer II named mp3", file: "mp3-trap-layer2-is-mp2-48000.mp3", container: mp3c, codec: "mp2", channels: 2, rate: 48000, dur: 1, tol: mp3EstTol, bitrate: 64000},

		// Built at run time.
		est("5 MB ID3v2 tag first", func(tb testing.TB) []byte { return fmtConcat(fmtID3v2(5<<20), fmtSample(tb, cbr)) }),
		est("junk after the tag", func(tb testing.TB) []byte {
			return fmtConcat(fmtID3v2(1000), make([]byte, 700), []byte("junk junk"), fmtSample(tb, cbr))
		}),
		// 8 KB of APE tag is a full second at 64 kbit/s: it must not count.
		est("APEv2 and ID3v1 at the end", func(tb testing.TB) []byte { return fmtConcat(fmtSample(tb, cbr), apeTagSized(8000), id3v1Tag()) }),
		{name: "vbri header", build: func(tb testing.TB) []byte { return mp3WithVBRI(tb, 100) },
			container: mp3c, codec: mp3, channels: 1, rate: 44100, dur: 100 * 1152.0 / 44100, tol: 1e-6},
		{name: "xing promises more than the file holds", build: func(tb testing.TB) []byte {
			b := fmtSample(tb, "mp3-vbr-q4-mono-44100-xing.mp3")
			return b[:len(b)/2]
		}, container: mp3c, codec: mp3, channels: 1, rate: 44100, dur: 1, tol: 0.15, truncated: true},
		{name: "frame walk, last frame cut", build: func(tb testing.TB) []byte {
			b := fmtSample(tb, "mp3-vbr-q2-stereo-48000-noxing-framewalk.mp3")
			return b[:len(b)/2+7]
		}, container: mp3c, codec: mp3, channels: 2, rate: 48000, dur: 0.5, tol: 0.1, truncated: true},
		{name: "html page is not audio", build: func(tb testing.TB) []byte {
			return []byte("<!DOCTYPE html><html><body>" + string(bytes.Repeat([]byte("<p>404</p>"), 300)) + "</body></html>")
		}, err: CodeNotAudio},
		{name: "id3 tag then text", build: func(tb testing.TB) []byte {
			return fmtConcat(fmtID3v2(2000), bytes.Repeat([]byte("plain text "), 400))
		}, err: CodeNotAudio},
	}
}

func TestMP3(t *testing.T) { runFmtCases(t, mp3Cases()) }

func FuzzMP3(f *testing.F) {
	seedFmtFuzz(f, mp3Cases())
	f.Fuzz(fuzzFmt)
}

// mp3VBR16MB repeats the VBR no-Xing sample (a frame walk) to 16 MB.
func mp3VBR16MB(tb testing.TB) []byte {
	s := fmtSample(tb, "mp3-vbr-q2-stereo-48000-noxing-framewalk.mp3")
	var b []byte
	for len(b)+len(s) <= 16<<20 {
		b = append(b, s...)
	}
	return b
}

func TestMP3LargeFrameWalk(t *testing.T) {
	b := mp3VBR16MB(t)
	rep, err := inspectBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	// Each copy is 1 s of audio plus LAME's delay/padding frames.
	n := float64(len(b) / len(fmtSample(t, "mp3-vbr-q2-stereo-48000-noxing-framewalk.mp3")))
	if rep.Duration < n || rep.Duration > n*(1+mp3EstTol) || rep.Truncated {
		t.Fatalf("duration %v truncated %v, want %v..%v", rep.Duration, rep.Truncated, n, n*(1+mp3EstTol))
	}
}

func BenchmarkMP3(b *testing.B) {
	b.Run("small-info-tag", func(b *testing.B) { benchFmt(b, fmtSample(b, "mp3-cbr-128k-stereo-44100-info-tag.mp3")) })
	b.Run("5MB-id3-cbr", func(b *testing.B) {
		benchFmt(b, fmtConcat(fmtID3v2(5<<20), fmtSample(b, "mp3-cbr-64k-mono-44100-noxing.mp3")))
	})
	b.Run("16MB-vbr-framewalk", func(b *testing.B) { benchFmt(b, mp3VBR16MB(b)) })
}

func ExampleReader_mp3() {
	b := fmtSampleExample("mp3-trap-layer2-is-mp2-48000.mp3")
	rep, err := Reader(context.Background(), fmtReader(b), int64(len(b)), "song.mp3")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Container, rep.Codec, rep.AudioReady, rep.Has(CodeUnsupportedCodec))
	// Output: mp3 mp2 false true
}

// TestFrameSyncMatchRejectsNoise: the frame-sync matchers (MPEG audio,
// ADTS) must not take random bytes or text for audio; they require
// consecutive consistent frames.
func TestFrameSyncMatchRejectsNoise(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 7))
	buf := make([]byte, 4096)
	for i := 0; i < 500; i++ {
		for j := range buf {
			buf[j] = byte(r.Uint32())
		}
		// Plant sync-looking bytes often, to give the matchers a chance to err.
		for k := 0; k < 16; k++ {
			p := r.IntN(len(buf) - 4)
			buf[p], buf[p+1] = 0xFF, 0xF0|byte(r.Uint32()&0x0F)
		}
		if matchMP3(buf) {
			t.Fatalf("matchMP3 took random buffer %d", i)
		}
		if matchADTS(buf) {
			t.Fatalf("matchADTS took random buffer %d", i)
		}
	}
	text := bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 90)
	if matchMP3(text) || matchADTS(text) {
		t.Fatal("text matched")
	}
	// And they do take real streams.
	if !matchMP3(fmtSample(t, "mp3-cbr-64k-mono-44100-noxing.mp3")[20:4116]) {
		t.Error("matchMP3 refused a real MP3")
	}
	if !matchADTS(fmtSample(t, "aac-adts-lc-mono-44100.aac")[:4096]) {
		t.Error("matchADTS refused a real ADTS stream")
	}
}
