package inspect

import (
	"context"
	"errors"
	"io"
)

// Bounds that keep hostile input from costing unbounded memory or time.
const (
	maxChunk   = 1 << 20 // largest single header/box/element read into memory
	maxReads   = 1 << 20 // largest number of reads one inspection may make
	ctxEvery   = 256     // check the context every this many reads
	headerSize = 64 << 10
)

var errTooManyReads = errors.New("too many structures to walk (read budget exhausted)")

// source is a bounded, context-aware view of the input. Parsers read
// through it only.
type source struct {
	ctx   context.Context
	r     io.ReaderAt
	size  int64
	reads int
	head  []byte // the first up-to-headerSize bytes, read once
}

func newSource(ctx context.Context, r io.ReaderAt, size int64) *source {
	return &source{ctx: ctx, r: r, size: size}
}

// header returns the first bytes of the input (at most headerSize).
func (s *source) header() ([]byte, error) {
	if s.head != nil {
		return s.head, nil
	}
	n := min(s.size, headerSize)
	b := make([]byte, n)
	if err := s.readAt(b, 0); err != nil {
		return nil, err
	}
	s.head = b
	return b, nil
}

// tick accounts for one step of a walk and checks the context.
func (s *source) tick() error {
	s.reads++
	if s.reads > maxReads {
		return &Error{Kind: KindCorrupt, Err: errTooManyReads}
	}
	if s.reads%ctxEvery == 0 {
		if err := s.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// readAt fills p from off. Reading past the end is io.ErrUnexpectedEOF.
func (s *source) readAt(p []byte, off int64) error {
	if err := s.tick(); err != nil {
		return err
	}
	if off < 0 || off > s.size || int64(len(p)) > s.size-off {
		return io.ErrUnexpectedEOF
	}
	if s.head != nil && off+int64(len(p)) <= int64(len(s.head)) {
		copy(p, s.head[off:])
		return nil
	}
	n, err := s.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// bytes reads n bytes at off into a new slice; n is capped at maxChunk.
func (s *source) bytes(off, n int64) ([]byte, error) {
	if n < 0 || n > maxChunk {
		return nil, errCorrupt("a structure of %d bytes at offset %d is larger than the %d-byte limit", n, off, maxChunk)
	}
	b := make([]byte, n)
	if err := s.readAt(b, off); err != nil {
		return nil, err
	}
	return b, nil
}

// upTo reads at most n bytes at off (fewer at the end of the input).
func (s *source) upTo(off, n int64) ([]byte, error) {
	if off >= s.size {
		return nil, nil
	}
	return s.bytes(off, min(n, s.size-off))
}
