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

	"github.com/prep-audio/prep/pkg/rules"
)

// command is one subcommand; each one's run function lives in its own
// file.
type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands is the table of subcommands by name, built on each call (no
// package state a test or another command could change).
func commands() map[string]command {
	return map[string]command{
		"batch":     {summary: "send a manifest of recordings: shared work, resumable, exactly once", run: runBatch},
		"check-url": {summary: "check a hosted media URL the way Meta, 360dialog and Infobip fetch it", run: runCheckURL},
		"demo":      {summary: "the whole job offline: a batch of sample recordings through the built-in sandbox", run: runDemo},
		"inspect":   {summary: "tell what audio files really are and whether WhatsApp takes them", run: runInspect},
		"run":       {summary: "inspect, transcode, upload and send one recording (the whole pipeline)", run: runRun},
		"sandbox":   {summary: "run a local sandbox of the Meta Cloud API, 360dialog and Infobip", run: runSandbox},
		"send":      {summary: "send an audio or voice message through Meta, 360dialog or Infobip", run: runSend},
		"status":    {summary: "what became of each row of a batch: delivered, read, played or failed (journal + status store)", run: runStatus},
		"transcode": {summary: fmt.Sprintf("make recordings WhatsApp voice notes (mono Ogg Opus ≤ %d bytes) or audio files", rules.VoiceMaxBytes), run: runTranscode},
		"upload":    {summary: "upload audio to S3 or a provider's media endpoint (URL or media id)", run: runUpload},
		"webhooks":  {summary: "receive the providers' status webhooks into a store (register: set 360dialog's webhook)", run: runWebhooks},
		"worker":    {summary: "run batch rows from a NATS JetStream queue (prep batch --queue)", run: runWorker},
	}
}

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
	c, ok := commands()[args[0]]
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
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
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
