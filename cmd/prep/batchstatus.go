package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/status"
)

// deliveryFlags are prep batch's status-intake flags: where statuses are
// stored, whether the batch receives them itself, where Infobip posts its
// reports, and what to wait for.
type deliveryFlags struct {
	store     *string
	listen    *string
	notifyURL *string
	wait      *string
	timeout   *time.Duration
}

func addDeliveryFlags(fs *flag.FlagSet) *deliveryFlags {
	return &deliveryFlags{
		store:     fs.String("store", "", "status store: the batch's rows get a delivery column from it (env PREP_STATUS_STORE)"),
		listen:    fs.String("listen", "", "receive the providers' status webhooks on HOST:PORT while the batch runs, into --store (secrets from the environment, as prep webhooks)"),
		notifyURL: fs.String("notify-url", "", "public base URL of the receiver: Infobip sends carry notifyUrl BASE/webhooks/infobip/$"+envInfobipToken),
		wait:      fs.String("wait", "", "after sending, wait until every row is delivered, read or played (or failed), or --wait-timeout"),
		timeout:   fs.Duration("wait-timeout", 10*time.Minute, "how long --wait waits; rows not there by then are pending, not failed"),
	}
}

// deliveryConfig is the checked form of deliveryFlags.
type deliveryConfig struct {
	store     string
	listen    string
	notifyURL string // the full Infobip notifyUrl, "" for none
	wait      status.Status
	timeout   time.Duration
	receiver  status.Config
}

// check validates the flags before anything is done (usage errors).
func (d *deliveryFlags) check(e *env) (*deliveryConfig, error) {
	c := &deliveryConfig{store: envOr(e, *d.store, "PREP_STATUS_STORE"), listen: *d.listen, timeout: *d.timeout}
	// --notify-url alone is fine: another receiver stores the reports.
	if c.store == "" && (c.listen != "" || *d.wait != "") {
		return nil, usageErrorf("batch: --listen and --wait need --store FILE (or PREP_STATUS_STORE)")
	}
	if *d.wait != "" {
		st, err := status.ParseStatus(*d.wait)
		if err != nil || !(st == status.Delivered || st == status.Read || st == status.Played) {
			return nil, usageErrorf("batch: --wait %q: want delivered, read or played", *d.wait)
		}
		c.wait = st
		if c.timeout <= 0 {
			return nil, usageErrorf("batch: --wait-timeout must be positive")
		}
	}
	c.receiver = status.Config{
		MetaVerifyToken: e.getenv(envVerifyToken),
		MetaAppSecret:   e.getenv(envAppSecret),
		D360Token:       e.getenv(envD360Token),
		InfobipToken:    e.getenv(envInfobipToken),
	}
	if c.listen != "" {
		r := c.receiver
		if r.MetaAppSecret == "" && r.D360Token == "" && r.InfobipToken == "" {
			return nil, usageErrorf("batch: --listen: no provider configured: set %s (and %s for the handshake), %s or %s", envAppSecret, envVerifyToken, envD360Token, envInfobipToken)
		}
		if r.MetaVerifyToken != "" && r.MetaAppSecret == "" {
			return nil, usageErrorf("batch: %s is set but %s is not: Meta's bodies cannot be verified without the app secret", envVerifyToken, envAppSecret)
		}
	}
	if *d.notifyURL != "" {
		u, err := url.Parse(*d.notifyURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return nil, usageErrorf("batch: --notify-url %q: want the receiver's base URL, http(s)://host[:port][/path]", *d.notifyURL)
		}
		tok := c.receiver.InfobipToken
		if tok == "" {
			return nil, usageErrorf("batch: --notify-url needs %s (the secret path Infobip's reports are taken on)", envInfobipToken)
		}
		c.notifyURL = strings.TrimRight(*d.notifyURL, "/") + "/webhooks/infobip/" + url.PathEscape(tok)
	}
	return c, nil
}

// intake is where a batch reads statuses from: a store it writes itself
// (--listen, the receiver in-process) or one another receiver writes.
type intake struct {
	ix     *status.Index
	store  *status.Store
	reader *status.Reader
	srv    *http.Server
	addr   string
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

// startIntake opens the store and, with --listen, serves the receiver.
func startIntake(ctx context.Context, e *env, c *deliveryConfig) (*intake, error) {
	in := &intake{}
	if c.listen == "" {
		r, err := status.OpenReader(c.store)
		if err != nil {
			return nil, err
		}
		in.reader, in.ix = r, r.Index
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		in.stop = cancel
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			_ = r.Follow(fctx, 200*time.Millisecond)
		}()
		return in, nil
	}
	st, err := status.OpenStore(c.store)
	if err != nil {
		return nil, err
	}
	in.store, in.ix = st, st.Index
	cfg := c.receiver
	// Refused requests (a bad signature, a wrong token) are said on
	// stderr; stored events are not (the report has them).
	cfg.OnReject = (&eventPrinter{human: e.stderr}).rejected
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		st.Close()
		return nil, usageErrorf("batch: --listen %s: %v", c.listen, err)
	}
	in.addr = ln.Addr().String()
	in.srv = receiverServer(status.NewReceiver(st, cfg))
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		_ = in.srv.Serve(ln)
	}()
	return in, nil
}

