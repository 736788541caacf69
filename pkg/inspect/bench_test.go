package inspect

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prep-audio/prep/internal/testdeps"
)

// BenchmarkFile inspects every committed sample from disk, one
// sub-benchmark per file (the goal: well under 100 µs a small file).
func BenchmarkFile(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "*.*"))
	for _, p := range files {
		name := filepath.Base(p)
		if strings.HasSuffix(name, ".sh") || strings.HasPrefix(name, "hostile-") {
			continue
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				File(context.Background(), p)
			}
		})
	}
}

// BenchmarkLarge inspects ~16 MB files (the WhatsApp limit) made once with
// ffmpeg into the OS temp dir (goal: a few ms each).
func BenchmarkLarge(b *testing.B) {
	testdeps.Tool(b, "ffmpeg", "make deps")
	dir := filepath.Join(os.TempDir(), "prep-bench-large")
	os.MkdirAll(dir, 0o755)
	// About 15.9 MB each: ~16.5 minutes of 128 kb/s for the lossy ones.
	makes := []struct{ name, args string }{
		{"large.mp3", "-c:a libmp3lame -b:a 128k -t 990 -f mp3"},
		{"large.m4a", "-c:a aac -b:a 128k -t 960 -f ipod"},
		{"large.ogg", "-c:a libopus -b:a 128k -ac 1 -t 990 -f ogg"},
		{"large.aac", "-c:a aac -b:a 128k -t 960 -f adts"},
		{"large.webm", "-c:a libopus -b:a 128k -ac 1 -t 990 -f webm"},
		{"large.wav", "-c:a pcm_s16le -ac 1 -ar 16000 -t 490 -f wav"},
	}
	for _, m := range makes {
		p := filepath.Join(dir, m.name)
		if _, err := os.Stat(p); err != nil {
			args := append([]string{"-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "anoisesrc=seed=7:d=1000:c=pink:r=44100:a=0.3"}, strings.Fields(m.args)...)
			if out, err := exec.Command("ffmpeg", append(args, p+".tmp")...).CombinedOutput(); err != nil {
				b.Fatalf("ffmpeg %s: %v\n%s", m.name, err, out)
			}
			os.Rename(p+".tmp", p)
		}
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := File(context.Background(), p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
