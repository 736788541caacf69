package queue

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/prep-audio/prep/pkg/send"
)

// DefaultRate is a provider account's message rate when the batch names
// none: Meta's and 360dialog's 80 messages/s (Meta's lowest throughput
// tier), Infobip's documented 4,000 requests/s.
func DefaultRate(p send.Provider) float64 {
	if p == send.Infobip {
		return 4000
	}
	return 80
}

// tokenBucket is a rate bucket's value in the rates bucket.
type tokenBucket struct {
	Tokens float64   `json:"tokens"`
	T      time.Time `json:"t"`
}

// limiter takes send tokens from the shared buckets. A worker takes a lease
// of several tokens in one compare-and-set (about rate/50 of them, so a
// bucket sees ~50 writes a second whatever the rate and the number of
// workers) and spends them locally. Each bucket has a lock of its own: a
// row waiting for one account's bucket to refill holds up no other
// account's rows.
type limiter struct {
	q     *Queue
	mu    sync.Mutex // guards leases
	lease map[string]*lease
}

// lease is a bucket's tokens taken and not yet spent by this worker.
type lease struct {
	mu     sync.Mutex // held while a take waits for the bucket
	tokens float64
}

func newLimiter(q *Queue) *limiter { return &limiter{q: q, lease: map[string]*lease{}} }

// leaseSize is how many tokens one compare-and-set takes at most.
func leaseSize(rate float64) float64 { return math.Max(1, math.Floor(rate/50)) }

// take waits for one token of the bucket key filling at rate per second.
func (l *limiter) take(ctx context.Context, key string, rate float64) error {
	l.mu.Lock()
	ls := l.lease[key]
	if ls == nil {
		ls = &lease{}
		l.lease[key] = ls
	}
	l.mu.Unlock()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.tokens >= 1 {
		ls.tokens--
		return nil
	}
	n := leaseSize(rate)
	for {
		var got float64
		var wait time.Duration
		_, _, err := update(ctx, l.q.rates, key, func(b *tokenBucket, exists bool) error {
			now := time.Now().UTC()
			if !exists {
				b.Tokens, b.T = n, now
			} else if el := now.Sub(b.T); el > 0 {
				b.Tokens = math.Min(n, b.Tokens+el.Seconds()*rate)
				b.T = now
			}
			if b.Tokens < 1 {
				wait = time.Duration((1 - b.Tokens) / rate * float64(time.Second))
				return errWait
			}
			got = math.Min(n, math.Floor(b.Tokens))
			b.Tokens -= got
			return nil
		})
		switch {
		case err == nil:
			ls.tokens += got - 1
			return nil
		case errors.Is(err, errWait):
			if !sleep(ctx, max(wait, time.Millisecond)) {
				return ctx.Err()
			}
		default:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			sleep(ctx, 100*time.Millisecond) // the server is away: try again
		}
	}
}
