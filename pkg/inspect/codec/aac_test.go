package codec

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bitWriter packs fields MSB first, to build AudioSpecificConfigs by hand.
type bitWriter struct {
	b []byte
	n int
}

func (w *bitWriter) put(v uint32, bits int) *bitWriter {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>uint(i)&1) << (7 - uint(w.n%8))
		w.n++
	}
	return w
}

func ga(w *bitWriter) *bitWriter { return w.put(0, 3) } // frameLength, dependsOnCore, extension

// ascCases feed TestAudioSpecificConfig and FuzzAudioSpecificConfig's seeds.
var ascCases = []struct {
	name     string
	asc      []byte
	rate, ch int
	sbr, ps  bool
	err      bool
}{
	// AOT 2 (LC), index 4 = 44100, channelConfiguration 1.
	{"lc mono 44100", ga(new(bitWriter).put(2, 5).put(4, 4).put(1, 4)).b, 44100, 1, false, false, false},
	// ffmpeg's ASC for mono 16 kHz LC: 0x14 0x08.
	{"ffmpeg lc mono 16000", []byte{0x14, 0x08}, 16000, 1, false, false, false},
	// Explicit hierarchical SBR: AOT 5, core index 7 (22050), stereo, ext index 4 (44100), core AOT 2.
	{"he-aac v1 explicit", ga(new(bitWriter).put(5, 5).put(7, 4).put(2, 4).put(4, 4).put(2, 5)).b, 44100, 2, true, false, false},
	// AOT 29 (PS) on a mono core: the decoder outputs stereo.
	{"he-aac v2 ps", ga(new(bitWriter).put(29, 5).put(6, 4).put(1, 4).put(3, 4).put(2, 5)).b, 48000, 2, true, true, false},
	// Backward-compatible signalling: LC core, then sync 0x2b7, AOT 5, sbr flag, ext index 3, sync 0x548, ps.
	{"he-aac backward compatible", ga(new(bitWriter).put(2, 5).put(6, 4).put(1, 4)).put(0x2b7, 11).put(5, 5).put(1, 1).put(3, 4).put(0x548, 11).put(1, 1).b, 48000, 2, true, true, false},
	// Explicit 24-bit rate (index 15).
	{"explicit rate", ga(new(bitWriter).put(2, 5).put(15, 4).put(37800, 24).put(2, 4)).b, 37800, 2, false, false, false},
	// channelConfiguration 0 with a PCE: one front CPE + one front SCE + one LFE = 4 channels.
	{"pce 4 channels", new(bitWriter).put(2, 5).put(3, 4).put(0, 4).put(0, 3).
		put(0, 4).put(1, 2).put(3, 4).                               // tag, object type, sf index
		put(2, 4).put(0, 4).put(0, 4).put(1, 2).put(0, 3).put(0, 4). // 2 front, 0 side, 0 back, 1 lfe, no assoc/cc
		put(0, 3).                                                   // no mixdowns
		put(1, 1).put(0, 4).put(0, 1).put(1, 4).                     // CPE, SCE
		put(0, 4).b, 48000, 4, false, false, false},
	{"one byte", []byte{0x12}, 0, 0, false, false, true},
	{"reserved rate index", ga(new(bitWriter).put(2, 5).put(13, 4).put(1, 4)).b, 0, 0, false, false, true},
	{"empty", nil, 0, 0, false, false, true},
}

func TestAudioSpecificConfig(t *testing.T) {
	for _, c := range ascCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseAudioSpecificConfig(c.asc)
			if c.err {
				require.Error(t, err, "% x", c.asc)
				return
			}
			require.NoError(t, err, "% x", c.asc)
			assert.Equal(t, c.rate, got.SampleRate)
			assert.Equal(t, c.ch, got.Channels)
			assert.Equal(t, c.sbr, got.SBR)
			assert.Equal(t, c.ps, got.PS)
		})
	}
}

func TestAACTables(t *testing.T) {
	assert.Equal(t, 44100, AACSampleRate(4))
	assert.Equal(t, 0, AACSampleRate(13))
	assert.Equal(t, 0, AACSampleRate(-1))
	assert.Equal(t, 1, AACChannels(1))
	assert.Equal(t, 8, AACChannels(7))
	assert.Equal(t, 0, AACChannels(16))
}

func FuzzAudioSpecificConfig(f *testing.F) {
	for _, c := range ascCases {
		f.Add(c.asc)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseAudioSpecificConfig(b)
		if err == nil && (c.SampleRate <= 0 || c.Channels < 0) {
			t.Fatalf("accepted %+v", c)
		}
	})
}
