package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

func mustManifest(t testing.TB, dir, name, content string) *Manifest {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(p, ManifestDefaults{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func runBatch(t testing.TB, p *Pipeline, m *Manifest, opts BatchOptions) *BatchResult {
	t.Helper()
	res, err := p.NewBatch(m, opts).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestBatchSharesWorkByContent(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "AAA", "b.mp3": "BBB", "copy-of-a.wav": "AAA", "sub/c.m4a": "CCC"})
	var b strings.Builder
	b.WriteString("to,file,provider,profile\n")
	// 12 rows over 3 distinct recordings (a and copy-of-a are the same
	// bytes), three providers; c is also sent with the audio profile.
	for i := 0; i < 3; i++ {
		fmt.Fprintf(&b, "+4470000000%02d,a.ogg,meta,\n", i)
		fmt.Fprintf(&b, "+4470000001%02d,copy-of-a.wav,infobip,voice\n", i)
		fmt.Fprintf(&b, "+4470000002%02d,b.mp3,360dialog,\n", i)
		fmt.Fprintf(&b, "+4470000003%02d,sub/c.m4a,meta,audio\n", i)
	}
	m := mustManifest(t, dir, "m.csv", b.String())
	f := newFakes()
	res := runBatch(t, f.pipeline(t), m, BatchOptions{Journal: filepath.Join(dir, "m.csv.journal"), Jobs: 2})
	if got := len(byStatus(res)[StatusSent]); got != 12 {
		t.Fatalf("sent %d of 12: %+v", got, res.Rows)
	}
	shaA, shaB, shaC := fileSHA(t, filepath.Join(dir, "a.ogg")), fileSHA(t, filepath.Join(dir, "b.mp3")), fileSHA(t, filepath.Join(dir, "sub/c.m4a"))
	for _, k := range []string{shaA + "|voice", shaB + "|voice", shaC + "|audio"} {
		if f.transcoded[k] != 1 {
			t.Errorf("transcoded %s %d times, want once", k, f.transcoded[k])
		}
	}
	if len(f.transcoded) != 3 {
		t.Errorf("transcodes: %v", f.transcoded)
	}
	// a is uploaded once to Meta and once to the link host; b once to
	// 360dialog; c once to Meta.
	total := 0
	for k, n := range f.uploaded {
		if n != 1 {
			t.Errorf("uploaded %s %d times", k, n)
		}
		total += n
	}
	if total != 4 {
		t.Errorf("uploads %d, want 4: %v", total, f.uploaded)
	}
	for _, r := range f.accepted {
		wantVoice := !strings.HasPrefix(r.To, "4470000003")
		if r.Voice != wantVoice {
			t.Errorf("%s: voice=%v", r.To, r.Voice)
		}
		if (r.Provider == Infobip) != (r.Link != "") || (r.Link == "") == (r.MediaID == "") {
			t.Errorf("%s via %s: media id %q link %q", r.To, r.Provider, r.MediaID, r.Link)
		}
		if (r.Provider == Infobip) != (r.MessageID != "") {
			t.Errorf("client message id %q for %s", r.MessageID, r.Provider)
		}
	}
	s := res.Summary
	if s.Distinct != 3 || s.Prepared != 3 || s.Messages != 12 || s.Counts[StatusSent] != 12 {
		t.Errorf("summary %+v", s)
	}
	if s.BytesBefore != 9 || s.BytesAfter == 0 {
		t.Errorf("bytes before %d after %d", s.BytesBefore, s.BytesAfter)
	}
}

func TestBatchInvalidRowsAreReportedAndSkipped(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ok.ogg": "OK", "notaudio.mp3": "NOTAUDIO", "broken.ogg": "TCFAIL"})
	m := mustManifest(t, dir, "m.csv", strings.Join([]string{
		"to,file,provider",
		"+447000000001,ok.ogg,meta",       // 2 sent
		"12,ok.ogg,meta",                  // 3 invalid: number
		"+447000000003,missing.ogg,meta",  // 4 invalid: no file
		"+447000000004,ok.ogg,carrier",    // 5 invalid: provider
		",ok.ogg,meta",                    // 6 invalid: no recipient
		"+447000000006,notaudio.mp3,meta", // 7 failed: inspect
		"+447000000007,broken.ogg,meta",   // 8 failed: transcode
		"+447000000008,ok.ogg,meta,extra", // 9 invalid: field count
		"+447000000009,ok.ogg,infobip",    // 10 failed: refused
	}, "\n")+"\n")
	f := newFakes()
	f.refuse["447000000009"] = true
	res := runBatch(t, f.pipeline(t), m, BatchOptions{Journal: filepath.Join(dir, "j")})
	got := byStatus(res)
	want := map[Status][]int{StatusSent: {2}, StatusInvalid: {3, 4, 5, 6, 9}, StatusFailed: {7, 8, 10}}
	for st, rows := range want {
		if fmt.Sprint(got[st]) != fmt.Sprint(rows) {
			t.Errorf("%s rows %v, want %v", st, got[st], rows)
		}
	}
	for _, r := range res.Rows {
		if r.Status != StatusSent && r.Error == "" {
			t.Errorf("row %d %s without an error", r.Row, r.Status)
		}
	}
	if r := res.Rows[2]; !strings.Contains(r.Error, "missing.ogg") {
		t.Errorf("row 4 error %q does not name the file", r.Error)
	}
	if res.AllSent() {
		t.Error("AllSent with failures")
	}
	if len(f.sent) != 2 {
		t.Errorf("%d send requests, want 2 (ok + refused)", len(f.sent))
	}
}

func TestBatchResume(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "AAA", "b.ogg": "BBB"})
	m := mustManifest(t, dir, "m.csv", "to,file,provider\n"+
		"+447000000001,a.ogg,meta\n"+ // sent
		"+447000000002,a.ogg,infobip\n"+ // refused in run 1 → retried in run 2
		"+447000000003,b.ogg,360dialog\n"+ // in doubt in run 1 → unknown, not resent
		"+447000000004,b.ogg,meta\n") // sent
	journal := filepath.Join(dir, "m.csv.journal")
	f := newFakes()
	f.refuse["447000000002"] = true
	f.doubt["447000000003"] = true
	p := f.pipeline(t)
	res := runBatch(t, p, m, BatchOptions{Journal: journal})
	if got := byStatus(res); fmt.Sprint(got[StatusSent], got[StatusFailed], got[StatusUnknown]) != "[2 5] [3] [4]" {
		t.Fatalf("run 1: %v", got)
	}
	if u := res.Rows[2]; !strings.Contains(u.Error, "in doubt") {
		t.Errorf("unknown row error %q", u.Error)
	}
	// Run 2: the provider would now accept everyone.
	f.refuse, f.doubt = map[string]bool{}, map[string]bool{}
	before := len(f.sent)
	res = runBatch(t, p, m, BatchOptions{Journal: journal})
	if got := byStatus(res); fmt.Sprint(got[StatusSent], got[StatusUnknown]) != "[2 3 5] [4]" {
		t.Fatalf("run 2: %v", got)
	}
	if n := len(f.sent) - before; n != 1 {
		t.Errorf("run 2 made %d sends, want 1 (only the refused row)", n)
	}
	if !res.Rows[0].Resumed || res.Rows[0].MessageID == "" || res.Rows[1].Resumed {
		t.Errorf("resumed flags/ids: %+v", res.Rows[:2])
	}
	// The in-doubt row really has a message at the provider: it must not
	// get a second one unless asked.
	if c := f.acceptedTo(); c["447000000003"] != 1 {
		t.Fatalf("in-doubt recipient has %d messages", c["447000000003"])
	}
	// Run 3 with ResendUnknown sends it again (the user's explicit choice).
	res = runBatch(t, p, m, BatchOptions{Journal: journal, ResendUnknown: true})
	if !res.AllSent() {
		t.Fatalf("run 3: %v", byStatus(res))
	}
	for to, n := range f.acceptedTo() {
		want := 1
		if to == "447000000003" {
			want = 2
		}
		if n != want {
			t.Errorf("%s has %d messages, want %d", to, n, want)
		}
	}
	// Run 4: nothing left to do, nothing sent, nothing transcoded.
	sends, tcs := len(f.sent), len(f.transcoded)
	res = runBatch(t, p, m, BatchOptions{Journal: journal})
	if !res.AllSent() || len(f.sent) != sends || len(f.transcoded) != tcs || res.Summary.Prepared != 0 {
		t.Errorf("run 4 did work: sends %d→%d, prepared %d", sends, len(f.sent), res.Summary.Prepared)
	}
}

