package inspect

// Shared test machinery for the frame/box parsers (mp4, mp3, adts, amr):
// one table of cases per format feeds both the table-driven test and the
// seed corpus of that format's fuzz target.

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// fmtCase is one input and what inspecting it must give. Expected values
// come from how the input was made (testdata/gen/*.sh arguments or the
// builder in the test), never from running the parser.
type fmtCase struct {
	name  string
	file  string                     // a sample in testdata/, or
	build func(tb testing.TB) []byte // bytes made at run time

	err Code // non-empty: inspecting must fail with this code

	container, codec string
	channels, rate   int
	dur, tol         float64 // expected duration and tolerance, seconds
	bitrate          int64   // when non-zero: expected bitrate within bitrateTol
	bitrateTol       float64 // relative; default 0.01
	truncated, video bool
	brand, mime      string // when non-empty
	streams          int    // when non-zero
}

var fmtSampleCache = map[string][]byte{}

// fmtSample reads a committed sample (cached).
func fmtSample(tb testing.TB, name string) []byte {
	tb.Helper()
	if b, ok := fmtSampleCache[name]; ok {
		return b
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		tb.Fatalf("sample %s: %v (regenerate with `make samples`)", name, err)
	}
	fmtSampleCache[name] = b
	return b
}

func (c fmtCase) bytes(tb testing.TB) []byte {
	tb.Helper()
	if c.build != nil {
		return c.build(tb)
	}
	return fmtSample(tb, c.file)
}

func inspectBytes(b []byte) (*Report, error) {
	return Reader(context.Background(), bytes.NewReader(b), int64(len(b)), "")
}

// runFmtCases is the table-driven test.
func runFmtCases(t *testing.T, cases []fmtCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := inspectBytes(c.bytes(t))
			if c.err != "" {
				var ie *Error
				if !errors.As(err, &ie) {
					t.Fatalf("want an *Error with code %s, got %v (report %+v)", c.err, err, rep)
				}
				if Code(ie.Kind) != c.err {
					t.Fatalf("want code %s, got %s: %v", c.err, Code(ie.Kind), err)
				}
				if rep == nil || rep.Error == "" {
					t.Fatalf("a failed inspection must still return a report with Error")
				}
				return
			}
			if err != nil {
				t.Fatalf("inspect: %v", err)
			}
			check := func(what string, got, want any) {
				t.Helper()
				if got != want {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
			}
			check("container", rep.Container, c.container)
			check("codec", rep.Codec, c.codec)
			check("channels", rep.Channels, c.channels)
			check("sample rate", rep.SampleRate, c.rate)
			check("truncated", rep.Truncated, c.truncated)
			check("has video", rep.HasVideo, c.video)
			if math.Abs(rep.Duration-c.dur) > c.tol {
				t.Errorf("duration = %.6f s, want %.6f ± %.3f", rep.Duration, c.dur, c.tol)
			}
			if c.bitrate != 0 {
				tol := c.bitrateTol
				if tol == 0 {
					tol = 0.01
				}
				if math.Abs(float64(rep.Bitrate-c.bitrate)) > tol*float64(c.bitrate) {
					t.Errorf("bitrate = %d, want %d ± %.0f%%", rep.Bitrate, c.bitrate, tol*100)
				}
			}
			if c.brand != "" {
				check("brand", rep.Brand, c.brand)
			}
			if c.mime != "" {
				check("mime", rep.MIME, c.mime)
			}
			if c.streams != 0 {
				check("streams", rep.Streams, c.streams)
			}
		})
	}
}

// seedFmtFuzz adds every case's bytes and truncations of them.
func seedFmtFuzz(f *testing.F, cases []fmtCase) {
	f.Helper()
	for _, c := range cases {
		b := c.bytes(f)
		if len(b) > 512<<10 {
			continue // big run-time inputs make slow seeds
		}
		f.Add(b)
		for _, n := range []int{len(b) / 2, len(b) - 1, len(b) * 9 / 10, 64, 12} {
			if n > 0 && n < len(b) {
				f.Add(b[:n])
			}
		}
	}
}

// fuzzFmt asserts no panic and sane output for any input.
func fuzzFmt(t *testing.T, b []byte) {
	rep, err := inspectBytes(b)
	if rep == nil {
		t.Fatal("nil report")
	}
	if err != nil {
		var ie *Error
		if !errors.As(err, &ie) {
			t.Fatalf("untyped error %T: %v", err, err)
		}
		if rep.Error == "" {
			t.Fatal("error without report.Error")
		}
		return
	}
	if rep.Channels < 0 || rep.SampleRate < 0 || rep.Bitrate < 0 {
		t.Fatalf("negative figures: %+v", rep)
	}
	if math.IsNaN(rep.Duration) || math.IsInf(rep.Duration, 0) || rep.Duration < 0 {
		t.Fatalf("duration %v", rep.Duration)
	}
	if rep.Container == "" {
		t.Fatalf("no container: %+v", rep)
	}
}

// benchFmt inspects b in-process b.N times.
func benchFmt(b *testing.B, data []byte) {
	b.Helper()
	ctx := context.Background()
	r := bytes.NewReader(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Reader(ctx, r, int64(len(data)), ""); err != nil {
			b.Fatal(err)
		}
	}
}

// fmtID3v2 returns an ID3v2.3 tag of exactly n bytes (n ≥ 10): a header
// with a syncsafe size and zero padding, as taggers leave room for covers.
func fmtID3v2(n int) []byte {
	b := make([]byte, n)
	copy(b, "ID3\x03\x00\x00")
	s := n - 10
	b[6], b[7], b[8], b[9] = byte(s>>21&0x7F), byte(s>>14&0x7F), byte(s>>7&0x7F), byte(s&0x7F)
	return b
}

func fmtConcat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func fmtReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// fmtSampleExample reads a sample for an Example (no testing.TB there).
func fmtSampleExample(name string) []byte {
	b, _ := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	return b
}
