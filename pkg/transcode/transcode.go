package transcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
	"github.com/prep-audio/prep/pkg/transcode/internal/oggopus"
)

// Input is one recording to transcode: a file (Path) or a stream (Reader,
// spooled to a temporary file first, because ffmpeg needs to seek in
// MP4-family files and inspect reads at offsets).
type Input struct {
	Path   string
	Reader io.Reader
	// Name names the input in results and errors, and gives --out-dir
	// outputs their base name (default: Path).
	Name string
	// Report, when set with Path, is the caller's inspection of the file,
	// made with this Transcoder's budget
	// (inspect.WithVoiceMaxBytes(Options().MaxBytes)): it is planned from
	// instead of inspecting the file again when its Size is the file's
	// (otherwise the file is inspected). It is not modified.
	Report *inspect.Report
}

// FileInput is the Input for the file at path.
func FileInput(path string) Input { return Input{Path: path} }

// ReaderInput is the Input for a stream; name may be empty.
func ReaderInput(r io.Reader, name string) Input { return Input{Reader: r, Name: name} }

func (in Input) name() string {
	if in.Name != "" {
		return in.Name
	}
	if in.Path != "" {
		return in.Path
	}
	return "stdin"
}

// Result is what one transcode did.
type Result struct {
	Input string `json:"input"`
	// Action is passthrough, remux or transcode (the one that produced the
	// outputs: a remux that came out over budget and was re-encoded is
	// transcode).
	Action Action `json:"action"`
	// Attempts counts the ffmpeg runs of the output that needed the most:
	// 1 is a first-try fit; each corrective re-encode (over budget) and each
	// lenient re-run after -xerror stopped at a decoding error (Warning says
	// so) adds one; 0 for passthrough.
	Attempts int      `json:"attempts"`
	Outputs  []Output `json:"outputs"`
	// Warning says when the output was made leniently from a damaged input.
	Warning string `json:"warning,omitempty"`
	// Plan is the plan that was carried out.
	Plan Plan `json:"-"`
}

// Output is one file written, as pkg/inspect reads it back.
type Output struct {
	Path       string  `json:"path"` // "" when written to an io.Writer
	Bytes      int64   `json:"bytes"`
	Codec      string  `json:"codec"`
	Channels   int     `json:"channels"`
	SampleRate int     `json:"sample_rate"`
	Duration   float64 `json:"duration_s"`
	Bitrate    int64   `json:"bitrate_bps"`
	// Report is the inspection of the bytes written, the one the output
	// was verified with (a passthrough: the source's, the same bytes), its
	// Path the output's. A later step hands it on instead of reading the
	// file again: pkg/upload takes it as upload.File.Report.
	Report *inspect.Report `json:"-"`
}

// Transcoder transcodes recordings for WhatsApp. It holds only its options
// and is safe for concurrent use.
type Transcoder struct {
	o Options

	once   sync.Once
	run    *runner
	runErr error
}

// New returns a Transcoder. It checks the options; ffmpeg is looked up the
// first time an input needs it (passthrough never does).
func New(opts Options) (*Transcoder, error) {
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	return &Transcoder{o: o}, nil
}

// Options returns the options in effect, defaults filled in.
func (t *Transcoder) Options() Options { return t.o }

func (t *Transcoder) runner() (*runner, error) {
	t.once.Do(func() {
		bin, err := lookFFmpeg(t.o.FFmpeg)
		t.run, t.runErr = &runner{bin: bin}, err
	})
	return t.run, t.runErr
}

// Plan inspects nothing and runs nothing: it decides from an inspection
// report what a transcode with these options would do.
func (t *Transcoder) Plan(rep *inspect.Report) (Plan, error) {
	return plan(rep, t.o)
}

