package inspect

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"strings"

	"github.com/prep-audio/prep/pkg/inspect/codec"
	"github.com/prep-audio/prep/pkg/rules"
)

// Matroska and WebM (RFC 8794 EBML, RFC 9559 Matroska, WebM container
// guidelines). An EBML header (DocType "webm" or "matroska") is followed
// by a Segment whose children are SeekHead, Info (TimestampScale,
// Duration), Tracks (TrackEntry: number, type, CodecID, Audio: sampling
// frequency, channels) and Clusters (Timestamp + SimpleBlock/BlockGroup).
//
// Element IDs and sizes are variable-length integers (vints). A size whose
// value bits are all ones is "unknown": live writers such as browsers'
// MediaRecorder write an unknown-size Segment and unknown-size Clusters,
// and no Info/Duration, because they cannot seek back. ffprobe then reports
// duration N/A; this parser takes it from the last Cluster instead: the
// cluster's timestamp + the last audio block's relative timestamp + that
// block's duration (BlockDuration, DefaultDuration, the Opus TOC, or the
// gap between the last two blocks), minus CodecDelay and DiscardPadding.
// Clusters of known size are skipped by size; unknown-size ones cannot be,
// so the last one is searched for backwards from the end of the file
// (64 KiB windows, 1 MiB at most). A file cut short (the Segment declares
// more than there is) is measured the same way: what is there counts, not
// the Duration the header promised.

// EBML and Matroska element IDs (RFC 8794 §11, RFC 9559 §5).
const (
	mkvEBML            = 0x1A45DFA3
	mkvDocType         = 0x4282
	mkvSegment         = 0x18538067
	mkvSeekHead        = 0x114D9B74
	mkvInfo            = 0x1549A966
	mkvTimestampScale  = 0x2AD7B1
	mkvDuration        = 0x4489
	mkvTracks          = 0x1654AE6B
	mkvTrackEntry      = 0xAE
	mkvTrackNumber     = 0xD7
	mkvTrackType       = 0x83
	mkvCodecID         = 0x86
	mkvCodecPrivate    = 0x63A2
	mkvDefaultDuration = 0x23E383
	mkvAudio           = 0xE1
	mkvSamplingFreq    = 0xB5
	mkvOutSamplingFreq = 0x78B5
	mkvChannels        = 0x9F
	mkvBitDepth        = 0x6264
	mkvCluster         = 0x1F43B675
	mkvTimestamp       = 0xE7
	mkvSimpleBlock     = 0xA3
	mkvBlockGroup      = 0xA0
	mkvBlock           = 0xA1
	mkvBlockDuration   = 0x9B
	mkvDiscardPadding  = 0x75A2
	mkvCodecDelay      = 0x56AA
	mkvCues            = 0x1C53BB6B
	mkvAttachments     = 0x1941A469
	mkvChapters        = 0x1043A770
	mkvTags            = 0x1254C367

	mkvUnknown       = -1
	mkvTailWindow    = 64 << 10
	mkvTailWindows   = 16 // look for the last Cluster in the last 1 MiB at most
	mkvMaxTracks     = 128
	mkvTrackTypeVid  = 1
	mkvTrackTypeAud  = 2
	mkvMaxClusterEls = 1 << 16 // elements walked in one cluster
)

func matchMatroska(b []byte) bool {
	return len(b) >= 4 && binary.BigEndian.Uint32(b) == mkvEBML
}

// mkvVint decodes an EBML variable-length integer at b. keepMarker keeps
// the length marker bit (element IDs); otherwise it is removed (sizes) and
// an all-ones value is reported as mkvUnknown. n is 0 when b is not a
// valid vint.
func mkvVint(b []byte, keepMarker bool) (v int64, n int) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0
	}
	l := 1
	for m := byte(0x80); b[0]&m == 0; m >>= 1 {
		l++
	}
	if l > 8 || len(b) < l || keepMarker && l > 4 {
		return 0, 0
	}
	var u uint64
	if keepMarker {
		u = uint64(b[0])
	} else {
		u = uint64(b[0]) & (0xFF >> l)
	}
	allOnes := u == uint64(0xFF>>l)
	for i := 1; i < l; i++ {
		u = u<<8 | uint64(b[i])
		allOnes = allOnes && b[i] == 0xFF
	}
	if !keepMarker && allOnes {
		return mkvUnknown, l
	}
	return int64(u), l
}

