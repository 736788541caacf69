package inspect

import (
	"encoding/binary"

	"github.com/prep-audio/prep/pkg/rules"
)

// Native FLAC (https://xiph.org/flac/format.html, RFC 9639): the stream
// starts "fLaC", then metadata blocks, the first of which must be
// STREAMINFO. Each block has a 4-byte header: 1 bit "last block", 7 bits
// type, 24 bits length.

func init() {
	register(format{container: rules.ContainerFLAC, order: 10, match: matchFLAC, parse: parseFLAC})
}

const (
	flacStreamInfoLen = 34 // RFC 9639 §8.2: STREAMINFO is always 34 bytes
	flacMaxBlocks     = 1024
)

func matchFLAC(b []byte) bool {
	return len(b) >= 4 && string(b[:4]) == "fLaC"
}

// flacStreamInfo is what STREAMINFO says about the stream.
type flacStreamInfo struct {
	rate     int
	channels int
	bits     int
	samples  uint64 // total samples per channel; 0 means unknown
}

// parseStreamInfo decodes a 34-byte STREAMINFO body (RFC 9639 §8.2):
// min/max block size (16+16 bits), min/max frame size (24+24), sample rate
// (20), channels−1 (3), bits per sample−1 (5), total samples (36), MD5.
func parseStreamInfo(b []byte) (flacStreamInfo, bool) {
	if len(b) < 18 {
		return flacStreamInfo{}, false
	}
	v := binary.BigEndian.Uint64(b[10:18])
	si := flacStreamInfo{
		rate:     int(v >> 44),
		channels: int(v>>41&0x7) + 1,
		bits:     int(v>>36&0x1F) + 1,
		samples:  v & (1<<36 - 1),
	}
	// A sample rate of 0 is invalid for audio streams (RFC 9639 §8.2).
	return si, si.rate > 0
}

func (si flacStreamInfo) duration() float64 {
	if si.samples == 0 || si.rate <= 0 {
		return 0 // "total samples 0 means unknown": leave the duration unknown
	}
	return float64(si.samples) / float64(si.rate)
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
	si, ok := parseStreamInfo(body)
	if !ok {
		return nil, errCorrupt("FLAC: STREAMINFO has a sample rate of 0")
	}
	info := &Info{Container: rules.ContainerFLAC, Codec: "flac", Channels: si.channels, SampleRate: si.rate, Duration: si.duration()}

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
	if sync[0] != 0xFF || sync[1]&0xFC != 0xF8 {
		return nil, errCorrupt("FLAC: no frame sync code after the metadata blocks")
	}
	return info, nil
}
