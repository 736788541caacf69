package transcode

import (
	"context"
	"io"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Job is one input of a batch and where it goes: Out (a file), else Dir
// (named after the input), else W.
type Job struct {
	Input Input
	Out   string
	Dir   string
	W     io.Writer
}

// Do runs one job.
func (t *Transcoder) Do(ctx context.Context, j Job) (*Result, error) {
	switch {
	case j.Out != "":
		return t.ToFile(ctx, j.Input, j.Out)
	case j.W != nil:
		return t.ToWriter(ctx, j.Input, j.W)
	default:
		return t.ToDir(ctx, j.Input, j.Dir)
	}
}

// Batch runs jobs with at most workers in parallel (workers < 1: one per
// core). done is called once per job as it finishes, never concurrently,
// with the job's index. Batch returns when every job has finished; after
// cancellation the remaining jobs finish at once with KindCanceled.
func (t *Transcoder) Batch(ctx context.Context, jobs []Job, workers int, done func(i int, r *Result, err error)) {
	if workers < 1 {
		workers = DefaultJobs()
	}
	workers = min(workers, max(len(jobs), 1))
	var mu sync.Mutex
	report := func(i int, r *Result, err error) {
		if done == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		done(i, r, err)
	}
	// A plain group: one job's failure does not stop the others.
	var g errgroup.Group
	g.SetLimit(workers)
	for i := range jobs {
		g.Go(func() error {
			r, err := t.Do(ctx, jobs[i])
			report(i, r, err)
			return nil
		})
	}
	_ = g.Wait()
}
