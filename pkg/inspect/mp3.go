package inspect

// MPEG audio: MPEG-1 (ISO/IEC 11172-3), MPEG-2 LSF (ISO/IEC 13818-3) and
// the unofficial MPEG 2.5, layers I, II and III. Layer I/II report codec
// mp1/mp2 (ffprobe's names), which WhatsApp refuses; layer III is mp3.
//
// The first frame is the first sync word, at most mp3SearchWindow bytes
// past the ID3v2 tags, that is followed by two more consistent frames (or
// ends the file). Duration, in order of preference:
//  1. a Xing/Info header (LAME, ffmpeg) or a VBRI header (Fraunhofer) in the
//     first frame gives the frame count: frames × samples-per-frame / rate,
//     minus the encoder delay and padding the LAME tag records (gapless
//     length; ffprobe does not subtract them and reports up to ~50 ms more);
//  2. otherwise, when the first frames share one bitrate, a CBR estimate:
//     audio bytes × 8 / bitrate;
//  3. otherwise (VBR without a header) a frame walk over the whole stream,
//     headers only, through a reused 64 KiB window.
// ID3v1 ("TAG", the last 128 bytes) and APEv2 tags at the end are not
// counted as audio.

import (
	"bytes"
	"encoding/binary"
	"math"

	"github.com/prep-audio/prep/pkg/rules"
)

const (
	mp3SearchWindow = 64 << 10 // how far past the tags the first frame may start
	mp3CBRProbe     = 32       // frames compared to tell CBR from VBR
)

// mpaHeader is a decoded 4-byte MPEG audio frame header.
type mpaHeader struct {
	version int // 1 = MPEG-1, 2 = MPEG-2, 25 = MPEG-2.5
	layer   int // 1, 2, 3
	crc     bool
	bitrate int // bits/s
	rate    int // Hz
	pad     int
	mono    bool
	length  int // frame length in bytes, padding included
	spf     int // samples per frame
}

var (
	mpaBitrates = [2][3][16]int{ // [MPEG-1, MPEG-2/2.5][layer-1][index] in kbit/s
		{
			{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0},
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0},
			{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},
		},
		{
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
		},
	}
	// Sample rates by [MPEG-1, MPEG-2, MPEG-2.5][index].
	mpaRates = [3][3]int{{44100, 48000, 32000}, {22050, 24000, 16000}, {11025, 12000, 8000}}
)

// parseMPAHeader decodes b[0:4]. Free-format bitrates, reserved values and
// the reserved emphasis are rejected.
func parseMPAHeader(b []byte) (mpaHeader, bool) {
	var h mpaHeader
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return h, false
	}
	switch b[1] >> 3 & 3 {
	case 0:
		h.version = 25
	case 2:
		h.version = 2
	case 3:
		h.version = 1
	default:
		return h, false
	}
	h.layer = 4 - int(b[1]>>1&3)
	if h.layer == 4 {
		return h, false
	}
	h.crc = b[1]&1 == 0
	bi, ri := b[2]>>4, b[2]>>2&3
	if bi == 0 || bi == 15 || ri == 3 || b[3]&3 == 2 {
		return h, false
	}
	vi, ti := 0, 0
	switch h.version {
	case 2:
		vi, ti = 1, 1
	case 25:
		vi, ti = 1, 2
	}
	h.bitrate = mpaBitrates[vi][h.layer-1][bi] * 1000
	h.rate = mpaRates[ti][ri]
	h.pad = int(b[2] >> 1 & 1)
	h.mono = b[3]>>6 == 3
	switch {
	case h.layer == 1:
		h.spf = 384
		h.length = (12*h.bitrate/h.rate + h.pad) * 4
	case h.layer == 3 && h.version != 1:
		h.spf = 576
		h.length = 72*h.bitrate/h.rate + h.pad
	default:
		h.spf = 1152
		h.length = 144*h.bitrate/h.rate + h.pad
	}
	return h, h.length >= 4
}

func (h mpaHeader) sameStream(o mpaHeader) bool {
	return h.version == o.version && h.layer == o.layer && h.rate == o.rate
}

func (h mpaHeader) codec() string {
	switch h.layer {
	case 1:
		return "mp1"
	case 2:
		return "mp2"
	}
	return rules.CodecMP3
}

