package queue

import (
	"context"
	"testing"
	"time"
)

// TestRateAccountsDoNotWaitForEachOther: a row of one provider account
// takes its turn while a row of another account waits for its own bucket
// to refill. (Before, the limiter held one lock across every account's
// wait: an Infobip row at 4,000/s waited behind a Meta row at 80/s.)
func TestRateAccountsDoNotWaitForEachOther(t *testing.T) {
	_, _, q := testQueue(t)
	l := newLimiter(q)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The slow account's one token is spent: its next take waits ~100 s.
	if err := l.take(ctx, "meta.slow", 0.01); err != nil {
		t.Fatal(err)
	}
	slow := make(chan error, 1)
	go func() { slow <- l.take(ctx, "meta.slow", 0.01) }()
	time.Sleep(100 * time.Millisecond) // let it wait (holding what it holds)
	fast := make(chan error, 1)
	go func() { fast <- l.take(ctx, "infobip.fast", 1000) }()
	select {
	case err := <-fast:
		if err != nil {
			t.Fatalf("fast account: %v", err)
		}
	case err := <-slow:
		t.Fatalf("the slow account's take returned (%v) before the fast one's", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the fast account's take waited for the slow account's bucket")
	}
	cancel()
	if err := <-slow; err == nil {
		t.Error("the slow account's take ended without a token or an error")
	}
}
