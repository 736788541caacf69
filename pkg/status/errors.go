package status

import (
	"errors"
	"fmt"
)

// ErrorKind classifies an *Error.
type ErrorKind string

// The kinds of errors.
const (
	// ErrStore: the store could not be opened, read or written (an event
	// that could not be stored is not acknowledged).
	ErrStore ErrorKind = "store"
	// ErrParse: a webhook body is not what the provider sends.
	ErrParse ErrorKind = "parse"
	// ErrInvalid: a bad argument (an unknown status name, a bad config).
	ErrInvalid ErrorKind = "invalid"
	// ErrRegister: a provider refused or did not answer a webhook
	// registration.
	ErrRegister ErrorKind = "register"
)

// Error is every error of this package; find it with errors.As. It never
// carries a secret.
type Error struct {
	Kind ErrorKind
	// Op says what was being done ("store FILE", "meta body", …).
	Op  string
	Err error
}

func (e *Error) Error() string {
	if e.Op == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s: %v", e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrStoreLocked is wrapped by OpenStore's error when another process
// writes the store (read it with OpenReader instead).
var ErrStoreLocked = errors.New("in use by another prep receiver (locked)")

var (
	errNotAStatus = errors.New("not a status (accepted, sent, delivered, read, played, failed, unknown)")
	errClosed     = errors.New("closed")
)

func storeErr(path string, err error) error {
	return &Error{Kind: ErrStore, Op: "store " + path, Err: err}
}

func parseErr(p Provider, err error) error {
	return &Error{Kind: ErrParse, Op: string(p) + " body", Err: err}
}
