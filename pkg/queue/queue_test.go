package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/prep-audio/prep/internal/natstest"
	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/upload"
)

// fakeStages counts prepares per recording and records every send.
type fakeStages struct {
	mu          sync.Mutex
	prepares    map[string]int // by file name
	sends       []SendRequest
	prepareWait time.Duration
	sendHook    func(req SendRequest) (*send.Receipt, error)
	n           atomic.Int64
	prepareErr  error // returned by every Prepare when set
	// prepareHook, when set, is called first: a non-nil error is returned.
	prepareHook func(ctx context.Context, req PrepareRequest) error
	parts       int // media parts per prepared destination (1 when 0)
	// account, when set, is the account of the fake's media endpoints
	// (MediaAccount): its media ids start with it, as a media id is one
	// account's. prepDests counts uploads by file name and destination.
	account   string
	prepDests map[string]int
	// links, when set, makes the link host's uploads presigned-like (a
	// Link with a signature, the shown URL without it, a Key); FetchURL
	// counts the links it makes again from a key.
	links    bool
	relinked atomic.Int64
}

// FetchURL presigns a link again from its key (queue.Linker).
func (f *fakeStages) FetchURL(_ context.Context, r upload.Ref) (string, error) {
	f.relinked.Add(1)
	return "http://s3.test/b/" + r.Key + "?X-Amz-Signature=again", nil
}

func newFake() *fakeStages {
	return &fakeStages{prepares: map[string]int{}, prepDests: map[string]int{}}
}

// MediaAccount is the fake's account for a media endpoint, "" for the
// link host (not account-bound).
func (f *fakeStages) MediaAccount(dest string) string {
	if dest == pipeline.Destination(send.Infobip, true) {
		return ""
	}
	return f.account
}

func (f *fakeStages) Prepare(ctx context.Context, req PrepareRequest) (*Prepared, error) {
	f.mu.Lock()
	f.prepares[filepath.Base(req.Path)]++
	perr, hook := f.prepareErr, f.prepareHook
	f.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, req); err != nil {
			return nil, err
		}
	}
	if f.prepareWait > 0 && !sleep(ctx, f.prepareWait) {
		return nil, ctx.Err()
	}
	if perr != nil {
		return nil, perr
	}
	p := &Prepared{Media: map[string][]upload.Ref{}}
	f.mu.Lock()
	parts := max(f.parts, 1)
	f.mu.Unlock()
	for _, d := range req.Dests {
		f.mu.Lock()
		f.prepDests[filepath.Base(req.Path)+"|"+d]++
		f.mu.Unlock()
		for i := range parts {
			id := fmt.Sprintf("%s-%s", d, filepath.Base(req.Path))
			if a := f.MediaAccount(d); a != "" {
				id = a + ":" + id
			}
			if i > 0 {
				id += fmt.Sprintf("-part%d", i)
			}
			ref := upload.Ref{MediaID: id}
			if f.links && d == pipeline.Destination(send.Infobip, true) {
				ref = upload.Ref{URL: "http://s3.test/b/" + id, Link: "http://s3.test/b/" + id + "?X-Amz-Signature=first", Key: id}
			}
			p.Media[d] = append(p.Media[d], ref)
		}
	}
	return p, nil
}

func (f *fakeStages) Send(ctx context.Context, req SendRequest) (*send.Receipt, error) {
	f.mu.Lock()
	hook := f.sendHook
	f.mu.Unlock()
	if hook != nil {
		if rc, err := hook(req); rc != nil || err != nil {
			if rc != nil || !errors.Is(err, errPass) {
				f.record(req)
				return rc, err
			}
		}
	}
	f.record(req)
	return &send.Receipt{MessageID: fmt.Sprintf("wamid.%d", f.n.Add(1))}, nil
}

var errPass = errors.New("pass")

func (f *fakeStages) record(req SendRequest) {
	f.mu.Lock()
	f.sends = append(f.sends, req)
	f.mu.Unlock()
}

func (f *fakeStages) NewMessageID(p send.Provider) string {
	if p == send.Infobip {
		return fmt.Sprintf("client-%d", time.Now().UnixNano())
	}
	return ""
}

func (f *fakeStages) sendsTo() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]int{}
	for _, s := range f.sends {
		m[s.To+"|"+s.MediaID+s.Link]++
	}
	return m
}

