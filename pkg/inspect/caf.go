package inspect

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/prep-audio/prep/pkg/inspect/codec"
	"github.com/prep-audio/prep/pkg/rules"
)

// CAF (Apple "Core Audio Format Specification"): a file header
// "caff" version(2)=1 flags(2), then chunks of type(4) size(int64 BE) body.
// The 'desc' chunk comes first (CAFAudioDescription: sample rate float64,
// format id, format flags, bytes per packet, frames per packet, channels per
// frame, bits per channel). Packetized (VBR) formats carry a 'pakt' chunk
// (packets int64, valid frames int64, priming int32, remainder int32, table).
// The 'data' chunk (edit count(4) + audio) may have size −1: "to the end of
// the file", used by writers that cannot seek back.

const (
	cafMaxChunks = 4096
	// cafMaxFramesPerPacket bounds a sane packet: the largest codec frames
	// are FLAC's 65,535 samples; 1 Mi leaves room for anything real.
	cafMaxFramesPerPacket = 1 << 20
)

func matchCAF(b []byte) bool {
	return len(b) >= 8 && string(b[:4]) == "caff" && binary.BigEndian.Uint16(b[4:]) == 1
}

// cafDesc is the CAFAudioDescription of the 'desc' chunk.
type cafDesc struct {
	rate            float64
	formatID        string
	flags           uint32
	bytesPerPacket  int64
	framesPerPacket int64
	channels        int
	bits            int
	insane          bool // the packet table cannot be trusted for a duration
}

// cafCodec maps the format id (and LPCM flags) to ffprobe's codec_name, as
// libavformat's caf.c ff_codec_caf_tags and cafdec.c do. LPCM flags (CAF
// spec, "Format Flags for Linear PCM"): bit 0 float, bit 1 little-endian.
func cafCodec(d cafDesc) string {
	switch d.formatID {
	case "lpcm":
		le := d.flags&2 != 0
		if d.flags&1 != 0 {
			switch {
			case d.bits == 64 && le:
				return "pcm_f64le"
			case d.bits == 64:
				return "pcm_f64be"
			case le:
				return "pcm_f32le"
			default:
				return "pcm_f32be"
			}
		}
		if d.bits == 8 {
			return "pcm_s8"
		}
		end := "be"
		if le {
			end = "le"
		}
		switch d.bits {
		case 16, 24, 32, 64:
			return fmt.Sprintf("pcm_s%d%s", d.bits, end)
		}
		return "pcm_s16" + end
	case "ulaw":
		return "pcm_mulaw"
	case "alaw":
		return "pcm_alaw"
	case "aac ":
		return "aac"
	case "alac":
		return "alac"
	case "opus":
		return "opus"
	case "flac":
		return "flac"
	case ".mp3":
		return "mp3"
	case ".mp2":
		return "mp2"
	case ".mp1":
		return "mp1"
	case "ima4":
		return "adpcm_ima_qt"
	case "samr":
		return "amr_nb"
	case "sawb":
		return "amr_wb"
	case "ilbc":
		return "ilbc"
	case "MAC3":
		return "mace3"
	case "MAC6":
		return "mace6"
	case "QDM2":
		return "qdm2"
	case "QDMC":
		return "qdmc"
	case "Qclp":
		return "qcelp"
	case "gsm ", "agsm":
		return "gsm"
	case "ac-3":
		return "ac3"
	}
	return "caf_" + printableTag(d.formatID)
}

// printableTag keeps a four-character code safe to print.
func printableTag(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7E {
			b[i] = '?'
		}
	}
	return string(b)
}

// cafWalk is what the chunk walk has found.
type cafWalk struct {
	s          *source
	desc       *cafDesc
	validFr    int64 // pakt: valid frames (-1: none)
	packets    int64 // pakt: packets (-1: none)
	paktTable  int64 // pakt: where the packet table starts (-1: none)
	paktEnd    int64
	dataOff    int64 // audio data (after mEditCount; -1: no data chunk)
	dataLen    int64
	dataCut    bool
	dataFollow bool // data chunk of size -1: it is the last chunk
	opusHead   *codec.OpusHead
}

