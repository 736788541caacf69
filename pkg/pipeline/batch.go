package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// Status is a row's outcome in a batch report.
type Status string

// Row outcomes.
const (
	StatusSent    Status = "sent"    // every part accepted by the provider (now or in an earlier run)
	StatusFailed  Status = "failed"  // a stage failed or the provider refused; safe to retry (a rerun does)
	StatusUnknown Status = "unknown" // a send left and no answer came: maybe delivered; not resent
	StatusSkipped Status = "skipped" // not attempted (the batch was stopped, or the journal failed)
	StatusInvalid Status = "invalid" // the row is wrong (missing field, bad number, unreadable file)
)

// statuses lists the outcomes in report order.
func statuses() []Status {
	return []Status{StatusSent, StatusFailed, StatusUnknown, StatusSkipped, StatusInvalid}
}

// BatchOptions configure a batch.
type BatchOptions struct {
	// Journal is the journal file; "" runs without one (no resume, no
	// exactly-once across runs).
	Journal string
	// Jobs is the number of recordings prepared at once; default
	// runtime.NumCPU().
	Jobs int
	// SendWorkers is the number of concurrent sends per provider; default 8.
	// The senders' own rate limits apply on top.
	SendWorkers int
	// Rate caps messages per second per provider (0 or absent: no cap here).
	// A row waiting for its turn here is dropped by Stop.
	Rate map[send.Provider]float64
	// ResendUnknown resends rows whose earlier send is in doubt.
	ResendUnknown bool
	// CorruptInDoubt goes on over a journal with unreadable lines (other
	// than a torn last line), treating the rows they may have belonged to
	// as in doubt; without it such a journal stops the batch.
	CorruptInDoubt bool
	// Split cuts voice recordings too long for one note into several.
	Split bool
	// Link uploads to the link host (S3) for every provider.
	Link bool
	// NotifyURL is the notifyUrl Infobip sends carry: where Infobip posts
	// their delivery and seen reports (a status receiver). Meta and
	// 360dialog sends always carry the row's key as
	// biz_opaque_callback_data, which their statuses echo.
	NotifyURL string
	// Progress, when set, is called every ProgressEvery (default 1s) and
	// once at the end with Final set. Calls never overlap.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// RowResult is one manifest row's outcome.
type RowResult struct {
	Row      int               `json:"row"` // line number in the manifest
	To       string            `json:"to"`
	File     string            `json:"file"`
	Provider send.Provider     `json:"provider"`
	Profile  transcode.Profile `json:"profile,omitempty"`
	Status   Status            `json:"status"`
	// MessageID is the provider's id (several, joined with ";", for a split
	// recording).
	MessageID string `json:"message_id"`
	Error     string `json:"error"`
	// Media is the media id or URL sent (joined with ";" when split).
	Media  string `json:"media"`
	SHA256 string `json:"sha256,omitempty"`
	// Resumed is true when the outcome comes from an earlier run's journal.
	Resumed bool   `json:"resumed,omitempty"`
	Key     string `json:"key,omitempty"`
	Timing  Timing `json:"timing"`
	// Delivery is what became of the row's messages, from the status
	// webhooks (accepted, sent, delivered, read, played, failed, unknown;
	// "" when no status store was read). ErrorCode and Advice are the
	// provider's code and prep's advice when it failed.
	Delivery  string `json:"delivery,omitempty"`
	ErrorCode int    `json:"error_code,omitempty"`
	Advice    string `json:"advice,omitempty"`
}

// Summary totals a batch.
type Summary struct {
	Rows        int            `json:"rows"`
	Counts      map[Status]int `json:"counts"`
	Distinct    int            `json:"distinct_recordings"` // distinct (recording, profile) among valid rows
	Prepared    int            `json:"prepared"`            // recordings inspected and transcoded in this run
	Uploads     int            `json:"uploads"`             // uploads made in this run (reused ones included)
	Messages    int            `json:"messages"`            // send requests answered with a message id in this run
	BytesBefore int64          `json:"bytes_before"`        // sources of the recordings prepared
	BytesAfter  int64          `json:"bytes_after"`         // their outputs
	Stages      Timing         `json:"stages"`              // time summed per stage
	Wall        time.Duration  `json:"wall_ns"`
	Interrupted bool           `json:"interrupted,omitempty"`
	// Delivery counts rows per delivery (when a status store was read);
	// Pending is how many had not reached the state waited for when the
	// wait ended.
	Delivery map[string]int `json:"delivery,omitempty"`
	Pending  int            `json:"pending,omitempty"`
	// Error is a batch-level problem (the journal could not be written).
	Error string `json:"error,omitempty"`
}

// BatchResult is a batch's outcome: one RowResult per manifest row, in
// manifest order, and the summary.
type BatchResult struct {
	Rows    []RowResult `json:"rows"`
	Summary Summary     `json:"summary"`
}

// AllSent reports whether every row was sent.
func (r *BatchResult) AllSent() bool {
	for _, row := range r.Rows {
		if row.Status != StatusSent {
			return false
		}
	}
	return len(r.Rows) > 0
}

// Batch is one run over a manifest.
type Batch struct {
	p    *Pipeline
	m    *Manifest
	opts BatchOptions

	stopOnce sync.Once
	stopCh   chan struct{}
	tally    tally
}

// NewBatch prepares a run of m through p.
func (p *Pipeline) NewBatch(m *Manifest, opts BatchOptions) *Batch {
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.NumCPU()
	}
	if opts.SendWorkers <= 0 {
		opts.SendWorkers = 8
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = time.Second
	}
	return &Batch{p: p, m: m, opts: opts, stopCh: make(chan struct{})}
}

