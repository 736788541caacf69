package queue

import (
	"context"
	"testing"
	"time"

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
	sub, err := q.Submit(ctx, m, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
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
