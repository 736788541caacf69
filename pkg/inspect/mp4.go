package inspect

// MP4 / M4A / 3GP / QuickTime: the ISO base media file format (ISO/IEC
// 14496-12), its MP4 extensions (14496-14), 3GPP TS 26.244 and Apple's
// QuickTime File Format. The parser walks boxes by size — it never reads
// mdat — with moov before or after the media data, and fragmented files
// (empty moov + mvex, then moof/traf/trun fragments, as browsers'
// MediaRecorder writes them).
//
// What it reports for the first audio track:
//   - codec from the sample entry: mp4a → esds objectTypeIndication
//     (0x40/0x66-0x68 aac, 0x69/0x6B mp3, …), samr amr_nb, sawb amr_wb,
//     alac, Opus, fLaC, and a few PCM/AC-3 types;
//   - channels and sample rate for AAC from the AudioSpecificConfig, not
//     the sample entry: ffmpeg writes channelcount=2 there for mono AAC.
//     For explicitly signalled HE-AAC (SBR/PS) the decoder's output rate
//     and channels are reported, as ffprobe does;
//   - duration from the audio tkhd (edited, in the movie timescale), else
//     mdhd, else — for fragmented files — the sum of the track's trun
//     sample durations over all moofs (tfhd/trex default durations when a
//     trun carries none), else mehd/mvhd;
//   - bitrate from the esds avgBitrate when it is non-zero;
//   - Truncated when mdat (or a moof) is declared longer than the file.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"

	"github.com/prep-audio/prep/pkg/inspect/codec"
	"github.com/prep-audio/prep/pkg/rules"
)

const (
	mp4MaxDepth   = 10       // nesting depth of boxes walked
	mp4MaxLeaf    = 64 << 10 // bytes read of a leaf box prep needs (stsd, tkhd, …)
	mp4MaxTracks  = 64
	mp4AllOnes32  = math.MaxUint32
	mp4AllOnes64  = math.MaxUint64
	mp4SampleBase = 28 // AudioSampleEntry fields after the 8-byte box header
	// mp4MaxBoxSize is larger than any real file (1 PiB) and small enough
	// that offsets computed from it never overflow.
	mp4MaxBoxSize = 1 << 50
)

// matchMP4 accepts a first box whose type is one ISO BMFF files start with.
func matchMP4(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	size := binary.BigEndian.Uint32(b)
	if size != 0 && size != 1 && size < 8 {
		return false
	}
	switch string(b[4:8]) {
	case "ftyp":
		return size >= 8
	case "moov", "mdat", "free", "skip", "wide", "pnot":
		return true
	}
	return false
}

type mp4Track struct {
	id         uint32
	handler    string // hdlr handler_type: soun, vide, …
	timescale  uint32
	mdhdDur    uint64
	tkhdDur    uint64
	entry      string // sample entry four-cc
	codec      string
	channels   int
	rate       int
	bitrate    int64
	samples    uint32 // stsz sample_count (cover-art detection)
	defaultDur uint32 // trex default_sample_duration
	fragDur    uint64 // sum of trun sample durations
	opusHead   *codec.OpusHead
	first      mp4FirstSamples // where the first samples are (for the Opus packing)
}

// mp4FirstSamples locates a track's first samples: the first chunk
// (stco/co64, stsc, stsz) or the first fragment's run (moof, tfhd, trun).
type mp4FirstSamples struct {
	off   int64    // file offset of the first sample (0: unknown)
	count int      // samples contiguous from off (0: unknown, at most opusSamplePackets)
	fixed uint32   // every sample has this size (stsz sample_size, tfhd/trex default)
	sizes []uint32 // else the first sizes
	frag  bool     // taken from a fragment
}

type mp4Parser struct {
	s          *source
	mem        []byte // the box being parsed, when it fits in memory
	memOff     int64
	tracks     []*mp4Track
	cur        *mp4Track
	movieScale uint32
	movieDur   uint64
	mehdDur    uint64
	brand      string
	moov       bool
	moofs      int
	truncated  bool
	trex       map[uint32]uint32
	// fragment state (moof/traf)
	trafTrack  *mp4Track
	trafDefDur uint32
	trafHasDef bool
	trafBase   int64  // base data offset of the traf (the moof's start by default)
	trafSize   uint32 // tfhd default_sample_size (0: none)
	moofOff    int64
}

// get returns n bytes at off, from the in-memory box when it covers them.
func (p *mp4Parser) get(off, n int64) ([]byte, error) {
	if p.mem != nil && off >= p.memOff && off+n <= p.memOff+int64(len(p.mem)) {
		if err := p.s.tick(); err != nil {
			return nil, err
		}
		i := off - p.memOff
		return p.mem[i : i+n], nil
	}
	return p.s.bytes(off, n)
}