// Stop asks the batch to stop gracefully: no new row is started,
// transcodes in progress are abandoned, uploads and sends already in flight
// are finished and journaled (a rerun sends a journaled upload instead of
// uploading again). Rows not attempted are reported skipped. Safe to call
// from any goroutine, any number of times. To stop at once, cancel Run's
// context instead (in-flight sends then become unknown).
func (b *Batch) Stop() { b.stopOnce.Do(func() { close(b.stopCh) }) }

func (b *Batch) stopped() bool {
	select {
	case <-b.stopCh:
		return true
	default:
		return false
	}
}

// interrupted reports whether the batch was stopped or cancelled.
func (b *Batch) interrupted(ctx context.Context) bool { return b.stopped() || ctx.Err() != nil }

// rowRun is the working state of one row.
type rowRun struct {
	row     Row
	to      string
	sha     string
	size    int64 // of the source file, read with sha
	key     string
	dest    destination
	hist    *rowHistory
	media   []upload.Ref
	timing  Timing
	ids     []string
	status  Status
	err     string
	resumed bool
}

// Run runs the batch: the rows are checked and keyed, the journal says
// what is left, and the work goes through the stages — prepare (Jobs at
// once, shared by content), upload (per destination), send (per provider,
// SendWorkers at once, journal-guarded). It returns an error only when it
// could not start (the journal is locked, unwritable or damaged); row
// problems are in the result. Cancelling ctx stops at once.
func (b *Batch) Run(ctx context.Context) (*BatchResult, error) {
	start := time.Now()
	runs := b.checkRows(ctx)
	jg, err := b.openJournal(runs)
	if err != nil {
		return nil, err
	}
	defer jg.close()
	pl := b.plan(ctx, runs, jg)
	stopProgress := b.startProgress(len(runs), start)
	var st stats
	err = b.execute(ctx, pl, jg, &st)
	stopProgress()
	if cerr := jg.close(); cerr != nil {
		jg.fail(cerr)
	}
	if err != nil {
		return nil, err
	}
	res := b.result(runs, pl, jg, &st, start, b.interrupted(ctx))
	if b.opts.Progress != nil {
		b.opts.Progress(b.progress(len(runs), start, true))
	}
	return res, nil
}

