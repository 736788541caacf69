package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/sandbox"
)

// The tests of prep run / batch run against an in-process sandbox. The
// interruption tests run `prep batch` as a subprocess (the binary is built
// once per test run, into a temporary directory) and signal it, while the
// sandbox lives in the test process and so outlives every batch process.
// They need ffmpeg and skip without it.

var (
	prepBinOnce sync.Once
	prepBinDir  string
	prepBinPath string
	prepBinErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if prepBinDir != "" {
		os.RemoveAll(prepBinDir)
	}
	os.Exit(code)
}

// prepBinary builds cmd/prep once (with -race when the tests run with it).
func prepBinary(t testing.TB) string {
	t.Helper()
	prepBinOnce.Do(func() {
		prepBinDir, prepBinErr = os.MkdirTemp("", "prep-bin-")
		if prepBinErr != nil {
			return
		}
		prepBinPath = filepath.Join(prepBinDir, "prep")
		args := []string{"build", "-o", prepBinPath}
		if raceBuild {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			prepBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if prepBinErr != nil {
		t.Fatal(prepBinErr)
	}
	return prepBinPath
}

// needFFmpeg skips a test without ffmpeg, except under CI (CI set),
// where a missing tool fails the test: make test installs it.
func needFFmpeg(t *testing.T) {
	t.Helper()
	testdeps.Tool(t, "ffmpeg", "make deps")
}

func startSB(t *testing.T, cfg sandbox.Config) *sandbox.Server {
	t.Helper()
	sb, err := sandbox.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

// writeManifest writes a CSV manifest of n rows over the given sample files
// (from testdata), one distinct recipient per row, providers in turn.
func writeManifest(t *testing.T, dir string, n int, samples []string) string {
	t.Helper()
	for _, s := range samples {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", s))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, s), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	b.WriteString("to,file,provider\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "+4477009%05d,%s,%s\n", i, samples[i%len(samples)], allProviders()[i%3])
	}
	p := filepath.Join(dir, "manifest.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// reportRows reads a JSON Lines report.
func reportRows(t *testing.T, path string) []pipeline.RowResult {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []pipeline.RowResult
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if bytes.HasPrefix(sc.Bytes(), []byte(`{"summary"`)) {
			continue
		}
		var r pipeline.RowResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	return rows
}

func messagesByRecipient(sb *sandbox.Server) map[string][]sandbox.Message {
	out := map[string][]sandbox.Message{}
	for _, m := range sb.Messages() {
		out[m.To] = append(out[m.To], m)
	}
	return out
}

// runBatchProcess runs `prep batch` and sends it sig as soon as the
// sandbox holds atMessages messages (0: never), so the signal lands while
// sends are under way.
func runBatchProcess(t *testing.T, bin string, sb *sandbox.Server, manifest, report string, sig syscall.Signal, atMessages int) (int, string) {
	return runBatchProcessSignals(t, bin, sb, manifest, report, []syscall.Signal{sig}, atMessages)
}

// runBatchProcessSignals sends sigs 100 ms apart once the sandbox holds
// atMessages messages.
func runBatchProcessSignals(t *testing.T, bin string, sb *sandbox.Server, manifest, report string, sigs []syscall.Signal, atMessages int) (int, string) {
	t.Helper()
	var ready func() bool
	if atMessages > 0 {
		ready = func() bool { return len(sb.Messages()) >= atMessages }
	}
	return runBatchProcessWhen(t, bin, sb, manifest, report, sigs, ready)
}

// sendInFlight reports whether the sandbox has a send request it has not
// answered yet.
func sendInFlight(sb *sandbox.Server) bool {
	for _, p := range sandbox.Providers() {
		for _, r := range sb.Requests(p) {
			if r.Status == 0 && (strings.HasSuffix(r.Path, "/messages") || strings.HasSuffix(r.Path, "/message/audio")) {
				return true
			}
		}
	}
	return false
}

// runBatchProcessWhen runs `prep batch` and sends it sigs 100 ms apart as
// soon as ready returns true (nil: never).
func runBatchProcessWhen(t *testing.T, bin string, sb *sandbox.Server, manifest, report string, sigs []syscall.Signal, ready func() bool) (int, string) {
	t.Helper()
	return runBatchProcessGap(t, bin, sb, manifest, report, sigs, 100*time.Millisecond, ready, nil)
}

// runBatchProcessGap is runBatchProcessWhen with the signals gap apart (0:
// back to back, as `timeout` delivers one to the process and again to its
// group). spread, when set, gets how long the signals took to send, first
// to last: a loaded machine can stretch a gap.
func runBatchProcessGap(t *testing.T, bin string, sb *sandbox.Server, manifest, report string, sigs []syscall.Signal, gap time.Duration, ready func() bool, spread *time.Duration) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, "batch", "--sandbox", sb.URL(), "--manifest", manifest, "--report", report, "--send-workers", "2", "--jobs", "2")
	cmd.Env = append(os.Environ(), "PREP_SANDBOX_URL=", "PREP_PROVIDER=")
	var stderr bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	signaller := make(chan struct{})
	if ready == nil {
		close(signaller)
	} else {
		go func() {
			defer close(signaller)
			for {
				select {
				case <-exited:
					return
				case <-time.After(2 * time.Millisecond):
				}
				if ready() {
					var first time.Time
					for i, sig := range sigs {
						if i > 0 && gap > 0 {
							time.Sleep(gap)
						}
						cmd.Process.Signal(sig)
						if i == 0 {
							first = time.Now()
						}
					}
					if spread != nil {
						*spread = time.Since(first)
					}
					return
				}
			}
		}()
	}
	// Bounded: a batch that does not end is killed and fails the test.
	hung := time.AfterFunc(2*time.Minute, func() {
		t.Errorf("prep batch still running after 2 minutes: killed")
		cmd.Process.Kill()
	})
	err := cmd.Wait()
	hung.Stop()
	close(exited)
	<-signaller
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = -int(ws.Signal())
		}
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stderr.String()
}

var interruptSamples = []string{"ogg-opus-mono-48k-2s.ogg", "mp3-cbr-64k-mono-44100-noxing.mp3", "amr-nb-mr122-sox-2s.amr"}

// SIGINT at random points, then a rerun: every row is sent exactly once.
func TestBatchSIGINTResumeExactlyOnce(t *testing.T) {
	needFFmpeg(t)
	bin := prepBinary(t)
	sb := startSB(t, sandbox.Config{})
	for _, p := range sandbox.Providers() {
		sb.SetFaults(p, sandbox.Faults{Latency: 20 * time.Millisecond})
	}
	dir := t.TempDir()
	const n = 60
	manifest := writeManifest(t, dir, n, interruptSamples)
	report := filepath.Join(dir, "report.jsonl")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	interrupted := 0
	// The signal lands at a random message, but with at least `room` rows
	// still to send: up to 6 sends are in flight (2 workers × 3 providers)
	// and finish after the stop, and more start while a loaded machine
	// delivers the signal; a point near the end lets the batch finish
	// before the stop and no run is interrupted.
	const room = 25
	for i := 0; i < 3; i++ {
		have := len(sb.Messages())
		if have >= n-room {
			break
		}
		at := have + 1 + rng.IntN(n-room-have)
		code, out := runBatchProcess(t, bin, sb, manifest, report, syscall.SIGINT, at)
		t.Logf("run %d: SIGINT at message %d → exit %d, %d messages after", i+1, at, code, len(sb.Messages()))
		switch code {
		case 0:
		case exitSignal:
			interrupted++
			rows := reportRows(t, report)
			for _, r := range rows {
				if r.Status == pipeline.StatusUnknown || r.Status == pipeline.StatusFailed {
					t.Errorf("graceful stop left row %d %s: %s", r.Row, r.Status, r.Error)
				}
			}
		default:
			t.Fatalf("run %d: exit %d\n%s", i+1, code, out)
		}
	}
	code, out := runBatchProcess(t, bin, sb, manifest, report, 0, 0)
	if code != 0 {
		t.Fatalf("final run: exit %d\n%s", code, out)
	}
	rows := reportRows(t, report)
	if len(rows) != n {
		t.Fatalf("report has %d rows", len(rows))
	}
	byTo := messagesByRecipient(sb)
	for _, r := range rows {
		to := strings.TrimPrefix(r.To, "+")
		if r.Status != pipeline.StatusSent {
			t.Errorf("row %d: %s %s", r.Row, r.Status, r.Error)
		}
		if got := byTo[to]; len(got) != 1 || got[0].ID != r.MessageID {
			t.Errorf("row %d to %s: %d messages at the sandbox (report id %s)", r.Row, to, len(got), r.MessageID)
		}
	}
	if len(sb.Messages()) != n {
		t.Errorf("sandbox has %d messages for %d rows", len(sb.Messages()), n)
	}
	if interrupted == 0 {
		t.Error("no run was interrupted before it finished")
	}
}

// SIGKILL at random points, then reruns: nobody gets two messages, and
// every row without a message is reported unknown, never sent.
func TestBatchSIGKILLNoDuplicateNoLie(t *testing.T) {
	needFFmpeg(t)
	bin := prepBinary(t)
	sb := startSB(t, sandbox.Config{})
	for _, p := range sandbox.Providers() {
		sb.SetFaults(p, sandbox.Faults{Latency: 40 * time.Millisecond})
	}
	dir := t.TempDir()
	const n = 60
	manifest := writeManifest(t, dir, n, interruptSamples)
	report := filepath.Join(dir, "report.jsonl")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	for i := 0; i < 3; i++ {
		have := len(sb.Messages())
		if have >= n-1 {
			break
		}
		at := have + 1 + rng.IntN(n-1-have)
		code, _ := runBatchProcess(t, bin, sb, manifest, report, syscall.SIGKILL, at)
		t.Logf("run %d: SIGKILL at message %d → exit %d, %d messages after", i+1, at, code, len(sb.Messages()))
	}
	code, out := runBatchProcess(t, bin, sb, manifest, report, 0, 0)
	if code != 0 && code != exitFailed {
		t.Fatalf("final run: exit %d\n%s", code, out)
	}
	rows := reportRows(t, report)
	if len(rows) != n {
		t.Fatalf("report has %d rows\n%s", len(rows), out)
	}
	byTo := messagesByRecipient(sb)
	unknown := 0
	for _, r := range rows {
		to := strings.TrimPrefix(r.To, "+")
		msgs := byTo[to]
		if len(msgs) > 1 {
			t.Errorf("row %d: %s received %d messages", r.Row, to, len(msgs))
		}
		switch r.Status {
		case pipeline.StatusSent:
			if len(msgs) != 1 || msgs[0].ID != r.MessageID {
				t.Errorf("row %d reported sent (%s) but the sandbox has %d messages for %s", r.Row, r.MessageID, len(msgs), to)
			}
		case pipeline.StatusUnknown:
			unknown++
		default:
			t.Errorf("row %d: %s %s", r.Row, r.Status, r.Error)
		}
		if len(msgs) == 0 && r.Status != pipeline.StatusUnknown {
			t.Errorf("row %d has no message and is reported %s", r.Row, r.Status)
		}
	}
	if (code == 0) != (unknown == 0) {
		t.Errorf("exit %d with %d unknown rows", code, unknown)
	}
	t.Logf("%d rows unknown after the kills (not resent), %d messages", unknown, len(sb.Messages()))
}

func TestBatchCLIInvalidRowsReport(t *testing.T) {
	needFFmpeg(t)
	sb := startSB(t, sandbox.Config{})
	dir := t.TempDir()
	copyVoiceNote(t, filepath.Join(dir, "a.ogg"))
	manifest := filepath.Join(dir, "m.csv")
	os.WriteFile(manifest, []byte("to,file,provider,profile\n"+
		"+447700900001,a.ogg,meta,\n"+
		"+447700900002,missing.ogg,meta,\n"+
		"not a number,a.ogg,infobip,\n"+
		"+447700900004,a.ogg,whatsup,\n"+
		"+447700900005,a.ogg,infobip,podcast\n"+
		"+447700900006,a.ogg,360dialog,audio\n"), 0o644)
	report := filepath.Join(dir, "r.csv")
	out, errOut, code := runCLI(t, nil, "batch", "--sandbox", sb.URL(), "--manifest", manifest, "--report", report)
	if code != exitFailed {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	f, err := os.Open(report)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comment = '#'
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range recs[1:] {
		got[r[0]] = r[5]
	}
	want := map[string]string{"2": "sent", "3": "invalid", "4": "invalid", "5": "invalid", "6": "invalid", "7": "sent"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses by line %v, want %v", got, want)
	}
	if !strings.Contains(out, "missing.ogg") || !strings.Contains(out, "2 distinct recordings") {
		t.Errorf("human output:\n%s", out)
	}
	if len(sb.Messages()) != 2 {
		t.Errorf("%d messages", len(sb.Messages()))
	}
	// A manifest without the required columns is a usage error.
	os.WriteFile(manifest, []byte("phone,path\n1,2\n"), 0o644)
	if _, _, code := runCLI(t, nil, "batch", "--sandbox", sb.URL(), manifest); code != exitUsage {
		t.Errorf("bad header: exit %d", code)
	}
}

func TestRunCLI(t *testing.T) {
	needFFmpeg(t)
	sb := startSB(t, sandbox.Config{})
	file := filepath.Join("..", "..", "testdata", "m4a-aac-stereo-48000-faststart.m4a")
	for _, p := range []string{"meta", "360dialog", "infobip"} {
		out, errOut, code := runCLI(t, nil, "run", "--sandbox", sb.URL(), "--provider", p, "--to", "+447700900321", "--json", file)
		if code != exitOK {
			t.Fatalf("%s: exit %d\n%s\n%s", p, code, out, errOut)
		}
		var r runResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		m, ok := sb.Message(r.MessageID)
		if !ok || !m.Voice || m.To != "447700900321" || r.Transcode == nil || r.Transcode.Action != "transcode" || r.Status != "sent" {
			t.Errorf("%s: result %+v, sandbox %+v", p, r, m)
		}
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"no provider", nil, []string{"run", "--to", "+447700900321", file}, exitUsage},
		{"bad number", nil, []string{"run", "--sandbox", sb.URL(), "--provider", "meta", "--to", "123", file}, exitUsage},
		{"no credentials", nil, []string{"run", "--provider", "meta", "--to", "+447700900321", file}, exitUsage},
		{"infobip without S3", map[string]string{"INFOBIP_API_KEY": "k", "INFOBIP_BASE_URL": "http://127.0.0.1:1"}, []string{"run", "--provider", "infobip", "--to", "+447700900321", file}, exitUsage},
		{"not audio", nil, []string{"run", "--sandbox", sb.URL(), "--provider", "meta", "--to", "+447700900321", filepath.Join("..", "..", "testdata", "hostile-html.mp3")}, exitFailed},
	}
	before := len(sb.Messages())
	for _, c := range cases {
		_, errOut, code := runCLI(t, c.env, c.args...)
		if code != c.want {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, code, c.want, errOut)
		}
	}
	if len(sb.Messages()) != before {
		t.Error("a failed run sent a message")
	}
}

// A second Ctrl-C stops at once: sends in flight are abandoned and
// reported unknown, never sent; a rerun does not resend them.
func TestBatchDoubleSIGINTStopsAtOnce(t *testing.T) {
	needFFmpeg(t)
	bin := prepBinary(t)
	sb := startSB(t, sandbox.Config{})
	// Each request takes 1 s: the second signal (100 ms after the first)
	// lands while the send that was out at the first is still out, however
	// slow the machine is to deliver the signals.
	for _, p := range sandbox.Providers() {
		sb.SetFaults(p, sandbox.Faults{Latency: time.Second})
	}
	dir := t.TempDir()
	const n = 12
	manifest := writeManifest(t, dir, n, interruptSamples[:1])
	report := filepath.Join(dir, "report.jsonl")
	t0 := time.Now()
	// Signal while a send is out (not at the first message: by then every
	// send may be answered, and the stop leaves nothing in flight).
	code, out := runBatchProcessWhen(t, bin, sb, manifest, report, []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, func() bool { return sendInFlight(sb) })
	if code != exitSignal {
		t.Fatalf("exit %d, want %d\n%s", code, exitSignal, out)
	}
	if !strings.Contains(out, "stopping now") {
		t.Errorf("no hard-stop message:\n%s", out)
	}
	rows := reportRows(t, report)
	counts := map[pipeline.Status]int{}
	for _, r := range rows {
		counts[r.Status]++
	}
	if counts[pipeline.StatusUnknown] == 0 || counts[pipeline.StatusSent]+counts[pipeline.StatusUnknown]+counts[pipeline.StatusSkipped] != n {
		t.Errorf("after a hard stop: %v (in %v)", counts, time.Since(t0))
	}
	// Let the sandbox finish the abandoned requests, then resume.
	time.Sleep(1200 * time.Millisecond)
	code, out = runBatchProcess(t, bin, sb, manifest, report, 0, 0)
	if code != exitFailed {
		t.Fatalf("rerun: exit %d (unknown rows remain, so 1)\n%s", code, out)
	}
	byTo := messagesByRecipient(sb)
	for _, r := range reportRows(t, report) {
		msgs := byTo[strings.TrimPrefix(r.To, "+")]
		if len(msgs) > 1 || (r.Status == pipeline.StatusSent && len(msgs) != 1) || (len(msgs) == 0 && r.Status != pipeline.StatusUnknown) {
			t.Errorf("row %d %s with %d messages", r.Row, r.Status, len(msgs))
		}
	}
}

// Issue 13 finding 7: `timeout -s INT` delivers its signal twice, to the
// process and again to its group, and a terminal's Ctrl-C reaches every
// process of the group: a second signal within sameSignalWindow of the
// first is the same stop, not a second Ctrl-C. Two SIGINTs back to back
// stop gracefully — the sends in flight finish and are sent, none is
// unknown — where before the fix they stopped at once and left the send in
// flight unknown. (Two signals 100 ms apart still stop at once:
// TestBatchDoubleSIGINTStopsAtOnce.)
func TestBatchSignalDeliveredTwiceIsOneStop(t *testing.T) {
	needFFmpeg(t)
	bin := prepBinary(t)
	// The pair is sent 10 ms apart (not back to back, where the kernel may
	// merge the second into the first while it is pending). A loaded
	// machine can stretch those 10 ms past sameSignalWindow, and the pair
	// is then rightly two stops: such a run did not set up the case under
	// test, and is run again (at most 3 times).
	for attempt := 1; ; attempt++ {
		sb := startSB(t, sandbox.Config{})
		for _, p := range sandbox.Providers() {
			sb.SetFaults(p, sandbox.Faults{Latency: time.Second})
		}
		dir := t.TempDir()
		const n = 12
		manifest := writeManifest(t, dir, n, interruptSamples[:1])
		report := filepath.Join(dir, "report.jsonl")
		var spread time.Duration
		code, out := runBatchProcessGap(t, bin, sb, manifest, report, []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, 10*time.Millisecond, func() bool { return sendInFlight(sb) }, &spread)
		if spread > sameSignalWindow/2 && attempt < 3 {
			t.Logf("attempt %d: the two signals were sent %v apart; again", attempt, spread)
			continue
		}
		if code != exitSignal && code != exitFailed {
			t.Fatalf("exit %d, want %d\n%s", code, exitSignal, out)
		}
		if strings.Contains(out, "stopping now") {
			t.Errorf("a signal delivered twice (sent %v apart) was taken for a second Ctrl-C:\n%s", spread, out)
		}
		counts := map[pipeline.Status]int{}
		for _, r := range reportRows(t, report) {
			counts[r.Status]++
		}
		if counts[pipeline.StatusUnknown] != 0 || counts[pipeline.StatusSent] == 0 {
			t.Errorf("after one stop delivered twice: %v, want the sends in flight sent and none unknown", counts)
		}
		return
	}
}

// prep run --callback-data reaches every provider: Infobip's callbackData,
// Meta's and 360dialog's biz_opaque_callback_data (as prep send does).
func TestRunCallbackDataReachesSandbox(t *testing.T) {
	needFFmpeg(t)
	sb := startSB(t, sandbox.Config{})
	file := filepath.Join("..", "..", "testdata", "m4a-aac-stereo-48000-faststart.m4a")
	for _, p := range []string{"meta", "360dialog"} {
		cb := "row-" + p
		_, errOut, code := runCLI(t, nil, "run", "--sandbox", sb.URL(), "--provider", p, "--to", "+447700900321", "--callback-data", cb, file)
		if code != exitOK {
			t.Fatalf("%s: exit %d, want %d\n%s", p, code, exitOK, errOut)
		}
		var got []string
		for _, m := range sb.Messages() {
			got = append(got, m.Callback)
		}
		if !slices.Contains(got, cb) {
			t.Errorf("%s: the sandbox's messages carry callback data %q, want %q among them", p, got, cb)
		}
	}
}

// A report that cannot be written is not a success, even when every row
// was sent (a script would read the previous run's report).
func TestBatchReportWriteFailureFails(t *testing.T) {
	needFFmpeg(t)
	sb := startSB(t, sandbox.Config{})
	dir := t.TempDir()
	copyVoiceNote(t, filepath.Join(dir, "a.ogg"))
	manifest := filepath.Join(dir, "m.csv")
	os.WriteFile(manifest, []byte("to,file,provider\n+447700900001,a.ogg,meta\n"), 0o644)
	report := filepath.Join(dir, "no-such-dir", "r.jsonl")
	out, errOut, code := runCLI(t, nil, "batch", "--sandbox", sb.URL(), "--manifest", manifest, "--report", report)
	if code != exitFailed || !strings.Contains(errOut, "report") {
		t.Errorf("exit %d, want %d with the report error\n%s", code, exitFailed, errOut)
	}
	if strings.Contains(out, "report: ") {
		t.Errorf("stdout announces the report that was not written:\n%s", out)
	}
	if len(sb.Messages()) != 1 {
		t.Errorf("%d messages", len(sb.Messages()))
	}
}

// With --rate, Ctrl-C drops the rows waiting for their turn: only the
// sends already out finish (here one), none leaves after the stop.
func TestBatchRateStopSendsNoMore(t *testing.T) {
	needFFmpeg(t)
	sb := startSB(t, sandbox.Config{})
	dir := t.TempDir()
	copyVoiceNote(t, filepath.Join(dir, "a.ogg"))
	manifest := filepath.Join(dir, "m.csv")
	os.WriteFile(manifest, []byte("to,file,provider\n+447700900001,a.ogg,meta\n+447700900002,a.ogg,meta\n+447700900003,a.ogg,meta\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for len(sb.Messages()) == 0 {
			time.Sleep(2 * time.Millisecond)
		}
		cancel() // Ctrl-C (main's context), once the first message is in
	}()
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	err := run(ctx, e, []string{"batch", "--sandbox", sb.URL(), "--manifest", manifest, "--rate", "0.5", "--send-workers", "3"})
	if code := exitCode(err); code != exitSignal {
		t.Errorf("exit %d, want %d\n%s\n%s", code, exitSignal, out.String(), errb.String())
	}
	// run returns once every send worker is done: the count is final.
	if n := len(sb.Messages()); n != 1 {
		t.Errorf("%d messages, want 1: rows waiting for the rate were sent after Ctrl-C", n)
	}
}

// copyVoiceNote copies the committed compliant voice note to path.
func copyVoiceNote(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "ogg-opus-mono-48k-2s.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBatchInfobipFaultsNoDuplicates is issue 13's finding 3 in a batch:
// with drops, 500s and 429s at the Infobip sandbox, no recipient gets two
// messages; a dropped row is unknown (in doubt), never resent in the run.
func TestBatchInfobipFaultsNoDuplicates(t *testing.T) {
	needFFmpeg(t)
	sb := startSB(t, sandbox.Config{Faults: map[sandbox.Provider]sandbox.Faults{
		sandbox.Infobip: {DropRate: 0.3, ErrorRate: 0.2, TooManyRate: 0.2, RetryAfter: 10 * time.Millisecond}}})
	dir := t.TempDir()
	copyVoiceNote(t, filepath.Join(dir, "a.ogg"))
	var m strings.Builder
	m.WriteString("to,file,provider\n")
	for i := range 20 {
		fmt.Fprintf(&m, "+4477009%05d,a.ogg,infobip\n", 500+i)
	}
	manifest := filepath.Join(dir, "m.csv")
	if err := os.WriteFile(manifest, []byte(m.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "r.jsonl")
	_, errOut, code := runCLI(t, nil, "batch", "--sandbox", sb.URL(), "--manifest", manifest, "--report", report)
	if code != exitOK && code != exitFailed {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	per := map[string]int{}
	for _, msg := range sb.Messages() {
		per[msg.To]++
	}
	for to, n := range per {
		if n > 1 {
			t.Errorf("%s received %d copies", to, n)
		}
	}
	unknown := 0
	for _, r := range reportRows(t, report) {
		if r.Status == "unknown" {
			unknown++
		}
	}
	if unknown == 0 {
		t.Errorf("no row in doubt at a 0.3 drop rate; the drops were retried")
	}
}