// mp4Box is one box header.
type mp4Box struct {
	typ      string
	off      int64  // where the header starts
	hdr      int64  // header length (8, or 16 with a 64-bit size)
	size     int64  // whole box, header included (clipped to the space it is in)
	declared uint64 // the size the header declares
}

func (b mp4Box) body() int64 { return b.off + b.hdr }
func (b mp4Box) end() int64  { return b.off + b.size }

// header reads the box header at off inside [off, end). over reports a box
// that claims to run past end (its size is then clipped to end).
func (p *mp4Parser) header(off, end int64) (box mp4Box, over bool, err error) {
	if end-off < 8 {
		return box, false, errCorrupt("a %d-byte fragment of a box at offset %d", end-off, off)
	}
	h, err := p.get(off, 8)
	if err != nil {
		return box, false, err
	}
	box = mp4Box{typ: string(h[4:8]), off: off, hdr: 8}
	size := uint64(binary.BigEndian.Uint32(h))
	switch size {
	case 0: // to the end of the enclosing space (ISO/IEC 14496-12 §4.2)
		size = uint64(end - off)
	case 1: // 64-bit largesize follows the type
		if end-off < 16 {
			return box, false, errCorrupt("box %q at offset %d: no room for its 64-bit size", box.typ, off)
		}
		l, err := p.get(off+8, 8)
		if err != nil {
			return box, false, err
		}
		box.hdr = 16
		size = binary.BigEndian.Uint64(l)
	}
	box.declared = size
	if size < uint64(box.hdr) {
		return box, false, errCorrupt("box %q at offset %d has an impossible size %d", box.typ, off, size)
	}
	if size > uint64(end-off) {
		box.size = end - off
		return box, true, nil
	}
	box.size = int64(size)
	return box, false, nil
}

// leaf returns a leaf box's body, at most mp4MaxLeaf bytes of it.
func (p *mp4Parser) leaf(b mp4Box) ([]byte, error) {
	return p.get(b.body(), min(b.size-b.hdr, mp4MaxLeaf))
}

func parseMP4(s *source, start int64) (*Info, error) {
	p := &mp4Parser{s: s}
	off := start
	var snap []uint64 // each track's fragment duration before the last moof
	lastMoof := false
	for off < s.size {
		if s.size-off < 8 { // a few trailing bytes: not a box
			p.truncated = true
			break
		}
		box, over, err := p.header(off, s.size)
		if err != nil {
			return nil, err
		}
		switch box.typ {
		case "ftyp":
			if over {
				return nil, errTruncated("the file ends inside its ftyp box")
			}
			body, err := p.get(box.body(), min(box.size-box.hdr, 64))
			if err != nil {
				return nil, err
			}
			if len(body) >= 4 && p.brand == "" {
				p.brand = strings.TrimRight(strings.TrimRight(string(body[:4]), "\x00"), " ")
			}
		case "moov":
			if over {
				return nil, mp4CutMoov(box, s.size)
			}
			if p.moov {
				break // a second moov: ignore, as players do
			}
			p.moov = true
			if err := p.inMemory(box, func() error { return p.children(box, 1) }); err != nil {
				return nil, err
			}
		case "moof":
			if over {
				p.truncated = true
				break
			}
			p.moofs++
			p.moofOff = box.off
			snap = snap[:0]
			for _, t := range p.tracks {
				snap = append(snap, t.fragDur)
			}
			if err := p.inMemory(box, func() error { return p.children(box, 1) }); err != nil {
				return nil, err
			}
			lastMoof = true
			off = box.end()
			continue
		default: // mdat, free, skip, sidx, mfra, …: skipped by size
			if over {
				p.truncated = true
				if box.typ == "mdat" && lastMoof {
					// The fragment's media stops early: count its samples
					// in proportion to the bytes present (an estimate; the
					// moof before it describes the whole fragment).
					p.scaleLastFragment(snap, box.size-box.hdr, int64(min(box.declared, math.MaxInt64/2))-box.hdr)
				}
			}
		}
		lastMoof = false
		if over {
			break
		}
		off = box.end()
	}
	return p.info()
}

// scaleLastFragment keeps, of what the last moof added to each track,
// the share of its mdat that is present.
func (p *mp4Parser) scaleLastFragment(snap []uint64, present, declared int64) {
	if declared <= 0 || present < 0 || len(snap) != len(p.tracks) {
		return
	}
	for i, t := range p.tracks {
		if t.fragDur > snap[i] {
			added := float64(t.fragDur - snap[i])
			t.fragDur = snap[i] + uint64(added*float64(present)/float64(declared))
		}
	}
}