// Close stops the receiver (answering what is in flight) and closes the
// store.
func (in *intake) Close() error {
	var err error
	if in.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if e := in.srv.Shutdown(ctx); e != nil && !errors.Is(e, http.ErrServerClosed) {
			_ = in.srv.Close()
		}
		cancel()
	}
	if in.stop != nil {
		in.stop()
	}
	in.wg.Wait()
	if in.store != nil {
		err = in.store.Close()
	}
	return err
}

// deliveries looks every row of res up in the journal and the store (as
// prep status does: by message id, else by the row's key carried as
// callback data) and returns the rows by manifest line.
func (in *intake) deliveries(recs []pipeline.Record) map[int]statusRow {
	out := map[int]statusRow{}
	for _, r := range statusRows(recs, in.ix) {
		if r.Journal == string(pipeline.StateSent) && r.Delivery == string(status.Unknown) {
			// Accepted by the provider; no status came yet.
			r.Delivery = string(status.Accepted)
		}
		out[r.Row] = r
	}
	return out
}

// settled reports whether a row needs no more waiting for target: it
// reached target, it failed, or it was never sent in this batch.
func settled(rr pipeline.RowResult, d statusRow, target status.Status) bool {
	switch rr.Status {
	case pipeline.StatusSent, pipeline.StatusUnknown:
	default:
		return true
	}
	st := status.Status(d.Delivery)
	return st.Settled(target)
}

// waitDeliveries waits until every row of res is settled for target, the
// timeout passes or ctx ends, showing counts on progress; it returns the
// last deliveries seen. The batch has stopped sending, so the journal is
// read once; the store is looked at again whenever it changes.
func (in *intake) waitDeliveries(ctx context.Context, res *pipeline.BatchResult, recs []pipeline.Record, target status.Status, timeout time.Duration, progress func(map[string]int, int, time.Duration)) map[int]statusRow {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		ch := in.ix.Changed()
		ds := in.deliveries(recs)
		counts, pending := deliveryCounts(res, ds, target)
		left := time.Until(deadline)
		if progress != nil {
			progress(counts, pending, max(left, 0))
		}
		if pending == 0 || left <= 0 || ctx.Err() != nil {
			return ds
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-ctx.Done():
		}
	}
}

// deliveryCounts counts rows per delivery, and those not settled.
func deliveryCounts(res *pipeline.BatchResult, ds map[int]statusRow, target status.Status) (map[string]int, int) {
	counts := map[string]int{}
	pending := 0
	for _, rr := range res.Rows {
		d, ok := ds[rr.Row]
		if !ok {
			continue
		}
		counts[d.Delivery]++
		if !settled(rr, d, target) {
			pending++
		}
	}
	return counts, pending
}

// statusFound reports whether a delivery comes from a status the provider
// sent (its message left), the rule resolveUnknown journals by: any status
// at all — Infobip's ACCEPTED report and a failed one without a code
// included. (The accepted that the report shows for a part the journal
// holds sent, with no status yet, never stands for a part in doubt.)
func statusFound(st status.Status) bool {
	return st != "" && st != status.Unknown
}

// applyDeliveries fills the report's delivery columns. A row the journal
// holds in doubt (unknown) that a status was found for is known now: its
// message left, so it is sent — without ever being resent.
func applyDeliveries(res *pipeline.BatchResult, ds map[int]statusRow, target status.Status) (pending int) {
	for i := range res.Rows {
		rr := &res.Rows[i]
		d, ok := ds[rr.Row]
		if !ok {
			continue
		}
		rr.Delivery, rr.ErrorCode, rr.Advice = d.Delivery, d.ErrorCode, d.Advice
		st := status.Status(d.Delivery)
		if rr.Status == pipeline.StatusUnknown && statusFound(st) {
			res.Summary.Counts[pipeline.StatusUnknown]--
			res.Summary.Counts[pipeline.StatusSent]++
			rr.Status = pipeline.StatusSent
			rr.MessageID = strings.Join(d.MessageID, ";")
			rr.Error = ""
		}
		if rr.Status == pipeline.StatusSent && st == status.Failed && d.Error != "" {
			rr.Error = d.Error
		}
		if target != "" && (rr.Status == pipeline.StatusSent || rr.Status == pipeline.StatusUnknown) && !st.Settled(target) {
			pending++
		}
	}
	res.Summary.Delivery = map[string]int{}
	for _, rr := range res.Rows {
		if rr.Delivery != "" {
			res.Summary.Delivery[rr.Delivery]++
		}
	}
	if target != "" {
		res.Summary.Pending = pending
	}
	return pending
}