// ToFile transcodes in into the file out. The name is used as given; with
// Split, the parts are named after it: dir/NAME-part1.ogg, NAME-part2.ogg ….
func (t *Transcoder) ToFile(ctx context.Context, in Input, out string) (*Result, error) {
	if out == "" {
		return nil, withInput(errorf(KindOptions, "no output file given"), in.name())
	}
	return t.do(ctx, in, dest{file: out})
}

// ToDir transcodes in into dir, naming the output after the input's base
// name with the canonical extension of the result (e.g. memo.m4a →
// dir/memo.ogg).
func (t *Transcoder) ToDir(ctx context.Context, in Input, dir string) (*Result, error) {
	if dir == "" {
		dir = "."
	}
	return t.do(ctx, in, dest{dir: dir})
}

// ToWriter transcodes in and writes the single output to w (Split is not
// possible: a cut recording is several files).
func (t *Transcoder) ToWriter(ctx context.Context, in Input, w io.Writer) (*Result, error) {
	if w == nil {
		return nil, withInput(errorf(KindOptions, "no writer given"), in.name())
	}
	return t.do(ctx, in, dest{w: w})
}

type dest struct {
	file string
	dir  string
	w    io.Writer
}

// outPath is the final path of output part (0 = the only output).
func (d dest) outPath(inName, ext string, part int) string {
	var p string
	switch {
	case d.file != "":
		p = d.file
	case d.dir != "":
		base := filepath.Base(inName)
		if e := filepath.Ext(base); e != "" && e != base {
			base = strings.TrimSuffix(base, e)
		}
		if base == "" || base == "." || base == string(filepath.Separator) {
			base = "output"
		}
		p = filepath.Join(d.dir, base+ext)
	default:
		return ""
	}
	if part > 0 {
		e := filepath.Ext(p)
		p = strings.TrimSuffix(p, e) + fmt.Sprintf("-part%d", part) + ext
	}
	return p
}

// tempDir is where the temporary output for final path p is made: next to
// it (so the rename is atomic), or TempDir for writers.
func (t *Transcoder) tempDir(p string) string {
	if p != "" {
		return filepath.Dir(p)
	}
	if t.o.TempDir != "" {
		return t.o.TempDir
	}
	return os.TempDir()
}

// job is the state of one transcode: its temporary files are removed on
// every path out.
type job struct {
	t    *Transcoder
	name string
	src  string

	mu    sync.Mutex // guards temps: split parts are encoded concurrently
	temps []string
}

func (j *job) newTemp(dir, pattern string) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", &Error{Kind: KindOutput, Err: err}
	}
	p := f.Name()
	j.mu.Lock()
	j.temps = append(j.temps, p)
	j.mu.Unlock()
	if err := f.Close(); err != nil {
		return "", &Error{Kind: KindOutput, Err: err}
	}
	return p, nil
}

func (j *job) cleanup() {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, p := range j.temps {
		_ = os.Remove(p)
	}
}

func ctxError(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return &Error{Kind: KindCanceled, Err: err}
	}
	return nil
}

