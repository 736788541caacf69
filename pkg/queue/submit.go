package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/send"
)

// BatchSpec is a submitted batch's settings, read by workers.
type BatchSpec struct {
	Name      string                    `json:"name"`
	Manifest  string                    `json:"manifest"`
	Rows      int                       `json:"rows"`
	Rate      map[send.Provider]float64 `json:"rate,omitempty"` // messages/s per provider account, all workers together
	Submitted time.Time                 `json:"submitted"`
}

// SubmitOptions configure a submission.
type SubmitOptions struct {
	// Batch names the batch; rows are keyed within it (resubmitting under
	// the same name sends nothing twice). Default: the manifest's file name.
	Batch string
	// ResendUnknown queues rows found unknown again (they may be received
	// twice; the in-doubt part is resent with the same client message id).
	ResendUnknown bool
	Split         bool // voice: cut recordings too long for one note
	Link          bool // upload to the link host (S3) for every provider
	// Rate caps messages per second per provider account across all
	// workers (default: DefaultRate).
	Rate map[send.Provider]float64
	// Sources reads (hashes) the recordings; default: local files only.
	Sources *Sources
	// NormalizeTo checks a recipient; default send.NormalizePhone.
	NormalizeTo func(string) (string, error)
	// Jobs hashes this many sources at once; default 4.
	Jobs int
}

// Submission is a submitted manifest: every row, valid or not, with its
// key in the rows bucket.
type Submission struct {
	Batch    string
	Manifest *pipeline.Manifest
	Rows     []SubmittedRow
	Distinct int // distinct recordings
	Queued   int // rows (re)queued by this submission
	Start    time.Time
}

// SubmittedRow is one manifest row of a submission.
type SubmittedRow struct {
	Row pipeline.Row
	Key string // rows-bucket key; "" for an invalid row
	SHA string
	Err error // why the row is invalid
}

// Submit puts a manifest's rows in the queue: each valid row's state is
// created "queued" unless the batch has it already (sent and unknown rows
// are left as they are; failed rows are queued again, and unknown ones too
// with ResendUnknown), each distinct recording is told which destinations
// it is wanted at, and a message is published for each row left to do.
// Resubmitting the same manifest is safe at any time.
func (q *Queue) Submit(ctx context.Context, m *pipeline.Manifest, opts SubmitOptions) (*Submission, error) {
	start := time.Now()
	opts = submitDefaults(m, opts)
	batch := BatchName(opts.Batch)
	for p, r := range opts.Rate {
		// A rate the spec cannot hold (JSON has no Inf or NaN) would leave
		// every worker unable to read the batch's settings.
		if !(r > 0) || math.IsInf(r, 0) {
			return nil, &Error{Op: "submit " + batch, Err: fmt.Errorf("rate %v for %s: not a positive number of messages per second", r, p)}
		}
	}
	sub := &Submission{Batch: batch, Manifest: m, Start: start, Rows: make([]SubmittedRow, len(m.Rows))}

	// 1. Recipients, then the content of every distinct source.
	tos, srcs := recipients(sub, opts.NormalizeTo)
	if err := q.hashSources(ctx, opts, srcs); err != nil {
		return nil, err
	}

	// 2. Keys (as the journal's), destinations, recordings.
	want, recSrc := keyRows(sub, tos, srcs, opts.Link)
	sub.Distinct = len(want)
	spec := BatchSpec{Name: batch, Manifest: m.Path, Rows: len(m.Rows), Rate: opts.Rate, Submitted: time.Now().UTC()}
	if err := q.putBatch(ctx, spec); err != nil {
		return nil, &Error{Op: "submit " + batch, Err: err}
	}
	if err := q.wantRecordings(ctx, want, recSrc, opts.Split); err != nil {
		return nil, &Error{Op: "submit " + batch, Err: err}
	}

	// 3. Rows, each one's message published once it is stored (a worker
	// starts on the first rows while the others are created); then the
	// messages not acknowledged again.
	pub := &publisher{q: q, batch: batch}
	toPublish, err := q.queueRows(ctx, sub, tos, opts, pub.publish)
	if err != nil {
		return nil, &Error{Op: "submit " + batch, Err: err}
	}
	sub.Queued = len(toPublish)
	again, err := pub.await(ctx)
	if err != nil {
		return nil, err
	}
	if err := q.publishRows(ctx, batch, again); err != nil {
		return nil, err
	}
	return sub, nil
}