// mp4CutMoov is the error for a moov box that runs past the end of the
// file: truncated when it declares a size a real file could have, corrupt
// when the size is impossible (a 64-bit largesize near 2^64).
func mp4CutMoov(box mp4Box, fileSize int64) error {
	if box.declared > mp4MaxBoxSize {
		return errCorrupt("the moov box at offset %d declares an impossible size of %d bytes", box.off, box.declared)
	}
	missing := box.declared - uint64(box.size)
	return errTruncated("the file ends inside its moov box (%d of its %d bytes missing)", missing, box.declared)
}

// inMemory runs fn with box held in memory when it is small enough;
// larger boxes are walked through the source.
func (p *mp4Parser) inMemory(box mp4Box, fn func() error) error {
	if box.size <= maxChunk {
		b, err := p.s.bytes(box.off, box.size)
		if err != nil {
			return err
		}
		p.mem, p.memOff = b, box.off
		defer func() { p.mem = nil }()
	}
	return fn()
}

// children walks the boxes inside parent, descending into the containers
// prep needs and reading the leaves it uses.
func (p *mp4Parser) children(parent mp4Box, depth int) error {
	if depth > mp4MaxDepth {
		return errCorrupt("boxes nested more than %d deep", mp4MaxDepth)
	}
	end := parent.end()
	for off := parent.body(); off < end; {
		if end-off < 8 {
			break // padding at the end of a container
		}
		box, over, err := p.header(off, end)
		if err != nil {
			return err
		}
		if over {
			return errCorrupt("box %q at offset %d runs past its parent %q", box.typ, off, parent.typ)
		}
		if err := p.box(box, depth); err != nil {
			return err
		}
		off = box.end()
	}
	return nil
}

func (p *mp4Parser) box(b mp4Box, depth int) error {
	switch b.typ {
	case "moov", "moof", "ftyp":
		// Top-level boxes only (ISO/IEC 14496-12 §8.2.1, §8.8.4): nested,
		// they are not a track index but an attack (thousands deep).
		return errCorrupt("a %q box nested inside another box at offset %d", b.typ, b.off)
	case "mdia", "minf", "stbl", "mvex", "edts":
		return p.children(b, depth+1)
	case "trak":
		if len(p.tracks) >= mp4MaxTracks {
			return errCorrupt("more than %d tracks", mp4MaxTracks)
		}
		p.cur = &mp4Track{}
		p.tracks = append(p.tracks, p.cur)
		err := p.children(b, depth+1)
		p.cur = nil
		return err
	case "traf":
		p.trafTrack, p.trafHasDef = nil, false
		return p.children(b, depth+1)
	}
	body, err := p.leaf(b)
	if err != nil {
		return err
	}
	if err := mp4TableFits(b, body); err != nil {
		return err
	}
	switch b.typ {
	case "mvhd":
		p.movieScale, p.movieDur = mp4TimeHeader(body)
	case "mehd":
		if len(body) >= 8 {
			if body[0] == 1 && len(body) >= 12 {
				p.mehdDur = binary.BigEndian.Uint64(body[4:])
			} else {
				p.mehdDur = uint64(binary.BigEndian.Uint32(body[4:]))
			}
		}
	case "trex":
		if len(body) >= 16 {
			if p.trex == nil {
				p.trex = map[uint32]uint32{}
			}
			if len(p.trex) < mp4MaxTracks {
				p.trex[binary.BigEndian.Uint32(body[4:])] = binary.BigEndian.Uint32(body[12:])
			}
		}
	case "tfhd":
		p.tfhd(body)
	case "trun":
		return p.trun(b, body)
	}
	t := p.cur
	if t == nil {
		return nil
	}
	switch b.typ {
	case "tkhd": // v0: ctime(4) mtime(4) id(4) reserved(4) duration(4); v1: 8,8,4,4,8
		if len(body) >= 24 && body[0] == 0 {
			t.id = binary.BigEndian.Uint32(body[12:])
			t.tkhdDur = uint64(binary.BigEndian.Uint32(body[20:]))
			if t.tkhdDur == mp4AllOnes32 {
				t.tkhdDur = 0
			}
		} else if len(body) >= 36 && body[0] == 1 {
			t.id = binary.BigEndian.Uint32(body[20:])
			t.tkhdDur = binary.BigEndian.Uint64(body[28:])
			if t.tkhdDur == mp4AllOnes64 {
				t.tkhdDur = 0
			}
		}
	case "mdhd":
		t.timescale, t.mdhdDur = mp4TimeHeader(body)
	case "hdlr": // version/flags(4) pre_defined(4) handler_type(4)
		// QuickTime also puts a data-handler hdlr ("dhlr"/"alis") in minf.
		if len(body) >= 12 && string(body[4:8]) != "dhlr" {
			t.handler = string(body[8:12])
		}
	case "stsd":
		p.stsd(t, body)
	case "stsz": // version/flags(4) sample_size(4) sample_count(4)
		if len(body) >= 12 {
			t.samples = binary.BigEndian.Uint32(body[8:])
		}
	}
	mp4SampleTable(t, b.typ, body)
	return nil
}