// A journal whose last record for a row is "sending" (the process died
// while the request was out) makes the row unknown.
func TestBatchSendingWithoutOutcomeIsUnknown(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "AAA"})
	m := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,a.ogg,meta\n+447000000002,a.ogg,meta\n")
	journal := filepath.Join(dir, "j")
	f := newFakes()
	p := f.pipeline(t)
	// Kill the "process" right after the first sending record is durable:
	// the sender blocks forever and the journal is copied at that moment.
	snapCh := make(chan []byte, 1)
	var once sync.Once
	block := make(chan struct{})
	f.onSend = func(ctx context.Context, req sendReq) error {
		once.Do(func() {
			b, err := os.ReadFile(journal)
			if err != nil {
				t.Error(err)
			}
			snapCh <- b
		})
		if req.To == "447000000001" {
			<-block
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.NewBatch(m, BatchOptions{Journal: journal, SendWorkers: 1}).Run(ctx); close(done) }()
	var snap []byte
	select {
	case snap = <-snapCh:
	case <-time.After(5 * time.Second):
		t.Fatal("no send started")
	}
	cancel()
	close(block)
	<-done
	if !strings.Contains(string(snap), `"state":"sending"`) {
		t.Fatalf("journal at the first send has no sending record:\n%s", snap)
	}
	if err := os.WriteFile(journal, snap, 0o644); err != nil { // the state a SIGKILL would leave
		t.Fatal(err)
	}
	f.onSend = nil
	sends := len(f.sent)
	res := runBatch(t, p, m, BatchOptions{Journal: journal})
	got := byStatus(res)
	if fmt.Sprint(got[StatusUnknown], got[StatusSent]) != "[2] [3]" {
		t.Fatalf("after crash: %v %+v", got, res.Rows)
	}
	if len(f.sent) != sends+1 || f.sent[len(f.sent)-1].To != "447000000002" {
		t.Errorf("resent the in-doubt row: %+v", f.sent[sends:])
	}
}