// mkvElem is one element header read from the file.
type mkvElem struct {
	id   int64
	off  int64 // where the header starts
	body int64 // where the body starts
	size int64 // body size, or mkvUnknown
}

func (e mkvElem) end(limit int64) int64 {
	if e.size == mkvUnknown || e.size > limit-e.body {
		return limit
	}
	return e.body + e.size
}

// mkvHeader reads the element header at off.
func mkvHeader(s *source, off int64) (mkvElem, error) {
	var buf [12]byte
	n := min(int64(len(buf)), s.size-off)
	if n <= 0 {
		return mkvElem{}, errTruncated("Matroska: the file ends where an element should start")
	}
	if err := s.readAt(buf[:n], off); err != nil {
		return mkvElem{}, err
	}
	id, il := mkvVint(buf[:n], true)
	if il == 0 {
		return mkvElem{}, errCorrupt("Matroska: invalid element ID at offset %d", off)
	}
	size, sl := mkvVint(buf[il:n], false)
	if sl == 0 {
		if int64(il) >= n || buf[il] != 0 && int64(il+bits.LeadingZeros8(buf[il])+1) > n {
			return mkvElem{}, errTruncated("Matroska: the file ends inside an element header")
		}
		return mkvElem{}, errCorrupt("Matroska: invalid element size at offset %d", off)
	}
	return mkvElem{id: id, off: off, body: off + int64(il+sl), size: size}, nil
}

// mkvChildren iterates over the elements of an in-memory body. An unknown
// or oversized child size runs to the end of the body.
func mkvChildren(b []byte, f func(id int64, data []byte)) {
	for len(b) > 0 {
		id, il := mkvVint(b, true)
		if il == 0 {
			return
		}
		size, sl := mkvVint(b[il:], false)
		if sl == 0 {
			return
		}
		b = b[il+sl:]
		if size == mkvUnknown || size > int64(len(b)) {
			size = int64(len(b))
		}
		f(id, b[:size])
		b = b[size:]
	}
}

func mkvUint(b []byte) uint64 {
	var u uint64
	for i, c := range b {
		if i == 8 {
			break
		}
		u = u<<8 | uint64(c)
	}
	return u
}

func mkvFloat(b []byte) float64 {
	switch len(b) {
	case 4:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
	case 8:
		return math.Float64frombits(binary.BigEndian.Uint64(b))
	}
	return 0
}

// mkvTrack is one TrackEntry.
type mkvTrack struct {
	number     uint64
	typ        uint64
	codecID    string
	private    []byte
	defDur     uint64 // ns per frame
	codecDelay uint64 // ns the decoder must drop at the start (Opus pre-skip)
	rate       float64
	outRate    float64
	channels   uint64
	bits       uint64
}

// mkvCodec maps a Matroska CodecID to ffprobe's codec_name (libavformat
// matroska.c ff_mkv_codec_tags).
func mkvCodec(t *mkvTrack) string {
	id := t.codecID
	switch {
	case id == "A_OPUS":
		return "opus"
	case id == "A_VORBIS":
		return "vorbis"
	case strings.HasPrefix(id, "A_AAC"):
		return "aac"
	case id == "A_FLAC":
		return "flac"
	case id == "A_MPEG/L3":
		return "mp3"
	case id == "A_MPEG/L2":
		return "mp2"
	case id == "A_MPEG/L1":
		return "mp1"
	case id == "A_ALAC":
		return "alac"
	case id == "A_AC3":
		return "ac3"
	case id == "A_EAC3":
		return "eac3"
	case id == "A_DTS":
		return "dts"
	case id == "A_TRUEHD":
		return "truehd"
	case id == "A_TTA1":
		return "tta"
	case id == "A_WAVPACK4":
		return "wavpack"
	case id == "A_PCM/INT/LIT":
		switch t.bits {
		case 8:
			return "pcm_u8"
		case 24:
			return "pcm_s24le"
		case 32:
			return "pcm_s32le"
		}
		return "pcm_s16le"
	case id == "A_PCM/INT/BIG":
		switch t.bits {
		case 8:
			return "pcm_s8"
		case 24:
			return "pcm_s24be"
		case 32:
			return "pcm_s32be"
		}
		return "pcm_s16be"
	case id == "A_PCM/FLOAT/IEEE":
		if t.bits == 64 {
			return "pcm_f64le"
		}
		return "pcm_f32le"
	case id == "A_MS/ACM" && len(t.private) >= 16:
		// CodecPrivate is a WAVEFORMATEX.
		if f, err := parseWAVFormat(t.private); err == nil {
			return wavCodec(f.tag, f.bits)
		}
	}
	return strings.ToLower(strings.TrimPrefix(id, "A_"))
}

