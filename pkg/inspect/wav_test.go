package inspect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prep-audio/prep/pkg/rules"
)

// wavCases: see testdata/gen/wav.sh. PCM durations are exact.
var wavCases = []smpCase{
	{file: "wav-pcm-s16le-mono-16k-0.25s.wav", container: rules.ContainerWAV, codec: "pcm_s16le", channels: 1, rate: 16000, duration: 0.25, tol: 1e-6},
	{file: "wav-pcm-u8-mono-8k-1s.wav", container: rules.ContainerWAV, codec: "pcm_u8", channels: 1, rate: 8000, duration: 1, tol: 1e-6},
	{file: "wav-pcm-s24le-stereo-8k-extensible-0.25s.wav", container: rules.ContainerWAV, codec: "pcm_s24le", channels: 2, rate: 8000, duration: 0.25, tol: 1e-6},
	// 0.25 s at 11025 Hz is 2756.25 samples: lavfi's sine makes 2756.
	{file: "wav-pcm-f32le-mono-11k-extensible-0.25s.wav", container: rules.ContainerWAV, codec: "pcm_f32le", channels: 1, rate: 11025, duration: 0.25, tol: 1.0 / 11025},
	{file: "wav-mulaw-mono-8k-0.5s.wav", container: rules.ContainerWAV, codec: "pcm_mulaw", channels: 1, rate: 8000, duration: 0.5, tol: 1e-6},
	{file: "wav-alaw-mono-8k-0.5s.wav", container: rules.ContainerWAV, codec: "pcm_alaw", channels: 1, rate: 8000, duration: 0.5, tol: 1e-6},
	// IMA ADPCM: whole blocks of 2041 samples (1024-byte blocks, mono), so
	// up to one block (0.128 s) more than the input.
	{file: "wav-adpcm-ima-mono-16k-1s.wav", container: rules.ContainerWAV, codec: "adpcm_ima_wav", channels: 1, rate: 16000, duration: 1, tol: 2041.0 / 16000},
	{file: "wav-rf64-pcm-s16le-mono-8k-0.5s.wav", container: rules.ContainerWAV, codec: "pcm_s16le", channels: 1, rate: 8000, duration: 0.5, tol: 1e-6},
	{file: "wav-stream-size-ffffffff-mono-8k-0.5s.wav", container: rules.ContainerWAV, codec: "pcm_s16le", channels: 1, rate: 8000, duration: 0.5, tol: 1e-6},
	// 6000 bytes − 44 header = 5956 bytes = 2978 samples at 16 kHz.
	{file: "wav-pcm-s16le-mono-16k-truncated-6000b.wav", container: rules.ContainerWAV, codec: "pcm_s16le", channels: 1, rate: 16000, duration: 2978.0 / 16000, tol: 1e-6, truncated: true},
}

func TestWAVSamples(t *testing.T) { smpCheck(t, wavCases) }

// wavFile builds a RIFF/WAVE file: fmt (16 or 40 bytes), optional extra
// chunks before data, and n data bytes with the given declared size.
func wavFile(tag uint16, ch, rate, bits int, extra []byte, declared uint32, n int) []byte {
	align := ch * bits / 8
	f := binary.LittleEndian.AppendUint16(nil, tag)
	f = binary.LittleEndian.AppendUint16(f, uint16(ch))
	f = binary.LittleEndian.AppendUint32(f, uint32(rate))
	f = binary.LittleEndian.AppendUint32(f, uint32(rate*align))
	f = binary.LittleEndian.AppendUint16(f, uint16(align))
	f = binary.LittleEndian.AppendUint16(f, uint16(bits))
	b := []byte("RIFF\x00\x00\x00\x00WAVEfmt ")
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
	b = append(b, f...)
	b = append(b, extra...)
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, declared)
	return append(b, make([]byte, n)...)
}

