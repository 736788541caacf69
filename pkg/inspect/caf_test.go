package inspect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prep-audio/prep/pkg/rules"
)

// cafCases: see testdata/gen/caf.sh. LPCM durations are exact. Packetized
// codecs: ffmpeg's CAF muxer writes pakt "valid frames" = packets × frames
// per packet with no priming, so the duration is rounded up to a whole
// packet (ALAC 4096 frames, Opus 960 frames + libopus's 312 pre-skip).
var cafCases = []smpCase{
	{file: "caf-pcm-s16le-mono-16k-0.25s.caf", container: rules.ContainerCAF, codec: "pcm_s16le", channels: 1, rate: 16000, duration: 0.25, tol: 1e-6},
	{file: "caf-pcm-s16be-stereo-8k-0.25s.caf", container: rules.ContainerCAF, codec: "pcm_s16be", channels: 2, rate: 8000, duration: 0.25, tol: 1e-6},
	{file: "caf-pcm-f32le-mono-8k-0.25s.caf", container: rules.ContainerCAF, codec: "pcm_f32le", channels: 1, rate: 8000, duration: 0.25, tol: 1e-6},
	{file: "caf-mulaw-mono-8k-0.5s.caf", container: rules.ContainerCAF, codec: "pcm_mulaw", channels: 1, rate: 8000, duration: 0.5, tol: 1e-6},
	{file: "caf-alac-stereo-44k-0.5s.caf", container: rules.ContainerCAF, codec: "alac", channels: 2, rate: 44100, duration: 0.5, tol: 4096.0 / 44100},
	{file: "caf-opus-mono-48k-2s.caf", container: rules.ContainerCAF, codec: "opus", channels: 1, rate: 48000, duration: 2, tol: (960.0 + 312) / 48000},
	// Data chunk size −1: the data runs to the end of the file.
	{file: "caf-pipe-datasize-minus1-mono-8k-0.5s.caf", container: rules.ContainerCAF, codec: "pcm_s16le", channels: 1, rate: 8000, duration: 0.5, tol: 1e-6},
}

func TestCAFSamples(t *testing.T) { smpCheck(t, cafCases) }

func cafChunk(typ string, body []byte) []byte {
	b := append([]byte(typ), binary.BigEndian.AppendUint64(nil, uint64(len(body)))...)
	return append(b, body...)
}

func cafDescBody(rate float64, id string, flags, bpp, fpp, ch, bits uint32) []byte {
	b := binary.BigEndian.AppendUint64(nil, math.Float64bits(rate))
	b = append(b, id...)
	for _, v := range []uint32{flags, bpp, fpp, ch, bits} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

func cafPakt(packets, valid int64, priming, remainder int32) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(packets))
	b = binary.BigEndian.AppendUint64(b, uint64(valid))
	b = binary.BigEndian.AppendUint32(b, uint32(priming))
	return binary.BigEndian.AppendUint32(b, uint32(remainder))
}

func cafFile(chunks ...[]byte) []byte {
	return append([]byte("caff\x00\x01\x00\x00"), bytes.Join(chunks, nil)...)
}