// checkRows is the first stage: each row's recipient, provider and file
// (hashed, Jobs at once). Rows found wrong get their Err.
func (b *Batch) checkRows(ctx context.Context) []*rowRun {
	runs := make([]*rowRun, len(b.m.Rows))
	paths := map[string]fileSum{} // path → SHA-256 and size
	for i, r := range b.m.Rows {
		rr := &rowRun{row: r}
		runs[i] = rr
		if r.Err != nil {
			continue
		}
		to, err := send.NormalizePhone(r.To)
		if err != nil {
			rr.row.Err = err
			continue
		}
		rr.to = to
		if b.p.senders[r.Provider] == nil {
			rr.row.Err = fmt.Errorf("no sender configured for provider %s", r.Provider)
			continue
		}
		rr.dest = destFor(r.Provider, b.opts.Link)
		paths[r.Path] = fileSum{}
	}
	errs := b.hashFiles(ctx, paths)
	for _, rr := range runs {
		if rr.row.Err != nil {
			continue
		}
		if e := errs[rr.row.Path]; e != nil {
			rr.row.Err = fmt.Errorf("file %s: %v", rr.row.File, e)
			continue
		}
		rr.sha, rr.size = paths[rr.row.Path].sha, paths[rr.row.Path].size
	}
	assignKeys(runs)
	return runs
}

// fileSum is a source file's SHA-256 (lowercase hex) and size, read in
// one pass.
type fileSum struct {
	sha  string
	size int64
}

// hashFiles fills paths[p] with each file's SHA-256 and size, Jobs at
// once, and returns the errors by path. A stop leaves the rest without a
// hash.
func (b *Batch) hashFiles(ctx context.Context, paths map[string]fileSum) map[string]error {
	var mu sync.Mutex
	errs := map[string]error{}
	var g errgroup.Group
	g.SetLimit(max(2, b.opts.Jobs))
	// The workers write paths: range over a copy of its keys (ranging
	// over the map itself races with them, and Go may abort with
	// "concurrent map iteration and map write").
	keys := make([]string, 0, len(paths))
	for path := range paths {
		keys = append(keys, path)
	}
	for _, path := range keys {
		if b.interrupted(ctx) {
			break
		}
		g.Go(func() error {
			sum, size, err := hashFile(path)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = pe.Err // the row names the file already
				}
				errs[path] = err
				return nil
			}
			paths[path] = fileSum{sha: sum, size: size}
			return nil
		})
	}
	g.Wait()
	return errs
}

// journalGuard is the batch's Store: the journal (nil: none) with a
// sticky error, so no row is sent once the journal could not be written.
type journalGuard struct {
	j        *Journal
	hist     map[string]*rowHistory
	uploaded map[uploadKey][]upload.Ref

	broken atomic.Bool
	mu     sync.Mutex
	err    error
	closed bool
}

// openJournal opens the journal and reads what earlier runs did.
func (b *Batch) openJournal(runs []*rowRun) (*journalGuard, error) {
	jg := &journalGuard{hist: map[string]*rowHistory{}}
	if b.opts.Journal == "" {
		return jg, nil
	}
	j, recs, bad, err := openJournal(b.opts.Journal, true)
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 && !b.opts.CorruptInDoubt {
		j.Close()
		return nil, &JournalError{Path: b.opts.Journal, Line: bad[0].line, Err: ErrJournalCorrupt}
	}
	jg.j = j
	jg.hist = replayRows(recs)
	jg.uploaded = replayUploads(recs, time.Now())
	markUnreadable(jg.hist, bad, runs)
	jg.appendAsync(Record{State: StateRun, Error: fmt.Sprintf("%d rows", len(runs))})
	return jg, nil
}

// store is the Store the send step uses (nil without a journal).
func (g *journalGuard) store() Store {
	if g.j == nil {
		return nil
	}
	return g
}

// Append makes r durable; a failure is kept and stops later sends.
func (g *journalGuard) Append(r Record) error {
	if g.j == nil {
		return nil
	}
	err := g.j.Append(r)
	if err != nil {
		g.fail(err)
	}
	return err
}

// appendAsync queues a record whose loss in a crash is harmless.
func (g *journalGuard) appendAsync(r Record) {
	if g.j == nil {
		return
	}
	if err := g.j.AppendAsync(r); err != nil {
		g.fail(err)
	}
}

func (g *journalGuard) fail(err error) {
	g.broken.Store(true)
	g.mu.Lock()
	if g.err == nil {
		g.err = err
	}
	g.mu.Unlock()
}

func (g *journalGuard) close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.j == nil || g.closed {
		return nil
	}
	g.closed = true
	return g.j.Close()
}

func (g *journalGuard) error() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// work is one distinct recording (content and profile) with the rows that
// use it, by destination.
type work struct {
	rec   Recording
	size  int64
	rows  map[destination][]*rowRun
	dests []destination
}

