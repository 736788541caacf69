package inspect

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/prep-audio/prep/pkg/inspect/codec"
	"github.com/prep-audio/prep/pkg/rules"
)

// Ogg (RFC 3533). A physical stream is a sequence of pages: "OggS",
// version 0, header type flags (0x01 continued, 0x02 BOS, 0x04 EOS), a
// 64-bit granule position, serial number, page sequence number, CRC, and a
// segment table whose lacing values add up to the payload size. Logical
// streams start with a BOS page carrying their identification header:
//
//   - Opus (RFC 7845 §5.1): "OpusHead" version channels pre-skip(LE16)
//     input-sample-rate(LE32)…; the granule counts 48 kHz samples and
//     duration = (last granule − pre-skip) / 48000. Opus always decodes at
//     48 kHz: the "input sample rate" is informational only, and ffprobe
//     reports 48000, so this parser does too.
//   - Vorbis (Vorbis I spec §4.2.2): 0x01 "vorbis" version channels rate…;
//     duration = last granule / rate.
//   - FLAC (Ogg FLAC mapping, xiph.org/flac/ogg_mapping.html): 0x7F "FLAC"
//     major minor header-count "fLaC" + STREAMINFO; granule = samples.
//   - Speex (Speex manual §"Ogg file format"): "Speex   " … rate(LE32 @36)
//     … channels(LE32 @48); granule = samples.
//   - Video mappings (Theora 0x80 "theora", Daala, Dirac, OGM "video") set
//     HasVideo.
//
// Several BOS pages in a row at the start are a multiplexed (grouped)
// stream; a BOS page after data pages starts a new link of a chained
// stream. The parser walks the page headers and skips the payloads. It
// cannot just read the tail of the file: chain boundaries can only be seen
// page by page, and ffmpeg's -fflags +bitexact gives every link the same
// serial number, so a chained file's last page looks like an unchained one.
// The walk reads the file in 64 KiB windows (a maximal page, 65,307 bytes,
// fits in one), so a 16 MB file costs about 256 reads.
//
// Differences from ffprobe, on purpose:
//   - Opus duration subtracts the pre-skip (RFC 7845 §4.2); ffprobe 5.1
//     reports last granule / 48000, 6.5 ms (312 samples) longer for libopus.
//   - A chained file's duration is the sum of its links; ffprobe reports the
//     last link's granule only.
//   - A missing EOS page or a page cut short sets Truncated.

const (
	oggWindow     = 64 << 10
	oggMaxStreams = 64 // logical streams per link that we track
	oggHeaderLen  = 27
)

func matchOgg(b []byte) bool {
	return len(b) >= 4 && string(b[:4]) == "OggS"
}

// oggStream is one logical bitstream.
type oggStream struct {
	serial   uint32
	codec    string
	audio    bool
	video    bool
	channels int
	rate     int
	preSkip  int64
	granule  int64 // last granule position seen (-1: none)
	eos      bool
	opusHead *codec.OpusHead
	// Packet walk of an Opus stream of the first link (for its packing).
	opus    *opusSampler
	packets int    // packets completed so far
	inPkt   bool   // a packet continues onto the next segment/page
	pktHead []byte // first bytes of the packet in progress
}

func (st *oggStream) duration() float64 {
	if !st.audio || st.granule <= 0 || st.rate <= 0 {
		return 0
	}
	g := st.granule
	if st.codec == "opus" {
		g -= st.preSkip
		if g <= 0 {
			return 0
		}
	}
	return float64(g) / float64(st.rate)
}

// identify reads a logical stream's identification header (the first
// packet, from its BOS page).
func (st *oggStream) identify(p []byte) {
	switch {
	case len(p) >= 8 && string(p[:8]) == codec.OpusHeadMagic:
		st.codec, st.audio = "opus", true
		st.rate = 48000 // RFC 7845 §5.1: Opus decodes at 48 kHz; the input rate is informational
		if h, err := codec.ParseOpusHead(p); err == nil {
			st.channels, st.preSkip, st.opusHead = h.Channels, int64(h.PreSkip), &h
		}
	case len(p) >= 16 && string(p[:7]) == "\x01vorbis":
		st.codec, st.audio = "vorbis", true
		st.channels = int(p[11])
		st.rate = int(binary.LittleEndian.Uint32(p[12:]))
	case len(p) >= 5 && string(p[:5]) == "\x7fFLAC":
		st.codec, st.audio = "flac", true
		// "\x7FFLAC" major minor header-count "fLaC" block-header(4) STREAMINFO
		if len(p) >= 17 && string(p[9:13]) == "fLaC" {
			if si, err := codec.ParseStreamInfo(p[17:]); err == nil {
				st.channels, st.rate = si.Channels, si.SampleRate
			}
		}
	case len(p) >= 52 && string(p[:8]) == "Speex   ":
		st.codec, st.audio = "speex", true
		st.rate = int(binary.LittleEndian.Uint32(p[36:]))
		st.channels = int(binary.LittleEndian.Uint32(p[48:]))
	case len(p) >= 7 && string(p[:7]) == "\x80theora":
		st.codec, st.video = "theora", true
	case len(p) >= 6 && string(p[:6]) == "\x80daala":
		st.codec, st.video = "daala", true
	case len(p) >= 4 && string(p[:4]) == "BBCD":
		st.codec, st.video = "dirac", true
	case len(p) >= 6 && string(p[:6]) == "\x01video":
		st.codec, st.video = "ogm_video", true
	}
	if st.channels < 0 || st.channels > 255 {
		st.channels = 0
	}
	if st.rate < 0 || st.rate > 10_000_000 {
		st.rate = 0
	}
}