func TestWAVBuilt(t *testing.T) {
	// The streaming flavour with sizes 0 (RIFF size and data size zeroed).
	zero := bytes.Clone(smpLoad(t, "wav-stream-size-ffffffff-mono-8k-0.5s.wav"))
	copy(zero[4:], []byte{0, 0, 0, 0})
	i := bytes.Index(zero, []byte("data"))
	require.Greater(t, i, 0)
	copy(zero[i+4:], []byte{0, 0, 0, 0})
	// A LIST chunk of odd size (padded) before data.
	list := append([]byte("LIST\x03\x00\x00\x00abc\x00"), []byte("fact\x04\x00\x00\x00\x10\x00\x00\x00")...)
	// The IMA ADPCM sample (1024-byte blocks of 2041 samples, mono) cut
	// 2 blocks + 504 bytes into its data: 2·2041 + 1 + 500·2 samples.
	ima := smpLoad(t, "wav-adpcm-ima-mono-16k-1s.wav")
	d := bytes.Index(ima, []byte("data")) + 8
	imaCut := ima[:d+2*1024+504]
	cases := []struct {
		name      string
		data      []byte
		codec     string
		dur       float64
		truncated bool
	}{
		{"ima adpcm cut mid-block", imaCut, "adpcm_ima_wav", (2*2041 + 1 + 500*2) / 16000.0, true},
		{"sizes 0 (streaming)", zero, "pcm_s16le", 0.5, false},
		{"odd LIST chunk before data", wavFile(1, 2, 44100, 16, list, 44100*4, 44100*4), "pcm_s16le", 1, false},
		{"32-bit PCM", wavFile(1, 1, 8000, 32, nil, 8000*4, 8000*4), "pcm_s32le", 1, false},
		// 20 significant bits in 3-byte samples (block align 3·2 = 6 written by hand).
		{"20-bit PCM", wav20(), "pcm_s24le", 1, false},
		{"64-bit float", wavFile(3, 1, 8000, 64, nil, 8000*8, 4000*8), "pcm_f64le", 0.5, true},
		// The old 14-byte WAVEFORMAT (no wBitsPerSample) with A-law: block align 1.
		{"14-byte fmt", wav14(), "pcm_alaw", 1, false},
		{"unknown tag: byte rate", wavFile(0x1234, 1, 8000, 8, nil, 16000, 16000), "wav_0x1234", 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := smpInspect(c.data, "x.wav")
			require.NoError(t, err)
			assert.Equal(t, c.codec, rep.Codec)
			assert.InDelta(t, c.dur, rep.Duration, 1e-6)
			assert.Equal(t, c.truncated, rep.Truncated)
		})
	}
}

func TestWAVErrors(t *testing.T) {
	noFmt := []byte("RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd")
	zeroCh := wavFile(1, 0, 8000, 16, nil, 0, 0)
	bigChunk := append([]byte("RIFF\x00\x00\x00\x00WAVEJUNK\xff\xff\xff\x7f"), make([]byte, 100)...)
	for _, c := range []struct {
		name string
		data []byte
		code Code
	}{
		{"data before fmt", noFmt, CodeCorrupt},
		{"zero channels", zeroCh, CodeCorrupt},
		{"chunk past the end before data", bigChunk, CodeTruncated},
		{"fmt cut", wavFile(1, 1, 8000, 16, nil, 0, 0)[:30], CodeTruncated},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := smpInspect(c.data, "x.wav")
			var ie *Error
			require.True(t, errors.As(err, &ie), "want *Error, got %v", err)
			assert.Equal(t, c.code, Code(ie.Kind), "%v", err)
		})
	}
}

func FuzzWAV(f *testing.F) {
	smpSeed(f, wavCases)
	f.Fuzz(smpSane)
}

func BenchmarkWAV(b *testing.B) { smpBench(b, "wav-pcm-s16le-mono-16k-0.25s.wav") }

// wav20 is a stereo 8 kHz file of 20-bit samples stored in 3 bytes.
func wav20() []byte {
	b := wavFile(1, 2, 8000, 24, nil, 8000*6, 8000*6)
	binary.LittleEndian.PutUint16(b[34:], 20) // wBitsPerSample
	return b
}

// wav14 is an 8 kHz A-law file whose fmt chunk is the 14-byte WAVEFORMAT.
func wav14() []byte {
	b := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x0e\x00\x00\x00")
	b = binary.LittleEndian.AppendUint16(b, 6) // WAVE_FORMAT_ALAW
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint32(b, 8000)
	b = binary.LittleEndian.AppendUint32(b, 8000)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = append(b, "data\x40\x1f\x00\x00"...) // 8000 bytes
	return append(b, make([]byte, 8000)...)
}
