package transcode

import (
	"errors"
	"fmt"
)

// ErrorKind says why a transcode failed (Error.Kind). Find it with
// errors.As on *Error.
type ErrorKind string

// Error kinds.
const (
	// KindFFmpegMissing: the ffmpeg binary is not installed or not runnable.
	KindFFmpegMissing ErrorKind = "ffmpeg_missing"
	// KindEncoderMissing: ffmpeg lacks an encoder prep needs (libopus, aac).
	KindEncoderMissing ErrorKind = "encoder_missing"
	// KindInput: the input could not be read or is not audio ffmpeg decodes.
	KindInput ErrorKind = "bad_input"
	// KindNotRegular: the input path is a FIFO, device, socket or
	// directory; it was never opened (errors.As finds the *inspect.Error).
	KindNotRegular ErrorKind = "not_regular_file"
	// KindTooLong: the recording cannot fit the budget even at the floor
	// bitrate (voice), or under rules.AudioMaxBytes (audio).
	KindTooLong ErrorKind = "too_long"
	// KindOverBudget: the output is still over the budget after the one
	// corrective re-encode.
	KindOverBudget ErrorKind = "over_budget"
	// KindFFmpeg: ffmpeg ran and failed (the message carries the end of its
	// stderr).
	KindFFmpeg ErrorKind = "ffmpeg_failed"
	// KindOptions: the options are invalid.
	KindOptions ErrorKind = "bad_options"
	// KindOutput: the output could not be written.
	KindOutput ErrorKind = "output"
	// KindCanceled: the context was canceled or timed out; errors.Is finds
	// context.Canceled / context.DeadlineExceeded through it.
	KindCanceled ErrorKind = "canceled"
)

// Error is the error every exported function of this package returns
// (cancellation aside: context errors are returned wrapped, so errors.Is
// finds context.Canceled and context.DeadlineExceeded).
type Error struct {
	Input  string // the input's path or name, "" if none
	Kind   ErrorKind
	Err    error
	Stderr string // the last bytes (≤ 8 KiB) ffmpeg wrote to stderr, if it ran
	// Attempts counts the ffmpeg runs made before the failure, as
	// Result.Attempts does for a success (0: ffmpeg never ran).
	Attempts int
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("transcode: %s", e.Err)
	if e.Input != "" {
		msg = fmt.Sprintf("transcode %s: %s", e.Input, e.Err)
	}
	if e.Stderr != "" {
		// The field keeps up to 8 KiB; the message its last lines.
		msg += ": ffmpeg: " + lastChars(e.Stderr, 600)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(kind ErrorKind, format string, a ...any) *Error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, a...)}
}

// installHint is appended to the errors about a missing ffmpeg or encoder.
const installHint = "install it with `apt-get install ffmpeg` (Debian/Ubuntu; the Debian build includes libopus and aac)"

// withInput sets the input name on a *Error (or wraps a foreign error).
func withInput(err error, input string) error {
	if err == nil {
		return nil
	}
	var te *Error
	if errors.As(err, &te) {
		if te.Input == "" {
			te.Input = input
		}
		return err
	}
	return &Error{Input: input, Kind: KindFFmpeg, Err: err}
}
