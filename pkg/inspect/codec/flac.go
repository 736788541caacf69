package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// StreamInfoLen is the size of a STREAMINFO block body (RFC 9639 §8.2).
const StreamInfoLen = 34

// StreamInfo is FLAC's STREAMINFO metadata block (RFC 9639 §8.2), the
// first metadata block of a native FLAC stream, carried also by Ogg FLAC
// (after "\x7FFLAC" major minor count "fLaC" and a block header), by ISO
// BMFF (dfLa) and by Matroska (A_FLAC CodecPrivate).
type StreamInfo struct {
	MinBlockSize, MaxBlockSize int // in samples
	MinFrameSize, MaxFrameSize int // in bytes; 0 unknown
	SampleRate                 int
	Channels                   int
	BitsPerSample              int
	TotalSamples               uint64 // per channel; 0 unknown
	MD5                        [16]byte
}

// ParseStreamInfo decodes a STREAMINFO body: min/max block size (16+16
// bits), min/max frame size (24+24), sample rate (20), channels−1 (3), bits
// per sample−1 (5), total samples (36), MD5 (128). A sample rate of 0 is
// invalid for audio (RFC 9639 §8.2).
func ParseStreamInfo(b []byte) (StreamInfo, error) {
	if len(b) < StreamInfoLen {
		return StreamInfo{}, fmt.Errorf("STREAMINFO: %d bytes, %d expected", len(b), StreamInfoLen)
	}
	v := binary.BigEndian.Uint64(b[10:18])
	si := StreamInfo{
		MinBlockSize:  int(binary.BigEndian.Uint16(b[0:])),
		MaxBlockSize:  int(binary.BigEndian.Uint16(b[2:])),
		MinFrameSize:  int(b[4])<<16 | int(b[5])<<8 | int(b[6]),
		MaxFrameSize:  int(b[7])<<16 | int(b[8])<<8 | int(b[9]),
		SampleRate:    int(v >> 44),
		Channels:      int(v>>41&0x7) + 1,
		BitsPerSample: int(v>>36&0x1F) + 1,
		TotalSamples:  v & (1<<36 - 1),
	}
	copy(si.MD5[:], b[18:34])
	if si.SampleRate == 0 {
		return si, errors.New("STREAMINFO: a sample rate of 0")
	}
	return si, nil
}

// Duration is TotalSamples / SampleRate in seconds; 0 when the total is
// unknown ("total samples 0 means unknown").
func (si StreamInfo) Duration() float64 {
	if si.TotalSamples == 0 || si.SampleRate <= 0 {
		return 0
	}
	return float64(si.TotalSamples) / float64(si.SampleRate)
}