// mpaSync is MPEG audio to the shared frame-sync search (frame_scan.go):
// a 4-byte header, frames of at most 1728 bytes (layer III, 8 kHz, 160 kb/s,
// padded — the longest of the MPEG-1/2/2.5 layer I–III tables).
var mpaSync = syncFormat[mpaHeader]{headerLen: 4, maxFrame: 1728, parse: parseMPAHeader}

func (h mpaHeader) frameLen() int { return h.length }

// matchMP3 looks for a confirmed frame anywhere in the first bytes.
func matchMP3(b []byte) bool { return mpaSync.match(b) }

// nextFF returns the index of the next 0xFF byte (a sync word's first
// byte) at or after i, or -1.
func nextFF(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	j := bytes.IndexByte(b[i:], 0xFF)
	if j < 0 {
		return -1
	}
	return i + j
}

// audioEnd returns where the audio of a frame-based stream ends: before an
// ID3v1 tag (the last 128 bytes start with "TAG") and/or an APEv2 tag
// (32-byte footer "APETAGEX", APE tag spec v2.0).
func audioEnd(s *source, start int64) (int64, error) {
	end := s.size
	for i := 0; i < 3; i++ {
		if end-start >= 128 {
			b, err := s.bytes(end-128, 3)
			if err != nil {
				return 0, err
			}
			if string(b) == "TAG" {
				end -= 128
				continue
			}
		}
		if end-start >= 32 {
			f, err := s.bytes(end-32, 32)
			if err != nil {
				return 0, err
			}
			if string(f[:8]) == "APETAGEX" {
				n := int64(binary.LittleEndian.Uint32(f[12:])) // items + footer
				if binary.LittleEndian.Uint32(f[20:])&(1<<31) != 0 {
					n += 32 // header present
				}
				if n >= 32 && n <= end-start {
					end -= n
					continue
				}
			}
		}
		break
	}
	return end, nil
}

func parseMP3(s *source, start int64) (*Info, error) {
	end, err := audioEnd(s, start)
	if err != nil {
		return nil, err
	}
	sc := newFrameScan(s, end)
	first, h, err := mpaSync.find(sc, start, mp3SearchWindow)
	if err != nil {
		return nil, err
	}
	if first < 0 {
		return nil, errCorrupt("no MPEG audio frames in the first %d bytes", mp3SearchWindow)
	}
	in := &Info{Container: rules.ContainerMP3, Codec: h.codec(), SampleRate: h.rate, Channels: 2}
	if h.mono {
		in.Channels = 1
	}
	audioBytes := end - first
	fb, err := sc.at(first, h.length)
	if err != nil {
		return nil, err
	}
	if len(fb) < h.length { // a file of one partial frame
		in.Truncated = true
		return in, nil
	}
	if x, ok := mpaVBRHeader(fb[:h.length], h); ok && x.frames > 0 {
		samples := float64(x.frames)*float64(h.spf) - float64(x.delay+x.padding)
		if samples <= 0 {
			samples = float64(x.frames) * float64(h.spf)
		}
		in.Duration = samples / float64(h.rate)
		if x.bytes > 0 && x.bytes > audioBytes+int64(h.length) {
			// The header promises more audio than the file holds.
			in.Truncated = true
			in.Duration *= float64(audioBytes) / float64(x.bytes)
		}
		if x.cbr {
			// The Info frame itself may use a higher bitrate to fit the
			// tag (LAME does so at low rates): the stream's is the next one.
			in.Bitrate = int64(h.bitrate)
			if nb, err := sc.at(first+int64(h.length), 4); err != nil {
				return nil, err
			} else if n, ok := parseMPAHeader(nb); ok {
				in.Bitrate = int64(n.bitrate)
			}
		} else if in.Duration > 0 {
			in.Bitrate = int64(math.Round(float64(audioBytes-int64(h.length)) * 8 / in.Duration))
		}
		return in, nil
	}
	cbr, err := mpaIsCBR(sc, first, end)
	if err != nil {
		return nil, err
	}
	if cbr {
		in.Bitrate = int64(h.bitrate)
		in.Duration = float64(audioBytes) * 8 / float64(h.bitrate)
		return in, nil
	}
	w, err := mpaWalk(sc, first, end, h)
	if err != nil {
		return nil, err
	}
	in.Duration = float64(w.samples) / float64(h.rate)
	in.Truncated = w.truncated
	if in.Duration > 0 {
		in.Bitrate = int64(math.Round(float64(w.bytes) * 8 / in.Duration))
	}
	return in, nil
}

