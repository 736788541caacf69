package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	if opts.Batch == "" {
		opts.Batch = m.Path
		if i := strings.LastIndexAny(opts.Batch, "/\\"); i >= 0 {
			opts.Batch = opts.Batch[i+1:]
		}
	}
	batch := BatchName(opts.Batch)
	if opts.Sources == nil {
		opts.Sources = &Sources{}
	}
	norm := opts.NormalizeTo
	if norm == nil {
		norm = send.NormalizePhone
	}
	sub := &Submission{Batch: batch, Manifest: m, Start: start, Rows: make([]SubmittedRow, len(m.Rows))}

	// 1. Recipients, then the content of every distinct source.
	tos := make([]string, len(m.Rows))
	srcs := map[string]*struct {
		sha string
		err error
	}{}
	for i, r := range m.Rows {
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
			srcs[sourceOf(r)] = &struct {
				sha string
				err error
			}{}
		}
	}
	var g errgroup.Group
	g.SetLimit(max(1, opts.Jobs, 4))
	for src, st := range srcs {
		g.Go(func() error {
			st.sha, st.err = q.hashSource(ctx, opts.Sources, src)
			return nil
		})
	}
	g.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// 2. Keys (as the journal's), destinations, recordings.
	seen := map[string]int{}
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
		base := strings.Join([]string{tos[i], string(r.Provider), string(r.Profile), r.CallbackData, st.sha}, "\x00")
		n := seen[base]
		seen[base] = n + 1
		sr.Key = RowKey(tos[i], r.Provider, r.Profile, r.CallbackData, st.sha, n)
		ck := ContentKey(st.sha, r.Profile)
		d := pipeline.Destination(r.Provider, opts.Link)
		if !slices.Contains(want[ck], d) {
			want[ck] = append(want[ck], d)
		}
		if _, ok := recSrc[ck]; !ok {
			recSrc[ck] = *sr
		}
	}
	sub.Distinct = len(want)

	spec := BatchSpec{Name: batch, Manifest: m.Path, Rows: len(m.Rows), Rate: opts.Rate, Submitted: time.Now().UTC()}
	b, _ := json.Marshal(spec)
	if _, err := retry(ctx, func() (uint64, error) { return q.batches.Put(ctx, batch, b) }); err != nil {
		return nil, &Error{Op: "submit " + batch, Err: err}
	}
	for ck, dests := range want {
		sr := recSrc[ck]
		_, _, err := update(ctx, q.recs, ck, func(r *Recording, exists bool) error {
			if !exists {
				r.Content, r.SHA256, r.Profile = ck, sr.SHA, sr.Row.Profile
			}
			r.Source, r.Split = sourceOf(sr.Row), opts.Split
			for _, d := range dests {
				if !slices.Contains(r.Want, d) {
					r.Want = append(r.Want, d)
				}
			}
			r.Error = "" // a failed recording is tried again
			return nil
		})
		if err != nil {
			return nil, &Error{Op: "submit " + batch, Err: err}
		}
	}

	// 3. Rows, then their messages.
	var mu sync.Mutex
	var toPublish []string // key + "\x00" + message id
	g = errgroup.Group{}
	g.SetLimit(32)
	for i := range sub.Rows {
		sr := &sub.Rows[i]
		if sr.Err != nil {
			continue
		}
		r := sr.Row
		k := rowKV(batch, sr.Key)
		g.Go(func() error {
			publish := false
			var queued time.Time
			now := time.Now().UTC()
			_, _, err := update(ctx, q.rows, k, func(row *Row, exists bool) error {
				publish = false
				if exists {
					switch {
					case row.State == StateFailed, row.State == StateUnknown && opts.ResendUnknown:
						row.Resend = row.State == StateUnknown
						row.State, row.Error, row.Queued, row.Updated = StateQueued, "", now, now
						publish, queued = true, now
						return nil
					case row.State == StateQueued, row.State == StateSending:
						// Its message may be gone with a dead submitter:
						// again (deduplicated by the stream meanwhile).
						publish, queued = true, row.Queued
						return errWait
					}
					return errWait // sent, or unknown: left as they are
				}
				*row = Row{Batch: batch, Key: sr.Key, Line: r.Line, To: tos[i], File: r.File, Source: sourceOf(r),
					Provider: r.Provider, Profile: r.Profile, CallbackData: r.CallbackData, SHA256: sr.SHA,
					Dest: pipeline.Destination(r.Provider, opts.Link), Split: opts.Split,
					State: StateQueued, Queued: now, Updated: now, IDs: []string{}}
				publish, queued = true, now
				return nil
			})
			if err != nil && !errors.Is(err, errWait) {
				return err
			}
			if publish {
				mu.Lock()
				toPublish = append(toPublish, fmt.Sprintf("%s\x00%s.%d", k, k, queued.UnixNano()))
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, &Error{Op: "submit " + batch, Err: err}
	}
	sub.Queued = len(toPublish)
	// One message per row to do. The message id (the row and when it was
	// queued) deduplicates a resubmission within the stream's window (2
	// minutes); a duplicate past it is harmless (the row's state decides).
	for try := 0; len(toPublish) > 0; try++ {
		futs := make([]jetstream.PubAckFuture, 0, len(toPublish))
		for _, km := range toPublish {
			k, id, _ := strings.Cut(km, "\x00")
			f, err := q.js.PublishAsync(q.subject+"."+batch, []byte(k), jetstream.WithMsgID(id))
			if err != nil {
				return nil, &Error{Op: "submit " + batch, Err: err}
			}
			futs = append(futs, f)
		}
		select {
		case <-q.js.PublishAsyncComplete():
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Minute):
		}
		var again []string
		var lastErr error
		for i, f := range futs {
			select {
			case <-f.Ok():
			case lastErr = <-f.Err():
				again = append(again, toPublish[i])
			default:
				again = append(again, toPublish[i])
			}
		}
		if len(again) > 0 && try >= 5 {
			return nil, &Error{Op: "submit " + batch, Err: fmt.Errorf("%d messages not acknowledged: %v", len(again), lastErr)}
		}
		toPublish = again
	}
	return sub, nil
}

// sourceHash is a cached SHA-256 of an S3 object, valid while its ETag
// and size are the same.
type sourceHash struct {
	ETag   string `json:"etag"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
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
	sum := sha256.Sum256([]byte(src))
	key := hex.EncodeToString(sum[:16])
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