// mp4TableEntry is the size of one entry of the sample tables that are a
// full-box header, an entry count and fixed-size entries (ISO/IEC 14496-12
// §8.6.1.2 stts, §8.6.1.3 ctts, §8.7.4 stsc, §8.7.5 stco/co64, §8.6.2 stss).
var mp4TableEntry = map[string]uint64{"stts": 8, "ctts": 8, "stsc": 12, "stco": 4, "co64": 8, "stss": 4}

// mp4TableFits checks that a sample table's entries fit the box that holds
// them: count × entry size ≤ payload (stsz: only when sample_size is 0,
// i.e. a size per sample follows). A count larger than the box is corrupt,
// whatever a reader does with it.
func mp4TableFits(b mp4Box, body []byte) error {
	payload := uint64(b.size - b.hdr)
	var count, entry, head uint64
	switch b.typ {
	case "stsz": // version/flags(4) sample_size(4) sample_count(4) [entry_size(4)…]
		if len(body) < 12 || binary.BigEndian.Uint32(body[4:]) != 0 {
			return nil
		}
		count, entry, head = uint64(binary.BigEndian.Uint32(body[8:])), 4, 12
	default:
		e, ok := mp4TableEntry[b.typ]
		if !ok || len(body) < 8 {
			return nil
		}
		count, entry, head = uint64(binary.BigEndian.Uint32(body[4:])), e, 8
	}
	if count*entry > payload-min(head, payload) {
		return errCorrupt("%q at offset %d: %d entries of %d bytes do not fit its %d-byte payload", b.typ, b.off, count, entry, payload)
	}
	return nil
}

// mp4TimeHeader reads timescale and duration from an mvhd/mdhd body:
// version 0 has 32-bit times (timescale at 12, duration at 16), version 1
// 64-bit ones (timescale at 20, duration at 24). An all-ones duration means
// unknown (ISO/IEC 14496-12 §8.2.2.3).
func mp4TimeHeader(b []byte) (scale uint32, dur uint64) {
	if len(b) >= 20 && b[0] == 0 {
		scale = binary.BigEndian.Uint32(b[12:])
		dur = uint64(binary.BigEndian.Uint32(b[16:]))
		if dur == mp4AllOnes32 {
			dur = 0
		}
	} else if len(b) >= 32 && b[0] == 1 {
		scale = binary.BigEndian.Uint32(b[20:])
		dur = binary.BigEndian.Uint64(b[24:])
		if dur == mp4AllOnes64 {
			dur = 0
		}
	}
	return scale, dur
}

// tfhd: version/flags(4) track_ID(4) then optional fields by flag
// (ISO/IEC 14496-12 §8.8.7): 0x01 base_data_offset(8),
// 0x02 sample_description_index(4), 0x08 default_sample_duration(4).
func (p *mp4Parser) tfhd(b []byte) {
	p.trafTrack, p.trafHasDef = nil, false
	if len(b) < 8 {
		return
	}
	flags := binary.BigEndian.Uint32(b) & 0xFFFFFF
	id := binary.BigEndian.Uint32(b[4:])
	for _, t := range p.tracks {
		if t.id == id {
			p.trafTrack = t
			break
		}
	}
	o := 8
	if flags&0x01 != 0 {
		o += 8
	}
	if flags&0x02 != 0 {
		o += 4
	}
	p.trafBase, p.trafSize = p.moofOff, 0
	if flags&0x01 != 0 && len(b) >= 16 {
		p.trafBase = int64(min(binary.BigEndian.Uint64(b[8:]), mp4MaxBoxSize))
	}
	if flags&0x08 != 0 && len(b) >= o+4 {
		p.trafDefDur, p.trafHasDef = binary.BigEndian.Uint32(b[o:]), true
	}
	if flags&0x08 != 0 {
		o += 4
	}
	if flags&0x10 != 0 && len(b) >= o+4 {
		p.trafSize = binary.BigEndian.Uint32(b[o:])
	}
}

