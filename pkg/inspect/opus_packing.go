package inspect

import (
	"fmt"

	"github.com/prep-audio/prep/pkg/inspect/codec"
	"github.com/prep-audio/prep/pkg/rules"
)

// OpusPacking is how an Opus stream is framed, from its ID header and its
// first audio packets (RFC 6716 §3.1: the TOC byte's configuration gives
// mode, bandwidth and frame duration; its code and the frame count byte the
// frames per packet). WhatsApp's own voice notes are SILK wideband 20 ms
// frames (configuration 9) packed three to a packet (code 3, 60 ms), with an
// input sample rate of 16 kHz; libopus through ffmpeg writes one frame per
// packet (code 0).
type OpusPacking struct {
	Config          int     `json:"config"`            // TOC configuration of the first audio packet, 0–31
	Mode            string  `json:"mode"`              // SILK, hybrid or CELT
	Bandwidth       string  `json:"bandwidth"`         // NB, MB, WB, SWB or FB
	FrameMs         float64 `json:"frame_ms"`          // one frame: 2.5–60 ms
	Code            int     `json:"code"`              // the first packet's frame count code, 0–3
	FramesPerPacket int     `json:"frames_per_packet"` // frames in the first packet
	PacketMs        float64 `json:"packet_ms"`         // FramesPerPacket × FrameMs
	InputSampleRate int     `json:"input_sample_rate"` // from OpusHead/dOps; 0 when not told
	Packets         int     `json:"packets"`           // audio packets examined (up to 16)
	Uniform         bool    `json:"uniform"`           // all of them share the first's configuration and frame count (a shorter last packet of the stream aside)
	Native          bool    `json:"native"`            // shaped like WhatsApp's own voice notes
}

// opusSamplePackets is how many audio packets the sampler examines.
const opusSamplePackets = 16

// opusSampler collects the packing of an Opus stream's first audio packets.
type opusSampler struct {
	head      *codec.OpusHead
	first     codec.OpusTOC
	frames    int // of the first packet
	n         int
	odd       int  // packets unlike the first
	lastOdd   bool // the last one examined is unlike the first: a shorter final packet
	lastFinal bool // the last one examined ended the stream
}

func (o *opusSampler) full() bool { return o.n >= opusSamplePackets }

// add takes the first bytes of one audio packet (at least the TOC and, for
// code 3, the frame count byte); final marks the stream's last packet.
func (o *opusSampler) add(p []byte, final bool) {
	if o.full() || len(p) == 0 {
		return
	}
	frames, err := codec.OpusPacketFrames(p)
	toc := codec.ParseOpusTOC(p[0])
	if o.n == 0 {
		o.first, o.frames = toc, frames
	}
	o.n++
	o.lastOdd, o.lastFinal = false, final
	if err != nil || toc.Config != o.first.Config || toc.Stereo != o.first.Stereo || frames != o.frames {
		o.odd++
		o.lastOdd = err == nil && toc.Config == o.first.Config && frames < o.frames
	}
}

// packing is the result, nil when no audio packet was seen.
func (o *opusSampler) packing() *OpusPacking {
	if o == nil || o.n == 0 {
		return nil
	}
	frameMs := float64(o.first.FrameDuration().Microseconds()) / 1000
	p := &OpusPacking{
		Config: int(o.first.Config), Mode: o.first.Mode().String(), Bandwidth: o.first.Bandwidth().String(),
		FrameMs: frameMs, Code: int(o.first.Code), FramesPerPacket: o.frames, PacketMs: float64(o.frames) * frameMs,
		Packets: o.n,
	}
	p.Uniform = o.odd == 0 || o.odd == 1 && o.lastOdd && o.lastFinal
	if o.head != nil {
		p.InputSampleRate = int(o.head.InputSampleRate)
	}
	p.Native = p.Uniform && p.Config == rules.NativeOpusConfig && p.Code == 3 && p.FramesPerPacket == rules.NativeOpusFrames &&
		!o.first.Stereo && p.InputSampleRate == rules.NativeOpusInputRate
	return p
}

// String describes the packing, e.g. "SILK WB, 3 × 20 ms frames per packet, 16000 Hz input".
func (p *OpusPacking) String() string {
	s := fmt.Sprintf("%s %s, %d × %g ms frame", p.Mode, p.Bandwidth, p.FramesPerPacket, p.FrameMs)
	if p.FramesPerPacket != 1 {
		s += "s"
	}
	s += " per packet"
	if p.InputSampleRate > 0 {
		s += fmt.Sprintf(", %d Hz input", p.InputSampleRate)
	}
	if !p.Uniform {
		s += ", mixed packets"
	}
	return s
}