func (t *Transcoder) do(ctx context.Context, in Input, d dest) (res *Result, err error) {
	j := &job{t: t, name: in.name()}
	defer func() {
		j.cleanup()
		if r := recover(); r != nil { // never crash a service on one input
			res, err = nil, &Error{Kind: KindFFmpeg, Err: fmt.Errorf("internal error: %v", r)}
		}
		if err != nil {
			err = withInput(err, j.name)
			res = nil
		}
	}()
	if err := ctxError(ctx); err != nil {
		return nil, err
	}
	switch {
	case in.Reader != nil:
		p, err := j.newTemp(t.tempDir(""), ".prep-in-*")
		if err != nil {
			return nil, err
		}
		if err := spool(ctx, in.Reader, p); err != nil {
			return nil, err
		}
		j.src = p
	case in.Path != "":
		j.src = in.Path
	default:
		return nil, errorf(KindOptions, "no input given")
	}
	rep, ierr := j.inspectSource(ctx, in)
	if err := ctxError(ctx); err != nil {
		return nil, err
	}
	if err := unreadable(ierr); err != nil || rep == nil {
		if err == nil {
			err = &Error{Kind: KindInput, Err: ierr}
		}
		return nil, err
	}
	rep.Path = j.name
	p, err := plan(rep, t.o)
	if err != nil {
		return nil, err
	}
	res = &Result{Input: j.name, Action: p.Action, Plan: p}
	if d.w != nil && p.Split {
		return nil, errorf(KindOptions, "the recording must be split into several voice notes, which needs files: use a file or directory output")
	}
	var parsed *oggopus.Stream // the source, when the granule check parsed it
	if p.Action == ActionPassthrough && p.Profile == ProfileVoice {
		// A note whose granule positions run ahead of its samples fails
		// opusinfo and may stop players: rewritten losslessly instead.
		if why, s := granuleGap(j.src); why != "" {
			parsed = s
			p.Action, p.Packing = ActionRepack, repackPacking(rep, t.o)
			p.Reason += "; its granule positions do not count its samples (" + why + "): pages rewritten (lossless)"
			res.Action, res.Plan = p.Action, p
		}
	}
	if p.Action == ActionRepack {
		out, done, err := j.repack(ctx, d, &p, parsed)
		if err != nil {
			return nil, err
		}
		res.Action, res.Plan = p.Action, p
		if done {
			res.Outputs = []Output{out}
			return res, nil
		}
	}
	if p.Action == ActionPassthrough {
		out, err := j.passthrough(ctx, rep, d, p)
		if err != nil {
			return nil, err
		}
		res.Outputs = []Output{out}
		return res, nil
	}
	if p.Split {
		return j.split(ctx, res, d, p)
	}
	final := d.outPath(j.name, p.Ext, 0)
	tmp, err := j.newTemp(t.tempDir(final), "."+filepath.Base(orStr(final, "prep"))+".*.tmp")
	if err != nil {
		return nil, err
	}
	e, err := j.encodeVerified(ctx, p, rep, tmp, Segment{})
	if err != nil {
		var te *Error
		if e.plan.Split && errors.As(err, &te) && te.Kind == KindTooLong && t.o.Split {
			// Unknown duration, now measured: too long, so split after all.
			res.Plan = e.plan
			r, err := j.split(ctx, res, d, e.plan)
			if r != nil {
				r.Attempts += e.attempts
			}
			return r, err
		}
		if rep.Error != "" && errors.As(err, &te) && (te.Kind == KindInput || te.Kind == KindFFmpeg) {
			// Neither prep's parsers nor ffmpeg can read it.
			return nil, &Error{Kind: KindInput, Err: fmt.Errorf("%s, and ffmpeg cannot decode it either", firstProblem(rep)), Stderr: te.Stderr, Attempts: te.Attempts}
		}
		return nil, err
	}
	res.Action, res.Plan, res.Attempts, res.Warning = e.plan.Action, e.plan, e.attempts, e.warning
	out, err := j.deliver(tmp, final, d.w, outputOf(e.rep))
	if err != nil {
		return nil, err
	}
	res.Outputs = []Output{out}
	return res, nil
}

// inspectSource is the inspection of the source: a copy of in.Report when
// it is the caller's report of that file (its size), else inspect.File's.
func (j *job) inspectSource(ctx context.Context, in Input) (*inspect.Report, error) {
	if in.Report != nil && in.Reader == nil && in.Path != "" {
		if st, err := os.Stat(in.Path); err == nil && st.Mode().IsRegular() && st.Size() == in.Report.Size {
			r := *in.Report
			return &r, nil
		}
	}
	return inspect.File(ctx, j.src, inspect.WithVoiceMaxBytes(j.t.o.MaxBytes))
}

