// Command prep gets recorded audio onto WhatsApp: inspect, transcode,
// upload and send voice notes and audio files.
//
// cmd/prep is thin: every command parses flags and environment variables,
// calls the library packages under pkg/, and prints a human or --json form
// of the result. Exit codes are decided in one place (exit.go).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand. Each lives in its own file and registers
// itself in init.
type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

var commands = map[string]command{}

func register(name string, c command) { commands[name] = c }

// env is what a command may touch of the outside world; tests fill it.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// isTerminal reports whether stderr is a terminal (progress lines).
	isTerminal bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, isTerminal: isTerminal(os.Stderr)}
	err := run(ctx, e, os.Args[1:])
	code := exitCode(err)
	if err != nil && !isReported(err) {
		// A file name in the message may hold control characters:
		// escaped, they cannot drive the terminal (the message's own
		// line breaks are kept).
		lines := strings.Split(err.Error(), "\n")
		for i, l := range lines {
			lines[i] = escapeControls(l)
		}
		fmt.Fprintln(os.Stderr, "prep:", strings.Join(lines, "\n"))
	}
	os.Exit(code)
}

// run dispatches to a subcommand.
func run(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stdout)
		if len(args) == 0 {
			return usageErrorf("no command given")
		}
		return nil
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(e.stdout, "prep", version)
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		usage(e.stderr)
		return usageErrorf("unknown command %q", args[0])
	}
	return c.run(ctx, e, args[1:])
}

var version = "dev"

func usage(w io.Writer) {
	fmt.Fprintln(w, "prep — get recorded audio onto WhatsApp properly")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: prep COMMAND [flags] ...")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'prep COMMAND -h' for a command's flags.")
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeCharDevice != 0 && !strings.EqualFold(os.Getenv("TERM"), "dumb")
}
