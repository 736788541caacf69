package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gabriel-vasile/mimetype"

	"github.com/prep-audio/prep/pkg/rules"
)

// format is one container parser.
type format struct {
	container string
	// match reports whether b, the first bytes of the payload after any
	// ID3v2 tags, look like this format.
	match func(b []byte) bool
	// parse reads the whole structure. The payload starts at offset start
	// (after ID3v2 tags; 0 for most formats).
	parse func(s *source, start int64) (*Info, error)
}

// formats are the container parsers in the order they are tried: strong
// magic first (#!AMR, caff, fLaC, EBML, ftyp, OggS, RIFF), frame-sync
// formats last (ADTS, then MPEG audio, whose sync is the weakest). An array
// value: no package state a caller or a test could change.
func formats() [9]format {
	return [9]format{
		{container: rules.ContainerAMR, match: matchAMR, parse: parseAMR},
		{container: rules.ContainerCAF, match: matchCAF, parse: parseCAF},
		{container: rules.ContainerFLAC, match: matchFLAC, parse: parseFLAC},
		{container: rules.ContainerWebM, match: matchMatroska, parse: parseMatroska},
		{container: rules.ContainerMP4, match: matchMP4, parse: parseMP4},
		{container: rules.ContainerOgg, match: matchOgg, parse: parseOgg},
		{container: rules.ContainerWAV, match: matchWAV, parse: parseWAV},
		{container: rules.ContainerADTS, match: matchADTS, parse: parseADTS},
		{container: rules.ContainerMP3, match: matchMP3, parse: parseMP3},
	}
}

// detect sniffs the content and runs the matching parser. It returns the
// parser's Info, the sniffed MIME type, and a typed *Error when the bytes are
// not audio prep can read.
func detect(s *source) (*Info, string, error) {
	head, err := s.header()
	if err != nil {
		return nil, "", readErr(err)
	}
	sniffed := mimeOf(head)
	start, err := skipID3v2(s)
	if err != nil {
		return nil, sniffed, readErr(err)
	}
	payload, err := s.upTo(start, 4096)
	if err != nil {
		return nil, sniffed, readErr(err)
	}
	if start > 0 && len(payload) == 0 {
		return nil, sniffed, errTruncated("an ID3v2 tag of %d bytes and no audio after it", start)
	}
	for _, f := range formats() {
		if !f.match(payload) {
			continue
		}
		info, err := f.parse(s, start)
		if err != nil {
			return nil, sniffed, readErr(err)
		}
		if info.Container == "" {
			info.Container = f.container
		}
		return info, sniffed, nil
	}
	// No parser took it. Judge what follows any ID3 tag, not the tag.
	what := sniffed
	if start > 0 {
		what = mimeOf(payload)
	}
	if strings.HasPrefix(what, "audio/") || strings.HasPrefix(what, "video/") {
		if parsedMIME[what] {
			return nil, what, &Error{Kind: KindCorrupt, Err: fmt.Errorf("the content starts like %s but holds no valid structure of it", what)}
		}
		if strings.HasPrefix(what, "audio/") {
			return nil, what, errUnsupported("%s is not a container prep reads or WhatsApp accepts", what)
		}
	}
	return nil, what, &Error{Kind: KindNotAudio, Err: fmt.Errorf("the content is %s, not audio", what)}
}

// parsedMIME are sniffed types that one of the parsers handles; content
// sniffed as one of them that no parser accepts is corrupt, not foreign.
var parsedMIME = map[string]bool{
	"audio/mpeg": true, "audio/aac": true, "audio/mp4": true, "audio/x-m4a": true, "video/mp4": true,
	"audio/amr": true, "audio/ogg": true, "audio/opus": true, "application/ogg": true, "audio/flac": true,
	"audio/wav": true, "audio/x-wav": true, "audio/webm": true, "video/webm": true, "audio/x-caf": true,
	"video/3gpp": true, "audio/3gpp": true, "video/x-matroska": true, "audio/x-matroska": true,
}

func mimeOf(b []byte) string {
	m := mimetype.Detect(b).String()
	if i := strings.IndexByte(m, ';'); i >= 0 {
		m = m[:i]
	}
	return m
}

// readErr types a parser's error: short reads are truncation.
func readErr(err error) error {
	var ie *Error
	if errors.As(err, &ie) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &Error{Kind: KindTruncated, Err: errors.New("the file ends in the middle of its headers")}
	}
	if ctxErr(err) {
		return err
	}
	return &Error{Kind: KindUnreadable, Err: err}
}

func ctxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// skipID3v2 returns the offset just past any ID3v2 tags at the start
// (ID3v2.4 §3.1: "ID3" ver rev flags size[4 syncsafe], +10 with a footer).
// Several tags may follow one another; multi-megabyte cover art is common.
func skipID3v2(s *source) (int64, error) {
	var off int64
	for i := 0; i < 16; i++ {
		var h [10]byte
		if off+10 > s.size {
			return off, nil
		}
		if err := s.readAt(h[:], off); err != nil {
			return 0, err
		}
		n, ok := id3v2Size(h[:])
		if !ok {
			return off, nil
		}
		if off+n > s.size {
			return 0, errTruncated("an ID3v2 tag of %d bytes in a %d-byte file", n, s.size)
		}
		off += n
	}
	return off, nil
}

// id3v2Size returns the total size of the ID3v2 tag whose 10-byte header is h.
func id3v2Size(h []byte) (int64, bool) {
	if len(h) < 10 || h[0] != 'I' || h[1] != 'D' || h[2] != '3' || h[3] == 0xFF || h[4] == 0xFF {
		return 0, false
	}
	if h[6]|h[7]|h[8]|h[9] >= 0x80 {
		return 0, false
	}
	n := int64(h[6])<<21 | int64(h[7])<<14 | int64(h[8])<<7 | int64(h[9])
	n += 10
	if h[5]&0x10 != 0 { // footer present
		n += 10
	}
	return n, true
}