// unreadable returns the refusal for an inspect error that means the path
// is not a file prep may read (a FIFO, device, socket or directory, or one
// that could not be opened or read): the job stops there, before anything
// else opens it. nil for any other inspect error (ffmpeg may still decode
// what prep's parsers cannot).
func unreadable(ierr error) error {
	var ie *inspect.Error
	if !errors.As(ierr, &ie) {
		return nil
	}
	switch ie.Kind {
	case inspect.KindNotRegular:
		return &Error{Kind: KindNotRegular, Err: causeOf{ie}}
	case inspect.KindUnreadable:
		return &Error{Kind: KindInput, Err: causeOf{ie}}
	}
	return nil
}

// causeOf words an *inspect.Error by its cause alone (the transcode error
// names the input already), and still unwraps to it for errors.As.
type causeOf struct{ e *inspect.Error }

func (c causeOf) Error() string { return c.e.Err.Error() }
func (c causeOf) Unwrap() error { return c.e }

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// spool copies r into the file p, watching ctx.
func spool(ctx context.Context, r io.Reader, p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return &Error{Kind: KindOutput, Err: err}
	}
	_, err = io.Copy(f, ctxReader{ctx, r})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return &Error{Kind: KindCanceled, Err: ctx.Err()}
		}
		return &Error{Kind: KindInput, Err: fmt.Errorf("reading the input: %w", err)}
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// deliver moves the verified temporary output to its final place (rename
// in the same directory) or copies it to w.
func (j *job) deliver(tmp, final string, w io.Writer, out Output) (Output, error) {
	if w != nil {
		f, err := os.Open(tmp)
		if err != nil {
			return out, &Error{Kind: KindOutput, Err: err}
		}
		defer f.Close()
		if _, err := io.Copy(w, f); err != nil {
			return out, &Error{Kind: KindOutput, Err: fmt.Errorf("writing the output: %w", err)}
		}
		return out, nil
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return out, &Error{Kind: KindOutput, Err: err}
	}
	if err := os.Rename(tmp, final); err != nil {
		return out, &Error{Kind: KindOutput, Err: err}
	}
	out.Path = final
	if out.Report != nil {
		out.Report.Path = final
	}
	return out, nil
}

// outputOf is the Output of bytes inspected as rep, carrying a copy of the
// report (Path "" until the output is delivered to its file).
func outputOf(rep *inspect.Report) Output {
	r := *rep
	r.Path = ""
	return Output{Bytes: rep.Size, Codec: rep.Codec, Channels: rep.Channels, SampleRate: rep.SampleRate, Duration: rep.Duration, Bitrate: rep.Bitrate, Report: &r}
}

// passthrough copies the input byte for byte.
func (j *job) passthrough(ctx context.Context, rep *inspect.Report, d dest, p Plan) (Output, error) {
	src, _, err := inspect.OpenRegular(j.src)
	if err != nil {
		return Output{}, &Error{Kind: KindInput, Err: err}
	}
	defer src.Close()
	final := d.outPath(j.name, p.Ext, 0)
	out := outputOf(rep)
	if d.w != nil {
		if _, err := io.Copy(d.w, ctxReader{ctx, src}); err != nil {
			if ctx.Err() != nil {
				return out, &Error{Kind: KindCanceled, Err: ctx.Err()}
			}
			return out, &Error{Kind: KindOutput, Err: fmt.Errorf("writing the output: %w", err)}
		}
		return out, nil
	}
	tmp, err := j.newTemp(filepath.Dir(final), "."+filepath.Base(final)+".*.tmp")
	if err != nil {
		return out, err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return out, &Error{Kind: KindOutput, Err: err}
	}
	_, err = io.Copy(f, ctxReader{ctx, src})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return out, &Error{Kind: KindCanceled, Err: ctx.Err()}
		}
		return out, &Error{Kind: KindOutput, Err: err}
	}
	return j.deliver(tmp, final, nil, out)
}

