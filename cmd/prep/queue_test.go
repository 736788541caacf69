package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/prep-audio/prep/internal/natstest"
	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/queue"
	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// proc is a `prep` process started by a test.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  bytes.Buffer
	errb lockedBuffer
	done chan struct{}
}

func startPrep(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	exe := prepBinary(t)
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(exe, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errb
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// needS3 returns an S3 client for the versitygw that scripts/test.sh starts
// (S3_ENDPOINT etc.); without it the test skips, or fails under CI.
func needS3(t *testing.T) (*s3.Client, string) {
	t.Helper()
	cfg := upload.S3ConfigFromEnv(os.Getenv) // as prep reads it
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		testdeps.Missing(t, "S3_ENDPOINT/S3_BUCKET not set: run under scripts/test.sh (source scripts/versitygw.sh && s3_start)")
	}
	cl, err := upload.NewS3Client(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl, cfg.Bucket
}

// putRecordings makes n distinct short recordings with ffmpeg (1.5 s
// tones, WAV, so each is transcoded) and puts them in S3; it returns their
// s3:// URLs and SHA-256s.
func putRecordings(t *testing.T, cl *s3.Client, bucket string, n int) (urls, shas []string) {
	t.Helper()
	needFFmpeg(t)
	dir := t.TempDir()
	prefix := fmt.Sprintf("queue-test/%d", time.Now().UnixNano())
	for i := range n {
		f := filepath.Join(dir, fmt.Sprintf("rec%02d.wav", i))
		out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:duration=1.5", 300+40*i),
			"-ac", "1", "-ar", "16000", f).CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		b, _ := os.ReadFile(f)
		sum := sha256.Sum256(b)
		key := prefix + "/" + filepath.Base(f)
		if _, err := cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(b)}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		urls = append(urls, "s3://"+bucket+"/"+key)
		shas = append(shas, hex.EncodeToString(sum[:]))
	}
	return urls, shas
}

type reportRow struct {
	Row       int    `json:"row"`
	To        string `json:"to"`
	Status    string `json:"status"`
	MessageID string `json:"message_id"`
	Error     string `json:"error"`
	SHA256    string `json:"sha256"`
	Provider  string `json:"provider"`
	Key       string `json:"key"`
}

func readReport(t testing.TB, path string) []reportRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	defer f.Close()
	var rows []reportRow
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if bytes.HasPrefix(sc.Bytes(), []byte(`{"summary"`)) {
			continue
		}
		var r reportRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	return rows
}

