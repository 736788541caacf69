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
