package inspect

import (
	"encoding/binary"
	"fmt"

	"github.com/prep-audio/prep/pkg/rules"
)

// WAV: RIFF/WAVE (Microsoft RIFF spec; WAVEFORMATEXTENSIBLE, Microsoft
// "Multiple channel audio data and WAVE files"), RF64 (EBU TECH 3306) and
// BW64 (ITU-R BS.2088), whose 64-bit sizes live in a ds64 chunk. Chunks are
// id(4) size(4 LE) body, padded to an even size.
//
// Streaming writers (ffmpeg to a pipe, some recorders) cannot go back to
// fill sizes in and leave the RIFF and data sizes at 0xFFFFFFFF or 0; the
// data then runs to the end of the file.

const wavMaxChunks = 4096

func matchWAV(b []byte) bool {
	if len(b) < 12 || string(b[8:12]) != "WAVE" {
		return false
	}
	switch string(b[:4]) {
	case "RIFF", "RF64", "BW64":
		return true
	}
	return false
}

// wavFormat is the fmt chunk.
type wavFormat struct {
	tag           uint16
	channels      int
	rate          int
	byteRate      int64
	blockAlign    int64
	bits          int
	samplesPerBlk int64 // IMA/MS ADPCM: samples per channel per block (from cbSize extra)
}

// wavCodec maps a format tag (or the first two bytes of an extensible
// SubFormat GUID) and the container bits per sample to ffprobe's codec_name,
// as libavformat's ff_wav_codec_get_id does (riff.c ff_codec_wav_tags).
func wavCodec(tag uint16, bits int) string {
	switch tag {
	case 0x0001: // WAVE_FORMAT_PCM
		// Samples are stored in whole bytes: 12-bit PCM is in 16-bit
		// containers, 20-bit in 24-bit ones (libavformat rounds up too).
		switch (bits + 7) / 8 * 8 {
		case 8:
			return "pcm_u8"
		case 16:
			return "pcm_s16le"
		case 24:
			return "pcm_s24le"
		case 32:
			return "pcm_s32le"
		case 64:
			return "pcm_s64le"
		}
		return "pcm_s16le"
	case 0x0003: // WAVE_FORMAT_IEEE_FLOAT
		if bits == 64 {
			return "pcm_f64le"
		}
		return "pcm_f32le"
	case 0x0006:
		return "pcm_alaw"
	case 0x0007:
		return "pcm_mulaw"
	case 0x0002:
		return "adpcm_ms"
	case 0x0011:
		return "adpcm_ima_wav"
	case 0x0031:
		return "gsm_ms"
	case 0x0040:
		return "adpcm_g726"
	case 0x0050:
		return "mp2"
	case 0x0055:
		return "mp3"
	case 0x0092, 0x2000:
		return "ac3"
	case 0x00FF, 0x1600, 0x1601, 0x1602, 0x1610, 0x706D:
		return "aac"
	case 0x0160:
		return "wmav1"
	case 0x0161:
		return "wmav2"
	case 0x2001:
		return "dts"
	case 0xF1AC:
		return "flac"
	case 0x6750:
		return "vorbis"
	case 0x704F:
		return "opus"
	}
	return fmt.Sprintf("wav_0x%04x", tag)
}

