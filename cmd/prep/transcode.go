package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prep-audio/prep/pkg/rules"
	"github.com/prep-audio/prep/pkg/transcode"
)

// transcodeJSON is one line of `prep transcode --json`.
type transcodeJSON struct {
	Input    string              `json:"input"`
	Action   string              `json:"action"`
	Attempts int                 `json:"attempts"`
	Outputs  []transcode.Output  `json:"outputs"`
	Warning  string              `json:"warning,omitempty"`
	Error    string              `json:"error,omitempty"`
	Kind     transcode.ErrorKind `json:"error_kind,omitempty"`
	Plan     *transcodePlanBrief `json:"plan,omitempty"`
}

type transcodePlanBrief struct {
	Reason  string `json:"reason"`
	Bitrate int    `json:"bitrate_bps,omitempty"`
	VBR     string `json:"vbr,omitempty"`
	Packing string `json:"packing,omitempty"`
}

func runTranscode(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "transcode", "[--profile voice|audio] [--split] [--json] (-o FILE | --out-dir DIR) FILE...")
	profile := fs.String("profile", "voice", fmt.Sprintf("voice (mono Ogg Opus within the budget) or audio (AAC in M4A ≤ %d bytes; compliant files pass through)", rules.AudioMaxBytes))
	out := fs.String("o", "", "output file (one input only)")
	outDir := fs.String("out-dir", "", "output directory: INPUT's base name + the canonical extension of the result")
	asJSON := fs.Bool("json", false, "one JSON object per input on stdout")
	split := fs.Bool("split", false, "voice: cut what cannot fit into NAME-part1.ogg, NAME-part2.ogg, … at pauses")
	allowOver := fs.Bool("allow-oversize", false, "voice: encode what cannot fit anyway (sent with a download icon, not a play icon)")
	normalize := fs.Bool("normalize", false, "EBU R128 loudness for speech (trims leading silence first)")
	trim := fs.Bool("trim-silence", false, "trim leading/trailing silence and shorten pauses over 1 s")
	maxBytes := fs.Int64("max-bytes", 0, fmt.Sprintf("voice budget in bytes (default %d)", rules.VoiceMaxBytes))
	bitrate := fs.String("bitrate", "", "override the planned bitrate, e.g. 24000 or 24k")
	minBR := fs.String("min-bitrate", "", "bitrate floor (voice default 6k)")
	maxBR := fs.String("max-bitrate", "", "bitrate cap (voice default 32k)")
	rate := fs.Int("sample-rate", 0, "voice: Opus encoder input rate 8000|12000|16000|24000|48000 (default 16000); audio: output rate")
	packing := fs.String("packing", "native", "voice: native (three 20 ms frames a packet, like WhatsApp's own notes; repacks compliant SILK notes) or single (one frame a packet, as ffmpeg writes)")
	reencode := fs.Bool("reencode", false, "re-encode inputs that are already compliant instead of passing them through or repacking them")
	jobs := fs.Int("jobs", 0, "inputs transcoded in parallel (default: number of cores)")
	ffmpegBin := fs.String("ffmpeg", "", "ffmpeg binary (default $PREP_FFMPEG, else ffmpeg in PATH)")
	inputs, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(inputs) == 0 {
		fs.Usage()
		return usageErrorf("transcode: no input files given")
	}
	if (*out == "") == (*outDir == "") {
		return usageErrorf("transcode: give exactly one of -o FILE and --out-dir DIR")
	}
	if *out != "" && len(inputs) > 1 {
		return usageErrorf("transcode: -o takes one input; use --out-dir for %d inputs", len(inputs))
	}
	if *jobs < 0 {
		return usageErrorf("transcode: --jobs must be at least 1")
	}
	if *split && *allowOver {
		return usageErrorf("transcode: --split and --allow-oversize exclude each other")
	}
	if *split && *profile == string(transcode.ProfileAudio) {
		return usageErrorf("transcode: --split is for voice notes (--profile audio refuses what does not fit)")
	}
	opts := transcode.Options{
		Profile: transcode.Profile(*profile), MaxBytes: *maxBytes, SampleRate: *rate,
		Normalize: *normalize, TrimSilence: *trim, AllowOversize: *allowOver, Split: *split,
		Packing: transcode.Packing(*packing), Reencode: *reencode,
		FFmpeg: envOr(e, *ffmpegBin, "PREP_FFMPEG"),
	}
	if err := parseBitrates(&opts, *bitrate, *minBR, *maxBR); err != nil {
		return err
	}
	tr, err := transcode.New(opts)
	if err != nil {
		var te *transcode.Error
		if errors.As(err, &te) {
			return usageErrorf("transcode: %v", te.Err)
		}
		return err
	}
	if *outDir != "" {
		// Outputs are named after the inputs' base names: two inputs with
		// the same one would overwrite each other.
		seen := map[string]string{}
		for _, in := range inputs {
			base := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
			if prev, ok := seen[base]; ok {
				return usageErrorf("transcode: %s and %s would both be written as %s.* in %s", prev, in, base, *outDir)
			}
			seen[base] = in
		}
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			return usageErrorf("transcode: --out-dir: %v", err)
		}
	}

	// Jobs, in input order; results are printed in that order as they
	// become available.
	batch := make([]transcode.Job, len(inputs))
	for i, in := range inputs {
		batch[i] = transcode.Job{Input: transcode.FileInput(in), Out: *out, Dir: *outDir}
	}
	prog := newTranscodeProgress(e, len(inputs))
	if prog != nil {
		opts.Progress = prog.encoding
		if tr, err = transcode.New(opts); err != nil {
			return err
		}
	}
	po := &transcodeOutput{e: e, inputs: inputs, opts: opts, asJSON: *asJSON, prog: prog,
		results: make([]transcodeOutcome, len(inputs)), enc: json.NewEncoder(e.stdout)}
	tr.Batch(ctx, batch, *jobs, po.done)
	if prog != nil {
		prog.clear()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if po.failed > 0 {
		return &reportedError{failed: po.failed, total: len(inputs)}
	}
	return nil
}