func parseMkvTracks(b []byte) []*mkvTrack {
	var tracks []*mkvTrack
	mkvChildren(b, func(id int64, data []byte) {
		if id != mkvTrackEntry || len(tracks) >= mkvMaxTracks {
			return
		}
		t := &mkvTrack{}
		mkvChildren(data, func(id int64, d []byte) {
			switch id {
			case mkvTrackNumber:
				t.number = mkvUint(d)
			case mkvTrackType:
				t.typ = mkvUint(d)
			case mkvCodecID:
				t.codecID = strings.TrimRight(string(d), "\x00")
			case mkvCodecPrivate:
				t.private = d
			case mkvDefaultDuration:
				t.defDur = mkvUint(d)
			case mkvCodecDelay:
				t.codecDelay = min(mkvUint(d), 10e9)
			case mkvAudio:
				mkvChildren(d, func(id int64, a []byte) {
					switch id {
					case mkvSamplingFreq:
						t.rate = mkvFloat(a)
					case mkvOutSamplingFreq:
						t.outRate = mkvFloat(a)
					case mkvChannels:
						t.channels = mkvUint(a)
					case mkvBitDepth:
						t.bits = mkvUint(a)
					}
				})
			}
		})
		tracks = append(tracks, t)
	})
	return tracks
}

// mkvState is what the walk has found so far.
type mkvState struct {
	scale        uint64 // ns per timestamp tick
	duration     float64
	hasDur       bool
	tracks       []*mkvTrack
	audio        *mkvTrack
	truncated    bool
	firstCluster int64 // the first Cluster after the Tracks (-1: none)
	lastCluster  int64 // the last Cluster seen (-1: none)
	needTail     bool  // an unknown-size Cluster: find the last one from the end
}

func parseMatroska(s *source, start int64) (*Info, error) {
	info := &Info{}
	seg, err := mkvFindSegment(s, start, info)
	if err != nil {
		return nil, err
	}
	st := &mkvState{scale: 1_000_000, firstCluster: -1, lastCluster: -1}
	if seg.size != mkvUnknown && seg.size > s.size-seg.body {
		st.truncated = true // the Segment declares more bytes than the file has
	}
	if err := st.walk(s, seg); err != nil {
		return nil, err
	}
	if st.tracks == nil {
		if st.truncated {
			return nil, errTruncated("Matroska: the file ends before the Tracks element")
		}
		return nil, errCorrupt("Matroska: no Tracks element")
	}
	if err := st.audioTrack(info); err != nil {
		return nil, err
	}
	if info.Codec == "opus" && st.firstCluster >= 0 {
		info.Opus = mkvOpusPacking(s, st.firstCluster, st)
	}
	if st.hasDur && !st.truncated {
		info.Duration = st.duration
	} else if st.lastCluster >= 0 {
		// No Duration element, or a file cut short (what is there counts,
		// not what the header promised): the end of the last audio block.
		last := st.lastCluster
		if st.needTail {
			if c, ok := mkvFindLastCluster(s, last); ok {
				last = c
			}
		}
		end, cut := mkvClusterEnd(s, last, st)
		if cut {
			st.truncated = true
		}
		info.Duration = end
	}
	info.Truncated = st.truncated
	if info.Duration < 0 || math.IsNaN(info.Duration) || math.IsInf(info.Duration, 0) {
		info.Duration = 0
	}
	return info, nil
}