// trun: version/flags(4) sample_count(4) [data_offset(4)] [first_sample_flags(4)]
// then per sample: [duration][size][flags][composition offset], 4 bytes each
// when flags 0x100/0x200/0x400/0x800 say so (ISO/IEC 14496-12 §8.8.8).
func (p *mp4Parser) trun(box mp4Box, b []byte) error {
	t := p.trafTrack
	if t == nil || len(b) < 8 {
		return nil
	}
	flags := binary.BigEndian.Uint32(b) & 0xFFFFFF
	count := uint64(binary.BigEndian.Uint32(b[4:]))
	o := 8
	if flags&0x01 != 0 {
		o += 4
	}
	if flags&0x04 != 0 {
		o += 4
	}
	row := 0
	for _, f := range []uint32{0x100, 0x200, 0x400, 0x800} {
		if flags&f != 0 {
			row += 4
		}
	}
	// The per-sample rows must fit the box; with no per-sample field, each
	// sample still takes at least a byte of the file.
	if payload := uint64(box.size - box.hdr); count*uint64(row) > payload-min(uint64(o), payload) || count > uint64(p.s.size) {
		return errCorrupt("a trun at offset %d of %d samples in a %d-byte box", box.off, count, payload)
	}
	p.firstRun(t, flags, count, row, b)
	if flags&0x100 == 0 {
		def, ok := p.trafDefDur, p.trafHasDef
		if !ok {
			def, ok = p.trex[t.id]
		}
		if ok {
			t.fragDur = addSat(t.fragDur, mulSat(count, uint64(def)))
		}
		return nil
	}
	need := uint64(o) + count*uint64(row)
	if int64(len(b)) < box.size-box.hdr && need > uint64(len(b)) {
		// A trun larger than the leaf cap: read its sample table whole.
		nb, err := p.get(box.body(), box.size-box.hdr)
		if err != nil {
			return err
		}
		b = nb
	}
	if need > uint64(len(b)) {
		return errCorrupt("a trun of %d samples in %d bytes", count, len(b))
	}
	for i := uint64(0); i < count; i++ {
		t.fragDur = addSat(t.fragDur, uint64(binary.BigEndian.Uint32(b[o:])))
		o += row
	}
	return nil
}

// firstRun notes where the track's first fragment's samples are: the
// traf's base + the trun's data_offset, sizes from the trun rows (0x200)
// or the tfhd/trex default.
func (p *mp4Parser) firstRun(t *mp4Track, flags uint32, count uint64, row int, b []byte) {
	if t.first.off != 0 || t.first.frag || flags&0x01 == 0 || len(b) < 12 {
		return
	}
	t.first.frag = true
	t.first.off = p.trafBase + int64(int32(binary.BigEndian.Uint32(b[8:])))
	t.first.count = int(min(count, opusSamplePackets))
	if flags&0x200 == 0 {
		t.first.fixed = p.trafSize
		return
	}
	o := 12
	if flags&0x04 != 0 {
		o += 4
	}
	if flags&0x100 != 0 {
		o += 4 // the size follows the duration in each row
	}
	for i := 0; i < t.first.count && o+4 <= len(b); i++ {
		t.first.sizes = append(t.first.sizes, binary.BigEndian.Uint32(b[o:]))
		o += row
	}
}

// mp4SampleTable notes the first chunk's offset (stco/co64), its sample
// count (stsc's first entry) and the first sample sizes (stsz).
func mp4SampleTable(t *mp4Track, typ string, body []byte) {
	f := &t.first
	if f.frag {
		return
	}
	switch typ {
	case "stco":
		if len(body) >= 12 && binary.BigEndian.Uint32(body[4:]) > 0 {
			f.off = int64(binary.BigEndian.Uint32(body[8:]))
		}
	case "co64":
		if len(body) >= 16 && binary.BigEndian.Uint32(body[4:]) > 0 {
			f.off = int64(min(binary.BigEndian.Uint64(body[8:]), mp4MaxBoxSize))
		}
	case "stsc": // entries: first_chunk(4) samples_per_chunk(4) sample_description_index(4)
		if len(body) >= 20 && binary.BigEndian.Uint32(body[4:]) > 0 {
			f.count = int(min(binary.BigEndian.Uint32(body[12:]), opusSamplePackets))
		}
	case "stsz": // sample_size(4) sample_count(4) [entry_size(4)…]
		if len(body) < 12 {
			return
		}
		f.fixed = binary.BigEndian.Uint32(body[4:])
		for o := 12; f.fixed == 0 && o+4 <= len(body) && len(f.sizes) < opusSamplePackets; o += 4 {
			f.sizes = append(f.sizes, binary.BigEndian.Uint32(body[o:]))
		}
	}
}

