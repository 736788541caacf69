package inspect

import (
	"encoding/binary"

	"github.com/prep-audio/prep/pkg/inspect/codec"
	"github.com/prep-audio/prep/pkg/rules"
)

// Native FLAC (https://xiph.org/flac/format.html, RFC 9639): the stream
// starts "fLaC", then metadata blocks, the first of which must be
// STREAMINFO. Each block has a 4-byte header: 1 bit "last block", 7 bits
// type, 24 bits length.

const (
	flacStreamInfoLen = codec.StreamInfoLen // RFC 9639 §8.2: STREAMINFO is always 34 bytes
	flacMaxBlocks     = 1024
)

func matchFLAC(b []byte) bool {
	return len(b) >= 4 && string(b[:4]) == "fLaC"
}

func parseFLAC(s *source, start int64) (*Info, error) {
	off := start + 4
	var hdr [4]byte
	if err := s.readAt(hdr[:], off); err != nil {
		return nil, err
	}
	typ, n := hdr[0]&0x7F, int64(hdr[1])<<16|int64(hdr[2])<<8|int64(hdr[3])
	if typ != 0 || n < flacStreamInfoLen {
		return nil, errCorrupt("FLAC: the first metadata block is type %d of %d bytes, not STREAMINFO", typ, n)
	}
	body := make([]byte, flacStreamInfoLen)
	if err := s.readAt(body, off+4); err != nil {
		return nil, err
	}
	si, err := codec.ParseStreamInfo(body)
	if err != nil {
		return nil, errCorrupt("FLAC: %v", err)
	}
	info := &Info{Container: rules.ContainerFLAC, Codec: "flac", Channels: si.Channels, SampleRate: si.SampleRate, Duration: si.Duration()}

	// Walk the remaining metadata blocks (bounded) to the first audio frame:
	// a file that ends inside its metadata, or right after it, has no audio.
	last := hdr[0]&0x80 != 0
	off += 4 + n
	for i := 0; !last; i++ {
		if i >= flacMaxBlocks {
			return nil, errCorrupt("FLAC: more than %d metadata blocks", flacMaxBlocks)
		}
		if off+4 > s.size {
			return nil, errTruncated("FLAC: the file ends inside its metadata blocks")
		}
		if err := s.readAt(hdr[:], off); err != nil {
			return nil, err
		}
		last = hdr[0]&0x80 != 0
		if hdr[0]&0x7F == 127 {
			return nil, errCorrupt("FLAC: invalid metadata block type 127")
		}
		off += 4 + (int64(hdr[1])<<16 | int64(hdr[2])<<8 | int64(hdr[3]))
	}
	if off > s.size {
		return nil, errTruncated("FLAC: the file ends inside its metadata blocks")
	}
	if off+2 > s.size {
		info.Truncated = true // headers only, no audio frame
		return info, nil
	}
	// A frame starts with the 14-bit sync code 0b11111111111110 (RFC 9639 §9.1).
	var sync [2]byte
	if err := s.readAt(sync[:], off); err != nil {
		return nil, err
	}
	if sync[0] != 0xFF || sync[1]&0xFE != 0xF8 {
		return nil, errCorrupt("FLAC: no frame sync code after the metadata blocks")
	}
	// With a known total, the last frame header tells whether the audio is
	// all there: its first sample + its block size must reach the total.
	// Without one, it gives the duration.
	first, bs, ok := flacLastFrame(s, off, si)
	switch {
	case !ok:
	case si.TotalSamples == 0:
		// Total unknown (a writer that could not seek back, e.g. to a
		// pipe; ffprobe reports no duration): the end of the last frame.
		info.Duration = float64(first+bs) / float64(si.SampleRate)
	case first+bs < si.TotalSamples:
		info.Truncated = true
		// The last frame is most likely cut (a frame decodes whole or
		// not at all): count the samples before it.
		info.Duration = float64(first) / float64(si.SampleRate)
	}
	return info, nil
}

const flacTail = 64 << 10

