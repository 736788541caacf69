package inspect

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/prep-audio/prep/pkg/rules"
)

// amrCases: durations are frames × 20 ms as made by testdata/gen/amr.sh.
func amrCases() []fmtCase {
	amr, nb := rules.ContainerAMR, rules.CodecAMRNB
	return []fmtCase{
		{name: "nb mr122 sox", file: "amr-nb-mr122-sox-2s.amr", container: amr, codec: nb, channels: 1, rate: 8000, dur: 2, tol: 1e-9, mime: "audio/amr"},
		{name: "nb mr475 sox", file: "amr-nb-mr475-sox-1s.amr", container: amr, codec: nb, channels: 1, rate: 8000, dur: 1, tol: 1e-9},
		// 150 frames with DTX (SID + NO_DATA runs): ffprobe says ~2.82 s.
		{name: "nb dtx", file: "amr-nb-dtx-sid-nodata-3s.amr", container: amr, codec: nb, channels: 1, rate: 8000, dur: 3, tol: 1e-9},
		{name: "wb mode8", file: "awb-wb-mode8-2s.awb", container: amr, codec: "amr_wb", channels: 1, rate: 16000, dur: 2, tol: 1e-9, mime: "audio/amr-wb"},
		{name: "wb dtx", file: "awb-wb-mode2-dtx-4s.awb", container: amr, codec: "amr_wb", channels: 1, rate: 16000, dur: 4, tol: 1e-9},
		// MR122 frames are 1+31 bytes: cutting 5 bytes leaves 99 whole frames.
		{name: "last frame cut", build: func(tb testing.TB) []byte {
			b := fmtSample(tb, "amr-nb-mr122-sox-2s.amr")
			return b[:len(b)-5]
		}, container: amr, codec: nb, channels: 1, rate: 8000, dur: 1.98, tol: 1e-9, truncated: true},
		{name: "wb last frame cut", build: func(tb testing.TB) []byte {
			b := fmtSample(tb, "awb-wb-mode8-2s.awb")
			return b[:len(b)-1]
		}, container: amr, codec: "amr_wb", channels: 1, rate: 16000, dur: 1.98, tol: 1e-9, truncated: true},
		{name: "header only", build: func(tb testing.TB) []byte { return []byte("#!AMR\n") }, err: CodeTruncated},
		{name: "multichannel refused", build: func(tb testing.TB) []byte {
			return fmtConcat([]byte("#!AMR_MC1.0\n"), []byte{0, 0, 0, 2}, bytes.Repeat([]byte{0x3C, 0x3C}, 10))
		}, err: CodeUnsupportedContainer},
		{name: "wb multichannel refused", build: func(tb testing.TB) []byte { return []byte("#!AMR-WB_MC1.0\n") }, err: CodeUnsupportedContainer},
		// Only NO_DATA frames (ToC 0x7C, no payload): 50 frames = 1 s.
		{name: "all no_data", build: func(tb testing.TB) []byte {
			return fmtConcat([]byte("#!AMR\n"), bytes.Repeat([]byte{0x7C}, 50))
		}, container: amr, codec: nb, channels: 1, rate: 8000, dur: 1, tol: 1e-9},
	}
}

func TestAMR(t *testing.T) { runFmtCases(t, amrCases()) }

func TestAMRMultichannelMessage(t *testing.T) {
	b := fmtConcat([]byte("#!AMR_MC1.0\n"), []byte{0, 0, 0, 6})
	_, err := inspectBytes(b)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("6 channels")) {
		t.Fatalf("want the channel count in the error, got %v", err)
	}
}

func FuzzAMR(f *testing.F) {
	seedFmtFuzz(f, amrCases())
	f.Fuzz(fuzzFmt)
}

// amr16MB is a 16 MB AMR-NB file: the MR122 sample's frames repeated.
func amr16MB(tb testing.TB) []byte {
	s := fmtSample(tb, "amr-nb-mr122-sox-2s.amr")
	frames := s[len("#!AMR\n"):]
	b := append([]byte{}, s[:len("#!AMR\n")]...)
	for len(b)+len(frames) <= 16<<20 {
		b = append(b, frames...)
	}
	return b
}

func TestAMRLarge(t *testing.T) {
	b := amr16MB(t)
	rep, err := inspectBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	want := float64((len(b)-6)/32) * 0.02
	if rep.Duration != want || rep.Truncated {
		t.Fatalf("duration %v truncated %v, want %v", rep.Duration, rep.Truncated, want)
	}
}

func BenchmarkAMR(b *testing.B) {
	b.Run("small", func(b *testing.B) { benchFmt(b, fmtSample(b, "amr-nb-dtx-sid-nodata-3s.amr")) })
	b.Run("16MB", func(b *testing.B) { benchFmt(b, amr16MB(b)) })
}

func ExampleReader_amrDTX() {
	b := fmtSampleExample("amr-nb-dtx-sid-nodata-3s.amr")
	rep, err := Reader(context.Background(), fmtReader(b), int64(len(b)), "call.amr")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.MIME, rep.Codec, rep.SampleRate, rep.Duration, rep.AudioReady)
	// Output: audio/amr amr_nb 8000 3 true
}

// TestAMRDTXFrames: SID and NO_DATA frames are counted (transcode plans
// their decoding from it).
func TestAMRDTXFrames(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		want int64
	}{
		{"nb dtx", fmtSample(t, "amr-nb-dtx-sid-nodata-3s.amr"), 75},
		{"wb dtx", fmtSample(t, "awb-wb-mode2-dtx-4s.awb"), 100},
		{"nb speech only", fmtSample(t, "amr-nb-mr122-sox-2s.amr"), 0},
		{"all no_data", fmtConcat([]byte("#!AMR\n"), bytes.Repeat([]byte{0x7C}, 50)), 50},
	} {
		rep, err := inspectBytes(c.b)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if rep.DTXFrames != c.want {
			t.Errorf("%s: %d DTX frames, want %d", c.name, rep.DTXFrames, c.want)
		}
	}
}
