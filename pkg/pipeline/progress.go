package pipeline

import (
	"sync"
	"time"
)

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

// tally counts finished rows by status.
type tally struct {
	mu    sync.Mutex
	n     map[Status]int
	start int // rows finished before the work began (settled by the journal)
}

func (t *tally) add(s Status) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[Status]int{}
	}
	t.n[s]++
}

// snapshot returns the counts and their sum.
func (t *tally) snapshot() (map[Status]int, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[Status]int, len(t.n))
	done := 0
	for s, k := range t.n {
		out[s] = k
		done += k
	}
	return out, done
}

// markStart notes the rows finished so far: the rate counts this run's
// work only.
func (t *tally) markStart() {
	_, done := t.snapshot()
	t.mu.Lock()
	t.start = done
	t.mu.Unlock()
}

func (b *Batch) progress(total int, start time.Time, final bool) Progress {
	n, done := b.tally.snapshot()
	b.tally.mu.Lock()
	first := b.tally.start
	b.tally.mu.Unlock()
	pg := Progress{Total: total, Done: done, Elapsed: time.Since(start), Final: final,
		Sent: n[StatusSent], Failed: n[StatusFailed], Unknown: n[StatusUnknown], Skipped: n[StatusSkipped], Invalid: n[StatusInvalid]}
	if sec := pg.Elapsed.Seconds(); sec > 0 {
		pg.Rate = float64(done-first) / sec
	}
	if pg.Rate > 0 && done < total {
		pg.ETA = time.Duration(float64(total-done) / pg.Rate * float64(time.Second))
	}
	return pg
}

// startProgress calls the Progress callback every ProgressEvery until the
// returned stop is called (the final call is the caller's).
func (b *Batch) startProgress(total int, start time.Time) (stop func()) {
	b.tally.markStart()
	if b.opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(b.opts.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.opts.Progress(b.progress(total, start, false))
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
