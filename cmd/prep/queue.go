package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/queue"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/status"
	"github.com/prep-audio/prep/pkg/upload"
)

// queueConfig is the queue's tuning from the environment; submitters and
// workers of one queue must agree (PREP_QUEUE_PREFIX, PREP_QUEUE_REPLICAS,
// PREP_QUEUE_ACK_WAIT, PREP_QUEUE_WORKER_TTL as Go durations).
func queueConfig(e *env) (queue.Config, error) {
	var c queue.Config
	c.Prefix = e.getenv("PREP_QUEUE_PREFIX")
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{"PREP_QUEUE_ACK_WAIT", &c.AckWait}, {"PREP_QUEUE_WORKER_TTL", &c.WorkerTTL}} {
		if s := e.getenv(d.name); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil || v < queue.MinTimer {
				return c, usageErrorf("%s: a duration like 30s, at least %v", d.name, queue.MinTimer)
			}
			*d.to = v
		}
	}
	if s := e.getenv("PREP_QUEUE_REPLICAS"); s != "" {
		if _, err := fmt.Sscan(s, &c.Replicas); err != nil || (c.Replicas != 1 && c.Replicas != 3) {
			return c, usageErrorf("PREP_QUEUE_REPLICAS: 1 or 3")
		}
	}
	return c, nil
}

// openQueue connects and opens the queue.
func openQueue(ctx context.Context, e *env, url, name string) (*queue.Queue, func(), error) {
	cfg, err := queueConfig(e)
	if err != nil {
		return nil, nil, err
	}
	nc, err := queue.Connect(url, name)
	if err != nil {
		return nil, nil, err
	}
	q, err := queue.Open(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return q, func() { nc.Drain() }, nil
}

// sourcesFromEnv reads s3:// recordings with the environment's S3 settings
// (S3_ENDPOINT, S3_REGION/AWS_REGION, AWS_* or the AWS chain).
func sourcesFromEnv(ctx context.Context, e *env) (*queue.Sources, error) {
	cfg := upload.S3ConfigFromEnv(e.getenv) // the one env → S3 mapping (queue.S3Config is upload's)
	return queue.NewSources(ctx, &cfg)
}

// twoStageSignals gives a soft context (cancelled by ctx, i.e. the first
// SIGINT/SIGTERM) and a hard one cancelled by a second signal.
func twoStageSignals(ctx context.Context) (hard context.Context, stop func()) {
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var got signalCount // the same stop delivered twice counts once
		for {
			select {
			case <-done:
				return
			case <-sigs:
				if got.add() >= 2 {
					cancel()
					return
				}
			}
		}
	}()
	return hard, func() { signal.Stop(sigs); close(done); cancel() }
}

// queueBatchFlags are prep batch's flags for --queue.
type queueBatchFlags struct {
	batch                      string
	resendUnknown, split, link bool
	rate                       float64
	jobs                       int
	detach, asJSON             bool
	report                     string
	store                      string // a status store: unknown rows a status came for are sent
}

// runQueueBatch submits a manifest to a queue and (unless detached) waits
// for its rows, then reports as a local batch does.
func runQueueBatch(ctx context.Context, e *env, url string, m *pipeline.Manifest, f queueBatchFlags) error {
	if err := checkRate(f.rate); err != nil {
		return err
	}
	opts := queue.SubmitOptions{Batch: f.batch, ResendUnknown: f.resendUnknown, Split: f.split, Link: f.link, Jobs: f.jobs}
	if f.rate > 0 {
		opts.Rate = map[send.Provider]float64{}
		for _, pv := range allProviders() {
			opts.Rate[pv] = f.rate
		}
	}
	q, closeQ, err := openQueue(ctx, e, url, "prep batch")
	if err != nil {
		return err
	}
	defer closeQ()
	if opts.Sources, err = sourcesFromEnv(ctx, e); err != nil {
		return err
	}
	sub, err := q.Submit(ctx, m, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "prep batch: submitted %s to %s: %d rows, %d queued now, %d distinct recordings\n",
		sub.Batch, queue.RedactURL(url), len(sub.Rows), sub.Queued, sub.Distinct)
	if f.detach {
		return nil
	}
	prog := newProgressPrinter(e, f.asJSON)
	var pf func(pipeline.Progress)
	every := time.Second
	if prog != nil {
		pf, every = prog.print, prog.every
	}
	res, err := q.Wait(ctx, sub, every, pf)
	if prog != nil {
		prog.finish()
	}
	if err != nil {
		return err
	}
	if f.store != "" && res.Summary.Counts[pipeline.StatusUnknown] > 0 {
		if res, err = resolveQueueUnknown(ctx, e, q, sub, f.store); err != nil {
			return err
		}
	}
	reportErr, err := showBatch(e, "batch", res, "", f.report, f.asJSON)
	if err != nil {
		return err
	}
	if !res.AllSent() {
		n := 0
		for _, r := range res.Rows {
			if r.Status != pipeline.StatusSent {
				n++
			}
		}
		return &batchError{reportedError: reportedError{failed: n, total: len(res.Rows)}, interrupted: res.Summary.Interrupted}
	}
	if reportErr != nil {
		return fmt.Errorf("batch: every row was sent, but the report was not written: %w", reportErr)
	}
	return nil
}

// queueRowMessage is the message a status came for of a queue row's part
// in doubt (its last): by its client message id (Infobip), else by the
// row's key carried as callback data — not a message of the row's parts
// already sent (a split row's parts all carry its key), nor of an earlier
// send of the same row key (another batch: its statuses began before this
// row was queued).
func queueRowMessage(ix *status.Index, row queue.Row) (string, bool) {
	if row.ClientID != "" {
		if m, ok := ix.Message(row.ClientID); ok && m.ID != "" {
			return m.ID, true
		}
	}
	refs := make([]status.Ref, 0, len(row.IDs)+1)
	for _, id := range row.IDs {
		refs = append(refs, status.Ref{ID: id})
	}
	refs = append(refs, status.Ref{CallbackData: row.Key, NotBefore: row.Queued})
	if parts := ix.Row(refs...).Parts; parts[len(parts)-1].ID != "" {
		return parts[len(parts)-1].ID, true
	}
	return "", false
}

// resolveQueueUnknown makes sent the unknown rows a status was stored for
// (by the row's key as callback data, or Infobip's messageId), then reads
// the rows again.
func resolveQueueUnknown(ctx context.Context, e *env, q *queue.Queue, sub *queue.Submission, store string) (*pipeline.BatchResult, error) {
	r, err := status.OpenReader(store)
	if err != nil {
		return nil, err
	}
	n, err := q.ResolveUnknown(ctx, sub, func(row queue.Row) (string, bool) { return queueRowMessage(r.Index, row) })
	if err != nil {
		return nil, err
	}
	if n > 0 {
		fmt.Fprintf(e.stderr, "prep batch: %d rows in doubt are sent: a status came for their message (%s)\n", n, store)
	}
	return q.Wait(ctx, sub, time.Second, nil)
}
