package transcode

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prep-audio/prep/pkg/inspect"

	"github.com/prep-audio/prep/internal/testdeps"
)

// TestOutputFailureClassified: ffmpeg's stderr after a failed write is an
// output error that says why, never a decoding error (which would be
// retried leniently) nor a note prep "cannot read back".
func TestOutputFailureClassified(t *testing.T) {
	for _, c := range []struct {
		stderr string
		kind   ErrorKind
		say    string
	}{
		{"Error writing trailer of file:/o/.n.ogg.1.tmp: No space left on device", KindOutput, "no space left on device"},
		{"[ogg @ 0x1] Error closing file file:/o/x.ogg: No space left on device", KindOutput, "no space left on device"},
		{"av_interleaved_write_frame(): Disk quota exceeded", KindOutput, "disk quota exceeded"},
		{"file:/ro/x.ogg: Read-only file system", KindOutput, "read-only file system"},
		{"Error writing trailer of file:/o/x.ogg: Input/output error", KindOutput, "writing the end of the file failed"},
		{"Error while decoding stream #0:0: Invalid data found when processing input", KindInput, "cannot decode"},
	} {
		e := ffmpegError(errors.New("exit status 1"), c.stderr)
		if e.Kind != c.kind || !strings.Contains(e.Error(), c.say) {
			t.Errorf("%q: %s %q", c.stderr, e.Kind, e.Error())
		}
	}
}

// TestDiskFullDevFull writes a real encode to /dev/full (every write
// fails with ENOSPC): strict (-xerror: ffmpeg exits 1) and lenient
// (ffmpeg 5.1 exits 0 after "Error writing trailer") runs both report a
// full disk.
func TestDiskFullDevFull(t *testing.T) {
	needFFmpeg(t)
	if _, err := os.Stat("/dev/full"); err != nil {
		testdeps.Missing(t, "no /dev/full on this system")
	}
	in := gen(t, t.TempDir(), "memo.wav", speechLike(3, 16000)...)
	tr := mustNew(t, Options{})
	rep, err := inspect.File(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tr.Plan(rep)
	if err != nil {
		t.Fatal(err)
	}
	r, err := tr.runner()
	if err != nil {
		t.Fatal(err)
	}
	for _, lenient := range []bool{false, true} {
		args, err := p.args(in, "/dev/full", Segment{}, false, lenient)
		if err != nil {
			t.Fatal(err)
		}
		err = r.run(context.Background(), args, nil, nil)
		var te *Error
		if !errors.As(err, &te) || te.Kind != KindOutput || !strings.Contains(err.Error(), "no space left on device") {
			t.Errorf("lenient %v: %v", lenient, err)
		}
	}
}

// TestDiskFullTmpfs transcodes into a full 64 KiB tmpfs: the error is an
// output error saying "no space left on device" (it said "ffmpeg wrote an
// output prep cannot read back: … empty" before, or — leniently re-run —
// passed a note cut short as a success), and no temporary file is left.
// Mounting needs root; without it the test skips (TestDiskFullDevFull
// covers ENOSPC everywhere), but as root under CI a failed mount fails it.
func TestDiskFullTmpfs(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if err := os.Mkdir(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", full).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" && os.Geteuid() == 0 {
			t.Fatalf("mount tmpfs as root: %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs (%v): TestDiskFullDevFull covers ENOSPC", err)
	}
	t.Cleanup(func() { _ = exec.Command("umount", full).Run() })
	in := gen(t, dir, "memo.wav", speechLike(30, 16000)...)
	for _, packing := range []Packing{PackingNative, PackingSingle} {
		_, err := mustNew(t, Options{Packing: packing}).ToDir(context.Background(), FileInput(in), full)
		var te *Error
		if !errors.As(err, &te) || te.Kind != KindOutput || !strings.Contains(err.Error(), "no space left on device") {
			t.Errorf("%s: %v", packing, err)
		}
		noTemps(t, full)
	}
}