// mkvFindSegment reads the EBML header (setting info.Container from its
// DocType) and finds the Segment after it, skipping any Void or other
// element before it.
func mkvFindSegment(s *source, start int64, info *Info) (mkvElem, error) {
	ebml, err := mkvHeader(s, start)
	if err != nil {
		return mkvElem{}, err
	}
	if ebml.size == mkvUnknown || ebml.size > 4096 {
		return mkvElem{}, errCorrupt("Matroska: EBML header of impossible size")
	}
	hb, err := s.bytes(ebml.body, ebml.size)
	if err != nil {
		return mkvElem{}, err
	}
	docType := "matroska" // RFC 8794 §11.2.6 default
	mkvChildren(hb, func(id int64, d []byte) {
		if id == mkvDocType {
			docType = strings.TrimRight(string(d), "\x00")
		}
	})
	switch docType {
	case "webm":
		info.Container = rules.ContainerWebM
	case "matroska":
		info.Container = rules.ContainerMatroska
	default:
		return mkvElem{}, errUnsupported("EBML document type %q is not Matroska or WebM", printableTag(docType))
	}
	off := ebml.body + ebml.size
	for i := 0; ; i++ {
		if i > 64 {
			return mkvElem{}, errCorrupt("Matroska: no Segment element")
		}
		e, err := mkvHeader(s, off)
		if err != nil {
			return mkvElem{}, err
		}
		if e.id == mkvSegment {
			return e, nil
		}
		if e.size == mkvUnknown {
			return mkvElem{}, errCorrupt("Matroska: unknown-size element before the Segment")
		}
		off = e.body + e.size
		if off > s.size {
			return mkvElem{}, errTruncated("Matroska: the file ends before the Segment")
		}
	}
}

// walk goes through the Segment's children by size: Info, Tracks, then
// Clusters (noting the first and the last).
func (st *mkvState) walk(s *source, seg mkvElem) error {
	segEnd := seg.end(s.size)
	for off := seg.body; off < segEnd; {
		e, err := mkvHeader(s, off)
		if err != nil {
			if st.tracks == nil {
				return err
			}
			// Past the headers, a cut element header is truncation; other
			// junk ends the walk.
			var ie *Error
			if errors.As(err, &ie) && ie.Kind == KindTruncated {
				st.truncated = true
			}
			return nil
		}
		if e.size == mkvUnknown && e.id != mkvCluster {
			return errCorrupt("Matroska: unknown-size element 0x%X inside the Segment", e.id)
		}
		switch e.id {
		case mkvInfo, mkvTracks:
			if err := st.header(s, e, segEnd); err != nil {
				return err
			}
		case mkvCluster:
			stop, err := st.cluster(e, off)
			if err != nil {
				return err
			}
			if stop {
				return nil
			}
		}
		next := e.body + e.size
		if next > segEnd {
			if seg.size == mkvUnknown || next > s.size {
				st.truncated = true
			}
			return nil
		}
		off = next
	}
	return nil
}

// header reads the Info or Tracks element e.
func (st *mkvState) header(s *source, e mkvElem, segEnd int64) error {
	if e.size > segEnd-e.body {
		return errTruncated("Matroska: the file ends inside the %s element", map[int64]string{mkvInfo: "Info", mkvTracks: "Tracks"}[e.id])
	}
	b, err := s.bytes(e.body, e.size)
	if err != nil {
		return err
	}
	if e.id == mkvInfo {
		st.parseInfo(b)
	} else {
		st.tracks = parseMkvTracks(b)
	}
	return nil
}