// encode runs one ffmpeg encode of the plan into tmp.
func (j *job) encode(ctx context.Context, p Plan, tmp string, seg Segment, lenient bool) error {
	r, err := j.t.runner()
	if err != nil {
		return err
	}
	prog := j.t.o.Progress
	var cb func(float64)
	if prog != nil {
		total := p.Duration
		if seg.Dur > 0 {
			total = seg.Dur
		} else if seg.Start > 0 && total > 0 {
			total -= seg.Start
		}
		name := j.name
		cb = func(done float64) { prog(name, done, total) }
	}
	args, err := p.args(j.src, tmp, seg, cb != nil, lenient)
	if err != nil {
		return err
	}
	return r.run(ctx, args, cb, nil)
}

// verify reads the output back and checks it is what the profile needs.
// It returns the report, whether the output is over the budget, and an
// error when it is not the right kind of file at all.
func (j *job) verify(ctx context.Context, p Plan, tmp string) (*inspect.Report, bool, error) {
	rep, err := inspect.File(ctx, tmp, inspect.WithVoiceMaxBytes(j.t.o.MaxBytes))
	if cerr := ctxError(ctx); cerr != nil {
		return nil, false, cerr
	}
	if err != nil {
		return nil, false, &Error{Kind: KindFFmpeg, Err: fmt.Errorf("ffmpeg wrote an output prep cannot read back: %w", err)}
	}
	if rep.Size == 0 || rep.Duration <= 0 {
		return rep, false, &Error{Kind: KindInput, Err: errors.New("no audio could be decoded from the input")}
	}
	switch p.Profile {
	case ProfileVoice:
		if !rules.IsVoiceType(rep.Container, rep.Codec) || rep.Channels != 1 {
			return rep, false, &Error{Kind: KindFFmpeg, Err: fmt.Errorf("ffmpeg wrote %s/%s with %d channels, not mono Ogg Opus", rep.Container, rep.Codec, rep.Channels)}
		}
	case ProfileAudio:
		if _, ok := rep.Type(); !ok || rep.HasVideo {
			return rep, false, &Error{Kind: KindFFmpeg, Err: fmt.Errorf("ffmpeg wrote %s/%s, not an accepted audio type", rep.Container, rep.Codec)}
		}
	}
	return rep, rep.Size > p.Budget, nil
}

// encoded is the outcome of encodeVerified.
type encoded struct {
	plan     Plan
	attempts int
	rep      *inspect.Report
	warning  string
}

// maxRuns bounds the ffmpeg runs for one output: strict, lenient or
// remux→transcode fallback, and one corrective re-encode.
const maxRuns = 4

// encodeVerified encodes, verifies, and re-encodes once with a corrected
// bitrate if the first output is over the budget. A remux that fails or
// comes out over budget is re-planned as a transcode; an input ffmpeg
// cannot decode strictly (-xerror) is encoded again leniently, with a
// warning. It returns the plan carried out.
func (j *job) encodeVerified(ctx context.Context, p Plan, src *inspect.Report, tmp string, seg Segment) (encoded, error) {
	e, err := j.encodeLoop(ctx, p, src, tmp, seg)
	var te *Error
	if err != nil && errors.As(err, &te) && te.Attempts == 0 {
		te.Attempts = e.attempts // ffmpeg ran, even if it failed
	}
	return e, err
}

