package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/status"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// Exit codes, the same for every command:
//
//	0    everything asked for was done
//	1    some input failed, a provider refused, or the outcome is in doubt
//	2    usage, input or configuration errors found before any work was done
//	     (a bad manifest, a journal that is locked, unwritable or damaged)
//	130  stopped by Ctrl-C or SIGTERM (128 + SIGINT, the shells' convention)
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitSignal  = 130
	exitUnknown = 1
)

// usageError is a mistake in the command line or its configuration, found
// before any request was made or file written.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// reportedError says the command already printed its per-input results
// (some of which failed); main prints nothing more.
type reportedError struct {
	failed int
	total  int
}

func (e *reportedError) Error() string {
	return fmt.Sprintf("%d of %d inputs failed", e.failed, e.total)
}

// exitCoder lets an error of cmd/prep (or a package not yet moved to
// typed errors) choose its exit code.
type exitCoder interface{ ExitCode() int }

// exitCode is the one place that maps errors to exit codes.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var u *usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	// Library errors by type: a mistake found before any request is a
	// usage error (nothing was done); a refused file failed.
	var (
		me *pipeline.ManifestError
		je *pipeline.JournalError
		se *status.Error
		ve *send.ValidationError
		ce *upload.ConfigError
		re *upload.RefusedError
		sc *sandbox.ConfigError
	)
	switch {
	case errors.As(err, &ve), errors.As(err, &ce):
		return exitUsage
	case errors.As(err, &sc):
		return exitUsage // a sandbox that cannot work: nothing was started
	case errors.As(err, &re):
		return exitFailed
	case errors.As(err, &se) && se.Kind != status.ErrRegister:
		// A store that cannot be opened or read, a bad argument: nothing
		// done. (A registration the provider refused is a failure, 1.)
		return exitUsage
	case errors.As(err, &me):
		return exitUsage // the manifest as a whole is unreadable: nothing done
	case errors.As(err, &je):
		// Returned only when a batch could not start (locked, unwritable
		// or damaged journal): nothing done. A journal that fails during a
		// run is in the batch's summary instead.
		return exitUsage
	}
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	var te *transcode.Error
	if errors.As(err, &te) {
		switch te.Kind {
		case transcode.KindOptions:
			return exitUsage
		case transcode.KindCanceled:
			return exitSignal
		}
		return exitFailed
	}
	if errors.Is(err, context.Canceled) {
		return exitSignal
	}
	return exitUnknown
}

// isReported reports whether the error's details were already printed.
func isReported(err error) bool {
	var r *reportedError
	return errors.As(err, &r) || errors.Is(err, flag.ErrHelp)
}

// newFlags returns a FlagSet that reports errors as usage errors and
// prints its usage to stderr.
func newFlags(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: prep %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning flag errors into usage errors. Flags may
// follow positional arguments (prep inspect a.ogg --json).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// envOr returns the flag value if set, else the environment variable:
// flags override environment variables.
func envOr(e *env, flagVal, name string) string {
	if flagVal != "" {
		return flagVal
	}
	return e.getenv(name)
}
