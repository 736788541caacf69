package codec

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// streamInfo builds a STREAMINFO body.
func streamInfo(minBS, maxBS uint16, rate uint32, ch, bps int, total uint64) []byte {
	b := make([]byte, StreamInfoLen)
	binary.BigEndian.PutUint16(b[0:], minBS)
	binary.BigEndian.PutUint16(b[2:], maxBS)
	b[6], b[9] = 14, 200 // min/max frame size
	v := uint64(rate)<<44 | uint64(ch-1)<<41 | uint64(bps-1)<<36 | total&(1<<36-1)
	binary.BigEndian.PutUint64(b[10:], v)
	return b
}

// streamInfoCases feed TestStreamInfo and FuzzStreamInfo's seeds.
var streamInfoCases = []struct {
	name string
	b    []byte
	want StreamInfo
	dur  float64
	err  bool
}{
	{"mono 16k 0.5 s", streamInfo(4096, 4096, 16000, 1, 16, 8000),
		StreamInfo{MinBlockSize: 4096, MaxBlockSize: 4096, MinFrameSize: 14, MaxFrameSize: 200, SampleRate: 16000, Channels: 1, BitsPerSample: 16, TotalSamples: 8000}, 0.5, false},
	{"stereo 8k s24", streamInfo(4608, 4608, 8000, 2, 24, 8000),
		StreamInfo{MinBlockSize: 4608, MaxBlockSize: 4608, MinFrameSize: 14, MaxFrameSize: 200, SampleRate: 8000, Channels: 2, BitsPerSample: 24, TotalSamples: 8000}, 1, false},
	{"written to a pipe: total unknown", streamInfo(4096, 4096, 8000, 1, 16, 0),
		StreamInfo{MinBlockSize: 4096, MaxBlockSize: 4096, MinFrameSize: 14, MaxFrameSize: 200, SampleRate: 8000, Channels: 1, BitsPerSample: 16}, 0, false},
	{"8 channels 655350 Hz", streamInfo(16, 65535, 655350, 8, 32, 1<<36-1),
		StreamInfo{MinBlockSize: 16, MaxBlockSize: 65535, MinFrameSize: 14, MaxFrameSize: 200, SampleRate: 655350, Channels: 8, BitsPerSample: 32, TotalSamples: 1<<36 - 1}, float64(1<<36-1) / 655350, false},
	{"rate 0", streamInfo(4096, 4096, 0, 1, 16, 8000), StreamInfo{}, 0, true},
	{"short", make([]byte, 18), StreamInfo{}, 0, true},
}

func TestStreamInfo(t *testing.T) {
	for _, c := range streamInfoCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseStreamInfo(c.b)
			if c.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
			assert.InDelta(t, c.dur, got.Duration(), 1e-9)
		})
	}
}

func FuzzStreamInfo(f *testing.F) {
	for _, c := range streamInfoCases {
		f.Add(c.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		si, err := ParseStreamInfo(b)
		if err == nil && (si.SampleRate <= 0 || si.Channels < 1 || si.Channels > 8 || si.Duration() < 0) {
			t.Fatalf("accepted %+v", si)
		}
	})
}