// deliveryProgress prints the counts while the batch waits.
func deliveryProgress(e *env, asJSON bool, target status.Status) (func(map[string]int, int, time.Duration), func()) {
	var mu sync.Mutex
	last := time.Time{}
	wrote := false
	every := time.Second
	if !asJSON {
		if !e.isTerminal {
			return nil, func() {}
		}
		every = 250 * time.Millisecond
	}
	print := func(counts map[string]int, pending int, left time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < every && pending > 0 && left > 0 {
			return
		}
		last = time.Now()
		if asJSON {
			b, _ := json.Marshal(map[string]any{"delivery": map[string]any{"wait": target, "counts": counts, "pending": pending, "left_s": int(left.Seconds())}})
			fmt.Fprintf(e.stderr, "%s\n", b)
			return
		}
		fmt.Fprintf(e.stderr, "\rwaiting for %s: %s; %d pending (%s left)\033[K", target, summaryText(counts), pending, left.Round(time.Second))
		wrote = true
	}
	finish := func() {
		mu.Lock()
		defer mu.Unlock()
		if wrote {
			fmt.Fprintln(e.stderr)
		}
	}
	return print, finish
}

// afterBatch reads (and with --wait, waits for) every row's delivery and
// puts it in the report. It returns how many rows failed after being sent
// or, with --wait, had not got there when the wait ended.
func afterBatch(ctx context.Context, e *env, in *intake, dc *deliveryConfig, res *pipeline.BatchResult, journal string, asJSON bool) (int, error) {
	recs, err := pipeline.ReadJournal(journal)
	if err != nil {
		return 0, err
	}
	var ds map[int]statusRow
	if dc.wait != "" {
		print, finish := deliveryProgress(e, asJSON, dc.wait)
		ds = in.waitDeliveries(ctx, res, recs, dc.wait, dc.timeout, print)
		finish()
	} else {
		ds = in.deliveries(recs)
	}
	if _, err := resolveUnknown(journal, recs, in.ix); err != nil {
		return 0, err
	}
	pending := applyDeliveries(res, ds, dc.wait)
	failed := 0
	for _, rr := range res.Rows {
		if rr.Status == pipeline.StatusSent && rr.Delivery == string(status.Failed) {
			failed++
		}
	}
	return failed + pending, nil
}

// resolveUnknown journals as sent every part the journal's records recs
// hold in doubt (its request left, no answer came) that a status was found
// for (statusFound, the report's rule) — by its messageId, or by the row's
// key carried as callback data: the message left, so no run resends it,
// not even with --resend-unknown. It folds recs as prep status does
// (journalRows) and returns how many parts it resolved.
func resolveUnknown(journal string, recs []pipeline.Record, ix *status.Index) (int, error) {
	var resolved []pipeline.Record
	for _, jr := range journalRows(recs) {
		doubt := false
		for _, p := range jr.part {
			doubt = doubt || inDoubt(p.state)
		}
		if !doubt {
			continue
		}
		refs, _, _, _ := jr.refs()
		row := ix.Row(refs...)
		for i, m := range row.Parts {
			p := jr.part[i]
			if p == nil || !inDoubt(p.state) || m.ID == "" || !statusFound(m.Status) {
				continue
			}
			r := p.last
			r.State, r.MessageID, r.Error, r.Time = pipeline.StateSent, m.ID, "", time.Now().UTC()
			resolved = append(resolved, r)
		}
	}
	if len(resolved) == 0 {
		return 0, nil
	}
	j, _, err := pipeline.OpenJournal(journal)
	if err != nil {
		return 0, err
	}
	for _, r := range resolved {
		if err := j.Append(r); err != nil {
			j.Close()
			return 0, err
		}
	}
	return len(resolved), j.Close()
}

// localIntake is the demo's receiver: a store in dir and the receiver on
// a loopback port, with secrets made up for the run. It returns the
// intake, the receiver's base URL and the secrets (for the sandbox).
func localIntake(ctx context.Context, e *env, dir string) (*intake, *deliveryConfig, error) {
	secret := func() string {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	dc := &deliveryConfig{store: filepath.Join(dir, "statuses.jsonl"), listen: "127.0.0.1:0", wait: status.Read, timeout: 5 * time.Second,
		receiver: status.Config{MetaAppSecret: secret(), MetaVerifyToken: secret(), D360Token: secret(), InfobipToken: secret()}}
	in, err := startIntake(ctx, e, dc)
	if err != nil {
		return nil, nil, err
	}
	dc.notifyURL = "http://" + in.addr + "/webhooks/infobip/" + dc.receiver.InfobipToken
	return in, dc, nil
}

// inDoubt reports whether a part's journal state leaves it in doubt: its
// request left and no answer came.
func inDoubt(s pipeline.State) bool {
	return s == pipeline.StateUnknown || s == pipeline.StateSending
}