func (w *work) allRows() []*rowRun {
	var all []*rowRun
	for _, d := range w.dests {
		all = append(all, w.rows[d]...)
	}
	return all
}

// plan is what is left to do: recordings to prepare (biggest first) and
// rows ready to send (an earlier run uploaded their recording).
type plan struct {
	work     []*work
	ready    []*rowRun
	distinct int
}

// plan finishes the rows the journal or the checks settle (invalid, sent
// earlier, in doubt) and groups the rest by content.
func (b *Batch) plan(ctx context.Context, runs []*rowRun, jg *journalGuard) *plan {
	pl := &plan{}
	sendable := map[uploadKey]bool{} // the journal's uploads this run can send
	byKey := map[string]*work{}
	distinct := map[string]bool{}
	for _, rr := range runs {
		if rr.row.Err != nil {
			b.finish(rr, StatusInvalid, rr.row.Err.Error())
			continue
		}
		if rr.sha == "" { // stopped while hashing
			b.finish(rr, StatusSkipped, errInterrupted.Error())
			continue
		}
		rec := Recording{Path: rr.row.Path, SHA256: rr.sha, Profile: rr.row.Profile, Split: b.opts.Split}
		distinct[rec.Key()] = true
		h := jg.hist[rr.key]
		rr.hist = h
		if h.allSent() {
			rr.ids, rr.resumed = h.messageIDs(), true
			for i := 0; i < h.parts; i++ {
				rr.media = append(rr.media, refFor(rr.dest, h.part[i].media))
			}
			b.finish(rr, StatusSent, "")
			continue
		}
		if doubt, why := h.inDoubt(); doubt && !b.opts.ResendUnknown {
			rr.resumed = true
			rr.ids = h.messageIDs() // parts of a split row sent before the one in doubt
			b.finish(rr, StatusUnknown, why)
			continue
		}
		uk := uploadKey{b.uploadContent(rec), string(rr.dest)}
		media := jg.uploaded[uk]
		if _, seen := sendable[uk]; media != nil && !seen {
			sendable[uk] = b.p.fetchable(ctx, media)
		}
		if media != nil && sendable[uk] && !h.anyFailed() {
			// Uploaded by an earlier run (stopped before this row was
			// sent): send that upload, do not prepare or upload again. A
			// row a provider refused is prepared afresh (the refusal may
			// have been the media's), and so is one uploaded through
			// another link host than this run's (its URL cannot be made
			// here: FetchURL).
			rr.media = media
			pl.ready = append(pl.ready, rr)
			continue
		}
		w := byKey[rec.Key()]
		if w == nil {
			w = &work{rec: rec, rows: map[destination][]*rowRun{}, size: rr.size}
			byKey[rec.Key()] = w
			pl.work = append(pl.work, w)
		}
		if w.rows[rr.dest] == nil {
			w.dests = append(w.dests, rr.dest)
		}
		w.rows[rr.dest] = append(w.rows[rr.dest], rr)
	}
	pl.distinct = len(distinct)
	// Biggest sources first (size stands for the transcode's length): a
	// long recording that starts last, after all the short ones, sets the
	// batch's wall time; started first, the short ones fill the other
	// workers meanwhile.
	sort.SliceStable(pl.work, func(i, k int) bool { return pl.work[i].size > pl.work[k].size })
	return pl
}

// uploadContent names what an upload holds, for the journal: the
// recording's content key and the options it was prepared with (split,
// transcode options), so a rerun with other options prepares afresh
// instead of sending what an earlier run made.
func (b *Batch) uploadContent(rec Recording) string {
	return rec.Key() + "|" + shortHash(fmt.Sprintf("split=%v %s", rec.Split, b.p.topts))
}

// refFor is an upload reference read back from the journal. A link is
// shown without its query; a journal written before presigned URLs were
// kept out of it holds the whole URL, which is still sent (Link).
func refFor(d destination, ref string) upload.Ref {
	if d == linkDest {
		r := upload.Ref{URL: upload.RedactURL(ref), Reused: true}
		if r.URL != ref {
			r.Link = ref
		}
		return r
	}
	return upload.Ref{MediaID: ref, Reused: true}
}

