package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// OpusHead is the Opus identification header (RFC 7845 §5.1), the first
// packet of an Ogg Opus stream: "OpusHead", version, output channel count,
// pre-skip (LE16), input sample rate (LE32), output gain (LE16, Q7.8 dB),
// channel mapping family and, for families other than 0, the mapping table.
// The ISO BMFF sample entry carries the same fields big-endian in a dOps box
// (ParseOpusSpecificBox).
type OpusHead struct {
	Version         uint8
	Channels        int    // output channel count, 1–255
	PreSkip         uint16 // 48 kHz samples to discard at the start of decoding
	InputSampleRate uint32 // the encoder's input rate; informational, 0 = unspecified
	OutputGain      int16  // Q7.8 dB to apply to the decoded output
	MappingFamily   uint8
	StreamCount     uint8  // family ≠ 0: streams in each packet
	CoupledCount    uint8  // family ≠ 0: of which are stereo
	Mapping         []byte // family ≠ 0: output channel → decoded channel
}

// OpusHeadMagic starts every OpusHead packet.
const OpusHeadMagic = "OpusHead"

// ParseOpusHead decodes an OpusHead packet. A version whose major part (the
// high 4 bits) is not 0 is rejected, as RFC 7845 §5.1 tells decoders to do.
func ParseOpusHead(b []byte) (OpusHead, error) {
	if len(b) < 8 || string(b[:8]) != OpusHeadMagic {
		return OpusHead{}, errors.New("OpusHead: no \"OpusHead\" magic")
	}
	if len(b) < 19 {
		return OpusHead{}, fmt.Errorf("OpusHead: %d bytes, at least 19 expected", len(b))
	}
	h := OpusHead{
		Version:         b[8],
		Channels:        int(b[9]),
		PreSkip:         binary.LittleEndian.Uint16(b[10:]),
		InputSampleRate: binary.LittleEndian.Uint32(b[12:]),
		OutputGain:      int16(binary.LittleEndian.Uint16(b[16:])),
		MappingFamily:   b[18],
	}
	return h, h.mapping(b[19:])
}

// ParseOpusSpecificBox decodes the body of a dOps box ("Encapsulation of
// Opus in ISO Base Media File Format" §4.3.2, opus-codec.org): Version (0),
// OutputChannelCount, PreSkip, InputSampleRate, OutputGain (big-endian),
// ChannelMappingFamily and, for families other than 0, the mapping table.
func ParseOpusSpecificBox(b []byte) (OpusHead, error) {
	if len(b) < 11 {
		return OpusHead{}, fmt.Errorf("dOps: %d bytes, at least 11 expected", len(b))
	}
	if b[0] != 0 {
		return OpusHead{}, fmt.Errorf("dOps: version %d (0 expected)", b[0])
	}
	h := OpusHead{
		Channels:        int(b[1]),
		PreSkip:         binary.BigEndian.Uint16(b[2:]),
		InputSampleRate: binary.BigEndian.Uint32(b[4:]),
		OutputGain:      int16(binary.BigEndian.Uint16(b[8:])),
		MappingFamily:   b[10],
	}
	return h, h.mapping(b[11:])
}

// mapping reads the channel mapping table that follows a non-zero family
// and checks the header's invariants.
func (h *OpusHead) mapping(rest []byte) error {
	if h.Version>>4 != 0 {
		return fmt.Errorf("OpusHead: version %d is not a version 0.x header", h.Version)
	}
	if h.Channels == 0 {
		return errors.New("OpusHead: 0 output channels")
	}
	if h.MappingFamily == 0 {
		if h.Channels > 2 {
			return fmt.Errorf("OpusHead: %d channels with mapping family 0 (at most 2)", h.Channels)
		}
		return nil
	}
	if len(rest) < 2+h.Channels {
		return fmt.Errorf("OpusHead: mapping family %d needs %d bytes of table, %d present", h.MappingFamily, 2+h.Channels, len(rest))
	}
	h.StreamCount, h.CoupledCount = rest[0], rest[1]
	if h.StreamCount == 0 || h.CoupledCount > h.StreamCount {
		return fmt.Errorf("OpusHead: %d streams of which %d coupled", h.StreamCount, h.CoupledCount)
	}
	h.Mapping = append([]byte(nil), rest[2:2+h.Channels]...)
	return nil
}

// OpusMode is the coding mode a TOC configuration selects (RFC 6716 §3.1).
type OpusMode uint8

