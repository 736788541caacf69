package queue

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/prep-audio/prep/pkg/pipeline"
)

// Wait follows the submission's rows until every valid one is settled
// (sent, failed or unknown) or ctx ends, calling progress every `every`
// (and once at the end, Final set), and returns the batch's result —
// the same report a local batch gives. Rows not settled when ctx ends are
// reported skipped ("not finished"): they stay queued for the workers.
func (q *Queue) Wait(ctx context.Context, sub *Submission, every time.Duration, progress func(pipeline.Progress)) (*pipeline.BatchResult, error) {
	if every <= 0 {
		every = time.Second
	}
	state := map[string]*Row{}
	want := map[string]bool{}
	for _, sr := range sub.Rows {
		if sr.Err == nil {
			want[rowKV(sub.Batch, sr.Key)] = true
		}
	}
	terminal := func(k string) bool { r := state[k]; return r != nil && r.State.Terminal() }
	settled := func() int {
		n := 0
		for k := range want {
			if terminal(k) {
				n++
			}
		}
		return n
	}
	// Workers announce each settled row on a plain subject (no consumer
	// to keep alive across server restarts and leader changes); a sweep
	// of the rows not yet settled, with plain gets, catches what was
	// missed meanwhile.
	events := make(chan *nats.Msg, 4096)
	subn, err := q.nc.ChanSubscribe(q.cfg.Prefix+".done."+sub.Batch, events)
	if err != nil {
		return nil, &Error{Op: "follow " + sub.Batch, Err: err}
	}
	defer subn.Unsubscribe()
	q.sweep(ctx, state, want, 0)
	t := time.NewTicker(every)
	defer t.Stop()
	lastSweep := time.Now()
	// n is settled(), kept up to date by each event (counting all the
	// rows again for each one made following a batch quadratic).
	n := settled()
	set := func(k string, r *Row) {
		was := terminal(k)
		state[k] = r
		if is := terminal(k); is && !was {
			n++
		} else if was && !is {
			n--
		}
	}
	for n < len(want) {
		select {
		case m := <-events:
			k := string(m.Data)
			if !want[k] {
				continue
			}
			// The row as its worker stored it, else read back.
			if r, ok := announced(m, sub.Batch, k); ok {
				set(k, r)
			} else if e, err := getWithin(ctx, q.rows, k); err == nil {
				var r Row
				if json.Unmarshal(e.Value(), &r) == nil {
					set(k, &r)
				}
			}
		case <-t.C:
			if progress != nil {
				progress(q.progress(sub, state, false))
			}
			if time.Since(lastSweep) > 3*time.Second {
				q.sweep(ctx, state, want, 2000)
				lastSweep = time.Now()
				n = settled()
			}
		case <-ctx.Done():
			return q.result(context.WithoutCancel(ctx), sub, state, true, progress), nil
		}
	}
	return q.result(ctx, sub, state, false, progress), nil
}

// announced is the row an announcement carries (see rowHeader), when it
// carries the row of key k in batch.
func announced(m *nats.Msg, batch, k string) (*Row, bool) {
	h := m.Header.Get(rowHeader)
	if h == "" {
		return nil, false
	}
	var r Row
	if json.Unmarshal([]byte(h), &r) != nil || r.Batch != batch || rowKV(r.Batch, r.Key) != k {
		return nil, false
	}
	return &r, true
}

// sweep reads (at most limit, 0: all of) the rows not yet settled with
// plain gets.
func (q *Queue) sweep(ctx context.Context, state map[string]*Row, want map[string]bool, limit int) {
	var keys []string
	for k := range want {
		if r := state[k]; r != nil && r.State.Terminal() {
			continue
		}
		if keys = append(keys, k); limit > 0 && len(keys) >= limit {
			break
		}
	}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(16)
	for _, k := range keys {
		g.Go(func() error {
			e, err := getWithin(ctx, q.rows, k)
			if err != nil {
				return nil
			}
			var r Row
			if json.Unmarshal(e.Value(), &r) == nil {
				mu.Lock()
				state[k] = &r
				mu.Unlock()
			}
			return nil
		})
	}
	g.Wait()
}