// joinKeys is the object keys of a link host's uploads, in part order,
// for the journal (nil for a media endpoint, or when one has no key).
func joinKeys(d destination, refs []upload.Ref) []string {
	if d != linkDest {
		return nil
	}
	keys := make([]string, len(refs))
	for i, r := range refs {
		if r.Key == "" {
			return nil
		}
		keys[i] = r.Key
	}
	return keys
}

// stats are the summary's counters, added to from every stage.
type stats struct {
	mu                          sync.Mutex
	prepared, uploads, messages int
	before, after               int64
	stages                      Timing
}

func (s *stats) add(f func(*stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// execute runs the stages over the plan: prepare → upload → send queues.
func (b *Batch) execute(ctx context.Context, pl *plan, jg *journalGuard, st *stats) error {
	dir, err := os.MkdirTemp(b.p.tempDir, "prep-batch-")
	if err != nil {
		return fmt.Errorf("batch: work directory: %w", err)
	}
	defer os.RemoveAll(dir)
	// A Stop abandons transcodes (prepCtx), not uploads or sends (ctx).
	prepCtx, cancelPrep := context.WithCancel(ctx)
	defer cancelPrep()
	go func() {
		select {
		case <-b.stopCh:
			cancelPrep()
		case <-prepCtx.Done():
		}
	}()

	queues := b.sendQueues(pl)
	var sends errgroup.Group
	for pv, q := range queues {
		wait := b.rateWait(pv)
		for range b.opts.SendWorkers {
			sends.Go(func() error { b.sendStage(ctx, q, wait, jg, st); return nil })
		}
	}
	var prep, ups errgroup.Group
	prep.SetLimit(b.opts.Jobs)
	ups.SetLimit(max(4, b.opts.Jobs))
	for _, w := range pl.work {
		prep.Go(func() error { b.prepareStage(ctx, prepCtx, w, dir, &ups, queues, jg, st); return nil })
	}
	prep.Wait()
	ups.Wait() // no upload is added once every prepare returned
	for _, q := range queues {
		close(q)
	}
	return sends.Wait()
}

// sendQueues makes one queue per provider, big enough for all its rows,
// and fills it with the rows ready to send.
func (b *Batch) sendQueues(pl *plan) map[send.Provider]chan *rowRun {
	n := map[send.Provider]int{}
	for _, w := range pl.work {
		for _, rr := range w.allRows() {
			n[rr.row.Provider]++
		}
	}
	for _, rr := range pl.ready {
		n[rr.row.Provider]++
	}
	queues := map[send.Provider]chan *rowRun{}
	for pv, k := range n {
		queues[pv] = make(chan *rowRun, k)
	}
	for _, rr := range pl.ready {
		queues[rr.row.Provider] <- rr
	}
	return queues
}

// prepareStage prepares one recording and hands each destination's rows
// to the upload stage; the outputs are removed once every upload of the
// recording is done (not at the end of a batch of thousands).
func (b *Batch) prepareStage(ctx, prepCtx context.Context, w *work, workDir string, ups *errgroup.Group, queues map[send.Provider]chan *rowRun, jg *journalGuard, st *stats) {
	all := w.allRows()
	if b.interrupted(ctx) {
		b.abandon(ctx, all, errInterrupted)
		return
	}
	dir := filepath.Join(workDir, shortHash(w.rec.Key()))
	pr, err := b.p.Prepare(prepCtx, w.rec, dir)
	if pr != nil {
		st.add(func(s *stats) { s.stages.Inspect += pr.Timing.Inspect; s.stages.Transcode += pr.Timing.Transcode })
	}
	if err != nil {
		os.RemoveAll(dir)
		b.abandon(ctx, all, err)
		return
	}
	st.add(func(s *stats) { s.prepared++; s.before += pr.Bytes; s.after += pr.OutBytes() })
	for _, rr := range all {
		rr.timing.Inspect, rr.timing.Transcode = pr.Timing.Inspect, pr.Timing.Transcode
	}
	var pending atomic.Int32
	pending.Store(int32(len(w.dests)))
	for _, d := range w.dests {
		ups.Go(func() error {
			defer func() {
				if pending.Add(-1) == 0 {
					os.RemoveAll(dir)
				}
			}()
			b.uploadStage(ctx, pr, d, w.rows[d], queues, jg, st)
			return nil
		})
	}
}

// uploadStage uploads one prepared recording to one destination, records
// the upload and queues its rows for sending. An upload once started is
// finished even after Stop (uploads are short), so a rerun sends it
// instead of uploading the recording again; only cancelling ctx abandons
// it.
func (b *Batch) uploadStage(ctx context.Context, pr *Prepared, d destination, rows []*rowRun, queues map[send.Provider]chan *rowRun, jg *journalGuard, st *stats) {
	if b.interrupted(ctx) {
		b.abandon(ctx, rows, errInterrupted)
		return
	}
	t0 := time.Now()
	refs, err := b.p.upload(ctx, pr, d)
	dur := time.Since(t0)
	st.add(func(s *stats) { s.stages.Upload += dur; s.uploads += len(refs) })
	if err != nil {
		b.abandon(ctx, rows, err)
		return
	}
	jg.appendAsync(Record{State: StateUploaded, Content: b.uploadContent(pr.Recording), Dest: string(d), Parts: len(refs), Media: joinRefs(refs), Keys: joinKeys(d, refs)})
	for _, rr := range rows {
		rr.media, rr.timing.Upload = refs, dur
		queues[rr.row.Provider] <- rr
	}
}

// sendStage sends the rows of one provider's queue, one at a time.
func (b *Batch) sendStage(ctx context.Context, q <-chan *rowRun, wait waitFunc, jg *journalGuard, st *stats) {
	for rr := range q {
		switch {
		case jg.broken.Load():
			b.finish(rr, StatusSkipped, "not sent: the journal could not be written")
		case b.interrupted(ctx):
			b.finish(rr, StatusSkipped, errInterrupted.Error())
		default:
			out := b.p.send(ctx, jg.store(), b.sendRow(rr), wait)
			rr.ids, rr.timing.Send = out.MessageIDs, out.Duration
			st.add(func(s *stats) { s.messages += out.Messages; s.stages.Send += out.Duration })
			msg := ""
			if out.Err != nil {
				msg = out.Err.Error()
			}
			b.finish(rr, out.Status, msg)
		}
	}
}

// sendRow is the row as the send step takes it, with what the journal
// says of its parts. Meta and 360dialog sends carry the row's key as
// biz_opaque_callback_data (a status for a message whose send is in doubt
// still finds its row); Infobip sends carry the row's callback data and
// the batch's NotifyURL.
func (b *Batch) sendRow(rr *rowRun) *SendRow {
	row := &SendRow{Key: rr.key, Line: rr.row.Line, Provider: rr.row.Provider, To: rr.to, Voice: rr.row.Profile == transcode.ProfileVoice,
		CallbackData: rr.row.CallbackData, Media: rr.media}
	if rr.row.Provider == send.Infobip {
		row.NotifyURL = b.opts.NotifyURL
	} else {
		row.CallbackData = rr.key
	}
	if rr.hist == nil {
		return row
	}
	for i, ps := range rr.hist.part {
		switch {
		case ps.state == StateSent:
			if row.Sent == nil {
				row.Sent = map[int]string{}
			}
			row.Sent[i] = ps.messageID
		case ps.clientID != "" && (ps.state == StateSending || ps.state == StateUnknown):
			if row.ClientIDs == nil {
				row.ClientIDs = map[int]string{}
			}
			row.ClientIDs[i] = ps.clientID
		}
	}
	return row
}

// rateWait returns the batch's own rate limit for pv (nil: none). A row
// whose first request has not left yet is not in flight: a Stop while it
// waits for its turn skips it (and so does one that came just before it
// was granted), so no request leaves after Stop for a row not yet started.
func (b *Batch) rateWait(pv send.Provider) waitFunc {
	r := b.opts.Rate[pv]
	if r <= 0 {
		return nil
	}
	lim := rate.NewLimiter(rate.Limit(r), 1)
	return func(ctx context.Context, started bool) error {
		if started {
			return lim.Wait(ctx)
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-b.stopCh:
				cancel()
			case <-wctx.Done():
			}
		}()
		if err := lim.Wait(wctx); err != nil {
			return err
		}
		if b.stopped() {
			return context.Canceled
		}
		return nil
	}
}

// abandon ends rows that did not get through a stage: "skipped" when the
// batch was interrupted, else "failed" with the stage's error.
func (b *Batch) abandon(ctx context.Context, rows []*rowRun, err error) {
	status, msg := StatusFailed, err.Error()
	if b.interrupted(ctx) {
		status, msg = StatusSkipped, errInterrupted.Error()
	}
	for _, rr := range rows {
		b.finish(rr, status, msg)
	}
}

// finish records a row's final status once. A row is handled by one
// stage at a time, so this needs no lock.
func (b *Batch) finish(rr *rowRun, s Status, msg string) {
	if rr.status != "" {
		return
	}
	rr.status, rr.err = s, msg
	b.tally.add(s)
}

// result is the report stage: one RowResult per row and the summary.
func (b *Batch) result(runs []*rowRun, pl *plan, jg *journalGuard, st *stats, start time.Time, interrupted bool) *BatchResult {
	res := &BatchResult{Summary: Summary{Rows: len(runs), Counts: map[Status]int{}, Distinct: pl.distinct}}
	for _, rr := range runs {
		if rr.status == "" { // cannot happen; never report a row as done when it is not
			b.finish(rr, StatusSkipped, "not attempted")
		}
		res.Rows = append(res.Rows, RowResult{
			Row: rr.row.Line, To: rr.row.To, File: rr.row.File, Provider: rr.row.Provider, Profile: rr.row.Profile,
			Status: rr.status, MessageID: strings.Join(rr.ids, ";"), Error: rr.err, Media: joinRefs(rr.media),
			SHA256: rr.sha, Resumed: rr.resumed, Key: rr.key, Timing: rr.timing,
		})
		res.Summary.Counts[rr.status]++
	}
	s := &res.Summary
	s.Prepared, s.Uploads, s.Messages = st.prepared, st.uploads, st.messages
	s.BytesBefore, s.BytesAfter, s.Stages = st.before, st.after, st.stages
	s.Wall = time.Since(start)
	s.Interrupted = interrupted
	if err := jg.error(); err != nil {
		s.Error = err.Error()
	}
	return res
}

func joinRefs(refs []upload.Ref) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = refOf(r)
	}
	return strings.Join(s, ";")
}

