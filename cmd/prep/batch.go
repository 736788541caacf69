package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/send"
)

// batchError ends a batch whose rows were not all sent: the report is
// printed (main adds nothing); exit 1, or 130 when interrupted.
type batchError struct {
	reportedError
	interrupted bool
}

func (e *batchError) Error() string {
	if e.interrupted {
		return fmt.Sprintf("interrupted: %d of %d rows not sent", e.failed, e.total)
	}
	return fmt.Sprintf("%d of %d rows not sent", e.failed, e.total)
}

func (e *batchError) ExitCode() int {
	if e.interrupted {
		return exitSignal
	}
	return exitFailed
}

func (e *batchError) As(target any) bool {
	if t, ok := target.(**reportedError); ok {
		*t = &e.reportedError
		return true
	}
	return false
}

// hardStopGrace is how long a second Ctrl-C waits for in-flight requests
// to return before the process exits anyway (the journal is durable, so
// exiting is safe).
const hardStopGrace = 3 * time.Second

// sameSignalWindow: a second SIGINT/SIGTERM this soon after the first is
// the same stop delivered twice — `timeout -s INT` signals the process and
// then its whole group, a terminal's Ctrl-C reaches every process of the
// group — not a second Ctrl-C, which no hand presses within 50 ms.
const sameSignalWindow = 50 * time.Millisecond

// signalCount counts the SIGINT/SIGTERMs a command received, the same
// stop delivered twice within sameSignalWindow counted once.
type signalCount struct {
	n     int
	first time.Time
}

// add counts a signal received now and returns the count.
func (c *signalCount) add() int {
	if c.n == 1 && time.Since(c.first) < sameSignalWindow {
		return c.n // the first one, delivered again
	}
	if c.n++; c.n == 1 {
		c.first = time.Now()
	}
	return c.n
}

