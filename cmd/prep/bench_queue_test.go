package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prep-audio/prep/internal/natstest"
	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/internal/testgen/memos"
	"github.com/prep-audio/prep/pkg/sandbox"
)

// BenchmarkQueueCLIVsLocal is issue 12's side by side, with the real
// processes: on the same manifest — 600 rows over 20 distinct 8 s WAV memos
// (so each is transcoded), the three providers in turn, one recipient a
// row — it runs
//
//	(a) prep batch --manifest M --journal J --report R
//	(b) prep worker --queue nats://… (one, started and ready beforehand)
//	    prep batch --queue nats://… --manifest M --report R
//
// against a fresh in-process sandbox each (PREP_SANDBOX_URL, what
// --sandbox sets; fresh media-id caches, a fresh queue prefix: nothing is
// shared or deduplicated between the two), --jobs 2 both ways, client rate limits off (--rate 1000000 on
// every command, so the sends are not what is timed). The order of (a) and
// (b) alternates between iterations. PREP_BENCH_WORKER_FLAGS adds flags to
// the worker's (e.g. "--concurrency 128").
//
// Wall time is the batch process's, from start to exit (the worker's start
// is not counted: it is a long-running service). It reports local-s,
// queue-s, x-local (queue/local: the goal is ≤ 1.15), and the NATS messages
// per row of the prep processes' connections, from the nats-server's
// /connz monitoring counters (closed connections included): msgs-in/row,
// published by prep (JetStream API requests, KV writes, acks, pulls,
// announcements), and msgs-out/row, delivered to prep (the replies, the
// work messages, the announcements). CPU seconds per side come from the
// processes' rusage (the local batch and its ffmpeg children; the worker,
// the submitter and the nats-server's /proc counters for the queue).
//
// Both reports are checked — every row sent, with a message the sandbox
// holds, one message per recipient, the same rows — and the worker's own
// count (each recording prepared once, every row sent), so a broken run
// fails instead of being measured. Each iteration is logged: wall and CPU
// times, when the submitter said it submitted, and when the messages went
// out (first, quartiles, last).
func BenchmarkQueueCLIVsLocal(b *testing.B) {
	benchQueueCLIVsLocal(b, 20, 600, 8)
}