// parseBitrates sets opts' bitrate, floor and cap from --bitrate,
// --min-bitrate and --max-bitrate (each "" when not given).
func parseBitrates(opts *transcode.Options, bitrate, minBR, maxBR string) error {
	for _, b := range []struct {
		name string
		val  string
		dst  *int
	}{{"bitrate", bitrate, &opts.Bitrate}, {"min-bitrate", minBR, &opts.MinBitrate}, {"max-bitrate", maxBR, &opts.MaxBitrate}} {
		if b.val == "" {
			continue
		}
		v, err := parseBitrate(b.val)
		if err != nil {
			return usageErrorf("transcode: --%s: %v", b.name, err)
		}
		*b.dst = v
	}
	return nil
}

// transcodeOutcome is one input's result, once it is there.
type transcodeOutcome struct {
	r   *transcode.Result
	err error
	ok  bool
}

// transcodeOutput prints prep transcode's results in input order as they
// become available, counting the failed ones.
type transcodeOutput struct {
	e       *env
	inputs  []string
	opts    transcode.Options
	asJSON  bool
	prog    *transcodeProgress
	enc     *json.Encoder
	results []transcodeOutcome
	next    int // the first input not printed
	failed  int
}

// done takes input i's result (transcode.Batch calls it one at a time)
// and prints every result now next in order.
func (po *transcodeOutput) done(i int, r *transcode.Result, err error) {
	po.results[i] = transcodeOutcome{r, err, true}
	if po.prog != nil {
		po.prog.finished(po.inputs[i])
	}
	for po.next < len(po.results) && po.results[po.next].ok {
		o := po.results[po.next]
		if o.err != nil {
			po.failed++
		}
		if po.prog != nil {
			po.prog.clear()
		}
		if po.asJSON {
			_ = po.enc.Encode(toTranscodeJSON(po.inputs[po.next], o.r, withTranscodeHint(o.err, po.opts)))
		} else {
			printTranscode(po.e, po.inputs[po.next], o.r, withTranscodeHint(o.err, po.opts))
		}
		po.next++
	}
}

// parseBitrate reads "24000", "24k" or "24kbps".
func parseBitrate(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "bps"), "bit/s")
	mul := 1.0
	if strings.HasSuffix(t, "k") {
		mul, t = 1000, strings.TrimSuffix(t, "k")
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f*mul > 1e7 {
		return 0, fmt.Errorf("%q is not a bitrate (e.g. 24000 or 24k)", s)
	}
	return int(f * mul), nil
}