func runBatch(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "batch", "--manifest FILE [--journal FILE] [--report FILE] [--jobs N] [--json] [--store FILE [--listen HOST:PORT] [--notify-url BASE] [--wait delivered|read|played] [--wait-timeout D]] [--queue nats://HOST:PORT [--detach] [--batch NAME]]")
	manifest := fs.String("manifest", "", "CSV (header to,file[,provider,profile,callback_data]) or JSON Lines manifest")
	journal := fs.String("journal", "", "journal file (default: MANIFEST.journal)")
	report := fs.String("report", "", "write the report here: JSON Lines, or CSV when the name ends in .csv")
	jobs := fs.Int("jobs", 0, "transcode workers (default: number of cores)")
	sendWorkers := fs.Int("send-workers", 8, "concurrent sends per provider (under its rate limit)")
	provider := fs.String("provider", "", "provider for rows without one (env PREP_PROVIDER)")
	profile := fs.String("profile", "voice", "profile for rows without one: voice or audio")
	resendUnknown := fs.Bool("resend-unknown", false, "resend rows whose earlier send is in doubt (they may be received twice)")
	journalCorrupt := fs.String("journal-corrupt", "stop", "a journal line that cannot be read: stop, or unknown (the rows it may have recorded are in doubt)")
	asJSON := fs.Bool("json", false, "report rows and summary as JSON Lines on stdout, progress as JSON lines on stderr")
	queueURL := fs.String("queue", "", "submit to the workers of this NATS JetStream server (nats://HOST:PORT) instead of running here")
	detach := fs.Bool("detach", false, "with --queue: submit and return (run the same command again to collect the report)")
	batchName := fs.String("batch", "", "with --queue: the batch's name (default: the manifest's file name); resubmitting under it sends nothing twice")
	sf := addStageFlags(fs)
	df := addDeliveryFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *manifest == "" && len(pos) == 1 {
		*manifest, pos = pos[0], nil
	}
	if *manifest == "" || len(pos) > 0 {
		fs.Usage()
		return usageErrorf("batch: give one manifest (--manifest FILE)")
	}
	if *jobs < 0 || *sendWorkers < 1 {
		return usageErrorf("batch: --jobs must be ≥ 0 and --send-workers ≥ 1")
	}
	if *journalCorrupt != "stop" && *journalCorrupt != "unknown" {
		return usageErrorf("batch: --journal-corrupt %q: want stop or unknown", *journalCorrupt)
	}
	dc, err := df.check(e)
	if err != nil {
		return err
	}
	defs := pipeline.ManifestDefaults{}
	if pn := envOr(e, *provider, "PREP_PROVIDER"); pn != "" {
		if defs.Provider, err = send.ParseProvider(pn); err != nil {
			return usageErrorf("batch: %v", err)
		}
	}
	if defs.Profile, err = pipeline.ParseProfile(*profile); err != nil {
		return usageErrorf("batch: %v", err)
	}
	link, err := sf.linkUpload()
	if err != nil {
		return err
	}
	m, err := pipeline.ParseManifest(*manifest, defs)
	if err != nil {
		return err // *ManifestError: exit 2
	}
	if *queueURL != "" && (*df.listen != "" || *df.notifyURL != "" || *df.wait != "") {
		// The workers' sends carry no notifyUrl, and the submitter does
		// not wait for deliveries yet: --store only resolves unknown rows.
		return usageErrorf("batch: --listen, --notify-url and --wait do not go with --queue yet (--store does)")
	}
	if *queueURL != "" {
		return runQueueBatch(ctx, e, *queueURL, m, queueBatchFlags{batch: *batchName, resendUnknown: *resendUnknown,
			split: *sf.split, link: link, rate: *sf.rate, jobs: *jobs, detach: *detach, report: *report, asJSON: *asJSON,
			store: dc.store})
	} else if *detach || *batchName != "" {
		return usageErrorf("batch: --detach and --batch go with --queue")
	}
	providers := manifestProviders(m)
	p, err := buildPipeline(ctx, e, sf, providers, link, "")
	if err != nil {
		return err
	}
	if *journal == "" {
		*journal = *manifest + ".journal"
	}
	opts := pipeline.BatchOptions{Journal: *journal, Jobs: *jobs, SendWorkers: *sendWorkers, ResendUnknown: *resendUnknown, Split: *sf.split, Link: link,
		CorruptInDoubt: *journalCorrupt == "unknown", NotifyURL: dc.notifyURL}
	if *sf.rate > 0 {
		// The batch's own limiter as well as the sender's: a row waiting
		// for its turn there is dropped by Ctrl-C, where one waiting in the
		// sender's limiter would still go out after it.
		opts.Rate = map[send.Provider]float64{}
		for _, pv := range providers {
			opts.Rate[pv] = *sf.rate
		}
	}
	prog := newProgressPrinter(e, *asJSON)
	if prog != nil {
		opts.Progress, opts.ProgressEvery = prog.print, prog.every
	}
	var in *intake
	if dc.store != "" {
		if in, err = startBatchIntake(ctx, e, dc, *journal); err != nil {
			return err
		}
		defer in.Close()
	}
	b := p.NewBatch(m, opts)
	res, err := runWithSignals(ctx, e, b)
	if err != nil {
		if errors.Is(err, pipeline.ErrJournalCorrupt) {
			return fmt.Errorf("%w (check the provider's delivery status; --journal-corrupt unknown goes on with the rows it may have recorded in doubt)", err)
		}
		return err
	}
	if prog != nil {
		prog.finish()
	}
	notThere := 0
	if in != nil {
		if notThere, err = afterBatch(ctx, e, in, dc, res, *journal, *asJSON); err != nil {
			return err
		}
	}
	reportErr, err := showBatch(e, "batch", res, *journal, *report, *asJSON)
	if err != nil {
		return err
	}
	return batchOutcome(res, notThere, reportErr)
}

