package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// WorkerOptions configure a worker.
type WorkerOptions struct {
	// ID names the worker in claims and "sending" rows; default
	// host-pid-random. Two processes must never share one.
	ID string
	// Jobs is how many recordings it prepares (transcodes) at once;
	// default runtime.NumCPU().
	Jobs int
	// Concurrency is how many rows it holds at once (waiting for media or
	// sending); default 256. Rows wait for the recordings they need while
	// the worker prepares them (Jobs at a time), so it holds many more
	// rows than it sends: with 32, a manifest interleaving 20 recordings
	// sent almost nothing until nearly every recording was prepared.
	Concurrency int
	// Sends is how many of the rows it holds it sends at once (from
	// storing "sending" to storing the outcome); default 32.
	Sends int
	// Sources reads recordings (default: local files only).
	Sources *Sources
	// TempDir holds work directories; default os.TempDir().
	TempDir string
	// Account names a provider account for the shared rate buckets
	// (default: the provider's name; give distinct names to distinct
	// accounts of one provider). It must not contain secrets.
	Account func(send.Provider) string
	// Logf, when set, receives one line per notable event.
	Logf func(format string, args ...any)
}

// Worker takes rows from a queue and runs them through Stages.
type Worker struct {
	q      *Queue
	stages Stages
	opts   WorkerOptions
	id     string
	// prep bounds the recordings this worker prepares at once (Jobs).
	prep *semaphore.Weighted
	// sends bounds the rows it sends at once (Sends).
	sends *semaphore.Weighted
	lim   *limiter

	mu       sync.Mutex
	inflight map[string]bool
	// preparing holds the recordings (content keys) this worker is
	// claiming or preparing now. A claim in the bucket under this
	// worker's id that is not here is one whose answer was lost: nothing
	// prepares it, so the worker takes it again instead of waiting for
	// itself. The channel is closed when the preparation ends.
	preparing map[string]chan struct{}
	// known is the last state read or written of each row this worker
	// holds, with its revision: a compare-and-set starts from it instead
	// of reading the row again (one round trip fewer; a stale one only
	// loses the race and reads).
	known       map[string]knownRow
	mediaCache  sync.Map // content key + "|" + media key (destination and account) → mediaEntry
	cacheStores atomic.Int64
	alive       func(ctx context.Context, id string) bool
	aliveAt     map[string]time.Time
	specs       map[string]*BatchSpec

	stats struct {
		claims, prepared, messages, rows atomic.Int64
	}
}

// WorkerStats are a worker's counts since it started.
type WorkerStats struct {
	Claims   int64 `json:"claims"`   // recording claims taken
	Prepared int64 `json:"prepared"` // recordings prepared and uploaded
	Messages int64 `json:"messages"` // send requests answered with a message id
	Rows     int64 `json:"rows"`     // rows finished (any outcome)
}

// NewWorker makes a worker of q running st.
func (q *Queue) NewWorker(st Stages, opts WorkerOptions) *Worker {
	if opts.ID == "" {
		host, _ := os.Hostname()
		opts.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	opts.ID = BatchName(opts.ID)
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.NumCPU()
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 256
	}
	if opts.Sends <= 0 {
		opts.Sends = 32
	}
	if opts.Sources == nil {
		opts.Sources = &Sources{}
	}
	if opts.Account == nil {
		opts.Account = func(p send.Provider) string { return string(p) }
	}
	w := &Worker{q: q, stages: st, opts: opts, id: opts.ID, prep: semaphore.NewWeighted(int64(opts.Jobs)), sends: semaphore.NewWeighted(int64(opts.Sends)),
		lim: newLimiter(q), inflight: map[string]bool{}, preparing: map[string]chan struct{}{}, known: map[string]knownRow{},
		aliveAt: map[string]time.Time{}, specs: map[string]*BatchSpec{}}
	w.alive = w.isAlive
	return w
}

// ID is the worker's id.
func (w *Worker) ID() string { return w.id }

// Stats returns the worker's counts.
func (w *Worker) Stats() WorkerStats {
	return WorkerStats{Claims: w.stats.claims.Load(), Prepared: w.stats.prepared.Load(),
		Messages: w.stats.messages.Load(), Rows: w.stats.rows.Load()}
}

func (w *Worker) logf(format string, args ...any) {
	if w.opts.Logf != nil {
		w.opts.Logf(format, args...)
	}
}