// opusPacking samples the first Opus packets of the track.
func (p *mp4Parser) opusPacking(t *mp4Track) *OpusPacking {
	f := t.first
	if f.off <= 0 || f.count == 0 {
		return nil
	}
	o := &opusSampler{head: t.opusHead}
	off := f.off
	for i := 0; i < f.count && !o.full(); i++ {
		size := int64(f.fixed)
		if size == 0 {
			if i >= len(f.sizes) {
				break
			}
			size = int64(f.sizes[i])
		}
		if size <= 0 || off >= p.s.size {
			break
		}
		b, err := p.s.upTo(off, min(size, 2))
		if err != nil {
			break
		}
		o.add(b, false)
		off += size
	}
	return o.packing()
}

// addSat and mulSat saturate instead of wrapping: hostile sample counts and
// durations must not wrap a sum around to a small, plausible duration.
func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}

func mulSat(a, b uint64) uint64 {
	if hi, lo := bits.Mul64(a, b); hi == 0 {
		return lo
	}
	return math.MaxUint64
}

// stsd: version/flags(4) entry_count(4), then sample entries; the first
// one describes the track.
func (p *mp4Parser) stsd(t *mp4Track, b []byte) {
	if len(b) < 16 {
		return
	}
	e := b[8:]
	size := int(binary.BigEndian.Uint32(e))
	if size < 16 || size > len(e) {
		size = len(e)
	}
	e = e[:size]
	t.entry = string(e[4:8])
	if t.handler == "soun" {
		mp4AudioEntry(t, e)
	}
}

// mp4AudioEntry reads an AudioSampleEntry (ISO/IEC 14496-12 §12.2.3;
// QuickTime sound sample description versions 1 and 2 add 16 and 36
// bytes) and the codec box inside it.
func mp4AudioEntry(t *mp4Track, e []byte) {
	typ := t.entry
	if len(e) < 8+mp4SampleBase {
		return
	}
	a := e[8:]
	version := binary.BigEndian.Uint16(a[8:])
	t.channels = int(binary.BigEndian.Uint16(a[16:]))
	t.rate = int(binary.BigEndian.Uint32(a[24:]) >> 16)
	childOff := 8 + mp4SampleBase
	switch version {
	case 1:
		if mp4ChildrenOK(e, childOff+16) || !mp4ChildrenOK(e, childOff) {
			childOff += 16
		}
	case 2: // QuickTime v2: float64 rate and 32-bit channel count
		if len(a) >= mp4SampleBase+36 {
			t.rate = int(math.Float64frombits(binary.BigEndian.Uint64(a[mp4SampleBase+4:])))
			t.channels = int(binary.BigEndian.Uint32(a[mp4SampleBase+12:]))
			if t.rate < 0 || t.rate > 1<<24 {
				t.rate = 0
			}
		}
		childOff += 36
	}
	kids := mp4Children(e, childOff)
	if typ == "enca" { // encrypted: the original format is in sinf/frma
		if sinf, ok := kids["sinf"]; ok {
			if frma, ok := mp4Children(sinf, 0)["frma"]; ok && len(frma) >= 4 {
				typ = string(frma[:4])
				t.entry = typ
			}
		}
	}
	if wave, ok := kids["wave"]; ok { // QuickTime: codec boxes inside 'wave'
		for k, v := range mp4Children(wave, 0) {
			if _, dup := kids[k]; !dup {
				kids[k] = v
			}
		}
	}
	switch typ {
	case "mp4a":
		t.codec = rules.CodecAAC // mp4a without esds: assume AAC, as players do
		if esds, ok := kids["esds"]; ok {
			mp4ESDS(t, esds)
		}
	case "samr": // 3GPP TS 26.244 §6.5: AMR-NB, 8 kHz mono
		t.codec, t.rate, t.channels = rules.CodecAMRNB, 8000, 1
	case "sawb": // AMR-WB, 16 kHz mono
		t.codec, t.rate, t.channels = "amr_wb", 16000, 1
	case "alac":
		t.codec = "alac"
		if c, ok := kids["alac"]; ok {
			mp4ALAC(t, c)
		}
	case "Opus": // "Encapsulation of Opus in ISO BMFF" §4.3: dOps
		t.codec, t.rate = rules.CodecOpus, 48000
		if d, ok := kids["dOps"]; ok {
			if h, err := codec.ParseOpusSpecificBox(d); err == nil {
				t.channels, t.opusHead = h.Channels, &h
			}
		}
	case "fLaC": // "Encapsulation of FLAC in ISO BMFF": dfLa holds STREAMINFO
		t.codec = "flac"
		if d, ok := kids["dfLa"]; ok && len(d) >= 8 {
			if si, err := codec.ParseStreamInfo(d[8:]); err == nil { // fullbox(4) + metadata block header(4)
				t.rate, t.channels = si.SampleRate, si.Channels
			}
		}
	case ".mp3", "ms\x00\x55":
		t.codec = rules.CodecMP3
	default:
		if c, ok := mp4EntryCodecs[typ]; ok {
			t.codec = c
		}
	}
}