// manifestProviders are the providers the manifest's valid rows use, in
// the CLI's order.
func manifestProviders(m *pipeline.Manifest) []send.Provider {
	used := map[send.Provider]bool{}
	for _, r := range m.Rows {
		if r.Err == nil {
			used[r.Provider] = true
		}
	}
	var providers []send.Provider
	for _, p := range allProviders() {
		if used[p] {
			providers = append(providers, p)
		}
	}
	return providers
}

// startBatchIntake starts the status intake of --store: the receiver runs
// (or the store is followed) while the batch sends, so statuses arrive
// from the first message on. A row an earlier run left in doubt that a
// status was found for is journaled sent first: it is not resent
// (--resend-unknown neither). The caller closes it.
func startBatchIntake(ctx context.Context, e *env, dc *deliveryConfig, journal string) (*intake, error) {
	in, err := startIntake(ctx, e, dc)
	if err != nil {
		return nil, err
	}
	recs, err := readJournalIfAny(journal)
	if err == nil {
		_, err = resolveUnknown(journal, recs, in.ix)
	}
	if err != nil {
		in.Close()
		return nil, err
	}
	return in, nil
}

// batchOutcome is how a batch that ran ends: rows not sent (exit 1, or
// 130 when interrupted); rows sent but failed later or not delivered as
// --wait asked (notThere); the report asked for not written; else nil.
func batchOutcome(res *pipeline.BatchResult, notThere int, reportErr error) error {
	if !res.AllSent() {
		n := 0
		for _, r := range res.Rows {
			if r.Status != pipeline.StatusSent {
				n++
			}
		}
		return &batchError{reportedError: reportedError{failed: n, total: len(res.Rows)}, interrupted: res.Summary.Interrupted}
	}
	if notThere > 0 {
		// Every row was sent, but some failed later or were not delivered
		// (read, played) as asked by the end of the wait.
		return &batchError{reportedError: reportedError{failed: notThere, total: len(res.Rows)}}
	}
	if reportErr != nil {
		// Every row was sent, but the report asked for is missing (or an
		// earlier run's is still there): not a success.
		return fmt.Errorf("batch: every row was sent, but the report was not written: %w", reportErr)
	}
	return nil
}

// runWithSignals runs the batch with the CLI's Ctrl-C behaviour. main's
// context is cancelled on the first SIGINT/SIGTERM: that stops the batch
// gracefully (no new rows; in-flight sends finish and are journaled). A
// second signal cancels the batch's own context: in-flight sends are
// abandoned (journaled unknown), and if they do not return within
// hardStopGrace the process exits with 130 (the journal is already
// durable).
func runWithSignals(ctx context.Context, e *env, b *pipeline.Batch) (*pipeline.BatchResult, error) {
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		var got signalCount // signals seen here: every SIGINT/SIGTERM reaches this channel too
		stopping := false
		stop := func() {
			if !stopping {
				stopping = true
				b.Stop()
				fmt.Fprintln(e.stderr, "\nprep batch: stopping — finishing the sends in flight (Ctrl-C again to stop at once)")
			}
		}
		ctxDone := ctx.Done()
		for {
			select {
			case <-done:
				return
			case <-ctxDone:
				ctxDone = nil
				stop()
				continue
			case <-sigs:
				if prev := got.n; got.add() == prev {
					continue // the first one, delivered again
				}
			}
			stop()
			if got.n >= 2 {
				fmt.Fprintln(e.stderr, "prep batch: stopping now — sends in flight are recorded as unknown")
				cancel()
				select {
				case <-done:
				case <-time.After(hardStopGrace):
					os.Exit(exitSignal)
				}
				return
			}
		}
	}()
	return b.Run(hard)
}

// progressPrinter shows progress on stderr: one rewritten line on a
// terminal, JSON lines with --json, nothing otherwise.
type progressPrinter struct {
	w     io.Writer
	json  bool
	every time.Duration
	mu    sync.Mutex
	last  int
}

