package inspect

import (
	"fmt"
)

// ErrorKind says why a file could not be inspected as audio. Its values
// are also the codes of the Problem the failed Report carries (as Code).
type ErrorKind string

// Error kinds.
const (
	KindEmpty                ErrorKind = "empty"                 // zero bytes
	KindNotAudio             ErrorKind = "not_audio"             // the bytes are not audio at all
	KindTruncated            ErrorKind = "truncated"             // the file ends before its structure says it should
	KindCorrupt              ErrorKind = "corrupt"               // the structure is inconsistent
	KindUnsupportedContainer ErrorKind = "unsupported_container" // audio in a container prep cannot read
	KindUnreadable           ErrorKind = "unreadable"            // the file could not be opened or read
	KindNotRegular           ErrorKind = "not_regular_file"      // a FIFO, device, socket or directory: never opened for reading
)

// Error is returned when a file cannot be inspected as audio. Find it with
// errors.As; Kind says why.
type Error struct {
	Path string
	Kind ErrorKind
	Err  error
}

// kindLabel is how a kind reads in a message, where the cause does not
// already say it ("" for those).
var kindLabel = map[ErrorKind]string{
	KindTruncated:            "truncated",
	KindCorrupt:              "corrupt",
	KindUnsupportedContainer: "unsupported container",
}

func (e *Error) Error() string {
	what := "inspect"
	if e.Path != "" {
		what = "inspect " + e.Path
	}
	if l := kindLabel[e.Kind]; l != "" {
		return fmt.Sprintf("%s: %s: %v", what, l, e.Err)
	}
	return fmt.Sprintf("%s: %v", what, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// errTruncated, errCorrupt and friends build the typed errors parsers return.
func errTruncated(format string, a ...any) error {
	return &Error{Kind: KindTruncated, Err: fmt.Errorf(format, a...)}
}

func errCorrupt(format string, a ...any) error {
	return &Error{Kind: KindCorrupt, Err: fmt.Errorf(format, a...)}
}

func errUnsupported(format string, a ...any) error {
	return &Error{Kind: KindUnsupportedContainer, Err: fmt.Errorf(format, a...)}
}
