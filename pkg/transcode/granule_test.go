package transcode

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/prep-audio/prep/pkg/transcode/internal/oggopus"
)

// TestGranuleGapNotPassedThrough: a compliant Ogg Opus note whose granule
// positions run ahead of its packets' samples (ffmpeg's Ogg muxer writes
// them from the timestamp gaps of an AMR DTX input) is not passed through
// byte for byte: its pages are rewritten, under either packing, so that
// opusinfo finds nothing, and libopus decodes it to exactly the input's
// PCM. Before the fix it was passed through untouched (the 48 kHz note:
// opusinfo "Sample count behind granule" ×9, 9.50 s by its granules, 5.0
// s of samples).
func TestGranuleGapNotPassedThrough(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	amr := amrDTXSample(t, dir, "dtx.amr", false, 500, false)
	for _, c := range []struct {
		name string
		args []string
		silk bool // SILK wideband: regrouped three frames to a packet under native packing
	}{
		{"gap48.ogg", []string{"-ar", "48000", "-c:a", "libopus", "-b:a", "24k"}, false},                        // hybrid/CELT FB
		{"gap16.ogg", []string{"-ar", "16000", "-c:a", "libopus", "-application", "voip", "-b:a", "16k"}, true}, // SILK WB
	} {
		in := gen(t, dir, c.name, append([]string{"-max_error_rate", "1", "-i", amr}, c.args...)...)
		b, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		s, err := oggopus.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if oggopus.GranuleError(s) == nil {
			t.Fatalf("%s: the sample has no granule gap; the test needs one", c.name)
		}
		want := decodeLibopus(t, in)
		for _, pk := range []Packing{PackingNative, PackingSingle} {
			t.Run(c.name+"/"+string(pk), func(t *testing.T) {
				res, err := mustNew(t, Options{Packing: pk}).ToDir(context.Background(), FileInput(in), t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				out := res.Outputs[0].Path
				if res.Action != ActionRepack || res.Attempts != 0 {
					t.Errorf("action %s, %d attempts (%s), want a repack", res.Action, res.Attempts, res.Plan.Reason)
				}
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(got, b) {
					t.Errorf("passed through byte for byte")
				}
				so := parseNote(t, out)
				if err := oggopus.GranuleError(so); err != nil {
					t.Errorf("output: %v", err)
				}
				if keep := pk == PackingSingle || !c.silk; keep {
					// Not regrouped: the same packets, only pages and granules rewritten.
					same := len(so.Audio) == len(s.Audio)
					for i := 0; same && i < len(s.Audio); i++ {
						same = bytes.Equal(so.Audio[i].Data, s.Audio[i].Data)
					}
					if !same {
						t.Errorf("packets changed: %d packets for %d, want them kept (%s)", len(so.Audio), len(s.Audio), res.Plan.Reason)
					}
				} else if len(so.Audio) >= len(s.Audio) {
					t.Errorf("%d packets for %d: SILK wideband frames not regrouped", len(so.Audio), len(s.Audio))
				}
				checkVoice(t, out, 512_000, float64(len(want))/2/48000) // opusinfo clean
				if pcm := decodeLibopus(t, out); !bytes.Equal(pcm, want) {
					t.Errorf("libopus PCM differs: %d bytes for %d", len(pcm), len(want))
				}
				t.Logf("%s: %s, %d → %d bytes, %d packets", filepath.Base(in), res.Action, len(b), len(got), len(so.Audio))
			})
		}
	}
}