func newProgressPrinter(e *env, asJSON bool) *progressPrinter {
	switch {
	case asJSON:
		return &progressPrinter{w: e.stderr, json: true, every: time.Second}
	case e.isTerminal:
		return &progressPrinter{w: e.stderr, every: 250 * time.Millisecond}
	}
	return nil
}

func (p *progressPrinter) print(pg pipeline.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		b, _ := json.Marshal(struct {
			Progress pipeline.Progress `json:"progress"`
		}{pg})
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	line := pg.String()
	fmt.Fprintf(p.w, "\r%s\033[K", line)
	p.last = len(line)
}

func (p *progressPrinter) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.json && p.last > 0 {
		fmt.Fprintln(p.w)
	}
}

// showBatch writes the report file (when asked) and prints the result: the
// rows and summary on stdout (the files' names only when written),
// batch-level errors (the journal or the report could not be written) on
// stderr. It returns the report file's error and stdout's.
func showBatch(e *env, cmd string, res *pipeline.BatchResult, journal, report string, asJSON bool) (reportErr, err error) {
	if report != "" {
		if reportErr = pipeline.WriteReportFile(report, res); reportErr != nil {
			fmt.Fprintf(e.stderr, "prep %s: report: %s\n", cmd, escapeControls(reportErr.Error()))
		}
	}
	if res.Summary.Error != "" {
		fmt.Fprintf(e.stderr, "prep %s: %s\n", cmd, escapeControls(res.Summary.Error))
	}
	if asJSON {
		return reportErr, pipeline.WriteReportJSONL(e.stdout, res)
	}
	printBatch(e.stdout, res)
	if journal != "" {
		fmt.Fprintf(e.stdout, "journal: %s\n", journal)
	}
	if report != "" && reportErr == nil {
		fmt.Fprintf(e.stdout, "report: %s\n", report)
	}
	return reportErr, nil
}

// printBatch prints the rows that were not sent, the sent ones briefly,
// and the summary.
func printBatch(w io.Writer, res *pipeline.BatchResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	delivery := len(res.Summary.Delivery) > 0 // a status store was read
	if delivery {
		fmt.Fprintln(tw, "ROW\tTO\tPROVIDER\tFILE\tSTATUS\tDELIVERY\tMESSAGE ID / ERROR")
	} else {
		fmt.Fprintln(tw, "ROW\tTO\tPROVIDER\tFILE\tSTATUS\tMESSAGE ID / ERROR")
	}
	rows := append([]pipeline.RowResult(nil), res.Rows...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Row < rows[j].Row })
	for _, r := range rows {
		detail := r.MessageID
		if r.Status != pipeline.StatusSent {
			detail = r.Error
		} else if r.Resumed {
			detail += " (sent earlier)"
		}
		if !delivery {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Row, orDash(quoteName(r.To)), orDash(string(r.Provider)), orDash(quoteName(r.File)), r.Status, oneLine(detail))
			continue
		}
		d := orDash(r.Delivery)
		if r.ErrorCode != 0 {
			d += fmt.Sprintf(" %d", r.ErrorCode)
			// The failure and what to do, instead of the message id.
			detail = r.Error
			if r.Advice != "" {
				detail += " — " + r.Advice
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Row, orDash(quoteName(r.To)), orDash(string(r.Provider)), orDash(quoteName(r.File)), r.Status, d, oneLine(detail))
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, res.Summary.Text())
}

// oneLine keeps a message on its table cell: newlines become spaces, other
// control characters (a file name's) are escaped, and it is cut at 160
// bytes.
func oneLine(s string) string {
	s = escapeControls(strings.ReplaceAll(s, "\n", " "))
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// readJournalIfAny reads the journal's records; none when it does not exist
// yet (the batch's first run).
func readJournalIfAny(journal string) ([]pipeline.Record, error) {
	if _, err := os.Stat(journal); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return pipeline.ReadJournal(journal)
}