func TestBatchStopFinishesInFlightSends(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	var b strings.Builder
	b.WriteString("to,file,provider\n")
	for i := 0; i < 20; i++ {
		files[fmt.Sprintf("f%d.ogg", i%5)] = fmt.Sprintf("F%d", i%5)
		fmt.Fprintf(&b, "+4470000001%02d,f%d.ogg,meta\n", i, i%5)
	}
	writeFiles(t, dir, files)
	m := mustManifest(t, dir, "m.csv", b.String())
	journal := filepath.Join(dir, "j")
	f := newFakes()
	p := f.pipeline(t)
	var batch *Batch
	var started atomic.Int32
	release := make(chan struct{})
	f.onSend = func(ctx context.Context, req sendReq) error {
		if started.Add(1) == 3 {
			batch.Stop() // Ctrl-C while three sends are in flight
			close(release)
		}
		<-release
		time.Sleep(10 * time.Millisecond)
		return ctx.Err()
	}
	batch = p.NewBatch(m, BatchOptions{Journal: journal, SendWorkers: 3})
	res, err := batch.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := byStatus(res)
	if len(got[StatusSent]) < 3 || len(got[StatusSkipped]) == 0 || len(got[StatusSent])+len(got[StatusSkipped]) != 20 {
		t.Fatalf("after stop: %v", got)
	}
	if !res.Summary.Interrupted {
		t.Error("summary not marked interrupted")
	}
	if int(started.Load()) != len(got[StatusSent]) {
		t.Errorf("%d sends started, %d reported sent", started.Load(), len(got[StatusSent]))
	}
	// Rerun: the rest are sent, each recipient has exactly one message.
	f.onSend = nil
	res = runBatch(t, p, m, BatchOptions{Journal: journal})
	if !res.AllSent() {
		t.Fatalf("rerun: %v", byStatus(res))
	}
	c := f.acceptedTo()
	if len(c) != 20 {
		t.Errorf("%d recipients have messages", len(c))
	}
	for to, n := range c {
		if n != 1 {
			t.Errorf("%s has %d messages", to, n)
		}
	}
}

