// Package oggopus reads and writes Ogg Opus streams (RFC 3533, RFC 7845)
// and repacks their Opus packets (RFC 6716 §3.2) without decoding them:
// consecutive frames of the same configuration are combined into code-3
// packets of up to 60 ms, the way WhatsApp's own voice notes are packed.
//
// Every function is bounded and returns an error for malformed input;
// none panics on any bytes.
package oggopus

import (
	"errors"
	"fmt"
)

// Mode is the Opus coding mode of a TOC configuration (RFC 6716 §3.1).
type Mode string

// Modes.
const (
	ModeSILK   Mode = "silk"
	ModeHybrid Mode = "hybrid"
	ModeCELT   Mode = "celt"
)

// TOC is the table-of-contents byte of an Opus packet (RFC 6716 §3.1).
type TOC byte

// Config is the configuration number 0–31 (mode, bandwidth, frame size).
func (t TOC) Config() int { return int(t >> 3) }

// Stereo reports the s bit.
func (t TOC) Stereo() bool { return t&0x4 != 0 }

// Code is the frame-count code 0–3.
func (t TOC) Code() int { return int(t & 0x3) }

// Mode is SILK (configs 0–11), hybrid (12–15) or CELT (16–31).
func (t TOC) Mode() Mode {
	switch c := t.Config(); {
	case c < 12:
		return ModeSILK
	case c < 16:
		return ModeHybrid
	}
	return ModeCELT
}

// Bandwidth is NB, MB, WB, SWB or FB.
func (t TOC) Bandwidth() string {
	c := t.Config()
	switch {
	case c < 12:
		return [...]string{"NB", "MB", "WB"}[c/4]
	case c < 16:
		return [...]string{"SWB", "FB"}[(c-12)/2]
	}
	return [...]string{"NB", "WB", "SWB", "FB"}[(c-16)/4]
}

// FrameSamples is the duration of one frame in 48 kHz samples (the Ogg
// Opus granule clock): 120 (2.5 ms) to 2880 (60 ms).
func (t TOC) FrameSamples() int {
	c := t.Config()
	switch {
	case c < 12:
		return [...]int{480, 960, 1920, 2880}[c%4]
	case c < 16:
		return [...]int{480, 960}[c%2]
	}
	return [...]int{120, 240, 480, 960}[c%4]
}

// maxFrameBytes is the largest frame RFC 6716 §3.2.1 allows.
const maxFrameBytes = 1275

// maxPacketSamples is the longest packet RFC 6716 §3.2.5 allows (120 ms).
const maxPacketSamples = 5760

// Packet is an Opus packet split into its frames (padding dropped).
type Packet struct {
	TOC    TOC
	Frames [][]byte // sub-slices of the packet's bytes
}

// Samples is the packet's duration in 48 kHz samples.
func (p Packet) Samples() int { return len(p.Frames) * p.TOC.FrameSamples() }

var errPacket = errors.New("malformed Opus packet")

// frameLen reads a frame length (RFC 6716 §3.2.1): one byte below 252,
// else two. It returns the length and the bytes used.
func frameLen(b []byte) (int, int, error) {
	if len(b) < 1 {
		return 0, 0, errPacket
	}
	if b[0] < 252 {
		return int(b[0]), 1, nil
	}
	if len(b) < 2 {
		return 0, 0, errPacket
	}
	return int(b[1])*4 + int(b[0]), 2, nil
}

