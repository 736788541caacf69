package inspect

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prep-audio/prep/pkg/rules"
)

// flacCases: see testdata/gen/flac.sh. STREAMINFO's total samples is exact.
var flacCases = []smpCase{
	{file: "flac-mono-16k-0.5s.flac", container: rules.ContainerFLAC, codec: "flac", channels: 1, rate: 16000, duration: 0.5, tol: 1e-6},
	{file: "flac-stereo-8k-s24-1s.flac", container: rules.ContainerFLAC, codec: "flac", channels: 2, rate: 8000, duration: 1, tol: 1e-6},
	// STREAMINFO total 0 (ffmpeg to a pipe): the duration is the end of the last frame.
	{file: "flac-pipe-totalsamples0-mono-8k-0.5s.flac", container: rules.ContainerFLAC, codec: "flac", channels: 1, rate: 8000, duration: 0.5, tol: 1e-6},
	{file: "flac-id3-prefixed-mono-16k-0.5s.flac", container: rules.ContainerFLAC, codec: "flac", channels: 1, rate: 16000, duration: 0.5, tol: 1e-6},
}

func TestFLACSamples(t *testing.T) { smpCheck(t, flacCases) }

// flacFile builds fLaC + STREAMINFO (+ more blocks) + a frame sync code.
func flacFile(rate, ch, bits int, samples uint64, more []byte, frames bool) []byte {
	si := make([]byte, 34)
	binary.BigEndian.PutUint16(si[0:], 4096)
	binary.BigEndian.PutUint16(si[2:], 4096)
	v := uint64(rate)<<44 | uint64(ch-1)<<41 | uint64(bits-1)<<36 | samples
	binary.BigEndian.PutUint64(si[10:], v)
	last := byte(0x80)
	if more != nil {
		last = 0
	}
	b := append([]byte("fLaC"), last, 0, 0, 34)
	b = append(b, si...)
	b = append(b, more...)
	if frames {
		b = append(b, 0xFF, 0xF8, 0x69, 0x08, 0x00)
	}
	return b
}

func TestFLACBuilt(t *testing.T) {
	padding := append([]byte{0x81, 0, 0, 10}, make([]byte, 10)...) // last block: PADDING of 10
	for _, c := range []struct {
		name      string
		data      []byte
		ch, rate  int
		dur       float64
		truncated bool
	}{
		{"6 channels 96 kHz", flacFile(96000, 6, 24, 96000*3, nil, true), 6, 96000, 3, false},
		{"padding block", flacFile(44100, 2, 16, 44100, padding, true), 2, 44100, 1, false},
		{"metadata only, no frames", flacFile(44100, 1, 16, 44100, nil, false), 1, 44100, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := smpInspect(c.data, "x.flac")
			require.NoError(t, err)
			assert.Equal(t, "flac", rep.Codec)
			assert.Equal(t, c.ch, rep.Channels)
			assert.Equal(t, c.rate, rep.SampleRate)
			assert.InDelta(t, c.dur, rep.Duration, 1e-9)
			assert.Equal(t, c.truncated, rep.Truncated)
		})
	}
}

// testCRC8 is FLAC's header CRC-8 (poly 0x07), written out for the tests.
func testCRC8(b []byte) byte {
	crc := 0
	for _, x := range b {
		crc ^= int(x)
		for k := 0; k < 8; k++ {
			crc <<= 1
			if crc&0x100 != 0 {
				crc ^= 0x107
			}
		}
	}
	return byte(crc)
}