func benchQueueCLIVsLocal(b *testing.B, distinct, rows, seconds int) {
	testdeps.Tool(b, "ffmpeg", "make deps")
	srv := natstest.Start(b)
	bin := prepBinary(b)
	dir := b.TempDir()
	manifest := memos.Write(b, dir, distinct, rows, seconds)
	const rate = "1000000"
	// The environment of every prep process: nothing from the caller's
	// that would change the path (a provider default, S3 for links, a
	// queue), a fresh media-id cache and queue prefix per run.
	penv := func(sb *sandbox.Server, run string) []string {
		return []string{"PREP_SANDBOX_URL=" + sb.URL(), "PREP_PROVIDER=", "PREP_QUEUE=", "PREP_QUEUE_PREFIX=" + run,
			"S3_ENDPOINT=", "S3_BUCKET=", "XDG_CACHE_HOME=" + filepath.Join(dir, run, "cache")}
	}
	var started time.Time       // of the last process runProc ran
	var submitted time.Duration // when it said it submitted its manifest
	// span is when the sandbox took its first, 25th, 50th and 75th
	// percentile and last message, after the batch process started.
	span := func(sb *sandbox.Server) string {
		var at []float64
		for _, m := range sb.Messages() {
			at = append(at, m.Time.Sub(started).Seconds())
		}
		if len(at) == 0 {
			return "no messages"
		}
		slices.Sort(at)
		q := func(f float64) float64 { return at[int(f*float64(len(at)-1))] }
		return fmt.Sprintf("messages at %.2f/%.2f/%.2f/%.2f/%.2f s", q(0), q(0.25), q(0.5), q(0.75), q(1))
	}
	runProc := func(name string, env []string, args ...string) (time.Duration, *os.ProcessState, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var errb lockedBuffer
		cmd.Stdout, cmd.Stderr = &errb, &errb
		t0 := time.Now()
		started = t0
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		hung := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
		// When prep batch --queue says it submitted (0 for a local batch).
		submitted = 0
		exited := make(chan struct{})
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			for !strings.Contains(errb.String(), "prep batch: submitted") {
				select {
				case <-exited:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
			submitted = time.Since(t0)
		}()
		err := cmd.Wait()
		el := time.Since(t0)
		close(exited)
		<-watched
		hung.Stop()
		if err != nil {
			b.Fatalf("%s: %v\n%s", name, err, errb.String())
		}
		return el, cmd.ProcessState, errb.String()
	}

	var local, queued, localCPU, queueCPU time.Duration
	var msgsIn, msgsOut int64
	var ref []reportRow
	check := func(name, report string, sb *sandbox.Server) {
		got := readReport(b, report)
		if len(got) != rows {
			b.Fatalf("%s: %d report rows, want %d", name, len(got), rows)
		}
		msgs := sb.Messages()
		if len(msgs) != rows {
			b.Fatalf("%s: %d messages in the sandbox for %d rows", name, len(msgs), rows)
		}
		ids, to := map[string]bool{}, map[string]int{}
		for _, m := range msgs {
			ids[m.ID] = true
			to[m.To]++
		}
		if len(to) != rows {
			b.Fatalf("%s: %d recipients got the %d messages", name, len(to), rows)
		}
		for i, r := range got {
			if r.Status != "sent" || !ids[r.MessageID] {
				b.Fatalf("%s: row %d %s, message %q (%s)", name, r.Row, r.Status, r.MessageID, r.Error)
			}
			if ref != nil && (r.Row != ref[i].Row || r.To != ref[i].To || r.SHA256 != ref[i].SHA256 || r.Provider != ref[i].Provider) {
				b.Fatalf("%s: row %d is %+v, the other run's %+v", name, r.Row, r, ref[i])
			}
		}
		if ref == nil {
			ref = got
		}
	}

	runLocal := func(it int) {
		sb := startBenchSandbox(b)
		defer sb.Close()
		run := fmt.Sprintf("local%d", it)
		report := filepath.Join(dir, run+".jsonl")
		el, ps, _ := runProc("local prep batch", penv(sb, run), "batch", "--manifest", manifest,
			"--journal", filepath.Join(dir, run+".journal"), "--report", report, "--jobs", "2", "--rate", rate)
		local += el
		cpu := ps.UserTime() + ps.SystemTime()
		localCPU += cpu
		check("local", report, sb)
		b.Logf("N=%d #%d local: %.2f s wall (%s), %.2f s CPU (prep batch and its ffmpegs)", b.N, it, el.Seconds(), span(sb), cpu.Seconds())
	}
	runQueue := func(it int) {
		sb := startBenchSandbox(b)
		defer sb.Close()
		run := fmt.Sprintf("queue%d", it)
		env := penv(sb, run)
		wargs := []string{"worker", "--queue", srv.URL(), "--jobs", "2", "--rate", rate, "--id", run}
		wargs = append(wargs, strings.Fields(os.Getenv("PREP_BENCH_WORKER_FLAGS"))...)
		w := exec.Command(bin, wargs...)
		w.Env = append(os.Environ(), env...)
		var werr lockedBuffer
		w.Stdout, w.Stderr = &werr, &werr
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
		wdone := make(chan struct{})
		go func() { w.Wait(); close(wdone) }()
		defer func() {
			select {
			case <-wdone:
			default:
				w.Process.Kill()
				<-wdone
			}
		}()
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(werr.String(), "taking rows from"); {
			select {
			case <-wdone:
				b.Fatalf("prep worker exited:\n%s", werr.String())
			case <-time.After(5 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				b.Fatalf("prep worker not ready after 30 s:\n%s", werr.String())
			}
		}
		c0 := connz(b, srv)
		n0 := procCPU(b, srv.PID())
		report := filepath.Join(dir, run+".jsonl")
		el, ps, _ := runProc("prep batch --queue", env, "batch", "--queue", srv.URL(), "--manifest", manifest,
			"--report", report, "--jobs", "2", "--rate", rate)
		queued += el
		// The submitter's connection, closed with its process, is counted
		// once the server lists it (closed connections included).
		var c1 map[uint64]connStats
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			c1 = connz(b, srv)
			if slices.ContainsFunc(slices.Collect(maps.Values(c1)), func(c connStats) bool { return c.Name == "prep batch" && c.InMsgs > 0 }) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("the nats-server lists no connection of prep batch --queue: %+v", c1)
			}
		}
		subCPU, natsCPU := ps.UserTime()+ps.SystemTime(), procCPU(b, srv.PID())-n0
		var in, out int64
		for cid, c := range c1 {
			in += c.InMsgs - c0[cid].InMsgs
			out += c.OutMsgs - c0[cid].OutMsgs
		}
		msgsIn, msgsOut = msgsIn+in, msgsOut+out
		w.Process.Signal(syscall.SIGTERM)
		select {
		case <-wdone:
		case <-time.After(30 * time.Second):
			b.Fatalf("prep worker did not stop within 30 s of SIGTERM:\n%s", werr.String())
		}
		if !w.ProcessState.Success() {
			b.Fatalf("prep worker: %v\n%s", w.ProcessState, werr.String())
		}
		wCPU := w.ProcessState.UserTime() + w.ProcessState.SystemTime()
		if ws := werr.String(); !strings.Contains(ws, fmt.Sprintf("%d rows, %d messages, %d recordings prepared", rows, rows, distinct)) {
			b.Fatalf("prep worker: not %d rows, %d messages, %d recordings prepared:\n%s", rows, rows, distinct, ws)
		}
		queueCPU += subCPU + natsCPU + wCPU
		check("queue", report, sb)
		b.Logf("N=%d #%d queue: %.2f s wall (submitted at %.2f s, %s), %.2f s CPU (worker and its ffmpegs %.2f, submitter %.2f, nats-server %.2f), NATS messages per row %.2f in, %.2f out",
			b.N, it, el.Seconds(), submitted.Seconds(), span(sb), (subCPU + natsCPU + wCPU).Seconds(), wCPU.Seconds(), subCPU.Seconds(), natsCPU.Seconds(), float64(in)/float64(rows), float64(out)/float64(rows))
	}

	b.ResetTimer()
	for it := range b.N {
		if it%2 == 0 {
			runLocal(it)
			runQueue(it)
		} else {
			runQueue(it)
			runLocal(it)
		}
	}
	n := float64(b.N)
	b.ReportMetric(local.Seconds()/n, "local-s")
	b.ReportMetric(queued.Seconds()/n, "queue-s")
	b.ReportMetric(queued.Seconds()/local.Seconds(), "x-local")
	b.ReportMetric(float64(msgsIn)/n/float64(rows), "msgs-in/row")
	b.ReportMetric(float64(msgsOut)/n/float64(rows), "msgs-out/row")
	b.ReportMetric(localCPU.Seconds()/n, "local-cpu-s")
	b.ReportMetric(queueCPU.Seconds()/n, "queue-cpu-s")
}