// markUnreadable makes the rows that unreadable journal lines may have
// belonged to in doubt: the row named by a line whose key can still be
// read, or every row when a line has none left.
func markUnreadable(hist map[string]*rowHistory, bad []badLine, runs []*rowRun) {
	for _, bl := range bad {
		why := fmt.Sprintf("journal line %d is unreadable and may have recorded this row's send: it may have been delivered", bl.line)
		for _, rr := range runs {
			if rr.key == "" || (bl.key != "" && bl.key != rr.key) {
				continue
			}
			h := hist[rr.key]
			if h == nil {
				h = &rowHistory{part: map[int]*partState{}}
				hist[rr.key] = h
			}
			if h.unreadable == "" {
				h.unreadable = why
			}
		}
	}
}

// assignKeys gives each valid row its stable key (RowKeys).
func assignKeys(runs []*rowRun) {
	var keys RowKeys
	for _, rr := range runs {
		if rr.row.Err != nil || rr.sha == "" {
			continue
		}
		rr.key = keys.Next(rr.to, rr.row.Provider, rr.row.Profile, rr.row.CallbackData, rr.sha)
	}
}

// RowKeys gives a manifest's rows, in order, their stable journal keys: a
// hash of what a row sends to whom (normalized recipient, provider,
// profile, callback data, the file's SHA-256) and the occurrence number
// of that same content in the manifest. Line numbers are not part of it,
// so editing other lines never moves a journal state onto another row; an
// identical second row is a second message, keyed apart by its occurrence
// number. The local batch and the queue both key rows with it. The zero
// value is ready to use; one RowKeys serves one manifest.
type RowKeys struct {
	seen map[string]int
}

// Next returns the key of the manifest's next valid row.
func (k *RowKeys) Next(to string, p send.Provider, prof transcode.Profile, callbackData, sha string) string {
	if k.seen == nil {
		k.seen = map[string]int{}
	}
	base := strings.Join([]string{to, string(p), string(prof), callbackData, sha}, "\x00")
	n := k.seen[base]
	k.seen[base] = n + 1
	sum := sha256.Sum256([]byte(base + "\x00" + strconv.Itoa(n)))
	return hex.EncodeToString(sum[:16])
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
