package inspect

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prep-audio/prep/pkg/rules"
)

// mp4B builds a box: 32-bit size, type, then the concatenated parts.
func mp4B(typ string, parts ...[]byte) []byte {
	body := fmtConcat(parts...)
	b := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(b, uint32(8+len(body)))
	copy(b[4:], typ)
	return append(b, body...)
}

func mp4be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func mp4be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// mp4TopBoxes splits a file into its top-level boxes by type (first of each).
func mp4TopBoxes(tb testing.TB, b []byte) map[string][]byte {
	tb.Helper()
	m := map[string][]byte{}
	for off := 0; off+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		if n < 8 || off+n > len(b) {
			tb.Fatalf("test sample has a bad box at %d", off)
		}
		if _, dup := m[string(b[off+4:off+8])]; !dup {
			m[string(b[off+4:off+8])] = b[off : off+n]
		}
		off += n
	}
	return m
}

// synthFMP4 builds a fragmented AAC file by hand: a moov with no samples
// and a trex default duration of 1024, then three fragments exercising the
// three ways a trun's durations are given (trex default, tfhd default,
// per-sample). Timescale 48000; expected = (10×1024 + 4×512 + 100+200)/48000.
func synthFMP4(tb testing.TB) []byte {
	full := func(v, flags uint32) []byte { return mp4be32(v<<24 | flags) }
	asc := []byte{0x11, 0x88} // AAC-LC, 48000 Hz (index 3), mono
	esds := mp4B("esds", full(0, 0),
		[]byte{0x03, 0x19, 0x00, 0x01, 0x00},                                    // ES_Descriptor, ES_ID 1, no flags
		[]byte{0x04, 0x11, 0x40, 0x15, 0, 0, 0}, mp4be32(70000), mp4be32(64000), // DecoderConfig: OTI 0x40, avgBitrate 64000
		[]byte{0x05, 0x02}, asc,
		[]byte{0x06, 0x01, 0x02})
	mp4a := mp4B("mp4a", make([]byte, 6), mp4be16(1), make([]byte, 8), mp4be16(2), mp4be16(16), mp4be16(0), mp4be16(0), mp4be32(48000<<16), esds)
	stsd := mp4B("stsd", full(0, 0), mp4be32(1), mp4a)
	trak := mp4B("trak",
		mp4B("tkhd", full(0, 3), mp4be32(0), mp4be32(0), mp4be32(1), mp4be32(0), mp4be32(0), make([]byte, 60)),
		mp4B("mdia",
			mp4B("mdhd", full(0, 0), mp4be32(0), mp4be32(0), mp4be32(48000), mp4be32(0), mp4be32(0)),
			mp4B("hdlr", full(0, 0), mp4be32(0), []byte("soun"), make([]byte, 13)),
			mp4B("minf", mp4B("stbl", stsd, mp4B("stts", full(0, 0), mp4be32(0)), mp4B("stsz", full(0, 0), mp4be32(0), mp4be32(0))))))
	moov := mp4B("moov",
		mp4B("mvhd", full(0, 0), mp4be32(0), mp4be32(0), mp4be32(1000), mp4be32(0), make([]byte, 80)),
		trak,
		mp4B("mvex", mp4B("trex", full(0, 0), mp4be32(1), mp4be32(1), mp4be32(1024), mp4be32(0), mp4be32(0))))
	frag := func(seq uint32, traf []byte, samples int) []byte {
		return fmtConcat(mp4B("moof", mp4B("mfhd", full(0, 0), mp4be32(seq)), traf), mp4B("mdat", make([]byte, samples*10)))
	}
	f1 := frag(1, mp4B("traf", mp4B("tfhd", full(0, 0x020000), mp4be32(1)), mp4B("trun", full(0, 0x200), mp4be32(10), make([]byte, 40))), 10)
	f2 := frag(2, mp4B("traf", mp4B("tfhd", full(0, 0x020008), mp4be32(1), mp4be32(512)), mp4B("trun", full(0, 0), mp4be32(4))), 4)
	f3 := frag(3, mp4B("traf", mp4B("tfhd", full(0, 0x020000), mp4be32(1)),
		mp4B("trun", full(0, 0x301), mp4be32(2), mp4be32(0), mp4be32(100), mp4be32(10), mp4be32(200), mp4be32(10))), 2)
	ftyp := mp4B("ftyp", []byte("iso5"), mp4be32(512), []byte("iso5iso6mp41"))
	return fmtConcat(ftyp, moov, f1, f2, f3)
}