// cluster notes the Cluster e at off; stop ends the walk: once the Tracks
// and the Duration are known, or at an unknown-size Cluster (which cannot
// be skipped: the last one is then found from the end of the file).
func (st *mkvState) cluster(e mkvElem, off int64) (stop bool, err error) {
	if st.firstCluster < 0 {
		st.firstCluster = off
	}
	if st.tracks == nil {
		// Writers put Tracks before the first Cluster (ffmpeg, libwebm,
		// browsers), but the spec allows it later: skip known-size
		// Clusters until it comes. An unknown-size one cannot be skipped.
		if e.size == mkvUnknown {
			return false, errCorrupt("Matroska: an unknown-size Cluster before the Tracks element")
		}
		st.firstCluster = -1 // the Tracks come later: sample from a Cluster after them
		st.lastCluster = off
		return false, nil
	}
	if st.hasDur && !st.truncated {
		return true, nil // all we need is known
	}
	st.lastCluster = off
	if e.size == mkvUnknown {
		st.needTail = true
		return true, nil
	}
	return false, nil
}

// audioTrack picks the first audio track and fills the stream facts.
func (st *mkvState) audioTrack(info *Info) error {
	for _, t := range st.tracks {
		switch t.typ {
		case mkvTrackTypeVid:
			info.HasVideo = true
		case mkvTrackTypeAud:
			info.Streams++
			if st.audio == nil {
				st.audio = t
			}
		}
	}
	if st.audio == nil { // as for MP4: no audio track is not audio
		if info.HasVideo {
			return &Error{Kind: KindNotAudio, Err: errors.New("a Matroska/WebM video with no audio track")}
		}
		return &Error{Kind: KindNotAudio, Err: errors.New("a Matroska/WebM file with no audio track")}
	}
	a := st.audio
	info.Codec = mkvCodec(a)
	info.Channels = int(min(a.channels, 1024))
	if a.channels == 0 {
		info.Channels = 1 // RFC 9559 §5.1.4.1.28.32: Channels default 1
	}
	rate := a.rate
	if rate == 0 {
		rate = 8000 // RFC 9559: SamplingFrequency default 8000
	}
	if a.outRate > 0 {
		rate = a.outRate
	}
	if a.codecID == "A_OPUS" {
		// Opus decodes at 48 kHz whatever the track says (ffmpeg writes
		// the encoder's input rate); ffprobe reports 48000 too.
		rate = 48000
	}
	rate, info.Channels = mkvRefine(a, rate, info.Channels)
	if rate > 0 && rate < 1e7 {
		info.SampleRate = int(math.Round(rate))
	}
	return nil
}

// mkvRefine refines rate and channels from the codec's own header in
// CodecPrivate: an AAC AudioSpecificConfig signalling SBR/PS (the decoder
// outputs the SBR rate and stereo, as ffprobe reports) when the track gives
// no OutputSamplingFrequency, or FLAC's STREAMINFO ("fLaC", a block header,
// STREAMINFO) when the track gives no rate.
func mkvRefine(t *mkvTrack, rate float64, channels int) (float64, int) {
	switch {
	case strings.HasPrefix(t.codecID, "A_AAC"):
		c, err := codec.ParseAudioSpecificConfig(t.private)
		if err != nil || t.outRate > 0 {
			return rate, channels
		}
		if c.SBR {
			rate = float64(c.SampleRate)
		}
		if c.PS && channels == 1 {
			channels = 2
		}
	case t.codecID == "A_FLAC" && t.rate == 0 && len(t.private) >= 8 && string(t.private[:4]) == "fLaC":
		if si, err := codec.ParseStreamInfo(t.private[8:]); err == nil {
			rate, channels = float64(si.SampleRate), si.Channels
		}
	}
	return rate, channels
}

func (st *mkvState) parseInfo(b []byte) {
	var dur float64
	mkvChildren(b, func(id int64, d []byte) {
		switch id {
		case mkvTimestampScale:
			if v := mkvUint(d); v > 0 {
				st.scale = v
			}
		case mkvDuration:
			dur = mkvFloat(d)
		}
	})
	if dur > 0 && !math.IsInf(dur, 0) {
		st.duration = dur * float64(st.scale) / 1e9
		st.hasDur = true
	}
}

