package inspect

// ADTS AAC (ISO/IEC 13818-7 §6.2 / ISO/IEC 14496-3 §1.A.2.2): a sequence
// of frames, each with a 7-byte header (9 with the CRC word when
// protection_absent is 0) that gives the frame's length, so the parser hops
// from header to header without reading the payload and counts frames.
// Duration = Σ (number_of_raw_data_blocks_in_frame+1) × 1024 / rate.
// ffprobe instead estimates ADTS durations from the bitrate of the first
// frames, which is off by a few percent for VBR streams.
//
// Channels come from channel_configuration, or from the program config
// element at the start of the first frame when it is 0. HE-AAC's SBR is
// implicit in ADTS (the profile field has no room for it), so the core
// (half) sample rate is reported for HE-AAC streams, where ffprobe, which
// decodes, reports the doubled SBR rate.

import (
	"math"

	"github.com/prep-audio/prep/pkg/inspect/codec"
	"github.com/prep-audio/prep/pkg/rules"
)

// adtsHeader is a decoded ADTS frame header.
type adtsHeader struct {
	mpeg2   bool
	crc     bool
	profile int
	sfi     int
	chanCfg int
	length  int // whole frame, header included
	blocks  int // raw data blocks in the frame (1–4)
}

func (h adtsHeader) headerLen() int {
	if h.crc {
		return 9
	}
	return 7
}

// parseADTSHeader decodes b[0:7]: syncword 0xFFF, ID, layer 00,
// protection_absent, profile(2), sampling_frequency_index(4), private(1),
// channel_configuration(3), 4 flag bits, frame_length(13),
// adts_buffer_fullness(11), number_of_raw_data_blocks_in_frame(2).
func parseADTSHeader(b []byte) (adtsHeader, bool) {
	var h adtsHeader
	if len(b) < 7 || b[0] != 0xFF || b[1]&0xF6 != 0xF0 {
		return h, false
	}
	h.mpeg2 = b[1]&0x08 != 0
	h.crc = b[1]&1 == 0
	h.profile = int(b[2] >> 6)
	h.sfi = int(b[2] >> 2 & 0xF)
	h.chanCfg = int(b[2]&1)<<2 | int(b[3]>>6)
	h.length = int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5
	h.blocks = int(b[6]&3) + 1
	if h.sfi > 12 || h.length <= h.headerLen() {
		return h, false
	}
	return h, true
}

// sameStream compares the fields of adts_fixed_header that must not change.
func (h adtsHeader) sameStream(o adtsHeader) bool {
	return h.mpeg2 == o.mpeg2 && h.profile == o.profile && h.sfi == o.sfi && h.chanCfg == o.chanCfg
}

// adtsSync is ADTS to the shared frame-sync search (frame_scan.go): a
// 7-byte header, frames of at most 8 KiB.
var adtsSync = syncFormat[adtsHeader]{headerLen: 7, maxFrame: 8192, parse: parseADTSHeader}

func (h adtsHeader) frameLen() int { return h.length }

func matchADTS(b []byte) bool { return adtsSync.match(b) }

func parseADTS(s *source, start int64) (*Info, error) {
	end, err := audioEnd(s, start)
	if err != nil {
		return nil, err
	}
	sc := newFrameScan(s, end)
	first, h0, err := adtsSync.find(sc, start, mp3SearchWindow)
	if err != nil {
		return nil, err
	}
	if first < 0 {
		return nil, errCorrupt("no ADTS frames in the first %d bytes", mp3SearchWindow)
	}
	rate := codec.AACSampleRate(int(h0.sfi))
	in := &Info{Container: rules.ContainerADTS, Codec: rules.CodecAAC, SampleRate: rate, Channels: codec.AACChannels(int(h0.chanCfg))}
	if h0.chanCfg == 0 {
		// The PCE, if any, is the first syntactic element of the first
		// raw data block (ISO/IEC 14496-3 §4.5.2.1: ID_PCE = 5).
		if b, err := sc.at(first, min(h0.length, 64)); err == nil && len(b) > h0.headerLen() {
			if n, ok := codec.PCEChannels(b[h0.headerLen():min(len(b), h0.length)]); ok {
				in.Channels = n
			}
		} else if err != nil {
			return nil, err
		}
	}
	var samples, audioBytes int64
	for off := first; off < end; {
		b, err := sc.at(off, 7)
		if err != nil {
			return nil, err
		}
		if len(b) < 7 {
			in.Truncated = len(b) > 0 && b[0] == 0xFF // cut inside a header
			break
		}
		h, ok := parseADTSHeader(b)
		if !ok || !h.sameStream(h0) {
			next, _, err := adtsSync.find(sc, off+1, scanWindow/2)
			if err != nil {
				return nil, err
			}
			if next < 0 {
				break // trailing garbage
			}
			off = next
			continue
		}
		if off+int64(h.length) > end {
			in.Truncated = true
			break
		}
		samples += int64(h.blocks) * 1024
		audioBytes += int64(h.length)
		off += int64(h.length)
	}
	if rate > 0 {
		in.Duration = float64(samples) / float64(rate)
	}
	if in.Duration > 0 {
		in.Bitrate = int64(math.Round(float64(audioBytes) * 8 / in.Duration))
	}
	return in, nil
}