func TestBatchCancelMakesInFlightUnknown(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "AAA"})
	m := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,a.ogg,meta\n+447000000002,a.ogg,meta\n")
	f := newFakes()
	p := f.pipeline(t)
	ctx, cancel := context.WithCancel(context.Background())
	f.onSend = func(c context.Context, req sendReq) error {
		cancel() // the second Ctrl-C, while the request is out
		<-c.Done()
		return c.Err()
	}
	res, err := p.NewBatch(m, BatchOptions{Journal: filepath.Join(dir, "j"), SendWorkers: 1}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := byStatus(res)
	if fmt.Sprint(got[StatusUnknown], got[StatusSkipped]) != "[2] [3]" {
		t.Fatalf("%v", got)
	}
	if !res.Summary.Interrupted {
		t.Error("a cancelled batch is not reported interrupted")
	}
}

// Inserting lines into the manifest must not move states onto other rows.
func TestBatchEditedManifestKeepsStates(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "AAA", "b.ogg": "BBB"})
	journal := filepath.Join(dir, "j")
	m1 := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,a.ogg,meta\n+447000000001,a.ogg,meta\n")
	f := newFakes()
	p := f.pipeline(t)
	if res := runBatch(t, p, m1, BatchOptions{Journal: journal}); !res.AllSent() {
		t.Fatal(byStatus(res))
	}
	// Two new rows on top, a third copy of the same row at the end, and b
	// swapped in for nobody.
	m2 := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000009,b.ogg,meta\n+447000000001,b.ogg,meta\n"+
		"+447000000001,a.ogg,meta\n+447000000001,a.ogg,meta\n+447000000001,a.ogg,meta\n")
	sends := len(f.sent)
	res := runBatch(t, p, m2, BatchOptions{Journal: journal})
	if !res.AllSent() {
		t.Fatal(byStatus(res))
	}
	var resumed []int
	for _, r := range res.Rows {
		if r.Resumed {
			resumed = append(resumed, r.Row)
		}
	}
	if fmt.Sprint(resumed) != "[4 5]" || len(f.sent)-sends != 3 {
		t.Errorf("resumed rows %v, new sends %d (want [4 5], 3)", resumed, len(f.sent)-sends)
	}
}

func TestBatchSplitPartsResume(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"long.ogg": "LONG"})
	m := mustManifest(t, dir, "m.jsonl", `{"to":"+447000000001","file":"long.ogg","provider":"meta"}`+"\n"+
		`{"to":447000000002,"file":"long.ogg","provider":"infobip"}`+"\n")
	journal := filepath.Join(dir, "j")
	f := newFakes()
	p := f.pipeline(t)
	res := runBatch(t, p, m, BatchOptions{Journal: journal})
	if got := byStatus(res); len(got[StatusFailed]) != 2 || !strings.Contains(res.Rows[0].Error, "--split") {
		t.Fatalf("without split: %v %q", got, res.Rows[0].Error)
	}
	// With split: the second part to the first recipient is refused once.
	var calls atomic.Int32
	f.onSend = func(ctx context.Context, req sendReq) error {
		if req.To == "447000000001" && calls.Add(1) == 2 {
			return errors.New("transient refusal")
		}
		return nil
	}
	res = runBatch(t, p, m, BatchOptions{Journal: journal, Split: true})
	if got := byStatus(res); fmt.Sprint(got[StatusSent], got[StatusFailed]) != "[2] [1]" {
		t.Fatalf("split run: %v", got)
	}
	if !strings.Contains(res.Rows[0].Error, "part 2 of 2") || strings.Count(res.Rows[1].MessageID, ";") != 1 {
		t.Errorf("row results: %+v", res.Rows)
	}
	f.onSend = nil
	res = runBatch(t, p, m, BatchOptions{Journal: journal, Split: true})
	if !res.AllSent() {
		t.Fatalf("resume: %v", byStatus(res))
	}
	if c := f.acceptedTo(); c["447000000001"] != 2 || c["447000000002"] != 2 {
		t.Errorf("messages per recipient %v, want 2 parts each", c)
	}
	if ids := strings.Split(res.Rows[0].MessageID, ";"); len(ids) != 2 || ids[0] == ids[1] {
		t.Errorf("part ids %q", res.Rows[0].MessageID)
	}
}