// flacFrames builds a mono 16 kHz FLAC stream whose STREAMINFO says total
// samples, with frames of block size 4096 (the last one of last samples),
// numbered by frame (fixed) or by sample (variable). Frame bodies are 60
// zero bytes: the parser reads headers only.
func flacFrames(total uint64, frames int, last int, variable bool) []byte {
	b := flacFile(16000, 1, 16, total, nil, false)
	for f := 0; f < frames; f++ {
		num := uint64(f)
		if variable {
			num = uint64(f) * 4096
		}
		h := []byte{0xFF, 0xF8, 12 << 4, 0}
		if variable {
			h[1] = 0xF9
		}
		switch {
		case num < 0x80:
			h = append(h, byte(num))
		case num < 0x800:
			h = append(h, 0xC0|byte(num>>6), 0x80|byte(num&0x3F))
		default:
			h = append(h, 0xE0|byte(num>>12), 0x80|byte(num>>6&0x3F), 0x80|byte(num&0x3F))
		}
		if f == frames-1 && last != 4096 {
			h[2] = 7 << 4
			h = binary.BigEndian.AppendUint16(h, uint16(last-1))
		}
		h = append(h, testCRC8(h))
		b = append(b, h...)
		b = append(b, make([]byte, 60)...)
	}
	return b
}

func TestFLACLastFrame(t *testing.T) {
	// 10 frames: 9 × 4096 + 1000 = 37864 samples.
	full := flacFrames(37864, 10, 1000, false)
	// Frames are 66 bytes (4 + 1 coded number + CRC + 60), the last 68 (+2
	// for its 16-bit block size). Keep 6 frames and 30 bytes of the 7th.
	// (Sample-numbered frames 1–9 code their number in 3 bytes, not 1: the
	// same cut is 10 bytes further there.)
	cut := len(full) - 68 - 2*66 - (66 - 30)
	for _, c := range []struct {
		name      string
		data      []byte
		dur       float64
		truncated bool
	}{
		{"complete, fixed block size", full, 37864.0 / 16000, false},
		{"complete, variable block size", flacFrames(37864, 10, 1000, true), 37864.0 / 16000, false},
		{"frame numbers past 127 (2-byte coded)", flacFrames(200*4096, 200, 4096, false), 200 * 4096 / 16000.0, false},
		// STREAMINFO total 0 ("unknown": written to a pipe): the end of
		// the last frame is the duration.
		{"total unknown, fixed block size", flacFrames(0, 10, 1000, false), 37864.0 / 16000, false},
		{"total unknown, variable block size", flacFrames(0, 10, 1000, true), 37864.0 / 16000, false},
		// Cut 30 bytes into the 7th frame: 6 whole frames before it.
		{"cut in the 7th frame", full[:cut], 6 * 4096 / 16000.0, true},
		{"cut in the 7th frame, variable", flacFrames(37864, 10, 1000, true)[:cut+10], 6 * 4096 / 16000.0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := smpInspect(c.data, "x.flac")
			require.NoError(t, err)
			assert.InDelta(t, c.dur, rep.Duration, 1e-9)
			assert.Equal(t, c.truncated, rep.Truncated)
		})
	}
}

func TestFLACErrors(t *testing.T) {
	notSI := flacFile(44100, 2, 16, 0, nil, true)
	notSI[4] = 0x81 // first block type PADDING
	zeroRate := flacFile(0, 2, 16, 0, nil, true)
	cut := flacFile(44100, 2, 16, 44100, append([]byte{0x81, 0, 1, 0}, make([]byte, 10)...), false) // block of 256 bytes, 10 present
	noSync := flacFile(44100, 2, 16, 44100, nil, false)
	noSync = append(noSync, "ID3 junk"...)
	for _, c := range []struct {
		name string
		data []byte
		code Code
	}{
		{"first block not STREAMINFO", notSI, CodeCorrupt},
		{"sample rate 0", zeroRate, CodeCorrupt},
		{"metadata block past the end", cut, CodeTruncated},
		{"no frame sync", noSync, CodeCorrupt},
		{"STREAMINFO cut", flacFile(44100, 2, 16, 44100, nil, true)[:20], CodeTruncated},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := smpInspect(c.data, "x.flac")
			var ie *Error
			require.True(t, errors.As(err, &ie), "want *Error, got %v", err)
			assert.Equal(t, c.code, Code(ie.Kind), "%v", err)
		})
	}
}

func FuzzFLAC(f *testing.F) {
	smpSeed(f, flacCases)
	f.Fuzz(smpSane)
}

func BenchmarkFLAC(b *testing.B) { smpBench(b, "flac-mono-16k-0.5s.flac") }