// encodeLoop is encodeVerified's loop.
func (j *job) encodeLoop(ctx context.Context, p Plan, src *inspect.Report, tmp string, seg Segment) (encoded, error) {
	e := encoded{plan: p}
	// A DTX plan is lenient from the first run: its decoding errors are
	// the expected SID/NO_DATA frames, not damage.
	lenient, corrected := p.DTX, false
	for {
		e.attempts++
		err := j.encode(ctx, e.plan, tmp, seg, lenient)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) || (te.Kind != KindInput && te.Kind != KindFFmpeg) || e.attempts >= maxRuns {
				return e, err
			}
			if e.plan.Action == ActionRemux && src != nil {
				np, perr := j.replanTranscode(src)
				if perr != nil {
					return e, perr
				}
				np.Reason = "the stream could not be copied (" + lastChars(te.Stderr, 300) + "): encoded"
				e.plan = np
				continue
			}
			if lenient {
				return e, err
			}
			lenient = true
			e.warning = "ffmpeg reported errors decoding the input"
			if te.Stderr != "" {
				e.warning += " (" + lastChars(te.Stderr, 300) + ")"
			}
			e.warning += "; encoded again skipping what could not be decoded"
			continue
		}
		if e.plan.Profile == ProfileVoice {
			if err := repackInPlace(tmp, e.plan.Packing); err != nil {
				return e, err
			}
		}
		rep, over, err := j.verify(ctx, e.plan, tmp)
		if err != nil {
			return e, err
		}
		if !over {
			e.rep = rep
			return e, nil
		}
		if corrected || e.attempts >= maxRuns || j.t.o.Bitrate > 0 && e.plan.Action == ActionTranscode {
			return e, &Error{Kind: KindOverBudget, Err: fmt.Errorf("the output is %d bytes, over the %d-byte budget, after %d encodes", rep.Size, e.plan.Budget, e.attempts)}
		}
		if e.plan.Action == ActionRemux && src != nil {
			np, err := j.replanTranscode(src)
			if err != nil {
				return e, err
			}
			np.Reason = "the remuxed stream was over the budget: encoded"
			e.plan = np
			continue
		}
		np, err := j.correct(e.plan, rep, seg)
		if err != nil {
			e.plan = np
			return e, err
		}
		e.plan, corrected = np, true
	}
}

// replanTranscode plans src as a transcode (remux ruled out).
func (j *job) replanTranscode(src *inspect.Report) (Plan, error) {
	o := j.t.o
	o.Bitrate = 0
	r := *src
	r.Codec = "" // not remuxable any more
	return plan(&r, o)
}

// correct re-plans a transcode after an over-budget output.
func (j *job) correct(p Plan, out *inspect.Report, seg Segment) (Plan, error) {
	o := j.t.o
	dur := out.Duration
	if dur <= 0 {
		dur = p.Duration
	}
	target := int64(float64(p.Budget) * budgetMargin)
	switch p.Profile {
	case ProfileAudio:
		br := int(float64(p.Bitrate) * float64(target) / float64(out.Size) * 0.97)
		if br < o.MinBitrate {
			return p, errorf(KindTooLong, "%.0f s cannot fit WhatsApp's %d-byte audio limit even at %d bit/s", dur, p.Budget, o.MinBitrate)
		}
		p.Bitrate, p.Estimate = br, m4aSize(dur, br, p.SampleRate)
		return p, nil
	}
	// Voice: plan CBR on the measured duration (exact sizes); if the model
	// itself was off, scale by what the first encode measured.
	br := fitCBR(dur, target, o.Packing)
	if p.VBR == VBROff && p.Bitrate > 0 {
		scaled := int(float64(p.Bitrate) * float64(target) / float64(out.Size))
		br = min(br, scaled)
	}
	br = min(br, o.MaxBitrate) / cbrStep * cbrStep
	if br < o.MinBitrate {
		if seg == (Segment{}) && p.Duration <= 0 && o.Split {
			p.Split, p.Duration, p.PartMax = true, dur, splitPartMax(p.Budget, o)
			return p, errorf(KindTooLong, "too long for one voice note")
		}
		return p, refusal(dur, p.Budget, o.MinBitrate, o.Packing)
	}
	p.Bitrate, p.VBR, p.Estimate = br, VBROff, noteSize(dur, br/cbrStep, o.Packing)
	p.Duration = math.Max(p.Duration, dur)
	return p, nil
}

// lastChars returns the end of s, at most n bytes, cut at a rune boundary.
func lastChars(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return "…" + s
}
