package transcode

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
)

// TestOutputReportIsTheOutputs: every Output carries the inspection it was
// verified with (a passthrough: the source's), naming the output file and
// saying what a fresh inspection of those bytes says, whatever the action,
// part or destination; pkg/pipeline hands it to the upload, which then does
// not read the bytes again (issue 10).
func TestOutputReportIsTheOutputs(t *testing.T) {
	needFFmpeg(t)
	ctx := context.Background()
	src := t.TempDir()
	wav := gen(t, src, "talk.wav", append(speechLike(20, 16000), "-ac", "1")...)
	td := func(name string) string { return filepath.Join("..", "..", "testdata", name) }
	for _, c := range []struct {
		name   string
		opts   Options
		in     string
		action Action
		parts  int
		writer bool
	}{
		{"transcode", Options{}, td("mp3-cbr-64k-mono-44100-noxing.mp3"), ActionTranscode, 1, false},
		{"passthrough", Options{}, td("ogg-opus-mono-48k-2s.ogg"), ActionPassthrough, 1, false},
		{"passthrough to a writer", Options{}, td("ogg-opus-mono-48k-2s.ogg"), ActionPassthrough, 1, true},
		{"transcode to a writer", Options{}, td("mp3-cbr-64k-mono-44100-noxing.mp3"), ActionTranscode, 1, true},
		{"audio profile", Options{Profile: ProfileAudio}, wav, ActionTranscode, 1, false},
		{"split", Options{MaxBytes: 8_000, Split: true}, wav, ActionTranscode, 2, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var res *Result
			var err error
			var buf bytes.Buffer
			if c.writer {
				res, err = mustNew(t, c.opts).ToWriter(ctx, FileInput(c.in), &buf)
			} else {
				res, err = mustNew(t, c.opts).ToDir(ctx, FileInput(c.in), t.TempDir())
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != c.action || len(res.Outputs) < c.parts {
				t.Fatalf("action %s, %d outputs; want %s, %d", res.Action, len(res.Outputs), c.action, c.parts)
			}
			budget := c.opts.MaxBytes
			if budget == 0 {
				budget = rules.VoiceMaxBytes
			}
			for i, o := range res.Outputs {
				if o.Report == nil {
					t.Fatalf("output %d has no report", i+1)
				}
				var fresh *inspect.Report
				if c.writer {
					fresh, err = inspect.Reader(ctx, bytes.NewReader(buf.Bytes()), int64(buf.Len()), "")
				} else {
					fresh, err = inspect.File(ctx, o.Path, inspect.WithVoiceMaxBytes(budget))
				}
				if err != nil {
					t.Fatal(err)
				}
				got := o.Report
				if got.Path != o.Path || got.Size != fresh.Size || got.Size != o.Bytes || got.Container != fresh.Container ||
					got.Codec != fresh.Codec || got.Channels != fresh.Channels || got.Duration != fresh.Duration ||
					got.VoiceReady != fresh.VoiceReady || got.AudioReady != fresh.AudioReady {
					t.Errorf("output %d (%s): report %+v, the bytes say %+v", i+1, o.Path, *got, *fresh)
				}
			}
		})
	}
}

// TestVoiceFromTheCallersReport: an Input.Report of the file is planned
// from instead of inspecting the file again (a duration nudged in it shows
// in the plan), is not modified, and is ignored when its size is not the
// file's (then the file is inspected).
func TestVoiceFromTheCallersReport(t *testing.T) {
	needFFmpeg(t)
	ctx := context.Background()
	src := filepath.Join("..", "..", "testdata", "mp3-cbr-64k-mono-44100-noxing.mp3")
	insp, err := inspect.File(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	nudged := func(size int64) *inspect.Report {
		r := *insp
		r.Path, r.Duration, r.Size = "caller", insp.Duration+0.25, size
		return &r
	}
	for _, c := range []struct {
		name string
		rep  *inspect.Report
		want float64
	}{
		{"the file's report", nudged(insp.Size), insp.Duration + 0.25},
		{"another size: inspected", nudged(insp.Size + 1), insp.Duration},
		{"no report", nil, insp.Duration},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before inspect.Report
			if c.rep != nil {
				before = *c.rep
			}
			res, err := mustNew(t, Options{}).ToDir(ctx, Input{Path: src, Report: c.rep}, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if res.Plan.Duration != c.want {
				t.Errorf("planned for %.3f s, want %.3f s", res.Plan.Duration, c.want)
			}
			if c.rep != nil && (c.rep.Path != before.Path || c.rep.Duration != before.Duration) {
				t.Errorf("the caller's report was modified: %+v", *c.rep)
			}
		})
	}
}
