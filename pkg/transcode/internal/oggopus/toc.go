// Package oggopus reads and writes Ogg Opus streams (RFC 3533, RFC 7845)
// and repacks their Opus packets (RFC 6716 §3.2) without decoding them:
// consecutive frames of the same configuration are combined into code-3
// packets of up to 60 ms, the way WhatsApp's own voice notes are packed.
// The Opus ID header, TOC and packet framing are pkg/inspect/codec's.
//
// Every function is bounded and returns an error for malformed input;
// none panics on any bytes.
package oggopus

import (
	"fmt"

	"github.com/prep-audio/prep/pkg/inspect/codec"
)

// appendFrameLen appends a frame length in RFC 6716 §3.2.1's coding.
func appendFrameLen(b []byte, n int) []byte {
	if n < 252 {
		return append(b, byte(n))
	}
	first := 252 + n&3
	return append(b, byte(first), byte((n-first)/4))
}

// AppendCode3 appends a code-3 packet (RFC 6716 §3.2.5) holding frames,
// all of the configuration and channel layout of toc — code 3 even for one
// or two frames, as WhatsApp's notes are — with CBR framing when the
// frames are the same size, VBR framing otherwise, and never padding. It
// takes 1 to 48 frames of at most 1275 bytes, 120 ms at most.
func AppendCode3(b []byte, toc codec.OpusTOC, frames [][]byte) ([]byte, error) {
	m := len(frames)
	if m < 1 || m > codec.OpusMaxFrames || m*toc.FrameSamples() > codec.OpusMaxPacketSamples {
		return b, fmt.Errorf("oggopus: %d frames do not fit one packet", m)
	}
	vbr := false
	for _, f := range frames {
		if len(f) > codec.OpusMaxFrameBytes {
			return b, fmt.Errorf("oggopus: a frame of %d bytes", len(f))
		}
		if len(f) != len(frames[0]) {
			vbr = true
		}
	}
	toc.Code = 3
	b = append(b, toc.Byte())
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
