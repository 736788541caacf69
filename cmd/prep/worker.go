package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/prep-audio/prep/pkg/queue"
	"github.com/prep-audio/prep/pkg/send"
)

func runWorker(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "worker", "--queue nats://HOST:PORT [--jobs N] [--concurrency N] [--id ID] [--json]")
	url := fs.String("queue", "", "NATS server URL(s), comma-separated (env PREP_QUEUE)")
	jobs := fs.Int("jobs", 0, "recordings prepared (transcoded) at once (default: number of cores)")
	conc := fs.Int("concurrency", 256, "rows held at once (waiting for media or sending; 32 of them sending at once)")
	id := fs.String("id", "", "worker id (default host-pid-random; must be unique)")
	asJSON := fs.Bool("json", false, "print the worker's counts as JSON on stdout when it ends")
	sf := addStageFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	*url = envOr(e, *url, "PREP_QUEUE")
	if *url == "" || len(pos) > 0 || *jobs < 0 || *conc < 1 {
		fs.Usage()
		return usageErrorf("worker: give --queue nats://HOST:PORT")
	}
	// Providers: every one the environment has credentials for (all of
	// them with --sandbox).
	var providers []send.Provider
	sandbox := envOr(e, *sf.sandbox, "PREP_SANDBOX_URL") != ""
	for _, p := range []struct {
		p   send.Provider
		env string
	}{{send.Meta, "WHATSAPP_ACCESS_TOKEN"}, {send.D360, "D360_API_KEY"}, {send.Infobip, "INFOBIP_API_KEY"}} {
		if sandbox || e.getenv(p.env) != "" {
			providers = append(providers, p.p)
		}
	}
	if len(providers) == 0 {
		return usageErrorf("worker: no provider credentials in the environment (WHATSAPP_ACCESS_TOKEN, D360_API_KEY, INFOBIP_API_KEY), and no --sandbox")
	}
	sf.linkToo = true // rows submitted with --upload s3 need the link host too
	p, err := buildPipeline(ctx, e, sf, providers, false, "")
	if err != nil {
		return err
	}
	sources, err := sourcesFromEnv(ctx, e)
	if err != nil {
		return err
	}
	q, closeQ, err := openQueue(ctx, e, *url, "prep worker")
	if err != nil {
		return err
	}
	defer closeQ()
	acct := func(pv send.Provider) string {
		// The account a rate bucket is for (every 360dialog key or
		// Infobip key its own): never a secret.
		if a := p.Account(pv); a != "" {
			return a
		}
		return string(pv)
	}
	w := q.NewWorker(queue.PipelineStages{P: p}, queue.WorkerOptions{ID: *id, Jobs: *jobs, Concurrency: *conc, Sources: sources,
		Account: acct, Logf: func(f string, a ...any) { fmt.Fprintf(e.stderr, "prep worker: "+f+"\n", a...) }})
	fmt.Fprintf(e.stderr, "prep worker %s: taking rows from %s (providers %v)\n", w.ID(), queue.RedactURL(*url), providers)
	hard, stop := twoStageSignals(ctx)
	defer stop()
	t0 := time.Now()
	go func() {
		<-ctx.Done()
		fmt.Fprintf(e.stderr, "prep worker %s: stopping — handing back what it holds, finishing the sends in flight (again to stop at once)\n", w.ID())
	}()
	err = w.Run(ctx, hard)
	st := w.Stats()
	fmt.Fprintf(e.stderr, "prep worker %s: stopped after %v: %d rows, %d messages, %d recordings prepared\n",
		w.ID(), time.Since(t0).Round(time.Millisecond), st.Rows, st.Messages, st.Prepared)
	if *asJSON {
		b, _ := json.Marshal(struct {
			ID string `json:"id"`
			queue.WorkerStats
		}{w.ID(), st})
		fmt.Fprintf(e.stdout, "%s\n", b)
	}
	return err
}