func parseCAF(s *source, start int64) (*Info, error) {
	c := &cafWalk{s: s, validFr: -1, packets: -1, paktTable: -1, dataOff: -1, dataLen: -1}
	off := start + 8
	for i := 0; off < s.size && !c.dataFollow; i++ {
		if i >= cafMaxChunks {
			return nil, errCorrupt("CAF: more than %d chunks", cafMaxChunks)
		}
		if off+12 > s.size {
			if c.dataOff >= 0 {
				break // trailing bytes after the data chunk
			}
			return nil, errTruncated("CAF: the file ends inside a chunk header")
		}
		var ch [12]byte
		if err := s.readAt(ch[:], off); err != nil {
			return nil, err
		}
		typ := string(ch[:4])
		size := int64(binary.BigEndian.Uint64(ch[4:]))
		body := off + 12
		if i == 0 && typ != "desc" {
			return nil, errCorrupt("CAF: the first chunk is %q, not desc", printableTag(typ))
		}
		if size < 0 && !(typ == "data" && size == -1) {
			return nil, errCorrupt("CAF: chunk %q has a negative size", printableTag(typ))
		}
		if err := c.chunk(typ, body, size); err != nil {
			return nil, err
		}
		if size == -1 {
			break
		}
		if size > s.size-body {
			if typ == "data" {
				break // truncated data: the chunks after it (pakt…) are gone
			}
			return nil, errTruncated("CAF: the %q chunk runs past the end of the file", printableTag(typ))
		}
		off = body + size
	}
	return c.info()
}

// chunk reads the chunks prep uses: desc, pakt and data.
func (c *cafWalk) chunk(typ string, body, size int64) error {
	switch typ {
	case "desc":
		d, err := cafReadDesc(c.s, body, size)
		if err != nil {
			return err
		}
		c.desc = d
	case "pakt":
		if size >= 24 {
			b, err := c.s.bytes(body, 24)
			if err != nil {
				return err
			}
			c.packets = int64(binary.BigEndian.Uint64(b[0:]))
			c.validFr = int64(binary.BigEndian.Uint64(b[8:]))
			c.paktTable, c.paktEnd = body+24, body+min(size, c.s.size-body)
		}
	case "kuki": // the magic cookie: for Opus, an OpusHead
		if c.desc != nil && c.desc.formatID == "opus" && size >= 19 {
			if b, err := c.s.bytes(body, min(size, 276)); err == nil {
				if h, err := codec.ParseOpusHead(b); err == nil {
					c.opusHead = &h
				}
			}
		}
	case "data":
		c.dataOff = body + 4 // after mEditCount
		if size == -1 {
			c.dataFollow = true
			c.dataLen = c.s.size - c.dataOff
		} else {
			c.dataLen = size - 4
			if size > c.s.size-body { // not body+size: that wraps for sizes near MaxInt64
				c.dataCut = true
				c.dataLen = c.s.size - c.dataOff
			}
		}
		c.dataLen = max(c.dataLen, 0)
	}
	return nil
}

// cafReadDesc reads the CAFAudioDescription.
func cafReadDesc(s *source, body, size int64) (*cafDesc, error) {
	if size < 32 {
		return nil, errCorrupt("CAF: desc chunk of %d bytes (32 expected)", size)
	}
	b, err := s.bytes(body, 32)
	if err != nil {
		return nil, err
	}
	d := cafDesc{
		rate:            math.Float64frombits(binary.BigEndian.Uint64(b[0:])),
		formatID:        string(b[8:12]),
		flags:           binary.BigEndian.Uint32(b[12:]),
		bytesPerPacket:  int64(binary.BigEndian.Uint32(b[16:])),
		framesPerPacket: int64(binary.BigEndian.Uint32(b[20:])),
		channels:        int(binary.BigEndian.Uint32(b[24:])),
		bits:            int(binary.BigEndian.Uint32(b[28:])),
	}
	if !(d.rate >= 1 && d.rate < 1e7) || d.channels <= 0 || d.channels > 1024 {
		return nil, errCorrupt("CAF: desc says %d channels at %g Hz", d.channels, d.rate)
	}
	if d.framesPerPacket > cafMaxFramesPerPacket {
		// ffmpeg 5.1's CAF muxer writes garbage here for FLAC
		// (0x27627628): no packet holds that many frames.
		d.framesPerPacket = 0
		d.insane = true
	}
	return &d, nil
}

