//go:build linux

package transcode

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelperProcessEncode is not a test: TestFFmpegDiesWithPrep runs the
// test binary as a stand-in prep that starts a long encode.
func TestHelperProcessEncode(t *testing.T) {
	in, dir := os.Getenv("PREP_TEST_ENCODE_IN"), os.Getenv("PREP_TEST_ENCODE_DIR")
	if in == "" || dir == "" {
		return // only as the stand-in prep of TestFFmpegDiesWithPrep
	}
	tr := mustNew(t, Options{})
	_, _ = tr.ToDir(context.Background(), FileInput(in), dir)
}

// alive reports whether pid is a process that is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestFFmpegDiesWithPrep: a prep killed with SIGKILL runs no cancellation;
// its ffmpeg must not go on encoding (and holding prep's pipes) as an
// orphan. Before the parent-death signal the encode ran to its end.
func TestFFmpegDiesWithPrep(t *testing.T) {
	needFFmpeg(t)
	src := t.TempDir()
	in := gen(t, src, "long.wav", "-f", "lavfi", "-i", "anoisesrc=seed=7:c=pink:r=8000:a=0.3:d=600")
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessEncode$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PREP_TEST_ENCODE_IN="+in, "PREP_TEST_ENCODE_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var pids []int
	for deadline := time.Now().Add(60 * time.Second); len(pids) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the stand-in prep started no ffmpeg within 60 s")
		}
		time.Sleep(50 * time.Millisecond)
		pids = ffmpegPIDs(dir)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("ffmpeg pid %d still runs 10 s after its prep was killed", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