// flacLastFrame finds the last frame header in the tail of the file
// (RFC 9639 §9.1) and returns the number of its first sample and its block
// size. A candidate counts only with a valid CRC-8 and the stream's channel
// count, so a sync pattern inside frame data is not taken for a header.
func flacLastFrame(s *source, audio int64, si codec.StreamInfo) (first, n uint64, ok bool) {
	lo := max(audio, s.size-flacTail)
	b, err := s.bytes(lo, s.size-lo)
	if err != nil {
		return 0, 0, false
	}
	for i := len(b) - 2; i >= 0; i-- {
		if b[i] != 0xFF || b[i+1]&0xFE != 0xF8 {
			continue
		}
		if first, n, ok := flacFrameHeader(b[i:], si); ok {
			return first, n, true
		}
	}
	return 0, 0, false
}

// flacFrameHeader decodes a frame header: sync(14) reserved(1)
// blocking-strategy(1), block-size code(4) sample-rate code(4), channels(4)
// sample-size code(3) reserved(1), the coded frame or sample number
// (UTF-8-like), optional block size and rate bytes, CRC-8 (poly 0x07).
func flacFrameHeader(b []byte, si codec.StreamInfo) (first, n uint64, ok bool) {
	if len(b) < 6 {
		return 0, 0, false
	}
	variable := b[1]&1 == 1
	bsCode, srCode := b[2]>>4, b[2]&0xF
	chCode, ssCode := b[3]>>4, b[3]>>1&7
	if bsCode == 0 || srCode == 15 || chCode > 10 || ssCode == 3 || b[3]&1 != 0 {
		return 0, 0, false
	}
	ch := int(chCode) + 1
	if chCode >= 8 {
		ch = 2 // left/side, right/side, mid/side
	}
	if ch != si.Channels {
		return 0, 0, false
	}
	// The coded number: a UTF-8-like sequence of up to 7 bytes.
	i := 4
	c := b[i]
	var num uint64
	var extra int
	switch {
	case c < 0x80:
		num = uint64(c)
	case c&0xE0 == 0xC0:
		num, extra = uint64(c&0x1F), 1
	case c&0xF0 == 0xE0:
		num, extra = uint64(c&0x0F), 2
	case c&0xF8 == 0xF0:
		num, extra = uint64(c&0x07), 3
	case c&0xFC == 0xF8:
		num, extra = uint64(c&0x03), 4
	case c&0xFE == 0xFC:
		num, extra = uint64(c&0x01), 5
	case c == 0xFE:
		num, extra = 0, 6
	default:
		return 0, 0, false
	}
	i++
	if len(b) < i+extra {
		return 0, 0, false
	}
	for k := 0; k < extra; k++ {
		if b[i]&0xC0 != 0x80 {
			return 0, 0, false
		}
		num = num<<6 | uint64(b[i]&0x3F)
		i++
	}
	switch {
	case bsCode == 1:
		n = 192
	case bsCode <= 5:
		n = 576 << (bsCode - 2)
	case bsCode == 6:
		if len(b) <= i {
			return 0, 0, false
		}
		n = uint64(b[i]) + 1
		i++
	case bsCode == 7:
		if len(b) <= i+1 {
			return 0, 0, false
		}
		n = uint64(binary.BigEndian.Uint16(b[i:])) + 1
		i += 2
	default:
		n = 256 << (bsCode - 8)
	}
	switch srCode {
	case 12:
		i++
	case 13, 14:
		i += 2
	}
	if len(b) <= i || crc8(b[:i]) != b[i] {
		return 0, 0, false
	}
	if variable {
		return num, n, true
	}
	// Fixed block size: the number is a frame number; every frame but the
	// last has the stream's (max) block size, read from STREAMINFO's bytes 2–3.
	return num * uint64(si.MaxBlockSize), n, si.MaxBlockSize > 0
}

// crc8 is FLAC's frame header CRC (polynomial x^8+x^2+x+1, initial 0).
func crc8(b []byte) byte {
	var c byte
	for _, x := range b {
		c ^= x
		for k := 0; k < 8; k++ {
			if c&0x80 != 0 {
				c = c<<1 ^ 0x07
			} else {
				c <<= 1
			}
		}
	}
	return c
}