// oggLink is one link of a (possibly chained) physical stream: the logical
// streams that begin together.
type oggLink struct {
	streams []*oggStream
	data    bool // a non-BOS page was seen: a later BOS starts a new link
}

func (l *oggLink) find(serial uint32) *oggStream {
	for _, st := range l.streams {
		if st.serial == serial {
			return st
		}
	}
	return nil
}

func (l *oggLink) duration() float64 {
	var d float64
	for _, st := range l.streams {
		d = max(d, st.duration())
	}
	return d
}

// oggWin is a window of the file the walk reads pages from.
type oggWin struct {
	s   *source
	buf []byte
	off int64 // file offset of buf[0]
	n   int64 // valid bytes in buf
}

// at returns the bytes [off, off+n) (fewer at the end of the file),
// refilling the window from off when they are not all in it.
func (w *oggWin) at(off, n int64) ([]byte, error) {
	if head := w.s.head; off >= 0 && min(off+n, w.s.size) <= int64(len(head)) {
		// The source already holds the first 64 KiB: a small file costs no read.
		return head[off:min(off+n, int64(len(head)))], nil
	}
	if off < w.off || min(off+n, w.s.size) > w.off+w.n {
		if w.buf == nil {
			w.buf = make([]byte, oggWindow)
		}
		m := min(int64(len(w.buf)), w.s.size-off)
		if m < 0 {
			m = 0
		}
		if err := w.s.readAt(w.buf[:m], off); err != nil {
			return nil, err
		}
		w.off, w.n = off, m
	}
	i := off - w.off
	return w.buf[i:min(i+n, w.n)], nil
}

// oggWalk is the state of the page walk.
type oggWalk struct {
	s         *source
	w         *oggWin
	links     int
	first     *oggLink
	cur       *oggLink
	total     float64 // duration of the finished links
	truncated bool
	hasVideo  bool
	lace      [255]byte // the current page's segment table
}

// oggHdr is one page header.
type oggHdr struct {
	flags   byte // 0x01 continued, 0x02 BOS, 0x04 EOS
	granule int64
	serial  uint32
	lacing  []byte
	body    int64 // where the payload starts
	size    int64 // payload bytes
}

func parseOgg(s *source, start int64) (*Info, error) {
	g := &oggWalk{s: s, w: &oggWin{s: s}}
	for off := start; off < s.size; {
		// One step per page (most pages come from the window without a
		// read): keeps the walk within the read budget and cancellable.
		if err := s.tick(); err != nil {
			return nil, err
		}
		next, stop, err := g.page(off)
		if err != nil {
			return nil, err
		}
		if stop {
			break
		}
		off = next
	}
	return g.info()
}

// page handles the page (or junk) at off and returns where the walk goes
// next; stop ends the walk (the end of the file, or a page cut short).
func (g *oggWalk) page(off int64) (next int64, stop bool, err error) {
	h, err := g.w.at(off, oggHeaderLen+255)
	if err != nil {
		return 0, false, err
	}
	if len(h) < 4 || string(h[:4]) != "OggS" {
		return g.resync(off)
	}
	if len(h) < oggHeaderLen || len(h) < oggHeaderLen+int(h[26]) {
		g.truncated = true // the file ends inside a page header
		return 0, true, nil
	}
	if h[4] != 0 {
		return 0, false, errCorrupt("Ogg: page version %d at offset %d", h[4], off)
	}
	pg := oggHdr{flags: h[5], granule: int64(binary.LittleEndian.Uint64(h[6:])), serial: binary.LittleEndian.Uint32(h[14:])}
	pg.lacing = g.lace[:h[26]]
	copy(pg.lacing, h[oggHeaderLen:]) // h is the window: a later read may move it
	for _, l := range pg.lacing {
		pg.size += int64(l)
	}
	pg.body = off + oggHeaderLen + int64(len(pg.lacing))
	end := pg.body + pg.size
	if end > g.s.size {
		g.truncated = true // a page cut in the middle
		return 0, true, nil
	}
	switch {
	case pg.flags&0x02 != 0:
		if err := g.bos(&pg); err != nil {
			return 0, false, err
		}
	case g.cur == nil:
		return 0, false, errCorrupt("Ogg: the first page is not a beginning-of-stream page")
	default:
		g.cur.data = true
	}
	if st := g.cur.find(pg.serial); st != nil {
		if err := g.sample(st, &pg); err != nil {
			return 0, false, err
		}
		if pg.granule >= 0 && pg.flags&0x02 == 0 {
			st.granule = pg.granule
		}
		if pg.flags&0x04 != 0 {
			st.eos = true
		}
	}
	return end, false, nil
}