// TestQueueWorkersSurviveKillAndRestart is the whole promise across
// machines: three `prep worker` processes and a `prep batch --queue`
// submitter share a manifest of 300 rows over 20 distinct recordings in S3
// (versitygw), sending to the sandbox; one worker is SIGKILLed mid-send and
// another started; the NATS server is restarted once (JetStream on disk);
// another worker is stopped with SIGTERM mid-send (it exits 0, none of its
// rows in doubt).
// Nobody gets two messages, every row not in flight at the kill is sent,
// the rows in flight are unknown (never sent without a message), and each
// recording is transcoded once and uploaded once per destination (+ at
// most the one the dead worker held).
func TestQueueWorkersSurviveKillAndRestart(t *testing.T) {
	srv := natstest.Start(t)
	cl, bucket := needS3(t)
	const nrec, nrows = 20, 300
	urls, shas := putRecordings(t, cl, bucket, nrec)
	// 100 ms per request: sends are in flight when the worker is killed.
	lat := sandbox.Faults{Latency: 100 * time.Millisecond}
	sb, err := sandbox.Start(sandbox.Config{Faults: map[sandbox.Provider]sandbox.Faults{sandbox.Meta: lat, sandbox.Infobip: lat}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()

	dir := t.TempDir()
	var m strings.Builder
	m.WriteString("to,file,provider\n")
	for i := range nrows {
		pv := "meta"
		if (i/nrec)%5 == 4 {
			pv = "infobip" // every recording goes to both destinations: a media id and a link (S3)
		}
		fmt.Fprintf(&m, "+1555%07d,%s,%s\n", i, urls[i%nrec], pv)
	}
	manifest := filepath.Join(dir, "fleet.csv")
	os.WriteFile(manifest, []byte(m.String()), 0o644)
	report := filepath.Join(dir, "report.jsonl")
	penv := []string{"PREP_QUEUE_ACK_WAIT=3s", "PREP_QUEUE_WORKER_TTL=3s", "PREP_SANDBOX_URL=" + sb.URL(),
		"XDG_CACHE_HOME=" + filepath.Join(dir, "cache"), "CI="}
	url := srv.URL()

	workers := map[string]*proc{}
	for _, id := range []string{"w1", "w2", "w3"} {
		workers[id] = startPrep(t, id, penv, "worker", "--queue", url, "--jobs", "1", "--concurrency", "8", "--id", id)
	}
	t0 := time.Now()
	sub := startPrep(t, "batch", penv, "batch", "--queue", url, "--manifest", manifest, "--report", report, "--json", "--rate", "40")

	waitMessages := func(n int) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for len(sb.Messages()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d messages after 90 s (want %d)\nsubmitter: %s\nw2: %s", len(sb.Messages()), n, sub.errb.String(), workers["w2"].errb.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitMessages(80)
	workers["w1"].kill()
	killedAt := len(sb.Messages())
	t.Logf("SIGKILL w1 at %d messages (%v)", killedAt, time.Since(t0).Round(time.Millisecond))
	workers["w4"] = startPrep(t, "w4", penv, "worker", "--queue", url, "--jobs", "1", "--concurrency", "8", "--id", "w4")
	waitMessages(180)
	srv.Restart()
	t.Logf("restarted nats-server at %d messages (%v)", len(sb.Messages()), time.Since(t0).Round(time.Millisecond))
	// SIGTERM one more worker mid-send: it hands back what it holds,
	// finishes its sends in flight (none of its rows is unknown) and exits 0.
	waitMessages(220)
	workers["w3"].cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-workers["w3"].done:
		if code := workers["w3"].cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("w3 exited %d after SIGTERM, want 0\n%s", code, workers["w3"].errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("w3 did not stop within 30 s of SIGTERM")
	}
	t.Logf("w3 stopped on SIGTERM at %d messages (%v)", len(sb.Messages()), time.Since(t0).Round(time.Millisecond))

	select {
	case <-sub.done:
	case <-time.After(150 * time.Second):
		t.Fatalf("the submitter did not finish\n%s", sub.errb.String())
	}
	t.Logf("batch done in %v: exit %d", time.Since(t0).Round(time.Millisecond), sub.cmd.ProcessState.ExitCode())
	if os.Getenv("QUEUE_DEBUG") != "" {
		t.Logf("submitter:\n%s\nw2:\n%s", sub.errb.String(), workers["w2"].errb.String())
	}
	for _, id := range []string{"w2", "w4"} {
		workers[id].cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, id := range []string{"w2", "w4"} {
		select {
		case <-workers[id].done:
		case <-time.After(20 * time.Second):
			t.Errorf("worker %s did not stop on SIGTERM", id)
		}
	}

	rows := readReport(t, report)
	if len(rows) != nrows {
		t.Fatalf("report has %d rows, want %d\n%s", len(rows), nrows, sub.errb.String())
	}
	msgs := sb.Messages()
	byTo := map[string]int{}
	byID := map[string]bool{}
	callback := map[string]string{}
	for _, msg := range msgs {
		byTo[msg.To]++
		byID[msg.ID] = true
		callback[msg.ID] = msg.Callback
	}
	for to, n := range byTo {
		if n > 1 {
			t.Errorf("%s got %d messages", to, n)
		}
	}
	unknown := 0
	for _, r := range rows {
		switch r.Status {
		case "sent":
			if !byID[r.MessageID] {
				t.Errorf("row %d sent as %q, but the sandbox has no such message", r.Row, r.MessageID)
			}
			if r.Provider == "meta" && callback[r.MessageID] != r.Key {
				t.Errorf("row %d: callback data %q, want the row's key %q (statuses find their row by it)", r.Row, callback[r.MessageID], r.Key)
			}
		case "unknown":
			unknown++
			if !strings.Contains(r.Error, "(w1)") {
				t.Errorf("row %d unknown, but not in flight at w1's death: %s", r.Row, r.Error)
			}
			t.Logf("row %d unknown: %s (messages to it: %d)", r.Row, r.Error, byTo[strings.TrimPrefix(r.To, "+")])
		default:
			t.Errorf("row %d: %s (%s)", r.Row, r.Status, r.Error)
		}
	}
	// In flight at the kill: at most the killed worker's concurrency.
	if unknown > 8 {
		t.Errorf("%d rows unknown; the killed worker held at most 8", unknown)
	}
	if sent := len(rows) - unknown; len(msgs) < sent || len(msgs) > nrows {
		t.Errorf("%d messages for %d sent rows", len(msgs), sent)
	}

	// Infobip's rows went by presigned URLs (made again from the object
	// key where a worker read the recordings bucket, which keeps no
	// presigned URL), which the sandbox fetched; neither the report nor any
	// process's output holds the access key id or a signature.
	inFlight := map[string]bool{} // recipients of the rows in flight at w1's kill
	for _, r := range rows {
		if r.Status == "unknown" {
			inFlight[strings.TrimPrefix(r.To, "+")] = true
		}
	}
	infobip := 0
	for _, msg := range msgs {
		// A send in flight when its worker was killed may have reached
		// the sandbox, which then fetched with the dropped request's
		// context.
		if msg.Provider == sandbox.Infobip && !inFlight[msg.To] {
			infobip++
			if !strings.Contains(msg.Link, "X-Amz-Signature=") || msg.Bytes == 0 {
				t.Errorf("Infobip message %s: link with a signature %v, %d bytes fetched", msg.ID, strings.Contains(msg.Link, "X-Amz-Signature="), msg.Bytes)
			}
		}
	}
	if infobip == 0 {
		t.Error("no Infobip message")
	}
	qenv := map[string]string{"AWS_ACCESS_KEY_ID": os.Getenv("AWS_ACCESS_KEY_ID"), "AWS_SECRET_ACCESS_KEY": os.Getenv("AWS_SECRET_ACCESS_KEY")}
	rb, _ := os.ReadFile(report)
	noCredential(t, qenv, "the queue batch's report", string(rb))
	noCredential(t, qenv, "the submitter's output", sub.out.String()+sub.errb.String())
	for id, w := range workers {
		noCredential(t, qenv, "worker "+id+"'s output", w.out.String()+w.errb.String())
	}

	// Transcoded once, uploaded once per destination (+ what w1 held: one
	// recording, --jobs 1).
	cfg, _ := queueConfig(&env{getenv: func(k string) string {
		return map[string]string{"PREP_QUEUE_ACK_WAIT": "3s", "PREP_QUEUE_WORKER_TTL": "3s"}[k]
	}})
	nc, err := queue.Connect(url, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	q, err := queue.Open(context.Background(), nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The queue's KV entries (rows, recordings with their media, batches)
	// keep no presigned URL either: what they hold is read raw.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = "prep" // queue.Config's default
	}
	var kvText strings.Builder
	for _, b := range []string{"_rows", "_recs", "_batches"} {
		kv, err := js.KeyValue(context.Background(), prefix+b)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := kv.Keys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if e, err := kv.Get(context.Background(), k); err == nil {
				kvText.Write(e.Value())
			}
		}
	}
	if !strings.Contains(kvText.String(), os.Getenv("S3_ENDPOINT")+"/") {
		t.Error("no link media in the queue's entries")
	}
	noCredential(t, qenv, "the queue's KV entries", kvText.String())

	extra := 0
	extraUp := map[string]int{}
	for _, sha := range shas {
		rec, err := q.Recording(context.Background(), queue.ContentKey(sha, transcode.ProfileVoice))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Claims != 1 {
			extra += rec.Claims - 1
		}
		if len(rec.Uploads) != 2 {
			t.Errorf("recording %.12s uploaded to %v, want meta and link", sha, rec.Uploads)
		}
		for d, n := range rec.Uploads {
			extraUp[d] += n - 1
		}
	}
	if extra > 1 {
		t.Errorf("%d transcodes beyond one per recording; the killed worker held at most 1", extra)
	}
	for d, n := range extraUp {
		if n > 1 {
			t.Errorf("%d uploads to %s beyond one per recording; the killed worker held at most 1 recording", n, d)
		}
	}
	metaUploads := 0
	for _, r := range sb.Requests(sandbox.Meta) {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/media") && r.Status == 200 {
			metaUploads++
		}
	}
	if metaUploads < nrec || metaUploads > nrec+1 {
		t.Errorf("%d Meta media uploads for %d recordings (want one each, + at most 1)", metaUploads, nrec)
	}
	t.Logf("%d messages, %d unknown, %d extra transcodes, %d Meta uploads; wall %v", len(msgs), unknown, extra, metaUploads, time.Since(t0).Round(time.Millisecond))
}

// TestQueueDetachThenCollect: `prep batch --queue --detach` submits and
// returns at once; a worker started later runs the rows; the same command
// without --detach collects the report; submitting again sends nothing.
func TestQueueDetachThenCollect(t *testing.T) {
	srv, sb, dir, manifest := queueFixture(t, 5)
	environ := map[string]string{"PREP_QUEUE_ACK_WAIT": "3s", "PREP_QUEUE_WORKER_TTL": "3s", "XDG_CACHE_HOME": dir}

	_, errOut, code := runCLI(t, environ, "batch", "--queue", srv.URL(), "--manifest", manifest, "--detach")
	if code != exitOK || !strings.Contains(errOut, "5 queued now") {
		t.Fatalf("detach: exit %d, stderr %q", code, errOut)
	}
	if n := len(sb.Messages()); n != 0 {
		t.Fatalf("%d messages before any worker ran", n)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		var out, errb bytes.Buffer
		e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string { return environ[k] }}
		done <- exitCode(run(ctx, e, []string{"worker", "--queue", srv.URL(), "--sandbox", sb.URL(), "--jobs", "1"}))
	}()
	report := filepath.Join(dir, "r.jsonl")
	_, errOut, code = runCLI(t, environ, "batch", "--queue", srv.URL(), "--manifest", manifest, "--report", report)
	if code != exitOK {
		t.Fatalf("collect: exit %d, stderr %q", code, errOut)
	}
	rows := readReport(t, report)
	if len(rows) != 5 {
		t.Fatalf("%d report rows", len(rows))
	}
	for _, r := range rows {
		if r.Status != "sent" || r.MessageID == "" {
			t.Errorf("row %d: %s %q", r.Row, r.Status, r.Error)
		}
	}
	// Again: nothing queued, nothing sent, exit 0.
	_, errOut, code = runCLI(t, environ, "batch", "--queue", srv.URL(), "--manifest", manifest)
	if code != exitOK || !strings.Contains(errOut, "0 queued now") {
		t.Errorf("resubmit: exit %d, stderr %q", code, errOut)
	}
	if n := len(sb.Messages()); n != 5 {
		t.Errorf("%d messages for 5 rows", n)
	}
	stop()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("worker exit %d after its context ended (SIGTERM)", code)
		}
	case <-time.After(15 * time.Second):
		t.Error("the worker did not stop")
	}
}

// queueFixture starts a nats-server and a sandbox (closed when the test
// ends) and writes a manifest of rows Meta rows over one voice note a.ogg
// in a temporary dir.
func queueFixture(t *testing.T, rows int) (*natstest.Server, *sandbox.Server, string, string) {
	t.Helper()
	srv := natstest.Start(t)
	sb, err := sandbox.Start(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	dir := t.TempDir()
	copyVoiceNote(t, filepath.Join(dir, "a.ogg"))
	var m strings.Builder
	m.WriteString("to,file,provider\n")
	for i := range rows {
		fmt.Fprintf(&m, "+44770090%04d,a.ogg,meta\n", i)
	}
	manifest := filepath.Join(dir, "m.csv")
	if err := os.WriteFile(manifest, []byte(m.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv, sb, dir, manifest
}