func mp4Cases() []fmtCase {
	mp4, aac := rules.ContainerMP4, rules.CodecAAC
	return []fmtCase{
		{name: "aac mono trap channelcount2 moov at end", file: "m4a-aac-mono-44100-trap-channelcount2.m4a",
			container: mp4, codec: aac, channels: 1, rate: 44100, dur: 2, tol: 0.01, bitrate: 32000, bitrateTol: 0.1, brand: "M4A", streams: 1, mime: "audio/mp4"},
		{name: "aac stereo faststart", file: "m4a-aac-stereo-48000-faststart.m4a",
			container: mp4, codec: aac, channels: 2, rate: 48000, dur: 1, tol: 0.01, bitrate: 64000, bitrateTol: 0.1, brand: "M4A"},
		// Fragmented files carry no edit list: the 1024-sample AAC priming
		// (21 ms) is part of the duration, as ffprobe reports it too.
		{name: "aac fragmented mediarecorder", file: "mp4-aac-fragmented-mediarecorder.mp4",
			container: mp4, codec: aac, channels: 1, rate: 48000, dur: 2, tol: 0.05},
		{name: "opus fragmented mediarecorder", file: "mp4-opus-fragmented-mediarecorder.mp4",
			container: mp4, codec: "opus", channels: 1, rate: 48000, dur: 2, tol: 0.03},
		{name: "opus mono", file: "mp4-opus-mono.mp4", container: mp4, codec: "opus", channels: 1, rate: 48000, dur: 1, tol: 0.03},
		{name: "mp3 in mp4", file: "mp4-mp3-in-mp4-oti6b.mp4", container: mp4, codec: "mp3", channels: 2, rate: 44100, dur: 2, tol: 0.06},
		{name: "alac stereo", file: "m4a-alac-stereo-16000.m4a", container: mp4, codec: "alac", channels: 2, rate: 16000, dur: 1, tol: 0.01},
		{name: "flac mono", file: "mp4-flac-mono-16000.mp4", container: mp4, codec: "flac", channels: 1, rate: 16000, dur: 1, tol: 0.01},
		{name: "video track", file: "mp4-video-mpeg4-with-aac.mp4",
			container: mp4, codec: aac, channels: 1, rate: 44100, dur: 1, tol: 0.03, video: true, mime: "video/mp4"},
		{name: "cover art is not video", file: "m4a-aac-with-cover-art.m4a",
			container: mp4, codec: aac, channels: 1, rate: 44100, dur: 2, tol: 0.01, mime: "audio/mp4"},
		{name: "quicktime mov", file: "mp4-quicktime-aac-mono.mov", container: mp4, codec: aac, channels: 1, rate: 44100, dur: 2, tol: 0.01, brand: "qt"},
		{name: "3gp aac", file: "3gp-aac-mono-16000.3gp", container: mp4, codec: aac, channels: 1, rate: 16000, dur: 2, tol: 0.01, brand: "3gp4", mime: "audio/mp4"},
		{name: "3gp amr-nb samr", file: "3gp-amr-nb-samr.3gp", container: mp4, codec: "amr_nb", channels: 1, rate: 8000, dur: 2, tol: 0.001, mime: "audio/3gpp"},
		{name: "3gp amr-wb sawb", file: "3gp-amr-wb-sawb.3gp", container: mp4, codec: "amr_wb", channels: 1, rate: 16000, dur: 2, tol: 0.001, mime: "audio/3gpp"},

		// Built at run time.
		{name: "synthetic fragmented trex/tfhd/trun durations", build: synthFMP4,
			container: mp4, codec: aac, channels: 1, rate: 48000, dur: float64(10*1024+4*512+300) / 48000, tol: 1e-6, bitrate: 64000, brand: "iso5"},
		// The last mdat holds 2 samples (100+200 ticks) in 20 bytes; 15 are
		// left, so 3/4 of the fragment's duration is counted.
		{name: "synthetic fragmented, last mdat cut", build: func(tb testing.TB) []byte { b := synthFMP4(tb); return b[:len(b)-5] },
			container: mp4, codec: aac, channels: 1, rate: 48000, dur: (10*1024 + 4*512 + 300*15.0/20) / 48000, tol: 1e-6, truncated: true},
		{name: "mdat shorter than declared", build: func(tb testing.TB) []byte {
			b := fmtSample(tb, "m4a-aac-stereo-48000-faststart.m4a") // moov first, mdat last
			return b[:len(b)-1000]
		}, container: mp4, codec: aac, channels: 2, rate: 48000, dur: 1, tol: 0.01, truncated: true},
		{name: "64-bit mdat size and size-0 trailing box", build: func(tb testing.TB) []byte {
			m := mp4TopBoxes(tb, fmtSample(tb, "m4a-aac-stereo-48000-faststart.m4a"))
			mdat := m["mdat"][8:]
			big := fmtConcat(mp4be32(1), []byte("mdat"), binary.BigEndian.AppendUint64(nil, uint64(16+len(mdat))), mdat)
			return fmtConcat(m["ftyp"], m["moov"], big, mp4be32(0), []byte("free"), make([]byte, 100))
		}, container: mp4, codec: aac, channels: 2, rate: 48000, dur: 1, tol: 0.01},
		{name: "moov cut short", build: func(tb testing.TB) []byte {
			b := fmtSample(tb, "m4a-aac-mono-44100-trap-channelcount2.m4a") // moov last
			return b[:len(b)-50]
		}, err: CodeTruncated},
		{name: "no moov: unfinished recording", build: func(tb testing.TB) []byte {
			m := mp4TopBoxes(tb, fmtSample(tb, "m4a-aac-mono-44100-trap-channelcount2.m4a"))
			return fmtConcat(m["ftyp"], m["mdat"])[:len(m["ftyp"])+4000]
		}, err: CodeTruncated},
		{name: "boxes nested too deep", build: func(tb testing.TB) []byte {
			b := mp4B("stbl")
			for i := 0; i < 40; i++ {
				b = mp4B("minf", b)
			}
			return fmtConcat(mp4B("ftyp", []byte("isom"), mp4be32(0)), mp4B("moov", mp4B("trak", mp4B("mdia", b))))
		}, err: CodeCorrupt},
		{name: "box size smaller than its header", build: func(tb testing.TB) []byte {
			return fmtConcat(mp4B("ftyp", []byte("isom"), mp4be32(0)), mp4be32(4), []byte("moov"), make([]byte, 32))
		}, err: CodeCorrupt},
		{name: "video only is not audio", build: func(tb testing.TB) []byte {
			return fmtConcat(mp4B("ftyp", []byte("isom"), mp4be32(0)), mp4B("moov",
				mp4B("trak", mp4B("mdia", mp4B("hdlr", mp4be32(0), mp4be32(0), []byte("vide"), make([]byte, 13))))))
		}, err: CodeNotAudio},
		{name: "heif image is not audio", build: func(tb testing.TB) []byte {
			return fmtConcat(mp4B("ftyp", []byte("heic"), mp4be32(0), []byte("mif1heic")), mp4B("meta", make([]byte, 40)), mp4B("mdat", make([]byte, 100)))
		}, err: CodeNotAudio},
		// Issue 13, finding 5: a trun claiming 2^32−1 samples gave 91,625,970 s and audio_ready.
		{name: "trun sample_count 0xFFFFFFFF", file: "hostile-mp4-fragmented-trun-count-ffffffff.mp4", err: CodeCorrupt},
		{name: "trun rows past its box", build: func(tb testing.TB) []byte {
			return mp4WithTable(tb, "trun", mp4B("trun", mp4be32(0x000201), mp4be32(1000), mp4be32(0), make([]byte, 40)))
		}, err: CodeCorrupt},
		{name: "stts entries past its box", build: func(tb testing.TB) []byte {
			return mp4WithTable(tb, "stts", mp4B("stts", mp4be32(0), mp4be32(3), mp4be32(10), mp4be32(1024)))
		}, err: CodeCorrupt},
		{name: "stsz sizes past its box", build: func(tb testing.TB) []byte {
			return mp4WithTable(tb, "stsz", mp4B("stsz", mp4be32(0), mp4be32(0), mp4be32(0xFFFFFFFF), mp4be32(10)))
		}, err: CodeCorrupt},
		{name: "stsz with one size for all is not a table", build: func(tb testing.TB) []byte {
			return mp4WithTable(tb, "stsz", mp4B("stsz", mp4be32(0), mp4be32(10), mp4be32(0xFFFF)))
		}, container: mp4, codec: aac, channels: 1, rate: 48000, dur: float64(10*1024+4*512+300) / 48000, tol: 1e-6},
		{name: "stsc entries past its box", build: func(tb testing.TB) []byte {
			return mp4WithTable(tb, "stsc", mp4B("stsc", mp4be32(0), mp4be32(2), mp4be32(1), mp4be32(1), mp4be32(1)))
		}, err: CodeCorrupt},
		{name: "stco entries past its box", build: func(tb testing.TB) []byte {
			return mp4WithTable(tb, "stco", mp4B("stco", mp4be32(0), mp4be32(0x40000000)))
		}, err: CodeCorrupt},
		{name: "co64 entries past its box", build: func(tb testing.TB) []byte {
			return mp4WithTable(tb, "co64", mp4B("co64", mp4be32(0), mp4be32(2), make([]byte, 8)))
		}, err: CodeCorrupt},
		// Issue 13, finding 7: "-32 bytes missing"; "the content is audio/x-m4a, not audio".
		{name: "moov largesize 2^64-1", build: mp4LargesizeMoov, err: CodeCorrupt},
		{name: "2000 nested moov boxes", build: func(tb testing.TB) []byte {
			b := mp4B("moov")
			for i := 0; i < 2000; i++ {
				b = mp4B("moov", b)
			}
			return fmtConcat(mp4B("ftyp", []byte("M4A "), mp4be32(0)), b)
		}, err: CodeCorrupt},
		{name: "huge moov claim", build: func(tb testing.TB) []byte {
			return fmtConcat(mp4B("ftyp", []byte("isom"), mp4be32(0)), mp4be32(0x7FFFFFFF), []byte("moov"), make([]byte, 64))
		}, err: CodeTruncated},
	}
}