// Run takes rows until ctx ends, then hands back what it holds: rows
// waiting for media or for their turn are released for other workers
// (their messages are nak'd), recordings being prepared are abandoned and
// their claims released, and sends already in flight are finished and
// their outcome stored. Cancelling hard as well abandons the sends in
// flight (their rows become unknown). Run returns when every held row is
// settled.
func (w *Worker) Run(ctx, hard context.Context) error {
	hb := w.q.workers
	beat := func() error {
		// Beats go on while a stopping worker finishes its sends, until
		// it is stopped hard.
		bctx, cancel := context.WithTimeout(hard, opTimeout)
		defer cancel()
		_, err := hb.Put(bctx, w.id, []byte(time.Now().UTC().Format(time.RFC3339Nano)))
		return err
	}
	if err := beat(); err != nil {
		return &Error{Op: "register worker", Err: err}
	}
	hbDone := make(chan struct{})
	hbStopped := make(chan struct{})
	go func() {
		defer close(hbStopped)
		t := time.NewTicker(w.q.cfg.WorkerTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-hbDone:
				return
			case <-t.C:
				if err := beat(); err != nil {
					w.logf("heartbeat: %v", err)
				}
			}
		}
	}()
	defer func() {
		close(hbDone)
		<-hbStopped
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		hb.Delete(dctx, w.id) // gone at once: others need not wait for the TTL
		cancel()
	}()

	// free counts the handlers not holding a row: as many rows are
	// fetched as there are free ones (at least one).
	free := semaphore.NewWeighted(int64(w.opts.Concurrency))
	var g errgroup.Group
	for ctx.Err() == nil {
		if free.Acquire(ctx, 1) != nil {
			continue // stopping
		}
		n := 1
		for n < w.opts.Concurrency && free.TryAcquire(1) {
			n++
		}
		got, err := w.fetch(ctx, n, func(msg jetstream.Msg) {
			g.Go(func() error {
				defer free.Release(1)
				w.handle(ctx, hard, msg)
				return nil
			})
		})
		free.Release(int64(n - got))
		if err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			w.logf("fetch: %v", err)
			sleep(ctx, 250*time.Millisecond) // the server is away: try again
		}
	}
	// Held rows are handed back (ctx ended), sends in flight finish.
	g.Wait()
	return nil
}

// fetch fetches up to n row messages (waiting 2 seconds at most), passing
// each to start, and returns how many it got.
func (w *Worker) fetch(ctx context.Context, n int, start func(jetstream.Msg)) (int, error) {
	// The context bounds the fetch even when the client's own expiry
	// timer keeps being reset.
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	batch, err := w.q.cons.Fetch(n, jetstream.FetchContext(fctx))
	if err != nil {
		return 0, err
	}
	got := 0
	for msg := range batch.Messages() {
		got++
		start(msg)
	}
	return got, batch.Error()
}

// action is what becomes of a row's message.
type action int

const (
	ack      action = iota // the row's outcome is stored (or there is nothing to do)
	handBack               // not done: deliver it again (soon)
	later                  // another worker may still finish it: deliver again after AckWait
)

// handle settles one row message, keeping it in progress meanwhile.
func (w *Worker) handle(ctx, hard context.Context, msg jetstream.Msg) {
	stop := make(chan struct{})
	var hbWG sync.WaitGroup
	hbWG.Add(1)
	go func() {
		defer hbWG.Done()
		t := time.NewTicker(w.q.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				msg.InProgress()
			}
		}
	}()
	key := string(msg.Data())
	last := false
	if md, err := msg.Metadata(); err == nil && md.NumDelivered >= uint64(w.q.cfg.MaxDeliver) {
		last = true
	}
	a := w.process(ctx, hard, key, last)
	close(stop)
	hbWG.Wait()
	switch a {
	case ack:
		msg.Ack()
	case handBack:
		msg.NakWithDelay(200 * time.Millisecond)
	case later:
		msg.NakWithDelay(w.q.cfg.AckWait)
	}
}