func TestCAFBuilt(t *testing.T) {
	// The ALAC sample with its format id changed to 'aac ' (ffmpeg 5.1
	// cannot mux AAC into CAF; iPhone memos are AAC in CAF): same layout,
	// desc + kuki + data + pakt.
	aac := bytes.Clone(smpLoad(t, "caf-alac-stereo-44k-0.5s.caf"))
	require.Equal(t, "alac", string(aac[28:32]))
	copy(aac[28:], "aac ")
	data := func(n int) []byte { return cafChunk("data", make([]byte, 4+n)) }
	// A data chunk declaring 8000 bytes with only 3000 present.
	cut := cafFile(cafChunk("desc", cafDescBody(8000, "lpcm", 0, 2, 1, 1, 16)), cafChunk("data", make([]byte, 8004)))[:20+32+12+4+3000]
	// data size −1 with 16000 bytes of s24be stereo at 8 kHz: 16000/6 packets.
	minus1 := cafFile(cafChunk("desc", cafDescBody(8000, "lpcm", 0, 6, 1, 2, 24)), append([]byte("data\xff\xff\xff\xff\xff\xff\xff\xff"), make([]byte, 4+16000)...))
	for _, c := range []struct {
		name      string
		data      []byte
		codec     string
		ch, rate  int
		dur, tol  float64
		truncated bool
	}{
		{"aac from the alac sample", aac, "aac", 2, 44100, 0.5, 4096.0 / 44100, false},
		// AAC with 2112 priming frames: valid frames (44100) count, not packets × 1024.
		{"aac pakt with priming", cafFile(cafChunk("desc", cafDescBody(44100, "aac ", 0, 0, 1024, 1, 0)), data(100), cafChunk("pakt", cafPakt(46, 44100, 2112, 892))), "aac", 1, 44100, 1, 1e-9, false},
		{"s8 lpcm", cafFile(cafChunk("desc", cafDescBody(8000, "lpcm", 0, 1, 1, 1, 8)), data(4000)), "pcm_s8", 1, 8000, 0.5, 1e-9, false},
		{"f64be lpcm", cafFile(cafChunk("desc", cafDescBody(8000, "lpcm", 1, 8, 1, 1, 64)), data(8000)), "pcm_f64be", 1, 8000, 0.125, 1e-9, false},
		{"s24be data size -1", minus1, "pcm_s24be", 2, 8000, float64(16000/6) / 8000, 1e-9, false},
		{"data cut short", cut, "pcm_s16be", 1, 8000, 1500.0 / 8000, 1e-9, true},
		// ffmpeg 5.1's FLAC-in-CAF: frames per packet 0x27627628 and a pakt
		// of the same nonsense: duration unknown, not 58 hours.
		{"insane frames per packet", cafFile(cafChunk("desc", cafDescBody(44100, "flac", 0, 0, 0x27627628, 2, 0)), data(1000), cafChunk("pakt", cafPakt(14, 0x27627630, 0, 0))), "flac", 2, 44100, 0, 0, false},
		// Sizes near MaxInt64 must not wrap: a data chunk of MaxInt64 bytes
		// is a cut file (its 3000 bytes count), and a pakt of 2^62+1 packets
		// (more packets than data bytes) must not overflow packets × frames
		// per packet into a plausible-looking duration (64 frames here).
		{"data size near MaxInt64", cafFile(cafChunk("desc", cafDescBody(8000, "lpcm", 0, 2, 1, 1, 16)), append([]byte("data\x7f\xff\xff\xff\xff\xff\xff\xf0"), make([]byte, 4+3000)...)), "pcm_s16be", 1, 8000, 1500.0 / 8000, 1e-9, true},
		{"pakt packets near MaxInt64", cafFile(cafChunk("desc", cafDescBody(8000, "ima4", 0, 0, 64, 1, 0)), data(100), cafChunk("pakt", cafPakt(1<<62+1, 0, 0, 0))), "adpcm_ima_qt", 1, 8000, 0, 0, false},
		{"ulaw, free chunk first", cafFile(cafChunk("desc", cafDescBody(8000, "ulaw", 0, 1, 1, 1, 8)), cafChunk("free", make([]byte, 7)), data(800)), "pcm_mulaw", 1, 8000, 0.1, 1e-9, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := smpInspect(c.data, "x.caf")
			require.NoError(t, err)
			assert.Equal(t, c.codec, rep.Codec)
			assert.Equal(t, c.ch, rep.Channels)
			assert.Equal(t, c.rate, rep.SampleRate)
			assert.InDelta(t, c.dur, rep.Duration, c.tol)
			assert.Equal(t, c.truncated, rep.Truncated)
		})
	}
}

func TestCAFErrors(t *testing.T) {
	desc := cafChunk("desc", cafDescBody(8000, "lpcm", 0, 2, 1, 1, 16))
	for _, c := range []struct {
		name string
		data []byte
		code Code
	}{
		{"desc not first", cafFile(cafChunk("free", nil), desc, cafChunk("data", make([]byte, 8))), CodeCorrupt},
		{"zero channels", cafFile(cafChunk("desc", cafDescBody(8000, "lpcm", 0, 2, 1, 0, 16))), CodeCorrupt},
		{"NaN rate", cafFile(cafChunk("desc", cafDescBody(math.NaN(), "lpcm", 0, 2, 1, 1, 16))), CodeCorrupt},
		{"no data chunk", cafFile(desc), CodeTruncated},
		{"negative chunk size", cafFile(desc, []byte("free\x80\x00\x00\x00\x00\x00\x00\x00")), CodeCorrupt},
		{"chunk past the end", cafFile(desc, cafChunk("kuki", make([]byte, 100))[:50]), CodeTruncated},
		{"desc cut", cafFile(desc)[:30], CodeTruncated},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := smpInspect(c.data, "x.caf")
			var ie *Error
			require.True(t, errors.As(err, &ie), "want *Error, got %v", err)
			assert.Equal(t, c.code, Code(ie.Kind), "%v", err)
		})
	}
}

func FuzzCAF(f *testing.F) {
	smpSeed(f, cafCases)
	f.Fuzz(smpSane)
}

func BenchmarkCAF(b *testing.B) { smpBench(b, "caf-alac-stereo-44k-0.5s.caf") }