func TestBatchProgress(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "SLOW-A", "b.ogg": "SLOW-B"})
	m := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,a.ogg,meta\n+447000000002,b.ogg,meta\nbad,a.ogg,meta\n")
	f := newFakes()
	var mu sync.Mutex
	var seen []Progress
	res := runBatch(t, f.pipeline(t), m, BatchOptions{Jobs: 1, ProgressEvery: 20 * time.Millisecond, Progress: func(p Progress) {
		mu.Lock()
		seen = append(seen, p)
		mu.Unlock()
	}})
	if len(seen) < 3 {
		t.Fatalf("%d progress calls", len(seen))
	}
	last := seen[len(seen)-1]
	if !last.Final || last.Done != 3 || last.Total != 3 || last.Sent != 2 || last.Invalid != 1 {
		t.Errorf("final progress %+v", last)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Done < seen[i-1].Done {
			t.Errorf("progress went back: %+v then %+v", seen[i-1], seen[i])
		}
	}
	if seen[0].Final || seen[0].Done == 3 {
		t.Errorf("first progress %+v", seen[0])
	}
	if res.Summary.Counts[StatusSent] != 2 {
		t.Error(res.Summary)
	}
}

func TestBatchRate(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "AAA"})
	var b strings.Builder
	b.WriteString("to,file,provider\n")
	for i := 0; i < 11; i++ {
		fmt.Fprintf(&b, "+4470000001%02d,a.ogg,meta\n", i)
	}
	m := mustManifest(t, dir, "m.csv", b.String())
	f := newFakes()
	var times []time.Time
	var mu sync.Mutex
	f.onSend = func(ctx context.Context, req sendReq) error {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		return nil
	}
	res := runBatch(t, f.pipeline(t), m, BatchOptions{SendWorkers: 8, Rate: map[Provider]float64{Meta: 20}})
	if !res.AllSent() {
		t.Fatal(byStatus(res))
	}
	// 11 sends at 20/s with burst 1 take at least 10 intervals of 50 ms.
	// The times are taken after the limiter, so a first send scheduled
	// late on a loaded machine shortens the span: 50 ms of slack for that
	// (the same 10%, in time, that 180 ms gave at 50/s was 20 ms).
	if d := times[len(times)-1].Sub(times[0]); d < 450*time.Millisecond {
		t.Errorf("11 sends at 20/s took %v", d)
	}
}

func TestBatchJournalLocked(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "AAA"})
	m := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,a.ogg,meta\n")
	journal := filepath.Join(dir, "j")
	j, _, err := OpenJournal(journal)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	f := newFakes()
	_, err = f.pipeline(t).NewBatch(m, BatchOptions{Journal: journal}).Run(context.Background())
	var je *JournalError
	if !errors.As(err, &je) || !errors.Is(err, ErrJournalLocked) {
		t.Fatalf("err = %v", err)
	}
	if len(f.sent) != 0 {
		t.Error("sent without a journal")
	}
}

// A Stop while rows wait for their turn under the batch's rate limit:
// those rows have not left, so they are skipped, not sent after the stop.
func TestBatchStopDuringRateWaitSendsNoMore(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "AAA"})
	var b strings.Builder
	b.WriteString("to,file,provider\n")
	for i := 0; i < 4; i++ {
		fmt.Fprintf(&b, "+4470000001%02d,a.ogg,meta\n", i)
	}
	m := mustManifest(t, dir, "m.csv", b.String())
	f := newFakes()
	var batch *Batch
	var once sync.Once
	f.onSend = func(ctx context.Context, req sendReq) error {
		once.Do(func() {
			time.Sleep(50 * time.Millisecond) // the other workers are waiting for the limiter
			batch.Stop()
		})
		return nil
	}
	// One send every 2 s: after the first, every other worker waits.
	batch = f.pipeline(t).NewBatch(m, BatchOptions{Journal: filepath.Join(dir, "j"), SendWorkers: 4, Rate: map[Provider]float64{Meta: 0.5}})
	res, err := batch.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := byStatus(res)
	if len(got[StatusSent]) != 1 || len(got[StatusSkipped]) != 3 || len(f.sent) != 1 {
		t.Errorf("after a stop during the rate wait: %v, %d requests (want 1 sent, 3 skipped)", got, len(f.sent))
	}
}

