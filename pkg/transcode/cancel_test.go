//go:build unix

package transcode

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prep-audio/prep/internal/testdeps"
)

// ffmpegPIDs lists the ffmpeg processes whose command line mentions s.
func ffmpegPIDs(s string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := string(b)
		if strings.Contains(cmd, "ffmpeg") && strings.Contains(cmd, s) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestCancelMidEncode cancels a long encode: ffmpeg must be gone when
// the call returns, and no temporary file may remain.
func TestCancelMidEncode(t *testing.T) {
	needFFmpeg(t)
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		testdeps.Missing(t, "needs /proc to find the ffmpeg process")
	}
	src := t.TempDir()
	// 10 minutes at 8 kHz: seconds to make, far longer to encode.
	in := gen(t, src, "long.wav", "-f", "lavfi", "-i", "anoisesrc=seed=7:c=pink:r=8000:a=0.3:d=600")
	dir := t.TempDir()
	started := make(chan struct{})
	var once sync.Once
	tr := mustNew(t, Options{Progress: func(string, float64, float64) { once.Do(func() { close(started) }) }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type ret struct {
		res *Result
		err error
	}
	done := make(chan ret, 1)
	go func() {
		r, err := tr.ToDir(ctx, FileInput(in), dir)
		done <- ret{r, err}
	}()
	select {
	case <-started:
	case r := <-done:
		t.Fatalf("finished before it could be canceled: %v", r.err)
	case <-time.After(60 * time.Second):
		t.Fatal("ffmpeg never reported progress")
	}
	pids := ffmpegPIDs(dir)
	if len(pids) == 0 {
		t.Fatal("no ffmpeg process found for the encode")
	}
	cancel()
	var r ret
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("cancel did not stop the transcode")
	}
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", r.err)
	}
	var te *Error
	if !errors.As(r.err, &te) || te.Kind != KindCanceled {
		t.Errorf("err = %#v, want KindCanceled", r.err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("ffmpeg pid %d still exists after cancel (kill 0: %v)", pid, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind in the output dir: %v", ents)
	}
}

// TestCanceledBeforeStart: a canceled context runs nothing.
func TestCanceledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tr := mustNew(t, Options{})
	_, err := tr.ToDir(ctx, FileInput("/nonexistent.wav"), t.TempDir())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