// ParsePacket splits an Opus packet into its frames (RFC 6716 §3.2,
// requirements R1–R7 checked). Padding is dropped.
func ParsePacket(b []byte) (Packet, error) {
	if len(b) < 1 {
		return Packet{}, fmt.Errorf("%w: empty (R1)", errPacket)
	}
	toc := TOC(b[0])
	p := Packet{TOC: toc}
	data := b[1:]
	switch toc.Code() {
	case 0:
		if len(data) > maxFrameBytes {
			return p, fmt.Errorf("%w: code 0 frame of %d bytes (R2)", errPacket, len(data))
		}
		p.Frames = [][]byte{data}
	case 1:
		if len(data)%2 != 0 || len(data)/2 > maxFrameBytes {
			return p, fmt.Errorf("%w: code 1 with %d bytes (R3)", errPacket, len(data))
		}
		h := len(data) / 2
		p.Frames = [][]byte{data[:h], data[h:]}
	case 2:
		n, used, err := frameLen(data)
		if err != nil || n > len(data)-used || len(data)-used-n > maxFrameBytes || n > maxFrameBytes {
			return p, fmt.Errorf("%w: code 2 lengths (R4)", errPacket)
		}
		data = data[used:]
		p.Frames = [][]byte{data[:n], data[n:]}
	case 3:
		if len(data) < 1 {
			return p, fmt.Errorf("%w: code 3 without a frame count (R6)", errPacket)
		}
		fc := data[0]
		data = data[1:]
		m := int(fc & 0x3f)
		vbr, padded := fc&0x80 != 0, fc&0x40 != 0
		if m == 0 || m*toc.FrameSamples() > maxPacketSamples {
			return p, fmt.Errorf("%w: code 3 with %d frames (R5)", errPacket, m)
		}
		pad := 0
		if padded {
			for {
				if len(data) < 1 {
					return p, fmt.Errorf("%w: padding length (R7)", errPacket)
				}
				v := int(data[0])
				data = data[1:]
				if v == 255 {
					pad += 254
					continue
				}
				pad += v
				break
			}
		}
		if pad > len(data) {
			return p, fmt.Errorf("%w: %d bytes of padding in %d (R7)", errPacket, pad, len(data))
		}
		data = data[:len(data)-pad]
		p.Frames = make([][]byte, 0, m)
		if vbr {
			lens := make([]int, m)
			total := 0
			for i := 0; i < m-1; i++ {
				n, used, err := frameLen(data)
				if err != nil || n > maxFrameBytes {
					return p, fmt.Errorf("%w: code 3 VBR lengths (R6)", errPacket)
				}
				data = data[used:]
				lens[i] = n
				total += n
			}
			if total > len(data) || len(data)-total > maxFrameBytes {
				return p, fmt.Errorf("%w: code 3 VBR sizes (R6)", errPacket)
			}
			lens[m-1] = len(data) - total
			for _, n := range lens {
				p.Frames = append(p.Frames, data[:n])
				data = data[n:]
			}
		} else {
			if len(data)%m != 0 || len(data)/m > maxFrameBytes {
				return p, fmt.Errorf("%w: code 3 CBR with %d bytes for %d frames (R6)", errPacket, len(data), m)
			}
			n := len(data) / m
			for i := 0; i < m; i++ {
				p.Frames = append(p.Frames, data[i*n:(i+1)*n])
			}
		}
	}
	return p, nil
}

// appendFrameLen appends a frame length in RFC 6716 §3.2.1's coding.
func appendFrameLen(b []byte, n int) []byte {
	if n < 252 {
		return append(b, byte(n))
	}
	first := 252 + n&3
	return append(b, byte(first), byte((n-first)/4))
}

// AppendCode3 appends a code-3 packet (RFC 6716 §3.2.5) holding frames,
// all of configuration toc: CBR framing when the frames are the same
// size, VBR framing otherwise; never padding. It needs 1 to 48 frames of
// at most 1275 bytes each.
func AppendCode3(b []byte, toc TOC, frames [][]byte) ([]byte, error) {
	m := len(frames)
	if m < 1 || m > 48 || m*toc.FrameSamples() > maxPacketSamples {
		return b, fmt.Errorf("oggopus: %d frames do not fit one packet", m)
	}
	vbr := false
	for _, f := range frames {
		if len(f) > maxFrameBytes {
			return b, fmt.Errorf("oggopus: a frame of %d bytes", len(f))
		}
		if len(f) != len(frames[0]) {
			vbr = true
		}
	}
	b = append(b, byte(toc&^3|3))
	fc := byte(m)
	if vbr {
		fc |= 0x80
	}
	b = append(b, fc)
	if vbr {
		for _, f := range frames[:m-1] {
			b = appendFrameLen(b, len(f))
		}
	}
	for _, f := range frames {
		b = append(b, f...)
	}
	return b, nil
}
