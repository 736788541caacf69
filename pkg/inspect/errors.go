package inspect

import "fmt"

// Error is returned when a file cannot be inspected as audio. Find it with
// errors.As; Code says why.
type Error struct {
	Path string
	Code Code
	Err  error
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("inspect: %s: %v", e.Code, e.Err)
	}
	return fmt.Sprintf("inspect %s: %s: %v", e.Path, e.Code, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// errTruncated, errCorrupt and friends build the typed errors parsers return.
func errTruncated(format string, a ...any) error {
	return &Error{Code: CodeTruncated, Err: fmt.Errorf(format, a...)}
}

func errCorrupt(format string, a ...any) error {
	return &Error{Code: CodeCorrupt, Err: fmt.Errorf(format, a...)}
}

func errUnsupported(format string, a ...any) error {
	return &Error{Code: CodeUnsupportedContainer, Err: fmt.Errorf(format, a...)}
}