// info assembles the result once the chunks are walked.
func (c *cafWalk) info() (*Info, error) {
	if c.desc == nil {
		return nil, errTruncated("CAF: no desc chunk")
	}
	if c.dataOff < 0 {
		return nil, errTruncated("CAF: no data chunk")
	}
	desc := c.desc
	info := &Info{Container: rules.ContainerCAF, Codec: cafCodec(*desc), Channels: desc.channels, SampleRate: int(math.Round(desc.rate)), Truncated: c.dataCut}
	info.Duration = c.duration()
	if math.IsInf(info.Duration, 0) || math.IsNaN(info.Duration) || info.Duration < 0 {
		info.Duration = 0
	}
	if info.Codec == "opus" {
		info.Opus = c.opusPacking()
	}
	return info, nil
}

// duration is the audio's duration in seconds (0 when it cannot be told).
func (c *cafWalk) duration() float64 {
	desc := c.desc
	switch {
	case desc.bytesPerPacket > 0 && desc.framesPerPacket > 0:
		// Constant packet size (LPCM, µ-law, IMA4…): whole packets in the data.
		return float64(c.dataLen/desc.bytesPerPacket*desc.framesPerPacket) / desc.rate
	case desc.insane:
		// Unknown rather than hours of nonsense (ffprobe 5.1 reports ~58 h
		// for ffmpeg's own FLAC-in-CAF).
	case c.packets > c.dataLen:
		// Every packet takes at least a byte: a packet count larger than
		// the data cannot be trusted (and packets × frames could overflow).
	case c.validFr > 0 && !c.dataCut && (c.packets <= 0 || c.validFr/c.packets <= cafMaxFramesPerPacket):
		// Packetized: the pakt chunk's count of valid frames (without
		// priming and remainder frames).
		return float64(c.validFr) / desc.rate
	case c.packets > 0 && desc.framesPerPacket > 0 && !c.dataCut:
		return float64(c.packets*desc.framesPerPacket) / desc.rate
	}
	return 0
}

// opusPacking samples the first Opus packets of the data chunk. The
// packet table holds each packet's size as a BER-style varint (and its
// frame count too when the desc gives none). The input rate comes from an
// OpusHead in the kuki chunk, when there is one (ffmpeg writes none).
func (c *cafWalk) opusPacking() *OpusPacking {
	if c.paktTable < 0 || c.desc.framesPerPacket == 0 {
		return nil
	}
	table, err := c.s.upTo(c.paktTable, min(c.paktEnd-c.paktTable, 256))
	if err != nil {
		return nil
	}
	o := &opusSampler{head: c.opusHead}
	off := c.dataOff
	for i := int64(0); i < c.packets && !o.full() && len(table) > 0; i++ {
		n, l := cafVarint(table)
		if l == 0 || n <= 0 || off+n > c.dataOff+c.dataLen {
			break
		}
		table = table[l:]
		p, err := c.s.upTo(off, min(n, 2))
		if err != nil {
			break
		}
		o.add(p, i == c.packets-1)
		off += n
	}
	return o.packing()
}

// cafVarint decodes a packet table entry: 7 bits a byte, high bit set on
// all but the last (CAF spec, "Packet Table Chunk").
func cafVarint(b []byte) (int64, int) {
	var v int64
	for i := 0; i < len(b) && i < 8; i++ {
		v = v<<7 | int64(b[i]&0x7F)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}