// Opus coding modes.
const (
	OpusSILK   OpusMode = iota // linear prediction, speech; configs 0–11
	OpusHybrid                 // SILK below 8 kHz + CELT above; configs 12–15
	OpusCELT                   // MDCT, music and low delay; configs 16–31
)

func (m OpusMode) String() string {
	switch m {
	case OpusSILK:
		return "SILK"
	case OpusHybrid:
		return "hybrid"
	case OpusCELT:
		return "CELT"
	}
	return fmt.Sprintf("OpusMode(%d)", uint8(m))
}

// OpusBandwidth is the audio bandwidth a TOC configuration selects
// (RFC 6716 §2, Table 1).
type OpusBandwidth uint8

// Opus bandwidths.
const (
	OpusNB  OpusBandwidth = iota // narrowband, 4 kHz (8 kHz effective rate)
	OpusMB                       // medium-band, 6 kHz (12 kHz)
	OpusWB                       // wideband, 8 kHz (16 kHz)
	OpusSWB                      // super-wideband, 12 kHz (24 kHz)
	OpusFB                       // fullband, 20 kHz (48 kHz)
)

func (b OpusBandwidth) String() string {
	switch b {
	case OpusNB:
		return "NB"
	case OpusMB:
		return "MB"
	case OpusWB:
		return "WB"
	case OpusSWB:
		return "SWB"
	case OpusFB:
		return "FB"
	}
	return fmt.Sprintf("OpusBandwidth(%d)", uint8(b))
}

// SampleRate is the effective sample rate of the bandwidth in Hz.
func (b OpusBandwidth) SampleRate() int {
	switch b {
	case OpusNB:
		return 8000
	case OpusMB:
		return 12000
	case OpusWB:
		return 16000
	case OpusSWB:
		return 24000
	}
	return 48000
}

// OpusTOC is the table-of-contents byte that starts every Opus packet
// (RFC 6716 §3.1): config (5 bits: mode, bandwidth and frame size, Table 2),
// a stereo flag, and the frame count code c: 0 one frame, 1 two frames of
// equal size, 2 two frames of different sizes, 3 an arbitrary number of
// frames (a frame count byte follows).
type OpusTOC struct {
	Config uint8 // 0–31
	Stereo bool
	Code   uint8 // 0–3
}

// ParseOpusTOC splits a TOC byte.
func ParseOpusTOC(b byte) OpusTOC {
	return OpusTOC{Config: b >> 3, Stereo: b&0x04 != 0, Code: b & 0x03}
}

// Byte is the TOC byte.
func (t OpusTOC) Byte() byte {
	b := t.Config<<3 | t.Code&3
	if t.Stereo {
		b |= 0x04
	}
	return b
}

// Mode is the coding mode of the configuration.
func (t OpusTOC) Mode() OpusMode {
	switch {
	case t.Config < 12:
		return OpusSILK
	case t.Config < 16:
		return OpusHybrid
	}
	return OpusCELT
}

// Bandwidth is the audio bandwidth of the configuration (RFC 6716 Table 2).
func (t OpusTOC) Bandwidth() OpusBandwidth {
	c := t.Config & 31
	switch {
	case c < 12: // SILK NB 0–3, MB 4–7, WB 8–11
		return OpusBandwidth(c / 4)
	case c < 16: // hybrid SWB 12–13, FB 14–15
		return OpusSWB + OpusBandwidth((c-12)/2)
	case c < 20: // CELT NB 16–19
		return OpusNB
	}
	return OpusWB + OpusBandwidth((c-20)/4) // CELT WB 20–23, SWB 24–27, FB 28–31
}

// FrameSamples is the duration of one frame in 48 kHz samples: SILK 10, 20,
// 40 or 60 ms; hybrid 10 or 20 ms; CELT 2.5, 5, 10 or 20 ms.
func (t OpusTOC) FrameSamples() int {
	c := t.Config & 31
	switch {
	case c < 12:
		return [4]int{480, 960, 1920, 2880}[c&3]
	case c < 16:
		return [2]int{480, 960}[c&1]
	}
	return [4]int{120, 240, 480, 960}[c&3]
}

// FrameDuration is the duration of one frame.
func (t OpusTOC) FrameDuration() time.Duration {
	return time.Duration(t.FrameSamples()) * time.Second / 48000
}

// Opus packet limits (RFC 6716 §3.2, §3.4).
const (
	OpusMaxFrameBytes    = 1275 // R2: no frame is longer
	OpusMaxPacketSamples = 5760 // R5: 120 ms at 48 kHz
	OpusMaxFrames        = 48   // 120 ms of 2.5 ms frames
)