// resync looks for the next "OggS" after junk between pages, a window at a
// time; junk up to the end of the file is ignored.
func (g *oggWalk) resync(off int64) (next int64, stop bool, err error) {
	if g.cur == nil {
		return 0, false, errCorrupt("Ogg: no page at the start")
	}
	win, err := g.w.at(off, oggWindow)
	if err != nil {
		return 0, false, err
	}
	i := bytes.Index(win[1:], []byte("OggS"))
	if i < 0 {
		if off+int64(len(win)) >= g.s.size {
			return 0, true, nil
		}
		return off + int64(max(1, len(win)-3)), false, nil
	}
	return off + int64(i) + 1, false, nil
}

// bos handles a beginning-of-stream page: a new link when data pages came
// before it, and a new logical stream identified by its first packet.
func (g *oggWalk) bos(pg *oggHdr) error {
	if g.cur == nil || g.cur.data {
		if g.cur != nil {
			g.total += g.cur.duration()
		}
		g.cur = &oggLink{}
		g.links++
		if g.first == nil {
			g.first = g.cur
		}
	}
	if len(g.cur.streams) >= oggMaxStreams || g.cur.find(pg.serial) != nil {
		return nil
	}
	// The identification header is the first packet of the BOS page.
	var plen int64
	for _, l := range pg.lacing {
		plen += int64(l)
		if l < 255 {
			break
		}
	}
	p, err := g.w.at(pg.body, min(plen, 128))
	if err != nil {
		return err
	}
	st := &oggStream{serial: pg.serial, granule: -1}
	st.identify(p)
	if st.codec == "opus" && g.links == 1 {
		st.opus = &opusSampler{head: st.opusHead}
	}
	g.hasVideo = g.hasVideo || st.video
	g.cur.streams = append(g.cur.streams, st)
	return nil
}

// sample walks the page's packets of an Opus stream of the first link and
// gives the first bytes of its first audio packets (after OpusHead and
// OpusTags) to its sampler. The payload is read only when such a packet
// starts on the page.
func (g *oggWalk) sample(st *oggStream, pg *oggHdr) error {
	if st.opus == nil || st.opus.full() {
		return nil
	}
	var payload []byte
	pos := 0
	for i, l := range pg.lacing {
		if !st.inPkt && st.packets >= 2 { // an audio packet starts here
			if payload == nil {
				b, err := g.w.at(pg.body, pg.size)
				if err != nil {
					return err
				}
				payload = b
			}
			st.pktHead = append(st.pktHead[:0], payload[pos:min(pos+min(int(l), 2), len(payload))]...)
		}
		pos += int(l)
		st.inPkt = l == 255
		if !st.inPkt {
			if st.packets >= 2 {
				st.opus.add(st.pktHead, pg.flags&0x04 != 0 && i == len(pg.lacing)-1)
			}
			st.packets++
		}
	}
	return nil
}

// info assembles the result from the first link's streams.
func (g *oggWalk) info() (*Info, error) {
	if g.first == nil {
		return nil, errTruncated("Ogg: no complete page")
	}
	info := &Info{Container: rules.ContainerOgg, HasVideo: g.hasVideo, Chained: g.links > 1}
	for _, st := range g.first.streams {
		if !st.audio {
			continue
		}
		if info.Streams == 0 {
			info.Codec, info.Channels, info.SampleRate = st.codec, st.channels, st.rate
			info.Opus = st.opus.packing()
		}
		info.Streams++
	}
	if info.Streams == 0 {
		if g.hasVideo { // as for MP4: a video with no audio stream is not audio
			return nil, &Error{Kind: KindNotAudio, Err: errors.New("an Ogg video with no audio stream")}
		}
		return nil, errUnsupported("Ogg: no logical stream of a known codec")
	}
	// The last link must end every logical stream with an EOS page.
	truncated := g.truncated
	for _, st := range g.cur.streams {
		if !st.eos {
			truncated = true
		}
	}
	info.Duration = g.total + g.cur.duration()
	info.Truncated = truncated
	return info, nil
}
