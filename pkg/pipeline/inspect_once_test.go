package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// reportChecker stands between the pipeline and a real uploader: before
// passing each file on, it checks the file comes with the transcoder's
// inspection of exactly those bytes, and that upload takes that report
// instead of inspecting the file again.
type reportChecker struct {
	t    testing.TB
	u    upload.Uploader
	mu   sync.Mutex
	seen int
}

func (c *reportChecker) Upload(ctx context.Context, f upload.File) (*upload.Ref, error) {
	c.mu.Lock()
	c.seen++
	c.mu.Unlock()
	checkCarriedReport(c.t, ctx, f)
	return c.u.Upload(ctx, f)
}

func checkCarriedReport(t testing.TB, ctx context.Context, f upload.File) {
	t.Helper()
	if f.Report == nil {
		t.Errorf("%s comes to the upload without its inspection: it is inspected again", f.Path)
		return
	}
	fresh, err := inspect.File(ctx, f.Path)
	if err != nil {
		t.Errorf("inspect %s: %v", f.Path, err)
		return
	}
	got, want := f.Report, fresh
	if got.Path != f.Path || got.Size != want.Size || got.Container != want.Container || got.Codec != want.Codec ||
		got.Channels != want.Channels || got.Duration != want.Duration || got.VoiceReady != want.VoiceReady || got.AudioReady != want.AudioReady {
		t.Errorf("%s: carried report %s %d B %s/%s %d ch %.3f s voice=%v, the bytes are %d B %s/%s %d ch %.3f s voice=%v",
			f.Path, got.Path, got.Size, got.Container, got.Codec, got.Channels, got.Duration, got.VoiceReady,
			want.Size, want.Container, want.Codec, want.Channels, want.Duration, want.VoiceReady)
	}
	// upload decides on the report it is given (the same one back, not a
	// new inspection of the bytes).
	if _, rep, err := upload.Check(ctx, f); err != nil || rep != f.Report {
		t.Errorf("%s: upload.Check used a report of its own (err %v)", f.Path, err)
	}
}

// Issue 10: facts were lost on the way — the upload stage inspected every
// transcoded, remuxed or repacked output that the transcoder had just
// inspected to verify it (only a passthrough handed the source's report
// on). Each output now carries its report (transcode.Output.Report) into
// upload.File.Report, in the one-item run, a split run and a batch, to
// every destination. Failed before the fix: the report was nil for every
// output but the passthrough.
func TestRunAndBatchUploadTheTranscodersReport(t *testing.T) {
	needFFmpeg(t)
	_, p := startSandbox(t, sandbox.Config{})
	var checkers []*reportChecker
	wrap := func(u upload.Uploader) upload.Uploader {
		c := &reportChecker{t: t, u: u}
		checkers = append(checkers, c)
		return c
	}
	for pv, u := range p.media {
		p.media[pv] = wrap(u)
	}
	p.link = wrap(p.link)
	ctx := context.Background()
	testdata := filepath.Join("..", "..", "testdata")

	// One item per action: transcode (MP3), remux (Opus in WebM),
	// passthrough (an Ogg Opus note), each through a media endpoint and
	// the link host.
	for _, c := range []struct{ file, action string }{
		{"mp3-cbr-64k-mono-44100-noxing.mp3", "transcode"},
		{"webm-opus-mono-2s.webm", ""},
		{"ogg-opus-mono-48k-2s.ogg", "passthrough"},
	} {
		for _, pv := range []Provider{Meta, Infobip} {
			res, err := p.Run(ctx, Item{Path: filepath.Join(testdata, c.file), To: "+447700900123", Provider: pv})
			if err != nil {
				t.Fatalf("%s via %s: %v", c.file, pv, err)
			}
			if c.action != "" && string(res.Transcode.Action) != c.action {
				t.Errorf("%s: action %s, want %s", c.file, res.Transcode.Action, c.action)
			}
		}
	}

	// A split recording: each part carries its own report.
	dir := t.TempDir()
	long := filepath.Join(dir, "long.wav")
	if b, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "sine=f=220:d=30",
		"-ac", "1", "-ar", "16000", long).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	topts := p.topts
	p.topts.MaxBytes = 12_000
	res, err := p.Run(ctx, Item{Path: long, To: "+447700900123", Provider: D360, Split: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) < 2 {
		t.Errorf("%d parts, want a split", len(res.Files))
	}
	p.topts = topts

	// A batch over three formats and the three providers.
	var b strings.Builder
	b.WriteString("to,file,provider\n")
	for _, f := range []string{"flac-mono-16k-0.5s.flac", "m4a-aac-stereo-48000-faststart.m4a", "ogg-opus-mono-48k-2s.ogg"} {
		copyFile(t, filepath.Join(testdata, f), filepath.Join(dir, f))
		for _, pv := range Providers {
			fmt.Fprintf(&b, "+447700900%03d,%s,%s\n", len(f), f, pv)
		}
	}
	m := mustManifest(t, dir, "m.csv", b.String())
	br := runBatch(t, p, m, BatchOptions{Journal: filepath.Join(dir, "m.csv.journal"), Jobs: 2})
	for _, r := range br.Rows {
		if r.Status != StatusSent {
			t.Errorf("row %d %s via %s: %s %s", r.Row, r.File, r.Provider, r.Status, r.Error)
		}
	}
	seen := 0
	for _, c := range checkers {
		seen += c.seen
	}
	// 6 single items, at least 2 parts, 3 recordings × 3 destinations.
	if seen < 6+2+9 {
		t.Errorf("%d uploads went through the checkers, want at least 17", seen)
	}
}