// mkvFindLastCluster looks for the last Cluster in the tail of the file,
// window by window backwards (bounded), for files whose Clusters have
// unknown sizes and so cannot be skipped over. A candidate counts only when
// its first child is a Timestamp element. first is the offset of a known
// Cluster; the search never goes before it.
func mkvFindLastCluster(s *source, first int64) (int64, bool) {
	hi := s.size
	for w := 0; w < mkvTailWindows && hi > first; w++ {
		lo := max(first, hi-mkvTailWindow)
		end := min(s.size, hi+16) // overlap so an ID across windows is seen
		b, err := s.bytes(lo, end-lo)
		if err != nil {
			return 0, false
		}
		for i := len(b) - 4; i >= 0; i-- {
			if b[i] != 0x1F || b[i+1] != 0x43 || b[i+2] != 0xB6 || b[i+3] != 0x75 {
				continue
			}
			_, sl := mkvVint(b[i+4:], false)
			if sl == 0 || i+4+sl >= len(b) || b[i+4+sl] != mkvTimestamp {
				continue
			}
			return lo + int64(i), true
		}
		hi = lo
	}
	return 0, false
}

// mkvBlk is one block of a Cluster: its bytes (at least the track
// number, timecode, flags and the first bytes of the frame), its
// BlockDuration (NaN when none) and DiscardPadding (ns).
type mkvBlk struct {
	b       []byte
	dur     float64
	discard float64
	track   uint64
	rel     int16 // timestamp relative to the cluster, in ticks
	flags   byte
	data    []byte // the frame data (or lace header) that follows
}

// mkvBlocks walks the blocks of the Cluster at off, calling fn for each
// (fn returns false to stop), and returns the cluster's timestamp (ticks)
// and whether the cluster is cut short by the end of the file.
func mkvBlocks(s *source, off int64, fn func(blk mkvBlk) bool) (tc uint64, cut bool) {
	c, err := mkvHeader(s, off)
	if err != nil || c.id != mkvCluster {
		return 0, true
	}
	end := c.end(s.size)
	cut = c.size != mkvUnknown && c.size > s.size-c.body
	for off, i := c.body, 0; off < end && i < mkvMaxClusterEls; i++ {
		e, err := mkvHeader(s, off)
		if err != nil {
			return tc, true
		}
		if c.size == mkvUnknown && mkvTopLevel(e.id) || e.size == mkvUnknown {
			break
		}
		if e.size > s.size-e.body {
			return tc, true
		}
		more := true
		switch e.id {
		case mkvTimestamp:
			if b, err := s.bytes(e.body, min(e.size, 8)); err == nil {
				tc = mkvUint(b)
			}
		case mkvSimpleBlock:
			if b, err := s.bytes(e.body, min(e.size, 16)); err == nil {
				more = mkvEmit(fn, b, math.NaN(), 0)
			}
		case mkvBlockGroup:
			if b, err := s.bytes(e.body, min(e.size, maxChunk)); err == nil {
				more = mkvBlockGroupEmit(fn, b)
			}
		}
		if !more {
			break
		}
		off = e.body + e.size
	}
	return tc, cut
}

// mkvBlockGroupEmit reads a BlockGroup's Block, BlockDuration and
// DiscardPadding.
func mkvBlockGroupEmit(fn func(mkvBlk) bool, b []byte) bool {
	var blk []byte
	dur, disc := math.NaN(), 0.0
	var ticks uint64
	mkvChildren(b, func(id int64, d []byte) {
		switch id {
		case mkvBlock:
			blk = d
		case mkvBlockDuration:
			ticks, dur = mkvUint(d), 0
		case mkvDiscardPadding:
			disc = float64(mkvInt(d))
		}
	})
	if blk == nil {
		return true
	}
	if !math.IsNaN(dur) {
		dur = float64(ticks) // in ticks; the caller scales
	}
	return mkvEmit(fn, blk, dur, disc)
}

// mkvEmit splits a block's header and calls fn.
func mkvEmit(fn func(mkvBlk) bool, b []byte, dur, discard float64) bool {
	tn, n := mkvVint(b, false)
	if n == 0 || len(b) < n+3 {
		return true
	}
	return fn(mkvBlk{b: b, dur: dur, discard: discard, track: uint64(tn), rel: int16(binary.BigEndian.Uint16(b[n:])), flags: b[n+2], data: b[n+3:]})
}

