package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
)

func runInspect(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "inspect", "[--json] [--voice-max-bytes N] PATH...")
	asJSON := fs.Bool("json", false, "one JSON object per line per input")
	voiceMax := fs.Int64("voice-max-bytes", rules.VoiceMaxBytes, "voice-note budget in bytes")
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		fs.Usage()
		return usageErrorf("inspect: no files given")
	}
	if *voiceMax <= 0 {
		return usageErrorf("inspect: --voice-max-bytes must be positive, got %d", *voiceMax)
	}
	opts := []inspect.Option{inspect.WithVoiceMaxBytes(*voiceMax)}
	failed := 0
	var tw *tabwriter.Writer
	if !*asJSON {
		tw = tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tTYPE\tCODEC\tCH\tRATE\tDURATION\tBITRATE\tSIZE\tVOICE\tAUDIO\tPACKING\tPROBLEMS")
	}
	enc := json.NewEncoder(e.stdout)
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, err := inspect.File(ctx, p, opts...)
		if err != nil {
			failed++
		}
		if *asJSON {
			if err := enc.Encode(rep); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.2fs\t%s\t%d\t%s\t%s\t%s\t%s\n", quoteName(rep.Path), orDash(rep.MIME), orDash(rep.Codec),
			rep.Channels, rep.SampleRate, rep.Duration, kbps(rep.Bitrate), rep.Size, yesNo(rep.VoiceReady), yesNo(rep.AudioReady), packing(rep.Opus), problemCodes(rep))
	}
	if tw != nil {
		tw.Flush()
	}
	if failed > 0 {
		return &reportedError{failed: failed, total: len(paths)}
	}
	return nil
}

// packing is an Opus stream's packing in a table cell, e.g.
// "SILK-WB/3x20ms/16k" (WhatsApp's own), "hybrid-FB/1x20ms/48k*" (* mixed
// packets), "-" for other codecs.
func packing(p *inspect.OpusPacking) string {
	if p == nil {
		return "-"
	}
	s := fmt.Sprintf("%s-%s/%dx%gms", p.Mode, p.Bandwidth, p.FramesPerPacket, p.FrameMs)
	if p.InputSampleRate > 0 {
		s += fmt.Sprintf("/%gk", float64(p.InputSampleRate)/1000)
	}
	if !p.Uniform {
		s += "*"
	}
	return s
}

func problemCodes(r *inspect.Report) string {
	if len(r.Problems) == 0 {
		return "-"
	}
	s := ""
	for i, p := range r.Problems {
		if i > 0 {
			s += ","
		}
		s += string(p.Code)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func kbps(bps int64) string {
	if bps <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fk", float64(bps)/1000)
}
