package codec

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// opusHeadCases feed TestOpusHead and FuzzOpusHead's seeds.
var opusHeadCases = []struct {
	name string
	b    []byte
	want OpusHead
	err  bool
}{
	// ffmpeg 5.1 (libopus), mono, 48 kHz input: testdata/ogg-opus-mono-48k-2s.ogg.
	{"ffmpeg mono 48k", []byte("OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"),
		OpusHead{Version: 1, Channels: 1, PreSkip: 312, InputSampleRate: 48000}, false},
	// A WhatsApp-shaped note: mono, 16 kHz input, pre-skip 312.
	{"mono 16k", []byte("OpusHead\x01\x01\x38\x01\x80\x3e\x00\x00\x00\x00\x00"),
		OpusHead{Version: 1, Channels: 1, PreSkip: 312, InputSampleRate: 16000}, false},
	{"gain -1.5 dB", []byte("OpusHead\x01\x02\x00\x0f\x44\xac\x00\x00\x80\xfe\x00"),
		OpusHead{Version: 1, Channels: 2, PreSkip: 3840, InputSampleRate: 44100, OutputGain: -384}, false},
	{"family 1, 3 channels", []byte("OpusHead\x01\x03\x38\x01\x80\xbb\x00\x00\x00\x00\x01\x02\x01\x00\x02\x01"),
		OpusHead{Version: 1, Channels: 3, PreSkip: 312, InputSampleRate: 48000, MappingFamily: 1, StreamCount: 2, CoupledCount: 1, Mapping: []byte{0, 2, 1}}, false},
	{"short", []byte("OpusHead\x01\x01\x38\x01"), OpusHead{}, true},
	{"no magic", []byte("OpusTags\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"), OpusHead{}, true},
	{"version 16", []byte("OpusHead\x10\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"), OpusHead{}, true},
	{"0 channels", []byte("OpusHead\x01\x00\x38\x01\x80\xbb\x00\x00\x00\x00\x00"), OpusHead{}, true},
	{"3 channels family 0", []byte("OpusHead\x01\x03\x38\x01\x80\xbb\x00\x00\x00\x00\x00"), OpusHead{}, true},
	{"family 1 table cut", []byte("OpusHead\x01\x03\x38\x01\x80\xbb\x00\x00\x00\x00\x01\x02\x01\x00"), OpusHead{}, true},
	{"family 1 coupled > streams", []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x01\x01\x02\x00\x01"), OpusHead{}, true},
}

func TestOpusHead(t *testing.T) {
	for _, c := range opusHeadCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseOpusHead(c.b)
			if c.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestOpusSpecificBox(t *testing.T) {
	// ffmpeg's dOps for a mono note: version 0, 1 channel, pre-skip 312, 48000 Hz, gain 0, family 0.
	got, err := ParseOpusSpecificBox([]byte{0, 1, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0, 0, 0})
	require.NoError(t, err)
	assert.Equal(t, OpusHead{Channels: 1, PreSkip: 312, InputSampleRate: 48000}, got)
	for _, b := range [][]byte{nil, {1, 1, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0, 0, 0}, {0, 0, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0, 0, 0}, {0, 1, 2}} {
		_, err := ParseOpusSpecificBox(b)
		assert.Error(t, err, "% x", b)
	}
}

func FuzzOpusHead(f *testing.F) {
	for _, c := range opusHeadCases {
		f.Add(c.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := ParseOpusHead(b); err == nil && (h.Channels == 0 || len(h.Mapping) > 255) {
			t.Fatalf("accepted %+v", h)
		}
		_, _ = ParseOpusSpecificBox(b)
	})
}

// TestOpusTOCTable checks every configuration against RFC 6716 Table 2.
func TestOpusTOCTable(t *testing.T) {
	type row struct {
		mode OpusMode
		bw   OpusBandwidth
		ms   []float64
	}
	table := []struct {
		from, to uint8
		row
	}{
		{0, 3, row{OpusSILK, OpusNB, []float64{10, 20, 40, 60}}},
		{4, 7, row{OpusSILK, OpusMB, []float64{10, 20, 40, 60}}},
		{8, 11, row{OpusSILK, OpusWB, []float64{10, 20, 40, 60}}},
		{12, 13, row{OpusHybrid, OpusSWB, []float64{10, 20}}},
		{14, 15, row{OpusHybrid, OpusFB, []float64{10, 20}}},
		{16, 19, row{OpusCELT, OpusNB, []float64{2.5, 5, 10, 20}}},
		{20, 23, row{OpusCELT, OpusWB, []float64{2.5, 5, 10, 20}}},
		{24, 27, row{OpusCELT, OpusSWB, []float64{2.5, 5, 10, 20}}},
		{28, 31, row{OpusCELT, OpusFB, []float64{2.5, 5, 10, 20}}},
	}
	seen := 0
	for _, r := range table {
		for c := r.from; c <= r.to; c++ {
			toc := ParseOpusTOC(c << 3)
			assert.Equal(t, r.mode, toc.Mode(), "config %d", c)
			assert.Equal(t, r.bw, toc.Bandwidth(), "config %d", c)
			want := time.Duration(r.ms[c-r.from] * float64(time.Millisecond))
			assert.Equal(t, want, toc.FrameDuration(), "config %d", c)
			seen++
		}
	}
	assert.Equal(t, 32, seen)
	// WhatsApp's own notes: config 9, mono, code 3.
	toc := ParseOpusTOC(0x4B)
	assert.Equal(t, OpusTOC{Config: 9, Code: 3}, toc)
	assert.Equal(t, "SILK", toc.Mode().String())
	assert.Equal(t, "WB", toc.Bandwidth().String())
	assert.Equal(t, 16000, toc.Bandwidth().SampleRate())
	assert.Equal(t, 20*time.Millisecond, toc.FrameDuration())
	for b := 0; b < 256; b++ {
		assert.Equal(t, byte(b), ParseOpusTOC(byte(b)).Byte())
	}
}

// opusPacketCases feed TestOpusPacket and FuzzOpusPacket's seeds.
var opusPacketCases = []struct {
	name    string
	p       []byte
	frames  []int // frame lengths
	vbr     bool
	padding int
	samples int
	err     bool
}{
	{"code 0 SILK WB 20 ms", append([]byte{0x48}, bytes.Repeat([]byte{1}, 40)...), []int{40}, false, 0, 960, false},
	{"code 0 DTX", []byte{0x48}, []int{0}, false, 0, 960, false},
	{"code 1", append([]byte{0x49}, bytes.Repeat([]byte{1}, 20)...), []int{10, 10}, false, 0, 1920, false},
	{"code 2", append([]byte{0x4A, 3}, bytes.Repeat([]byte{1}, 10)...), []int{3, 7}, false, 0, 1920, false},
	{"code 2 two-byte length", append([]byte{0x4A, 253, 1}, bytes.Repeat([]byte{1}, 300)...), []int{257, 43}, false, 0, 1920, false},
	{"code 3 CBR 3 frames (WhatsApp)", append([]byte{0x4B, 3}, bytes.Repeat([]byte{1}, 90)...), []int{30, 30, 30}, false, 0, 2880, false},
	{"code 3 VBR 3 frames", append([]byte{0x4B, 0x83, 20, 30}, bytes.Repeat([]byte{1}, 60)...), []int{20, 30, 10}, true, 0, 2880, false},
	{"code 3 CBR padded", append([]byte{0x4B, 0x42, 2}, bytes.Repeat([]byte{1}, 12)...), []int{5, 5}, false, 2, 1920, false},
	{"code 3 padded 255+1", append([]byte{0x4B, 0x41, 255, 1}, bytes.Repeat([]byte{1}, 265)...), []int{10}, false, 255, 960, false},
	{"code 3 CELT 2.5 ms x48", append([]byte{0x83, 48}, bytes.Repeat([]byte{1}, 48)...), nil, false, 0, 5760, false},
	{"empty", nil, nil, false, 0, 0, true},
	{"code 1 odd", []byte{0x49, 1, 2, 3}, nil, false, 0, 0, true},
	{"code 2 length past end", []byte{0x4A, 10, 1}, nil, false, 0, 0, true},
	{"code 2 no length", []byte{0x4A}, nil, false, 0, 0, true},
	{"code 3 no count", []byte{0x4B}, nil, false, 0, 0, true},
	{"code 3 zero frames", []byte{0x4B, 0}, nil, false, 0, 0, true},
	{"code 3 over 120 ms", []byte{0x5B, 3}, nil, false, 0, 0, true}, // SILK 60 ms x3
	{"code 3 CBR uneven", []byte{0x4B, 3, 1, 2}, nil, false, 0, 0, true},
	{"code 3 padding past end", []byte{0x4B, 0x41, 255}, nil, false, 0, 0, true},
	{"code 3 padding too large", []byte{0x4B, 0x41, 9, 1}, nil, false, 0, 0, true},
	{"code 3 VBR length past end", []byte{0x4B, 0x82, 200, 1}, nil, false, 0, 0, true},
	{"frame over 1275", append([]byte{0x48}, make([]byte, 1276)...), nil, false, 0, 0, true},
}

func TestOpusPacket(t *testing.T) {
	for _, c := range opusPacketCases {
		t.Run(c.name, func(t *testing.T) {
			pk, err := ParseOpusPacket(c.p)
			if c.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			if c.frames != nil {
				var lens []int
				for _, f := range pk.Frames {
					lens = append(lens, len(f))
				}
				assert.Equal(t, c.frames, lens)
			}
			assert.Equal(t, c.vbr, pk.VBR)
			assert.Equal(t, c.padding, pk.Padding)
			assert.Equal(t, c.samples, pk.Samples())
			n, err := OpusPacketFrames(c.p)
			require.NoError(t, err)
			assert.Equal(t, len(pk.Frames), n)
		})
	}
}

// TestAppendOpusPacket: packing frames and parsing the packet gives the
// same frames back, with the code RFC 6716 §3.2 calls for.
func TestAppendOpusPacket(t *testing.T) {
	f := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	toc := OpusTOC{Config: 9}
	for _, c := range []struct {
		name   string
		frames [][]byte
		code   uint8
		vbr    bool
	}{
		{"one", [][]byte{f(40, 1)}, 0, false},
		{"two equal", [][]byte{f(40, 1), f(40, 2)}, 1, false},
		{"two different", [][]byte{f(40, 1), f(300, 2)}, 2, false},
		{"three equal (CBR)", [][]byte{f(30, 1), f(30, 2), f(30, 3)}, 3, false},
		{"three different (VBR)", [][]byte{f(30, 1), f(600, 2), f(0, 3)}, 3, true},
		{"three with DTX", [][]byte{f(0, 1), f(0, 2), f(0, 3)}, 3, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := AppendOpusPacket([]byte{0xAA}, toc, c.frames)
			require.NoError(t, err)
			assert.Equal(t, byte(0xAA), p[0], "appends")
			pk, err := ParseOpusPacket(p[1:])
			require.NoError(t, err)
			assert.Equal(t, c.code, pk.TOC.Code)
			assert.Equal(t, uint8(9), pk.TOC.Config)
			assert.Equal(t, c.vbr, pk.VBR)
			require.Len(t, pk.Frames, len(c.frames))
			for i := range c.frames {
				assert.Equal(t, c.frames[i], pk.Frames[i], "frame %d", i)
			}
		})
	}
	_, err := AppendOpusPacket(nil, toc, nil)
	assert.Error(t, err, "no frames")
	_, err = AppendOpusPacket(nil, toc, [][]byte{f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1), f(1, 1)})
	assert.Error(t, err, "140 ms")
	_, err = AppendOpusPacket(nil, toc, [][]byte{f(1276, 1)})
	assert.Error(t, err, "frame too long")
}

func FuzzOpusPacket(f *testing.F) {
	for _, c := range opusPacketCases {
		f.Add(c.p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		pk, err := ParseOpusPacket(p)
		if err != nil {
			return
		}
		if pk.Samples() > OpusMaxPacketSamples || len(pk.Frames) == 0 {
			t.Fatalf("accepted %d frames, %d samples", len(pk.Frames), pk.Samples())
		}
		// Repacking the frames gives a packet with the same frames.
		q, err := AppendOpusPacket(nil, pk.TOC, pk.Frames)
		if err != nil {
			t.Fatalf("repack: %v", err)
		}
		pk2, err := ParseOpusPacket(q)
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if len(pk2.Frames) != len(pk.Frames) {
			t.Fatalf("%d frames became %d", len(pk.Frames), len(pk2.Frames))
		}
		for i := range pk.Frames {
			if !bytes.Equal(pk.Frames[i], pk2.Frames[i]) {
				t.Fatalf("frame %d changed", i)
			}
		}
	})
}