// publisher publishes row messages as their rows are stored, and then
// waits for their acknowledgements.
type publisher struct {
	q     *Queue
	batch string
	mu    sync.Mutex
	msgs  []string
	futs  []jetstream.PubAckFuture // nil: not published (tried again)
}

// publish publishes one message (key + "\x00" + message id) without
// waiting for its acknowledgement.
func (p *publisher) publish(km string) {
	k, id, _ := strings.Cut(km, "\x00")
	f, err := p.q.js.PublishAsync(p.q.subject+"."+p.batch, []byte(k), jetstream.WithMsgID(id))
	if err != nil {
		f = nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, km)
	p.futs = append(p.futs, f)
}

// await waits (a minute at most) for the acknowledgements of what
// publish published, and returns the messages not acknowledged.
func (p *publisher) await(ctx context.Context) ([]string, error) {
	again, _, err := p.q.unacked(ctx, p.msgs, p.futs)
	return again, err
}

// submitDefaults fills the options Submit defaults: the batch named after
// the manifest's file, local sources, send.NormalizePhone.
func submitDefaults(m *pipeline.Manifest, opts SubmitOptions) SubmitOptions {
	if opts.Batch == "" {
		opts.Batch = m.Path
		if i := strings.LastIndexAny(opts.Batch, "/\\"); i >= 0 {
			opts.Batch = opts.Batch[i+1:]
		}
	}
	if opts.Sources == nil {
		opts.Sources = &Sources{}
	}
	if opts.NormalizeTo == nil {
		opts.NormalizeTo = send.NormalizePhone
	}
	return opts
}

// sourceSum is a distinct source's SHA-256, or why it could not be read.
type sourceSum struct {
	sha string
	err error
}

// recipients fills sub's rows from its manifest, normalizing each valid
// row's recipient (a row with a bad one becomes invalid): the recipients
// by row, and an empty sum for each distinct source of the valid rows.
func recipients(sub *Submission, norm func(string) (string, error)) ([]string, map[string]*sourceSum) {
	tos := make([]string, len(sub.Manifest.Rows))
	srcs := map[string]*sourceSum{}
	for i, r := range sub.Manifest.Rows {
		sub.Rows[i].Row = r
		if r.Err != nil {
			sub.Rows[i].Err = r.Err
			continue
		}
		to, err := norm(r.To)
		if err != nil {
			sub.Rows[i].Err = err
			continue
		}
		tos[i] = to
		if srcs[sourceOf(r)] == nil {
			srcs[sourceOf(r)] = &sourceSum{}
		}
	}
	return tos, srcs
}

// hashSources hashes every distinct source, opts.Jobs (at least 4) at once;
// a source's failure is kept in its sum. Only ctx's end is an error.
func (q *Queue) hashSources(ctx context.Context, opts SubmitOptions, srcs map[string]*sourceSum) error {
	var g errgroup.Group
	g.SetLimit(max(1, opts.Jobs, 4))
	for src, st := range srcs {
		g.Go(func() error {
			st.sha, st.err = q.hashSource(ctx, opts.Sources, src)
			return nil
		})
	}
	g.Wait()
	return ctx.Err()
}

// keyRows gives each valid row its key (as the journal's: a row repeated
// in the manifest gets the next ordinal) and SHA-256, or makes it invalid
// when its source could not be read. It returns the destinations each
// recording (content key) is wanted at and the first row of each.
func keyRows(sub *Submission, tos []string, srcs map[string]*sourceSum, link bool) (map[string][]string, map[string]SubmittedRow) {
	var keys pipeline.RowKeys
	want := map[string][]string{}
	recSrc := map[string]SubmittedRow{}
	for i := range sub.Rows {
		sr := &sub.Rows[i]
		if sr.Err != nil {
			continue
		}
		st := srcs[sourceOf(sr.Row)]
		if st.err != nil {
			sr.Err = st.err
			var se *SourceError
			if errors.As(st.err, &se) {
				sr.Err = fmt.Errorf("file %s: %v", sr.Row.File, se.Err)
			}
			continue
		}
		sr.SHA = st.sha
		r := sr.Row
		sr.Key = keys.Next(tos[i], r.Provider, r.Profile, r.CallbackData, st.sha)
		ck := ContentKey(st.sha, r.Profile)
		d := pipeline.Destination(r.Provider, link)
		if !slices.Contains(want[ck], d) {
			want[ck] = append(want[ck], d)
		}
		if _, ok := recSrc[ck]; !ok {
			recSrc[ck] = *sr
		}
	}
	return want, recSrc
}

