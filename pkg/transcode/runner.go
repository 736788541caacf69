package transcode

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// stderrKeep is how much of ffmpeg's stderr is kept for error messages:
// the last bytes, where ffmpeg says what went wrong.
const stderrKeep = 8 << 10

// tail is an io.Writer that keeps only the last max bytes written.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String returns the kept bytes as valid UTF-8, trimmed, on one line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	// Drop a rune cut in half at the start (its continuation bytes).
	for len(b) > 0 && !utf8.RuneStart(b[0]) {
		b = b[1:]
	}
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

// runner runs ffmpeg. It is safe for concurrent use.
type runner struct {
	bin string // resolved path of ffmpeg
}

// lookFFmpeg resolves the ffmpeg binary, with a typed error saying how to
// install it.
func lookFFmpeg(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", &Error{Kind: KindFFmpegMissing, Err: errors.New("ffmpeg was not found (" + name + "): " + installHint)}
	}
	return p, nil
}

// run runs ffmpeg with args under ctx. On cancellation or timeout the
// whole process group is killed and run returns once ffmpeg is gone.
// progress, if not nil, receives the encoded position (s) parsed from
// "-progress pipe:1" output. lines, if not nil, receives every stderr line
// (for silencedetect). The error is a *Error carrying the stderr tail.
func (r *runner) run(ctx context.Context, args []string, progress func(done float64), lines func(string)) error {
	if err := ctx.Err(); err != nil {
		return &Error{Kind: KindCanceled, Err: err}
	}
	cmd := exec.CommandContext(ctx, r.bin, args...)
	setProcessGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = nil // /dev/null
	errTail := newTail(stderrKeep)
	var pw, lw *io.PipeWriter
	var wg sync.WaitGroup
	if progress != nil {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		cmd.Stdout = pw
		wg.Add(1)
		go func() {
			defer wg.Done()
			readProgress(pr, progress)
		}()
	}
	if lines != nil {
		var lr *io.PipeReader
		lr, lw = io.Pipe()
		cmd.Stderr = io.MultiWriter(errTail, lw)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(lr)
			sc.Buffer(make([]byte, 64<<10), 64<<10)
			for sc.Scan() {
				lines(sc.Text())
			}
			_, _ = io.Copy(io.Discard, lr)
		}()
	} else {
		cmd.Stderr = errTail
	}
	err := cmd.Start()
	if err != nil {
		closePipes(pw, lw)
		wg.Wait()
		if errors.Is(err, exec.ErrNotFound) {
			return &Error{Kind: KindFFmpegMissing, Err: errors.New("ffmpeg was not found: " + installHint)}
		}
		return &Error{Kind: KindFFmpegMissing, Err: errors.New("ffmpeg could not be started (" + err.Error() + "): " + installHint)}
	}
	err = cmd.Wait()
	closePipes(pw, lw)
	wg.Wait()
	if cerr := ctx.Err(); cerr != nil {
		return &Error{Kind: KindCanceled, Err: cerr}
	}
	if err != nil {
		return ffmpegError(err, errTail.String())
	}
	// ffmpeg 5.1 without -xerror exits 0 after failing to write its
	// output ("Error writing trailer of …: No space left on device").
	if se := errTail.String(); se != "" {
		if why, ok := outputFailure(se); ok {
			return &Error{Kind: KindOutput, Err: errors.New("ffmpeg could not write the output: " + why), Stderr: se}
		}
	}
	return nil
}

// outputFailure finds in ffmpeg's stderr that the output could not be
// written, and says why: a full disk is "no space left on device", as
// the passthrough's own write error says it.
func outputFailure(stderr string) (string, bool) {
	low := strings.ToLower(stderr)
	for _, m := range []struct{ needle, why string }{
		{"no space left on device", "no space left on device"},
		{"disk quota exceeded", "disk quota exceeded"},
		{"file too large", "file too large"},
		{"read-only file system", "read-only file system"},
		{"error writing trailer", "writing the end of the file failed"},
		{"error closing file", "closing the file failed"},
	} {
		if strings.Contains(low, m.needle) {
			return m.why, true
		}
	}
	return "", false
}

func closePipes(ws ...*io.PipeWriter) {
	for _, w := range ws {
		if w != nil {
			_ = w.Close()
		}
	}
}

// ffmpegError types a failed run from its stderr.
func ffmpegError(err error, stderr string) *Error {
	low := strings.ToLower(stderr)
	if why, ok := outputFailure(stderr); ok {
		return &Error{Kind: KindOutput, Err: errors.New("ffmpeg could not write the output: " + why), Stderr: stderr}
	}
	switch {
	case strings.Contains(low, "unknown encoder") || strings.Contains(low, "encoder not found"):
		return &Error{Kind: KindEncoderMissing, Err: errors.New("this ffmpeg lacks the encoder prep needs (libopus for voice notes, aac for audio): " + installHint), Stderr: stderr}
	case strings.Contains(low, "invalid data found"), strings.Contains(low, "does not contain any stream"),
		strings.Contains(low, "stream map") && strings.Contains(low, "matches no streams"),
		strings.Contains(low, "no such file"), strings.Contains(low, "error while decoding"),
		strings.Contains(low, "could not find codec parameters"), strings.Contains(low, "end of file"),
		strings.Contains(low, "decoding error"), strings.Contains(low, "error opening input"):
		return &Error{Kind: KindInput, Err: errors.New("ffmpeg cannot decode the input (" + err.Error() + ")"), Stderr: stderr}
	}
	return &Error{Kind: KindFFmpeg, Err: errors.New("ffmpeg failed (" + err.Error() + ")"), Stderr: stderr}
}

// readProgress parses ffmpeg's -progress key=value lines.
func readProgress(r io.Reader, f func(done float64)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Bytes()
		if v, ok := bytes.CutPrefix(line, []byte("out_time_us=")); ok {
			if us, err := strconv.ParseInt(string(v), 10, 64); err == nil && us >= 0 {
				f(float64(us) / 1e6)
			}
		}
	}
	_, _ = io.Copy(io.Discard, r)
}
