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

	"golang.org/x/time/rate"
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

// Statuses lists the outcomes in report order.
var Statuses = []Status{StatusSent, StatusFailed, StatusUnknown, StatusSkipped, StatusInvalid}

// BatchOptions configure a batch.
type BatchOptions struct {
	// Journal is the journal file; "" runs without one (no resume, no
	// exactly-once across runs).
	Journal string
	// Jobs is the number of transcode workers; default runtime.NumCPU().
	Jobs int
	// SendWorkers is the number of concurrent sends per provider; default 8.
	// The senders' own rate limits apply on top.
	SendWorkers int
	// Rate caps messages per second per provider (0 or absent: no cap here).
	Rate map[Provider]float64
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

// Progress is a snapshot of a running batch.
type Progress struct {
	Total   int           `json:"total"`
	Done    int           `json:"done"`
	Sent    int           `json:"sent"`
	Failed  int           `json:"failed"`
	Unknown int           `json:"unknown"`
	Skipped int           `json:"skipped"`
	Invalid int           `json:"invalid"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Rate    float64       `json:"rows_per_s"` // rows finished per second in this run
	ETA     time.Duration `json:"eta_ns"`     // 0 when unknown
	Final   bool          `json:"final,omitempty"`
}

// RowResult is one manifest row's outcome.
type RowResult struct {
	Row      int      `json:"row"` // line number in the manifest
	To       string   `json:"to"`
	File     string   `json:"file"`
	Provider Provider `json:"provider"`
	Profile  Profile  `json:"profile,omitempty"`
	Status   Status   `json:"status"`
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

	counts    [5]atomic.Int64 // by index in Statuses
	doneStart int64
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
// uploading again). Rows not attempted are reported skipped. Safe to
// call from any goroutine, any number of times. To stop at once, cancel
// Run's context instead (in-flight sends then become unknown).
func (b *Batch) Stop() { b.stopOnce.Do(func() { close(b.stopCh) }) }

func (b *Batch) stopped() bool {
	select {
	case <-b.stopCh:
		return true
	default:
		return false
	}
}

// rowRun is the working state of one row.
type rowRun struct {
	row     Row
	to      string
	sha     string
	key     string
	dest    Destination
	hist    *rowHistory
	rec     *recording
	media   []Media
	timing  Timing
	ids     []string
	status  Status
	err     string
	resumed bool
}

// recording is one distinct (content, profile) with the rows using it.
type recording struct {
	key     string
	path    string
	profile Profile
	rows    map[Destination][]*rowRun
	dests   []Destination
}

// Run runs the batch. It returns an error only when it could not start
// (e.g. the journal is locked by another batch); row problems are in the
// result. Cancelling ctx stops at once.
func (b *Batch) Run(ctx context.Context) (*BatchResult, error) {
	start := time.Now()
	p, opts := b.p, b.opts
	runs := make([]*rowRun, len(b.m.Rows))
	for i, r := range b.m.Rows {
		runs[i] = &rowRun{row: r}
	}
	res := &BatchResult{Summary: Summary{Rows: len(runs), Counts: map[Status]int{}}}

	// 1. Rows: recipient, provider configuration, file content.
	paths := map[string]string{} // path → sha256
	var pathErr sync.Map
	for _, rr := range runs {
		if rr.row.Err != nil {
			continue
		}
		to, err := p.normalize(rr.row.To)
		if err != nil {
			rr.row.Err = err
			continue
		}
		rr.to = to
		if p.Senders[rr.row.Provider] == nil {
			rr.row.Err = fmt.Errorf("no sender configured for provider %s", rr.row.Provider)
			continue
		}
		paths[rr.row.Path] = ""
	}
	b.hashAll(ctx, paths, &pathErr)
	for _, rr := range runs {
		if rr.row.Err != nil {
			continue
		}
		if e, ok := pathErr.Load(rr.row.Path); ok {
			rr.row.Err = fmt.Errorf("file %s: %v", rr.row.File, e)
			continue
		}
		rr.sha = paths[rr.row.Path]
		rr.dest = DestinationFor(rr.row.Provider, opts.Link)
	}
	assignKeys(runs)

	// 2. Journal.
	var j *Journal
	hist := map[string]*rowHistory{}
	var uploaded map[uploadKey][]Media
	if opts.Journal != "" {
		var recs []Record
		var bad []badLine
		var err error
		j, recs, bad, err = openJournal(opts.Journal)
		if err != nil {
			return nil, err
		}
		defer j.Close()
		if len(bad) > 0 && !opts.CorruptInDoubt {
			j.Close()
			return nil, &JournalError{Path: opts.Journal, Line: bad[0].line, Err: ErrJournalCorrupt}
		}
		hist = replayRows(recs)
		uploaded = replayUploads(recs, time.Now())
		markUnreadable(hist, bad, runs)
		j.AppendAsync(Record{State: StateRun, Error: fmt.Sprintf("%d rows", len(runs))})
	}

	// 3. What is left to do, grouped by content.
	recs := map[string]*recording{}
	var order []*recording
	var ready []*rowRun // rows whose recording an earlier run uploaded
	distinct := map[string]bool{}
	for _, rr := range runs {
		if rr.row.Err != nil {
			b.finish(rr, StatusInvalid, rr.row.Err.Error())
			continue
		}
		if rr.sha == "" { // stopped while hashing
			b.finish(rr, StatusSkipped, "interrupted before sending")
			continue
		}
		pk := rr.sha + "|" + string(rr.row.Profile)
		distinct[pk] = true
		h := hist[rr.key]
		rr.hist = h
		if h.allSent() {
			rr.ids, rr.resumed = h.messageIDs(), true
			for i := 0; i < h.parts; i++ {
				rr.media = append(rr.media, Media{ID: h.part[i].media})
			}
			b.finish(rr, StatusSent, "")
			continue
		}
		if doubt, why := h.inDoubt(); doubt && !opts.ResendUnknown {
			rr.resumed = true
			rr.ids = h.messageIDs() // parts of a split row sent before the one in doubt
			b.finish(rr, StatusUnknown, why)
			continue
		}
		if media := uploaded[uploadKey{pk, rr.dest}]; media != nil && !h.anyFailed() {
			// Uploaded by an earlier run (stopped before this row was
			// sent): send that upload, do not prepare or upload again. A
			// row a provider refused is prepared afresh (the refusal may
			// have been the media's).
			rr.media = media
			ready = append(ready, rr)
			continue
		}
		rec := recs[pk]
		if rec == nil {
			rec = &recording{key: pk, path: rr.row.Path, profile: rr.row.Profile, rows: map[Destination][]*rowRun{}}
			recs[pk] = rec
			order = append(order, rec)
		}
		if rec.rows[rr.dest] == nil {
			rec.dests = append(rec.dests, rr.dest)
		}
		rec.rows[rr.dest] = append(rec.rows[rr.dest], rr)
		rr.rec = rec
	}
	res.Summary.Distinct = len(distinct)
	// Biggest sources first (size stands for the transcode's length): a
	// long recording that starts last, after all the short ones, sets the
	// batch's wall time; started first, the short ones fill the other
	// workers meanwhile.
	size := make(map[*recording]int64, len(order))
	for _, rec := range order {
		if fi, err := os.Stat(rec.path); err == nil {
			size[rec] = fi.Size()
		}
	}
	sort.SliceStable(order, func(i, k int) bool { return size[order[i]] > size[order[k]] })
	b.doneStart = b.done()

	// 4. Progress.
	progDone := make(chan struct{})
	var progWG sync.WaitGroup
	if opts.Progress != nil {
		progWG.Add(1)
		go func() {
			defer progWG.Done()
			t := time.NewTicker(opts.ProgressEvery)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					opts.Progress(b.progress(len(runs), start, false))
				case <-progDone:
					return
				}
			}
		}()
	}

	// 5. Prepare (Jobs workers) → upload (per destination) → send queues.
	prepCtx, cancelPrep := context.WithCancel(ctx)
	defer cancelPrep()
	go func() {
		select {
		case <-b.stopCh:
			cancelPrep()
		case <-prepCtx.Done():
		}
	}()
	work, err := os.MkdirTemp(p.TempDir, "prep-batch-")
	if err != nil {
		close(progDone)
		return nil, fmt.Errorf("batch: work directory: %w", err)
	}
	defer os.RemoveAll(work)

	queues := map[Provider]chan *rowRun{}
	for _, rec := range order {
		for _, rows := range rec.rows {
			for _, rr := range rows {
				queues[rr.row.Provider] = nil
			}
		}
	}
	for _, rr := range ready {
		queues[rr.row.Provider] = nil
	}
	for pv := range queues {
		n := 0
		for _, rr := range runs {
			if rr.rec != nil && rr.row.Provider == pv {
				n++
			}
		}
		for _, rr := range ready {
			if rr.row.Provider == pv {
				n++
			}
		}
		queues[pv] = make(chan *rowRun, n)
	}
	for _, rr := range ready {
		queues[rr.row.Provider] <- rr
	}

	var st struct {
		sync.Mutex
		prepared, uploads, messages int
		before, after               int64
		stages                      Timing
		journalErr                  error
	}
	var journalBroken atomic.Bool
	journal := func(r Record, durable bool) error {
		if j == nil {
			return nil
		}
		var err error
		if durable {
			err = j.Append(r)
		} else {
			err = j.AppendAsync(r)
		}
		if err != nil {
			journalBroken.Store(true)
			st.Lock()
			if st.journalErr == nil {
				st.journalErr = err
			}
			st.Unlock()
		}
		return err
	}
	// abandoned says why rows that did not go through were not attempted
	// or failed: an interruption is "skipped", anything else "failed".
	abandoned := func(rows []*rowRun, err error) {
		status, msg := StatusFailed, err.Error()
		if b.stopped() || ctx.Err() != nil {
			status, msg = StatusSkipped, "interrupted before sending"
		}
		for _, rr := range rows {
			b.finish(rr, status, msg)
		}
	}

	recCh := make(chan *recording, len(order))
	for _, rec := range order {
		recCh <- rec
	}
	close(recCh)
	var prepWG, upWG sync.WaitGroup
	upSem := make(chan struct{}, max(4, opts.Jobs))
	for w := 0; w < opts.Jobs; w++ {
		prepWG.Add(1)
		go func() {
			defer prepWG.Done()
			for rec := range recCh {
				all := rec.allRows()
				if b.stopped() || ctx.Err() != nil {
					abandoned(all, context.Canceled)
					continue
				}
				dir := filepath.Join(work, shortHash(rec.key))
				pr, err := p.prepare(prepCtx, rec.path, rec.profile, opts.Split, dir)
				if pr != nil {
					st.Lock()
					st.stages.Inspect += pr.timing.Inspect
					st.stages.Transcode += pr.timing.Transcode
					st.Unlock()
				}
				if err != nil {
					os.RemoveAll(dir)
					abandoned(all, err)
					continue
				}
				st.Lock()
				st.prepared++
				st.before += pr.before
				st.after += pr.after
				st.Unlock()
				for _, rr := range all {
					rr.timing.Inspect, rr.timing.Transcode = pr.timing.Inspect, pr.timing.Transcode
					journal(Record{Key: rr.key, Row: rr.row.Line, Parts: len(pr.tr.Outputs), State: StatePrepared}, false)
				}
				// The outputs (copies of the source, for a passthrough) are
				// not needed once uploaded: remove them then, not at the end
				// of a batch of thousands of recordings.
				var recWG sync.WaitGroup
				for _, dest := range rec.dests {
					rows := rec.rows[dest]
					upWG.Add(1)
					recWG.Add(1)
					go func() {
						defer upWG.Done()
						defer recWG.Done()
						select {
						case upSem <- struct{}{}:
						case <-prepCtx.Done():
							abandoned(rows, prepCtx.Err())
							return
						}
						if b.stopped() || ctx.Err() != nil {
							<-upSem
							abandoned(rows, context.Canceled)
							return
						}
						// An upload once started is finished even after Stop
						// (uploads are short) and recorded, so a rerun sends
						// it instead of uploading the recording again; only
						// cancelling ctx abandons it.
						media, d, err := p.upload(ctx, pr, dest)
						<-upSem
						st.Lock()
						st.stages.Upload += d
						st.uploads += len(media)
						st.Unlock()
						if err != nil {
							abandoned(rows, err)
							return
						}
						refs := make([]string, len(media))
						for i, m := range media {
							refs[i] = m.Ref()
						}
						journal(Record{State: StateUploaded, Content: rec.key, Dest: dest, Parts: len(media), Media: strings.Join(refs, ";")}, false)
						for _, rr := range rows {
							rr.media, rr.timing.Upload = media, d
							journal(Record{Key: rr.key, Row: rr.row.Line, Parts: len(media), State: StateUploaded, Media: strings.Join(refs, ";")}, false)
							queues[rr.row.Provider] <- rr
						}
					}()
				}
				upWG.Add(1)
				go func() {
					defer upWG.Done()
					recWG.Wait()
					os.RemoveAll(dir)
				}()
			}
		}()
	}
	go func() {
		prepWG.Wait()
		upWG.Wait()
		for _, q := range queues {
			close(q)
		}
	}()

	// 6. Send workers, per provider.
	var sendWG sync.WaitGroup
	for pv, q := range queues {
		var lim *rate.Limiter
		if r := opts.Rate[pv]; r > 0 {
			lim = rate.NewLimiter(rate.Limit(r), 1)
		}
		sender := p.Senders[pv]
		for w := 0; w < opts.SendWorkers; w++ {
			sendWG.Add(1)
			go func() {
				defer sendWG.Done()
				for rr := range q {
					switch {
					case journalBroken.Load():
						b.finish(rr, StatusSkipped, "not sent: the journal could not be written")
					case b.stopped() || ctx.Err() != nil:
						b.finish(rr, StatusSkipped, "interrupted before sending")
					default:
						n := b.sendRow(ctx, rr, sender, lim, journal)
						st.Lock()
						st.messages += n
						st.stages.Send += rr.timing.Send
						st.Unlock()
					}
				}
			}()
		}
	}
	sendWG.Wait()
	prepWG.Wait()
	upWG.Wait()

	// 7. Results.
	close(progDone)
	progWG.Wait()
	if j != nil {
		if err := j.Close(); err != nil && st.journalErr == nil {
			st.journalErr = err
		}
	}
	for _, rr := range runs {
		if rr.status == "" { // cannot happen; never report a row as done when it is not
			b.finish(rr, StatusSkipped, "not attempted")
		}
		refs := make([]string, len(rr.media))
		for i, m := range rr.media {
			refs[i] = m.Ref()
		}
		res.Rows = append(res.Rows, RowResult{
			Row: rr.row.Line, To: rr.row.To, File: rr.row.File, Provider: rr.row.Provider, Profile: rr.row.Profile,
			Status: rr.status, MessageID: strings.Join(rr.ids, ";"), Error: rr.err, Media: strings.Join(refs, ";"),
			SHA256: rr.sha, Resumed: rr.resumed, Key: rr.key, Timing: rr.timing,
		})
		res.Summary.Counts[rr.status]++
	}
	s := &res.Summary
	s.Prepared, s.Uploads, s.Messages = st.prepared, st.uploads, st.messages
	s.BytesBefore, s.BytesAfter, s.Stages = st.before, st.after, st.stages
	s.Wall = time.Since(start)
	s.Interrupted = b.stopped() || ctx.Err() != nil
	if st.journalErr != nil {
		s.Error = st.journalErr.Error()
	}
	if opts.Progress != nil {
		opts.Progress(b.progress(len(runs), start, true))
	}
	return res, nil
}

func (rec *recording) allRows() []*rowRun {
	var all []*rowRun
	for _, d := range rec.dests {
		all = append(all, rec.rows[d]...)
	}
	return all
}

// sendRow sends the row's parts not yet sent, in order, journaling
// "sending" durably before each request and the outcome after. It returns
// the number of messages accepted.
func (b *Batch) sendRow(ctx context.Context, rr *rowRun, s Sender, lim *rate.Limiter, journal func(Record, bool) error) int {
	parts := len(rr.media)
	sent := 0
	rr.ids = rr.ids[:0]
	// notSent ends the row before part i's request: "skipped" when none of
	// its parts was ever sent, else "failed" (partly delivered; a rerun
	// sends the rest), never "skipped" for a row that has messages.
	notSent := func(i int, msg string) int {
		if len(rr.ids) > 0 {
			b.finish(rr, StatusFailed, fmt.Sprintf("part %d of %d: %s (the parts before it were sent; a rerun sends the rest)", i+1, parts, msg))
		} else {
			b.finish(rr, StatusSkipped, msg)
		}
		return sent
	}
	for i, m := range rr.media {
		if ps := rr.hist.partOf(i); ps != nil && ps.state == StateSent {
			rr.ids = append(rr.ids, ps.messageID) // sent in an earlier run
			continue
		}
		if lim != nil {
			// A row whose first request has not left yet is not in flight:
			// a Stop while it waits for its turn skips it.
			if err := b.waitRate(ctx, lim, sent == 0); err != nil {
				return notSent(i, "interrupted before sending")
			}
		}
		req := SendRequest{Provider: rr.row.Provider, To: rr.to, MediaID: m.ID, Voice: rr.row.Profile == Voice,
			CallbackData: rr.row.CallbackData, MessageID: b.p.messageID(rr.row.Provider)}
		if rr.row.Provider == Infobip {
			req.NotifyURL = b.opts.NotifyURL
		} else {
			// The row's key as biz_opaque_callback_data: a status for a
			// message whose send is in doubt still finds its row.
			req.CallbackData = rr.key
		}
		if ps := rr.hist.partOf(i); ps != nil && ps.clientID != "" && (ps.state == StateSending || ps.state == StateUnknown) {
			// Resending an in-doubt part (--resend-unknown): the same
			// client message id as the request that may have arrived, so
			// the provider and its reports can tell it is the same message.
			req.MessageID = ps.clientID
		}
		if m.ID == "" {
			req.Link = m.URL
		}
		base := Record{Key: rr.key, Row: rr.row.Line, Part: i, Parts: parts, To: rr.to, Provider: rr.row.Provider, ClientID: req.MessageID, Media: m.Ref()}
		r := base
		r.State = StateSending
		if err := journal(r, true); err != nil {
			return notSent(i, "not sent: the journal could not be written: "+err.Error())
		}
		t0 := time.Now()
		rc, err := s.Send(ctx, req)
		rr.timing.Send += time.Since(t0)
		r = base
		if err == nil && (rc == nil || rc.MessageID == "") {
			err = &InDoubtError{MessageID: req.MessageID, Err: errors.New("the provider answered without a message id")}
		}
		if err != nil {
			msg := err.Error()
			if parts > 1 {
				msg = fmt.Sprintf("part %d of %d: %s", i+1, parts, msg)
			}
			if isInDoubt(err) || ctx.Err() != nil {
				r.State, r.Error = StateUnknown, err.Error()
				journal(r, true)
				if req.MessageID != "" {
					msg += " (client messageId " + req.MessageID + ")"
				}
				b.finish(rr, StatusUnknown, msg)
			} else {
				r.State, r.Error = StateFailed, err.Error()
				journal(r, true)
				b.finish(rr, StatusFailed, msg)
			}
			return sent
		}
		r.State, r.MessageID = StateSent, rc.MessageID
		journal(r, true)
		rr.ids = append(rr.ids, rc.MessageID)
		sent++
	}
	b.finish(rr, StatusSent, "")
	return sent
}

// waitRate waits for the rate limiter. When stoppable, a Stop ends the
// wait with an error (and so does one that came just before it was
// granted), so no request leaves after Stop for a row not yet started.
func (b *Batch) waitRate(ctx context.Context, lim *rate.Limiter, stoppable bool) error {
	if !stoppable {
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

func (h *rowHistory) partOf(i int) *partState {
	if h == nil {
		return nil
	}
	return h.part[i]
}

// finish records a row's final status once.
func (b *Batch) finish(rr *rowRun, s Status, msg string) {
	if rr.status != "" {
		return
	}
	rr.status, rr.err = s, msg
	for i, st := range Statuses {
		if st == s {
			b.counts[i].Add(1)
		}
	}
}

func (b *Batch) done() int64 {
	var n int64
	for i := range b.counts {
		n += b.counts[i].Load()
	}
	return n
}

func (b *Batch) progress(total int, start time.Time, final bool) Progress {
	pg := Progress{Total: total, Elapsed: time.Since(start), Final: final,
		Sent: int(b.counts[0].Load()), Failed: int(b.counts[1].Load()), Unknown: int(b.counts[2].Load()),
		Skipped: int(b.counts[3].Load()), Invalid: int(b.counts[4].Load())}
	pg.Done = pg.Sent + pg.Failed + pg.Unknown + pg.Skipped + pg.Invalid
	if sec := pg.Elapsed.Seconds(); sec > 0 {
		pg.Rate = float64(int64(pg.Done)-b.doneStart) / sec
	}
	if pg.Rate > 0 && pg.Done < total {
		pg.ETA = time.Duration(float64(total-pg.Done) / pg.Rate * float64(time.Second))
	}
	return pg
}

// hashAll fills paths[p] with each file's SHA-256 (errors in perr), on
// Jobs workers.
func (b *Batch) hashAll(ctx context.Context, paths map[string]string, perr *sync.Map) {
	list := make([]string, 0, len(paths))
	for p := range paths {
		list = append(list, p)
	}
	var mu sync.Mutex
	ch := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < max(2, b.opts.Jobs); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range ch {
				sum, _, err := hashFile(p)
				if err != nil {
					var pe *os.PathError
					if errors.As(err, &pe) {
						err = pe.Err // the row names the file already
					}
					perr.Store(p, err)
					continue
				}
				mu.Lock()
				paths[p] = sum
				mu.Unlock()
			}
		}()
	}
	for _, p := range list {
		if ctx.Err() != nil || b.stopped() {
			break // rows left without a hash are skipped
		}
		ch <- p
	}
	close(ch)
	wg.Wait()
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

// assignKeys gives each valid row its stable key: a hash of what it sends
// to whom (recipient, provider, profile, callback data, the file's
// SHA-256) and the occurrence number of that same content in the
// manifest. Line numbers are not part of it, so editing other lines never
// moves a journal state onto another row; an identical second row is a
// second message, keyed apart by its occurrence number.
func assignKeys(runs []*rowRun) {
	seen := map[string]int{}
	for _, rr := range runs {
		if rr.row.Err != nil {
			continue
		}
		base := strings.Join([]string{rr.to, string(rr.row.Provider), string(rr.row.Profile), rr.row.CallbackData, rr.sha}, "\x00")
		n := seen[base]
		seen[base] = n + 1
		sum := sha256.Sum256([]byte(base + "\x00" + strconv.Itoa(n)))
		rr.key = hex.EncodeToString(sum[:16])
	}
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