// --resend-unknown resends an in-doubt Infobip row with the client
// messageId journaled for the request that may have arrived, not a new one.
func TestBatchResendUnknownKeepsClientMessageID(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "AAA"})
	m := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,a.ogg,infobip\n")
	journal := filepath.Join(dir, "j")
	f := newFakes()
	f.doubt["447000000001"] = true
	p := f.pipeline(t)
	if got := byStatus(runBatch(t, p, m, BatchOptions{Journal: journal})); fmt.Sprint(got[StatusUnknown]) != "[2]" {
		t.Fatalf("run 1: %v", got)
	}
	f.doubt = map[string]bool{}
	if res := runBatch(t, p, m, BatchOptions{Journal: journal, ResendUnknown: true}); !res.AllSent() {
		t.Fatalf("run 2: %v", byStatus(res))
	}
	if len(f.sent) != 2 || f.sent[0].MessageID == "" || f.sent[1].MessageID != f.sent[0].MessageID {
		t.Errorf("client message ids %q then %q, want the same", f.sent[0].MessageID, f.sent[len(f.sent)-1].MessageID)
	}
}

// A recording's prepared files are removed once it is uploaded, not kept
// until the end of the batch (for a passthrough they are a copy of the
// source: thousands of recordings would fill the disk).
func TestBatchRemovesOutputsOnceUploaded(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "AAA", "b.ogg": "SLOW-B"})
	m := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,a.ogg,meta\n+447000000002,b.ogg,meta\n")
	f := newFakes()
	p := f.pipeline(t)
	var mu sync.Mutex
	paths := map[string]string{} // media id → uploaded file
	f.onUpload = func(ctx context.Context, dest string, file upload.File) error {
		mu.Lock()
		paths[dest+"-"+file.SHA256[:12]] = file.Path // the media id the fake gives
		mu.Unlock()
		return nil
	}
	// When b (slow to prepare) is sent, a's outputs must be gone.
	var leftover string
	f.onSend = func(ctx context.Context, req sendReq) error {
		if req.To != "447000000002" {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		for id, path := range paths {
			if id == req.MediaID {
				continue
			}
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				if _, err := os.Stat(path); os.IsNotExist(err) {
					break
				}
				if time.Now().After(deadline) {
					leftover = path
					break
				}
			}
		}
		return nil
	}
	res := runBatch(t, p, m, BatchOptions{Jobs: 2})
	if !res.AllSent() {
		t.Fatal(byStatus(res))
	}
	if len(paths) != 2 {
		t.Fatalf("uploads %v", paths)
	}
	if leftover != "" {
		t.Errorf("%s still there after its upload, while the batch went on", leftover)
	}
	if ents, _ := os.ReadDir(p.tempDir); len(ents) != 0 {
		t.Errorf("work files left after the batch: %v", ents)
	}
}

// A split row whose second part is in doubt reports its first part's
// message id, in the run where it happened and in every later one.
func TestBatchUnknownSplitRowKeepsSentPartIDs(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"long.ogg": "LONG"})
	m := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,long.ogg,meta\n")
	journal := filepath.Join(dir, "j")
	f := newFakes()
	p := f.pipeline(t)
	var calls atomic.Int32
	f.onSend = func(ctx context.Context, req sendReq) error {
		if calls.Add(1) == 2 {
			return &send.InDoubtError{Provider: req.Provider, To: req.To, Err: errors.New("connection reset")}
		}
		return nil
	}
	first := runBatch(t, p, m, BatchOptions{Journal: journal, Split: true}).Rows[0]
	if first.Status != StatusUnknown || first.MessageID == "" {
		t.Fatalf("run 1: %+v", first)
	}
	f.onSend = nil
	again := runBatch(t, p, m, BatchOptions{Journal: journal, Split: true}).Rows[0]
	if again.Status != StatusUnknown || again.MessageID != first.MessageID {
		t.Errorf("rerun: %s with message id %q, want unknown with %q", again.Status, again.MessageID, first.MessageID)
	}
}

