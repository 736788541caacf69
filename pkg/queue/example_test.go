package queue_test

import (
	"context"
	"log"
	"os"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/queue"
	"github.com/prep-audio/prep/pkg/send"
)

// A submitter puts a manifest in the queue and waits for the report; any
// number of workers (on any machines) run the rows.
func Example() {
	ctx := context.Background()
	nc, err := queue.Connect("nats://127.0.0.1:4222", "prep example")
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	q, err := queue.Open(ctx, nc, queue.Config{})
	if err != nil {
		log.Fatal(err)
	}

	// A worker (usually `prep worker` on another machine).
	p, err := pipeline.NewSandboxPipeline(pipeline.SandboxConfig{URL: "http://127.0.0.1:8080"})
	if err != nil {
		log.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go q.NewWorker(queue.PipelineStages{P: p}, queue.WorkerOptions{Jobs: 2}).Run(wctx, ctx)

	// The submitter.
	m, err := pipeline.ParseManifest("manifest.csv", pipeline.ManifestDefaults{Provider: send.Meta})
	if err != nil {
		log.Fatal(err)
	}
	sub, err := q.Submit(ctx, m, queue.SubmitOptions{})
	if err != nil {
		log.Fatal(err)
	}
	res, err := q.Wait(ctx, sub, 0, nil)
	if err != nil {
		log.Fatal(err)
	}
	pipeline.WriteReportJSONL(os.Stdout, res)
}