func parseWAV(s *source, start int64) (*Info, error) {
	var hdr [12]byte
	if err := s.readAt(hdr[:], start); err != nil {
		return nil, err
	}
	is64 := string(hdr[:4]) != "RIFF"
	var (
		fmtc       *wavFormat
		ds64Data   int64 = -1
		ds64Frames int64 = -1
		factFrames int64 = -1
	)
	off := start + 12
	for i := 0; ; i++ {
		if i >= wavMaxChunks {
			return nil, errCorrupt("WAV: more than %d chunks before the data chunk", wavMaxChunks)
		}
		if off+8 > s.size {
			if fmtc == nil {
				return nil, errTruncated("WAV: the file ends before the fmt chunk")
			}
			return nil, errTruncated("WAV: the file ends before the data chunk")
		}
		var ch [8]byte
		if err := s.readAt(ch[:], off); err != nil {
			return nil, err
		}
		id := string(ch[:4])
		size := int64(binary.LittleEndian.Uint32(ch[4:]))
		body := off + 8
		switch id {
		case "ds64": // EBU TECH 3306 §3: riffSize(8) dataSize(8) sampleCount(8) tableLength(4) …
			if size < 24 {
				return nil, errCorrupt("WAV: ds64 chunk of %d bytes", size)
			}
			b, err := s.bytes(body, 24)
			if err != nil {
				return nil, err
			}
			ds64Data = int64(binary.LittleEndian.Uint64(b[8:16]))
			ds64Frames = int64(binary.LittleEndian.Uint64(b[16:24]))
		case "fmt ":
			if size < 14 {
				return nil, errCorrupt("WAV: fmt chunk of %d bytes (14 at least)", size)
			}
			b, err := s.bytes(body, min(size, 40))
			if err != nil {
				return nil, err
			}
			f, err := parseWAVFormat(b)
			if err != nil {
				return nil, err
			}
			fmtc = f
		case "fact":
			if size >= 4 {
				var b [4]byte
				if err := s.readAt(b[:], body); err != nil {
					return nil, err
				}
				factFrames = int64(binary.LittleEndian.Uint32(b[:]))
			}
		case "data":
			if fmtc == nil {
				return nil, errCorrupt("WAV: data chunk before the fmt chunk")
			}
			avail := s.size - body
			info := &Info{Container: rules.ContainerWAV, Codec: wavCodec(fmtc.tag, fmtc.bits), Channels: fmtc.channels, SampleRate: fmtc.rate}
			n := size
			switch {
			case is64 && size == 0xFFFFFFFF && ds64Data >= 0:
				n = ds64Data
			case size == 0xFFFFFFFF || size == 0:
				// Streaming sizes: the data runs to the end of the file.
				n = avail
				if size == 0xFFFFFFFF {
					factFrames = -1 // a streaming writer's fact (if any) is a placeholder too
				}
			}
			if n > avail {
				info.Truncated = true
				n = avail
				factFrames = -1 // the declared count is for data that is not there
				ds64Frames = -1
			}
			if is64 && ds64Frames > 0 && !info.Truncated {
				factFrames = ds64Frames
			}
			info.Duration = fmtc.duration(n, factFrames)
			if fmtc.byteRate > 0 {
				info.Bitrate = fmtc.byteRate * 8
			}
			return info, nil
		}
		next := body + size + size&1
		if next > s.size {
			return nil, errTruncated("WAV: the %q chunk runs past the end of the file, before the data chunk", id)
		}
		off = next
	}
}

// parseWAVFormat decodes a fmt chunk body (14 bytes at least): WAVEFORMATEX (tag, channels,
// rate, byte rate, block align, bits, cbSize, extra) and, for
// WAVE_FORMAT_EXTENSIBLE (0xFFFE), the SubFormat GUID whose first two bytes
// are the real format tag (KSDATAFORMAT_SUBTYPE_xxx = tag-0000-0010-8000-00aa00389b71).
func parseWAVFormat(b []byte) (*wavFormat, error) {
	f := &wavFormat{
		tag:        binary.LittleEndian.Uint16(b[0:]),
		channels:   int(binary.LittleEndian.Uint16(b[2:])),
		rate:       int(binary.LittleEndian.Uint32(b[4:])),
		byteRate:   int64(binary.LittleEndian.Uint32(b[8:])),
		blockAlign: int64(binary.LittleEndian.Uint16(b[12:])),
	}
	if len(b) >= 16 { // the old 14-byte WAVEFORMAT has no bits per sample
		f.bits = int(binary.LittleEndian.Uint16(b[14:]))
	}
	if f.channels == 0 || f.rate == 0 {
		return nil, errCorrupt("WAV: fmt says %d channels at %d Hz", f.channels, f.rate)
	}
	cb := 0
	if len(b) >= 18 {
		cb = int(binary.LittleEndian.Uint16(b[16:]))
	}
	switch {
	case f.tag == 0xFFFE && len(b) >= 40 && cb >= 22:
		f.tag = binary.LittleEndian.Uint16(b[24:])
	case (f.tag == 0x0011 || f.tag == 0x0002) && len(b) >= 20 && cb >= 2:
		f.samplesPerBlk = int64(binary.LittleEndian.Uint16(b[18:]))
	}
	return f, nil
}

// duration of n data bytes: PCM-like codecs from the block align, ADPCM
// from whole blocks, others from the fact chunk's sample count, else from
// the byte rate.
func (f *wavFormat) duration(n, factFrames int64) float64 {
	if f.rate <= 0 || n <= 0 {
		return 0
	}
	rate := float64(f.rate)
	switch f.tag {
	case 0x0001, 0x0003, 0x0006, 0x0007:
		if f.blockAlign > 0 {
			return float64(n/f.blockAlign) / rate
		}
	case 0x0002, 0x0011:
		if factFrames > 0 {
			return float64(factFrames) / rate
		}
		if f.blockAlign > 0 && f.samplesPerBlk > 0 {
			frames := n / f.blockAlign * f.samplesPerBlk
			// A partial last block (a cut file) still decodes: IMA ADPCM has a
			// 4-byte header per channel holding one sample, then two samples a byte.
			ch := int64(f.channels)
			if rem := n % f.blockAlign; f.tag == 0x0011 && rem >= 4*ch {
				frames += 1 + (rem-4*ch)*2/ch
			}
			return float64(frames) / rate
		}
	default:
		if factFrames > 0 {
			return float64(factFrames) / rate
		}
	}
	if f.byteRate > 0 {
		return float64(n) / float64(f.byteRate)
	}
	return 0
}