func TestMP4(t *testing.T) { runFmtCases(t, mp4Cases()) }

func FuzzMP4(f *testing.F) {
	seedFmtFuzz(f, mp4Cases())
	f.Fuzz(fuzzFmt)
}

// TestMP4ContextCancelled: a cancelled context stops a long fragment walk.
func TestMP4ContextCancelled(t *testing.T) {
	one := synthFMP4(t)
	m := mp4TopBoxes(t, one)
	var b []byte
	b = fmtConcat(m["ftyp"], m["moov"])
	frag := fmtConcat(m["moof"], m["mdat"])
	for len(b) < 2<<20 {
		b = append(b, frag...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Reader(ctx, fmtReader(b), int64(len(b)), "")
	if err == nil || !ctxErr(err) {
		t.Fatalf("want a context error, got %v", err)
	}
}

// fmp4Large is a 16 MB fragmented file: the synthetic init segment, then
// fragments of 10 samples × 1024 ticks (trex default) with 16 KB mdats.
func fmp4Large(tb testing.TB) ([]byte, int) {
	m := mp4TopBoxes(tb, synthFMP4(tb))
	b := fmtConcat(m["ftyp"], m["moov"])
	frag := fmtConcat(m["moof"], mp4B("mdat", make([]byte, 16<<10)))
	n := 0
	for len(b)+len(frag) <= 16<<20 {
		b = append(b, frag...)
		n++
	}
	return b, n
}

func TestMP4LargeFragmented(t *testing.T) {
	b, n := fmp4Large(t)
	rep, err := inspectBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(n*10*1024) / 48000; math.Abs(rep.Duration-want) > 1e-6 || rep.Truncated {
		t.Fatalf("duration %v truncated %v, want %v", rep.Duration, rep.Truncated, want)
	}
}

func BenchmarkMP4(b *testing.B) {
	for _, name := range []string{"m4a-aac-mono-44100-trap-channelcount2.m4a", "mp4-aac-fragmented-mediarecorder.mp4"} {
		b.Run(name, func(b *testing.B) { benchFmt(b, fmtSample(b, name)) })
	}
	// 16 MB: moov first, then a 16 MB mdat the parser must skip, not read.
	b.Run("16MB-moov-first", func(b *testing.B) {
		m := mp4TopBoxes(b, fmtSample(b, "m4a-aac-stereo-48000-faststart.m4a"))
		big := fmtConcat(m["ftyp"], m["moov"], mp4B("mdat", make([]byte, 16<<20)))
		benchFmt(b, big)
	})
	b.Run("16MB-fragmented", func(b *testing.B) {
		big, _ := fmp4Large(b)
		benchFmt(b, big)
	})
}

func ExampleReader_m4a() {
	b := fmtSampleExample("m4a-aac-mono-44100-trap-channelcount2.m4a")
	rep, err := Reader(context.Background(), fmtReader(b), int64(len(b)), "memo.m4a")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Container, rep.Codec, rep.Channels, rep.SampleRate, rep.Duration, rep.AudioReady)
	// Output: mp4 aac 1 44100 2 true
}

// mp4WithTable is the synthetic fragmented file with one more sample
// table: a trun in a fourth fragment, or a leaf in the track's stbl.
func mp4WithTable(tb testing.TB, typ string, box []byte) []byte {
	tb.Helper()
	b := synthFMP4(tb)
	if typ == "trun" {
		traf := mp4B("traf", mp4B("tfhd", mp4be32(0x020000), mp4be32(1)), box)
		return fmtConcat(b, mp4B("moof", mp4B("mfhd", mp4be32(0), mp4be32(9)), traf), mp4B("mdat", make([]byte, 40)))
	}
	// Rebuild the file with box appended to stbl, fixing the sizes of the
	// boxes around it (moov, trak, mdia, minf, stbl).
	i := bytes.Index(b, []byte("stbl")) - 4
	path := []string{"moov", "trak", "mdia", "minf"}
	out := append([]byte(nil), b[:i]...)
	stblSize := binary.BigEndian.Uint32(b[i:])
	out = append(out, b[i:i+int(stblSize)]...)
	out = append(out, box...)
	out = append(out, b[i+int(stblSize):]...)
	binary.BigEndian.PutUint32(out[i:], stblSize+uint32(len(box)))
	for _, p := range path {
		j := bytes.Index(out, []byte(p)) - 4
		binary.BigEndian.PutUint32(out[j:], binary.BigEndian.Uint32(out[j:])+uint32(len(box)))
	}
	return out
}

// mp4LargesizeMoov is an ftyp and a moov whose 64-bit largesize is 2^64−1.
func mp4LargesizeMoov(tb testing.TB) []byte {
	return fmtConcat(mp4B("ftyp", []byte("M4A "), mp4be32(0)), mp4be32(1), []byte("moov"), binary.BigEndian.AppendUint64(nil, math.MaxUint64), make([]byte, 64))
}

// TestMP4ImpossibleSizesSaySo: the message of a moov with an impossible
// size says so (issue 13, finding 7: it said "-32 bytes missing"); a moov
// merely cut short says how much is missing.
func TestMP4ImpossibleSizesSaySo(t *testing.T) {
	_, err := inspectBytes(mp4LargesizeMoov(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "impossible size of 18446744073709551615 bytes")
	assert.NotContains(t, err.Error(), "-")

	b := fmtSample(t, "m4a-aac-mono-44100-trap-channelcount2.m4a") // moov last
	_, err = inspectBytes(b[:len(b)-50])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "50 of its")
}

// TestMP4FragmentDurationsDoNotWrap: trun sample counts × default
// durations from hostile fragments must not wrap the uint64 sum around to
// a small, plausible duration (4 × 2^31 × 2^31 = 2^64 ticks wraps to 0).
// A trun cannot hold more samples than the file has bytes, so such a file
// is now corrupt before any sum.
func TestMP4FragmentDurationsDoNotWrap(t *testing.T) {
	full := func(v, flags uint32) []byte { return mp4be32(v<<24 | flags) }
	b := synthFMP4(t)
	for i := uint32(0); i < 4; i++ {
		traf := mp4B("traf", mp4B("tfhd", full(0, 0x020008), mp4be32(1), mp4be32(1<<31)), mp4B("trun", full(0, 0), mp4be32(1<<31)))
		b = fmtConcat(b, mp4B("moof", mp4B("mfhd", full(0, 0), mp4be32(4+i)), traf), mp4B("mdat", make([]byte, 10)))
	}
	rep, err := inspectBytes(b)
	var ie *Error
	require.True(t, errors.As(err, &ie), "want corrupt, got %v (duration %v)", err, rep.Duration)
	assert.Equal(t, KindCorrupt, ie.Kind)
	assert.False(t, rep.AudioReady)
}