// A split row stopped at once between its parts has a message: it is
// reported failed (a rerun sends the rest) with the sent part's id, not
// skipped ("not attempted").
func TestBatchHardStopBetweenPartsIsNotSkipped(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"long.ogg": "LONG"})
	m := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,long.ogg,meta\n")
	f := newFakes()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.onSend = func(context.Context, sendReq) error {
		cancel() // the second Ctrl-C, once the first part is out (and answered)
		return nil
	}
	res, err := f.pipeline(t).NewBatch(m, BatchOptions{Journal: filepath.Join(dir, "j"), Split: true, Rate: map[Provider]float64{Meta: 1000}}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Rows[0]
	if len(f.accepted) != 1 || r.Status != StatusFailed || r.MessageID != "wamid.1" || !strings.Contains(r.Error, "part 2 of 2") {
		t.Errorf("%d messages; row %s %q %q, want failed with the first part's id", len(f.accepted), r.Status, r.MessageID, r.Error)
	}
}

// The biggest recording is prepared first, wherever it is in the manifest,
// so a long transcode does not start after every short one.
func TestBatchPreparesBiggestFirst(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "A", "b.ogg": "BB", "big.wav": strings.Repeat("L", 4096)})
	m := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,a.ogg,meta\n+447000000002,b.ogg,meta\n+447000000003,big.wav,meta\n")
	f := newFakes()
	p := f.pipeline(t)
	var mu sync.Mutex
	var got []string
	p.transcode = func(ctx context.Context, src string, rep *inspect.Report, o transcode.Options, dir string) (*transcode.Result, error) {
		mu.Lock()
		got = append(got, filepath.Base(src))
		mu.Unlock()
		return f.transcode(ctx, src, rep, o, dir)
	}
	if res := runBatch(t, p, m, BatchOptions{Jobs: 1}); !res.AllSent() {
		t.Fatal(byStatus(res))
	}
	if fmt.Sprint(got) != "[big.wav b.ogg a.ogg]" {
		t.Errorf("prepared in the order %v, want the biggest first", got)
	}
}

// Issue 13 item 4: a Stop while an upload is out lets it finish (it is
// not cancelled) and records it; the rerun sends that upload and uploads
// nothing again. Uploads not yet started are not started.
func TestBatchStopFinishesUploadsAndRerunReusesThem(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.ogg": "AAA", "b.ogg": "BBB", "c.ogg": "CCC"})
	m := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,a.ogg,meta\n+447000000002,b.ogg,meta\n+447000000003,c.ogg,meta\n+447000000004,a.ogg,meta\n")
	journal := filepath.Join(dir, "j")
	f := newFakes()
	p := f.pipeline(t)
	// Only the first recording is prepared before the stop: the others
	// wait for it (Stop cancels the prepares), so no second upload can have
	// started by then however the goroutines are scheduled on a loaded
	// machine.
	inspectFile := p.inspect
	var prepared atomic.Int32
	p.inspect = func(ctx context.Context, path string, opts ...inspect.Option) (*inspect.Report, error) {
		if prepared.Add(1) > 1 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(10 * time.Second):
				t.Error("the stop never came")
			}
		}
		return inspectFile(ctx, path, opts...)
	}
	var b *Batch
	var once sync.Once
	f.onUpload = func(ctx context.Context, _ string, _ upload.File) error {
		once.Do(func() {
			b.Stop()
			// The upload is out when the stop comes: it must not be
			// cancelled.
			select {
			case <-ctx.Done():
				t.Error("the upload in flight was cancelled by Stop")
			case <-time.After(50 * time.Millisecond):
			}
		})
		return nil
	}
	b = p.NewBatch(m, BatchOptions{Journal: journal, Jobs: 1})
	res, err := b.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.sent) != 0 || res.Summary.Uploads != 1 || !res.Summary.Interrupted {
		t.Fatalf("stopped run: %d sends, %d uploads (want 0, 1): %v", len(f.sent), res.Summary.Uploads, byStatus(res))
	}
	first := map[string]int{}
	for k, v := range f.uploaded {
		first[k] = v
	}
	f.onUpload, p.inspect = nil, inspectFile
	res = runBatch(t, p, m, BatchOptions{Journal: journal})
	if !res.AllSent() {
		t.Fatalf("rerun: %v", byStatus(res))
	}
	for k, n := range f.uploaded {
		if n != 1 {
			t.Errorf("%s uploaded %d times (%d in the stopped run)", k, n, first[k])
		}
	}
	if len(f.uploaded) != 3 || res.Summary.Uploads != 2 {
		t.Errorf("rerun uploaded %d recordings in all, %d in this run; want 3 and 2", len(f.uploaded), res.Summary.Uploads)
	}
}