// submit submits m to q, or ends the test.
func submit(t *testing.T, q *Queue, m *pipeline.Manifest, opts SubmitOptions) *Submission {
	t.Helper()
	sub, err := q.Submit(context.Background(), m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// testQueue starts a nats-server and opens a queue with short timers.
func testQueue(t *testing.T) (*natstest.Server, *nats.Conn, *Queue) {
	t.Helper()
	srv := natstest.Start(t)
	nc, err := Connect(srv.URL(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	q, err := Open(context.Background(), nc, Config{AckWait: 2 * time.Second, WorkerTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return srv, nc, q
}

// manifest writes n files and a CSV manifest of rows rows over them (row i
// uses file i%n, recipient i, provider meta or infobip alternately).
func manifest(t *testing.T, files, rows int) *pipeline.Manifest {
	t.Helper()
	dir := t.TempDir()
	for i := range files {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("rec%02d.ogg", i)), []byte(fmt.Sprintf("recording %d", i)), 0o644)
	}
	var b strings.Builder
	b.WriteString("to,file,provider\n")
	for i := range rows {
		pv := "meta"
		if i%3 == 2 {
			pv = "infobip"
		}
		fmt.Fprintf(&b, "+1555%07d,rec%02d.ogg,%s\n", i, i%files, pv)
	}
	p := filepath.Join(dir, "m.csv")
	os.WriteFile(p, []byte(b.String()), 0o644)
	m, err := pipeline.ParseManifest(p, pipeline.ManifestDefaults{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func runWorkers(t *testing.T, q *Queue, st Stages, n int, opts WorkerOptions) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		o := opts
		o.ID = fmt.Sprintf("w%d-%d", i, time.Now().UnixNano())
		w := q.NewWorker(st, o)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(ctx, context.Background()); err != nil {
				t.Errorf("worker: %v", err)
			}
		}()
	}
	// Stopped when the test ends at the latest: a test that fails before
	// its stop() must not leave workers running that log to (or fail) a
	// finished test, which panics the whole test binary.
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func waitResult(t *testing.T, q *Queue, sub *Submission) *pipeline.BatchResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := q.Wait(ctx, sub, 100*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Interrupted {
		for _, r := range res.Rows {
			if r.Status == pipeline.StatusSkipped {
				e, err := q.rows.Get(context.Background(), rowKV(sub.Batch, r.Key))
				if err == nil {
					t.Logf("row %d not finished: %s", r.Row, e.Value())
				} else {
					t.Logf("row %d not finished: %v", r.Row, err)
				}
			}
		}
		t.Fatalf("batch did not finish: %+v", res.Summary.Counts)
	}
	return res
}

// TestUpdateCAS: concurrent read-modify-writes of one key lose nothing.
func TestUpdateCAS(t *testing.T) {
	_, _, q := testQueue(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if _, _, err := update(ctx, q.rates, "counter", func(v *tokenBucket, _ bool) error { v.Tokens++; return nil }); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	v, _, _ := update(ctx, q.rates, "counter", func(v *tokenBucket, _ bool) error { return errWait })
	if v.Tokens != 200 {
		t.Fatalf("counter = %v, want 200 (a lost update)", v.Tokens)
	}
}

// TestBatchAcrossWorkers: three workers share a batch; every recording is
// prepared once, every row sent once; resubmitting sends nothing.
func TestBatchAcrossWorkers(t *testing.T) {
	_, _, q := testQueue(t)
	fk := newFake()
	fk.prepareWait = 50 * time.Millisecond
	m := manifest(t, 6, 60)
	ctx := context.Background()
	sub := submit(t, q, m, SubmitOptions{})
	if sub.Queued != 60 || sub.Distinct != 6 {
		t.Fatalf("queued %d distinct %d, want 60 and 6", sub.Queued, sub.Distinct)
	}
	stop := runWorkers(t, q, fk, 3, WorkerOptions{Jobs: 2})
	defer stop()
	res := waitResult(t, q, sub)
	if !res.AllSent() {
		t.Fatalf("not all sent: %+v", res.Summary.Counts)
	}
	for f, n := range fk.prepares {
		if n != 1 {
			t.Errorf("%s prepared %d times, want once", f, n)
		}
	}
	if len(fk.prepares) != 6 {
		t.Errorf("%d recordings prepared, want 6", len(fk.prepares))
	}
	for k, n := range fk.sendsTo() {
		if n != 1 {
			t.Errorf("%s got %d messages", k, n)
		}
	}
	if len(fk.sends) != 60 {
		t.Errorf("%d sends, want 60", len(fk.sends))
	}
	// Resubmit: nothing queued, nothing sent, same report.
	sub2, err := q.Submit(ctx, m, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sub2.Queued != 0 {
		t.Errorf("resubmission queued %d rows, want 0", sub2.Queued)
	}
	res2 := waitResult(t, q, sub2)
	if !res2.AllSent() || len(fk.sends) != 60 {
		t.Errorf("after resubmitting: all sent %v, %d sends", res2.AllSent(), len(fk.sends))
	}
	for i := range res.Rows {
		if res.Rows[i].MessageID != res2.Rows[i].MessageID {
			t.Errorf("row %d: message id %q then %q", res.Rows[i].Row, res.Rows[i].MessageID, res2.Rows[i].MessageID)
		}
	}
}

// TestSendingUnderDeadWorkerIsUnknown: a row left "sending" by a worker
// that is gone is unknown, never resent — unless resubmitted with
// ResendUnknown, and then with the same client message id.
func TestSendingUnderDeadWorkerIsUnknown(t *testing.T) {
	_, _, q := testQueue(t)
	fk := newFake()
	m := manifest(t, 1, 3) // rows 0,1 meta, row 2 infobip
	ctx := context.Background()
	// Submit with no worker running, then play a worker that set rows
	// "sending" and died.
	sub := submit(t, q, m, SubmitOptions{})
	for _, i := range []int{0, 2} {
		k := rowKV(sub.Batch, sub.Rows[i].Key)
		if _, _, err := update(ctx, q.rows, k, func(r *Row, _ bool) error {
			r.State, r.Worker, r.Attempt, r.ClientID = StateSending, "ghost", "a1", "client-ghost"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	stop := runWorkers(t, q, fk, 1, WorkerOptions{Logf: t.Logf})
	res := waitResult(t, q, sub)
	want := []pipeline.Status{pipeline.StatusUnknown, pipeline.StatusSent, pipeline.StatusUnknown}
	for i, r := range res.Rows {
		if r.Status != want[i] {
			t.Errorf("row %d: %s (%s), want %s", r.Row, r.Status, r.Error, want[i])
		}
	}
	if len(fk.sends) != 1 {
		t.Fatalf("%d sends, want 1 (the in-doubt rows must not be resent)", len(fk.sends))
	}
	sub = submit(t, q, m, SubmitOptions{ResendUnknown: true})
	res = waitResult(t, q, sub)
	stop()
	if !res.AllSent() || len(fk.sends) != 3 {
		t.Fatalf("with ResendUnknown: all sent %v, %d sends (want 3)", res.AllSent(), len(fk.sends))
	}
	if got := fk.sends[2].MessageID; fk.sends[2].Provider == send.Infobip && got != "client-ghost" {
		t.Errorf("Infobip resend carried messageId %q, want the in-doubt one (client-ghost)", got)
	}
}

// TestClaimTakeover: a recording claimed by a dead worker is taken over;
// one claimed by a live worker is waited for.
func TestClaimTakeover(t *testing.T) {
	_, _, q := testQueue(t)
	fk := newFake()
	m := manifest(t, 2, 4)
	ctx := context.Background()
	sub := submit(t, q, m, SubmitOptions{})
	// rec00 claimed by a dead worker; rec01 by a live one that then
	// finishes it itself.
	for i, holder := range []string{"ghost", "alive"} {
		ck := ContentKey(sub.Rows[i].SHA, sub.Rows[i].Row.Profile)
		update(ctx, q.recs, ck, func(r *Recording, _ bool) error { r.Worker = holder; r.Claims++; return nil })
	}
	q.workers.Put(ctx, "alive", []byte("x"))
	stop := runWorkers(t, q, fk, 2, WorkerOptions{})
	defer stop()
	time.Sleep(500 * time.Millisecond)
	ck := ContentKey(sub.Rows[1].SHA, sub.Rows[1].Row.Profile)
	update(ctx, q.recs, ck, func(r *Recording, _ bool) error {
		r.Worker = ""
		r.Media = map[string][]MediaRef{}
		for _, d := range r.Want {
			r.Media[d] = []MediaRef{{Ref: upload.Ref{MediaID: "by-alive-" + string(d)}, At: time.Now()}}
		}
		return nil
	})
	res := waitResult(t, q, sub)
	if !res.AllSent() {
		t.Fatalf("not all sent: %+v", res.Summary.Counts)
	}
	if fk.prepares["rec00.ogg"] != 1 || fk.prepares["rec01.ogg"] != 0 {
		t.Errorf("prepares %v: want rec00 taken over once, rec01 left to its live holder", fk.prepares)
	}
	if !strings.HasPrefix(res.Rows[1].Media, "by-alive-") {
		t.Errorf("row 1 media %q, want the live holder's", res.Rows[1].Media)
	}
}

// TestRateAcrossWorkers: two workers together hold one account's rate.
func TestRateAcrossWorkers(t *testing.T) {
	_, _, q := testQueue(t)
	fk := newFake()
	// Each send's time with its provider, together under one lock (in
	// time order): fk.sends is appended under another lock, in another
	// order, so its i-th entry need not be times' i-th.
	var mu sync.Mutex
	var meta []time.Time
	fk.sendHook = func(req SendRequest) (*send.Receipt, error) {
		mu.Lock()
		if req.Provider == send.Meta {
			meta = append(meta, time.Now())
		}
		mu.Unlock()
		return nil, errPass
	}
	m := manifest(t, 1, 60)
	const rate = 20.0
	sub := submit(t, q, m, SubmitOptions{Rate: map[send.Provider]float64{send.Meta: rate, send.Infobip: rate}})
	stop := runWorkers(t, q, fk, 2, WorkerOptions{})
	defer stop()
	res := waitResult(t, q, sub)
	if !res.AllSent() {
		t.Fatalf("not all sent: %+v", res.Summary.Counts)
	}
	// Meta rows: 40 at 20/s with a burst of 1 → no window of one second
	// holds more than 21 (slack for sends timed late on a loaded machine;
	// without the shared bucket all 40 would leave at once).
	mu.Lock()
	defer mu.Unlock()
	if len(meta) != 40 {
		t.Fatalf("%d Meta sends, want 40", len(meta))
	}
	for i := range meta {
		n := 0
		for _, t2 := range meta[i:] {
			if t2.Sub(meta[i]) < time.Second {
				n++
			}
		}
		if n > int(rate*1.25)+2 { // slack: a send is timed after its token was taken, late on a loaded machine
			t.Fatalf("%d Meta sends within one second from send %d; the shared limit is %v/s", n, i, rate)
		}
	}
	t.Logf("%d Meta sends over %v", len(meta), meta[len(meta)-1].Sub(meta[0]))
}

// TestStopHandsBack: a worker stopped while preparing releases its claim
// and its rows; another worker finishes them, preparing once more.
func TestStopHandsBack(t *testing.T) {
	_, _, q := testQueue(t)
	slow := newFake()
	slow.prepareWait = time.Minute
	m := manifest(t, 1, 5)
	sub := submit(t, q, m, SubmitOptions{})
	stop := runWorkers(t, q, slow, 1, WorkerOptions{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		slow.mu.Lock()
		n := len(slow.prepares)
		slow.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first worker never started preparing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t0 := time.Now()
	stop()
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("stopping took %v", d)
	}
	fast := newFake()
	stop2 := runWorkers(t, q, fast, 1, WorkerOptions{})
	defer stop2()
	res := waitResult(t, q, sub)
	if !res.AllSent() || len(slow.sends) != 0 || len(fast.sends) != 5 {
		t.Fatalf("all sent %v, sends by the stopped worker %d, by the other %d", res.AllSent(), len(slow.sends), len(fast.sends))
	}
}

// TestInDoubtSendIsUnknown: a send whose answer never came is unknown
// (never failed: a resubmission would send it again).
func TestInDoubtSendIsUnknown(t *testing.T) {
	_, _, q := testQueue(t)
	fk := newFake()
	fk.sendHook = func(req SendRequest) (*send.Receipt, error) {
		return nil, &send.InDoubtError{Provider: req.Provider, To: req.To, Err: errors.New("connection closed")}
	}
	m := manifest(t, 1, 2)
	sub := submit(t, q, m, SubmitOptions{})
	stop := runWorkers(t, q, fk, 1, WorkerOptions{})
	defer stop()
	res := waitResult(t, q, sub)
	for _, r := range res.Rows {
		if r.Status != pipeline.StatusUnknown {
			t.Errorf("row %d: %s (%s), want unknown", r.Row, r.Status, r.Error)
		}
	}
	fk.mu.Lock()
	fk.sendHook = nil
	fk.mu.Unlock()
	sub = submit(t, q, m, SubmitOptions{})
	waitResult(t, q, sub)
	if len(fk.sends) != 2 {
		t.Errorf("%d sends; resubmitting must not resend rows in doubt", len(fk.sends))
	}
}

// TestPrepareFailureFailsRowsOnce: a recording that cannot be prepared
// fails every row using it after one attempt (not one per row); a
// resubmission tries it again.
func TestPrepareFailureFailsRowsOnce(t *testing.T) {
	_, _, q := testQueue(t)
	fk := newFake()
	fk.prepareErr = errors.New("inspect rec00.ogg: not_audio")
	m := manifest(t, 1, 6)
	sub := submit(t, q, m, SubmitOptions{})
	stop := runWorkers(t, q, fk, 2, WorkerOptions{})
	defer stop()
	res := waitResult(t, q, sub)
	for _, r := range res.Rows {
		if r.Status != pipeline.StatusFailed || !strings.Contains(r.Error, "not_audio") {
			t.Errorf("row %d: %s %q, want failed with the prepare error", r.Row, r.Status, r.Error)
		}
	}
	if n := fk.prepares["rec00.ogg"]; n != 1 {
		t.Errorf("prepared %d times, want once for all its rows", n)
	}
	fk.mu.Lock()
	fk.prepareErr = nil
	fk.mu.Unlock()
	sub = submit(t, q, m, SubmitOptions{})
	if sub.Queued != 6 {
		t.Errorf("resubmission queued %d failed rows, want 6", sub.Queued)
	}
	if res := waitResult(t, q, sub); !res.AllSent() || len(fk.sends) != 6 {
		t.Errorf("after fixing: all sent %v, %d sends", res.AllSent(), len(fk.sends))
	}
}

// TestResolveUnknown: an unknown row whose message a status was found for
// becomes sent with that id, and is not resent by ResendUnknown.
func TestResolveUnknown(t *testing.T) {
	_, _, q := testQueue(t)
	fk := newFake()
	fk.sendHook = func(req SendRequest) (*send.Receipt, error) {
		return nil, &send.InDoubtError{Provider: req.Provider, To: req.To, Err: errors.New("connection closed")}
	}
	m := manifest(t, 1, 2)
	ctx := context.Background()
	sub := submit(t, q, m, SubmitOptions{})
	stop := runWorkers(t, q, fk, 1, WorkerOptions{})
	defer stop()
	waitResult(t, q, sub)
	// A status arrived for row 1's message (found by its key), none for row 2.
	n, err := q.ResolveUnknown(ctx, sub, func(r Row) (string, bool) {
		if r.Key == sub.Rows[0].Key {
			return "wamid.from-status", true
		}
		return "", false
	})
	if err != nil || n != 1 {
		t.Fatalf("resolved %d, %v; want 1", n, err)
	}
	fk.mu.Lock()
	fk.sendHook = nil
	fk.mu.Unlock()
	sub = submit(t, q, m, SubmitOptions{ResendUnknown: true})
	res := waitResult(t, q, sub)
	if res.Rows[0].Status != pipeline.StatusSent || res.Rows[0].MessageID != "wamid.from-status" {
		t.Errorf("row 1: %s %q, want sent as wamid.from-status", res.Rows[0].Status, res.Rows[0].MessageID)
	}
	if len(fk.sends) != 3 {
		t.Errorf("%d sends, want 3 (two in doubt, then only the unresolved one again)", len(fk.sends))
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://user:s3cret@nats:4222", "nats://***@nats:4222"},
		{"nats://tok3n@a:4222,nats://u:p@b:4222", "nats://***@a:4222,nats://***@b:4222"},
		{"nats://u:s3cret@x@nats:4222", "nats://***@nats:4222"}, // an '@' in the password
	} {
		if got := RedactURL(tc.in); got != tc.want || strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestConnectErrorHidesCredentials: a NATS URL that does not parse is
// refused without its password in the error (url.Parse's error quotes the
// whole URL — before: `parse "nats://u:s3cret%zz@…": invalid URL escape
// "%zz"` — and an invalid escape is a piece of the password).
func TestConnectErrorHidesCredentials(t *testing.T) {
	for _, u := range []string{"nats://u:s3cret%zz@127.0.0.1:1", "nats://u:s3cret@[::1", "nats://127.0.0.1:1,nats://u:s3cret%@h:1"} {
		_, err := Connect(u, "test")
		if err == nil {
			t.Fatalf("Connect(%q): no error", u)
		}
		if msg := err.Error(); strings.Contains(msg, "s3cret") || strings.Contains(msg, "%zz") {
			t.Errorf("Connect(%q): %q shows the password", u, msg)
		}
	}
}

// TestHardStopWithServerAway: a second signal (hard) ends a worker whose
// NATS server went away while it stored a send's outcome — at once, not
// after the two minutes finishRow keeps trying — and the row is left
// "sending" under the stopped worker, so it becomes unknown and is never
// sent again. (Before: Run returned only after finishRow's 2 minutes: a
// prep worker with its server gone ignored a second SIGTERM for 2.5 min.)
func TestHardStopWithServerAway(t *testing.T) {
	srv, _, q := testQueue(t)
	fk := newFake()
	sent := make(chan struct{})
	fk.sendHook = func(req SendRequest) (*send.Receipt, error) {
		srv.Kill() // the outcome cannot be stored
		close(sent)
		return &send.Receipt{MessageID: "wamid.lost"}, nil
	}
	m := manifest(t, 1, 1)
	ctx := context.Background()
	sub := submit(t, q, m, SubmitOptions{})
	soft, stopSoft := context.WithCancel(ctx)
	hard, stopHard := context.WithCancel(ctx)
	defer stopSoft()
	defer stopHard()
	w := q.NewWorker(fk, WorkerOptions{ID: "w-hard", Logf: t.Logf})
	done := make(chan error, 1)
	go func() { done <- w.Run(soft, hard) }()
	select {
	case <-sent:
	case <-time.After(20 * time.Second):
		t.Fatal("the row was never sent")
	}
	stopSoft()
	stopHard()
	t0 := time.Now()
	select {
	case err := <-done:
		t.Logf("Run returned %v after %v", err, time.Since(t0).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30 s after the hard stop (the server is away)")
	}

	// The server comes back: the row is in doubt (or sent with its message
	// id, when the client's buffered write lands after the reconnection),
	// never sent again.
	srv.Restart()
	fk.mu.Lock()
	fk.sendHook = nil
	fk.mu.Unlock()
	stop := runWorkers(t, q, fk, 1, WorkerOptions{Logf: t.Logf})
	defer stop()
	res := waitResult(t, q, sub)
	switch r := res.Rows[0]; {
	case r.Status == pipeline.StatusUnknown:
	case r.Status == pipeline.StatusSent && r.MessageID == "wamid.lost":
	default:
		t.Errorf("row: %s %q (%s), want unknown, or sent as wamid.lost", r.Status, r.MessageID, r.Error)
	}
	if len(fk.sends) != 1 {
		t.Errorf("%d sends, want 1", len(fk.sends))
	}
}

// TestWaitStopsWithServerAway: a submitter stopped while its NATS server
// is away returns its report at once — not after a 5 s read per distinct
// recording for the summary's figures (before: prep batch --queue with 10
// recordings ignored Ctrl-C for 51 s).
func TestWaitStopsWithServerAway(t *testing.T) {
	srv, _, q := testQueue(t)
	m := manifest(t, 8, 8) // 8 distinct recordings, no worker
	sub := submit(t, q, m, SubmitOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan struct{}, 1)
	done := make(chan *pipeline.BatchResult, 1)
	go func() {
		res, _ := q.Wait(ctx, sub, 50*time.Millisecond, func(pg pipeline.Progress) {
			select {
			case seen <- struct{}{}:
			default:
			}
		})
		done <- res
	}()
	<-seen // the rows were read once
	srv.Kill()
	cancel()
	t0 := time.Now()
	select {
	case res := <-done:
		if d := time.Since(t0); d > 15*time.Second {
			t.Errorf("Wait returned %v after it was stopped", d)
		}
		if !res.Summary.Interrupted || res.Summary.Counts[pipeline.StatusSkipped] != 8 {
			t.Errorf("summary %+v, want interrupted with 8 rows not finished", res.Summary)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Wait did not return 30 s after it was stopped (the server is away)")
	}
}

// TestHardStopPreparingWithServerAway: a second signal (hard) ends a
// worker that prepared a recording while its NATS server went away — it
// does not keep trying to store the recording's media (and release its
// claim) for two minutes.
func TestHardStopPreparingWithServerAway(t *testing.T) {
	srv, _, q := testQueue(t)
	fk := newFake()
	prepared := make(chan struct{})
	fk.prepareHook = func(ctx context.Context, req PrepareRequest) error {
		srv.Kill() // the outcome cannot be stored
		close(prepared)
		return nil
	}
	m := manifest(t, 1, 1)
	if _, err := q.Submit(context.Background(), m, SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	soft, stopSoft := context.WithCancel(context.Background())
	hard, stopHard := context.WithCancel(context.Background())
	defer stopSoft()
	defer stopHard()
	w := q.NewWorker(fk, WorkerOptions{ID: "w-prep-hard", Logf: t.Logf})
	done := make(chan error, 1)
	go func() { done <- w.Run(soft, hard) }()
	select {
	case <-prepared:
	case <-time.After(20 * time.Second):
		t.Fatal("the recording was never prepared")
	}
	stopSoft()
	stopHard()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30 s after the hard stop (the server is away)")
	}
	if len(fk.sends) != 0 {
		t.Errorf("%d sends after the server went away", len(fk.sends))
	}
}

// TestOpenRefusesTinyTimers: an ack wait or worker TTL under MinTimer is a
// configuration error (before, Open took PREP_QUEUE_ACK_WAIT=2ns and the
// worker panicked at its first row: "non-positive interval for
// NewTicker", every third of the ack wait being 0).
func TestOpenRefusesTinyTimers(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := Connect(srv.URL(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, c := range []Config{{AckWait: 2}, {WorkerTTL: 2}, {AckWait: MinTimer - 1}} {
		if _, err := Open(context.Background(), nc, c); err == nil {
			t.Errorf("Open(%+v): no error", c)
		}
	}
	if _, err := Open(context.Background(), nc, Config{AckWait: MinTimer, WorkerTTL: MinTimer}); err != nil {
		t.Errorf("Open at MinTimer: %v", err)
	}
}

// TestSubmitRefusesBadRate: a rate that is not a positive finite number
// is refused by Submit, and nothing is queued. Before, --rate Inf (or
// NaN) stored an empty batch spec (json.Marshal's error was dropped):
// every worker failed to read it, handed each row back until its last
// delivery and failed it ("its settings: unexpected end of JSON input").
func TestSubmitRefusesBadRate(t *testing.T) {
	_, _, q := testQueue(t)
	m := manifest(t, 1, 2)
	for _, r := range []float64{math.Inf(1), math.NaN(), -1} {
		sub, err := q.Submit(context.Background(), m, SubmitOptions{Rate: map[send.Provider]float64{send.Meta: r}})
		if err == nil {
			t.Errorf("rate %v: submitted %d rows", r, sub.Queued)
		}
	}
	if n, err := q.stream.Info(context.Background()); err != nil || n.State.Msgs != 0 {
		t.Errorf("stream after refused submissions: %v messages, %v", n.State.Msgs, err)
	}
}

// TestLinkMediaPresignedAgain: the recordings bucket keeps a link upload's
// object URL and key, never its presigned URL (a credential); a worker
// sending media read from the bucket has the stages presign it again
// (Linker), so every Infobip send carries a signed link while no KV entry
// does. A second batch over the same recordings, taken by fresh workers
// (no copy of their own), sends every link presigned again, and prepares
// nothing.
func TestLinkMediaPresignedAgain(t *testing.T) {
	_, _, q := testQueue(t)
	fk := newFake()
	fk.links = true
	ctx := context.Background()
	batch := func(first int) *pipeline.Manifest {
		dir := t.TempDir()
		var b strings.Builder
		b.WriteString("to,file,provider\n")
		for i := range 6 {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("rec%02d.ogg", i%3)), []byte(fmt.Sprintf("recording %d", i%3)), 0o644)
			fmt.Fprintf(&b, "+1555%07d,rec%02d.ogg,infobip\n", first+i, i%3)
		}
		os.WriteFile(filepath.Join(dir, "m.csv"), []byte(b.String()), 0o644)
		m, err := pipeline.ParseManifest(filepath.Join(dir, "m.csv"), pipeline.ManifestDefaults{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	run := func(m *pipeline.Manifest) {
		sub := submit(t, q, m, SubmitOptions{})
		stop := runWorkers(t, q, fk, 2, WorkerOptions{Jobs: 2})
		defer stop()
		if res := waitResult(t, q, sub); !res.AllSent() {
			t.Fatalf("not all sent: %+v", res.Summary.Counts)
		}
	}
	run(batch(0))
	relinked := fk.relinked.Load()
	run(batch(100))
	fk.mu.Lock()
	sends := slices.Clone(fk.sends)
	prepares := 0
	for _, n := range fk.prepares {
		prepares += n
	}
	fk.mu.Unlock()
	if len(sends) != 12 || prepares != 3 {
		t.Fatalf("%d sends, %d prepares; want 12 and 3", len(sends), prepares)
	}
	for i, s := range sends {
		if !strings.Contains(s.Link, "X-Amz-Signature=") {
			t.Errorf("send %d to %s: link %q has no signature", i, s.To, s.Link)
		}
		if i >= 6 && !strings.HasSuffix(s.Link, "=again") {
			t.Errorf("second batch's send to %s: link %q not presigned again", s.To, s.Link)
		}
	}
	if n := fk.relinked.Load() - relinked; n != 6 {
		t.Errorf("second batch presigned %d links again, want 6", n)
	}
	for _, kv := range []jetstream.KeyValue{q.recs, q.rows, q.batches} {
		keys, err := kv.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if e, err := kv.Get(ctx, k); err == nil && strings.Contains(string(e.Value()), "X-Amz-Signature") {
				t.Errorf("KV %s %s holds a presigned URL: %s", kv.Bucket(), k, e.Value())
			}
		}
	}
}

// TestRecordingFailureLeavesSentRow: a row sent by another worker while
// this one waited for its recording (its message delivered again while
// this worker held it) stays sent when the recording then fails here —
// not stored "failed" with its message out, which resubmitting sends
// again. (Failed before the fix: the row was "failed", its message id
// kept.)
func TestRecordingFailureLeavesSentRow(t *testing.T) {
	_, _, q := testQueue(t)
	fk := newFake()
	m := manifest(t, 1, 1)
	ctx := context.Background()
	sub := submit(t, q, m, SubmitOptions{})
	k := rowKV(sub.Batch, sub.Rows[0].Key)
	fk.prepareHook = func(ctx context.Context, req PrepareRequest) error {
		if _, _, err := update(ctx, q.rows, k, func(r *Row, exists bool) error {
			r.State, r.Worker, r.IDs = StateSent, "another-worker", []string{"wamid.other"}
			return nil
		}); err != nil {
			return err
		}
		return errors.New("inspect rec00.ogg: not_audio")
	}
	stop := runWorkers(t, q, fk, 1, WorkerOptions{})
	defer stop()
	// The row's message is acknowledged once the worker has settled it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := q.cons.Info(ctx)
		if err == nil && info.Delivered.Consumer >= 1 && info.NumAckPending == 0 && info.NumPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the row's message was not acknowledged: %+v %v", info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	e, err := q.rows.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	var r Row
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		t.Fatal(err)
	}
	if r.State != StateSent || !slices.Equal(r.IDs, []string{"wamid.other"}) {
		t.Errorf("row %s %v %q, want sent as wamid.other (another worker sent it)", r.State, r.IDs, r.Error)
	}
	if len(fk.sends) != 0 {
		t.Errorf("%d sends, want none from this worker", len(fk.sends))
	}
}

// A long-running worker's own media copies follow the last hour's
// recordings: older ones are swept, so its memory does not grow with every
// recording it ever saw. (Before: entries were never removed.)
func TestMediaCacheForgets(t *testing.T) {
	w := &Worker{}
	old := time.Now().Add(-2 * mediaCacheAge)
	for i := range 5000 {
		w.mediaCache.Store(fmt.Sprintf("old%d|meta", i), mediaEntry{nil, old})
	}
	for i := range mediaCacheSweep {
		w.cacheMedia(fmt.Sprintf("new%d", i), "meta", nil)
	}
	n, stale := 0, 0
	w.mediaCache.Range(func(k, v any) bool {
		n++
		if v.(mediaEntry).at.Equal(old) {
			stale++
		}
		return true
	})
	if stale != 0 || n != mediaCacheSweep {
		t.Fatalf("%d entries, %d older than %s, want %d and none", n, stale, mediaCacheAge, mediaCacheSweep)
	}
	if _, ok := w.cachedMedia("new0", "meta", 6*24*time.Hour); !ok {
		t.Fatal("a fresh entry is not used")
	}
}