// withTranscodeHint adds the flags that would get past a transcode error.
func withTranscodeHint(err error, o transcode.Options) error {
	if h := transcodeHint(err, o); h != "" {
		return &hinted{err: err, hint: h}
	}
	return err
}

// transcodeHint is prep's advice for a transcode error, naming its flags.
func transcodeHint(err error, o transcode.Options) string {
	var te *transcode.Error
	if !errors.As(err, &te) {
		return ""
	}
	switch te.Kind {
	case transcode.KindTooLong:
		switch {
		case o.Profile == transcode.ProfileAudio && o.Bitrate > 0:
			return "lower --bitrate or drop it"
		case o.Profile == transcode.ProfileAudio:
			return ""
		case o.Bitrate > 0:
			return "lower --bitrate, drop it to let prep plan the bitrate, or use --allow-oversize"
		case o.AllowOversize:
			return "use --split"
		}
		return "use --split to cut it into several voice notes, --allow-oversize to send it anyway (with a download icon instead of a play icon), or --profile audio"
	case transcode.KindFFmpegMissing, transcode.KindEncoderMissing:
		return "or name another ffmpeg with --ffmpeg or PREP_FFMPEG"
	}
	return ""
}

func toTranscodeJSON(in string, r *transcode.Result, err error) transcodeJSON {
	j := transcodeJSON{Input: in, Outputs: []transcode.Output{}}
	if err != nil {
		j.Error = err.Error()
		var te *transcode.Error
		if errors.As(err, &te) {
			j.Kind, j.Attempts = te.Kind, te.Attempts
		}
		return j
	}
	j.Action, j.Attempts, j.Warning = string(r.Action), r.Attempts, r.Warning
	if r.Outputs != nil {
		j.Outputs = r.Outputs
	}
	j.Plan = &transcodePlanBrief{Reason: r.Plan.Reason, Bitrate: r.Plan.Bitrate, VBR: r.Plan.VBR, Packing: string(r.Plan.Packing)}
	return j
}

func printTranscode(e *env, in string, r *transcode.Result, err error) {
	if err != nil {
		fmt.Fprintf(e.stderr, "prep: %s\n", escapeControls(err.Error()))
		fmt.Fprintf(e.stdout, "%s: FAILED\n", quoteName(in))
		return
	}
	for _, o := range r.Outputs {
		attempts := ""
		if r.Attempts > 1 {
			attempts = fmt.Sprintf(", %d encodes", r.Attempts)
		}
		fmt.Fprintf(e.stdout, "%s → %s: %s%s, %s %d ch %d Hz, %.2fs, %s, %d bytes\n",
			quoteName(in), quoteName(o.Path), r.Action, attempts, o.Codec, o.Channels, o.SampleRate, o.Duration, kbps(o.Bitrate), o.Bytes)
	}
	if r.Warning != "" {
		fmt.Fprintf(e.stderr, "prep transcode: %s: warning: %s\n", quoteName(in), escapeControls(r.Warning))
	}
}

// transcodeProgress draws one rewritten progress line on a terminal's
// stderr: inputs done, and the position of the encodes under way.
type transcodeProgress struct {
	e     *env
	total int
	mu    sync.Mutex
	done  int
	cur   map[string]float64 // input → fraction encoded
	last  time.Time
	shown bool
}

func newTranscodeProgress(e *env, total int) *transcodeProgress {
	if !e.isTerminal {
		return nil
	}
	return &transcodeProgress{e: e, total: total, cur: map[string]float64{}}
}

func (p *transcodeProgress) encoding(input string, done, total float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := 0.0
	if total > 0 {
		f = min(done/total, 1)
	}
	p.cur[input] = f
	p.drawLocked(false)
}

func (p *transcodeProgress) finished(input string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.cur, input)
	p.done++
}

func (p *transcodeProgress) drawLocked(force bool) {
	if !force && time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	var parts []string
	for in, f := range p.cur {
		parts = append(parts, fmt.Sprintf("%s %3.0f%%", quoteName(filepath.Base(in)), 100*f))
	}
	fmt.Fprintf(p.e.stderr, "\rtranscode %d/%d  %s\033[K", p.done, p.total, strings.Join(parts, "  "))
	p.shown = true
}

func (p *transcodeProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.e.stderr, "\r\033[K")
		p.shown = false
	}
}