// process runs one row; see handle.
func (w *Worker) process(ctx, hard context.Context, key string, last bool) action {
	w.mu.Lock()
	if w.inflight[key] {
		w.mu.Unlock()
		return later // a second message for a row this worker is on
	}
	w.inflight[key] = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.inflight, key)
		delete(w.known, key)
		w.mu.Unlock()
	}()

	row, err := w.getRow(ctx, key)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return ack // nothing to do
		}
		return handBack
	}
	switch row.State {
	case StateSent, StateFailed, StateUnknown:
		return ack
	case StateSending:
		if row.Worker != w.id && w.alive(ctx, row.Worker) && !last {
			return later
		}
		// Its worker is gone (or this worker restarted) with the request
		// maybe out: in doubt, never resent by itself.
		attempt := row.Attempt
		_, _, err := w.updateRow(ctx, key, func(r *Row, exists bool) error { // from the row just read
			if !exists || r.State != StateSending || r.Attempt != attempt {
				return errConflict
			}
			r.State, r.Updated = StateUnknown, time.Now().UTC()
			r.Error = fmt.Sprintf("the worker sending it (%s) stopped before the provider's answer was stored: it may have been delivered", r.Worker)
			return nil
		})
		if err != nil && !errors.Is(err, errConflict) {
			w.logf("row %s: unknown: %v", key, err)
			return handBack
		}
		w.stats.rows.Add(1)
		return ack
	}
	// queued
	media, err := w.media(ctx, hard, row)
	if err != nil {
		if ctx.Err() != nil {
			return w.giveBack(hard, key, last, "the worker stopped before sending")
		}
		var re *RecordingError
		if !errors.As(err, &re) {
			if !last {
				return handBack
			}
		}
		w.finishRow(hard, key, "", func(r *Row) {
			// Only a row still queued: another worker may have sent it (or
			// be sending it) meanwhile — its message delivered again while
			// this one waited — and a "failed" row is sent again when
			// resubmitted.
			if r.State == StateQueued {
				r.State, r.Error = StateFailed, err.Error()
			}
		})
		return ack
	}
	if w.sends.Acquire(ctx, 1) != nil {
		return w.giveBack(hard, key, last, "the worker stopped before sending")
	}
	defer w.sends.Release(1)
	return w.sendRow(ctx, hard, key, media, last)
}

// giveBack hands a row back (or, on its last delivery, fails it so it can
// be resubmitted).
func (w *Worker) giveBack(hard context.Context, key string, last bool, why string) action {
	if !last {
		return handBack
	}
	w.finishRow(hard, key, "", func(r *Row) {
		if r.State == StateQueued {
			r.State, r.Error = StateFailed, why+" (the last of its deliveries; resubmitting retries it)"
		}
	})
	return ack
}

// readBack reads a row whose last write's answer was lost, trying again
// for as long as finishRow would (2 minutes) while the server does not
// answer, or until ctx ends.
func (w *Worker) readBack(ctx context.Context, key string) (*Row, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	for {
		r, err := w.getRow(rctx, key)
		if err == nil || !transient(err) || ctx.Err() != nil || rctx.Err() != nil {
			return r, err
		}
		w.logf("row %s: reading it back: %v (trying again)", key, err)
		sleep(rctx, 200*time.Millisecond)
	}
}

func (w *Worker) getRow(ctx context.Context, key string) (*Row, error) {
	e, err := getWithin(ctx, w.q.rows, key)
	if err != nil {
		return nil, err
	}
	var r Row
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, err
	}
	w.remember(key, r, e.Revision())
	return &r, nil
}

type knownRow struct {
	row Row
	rev uint64
}

func (w *Worker) remember(key string, r Row, rev uint64) {
	w.mu.Lock()
	if w.inflight[key] {
		w.known[key] = knownRow{r, rev}
	}
	w.mu.Unlock()
}

// cachedRow is the row as this worker last read or wrote it, else read.
func (w *Worker) cachedRow(ctx context.Context, key string) (*Row, error) {
	w.mu.Lock()
	k, ok := w.known[key]
	w.mu.Unlock()
	if ok {
		r := k.row
		return &r, nil
	}
	return w.getRow(ctx, key)
}

// updateRow is update on the rows bucket, starting from the row this
// worker knows (no read) when it has one (updateFrom).
func (w *Worker) updateRow(ctx context.Context, key string, f func(r *Row, exists bool) error) (Row, uint64, error) {
	w.mu.Lock()
	k := w.known[key] // revision 0 when not known: read first
	delete(w.known, key)
	w.mu.Unlock()
	v, nrev, err := updateFrom(ctx, w.q.rows, key, k.row, k.rev, f)
	if err == nil {
		w.remember(key, v, nrev)
	}
	return v, nrev, err
}

