package inspect

// AMR and AMR-WB in the RFC 4867 §5 storage format ("#!AMR\n",
// "#!AMR-WB\n"): a magic line, then frames of one ToC byte (F, FT(4), Q,
// P(2)) and a payload whose size follows from FT (RFC 4867 §5.3; 3GPP TS
// 26.101 Table 1a for AMR-NB, TS 26.201 Table 1a for AMR-WB). Every frame —
// speech, SID or NO_DATA — is 20 ms, so duration = frames × 20 ms.
//
// ffprobe estimates AMR durations from the bitrate of the first frame,
// which is wrong for recordings with DTX (discontinuous transmission),
// where silence is coded as 5-byte SID and 0-byte NO_DATA frames: a 3 s
// DTX file can show as 2.8 s or less. prep counts frames and is exact.
//
// The multichannel variants ("#!AMR_MC1.0\n", "#!AMR-WB_MC1.0\n") are
// reported as unsupported: neither ffmpeg nor WhatsApp plays them.

import (
	"bytes"
	"encoding/binary"

	"github.com/prep-audio/prep/pkg/rules"
)

var (
	amrMagicNB   = []byte("#!AMR\n")
	amrMagicWB   = []byte("#!AMR-WB\n")
	amrMagicNBMC = []byte("#!AMR_MC1.0\n")
	amrMagicWBMC = []byte("#!AMR-WB_MC1.0\n")

	// Payload bytes per frame type (the ToC byte not included).
	// AMR-NB: FT 0–7 speech modes 4.75–12.2 kbit/s, 8 AMR SID, 9–11 the
	// GSM-EFR/TDMA-EFR/PDC-EFR SIDs (43, 38, 37 bits), 12–14 reserved,
	// 15 NO_DATA. AMR-WB: FT 0–8 speech 6.60–23.85 kbit/s, 9 SID, 10–13
	// reserved, 14 SPEECH_LOST, 15 NO_DATA.
	amrNBSizes = [16]int{12, 13, 15, 17, 19, 20, 26, 31, 5, 6, 5, 5, 0, 0, 0, 0}
	amrWBSizes = [16]int{17, 23, 32, 36, 40, 46, 50, 58, 60, 5, 0, 0, 0, 0, 0, 0}
)

func matchAMR(b []byte) bool {
	return bytes.HasPrefix(b, amrMagicNB) || bytes.HasPrefix(b, amrMagicWB) ||
		bytes.HasPrefix(b, amrMagicNBMC) || bytes.HasPrefix(b, amrMagicWBMC)
}

func parseAMR(s *source, start int64) (*Info, error) {
	head, err := s.upTo(start, 16)
	if err != nil {
		return nil, err
	}
	in := &Info{Container: rules.ContainerAMR, Channels: 1}
	var sizes *[16]int
	var off int64
	sid := 8 // AMR-NB SID (9–11 are the EFR SIDs); AMR-WB's is 9

	switch {
	case bytes.HasPrefix(head, amrMagicNB):
		in.Codec, in.SampleRate, sizes, off = rules.CodecAMRNB, 8000, &amrNBSizes, int64(len(amrMagicNB))
	case bytes.HasPrefix(head, amrMagicWB):
		in.Codec, in.SampleRate, sizes, off = "amr_wb", 16000, &amrWBSizes, int64(len(amrMagicWB))
		sid = 9
	case bytes.HasPrefix(head, amrMagicNBMC), bytes.HasPrefix(head, amrMagicWBMC):
		magic, name := amrMagicNBMC, "AMR-NB"
		if bytes.HasPrefix(head, amrMagicWBMC) {
			magic, name = amrMagicWBMC, "AMR-WB"
		}
		// RFC 4867 §5.2: a 32-bit channel description follows the magic;
		// its low 4 bits are the channel count.
		ch := "an unknown number of"
		if len(head) >= len(magic)+4 {
			n := binary.BigEndian.Uint32(head[len(magic):]) & 0xF
			ch = itoa(int(n))
		}
		return nil, errUnsupported("multichannel %s storage format (%s channels) is not supported by prep, ffmpeg or WhatsApp", name, ch)
	default:
		return nil, errCorrupt("no AMR magic")
	}
	off += start
	sc := newFrameScan(s, s.size)
	var frames int64
	for off < s.size {
		b, err := sc.at(off, 1)
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			break
		}
		// Hop over every whole frame in the window, then refill.
		i := 0
		for i < len(b) {
			ft := int(b[i] >> 3 & 0xF)
			n := sizes[ft] + 1
			if i+n > len(b) {
				break
			}
			frames++
			if ft >= sid {
				in.DTXFrames++
			}
			i += n
		}
		if i == 0 { // the frame at off straddles the window's end
			n := sizes[b[0]>>3&0xF] + 1
			if b, err = sc.at(off, n); err != nil {
				return nil, err
			}
			if len(b) < n {
				in.Truncated = true
				break
			}
			frames++
			if int(b[0]>>3&0xF) >= sid {
				in.DTXFrames++
			}
			i = n
		}
		off += int64(i)
	}
	if frames == 0 && !in.Truncated {
		return nil, errTruncated("an AMR header and no frames")
	}
	in.Duration = float64(frames) * 0.020
	return in, nil
}

// itoa avoids strconv for one small number in a message.
func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return string(rune('0'+n/10)) + string(rune('0'+n%10))
}
