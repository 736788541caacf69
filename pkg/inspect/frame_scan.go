package inspect

// frameScan serves a forward walk over frame-based streams (MP3, ADTS,
// AMR) from a reused window of the input, so a walk costs one read per
// scanWindow bytes rather than one per frame header. Inside the first
// headerSize bytes it slices the source's cached header without copying.
type frameScan struct {
	s      *source
	end    int64 // exclusive end of the region walked
	buf    []byte
	bufOff int64
	own    []byte // reusable window storage
}

const scanWindow = 64 << 10

func newFrameScan(s *source, end int64) *frameScan {
	return &frameScan{s: s, end: min(end, s.size), bufOff: -1}
}

// at returns the bytes from off onwards: at least n of them unless the
// region ends first (then fewer, possibly none). n must be ≤ scanWindow.
func (f *frameScan) at(off int64, n int) ([]byte, error) {
	if off < 0 || off >= f.end {
		return nil, nil
	}
	if f.bufOff >= 0 && off >= f.bufOff && off+int64(n) <= f.bufOff+int64(len(f.buf)) {
		return f.buf[off-f.bufOff:], nil
	}
	want := min(int64(scanWindow), f.end-off)
	if s := f.s; s.head != nil && off+want <= int64(len(s.head)) {
		if err := s.tick(); err != nil {
			return nil, err
		}
		f.buf, f.bufOff = s.head[off:off+want], off
		return f.buf, nil
	}
	if f.own == nil {
		f.own = make([]byte, scanWindow)
	}
	b := f.own[:want]
	if err := f.s.readAt(b, off); err != nil {
		return nil, err
	}
	f.buf, f.bufOff = b, off
	return b, nil
}

// syncHeader is the header of one frame of a frame-sync format (ADTS, MPEG
// audio): it knows its frame's length and whether a following header
// belongs to the same stream.
type syncHeader[H any] interface {
	frameLen() int
	sameStream(H) bool
}

// syncFormat describes a frame-sync format to the search shared by the
// ADTS and MPEG audio parsers: a sync word alone is common in random bytes,
// so a header only counts when up to two consistent headers follow it.
type syncFormat[H syncHeader[H]] struct {
	headerLen int // bytes a header needs
	maxFrame  int // the longest frame (sizes the look-ahead)
	parse     func([]byte) (H, bool)
}

// confirm reports whether a header at off in b is followed by up to two
// more consistent headers. A chain that ends exactly at the end of b
// counts when whole is set (b is the whole rest of the input).
func (f syncFormat[H]) confirm(b []byte, off int, whole bool) (H, bool) {
	h, ok := f.parse(b[off:])
	if !ok {
		return h, false
	}
	next := off + h.frameLen()
	for i := 0; i < 2; i++ {
		if next == len(b) && whole {
			return h, true
		}
		if next+f.headerLen > len(b) {
			return h, i > 0
		}
		n, ok := f.parse(b[next:])
		if !ok || !n.sameStream(h) {
			return h, false
		}
		next += n.frameLen()
	}
	return h, true
}

// match looks for a confirmed header anywhere in b, the first bytes of a
// payload (a short b is the whole input).
func (f syncFormat[H]) match(b []byte) bool {
	for i := nextFF(b, 0); i >= 0 && i+f.headerLen <= len(b); i = nextFF(b, i+1) {
		if _, ok := f.confirm(b, i, len(b) < 4096); ok {
			return true
		}
	}
	return false
}

// find returns the offset of the first confirmed header in
// [from, from+window), or -1.
func (f syncFormat[H]) find(sc *frameScan, from int64, window int) (int64, H, error) {
	var zero H
	b, err := sc.at(from, min(window+3*f.maxFrame, scanWindow))
	if err != nil {
		return -1, zero, err
	}
	whole := from+int64(len(b)) >= sc.end
	for i := nextFF(b, 0); i >= 0 && i+f.headerLen <= len(b) && i < window; i = nextFF(b, i+1) {
		if h, ok := f.confirm(b, i, whole); ok {
			return from + int64(i), h, nil
		}
	}
	return -1, zero, nil
}