// Issue 10, the source side: Prepare inspected the source and the
// transcoder inspected it again. Now the transcoder plans from the
// pipeline's report: one inspection, whose facts the plan shows (a
// duration nudged in the report comes out in the plan), made with the
// transcoder's voice budget (a note over a small budget is transcoded, not
// passed through as a default-budget report would have it). Failed before
// the fix: the plan had the duration of a second inspection.
func TestPrepareInspectsTheSourceOnce(t *testing.T) {
	needFFmpeg(t)
	p, err := New(Config{Senders: map[Provider]send.Sender{Meta: senderFunc(func(context.Context, send.Message) (*send.Receipt, error) {
		return nil, errors.New("not used")
	})}, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	const nudge = 0.25
	var calls atomic.Int32
	p.inspect = func(ctx context.Context, path string, opts ...inspect.Option) (*inspect.Report, error) {
		calls.Add(1)
		rep, err := inspect.File(ctx, path, opts...)
		if rep != nil {
			rep.Duration += nudge
		}
		return rep, err
	}
	testdata := filepath.Join("..", "..", "testdata")
	for _, c := range []struct {
		file     string
		maxBytes int64
		action   transcode.Action
	}{
		{"mp3-cbr-64k-mono-44100-noxing.mp3", 0, transcode.ActionTranscode},
		{"ogg-opus-mono-48k-2s.ogg", 0, transcode.ActionPassthrough},
		{"ogg-opus-mono-48k-2s.ogg", 5_000, transcode.ActionTranscode},
	} {
		calls.Store(0)
		p.topts.MaxBytes = c.maxBytes
		src := filepath.Join(testdata, c.file)
		pr, err := p.Prepare(context.Background(), Recording{Path: src}, t.TempDir())
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("%s: inspected %d times by the pipeline", c.file, n)
		}
		if pr.Transcode.Action != c.action {
			t.Errorf("%s, budget %d: action %s (%s), want %s", c.file, c.maxBytes, pr.Transcode.Action, pr.Transcode.Plan.Reason, c.action)
		}
		if got, want := pr.Transcode.Plan.Duration, pr.Report.Duration; got != want {
			t.Errorf("%s: the plan says %.3f s, the pipeline's report %.3f s: the transcoder inspected the source again", c.file, got, want)
		}
		if pr.Report.VoiceReady == (c.action == transcode.ActionTranscode) {
			t.Errorf("%s, budget %d: the pipeline's report says voice_ready %v", c.file, c.maxBytes, pr.Report.VoiceReady)
		}
	}
}