// mp4EntryCodecs names other sample entries in ffprobe's vocabulary.
var mp4EntryCodecs = map[string]string{
	"ac-3": "ac3", "ec-3": "eac3", "sowt": "pcm_s16le", "twos": "pcm_s16be", "ulaw": "pcm_mulaw",
	"alaw": "pcm_alaw", "in24": "pcm_s24be", "in32": "pcm_s32be", "fl32": "pcm_f32be", "fl64": "pcm_f64be",
	"raw ": "pcm_u8", "ima4": "adpcm_ima_qt", "Qclp": "qcelp", "sqcp": "qcelp", "dtsc": "dts", "mha1": "mpegh_3d_audio",
	"ac-4": "ac4",
}

// mp4ChildrenOK reports whether boxes parse cleanly from off to the end of e.
func mp4ChildrenOK(e []byte, off int) bool {
	if off > len(e) {
		return false
	}
	for n := 0; off < len(e) && n < 64; n++ {
		if len(e)-off < 8 {
			return false
		}
		size := int(binary.BigEndian.Uint32(e[off:]))
		if size < 8 || size > len(e)-off {
			return false
		}
		off += size
	}
	return true
}

// mp4Children indexes the boxes in e from off (first of each type wins);
// malformed tails are ignored. At most 64 boxes.
func mp4Children(e []byte, off int) map[string][]byte {
	m := map[string][]byte{}
	for n := 0; off >= 0 && off+8 <= len(e) && n < 64; n++ {
		size := int(binary.BigEndian.Uint32(e[off:]))
		if size == 0 {
			size = len(e) - off
		}
		if size < 8 || size > len(e)-off {
			break
		}
		typ := string(e[off+4 : off+8])
		if _, dup := m[typ]; !dup {
			m[typ] = e[off+8 : off+size]
		}
		off += size
	}
	return m
}

// mp4ESDS reads an esds body: version/flags(4) then the ES_Descriptor
// (ISO/IEC 14496-1 §7.2.6.5) holding a DecoderConfigDescriptor (tag 4:
// objectTypeIndication, streamType, bufferSizeDB, maxBitrate, avgBitrate)
// and its DecoderSpecificInfo (tag 5: the AudioSpecificConfig).
func mp4ESDS(t *mp4Track, b []byte) {
	if len(b) < 4 {
		return
	}
	b = b[4:]
	tag, body, _ := mp4Descriptor(b)
	if tag == 3 { // ES_Descriptor: ES_ID(2) flags(1) [dependsOn(2)] [URL] [OCR(2)]
		if len(body) < 3 {
			return
		}
		flags := body[2]
		o := 3
		if flags&0x80 != 0 {
			o += 2
		}
		if flags&0x40 != 0 {
			if o >= len(body) {
				return
			}
			o += 1 + int(body[o])
		}
		if flags&0x20 != 0 {
			o += 2
		}
		if o > len(body) {
			return
		}
		tag, body, _ = mp4Descriptor(body[o:])
	}
	if tag != 4 || len(body) < 13 {
		return
	}
	oti := body[0]
	if avg := binary.BigEndian.Uint32(body[9:]); avg > 0 {
		t.bitrate = int64(avg)
	}
	switch oti {
	case 0x40, 0x66, 0x67, 0x68: // MPEG-4 Audio; MPEG-2 AAC Main/LC/SSR
		t.codec = rules.CodecAAC
		if dtag, dsi, _ := mp4Descriptor(body[13:]); dtag == 5 {
			if c, err := codec.ParseAudioSpecificConfig(dsi); err == nil {
				t.rate = c.SampleRate
				if c.Channels > 0 {
					t.channels = c.Channels
				}
			}
		}
	case 0x69, 0x6B: // MPEG-2 / MPEG-1 audio (layer III in practice)
		t.codec = rules.CodecMP3
	case 0xA5:
		t.codec = "ac3"
	case 0xA6:
		t.codec = "eac3"
	case 0xA9, 0xAA, 0xAB, 0xAC:
		t.codec = "dts"
	case 0xAD:
		t.codec = rules.CodecOpus
	case 0xDD:
		t.codec = "vorbis"
	case 0xE1:
		t.codec = "qcelp"
	default:
		t.codec = ""
	}
}

