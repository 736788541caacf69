package transcode

import "math"

// The size model of an Ogg Opus voice note as ffmpeg 5.1 writes it. Every
// constant here was measured (see README "pkg/transcode": a 60 s CBR encode
// at 32 kbit/s is 137 header bytes + 61 pages × 27 + 3001 lacing bytes +
// 3001 × 80 payload bytes = 244,865 bytes, exactly what ffmpeg wrote).
const (
	// opusFrameSec is the frame duration prep asks libopus for
	// (-frame_duration 20; RFC 6716 §2.1.4 allows 2.5–60 ms).
	opusFrameSec = 0.020
	// opusGranuleRate is the Ogg Opus granule clock (RFC 7845 §4: always
	// 48 kHz whatever the input rate).
	opusGranuleRate = 48000
	// opusPreSkip is libopus's encoder delay as written in OpusHead
	// (RFC 7845 §5.1), 312 samples at 48 kHz.
	opusPreSkip = 312
	// oggPageHeader is the fixed part of an Ogg page header (RFC 3533 §6:
	// 27 bytes, then one lacing byte per 255-byte segment).
	oggPageHeader = 27
	// oggPageSec is ffmpeg's Ogg muxer page duration (-page_duration, µs;
	// its default of 1 s, which prep passes explicitly).
	oggPageSec = 1.0
	// oggHeadersBytes bounds the OpusHead and OpusTags pages (RFC 7845
	// §5.1–5.2). ffmpeg 5.1 writes 137 bytes (47 + 90: vendor "Lavf59.27.100"
	// and an "encoder=" tag); other versions differ by a few bytes.
	oggHeadersBytes = 256
	// cbrStep is the CBR bitrate step: one byte per 20 ms packet.
	cbrStep = int(8 / opusFrameSec) // 400 bit/s
)

// Measured deviation of libopus's VBR modes: file size over
// bitrate×duration (Ogg overhead included), 60 s encodes at 16 kHz input,
// -application voip, of a tone, white and pink noise, synthetic speech and
// a speech/noise mix, at 6–32 kbit/s (see README). Constrained VBR: worst
// +5.1% at 12–32 kbit/s (tone), +35% at 6–8 kbit/s (speech mix, where
// libopus cannot go as low as asked), and as low as −26% (speech at 32k).
// Unconstrained VBR: +71% (tone at 24 kbit/s). CBR (-vbr off) is exact:
// every packet is bitrate×20 ms.
const (
	vbrConstrainedDev    = 1.10
	vbrConstrainedDevLow = 1.40 // below 12 kbit/s
	vbrOnDev             = 1.80
)

// budgetMargin is the fraction of the budget the planner aims at, leaving
// room for an inexact source duration (e.g. MP3 without a Xing header).
const budgetMargin = 0.99

// oggOpusPackets is the number of 20 ms packets for dur seconds, counting
// the pre-skip and one packet of slack.
func oggOpusPackets(dur float64) int64 {
	frame := opusFrameSec * opusGranuleRate
	return int64(math.Ceil((dur*opusGranuleRate+opusPreSkip)/frame)) + 1
}

// oggOpusSize predicts the size in bytes of a CBR Ogg Opus file of dur
// seconds with bytesPerPacket bytes in every packet.
func oggOpusSize(dur float64, bytesPerPacket int) int64 {
	if dur <= 0 || bytesPerPacket <= 0 {
		return 0
	}
	packets := oggOpusPackets(dur)
	perPage := int64(oggPageSec / opusFrameSec)
	pages := (packets+perPage-1)/perPage + 1
	lacing := int64(bytesPerPacket/255 + 1)
	return oggHeadersBytes + pages*oggPageHeader + packets*(lacing+int64(bytesPerPacket))
}

// noteSize predicts the size of a CBR voice note as written with packing:
// ffmpeg's own (oggOpusSize) for PackingSingle; for PackingNative the
// same frames three to a packet: each 60 ms packet has one TOC byte, one
// frame-count byte and (worst case, VBR framing) a length for each frame
// but the last, and one lacing value where three packets had three; the
// frames are at most bytesPerPacket−1 bytes (libopus's CBR padding and
// the TOC byte of each dropped).
func noteSize(dur float64, bytesPerPacket int, packing Packing) int64 {
	if packing == PackingSingle {
		return oggOpusSize(dur, bytesPerPacket)
	}
	if dur <= 0 || bytesPerPacket <= 0 {
		return 0
	}
	frames := oggOpusPackets(dur)
	packets := (frames + 2) / 3
	frame := int64(max(bytesPerPacket-1, 0))
	lenBytes := int64(1)
	if frame >= 252 {
		lenBytes = 2
	}
	perPacket := 2 + 3*frame + 2*lenBytes
	lacing := perPacket/255 + 1
	perPage := int64(oggPageSec/opusFrameSec) / 3 // 16: a page holds 17 (≥ 1 s)
	pages := (packets+perPage-1)/perPage + 1
	return oggHeadersBytes + pages*oggPageHeader + packets*(lacing+perPacket)
}

// oggOpusVBRSize predicts a VBR file's size: the CBR size with the payload
// grown by the mode's worst measured deviation.
func oggOpusVBRSize(dur float64, bitrate int, mode string, packing Packing) int64 {
	k := bitrate / cbrStep
	if k < 1 {
		k = 1
	}
	base := noteSize(dur, k, packing)
	payload := oggOpusPackets(dur) * int64(k)
	dev := 1.0
	switch mode {
	case VBRConstrained:
		dev = vbrConstrainedDev
		if bitrate < 12000 {
			dev = vbrConstrainedDevLow
		}
	case VBROn:
		dev = vbrOnDev
	}
	return base + int64(math.Ceil(float64(payload)*(dev-1)))
}

// fitCBR returns the largest CBR bitrate (a multiple of cbrStep) whose
// predicted size for dur seconds is within budget, or 0 if none is.
func fitCBR(dur float64, budget int64, packing Packing) int {
	if dur <= 0 {
		return 0
	}
	lo, hi := 0, 1275 // RFC 6716 §3.2.1: at most 1275 bytes a frame
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if noteSize(dur, mid, packing) <= budget {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo * cbrStep
}

// maxDurationCBR returns the longest duration (s) that fits budget at the
// CBR bitrate br.
func maxDurationCBR(br int, budget int64, packing Packing) float64 {
	k := max(br/cbrStep, 1)
	lo, hi := 0.0, 1e6
	for i := 0; i < 60; i++ {
		mid := (lo + hi) / 2
		if noteSize(mid, k, packing) <= budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// The M4A (AAC-LC in ISO BMFF) model for the audio profile: 1024 samples a
// frame (ISO/IEC 14496-3), about 8 bytes of index a frame (stsz + stts/stco
// share) and a few KB of boxes; ffmpeg's native aac encoder overshot its
// target by up to 18% at 16 kbit/s (48 kHz sine), less above.
const (
	m4aFixedBytes   = 8192
	m4aIndexPerFrm  = 8
	aacFrameSamples = 1024
	aacDev          = 1.25
)

func m4aSize(dur float64, bitrate, sampleRate int) int64 {
	if dur <= 0 {
		return 0
	}
	if sampleRate <= 0 {
		sampleRate = 48000
	}
	frames := math.Ceil(dur*float64(sampleRate)/aacFrameSamples) + 2
	return m4aFixedBytes + int64(frames*m4aIndexPerFrm) + int64(math.Ceil(float64(bitrate)*dur/8*aacDev))
}
