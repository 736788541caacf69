package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/status"
)

// demoLong is the recording the demo generates: 12 minutes cannot fit one
// 512 KB voice note even at the 6 kbps floor, so it goes out split.
const (
	demoLong        = "long-memo-12min.wav"
	demoLongSeconds = 720
)

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "demo", "[--serve] [--addr 127.0.0.1:0] [--samples testdata/demo] [--report FILE] [--json]")
	serve := fs.Bool("serve", false, "keep the sandbox and its page running until Ctrl-C")
	addr := fs.String("addr", "127.0.0.1:0", "sandbox listen address")
	samples := fs.String("samples", filepath.Join("testdata", "demo"), "directory of the demo manifest (run from the repository root)")
	report := fs.String("report", "", "also write the report here (JSON Lines, or CSV for .csv)")
	data := fs.String("data", "", "keep the media the sandbox received in this directory")
	asJSON := fs.Bool("json", false, "print the report as JSON Lines")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("demo: unexpected argument %q", pos[0])
	}
	src := filepath.Join(*samples, "manifest.csv")
	if _, err := os.Stat(src); err != nil {
		return usageErrorf("demo: %s not found: run from the repository root or give --samples DIR", src)
	}
	start := time.Now()
	tmp, err := os.MkdirTemp("", "prep-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintf(e.stderr, "prep demo: generating a %d-minute memo with ffmpeg…\n", demoLongSeconds/60)
	if err := generateLongMemo(ctx, filepath.Join(tmp, demoLong)); err != nil {
		return err
	}
	// The generated memo lives in the temp dir; every other path is
	// relative to the manifest, as in any batch.
	m, err := pipeline.ParseManifest(src, pipeline.ManifestDefaults{})
	if err != nil {
		return err
	}
	for i := range m.Rows {
		if m.Rows[i].File == demoLong {
			m.Rows[i].Path = filepath.Join(tmp, demoLong)
		}
	}

	// prep's own status receiver takes the sandbox's webhooks (Meta's
	// verified and signed, 360dialog's registered, Infobip's reports at
	// each send's notifyUrl), so the report says what became of each note.
	in, dc, err := localIntake(ctx, e, tmp)
	if err != nil {
		return err
	}
	defer in.Close()
	rcv := "http://" + in.addr
	sb, err := sandbox.Start(sandbox.Config{Addr: *addr, DataDir: *data, StatusDelay: 100 * time.Millisecond,
		WebhookURL: rcv + "/webhooks/meta", AppSecret: dc.receiver.MetaAppSecret, VerifyToken: dc.receiver.MetaVerifyToken,
		D360WebhookURL: rcv + "/webhooks/360dialog", D360Headers: map[string]string{status.TokenHeader: dc.receiver.D360Token}})
	if err != nil {
		return err
	}
	defer sb.Close()
	fmt.Fprintf(e.stderr, "prep demo: sandbox at %s, statuses to %s\n", sb.URL(), rcv)

	// Everything points at the sandbox; Infobip's URLs come from its file
	// host, or from S3 when S3_ENDPOINT is set.
	noCache, split := true, true
	zero, none, sbURL, rate, packing := 0, "", sb.URL(), 0.0, "native"
	sf := &stageFlags{upload: &none, sandbox: &sbURL, noCache: &noCache, split: &split, bitrate: &zero, packing: &packing, rate: &rate, s3Bucket: &none}
	p, err := buildPipeline(ctx, e, sf, allProviders(), false, tmp)
	if err != nil {
		return err
	}
	opts := pipeline.BatchOptions{Journal: filepath.Join(tmp, "demo.journal"), Split: true, NotifyURL: dc.notifyURL}
	prog := newProgressPrinter(e, *asJSON)
	if prog != nil {
		opts.Progress, opts.ProgressEvery = prog.print, prog.every
	}
	res, err := runWithSignals(ctx, e, p.NewBatch(m, opts))
	if err != nil {
		return err
	}
	if prog != nil {
		prog.finish()
	}
	// The recipients read their notes (nobody plays them here: played
	// comes only from a play, e.g. on the sandbox's page with --serve).
	if _, err := afterBatch(ctx, e, in, dc, res, opts.Journal, *asJSON); err != nil {
		return err
	}
	if _, err := showBatch(e, "demo", res, "", *report, *asJSON); err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(e.stdout, "\nThe sandbox received %d messages; its page shows each conversation: %s/\n", len(sb.Messages()), sb.URL())
		fmt.Fprintf(e.stdout, "demo finished in %s\n", time.Since(start).Round(time.Millisecond))
	}
	// The demo succeeds when every valid row was sent (the invalid row is
	// part of the show).
	failed := 0
	for _, r := range res.Rows {
		if r.Status != pipeline.StatusSent && r.Status != pipeline.StatusInvalid {
			failed++
		}
	}
	if *serve && ctx.Err() == nil {
		fmt.Fprintf(e.stderr, "prep demo: serving %s/ until Ctrl-C\n", sb.URL())
		<-ctx.Done()
	}
	if failed > 0 {
		return &batchError{reportedError: reportedError{failed: failed, total: len(res.Rows)}, interrupted: res.Summary.Interrupted}
	}
	return nil
}

// generateLongMemo writes a mono 16 kHz WAV of demoLongSeconds: a tone
// with a one-second pause every six seconds, so the split has silences to
// cut at.
func generateLongMemo(ctx context.Context, out string) error {
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		return errors.New("demo: ffmpeg not found: install it (Debian: apt-get install ffmpeg, or make deps)")
	}
	cmd := exec.CommandContext(ctx, ff, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", fmt.Sprintf("sine=frequency=190:sample_rate=16000:duration=%d", demoLongSeconds),
		"-af", "volume='if(lt(mod(t,6),5),0.4,0)':eval=frame", "-ac", "1", "-c:a", "pcm_s16le", "-y", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("demo: generating the long memo: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}