// mkvClusterEnd returns the end time (seconds) of the last block of the
// audio track in the Cluster at off, and whether the cluster is cut short
// by the end of the file. The end is the last block's timestamp plus its
// duration (BlockDuration, else DefaultDuration, else the Opus TOC, else
// the gap from the block before), minus the track's CodecDelay and the
// block's DiscardPadding (RFC 9559 §5.1.4.1.19, §5.1.3.5.2.7): the encoder
// delay and end padding that a player drops.
func mkvClusterEnd(s *source, off int64, st *mkvState) (float64, bool) {
	scale := float64(st.scale)
	var (
		seen     bool
		last     float64 // last block's timestamp relative to the cluster, ns
		prev     = math.NaN()
		lastDur  = math.NaN() // ns
		lastDisc float64      // ns
	)
	tc, cut := mkvBlocks(s, off, func(blk mkvBlk) bool {
		if blk.track != st.audio.number {
			return true
		}
		rel := float64(blk.rel) * scale
		dur := blk.dur * scale
		if !seen || rel >= last {
			if seen {
				prev = last
			}
			seen, last, lastDur, lastDisc = true, rel, st.blockNs(blk, dur), blk.discard
		}
		return true
	})
	if !seen {
		return 0, cut
	}
	if math.IsNaN(lastDur) {
		lastDur = 0
		if !math.IsNaN(prev) && last > prev {
			lastDur = last - prev
		}
	}
	if lastDisc < 0 || lastDisc > lastDur {
		lastDisc = 0
	}
	ns := float64(tc)*scale + last + lastDur - lastDisc - float64(st.audio.codecDelay)
	return max(ns, 0) / 1e9, cut
}

// blockNs is a block's duration in ns: its BlockDuration, else the
// track's DefaultDuration × frames, else (Opus, unlaced) from the TOC;
// NaN when none tells.
func (st *mkvState) blockNs(blk mkvBlk, dur float64) float64 {
	laced := blk.flags&0x06 != 0
	frames := 1.0
	if laced && len(blk.data) > 0 {
		frames = float64(blk.data[0]) + 1 // lacing: number of frames − 1
	}
	if math.IsNaN(dur) && st.audio.defDur > 0 {
		dur = float64(st.audio.defDur) * frames
	}
	if math.IsNaN(dur) && st.audio.codecID == "A_OPUS" && !laced && len(blk.data) > 0 {
		if ns := opusPacketNs(blk.data); ns > 0 {
			dur = ns
		}
	}
	return dur
}

// mkvOpusPacking samples the packing of the first Opus blocks of the audio
// track in the Cluster at off (laced blocks are skipped).
func mkvOpusPacking(s *source, off int64, st *mkvState) *OpusPacking {
	o := &opusSampler{}
	if h, err := codec.ParseOpusHead(st.audio.private); err == nil {
		o.head = &h
	}
	mkvBlocks(s, off, func(blk mkvBlk) bool {
		if blk.track == st.audio.number && blk.flags&0x06 == 0 {
			o.add(blk.data, false)
		}
		return !o.full()
	})
	return o.packing()
}

// mkvInt decodes a signed big-endian integer element.
func mkvInt(b []byte) int64 {
	if len(b) == 0 || len(b) > 8 {
		return 0
	}
	v := int64(mkvUint(b))
	shift := uint(64 - 8*len(b))
	return v << shift >> shift
}

func mkvTopLevel(id int64) bool {
	switch id {
	case mkvCluster, mkvCues, mkvTags, mkvChapters, mkvAttachments, mkvSeekHead, mkvInfo, mkvTracks, mkvSegment, mkvEBML:
		return true
	}
	return false
}

// opusPacketNs is the duration of an Opus packet in ns from its TOC byte
// and frame count (RFC 6716 §3.1); 0 when it cannot be told.
func opusPacketNs(p []byte) float64 {
	n, err := codec.OpusPacketFrames(p)
	if err != nil {
		return 0
	}
	return float64(n) * float64(codec.ParseOpusTOC(p[0]).FrameDuration())
}