// putBatch stores the batch's spec for the workers.
func (q *Queue) putBatch(ctx context.Context, spec BatchSpec) error {
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	_, err = retry(ctx, func() (uint64, error) { return q.batches.Put(ctx, spec.Name, b) })
	return err
}

// wantRecordings tells each recording the destinations it is wanted at
// (creating it if new) and clears a failed one's error so it is tried
// again.
func (q *Queue) wantRecordings(ctx context.Context, want map[string][]string, recSrc map[string]SubmittedRow, split bool) error {
	for ck, dests := range want {
		sr := recSrc[ck]
		_, _, err := update(ctx, q.recs, ck, func(r *Recording, exists bool) error {
			if !exists {
				r.Content, r.SHA256, r.Profile = ck, sr.SHA, sr.Row.Profile
			}
			r.Source, r.Split = sourceOf(sr.Row), split
			for _, d := range dests {
				if !slices.Contains(r.Want, d) {
					r.Want = append(r.Want, d)
				}
			}
			r.Error = "" // a failed recording is tried again
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// queueRows creates or requeues every valid row's state, 32 at once, and
// returns the messages to publish (key + "\x00" + message id), one per row
// left to do, each passed to publish as soon as its row is stored.
func (q *Queue) queueRows(ctx context.Context, sub *Submission, tos []string, opts SubmitOptions, publish func(string)) ([]string, error) {
	var mu sync.Mutex
	var toPublish []string
	var g errgroup.Group
	g.SetLimit(32)
	for i := range sub.Rows {
		sr := &sub.Rows[i]
		if sr.Err != nil {
			continue
		}
		g.Go(func() error {
			msg, err := q.queueRow(ctx, sub.Batch, sr, tos[i], opts)
			if err != nil || msg == "" {
				return err
			}
			publish(msg)
			mu.Lock()
			toPublish = append(toPublish, msg)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return toPublish, nil
}

// queueRow creates a row's state "queued", or queues a failed row (and,
// with ResendUnknown, an unknown one) again. It returns the message to
// publish for it ("" when it is sent or unknown: left as it is). A row
// already queued or sending gets its message again, with the id it was
// queued under: its message may be gone with a dead submitter, and the
// stream deduplicates it meanwhile.
func (q *Queue) queueRow(ctx context.Context, batch string, sr *SubmittedRow, to string, opts SubmitOptions) (string, error) {
	r := sr.Row
	k := rowKV(batch, sr.Key)
	publish := false
	var queued time.Time
	now := time.Now().UTC()
	_, _, err := createOrUpdate(ctx, q.rows, k, func(row *Row, exists bool) error {
		publish = false
		if exists {
			switch {
			case row.State == StateFailed, row.State == StateUnknown && opts.ResendUnknown:
				row.Resend = row.State == StateUnknown
				row.State, row.Error, row.Queued, row.Updated = StateQueued, "", now, now
				publish, queued = true, now
				return nil
			case row.State == StateQueued, row.State == StateSending:
				publish, queued = true, row.Queued
				return errWait
			}
			return errWait // sent, or unknown: left as they are
		}
		*row = Row{Batch: batch, Key: sr.Key, Line: r.Line, To: to, File: r.File, Source: sourceOf(r),
			Provider: r.Provider, Profile: r.Profile, CallbackData: r.CallbackData, SHA256: sr.SHA,
			Dest: pipeline.Destination(r.Provider, opts.Link), Split: opts.Split,
			State: StateQueued, Queued: now, Updated: now, IDs: []string{}}
		publish, queued = true, now
		return nil
	})
	if err != nil && !errors.Is(err, errWait) {
		return "", err
	}
	if !publish {
		return "", nil
	}
	return fmt.Sprintf("%s\x00%s.%d", k, k, queued.UnixNano()), nil
}

// publishRows publishes one message per row to do, trying the ones not
// acknowledged again (5 times at most). The message id (the row and when
// it was queued) deduplicates a resubmission within the stream's window
// (2 minutes); a duplicate past it is harmless (the row's state decides).
func (q *Queue) publishRows(ctx context.Context, batch string, toPublish []string) error {
	for try := 0; len(toPublish) > 0; try++ {
		again, lastErr, err := q.publishOnce(ctx, batch, toPublish)
		if err != nil {
			return err
		}
		if len(again) > 0 && try >= 5 {
			return &Error{Op: "submit " + batch, Err: fmt.Errorf("%d messages not acknowledged: %v", len(again), lastErr)}
		}
		toPublish = again
	}
	return nil
}

// publishOnce publishes the messages and waits (a minute at most) for
// their acknowledgements: again are those not acknowledged, lastErr the
// last refusal. err ends the submission.
func (q *Queue) publishOnce(ctx context.Context, batch string, toPublish []string) (again []string, lastErr, err error) {
	futs := make([]jetstream.PubAckFuture, 0, len(toPublish))
	for _, km := range toPublish {
		k, id, _ := strings.Cut(km, "\x00")
		f, err := q.js.PublishAsync(q.subject+"."+batch, []byte(k), jetstream.WithMsgID(id))
		if err != nil {
			return nil, nil, &Error{Op: "submit " + batch, Err: err}
		}
		futs = append(futs, f)
	}
	return q.unacked(ctx, toPublish, futs)
}

// unacked waits (a minute at most) for the acknowledgements of the
// messages published as futs (nil: not published), and returns the
// messages not acknowledged, with the last refusal; err is ctx's end.
func (q *Queue) unacked(ctx context.Context, msgs []string, futs []jetstream.PubAckFuture) (again []string, lastErr, err error) {
	select {
	case <-q.js.PublishAsyncComplete():
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-time.After(time.Minute):
	}
	for i, f := range futs {
		if f == nil {
			again = append(again, msgs[i])
			continue
		}
		select {
		case <-f.Ok():
		case lastErr = <-f.Err():
			again = append(again, msgs[i])
		default:
			again = append(again, msgs[i])
		}
	}
	return again, lastErr, nil
}

// sourceHash is a cached SHA-256 of an S3 object, valid while its ETag
// and size are the same.
type sourceHash struct {
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// sourceKey is an S3 source's key in the sources bucket.
func sourceKey(src string) string {
	sum := sha256.Sum256([]byte(src))
	return hex.EncodeToString(sum[:16])
}

// hashSource returns a source's SHA-256: for an S3 object whose ETag and
// size match a cached hash, that one (a HEAD, not a read of the whole
// object: resubmitting or collecting a batch of S3 recordings reads none
// of them again); else it streams the bytes.
func (q *Queue) hashSource(ctx context.Context, srcs *Sources, src string) (string, error) {
	if !IsS3(src) {
		sha, _, err := srcs.Hash(ctx, src)
		return sha, err
	}
	etag, size, err := srcs.Stat(ctx, src)
	if err != nil {
		return "", err
	}
	key := sourceKey(src)
	if e, err := q.sources.Get(ctx, key); err == nil {
		var c sourceHash
		if json.Unmarshal(e.Value(), &c) == nil && etag != "" && c.ETag == etag && c.Size == size && c.SHA256 != "" {
			return c.SHA256, nil
		}
	}
	sha, n, err := srcs.Hash(ctx, src)
	if err != nil {
		return "", err
	}
	if n == size && etag != "" {
		b, _ := json.Marshal(sourceHash{ETag: etag, Size: size, SHA256: sha})
		q.sources.Put(ctx, key, b) // best effort: a miss only reads again
	}
	return sha, nil
}

// sourceOf is where a row's recording is read from: an s3:// URL as
// written, else the path resolved against the manifest.
func sourceOf(r pipeline.Row) string {
	if IsS3(r.File) {
		return r.File
	}
	return r.Path
}