// finishRow stores a row's outcome with compare-and-set, for as long as it
// takes the server to come back (2 minutes at most, or hardGrace once hard
// is done: a second signal ends the worker even with its server away; a
// "sending" left behind becomes unknown, never sent again): f changes the
// row read; attempt, when set, must still be the row's (another worker's
// change is never overwritten).
func (w *Worker) finishRow(hard context.Context, key, attempt string, f func(r *Row)) error {
	ctx, cancel := outcomeContext(hard)
	defer cancel()
	for {
		stored, _, err := w.updateRow(ctx, key, func(r *Row, exists bool) error {
			if !exists || (attempt != "" && r.Attempt != attempt) {
				return errConflict
			}
			if attempt != "" && r.State != StateSending && r.State != StateUnknown {
				// Already stored (a write whose answer was lost): applying
				// it again would add the message id twice. An "unknown"
				// set by another worker that thought this one dead is
				// overwritten by the truth.
				return errConflict
			}
			f(r)
			r.Updated = time.Now().UTC()
			return nil
		})
		if err == nil || errors.Is(err, errConflict) {
			if err == nil {
				w.stats.rows.Add(1)
				w.announce(key, &stored)
			}
			return err
		}
		if ctx.Err() != nil {
			w.logf("row %s: could not store its outcome: %v", key, err)
			return err
		}
		w.logf("row %s: storing its outcome: %v (trying again)", key, err)
		sleep(ctx, 200*time.Millisecond)
	}
}

// hardGrace is how long an outcome is still tried for once the worker is
// stopped hard: one attempt's worth when the server answers.
const hardGrace = 2 * time.Second

