package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/prep-audio/prep/internal/natstest"
	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/internal/testgen/memos"
	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/send"
)

// BenchmarkQueueVsLocal runs the same manifest — 600 rows over 20 distinct
// 8 s WAV memos, the three providers in turn — through the local batch and
// through the queue with one worker in the same process (same stages, same
// --jobs, against the in-process sandbox, client rate limits off), side by
// side in each iteration. It reports both wall times, their ratio (goal:
// the queue within 1.15x of the local batch) and the NATS messages the
// submitter and the worker published per row (JetStream requests, acks,
// heartbeats: the round trips the engine costs).
func BenchmarkQueueVsLocal(b *testing.B) { benchQueueVsLocal(b, 20, 600, 8) }

// BenchmarkQueueMachinery is the same with 1,000 rows of one 1 s memo:
// the time is the engine's (and the sends'), not the transcodes'.
func BenchmarkQueueMachinery(b *testing.B) { benchQueueVsLocal(b, 1, 1000, 1) }

func benchQueueVsLocal(b *testing.B, distinct, rows, seconds int) {
	testdeps.Tool(b, "ffmpeg", "make deps")
	srv := natstest.Start(b)
	dir := b.TempDir()
	mpath := memos.Write(b, dir, distinct, rows, seconds)
	m, err := pipeline.ParseManifest(mpath, pipeline.ManifestDefaults{})
	if err != nil {
		b.Fatal(err)
	}
	jobs := runtime.NumCPU()
	fast := map[send.Provider]float64{send.Meta: 1e6, send.D360: 1e6, send.Infobip: 1e6}
	newPipeline := func() (*sandbox.Server, *pipeline.Pipeline) {
		sb, err := sandbox.Start(sandbox.Config{})
		if err != nil {
			b.Fatal(err)
		}
		p, err := pipeline.NewSandboxPipeline(pipeline.SandboxConfig{URL: sb.URL(), SendOptions: []send.Option{send.WithRateLimit(0, 0)}, TempDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		return sb, p
	}
	var local, queued time.Duration
	var natsMsgs uint64
	for it := 0; it < b.N; it++ {
		// Local.
		sb, p := newPipeline()
		t0 := time.Now()
		res, err := p.NewBatch(m, pipeline.BatchOptions{Journal: filepath.Join(dir, fmt.Sprintf("j%d", it)), Jobs: jobs}).Run(context.Background())
		local += time.Since(t0)
		if err != nil || !res.AllSent() || len(sb.Messages()) != rows {
			b.Fatalf("local: %v %+v", err, res.Summary.Counts)
		}
		sb.Close()

		// Queue: fresh buckets (nothing prepared yet), one worker.
		sb, p = newPipeline()
		prefix := fmt.Sprintf("bench%d_%d", it, time.Now().UnixNano()%1e6)
		wnc, _ := Connect(srv.URL(), "worker")
		snc, _ := Connect(srv.URL(), "submitter")
		wq, err := Open(context.Background(), wnc, Config{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		sq, err := Open(context.Background(), snc, Config{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		w0, s0 := wnc.Stats().OutMsgs, snc.Stats().OutMsgs
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			wq.NewWorker(PipelineStages{P: p}, WorkerOptions{Jobs: jobs, TempDir: b.TempDir()}).Run(ctx, context.Background())
		}()
		t0 = time.Now()
		sub, err := sq.Submit(context.Background(), m, SubmitOptions{Batch: prefix, Rate: fast})
		if err != nil {
			b.Fatal(err)
		}
		res, err = sq.Wait(context.Background(), sub, time.Second, nil)
		queued += time.Since(t0)
		if err != nil || !res.AllSent() || len(sb.Messages()) != rows {
			b.Fatalf("queue: %v %+v, %d messages", err, res.Summary.Counts, len(sb.Messages()))
		}
		natsMsgs += wnc.Stats().OutMsgs - w0 + snc.Stats().OutMsgs - s0
		stop()
		<-done
		wnc.Close()
		snc.Close()
		sb.Close()
	}
	n := float64(b.N)
	b.ReportMetric(local.Seconds()/n, "local-s")
	b.ReportMetric(queued.Seconds()/n, "queue-s")
	b.ReportMetric(queued.Seconds()/local.Seconds(), "x-local")
	b.ReportMetric(float64(natsMsgs)/n/float64(rows), "nats-msgs/row")
	b.ReportMetric(float64(rows)*n/queued.Seconds(), "queue-rows/s")
	b.ReportMetric(float64(rows)*n/local.Seconds(), "local-rows/s")
}
