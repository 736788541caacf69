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
	// Written to a pipe: total samples 0 = unknown; the duration stays 0.
	{file: "flac-pipe-totalsamples0-mono-8k-0.5s.flac", container: rules.ContainerFLAC, codec: "flac", channels: 1, rate: 8000},
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
			assert.Equal(t, c.code, ie.Code, "%v", err)
		})
	}
}

func FuzzFLAC(f *testing.F) {
	smpSeed(f, flacCases)
	f.Fuzz(smpSane)
}

func BenchmarkFLAC(b *testing.B) { smpBench(b, "flac-mono-16k-0.5s.flac") }