// mpaVBR is what a Xing/Info or VBRI header says.
type mpaVBR struct {
	frames         int64
	bytes          int64
	delay, padding int
	cbr            bool // an "Info" tag: LAME's marker for a CBR stream
}

// mpaVBRHeader reads a Xing/Info header after the side information of the
// first frame, with the LAME tag's encoder delay/padding when present, or a
// VBRI header 32 bytes after the frame header.
func mpaVBRHeader(f []byte, h mpaHeader) (mpaVBR, bool) {
	var x mpaVBR
	side := 32
	switch {
	case h.version == 1 && h.mono:
		side = 17
	case h.version != 1 && !h.mono:
		side = 17
	case h.version != 1 && h.mono:
		side = 9
	}
	o := 4 + side
	if o+8 <= len(f) && (string(f[o:o+4]) == "Xing" || string(f[o:o+4]) == "Info") {
		x.cbr = string(f[o:o+4]) == "Info"
		flags := binary.BigEndian.Uint32(f[o+4:])
		p := o + 8
		if flags&1 != 0 {
			if p+4 > len(f) {
				return x, false
			}
			x.frames = int64(binary.BigEndian.Uint32(f[p:]))
			p += 4
		}
		if flags&2 != 0 {
			if p+4 > len(f) {
				return x, false
			}
			x.bytes = int64(binary.BigEndian.Uint32(f[p:]))
			p += 4
		}
		if flags&4 != 0 {
			p += 100
		}
		if flags&8 != 0 {
			p += 4
		}
		// LAME tag: encoder string(9) … delay(12 bits) padding(12 bits) at +21.
		if p+24 <= len(f) {
			switch string(f[p : p+4]) {
			case "LAME", "Lavf", "Lavc", "GOGO":
				d := f[p+21:]
				x.delay = int(d[0])<<4 | int(d[1])>>4
				x.padding = int(d[1]&0xF)<<8 | int(d[2])
			}
		}
		return x, true
	}
	// VBRI: "VBRI" version(2) delay(2) quality(2) bytes(4) frames(4).
	if v := 4 + 32; v+18 <= len(f) && string(f[v:v+4]) == "VBRI" {
		x.bytes = int64(binary.BigEndian.Uint32(f[v+10:]))
		x.frames = int64(binary.BigEndian.Uint32(f[v+14:]))
		return x, true
	}
	return x, false
}

// mpaIsCBR reports whether the first frames all have the same bitrate.
func mpaIsCBR(sc *frameScan, off, end int64) (bool, error) {
	rate := 0
	for i := 0; i < mp3CBRProbe && off+4 <= end; i++ {
		b, err := sc.at(off, 4)
		if err != nil {
			return false, err
		}
		h, ok := parseMPAHeader(b)
		if !ok {
			break
		}
		if rate != 0 && h.bitrate != rate {
			return false, nil
		}
		rate = h.bitrate
		off += int64(h.length)
	}
	return true, nil
}

// mpaWalkResult is the outcome of a frame walk.
type mpaWalkResult struct {
	frames, samples, bytes int64
	truncated              bool
}

// mpaWalk hops from frame header to frame header to the end of the audio,
// resynchronising (bounded) over garbage between frames.
func mpaWalk(sc *frameScan, off, end int64, first mpaHeader) (mpaWalkResult, error) {
	var w mpaWalkResult
	for off < end {
		b, err := sc.at(off, 4)
		if err != nil {
			return w, err
		}
		if len(b) < 4 {
			w.truncated = len(b) > 0 && b[0] == 0xFF
			break
		}
		h, ok := parseMPAHeader(b)
		if !ok || !h.sameStream(first) {
			next, _, err := mpaSync.find(sc, off+1, scanWindow/2)
			if err != nil {
				return w, err
			}
			if next < 0 {
				break // trailing garbage
			}
			off = next
			continue
		}
		if off+int64(h.length) > end {
			w.truncated = true
			break
		}
		w.frames++
		w.samples += int64(h.spf)
		w.bytes += int64(h.length)
		off += int64(h.length)
	}
	return w, nil
}
