package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prep-audio/prep/internal/testgen/memos"
	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/transcode"
)

// BenchmarkBatch1000Rows20Recordings: 1,000 rows over 20 distinct
// recordings (15 s WAV memos, 50 rows each, the three providers in turn)
// through the real stages against the in-process sandbox, with a fresh
// sandbox and journal per iteration. It reports the wall time against the
// floor: the sum of one transcode per distinct recording, measured with the
// same transcoder one after another (goal: within 1.2x of that floor).
//
// The senders' client-side rate limits are off (the sandbox has none): with
// Meta's default 80 messages/s per number, 334 Meta rows alone would take
// over 4 s.
func BenchmarkBatch1000Rows20Recordings(b *testing.B) {
	needFFmpeg(b)
	dir := b.TempDir()
	const distinct, rows = 20, 1000
	mpath := memos.Write(b, dir, distinct, rows, 15)
	m, err := ParseManifest(mpath, ManifestDefaults{})
	if err != nil {
		b.Fatal(err)
	}

	// The floor: one transcode per distinct recording, one after another.
	tc, err := transcode.New(transcode.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var floor time.Duration
	for i := 0; i < distinct; i++ {
		src := filepath.Join(dir, fmt.Sprintf("memo%02d.wav", i))
		out := b.TempDir()
		if _, err := inspect.File(context.Background(), src); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := tc.ToDir(context.Background(), transcode.FileInput(src), out); err != nil {
			b.Fatal(err)
		}
		floor += time.Since(t0)
	}

	var wall time.Duration
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		sb, p := startSandbox(b, sandbox.Config{})
		journal := filepath.Join(dir, fmt.Sprintf("j%d", it))
		b.StartTimer()
		t0 := time.Now()
		res, err := p.NewBatch(m, BatchOptions{Journal: journal}).Run(context.Background())
		wall += time.Since(t0)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if !res.AllSent() {
			b.Fatalf("not all sent: %+v", res.Summary)
		}
		if n := len(sb.Messages()); n != rows {
			b.Fatalf("%d messages", n)
		}
		if n := len(sb.Media(sandbox.Meta)) + len(sb.Media(sandbox.D360)); n != 2*distinct {
			b.Fatalf("%d media uploads, want %d", n, 2*distinct)
		}
		sb.Close()
		b.StartTimer()
	}
	b.StopTimer()
	w := wall / time.Duration(b.N)
	b.ReportMetric(floor.Seconds(), "floor-s")
	b.ReportMetric(w.Seconds(), "wall-s")
	b.ReportMetric(w.Seconds()/floor.Seconds(), "x-floor")
	b.ReportMetric(float64(rows)/w.Seconds(), "rows/s")
}

// BenchmarkBatch1000RowsMachinery: 1,000 rows of one compliant voice note
// (passthrough), so the time is the batch machinery itself: hashing, the
// journal (a durable "sending" and outcome record per row, group-committed),
// uploads and 1,000 sends over loopback to the in-process sandbox.
func BenchmarkBatch1000RowsMachinery(b *testing.B) {
	needFFmpeg(b)
	dir := b.TempDir()
	copyFile(b, filepath.Join("..", "..", "testdata", "ogg-opus-mono-48k-2s.ogg"), filepath.Join(dir, "a.ogg"))
	var mb strings.Builder
	mb.WriteString("to,file,provider\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&mb, "+447700%06d,a.ogg,%s\n", i, Providers[i%3])
	}
	mpath := filepath.Join(dir, "m.csv")
	os.WriteFile(mpath, []byte(mb.String()), 0o644)
	m, err := ParseManifest(mpath, ManifestDefaults{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		sb, p := startSandbox(b, sandbox.Config{})
		b.StartTimer()
		res, err := p.NewBatch(m, BatchOptions{Journal: filepath.Join(dir, fmt.Sprintf("j%d", it))}).Run(context.Background())
		b.StopTimer()
		if err != nil || !res.AllSent() {
			b.Fatal(err, res.Summary)
		}
		sb.Close()
		b.StartTimer()
	}
	b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