// mp4Descriptor splits one MPEG-4 descriptor: tag(1), size in 1–4 bytes of
// 7 bits with a continuation bit, body.
func mp4Descriptor(b []byte) (tag byte, body, rest []byte) {
	if len(b) < 2 {
		return 0, nil, nil
	}
	tag = b[0]
	n, o := 0, 1
	for i := 0; i < 4 && o < len(b); i++ {
		c := b[o]
		o++
		n = n<<7 | int(c&0x7F)
		if c&0x80 == 0 {
			break
		}
	}
	if n > len(b)-o {
		n = len(b) - o // be lenient with writers that overstate sizes
	}
	return tag, b[o : o+n], b[o+n:]
}

// mp4ALAC reads the ALACSpecificConfig (Apple ALAC "magic cookie"):
// frameLength(4) compatibleVersion(1) bitDepth(1) pb(1) mb(1) kb(1)
// numChannels(1) maxRun(2) maxFrameBytes(4) avgBitRate(4) sampleRate(4),
// preceded by version/flags(4) in the MP4 'alac' box.
func mp4ALAC(t *mp4Track, b []byte) {
	if len(b) >= 28 {
		b = b[4:]
	}
	if len(b) < 24 {
		return
	}
	t.channels = int(b[9])
	t.rate = int(binary.BigEndian.Uint32(b[20:]))
	// avgBitRate (b[16:20]) is left alone: ffmpeg's encoder writes the
	// uncompressed rate there.
}

// info picks the audio track and assembles the result.
func (p *mp4Parser) info() (*Info, error) {
	if !p.moov {
		switch p.brand {
		case "heic", "heix", "hevc", "mif1", "msf1", "avif", "avis", "jpeg", "avci":
			return nil, &Error{Kind: KindNotAudio, Err: fmt.Errorf("an ISO BMFF image (brand %q), not audio", p.brand)}
		}
		if p.truncated {
			return nil, errTruncated("no moov box before the file ends: the recording was not finalized")
		}
		return nil, errTruncated("no moov box: the file holds no playable track index")
	}
	in := &Info{Container: rules.ContainerMP4, Brand: p.brand, Truncated: p.truncated}
	var audio *mp4Track
	for _, t := range p.tracks {
		switch {
		case t.handler == "soun":
			in.Streams++
			if audio == nil || (audio.codec == "" && t.codec != "") {
				audio = t
			}
		case t.handler == "vide" && !mp4CoverArt(t):
			in.HasVideo = true
		}
	}
	brand3gp := strings.HasPrefix(p.brand, "3g")
	if brand3gp {
		kind := "audio/"
		if in.HasVideo {
			kind = "video/"
		}
		if strings.HasPrefix(p.brand, "3g2") {
			in.MIME = kind + "3gpp2"
		} else {
			in.MIME = kind + "3gpp"
		}
	}
	if audio == nil {
		if in.HasVideo {
			return nil, &Error{Kind: KindNotAudio, Err: errors.New("an MP4 video with no audio track")}
		}
		return nil, &Error{Kind: KindNotAudio, Err: fmt.Errorf("an MP4 file with %d tracks and no audio track", len(p.tracks))}
	}
	in.Codec = audio.codec
	in.Channels = max(audio.channels, 0)
	in.SampleRate = max(audio.rate, 0)
	in.Bitrate = audio.bitrate
	in.Duration = p.duration(audio)
	if audio.codec == rules.CodecOpus {
		in.Opus = p.opusPacking(audio)
	}
	return in, nil
}

func (p *mp4Parser) duration(t *mp4Track) float64 {
	if t.fragDur > 0 && t.timescale > 0 {
		return float64(addSat(t.mdhdDur, t.fragDur)) / float64(t.timescale)
	}
	if t.tkhdDur > 0 && p.movieScale > 0 {
		return float64(t.tkhdDur) / float64(p.movieScale)
	}
	if t.mdhdDur > 0 && t.timescale > 0 {
		return float64(t.mdhdDur) / float64(t.timescale)
	}
	if p.mehdDur > 0 && p.movieScale > 0 {
		return float64(p.mehdDur) / float64(p.movieScale)
	}
	if p.movieDur > 0 && p.movieScale > 0 {
		return float64(p.movieDur) / float64(p.movieScale)
	}
	return 0
}

// mp4CoverArt reports a 'vide' track that is only a still picture (one
// JPEG/PNG sample), which some writers use for artwork instead of covr.
func mp4CoverArt(t *mp4Track) bool {
	switch t.entry {
	case "jpeg", "png ", "mjpa", "mjpg":
		return t.samples <= 1
	}
	return false
}