func (q *Queue) progress(sub *Submission, state map[string]*Row, final bool) pipeline.Progress {
	pg := pipeline.Progress{Total: len(sub.Rows), Elapsed: time.Since(sub.Start), Final: final}
	for _, sr := range sub.Rows {
		if sr.Err != nil {
			pg.Invalid++
			continue
		}
		r := state[rowKV(sub.Batch, sr.Key)]
		if r == nil {
			continue
		}
		switch r.State {
		case StateSent:
			pg.Sent++
		case StateFailed:
			pg.Failed++
		case StateUnknown:
			pg.Unknown++
		}
	}
	pg.Done = pg.Sent + pg.Failed + pg.Unknown + pg.Invalid
	if sec := pg.Elapsed.Seconds(); sec > 0 {
		pg.Rate = float64(pg.Done) / sec
	}
	if pg.Rate > 0 && pg.Done < pg.Total {
		pg.ETA = time.Duration(float64(pg.Total-pg.Done) / pg.Rate * float64(time.Second))
	}
	return pg
}

// result builds the report from the rows' states.
func (q *Queue) result(ctx context.Context, sub *Submission, state map[string]*Row, interrupted bool, progress func(pipeline.Progress)) *pipeline.BatchResult {
	res := &pipeline.BatchResult{Summary: pipeline.Summary{Rows: len(sub.Rows), Counts: map[pipeline.Status]int{}, Distinct: sub.Distinct}}
	recs := map[string]bool{}
	for _, sr := range sub.Rows {
		r := sr.Row
		rr := pipeline.RowResult{Row: r.Line, To: r.To, File: r.File, Provider: r.Provider, Profile: r.Profile, SHA256: sr.SHA, Key: sr.Key}
		switch st := state[rowKV(sub.Batch, sr.Key)]; {
		case sr.Err != nil:
			rr.Status, rr.Error = pipeline.StatusInvalid, sr.Err.Error()
		case st == nil:
			rr.Status, rr.Error = pipeline.StatusSkipped, "not finished (still queued)"
		default:
			rr.MessageID = strings.Join(st.IDs, ";")
			rr.Media = strings.Join(st.Media, ";")
			rr.Error = st.Error
			rr.Timing = st.Timing
			rr.Resumed = !st.Queued.IsZero() && st.Queued.Before(sub.Start)
			switch st.State {
			case StateSent:
				rr.Status, rr.Error = pipeline.StatusSent, ""
			case StateFailed:
				rr.Status = pipeline.StatusFailed
			case StateUnknown:
				rr.Status = pipeline.StatusUnknown
			default:
				rr.Status, rr.Error = pipeline.StatusSkipped, "not finished (still "+string(st.State)+")"
			}
			res.Summary.Messages += len(st.IDs)
			res.Summary.Stages.Send += st.Timing.Send
			recs[ContentKey(sr.SHA, r.Profile)] = true
		}
		res.Summary.Counts[rr.Status]++
		res.Rows = append(res.Rows, rr)
	}
	// The recordings' figures are best effort: read 16 at once, and stop
	// at the first read the server does not answer (it is away: a
	// stopped submitter must not wait opTimeout per recording).
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(16)
	for ck := range recs {
		g.Go(func() error {
			e, err := getWithin(rctx, q.recs, ck)
			if err != nil {
				if !errors.Is(err, jetstream.ErrKeyNotFound) {
					cancel()
				}
				return nil
			}
			var rec Recording
			if json.Unmarshal(e.Value(), &rec) != nil {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			res.Summary.Prepared += rec.Prepared
			for _, n := range rec.Uploads {
				res.Summary.Uploads += n
			}
			res.Summary.BytesBefore += rec.Bytes.Before
			res.Summary.BytesAfter += rec.Bytes.After
			res.Summary.Stages.Inspect += rec.Timing.Inspect
			res.Summary.Stages.Transcode += rec.Timing.Transcode
			res.Summary.Stages.Upload += rec.Timing.Upload
			return nil
		})
	}
	g.Wait()
	res.Summary.Wall = time.Since(sub.Start)
	res.Summary.Interrupted = interrupted
	if progress != nil {
		progress(q.progress(sub, state, true))
	}
	return res
}