func startBenchSandbox(b *testing.B) *sandbox.Server {
	b.Helper()
	sb, err := sandbox.Start(sandbox.Config{})
	if err != nil {
		b.Fatal(err)
	}
	return sb
}

// connStats are one connection's counters in the server's /connz.
type connStats struct {
	CID     uint64 `json:"cid"`
	Name    string `json:"name"`
	InMsgs  int64  `json:"in_msgs"`
	OutMsgs int64  `json:"out_msgs"`
}

// connz reads the counters of every client connection the server has,
// open or closed, by connection id.
func connz(b *testing.B, srv *natstest.Server) map[uint64]connStats {
	b.Helper()
	resp, err := http.Get(srv.MonitorURL() + "/connz?state=all&limit=100000")
	if err != nil {
		b.Fatalf("connz: %v", err)
	}
	defer resp.Body.Close()
	var v struct {
		Connections []connStats `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		b.Fatalf("connz: %v", err)
	}
	out := map[uint64]connStats{}
	for _, c := range v.Connections {
		out[c.CID] = c
	}
	return out
}

// procCPU is a process's user + system CPU time so far, from /proc.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("nats-server CPU: %v", err)
	}
	// Fields after the command name (which may hold spaces) in parentheses:
	// utime and stime are the 14th and 15th fields, in clock ticks (100/s).
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
