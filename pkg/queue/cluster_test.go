package queue

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/prep-audio/prep/internal/natstest"
	"github.com/prep-audio/prep/pkg/send"
)

// TestClusterNodeLoss: on a three-node JetStream cluster (every stream and
// bucket with three replicas), one node is killed mid-batch; the batch
// finishes with every row sent exactly once.
func TestClusterNodeLoss(t *testing.T) {
	c := natstest.StartCluster(t)
	nc, err := Connect(c.URLs(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	q, err := Open(ctx, nc, Config{Replicas: 3, AckWait: 2 * time.Second, WorkerTTL: 2 * time.Second})
	if err != nil {
		t.Fatalf("open on the cluster: %v", err)
	}
	fk := newFake()
	fk.sendHook = func(SendRequest) (*send.Receipt, error) {
		time.Sleep(20 * time.Millisecond)
		return nil, errPass
	}
	m := manifest(t, 4, 80)
	sub := submit(t, q, m, SubmitOptions{})
	stop := runWorkers(t, q, fk, 2, WorkerOptions{Concurrency: 4})
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		fk.mu.Lock()
		n := len(fk.sends)
		fk.mu.Unlock()
		if n >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d sends after 30 s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Kill the node the client is connected to (its streams' leaders move).
	var victim *natstest.Server
	for _, s := range c.Servers {
		if nc.ConnectedUrl() == s.URL() {
			victim = s
		}
	}
	if victim == nil {
		victim = c.Servers[0]
	}
	victim.Kill()
	t.Logf("killed %s at %d sends", victim.Name, len(fk.sendsTo()))
	defer func() {
		if t.Failed() {
			for _, s := range c.Servers {
				if s != victim {
					l := s.Log()
					t.Logf("%s:\n%s", s.Name, l[max(0, len(l)-4000):])
				}
			}
		}
	}()
	res := waitResult(t, q, sub)
	if !res.AllSent() {
		t.Fatalf("not all sent after losing a node: %+v", res.Summary.Counts)
	}
	for k, n := range fk.sendsTo() {
		if n != 1 {
			t.Errorf("%s got %d messages", k, n)
		}
	}
	if len(fk.sends) != 80 {
		t.Errorf("%d sends for 80 rows", len(fk.sends))
	}
}

// TestClusterReadAfterWrite: on a three-node cluster a read right after a
// write sees it. Before the buckets' reads went through the stream leader
// (no direct gets), a follower behind the leader answered some with the
// value before (1 to 264 reads of 2000, with the machine loaded), and
// TestClusterNodeLoss could end with a row left "sending" for good.
func TestClusterReadAfterWrite(t *testing.T) {
	c := natstest.StartCluster(t)
	nc, err := Connect(c.URLs(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	q, err := Open(ctx, nc, Config{Replicas: 3})
	if err != nil {
		t.Fatalf("open on the cluster: %v", err)
	}
	stale := 0
	const n = 1000
	for i := range n {
		kv := q.rows
		if i%2 == 1 {
			kv = q.recs
		}
		rev, err := kv.Put(ctx, "k", []byte(strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		e, err := kv.Get(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if e.Revision() != rev {
			stale++
		}
	}
	if stale > 0 {
		t.Errorf("%d of %d reads right after a write returned an older value", stale, n)
	}
}

// lossyKV loses the answer of the first write that stores a row
// "sending" (the write lands; the caller gets a timeout, as in a leader
// change), then fails the next failGets reads: what a node loss does.
type lossyKV struct {
	jetstream.KeyValue
	mu       sync.Mutex
	lost     bool
	failGets int
}

func (l *lossyKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	n, err := l.KeyValue.Update(ctx, key, value, rev)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && !l.lost && bytes.Contains(value, []byte(`"state":"sending"`)) {
		l.lost = true
		return 0, context.DeadlineExceeded
	}
	return n, err
}

func (l *lossyKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	l.mu.Lock()
	fail := l.lost && l.failGets > 0
	if fail {
		l.failGets--
	}
	l.mu.Unlock()
	if fail {
		return nil, context.DeadlineExceeded
	}
	return l.KeyValue.Get(ctx, key)
}

// answerLossyKV loses the answer of the first update whose value lost
// matches: the write lands, the caller gets a timeout.
type answerLossyKV struct {
	jetstream.KeyValue
	lose func(value []byte) bool
	mu   sync.Mutex
	lost bool
}

func (l *answerLossyKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	n, err := l.KeyValue.Update(ctx, key, value, rev)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && !l.lost && l.lose(value) {
		l.lost = true
		return 0, context.DeadlineExceeded
	}
	return n, err
}

// storesSentPart: a write that stores a sent part's message id while parts
// remain (the row goes back to "queued").
func storesSentPart(v []byte) bool {
	return bytes.Contains(v, []byte(`"state":"queued"`)) && bytes.Contains(v, []byte(`"message_ids":["`))
}

// takesClaim: a write that takes a claim on a recording.
func takesClaim(v []byte) bool { return bytes.Contains(v, []byte(`"worker":"`)) }

// TestSentAnswerLostSplitRow: the answer to storing part 1's message id of
// a row split in 3 is lost. finishRow's retry finds the row "queued" for
// part 2 (a conflict): the worker must look at the row again and send the
// remaining parts, not ack it with parts unsent and Wait never settling.
func TestSentAnswerLostSplitRow(t *testing.T) {
	_, _, q := testQueue(t)
	lk := &answerLossyKV{KeyValue: q.rows, lose: storesSentPart}
	q.rows = lk
	fk := newFake()
	fk.parts = 3
	m := manifest(t, 1, 1)
	sub := submit(t, q, m, SubmitOptions{})
	stop := runWorkers(t, q, fk, 1, WorkerOptions{Concurrency: 1})
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := q.Wait(ctx, sub, 100*time.Millisecond, nil)
	lk.mu.Lock()
	lost := lk.lost
	lk.mu.Unlock()
	if !lost {
		t.Fatal("no answer was lost: the test did not test")
	}
	fk.mu.Lock()
	sends := len(fk.sends)
	fk.mu.Unlock()
	if err != nil {
		t.Fatalf("wait: %v (%d sends of 3)", err, sends)
	}
	if !res.AllSent() || sends != 3 {
		t.Errorf("%+v, %d sends (row: %s %q), want the row's 3 parts sent once each", res.Summary.Counts, sends, res.Rows[0].Status, res.Rows[0].Error)
	}
}

// TestSendingAnswerLost: the answer to storing a row "sending" is lost and
// the read-back fails too (a node loss under load). The worker must find
// out, by reading again, that "sending" is its own and send the row — not
// hand it back while it sits "sending" under this live worker, to end
// unknown (or stay "sending" for its deliveries) with nothing sent. This is
// how TestClusterNodeLoss left a row "sending" past its wait.
func TestSendingAnswerLost(t *testing.T) {
	_, _, q := testQueue(t)
	lk := &lossyKV{KeyValue: q.rows, failGets: 3}
	q.rows = lk
	fk := newFake()
	m := manifest(t, 1, 1)
	sub := submit(t, q, m, SubmitOptions{})
	stop := runWorkers(t, q, fk, 1, WorkerOptions{Concurrency: 1})
	defer stop()
	res := waitResult(t, q, sub)
	lk.mu.Lock()
	lost := lk.lost
	lk.mu.Unlock()
	if !lost {
		t.Fatal("no answer was lost: the test did not test")
	}
	if !res.AllSent() || len(fk.sends) != 1 {
		t.Errorf("%+v, %d sends (row: %s %q), want the row sent once", res.Summary.Counts, len(fk.sends), res.Rows[0].Status, res.Rows[0].Error)
	}
}

// flakyBatches fails the first fails reads of a batch's spec (a node loss)
// and notes whether a read had no deadline and whether one succeeded.
type flakyBatches struct {
	jetstream.KeyValue
	mu         sync.Mutex
	fails      int
	noDeadline bool
	served     bool
}

func (f *flakyBatches) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	f.mu.Lock()
	if _, ok := ctx.Deadline(); !ok {
		f.noDeadline = true
	}
	fail := f.fails > 0
	if fail {
		f.fails--
	}
	f.mu.Unlock()
	if fail {
		return nil, context.DeadlineExceeded
	}
	e, err := f.KeyValue.Get(ctx, key)
	if err == nil {
		f.mu.Lock()
		f.served = true
		f.mu.Unlock()
	}
	return e, err
}

// TestBatchSpecReadFails: reading the batch's spec (its rate) fails. The
// worker must not send at the default rate instead of the batch's: the
// row is sent only once the spec is read, and every read has a deadline.
// (Before: a failed read gave an empty spec, the send went at the default
// rate, and the read had no timeout of its own.)
func TestBatchSpecReadFails(t *testing.T) {
	_, _, q := testQueue(t)
	fb := &flakyBatches{KeyValue: q.batches, fails: 2}
	q.batches = fb
	fk := newFake()
	var early atomic.Int64 // sends before the spec was read
	fk.sendHook = func(req SendRequest) (*send.Receipt, error) {
		fb.mu.Lock()
		if !fb.served {
			early.Add(1)
		}
		fb.mu.Unlock()
		return nil, errPass
	}
	m := manifest(t, 1, 1)
	sub := submit(t, q, m, SubmitOptions{Rate: map[send.Provider]float64{send.Meta: 5}})
	stop := runWorkers(t, q, fk, 1, WorkerOptions{Concurrency: 1})
	defer stop()
	res := waitResult(t, q, sub)
	if !res.AllSent() || len(fk.sends) != 1 {
		t.Errorf("%+v, %d sends, want the row sent once", res.Summary.Counts, len(fk.sends))
	}
	if n := early.Load(); n != 0 {
		t.Errorf("%d sends before the batch's spec was read (at the default rate)", n)
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if fb.noDeadline {
		t.Error("the batch's spec was read without a deadline")
	}
}

// TestClaimAnswerLost: the answer to a worker's claim on a recording is
// lost but the claim landed. The worker must see the claim as its own and
// prepare the recording (once), not wait for itself until it stops.
// (Before: it waited on its own live claim; the batch never finished.)
func TestClaimAnswerLost(t *testing.T) {
	_, _, q := testQueue(t)
	lk := &answerLossyKV{KeyValue: q.recs, lose: takesClaim}
	q.recs = lk
	fk := newFake()
	m := manifest(t, 1, 3)
	ctx := context.Background()
	sub := submit(t, q, m, SubmitOptions{})
	stop := runWorkers(t, q, fk, 1, WorkerOptions{Concurrency: 2})
	defer stop()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	res, err := q.Wait(wctx, sub, 100*time.Millisecond, nil)
	if err != nil {
		t.Fatalf("the batch did not finish: %v", err)
	}
	lk.mu.Lock()
	lost := lk.lost
	lk.mu.Unlock()
	if !lost {
		t.Fatal("no answer was lost: the test did not test")
	}
	if res.Summary.Interrupted || !res.AllSent() || len(fk.sends) != 3 {
		t.Fatalf("%+v, %d sends, want 3 rows sent once each", res.Summary.Counts, len(fk.sends))
	}
	fk.mu.Lock()
	defer fk.mu.Unlock()
	if n := fk.prepares["rec00.ogg"]; n != 1 {
		t.Errorf("the recording was prepared %d times, want once", n)
	}
}

// TestClusterOpensTogether: processes opening one queue on a cluster at
// the same moment (workers started together) each get buckets they can
// read. Before, each Open turned the buckets' direct gets on again
// (CreateOrUpdateKeyValue) before turning them off: a handle bound in
// between made direct gets, which nobody answered once they were off —
// every read of that process failed with "no responders" (before the
// fix, processes of both rounds of 6 failed so).
func TestClusterOpensTogether(t *testing.T) {
	c := natstest.StartCluster(t)
	ctx := context.Background()
	for round := range 2 {
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nc, err := Connect(c.URLs(), "test")
				if err != nil {
					t.Error(err)
					return
				}
				defer nc.Close()
				q, err := Open(ctx, nc, Config{Replicas: 3})
				if err != nil {
					t.Errorf("round %d, open %d: %v", round, i, err)
					return
				}
				for name, kv := range map[string]jetstream.KeyValue{"rows": q.rows, "recs": q.recs, "workers": q.workers, "batches": q.batches} {
					if _, err := getWithin(ctx, kv, "missing"); !errors.Is(err, jetstream.ErrKeyNotFound) {
						t.Errorf("round %d, open %d: reading %s: %v, want key not found", round, i, name, err)
					}
				}
			}()
		}
		wg.Wait()
	}
}