// OpusPacket is an Opus packet split into its frames (RFC 6716 §3.2).
type OpusPacket struct {
	TOC     OpusTOC
	Frames  [][]byte // sub-slices of the packet; a frame may be empty (DTX)
	VBR     bool     // code 3: frames of different sizes (signalled)
	Padding int      // code 3: bytes of padding at the end (not counting its length bytes)
}

// Samples is the duration of the packet in 48 kHz samples.
func (p OpusPacket) Samples() int { return len(p.Frames) * p.TOC.FrameSamples() }

// ParseOpusPacket splits a packet into its frames and checks requirements
// R1–R7 of RFC 6716 §3.4: a packet is at least one byte, no frame is longer
// than 1275 bytes, code 1 packets split evenly, code 3 packets hold at least
// one frame and at most 120 ms, and lengths and padding fit the packet.
func ParseOpusPacket(p []byte) (OpusPacket, error) {
	if len(p) == 0 {
		return OpusPacket{}, errors.New("Opus packet: empty (R1)")
	}
	pk := OpusPacket{TOC: ParseOpusTOC(p[0])}
	d := p[1:]
	switch pk.TOC.Code {
	case 0:
		pk.Frames = [][]byte{d}
	case 1:
		if len(d)%2 != 0 {
			return pk, fmt.Errorf("Opus packet: code 1 with an odd %d bytes of frames (R3)", len(d))
		}
		pk.Frames = [][]byte{d[:len(d)/2], d[len(d)/2:]}
	case 2:
		n, l, err := opusFrameLen(d)
		if err != nil {
			return pk, err
		}
		if l > len(d)-n {
			return pk, fmt.Errorf("Opus packet: code 2 first frame of %d bytes in %d (R4)", l, len(d)-n)
		}
		pk.Frames = [][]byte{d[n : n+l], d[n+l:]}
	default:
		if err := pk.code3(d); err != nil {
			return pk, err
		}
	}
	for _, f := range pk.Frames {
		if len(f) > OpusMaxFrameBytes {
			return pk, fmt.Errorf("Opus packet: a frame of %d bytes (at most %d, R2)", len(f), OpusMaxFrameBytes)
		}
	}
	return pk, nil
}

// code3 reads a code 3 packet's frame count byte (v, p, M), padding and
// frame lengths (RFC 6716 §3.2.5).
func (pk *OpusPacket) code3(d []byte) error {
	if len(d) < 1 {
		return errors.New("Opus packet: code 3 without a frame count byte (R6)")
	}
	m := int(d[0] & 0x3F)
	pk.VBR = d[0]&0x80 != 0
	padded := d[0]&0x40 != 0
	d = d[1:]
	if m == 0 || m*pk.TOC.FrameSamples() > OpusMaxPacketSamples {
		return fmt.Errorf("Opus packet: code 3 with %d frames of %d samples (R5)", m, pk.TOC.FrameSamples())
	}
	if padded {
		for {
			if len(d) == 0 {
				return errors.New("Opus packet: the padding length runs past the packet (R7)")
			}
			b := int(d[0])
			d = d[1:]
			if b < 255 {
				pk.Padding += b
				break
			}
			pk.Padding += 254
		}
	}
	if pk.Padding > len(d) {
		return fmt.Errorf("Opus packet: %d bytes of padding in %d (R7)", pk.Padding, len(d))
	}
	d = d[:len(d)-pk.Padding]
	pk.Frames = make([][]byte, m)
	if !pk.VBR {
		if len(d)%m != 0 {
			return fmt.Errorf("Opus packet: CBR code 3, %d bytes do not split into %d frames (R6)", len(d), m)
		}
		l := len(d) / m
		for i := range pk.Frames {
			pk.Frames[i] = d[i*l : (i+1)*l]
		}
		return nil
	}
	lens := make([]int, m-1)
	for i := range lens {
		n, l, err := opusFrameLen(d)
		if err != nil {
			return err
		}
		lens[i], d = l, d[n:]
	}
	for i, l := range lens {
		if l > len(d) {
			return fmt.Errorf("Opus packet: VBR code 3 frame %d of %d bytes in %d (R7)", i, l, len(d))
		}
		pk.Frames[i], d = d[:l], d[l:]
	}
	pk.Frames[m-1] = d
	return nil
}