// outcomeContext bounds storing an outcome: 2 minutes, and no more than
// hardGrace after hard is done (at once when it already is).
func outcomeContext(hard context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	stop := context.AfterFunc(hard, func() {
		t := time.AfterFunc(hardGrace, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	return ctx, func() { stop(); cancel() }
}

// batchSpec returns (and caches) a batch's spec; an error when it could
// not be read (a batch with no spec stored has an empty one).
func (w *Worker) batchSpec(ctx context.Context, batch string) (*BatchSpec, error) {
	w.mu.Lock()
	s := w.specs[batch]
	w.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s = &BatchSpec{}
	e, err := getWithin(ctx, w.q.batches, batch)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("batch %s: reading its settings: %w", batch, err)
	}
	if err := json.Unmarshal(e.Value(), s); err != nil {
		return nil, fmt.Errorf("batch %s: its settings: %w", batch, err)
	}
	w.mu.Lock()
	w.specs[batch] = s
	w.mu.Unlock()
	return s, nil
}

// sendRow sends the row's parts not yet sent, each "sending" first.
func (w *Worker) sendRow(ctx, hard context.Context, key string, media []upload.Ref, last bool) action {
	refs := make([]string, len(media))
	for i, m := range media {
		refs[i] = refOf(m)
	}
	for {
		row, a, f := w.nextPart(ctx, hard, key, len(media), last)
		if f == stepDone {
			return a
		}
		if err := w.takeTurn(ctx, row); err != nil {
			if ctx.Err() == nil {
				// The batch's rate is not known: hand the row back rather
				// than send it at the default rate.
				w.logf("row %s: %v (handed back)", key, err)
				return w.giveBack(hard, key, last, err.Error())
			}
			return w.giveBack(hard, key, last, "the worker stopped before sending")
		}
		p := sendPart{key: key, i: len(row.IDs), parts: len(media), attempt: uuid.NewString(),
			clientID: w.clientID(row, len(row.IDs))}
		a, f = w.markSending(ctx, hard, p, refs, last)
		if f == stepDone {
			return a
		}
		if f == stepAgain {
			continue // changed meanwhile: look again
		}
		t0 := time.Now()
		rc, err := w.sendOne(hard, row, media[p.i], p.clientID)
		a, f = w.storeSent(hard, p, rc, err, time.Since(t0))
		if f == stepDone {
			return a
		}
	}
}

// flow is what sendRow does after one of its steps.
type flow int

const (
	stepOn    flow = iota // on to the next step
	stepAgain             // look at the row again
	stepDone              // return the step's action
)

// sendPart is one attempt at sending one part of a row.
type sendPart struct {
	key      string
	i, parts int    // the part (from 0), of so many
	attempt  string // this attempt's id, in the row while "sending"
	clientID string // the client message id sent ("" if the provider has none)
}

// nextPart reads the row (as this worker knows it) to send its next part:
// stepDone when there is none left (the row is then stored sent) or it
// cannot be read or is settled meanwhile.
func (w *Worker) nextPart(ctx, hard context.Context, key string, parts int, last bool) (*Row, action, flow) {
	row, err := w.cachedRow(ctx, key)
	if err != nil {
		if ctx.Err() != nil {
			return nil, w.giveBack(hard, key, last, "the worker stopped before sending"), stepDone
		}
		return nil, handBack, stepDone
	}
	if row.State != StateQueued {
		return nil, ack, stepDone // someone else settled it meanwhile
	}
	if len(row.IDs) >= parts {
		w.finishRow(hard, key, "", func(r *Row) {
			if r.State == StateQueued {
				r.State = StateSent
			}
		})
		return nil, ack, stepDone
	}
	return row, ack, stepOn
}

// takeTurn waits for the row's turn in its provider account's rate (the
// batch's, or the default); an error is ctx's end, or the batch's spec
// not read.
func (w *Worker) takeTurn(ctx context.Context, row *Row) error {
	spec, err := w.batchSpec(ctx, row.Batch)
	if err != nil {
		return err
	}
	rate := spec.Rate[row.Provider]
	if rate <= 0 {
		rate = DefaultRate(row.Provider)
	}
	return w.lim.take(ctx, string(row.Provider)+"."+BatchName(w.opts.Account(row.Provider)), rate)
}

// clientID is the client message id for part i of row: a new one, or the
// in-doubt request's id stepAgain when the row is resent.
func (w *Worker) clientID(row *Row, i int) string {
	if row.Resend && row.ClientID != "" && row.Part == i {
		return row.ClientID
	}
	return w.stages.NewMessageID(row.Provider)
}

// markSending stores the row "sending" part p by this worker before the
// request leaves: stepAgain when the row changed meanwhile; stepDone
// when it is not (or not known to be) this worker's to send.
func (w *Worker) markSending(ctx, hard context.Context, p sendPart, refs []string, last bool) (action, flow) {
	_, _, err := w.updateRow(ctx, p.key, func(r *Row, exists bool) error {
		if !exists || r.State != StateQueued || len(r.IDs) != p.i {
			return errConflict
		}
		r.State, r.Worker, r.Attempt, r.Part, r.Parts = StateSending, w.id, p.attempt, p.i, p.parts
		r.ClientID, r.Media, r.Updated = p.clientID, refs, time.Now().UTC()
		return nil
	})
	switch {
	case err == nil:
		return ack, stepOn
	case errors.Is(err, errConflict):
		return ack, stepAgain
	}
	// Unknown whether "sending" was stored: look, until the server answers
	// (a lost answer comes with a leader change, and the read right after
	// it fails too). Giving up would leave a "sending" that landed under
	// this live worker with no request out: the row would wait out its
	// deliveries and end unknown, never sent.
	r, gerr := w.readBack(ctx, p.key)
	if gerr != nil || r.Attempt != p.attempt {
		if ctx.Err() != nil {
			return w.giveBack(hard, p.key, last, "the worker stopped before sending"), stepDone
		}
		return handBack, stepDone // not ours: nothing left
	}
	return ack, stepOn
}

// sendOne sends one part of row: an answer without a message id is in
// doubt.
func (w *Worker) sendOne(hard context.Context, row *Row, m upload.Ref, clientID string) (*send.Receipt, error) {
	req := SendRequest{Provider: row.Provider, To: row.To, MediaID: m.MediaID, Voice: row.Profile == transcode.ProfileVoice,
		CallbackData: row.CallbackData, MessageID: clientID}
	if row.Provider != send.Infobip {
		// As the local batch: Meta and 360dialog echo the row's key
		// in their statuses (biz_opaque_callback_data), so a status
		// receiver finds the row even when its send is in doubt.
		req.CallbackData = row.Key
	}
	if req.MediaID == "" {
		req.Link = m.FetchURL()
		// The recordings bucket keeps an object's key, not its presigned
		// URL (a credential): the stages make that again.
		if l, ok := w.stages.(Linker); ok && m.Link == "" && m.Key != "" {
			link, err := l.FetchURL(hard, m)
			if err != nil {
				return nil, err
			}
			req.Link = link
		}
	}
	rc, err := w.stages.Send(hard, req)
	if err == nil && (rc == nil || rc.MessageID == "") {
		err = &send.InDoubtError{Provider: row.Provider, To: row.To, MessageID: clientID, Err: errors.New("the provider answered without a message id")}
	}
	return rc, err
}

// storeSent stores the outcome of part p's send (which took d): the
// message id, the row unknown (in doubt, or cut off by hard), or failed.
// stepAgain when a next part is to be sent.
func (w *Worker) storeSent(hard context.Context, p sendPart, rc *send.Receipt, err error, d time.Duration) (action, flow) {
	msgOf := func(err error) string {
		m := err.Error()
		if p.parts > 1 {
			m = fmt.Sprintf("part %d of %d: %s", p.i+1, p.parts, m)
		}
		return m
	}
	switch {
	case err == nil:
		w.stats.messages.Add(1)
		err := w.finishRow(hard, p.key, p.attempt, func(r *Row) {
			r.IDs = append(r.IDs, rc.MessageID)
			r.Timing.Send += d
			r.Error, r.Resend = "", false
			if len(r.IDs) >= p.parts {
				r.State = StateSent
			} else {
				r.State = StateQueued // the next part
			}
		})
		switch {
		case errors.Is(err, errConflict):
			// Changed meanwhile, or stored by a write whose answer was
			// lost (the row is then "queued" for the next part): look at
			// the row again, and nextPart decides.
			return ack, stepAgain
		case err != nil:
			// The outcome could not be stored: leave the message (the row
			// stays "sending": in doubt once this worker is gone).
			w.logf("row %s: sent as %s, but that could not be stored: %v", p.key, rc.MessageID, err)
			return later, stepDone
		case p.i+1 < p.parts:
			return ack, stepAgain
		}
		return ack, stepDone
	case isInDoubt(err) || hard.Err() != nil:
		m := msgOf(err)
		if p.clientID != "" {
			m += " (client messageId " + p.clientID + ")"
		}
		w.finishRow(hard, p.key, p.attempt, func(r *Row) {
			r.State, r.Error, r.Timing.Send = StateUnknown, m, r.Timing.Send+d
		})
		return ack, stepDone
	default:
		w.finishRow(hard, p.key, p.attempt, func(r *Row) {
			r.State, r.Error, r.Timing.Send = StateFailed, msgOf(err), r.Timing.Send+d
		})
		return ack, stepDone
	}
}

// rowHeader is the header of an announcement that carries the row as the
// worker stored it (JSON), so that a submitter need not read it back (an
// announcement without it, from an older worker, is read back; an older
// submitter reads the key and ignores the header).
const rowHeader = "Prep-Row"

// announce tells submitters waiting for the row's batch that it changed:
// the row's key, and the row as stored (nil: not known).
func (w *Worker) announce(key string, stored *Row) {
	batch, _, ok := strings.Cut(key, ".")
	if !ok {
		return
	}
	m := nats.NewMsg(w.q.cfg.Prefix + ".done." + batch)
	m.Data = []byte(key)
	if stored != nil {
		if b, err := json.Marshal(stored); err == nil {
			m.Header.Set(rowHeader, string(b))
		}
	}
	w.q.nc.PublishMsg(m)
}

// isInDoubt reports whether a send error leaves its outcome unknown.
func isInDoubt(err error) bool {
	var sd *send.InDoubtError
	return errors.As(err, &sd)
}

// isAlive reports whether a worker's liveness key exists (cached 500 ms).
func (w *Worker) isAlive(ctx context.Context, id string) bool {
	if id == "" {
		return false
	}
	if id == w.id {
		return true
	}
	w.mu.Lock()
	at, ok := w.aliveAt[id]
	w.mu.Unlock()
	if ok && time.Since(at) < 500*time.Millisecond {
		return true
	}
	_, err := getWithin(ctx, w.q.workers, id)
	if err == nil {
		w.mu.Lock()
		w.aliveAt[id] = time.Now()
		w.mu.Unlock()
		return true
	}
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false
	}
	return true // cannot tell (the server is away): assume alive, look again later
}
