package inspect

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpusPacking: inspect tells the TOC mode, bandwidth, frame duration
// and frames per packet of an Opus stream, and whether it is shaped like
// WhatsApp's own notes (issue 13). The native and single-frame notes are
// pkg/transcode's golden repack input and output (0.5 s, 16 kHz voip).
func TestOpusPacking(t *testing.T) {
	cases := []struct {
		file   string
		want   OpusPacking
		advise bool // not_native_packing
	}{
		{"pkg/inspect/testdata/opus-native-silk-wb-3x20ms-16k.ogg", OpusPacking{Config: 9, Mode: "SILK", Bandwidth: "WB", FrameMs: 20, Code: 3,
			FramesPerPacket: 3, PacketMs: 60, InputSampleRate: 16000, Packets: 9, Uniform: true, Native: true}, false},
		{"pkg/inspect/testdata/opus-single-silk-wb-1x20ms-16k.ogg", OpusPacking{Config: 9, Mode: "SILK", Bandwidth: "WB", FrameMs: 20, Code: 0,
			FramesPerPacket: 1, PacketMs: 20, InputSampleRate: 16000, Packets: 16, Uniform: true}, true},
		// ffmpeg's libopus at 48 kHz (audio application): hybrid/CELT FB, one frame a packet.
		{"testdata/ogg-opus-mono-48k-2s.ogg", OpusPacking{Config: 15, Mode: "hybrid", Bandwidth: "FB", FrameMs: 20, Code: 0,
			FramesPerPacket: 1, PacketMs: 20, InputSampleRate: 48000, Packets: 16}, true},
		{"testdata/webm-opus-mono-2s.webm", OpusPacking{Config: 15, Mode: "hybrid", Bandwidth: "FB", FrameMs: 20, Code: 0,
			FramesPerPacket: 1, PacketMs: 20, InputSampleRate: 48000, Packets: 16}, false},
		{"testdata/webm-mediarecorder-opus-mono-pipe-noduration-3s.webm", OpusPacking{Config: 15, Mode: "hybrid", Bandwidth: "FB", FrameMs: 20, Code: 0,
			FramesPerPacket: 1, PacketMs: 20, InputSampleRate: 48000, Packets: 16}, false},
		{"testdata/mp4-opus-mono.mp4", OpusPacking{Config: 15, Mode: "hybrid", Bandwidth: "FB", FrameMs: 20, Code: 0,
			FramesPerPacket: 1, PacketMs: 20, InputSampleRate: 48000, Packets: 16}, false},
		{"testdata/mp4-opus-fragmented-mediarecorder.mp4", OpusPacking{Config: 15, Mode: "hybrid", Bandwidth: "FB", FrameMs: 20, Code: 0,
			FramesPerPacket: 1, PacketMs: 20, InputSampleRate: 48000, Packets: 16}, false},
		// ffmpeg writes no OpusHead (kuki) into CAF: the input rate is not told.
		{"testdata/caf-opus-mono-48k-2s.caf", OpusPacking{Config: 15, Mode: "hybrid", Bandwidth: "FB", FrameMs: 20, Code: 0,
			FramesPerPacket: 1, PacketMs: 20, Packets: 16}, false},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			rep, err := File(context.Background(), filepath.Join("..", "..", c.file))
			require.NoError(t, err)
			require.NotNil(t, rep.Opus)
			assert.Equal(t, c.want, *rep.Opus)
			assert.Equal(t, c.advise, rep.Has(CodeNotNativePacking), "%+v", rep.Problems)
			if rep.Container == "ogg" {
				assert.True(t, rep.VoiceReady, "the advice does not block: %+v", rep.Problems)
			}
		})
	}
	// Not Opus: no packing.
	rep, err := File(context.Background(), filepath.Join("..", "..", "testdata", "ogg-vorbis-stereo-44k-2s.ogg"))
	require.NoError(t, err)
	assert.Nil(t, rep.Opus)
}

// TestOpusSampler covers the sampler's judgement on hand-made packets.
func TestOpusSampler(t *testing.T) {
	cases := []struct {
		name    string
		packets [][]byte
		final   bool
		uniform bool
		frames  int
	}{
		{"all code 3 x3", [][]byte{{0x4B, 3}, {0x4B, 3}, {0x4B, 3}}, false, true, 3},
		{"shorter last packet of the stream", [][]byte{{0x4B, 3}, {0x4B, 3}, {0x4B, 2}}, true, true, 3},
		{"shorter packet mid-stream", [][]byte{{0x4B, 3}, {0x4B, 2}, {0x4B, 3}}, false, false, 3},
		{"config changes", [][]byte{{0x48}, {0x78}}, false, false, 1},
		{"stereo changes", [][]byte{{0x48}, {0x4C}}, false, false, 1},
		{"broken code 3", [][]byte{{0x4B, 3}, {0x4B}}, false, false, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := &opusSampler{}
			for i, p := range c.packets {
				o.add(p, c.final && i == len(c.packets)-1)
			}
			p := o.packing()
			require.NotNil(t, p)
			assert.Equal(t, c.uniform, p.Uniform)
			assert.Equal(t, c.frames, p.FramesPerPacket)
			assert.False(t, p.Native, "no OpusHead: input rate unknown")
		})
	}
	assert.Nil(t, (&opusSampler{}).packing())
	var nilSampler *opusSampler
	assert.Nil(t, nilSampler.packing())
}