// opusFrameLen decodes a frame length (RFC 6716 §3.2.1): one byte below
// 252, else two bytes, 4×second + first.
func opusFrameLen(d []byte) (n, l int, err error) {
	if len(d) < 1 {
		return 0, 0, errors.New("Opus packet: a frame length runs past the packet")
	}
	if d[0] < 252 {
		return 1, int(d[0]), nil
	}
	if len(d) < 2 {
		return 0, 0, errors.New("Opus packet: a two-byte frame length runs past the packet")
	}
	return 2, 4*int(d[1]) + int(d[0]), nil
}

// OpusPacketFrames reads just the frame count of a packet from its TOC and,
// for code 3, the frame count byte, without checking the rest.
func OpusPacketFrames(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, errors.New("Opus packet: empty (R1)")
	}
	switch p[0] & 3 {
	case 0:
		return 1, nil
	case 1, 2:
		return 2, nil
	}
	if len(p) < 2 || p[1]&0x3F == 0 {
		return 0, errors.New("Opus packet: code 3 without a frame count (R6)")
	}
	return int(p[1] & 0x3F), nil
}

// AppendOpusPacket appends to dst one packet holding frames, all of the
// configuration and channel layout of toc (its Code is chosen here): code 0
// for one frame, code 1 for two of equal size, code 2 for two of different
// sizes, and code 3 (CBR when all frames have one size, else VBR) for more,
// never padded. It is the inverse of ParseOpusPacket: the frames come back
// unchanged, so the decoded audio is the same (RFC 6716 §3.2).
func AppendOpusPacket(dst []byte, toc OpusTOC, frames [][]byte) ([]byte, error) {
	same, err := checkOpusFrames(toc, frames)
	if err != nil {
		return dst, err
	}
	m := len(frames)
	switch {
	case m == 1:
		toc.Code = 0
		dst = append(dst, toc.Byte())
	case m == 2 && same:
		toc.Code = 1
		dst = append(dst, toc.Byte())
	case m == 2:
		toc.Code = 2
		dst = appendOpusFrameLen(append(dst, toc.Byte()), len(frames[0]))
	default:
		return appendOpusCode3(dst, toc, frames, same), nil
	}
	for _, f := range frames {
		dst = append(dst, f...)
	}
	return dst, nil
}

// AppendOpusCode3 appends to dst one code-3 packet (RFC 6716 §3.2.5)
// holding frames, all of the configuration and channel layout of toc —
// code 3 even for one or two frames, as WhatsApp's own voice notes are —
// with CBR framing when the frames are the same size, VBR framing
// otherwise, never padded. Like AppendOpusPacket it takes 1 to 48 frames of
// at most 1275 bytes, 120 ms at most.
func AppendOpusCode3(dst []byte, toc OpusTOC, frames [][]byte) ([]byte, error) {
	same, err := checkOpusFrames(toc, frames)
	if err != nil {
		return dst, err
	}
	return appendOpusCode3(dst, toc, frames, same), nil
}

// checkOpusFrames checks that frames fit one packet of toc's frame size
// and says whether they are all the same size.
func checkOpusFrames(toc OpusTOC, frames [][]byte) (same bool, err error) {
	m := len(frames)
	if m == 0 || m > OpusMaxFrames || m*toc.FrameSamples() > OpusMaxPacketSamples {
		return false, fmt.Errorf("Opus packet: %d frames of %d samples do not fit one packet (at most 120 ms)", m, toc.FrameSamples())
	}
	same = true
	for _, f := range frames {
		if len(f) > OpusMaxFrameBytes {
			return false, fmt.Errorf("Opus packet: a frame of %d bytes (at most %d)", len(f), OpusMaxFrameBytes)
		}
		same = same && len(f) == len(frames[0])
	}
	return same, nil
}

// appendOpusCode3 appends the code-3 packet of checked frames (same: all
// one size, CBR framing).
func appendOpusCode3(dst []byte, toc OpusTOC, frames [][]byte, same bool) []byte {
	m := len(frames)
	toc.Code = 3
	dst = append(dst, toc.Byte())
	if same {
		dst = append(dst, byte(m))
	} else {
		dst = append(dst, 0x80|byte(m))
		for _, f := range frames[:m-1] {
			dst = appendOpusFrameLen(dst, len(f))
		}
	}
	for _, f := range frames {
		dst = append(dst, f...)
	}
	return dst
}

// appendOpusFrameLen encodes a frame length (RFC 6716 §3.2.1).
func appendOpusFrameLen(dst []byte, l int) []byte {
	if l < 252 {
		return append(dst, byte(l))
	}
	first := 252 + (l & 3)
	return append(dst, byte(first), byte((l-first)/4))
}
