// Package memos writes the benchmarks' recordings and manifests: distinct
// mono 16 kHz WAV memos made by ffmpeg, and a CSV manifest of rows over
// them, one recipient a row, the providers in turn.
package memos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Write makes distinct memos of seconds each in dir (memo00.wav, …), each
// a different tone so that each is its own recording, and a manifest of
// rows rows over them (row i: recipient +447700 i, memo i%distinct,
// provider meta, 360dialog, infobip in turn). It returns the manifest's
// path.
func Write(tb testing.TB, dir string, distinct, rows, seconds int) string {
	tb.Helper()
	for i := range distinct {
		out := filepath.Join(dir, fmt.Sprintf("memo%02d.wav", i))
		cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi",
			"-i", fmt.Sprintf("sine=frequency=%d:sample_rate=16000:duration=%d", 150+20*i, seconds), "-ac", "1", "-c:a", "pcm_s16le", "-y", out)
		if o, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("ffmpeg: %v %s", err, o)
		}
	}
	providers := []string{"meta", "360dialog", "infobip"}
	var mb strings.Builder
	mb.WriteString("to,file,provider\n")
	for i := range rows {
		fmt.Fprintf(&mb, "+447700%06d,memo%02d.wav,%s\n", i, i%distinct, providers[i%len(providers)])
	}
	manifest := filepath.Join(dir, "m.csv")
	if err := os.WriteFile(manifest, []byte(mb.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return manifest
}
