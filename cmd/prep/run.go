package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/rules"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// stageFlags are the flags `prep run` and `prep batch` share: where the
// stages point and how they behave.
type stageFlags struct {
	upload   *string
	sandbox  *string
	noCache  *bool
	split    *bool
	bitrate  *int
	packing  *string
	rate     *float64
	s3Bucket *string
	// linkToo builds the link host (S3) as well when a bucket is set,
	// whatever the providers: a worker takes rows submitted with
	// --upload s3 (not a flag).
	linkToo bool
}

func addStageFlags(fs *flag.FlagSet) *stageFlags {
	return &stageFlags{
		upload:   fs.String("upload", "", "provider (media id; Meta and 360dialog) or s3 (a URL; always for Infobip)"),
		sandbox:  fs.String("sandbox", "", "send everything to the prep sandbox at this URL, with its default credentials (env PREP_SANDBOX_URL)"),
		noCache:  fs.Bool("no-cache", false, "do not use the media-id cache"),
		split:    fs.Bool("split", false, "voice: cut recordings too long for one note into consecutive notes"),
		bitrate:  fs.Int("bitrate", 0, "override the planned bitrate (bits/s)"),
		packing:  fs.String("packing", "native", "voice: native (three 20 ms frames a packet, like WhatsApp's own notes) or single (one frame a packet)"),
		rate:     fs.Float64("rate", 0, "messages per second per provider account (0: the provider default: Meta/360dialog 80, Infobip 4000)"),
		s3Bucket: fs.String("bucket", "", "S3 bucket for URL uploads (env S3_BUCKET)"),
	}
}

// linkUpload parses --upload: true for s3.
func (f *stageFlags) linkUpload() (bool, error) {
	switch strings.ToLower(*f.upload) {
	case "", "provider":
		return false, nil
	case "s3", "link", "url":
		return true, nil
	}
	return false, usageErrorf("--upload %q: want provider or s3", *f.upload)
}

// checkRate refuses a --rate that is not a number of messages per second
// (NaN, infinite or negative; 0 is the provider's default).
func checkRate(r float64) error {
	if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
		return usageErrorf("--rate %v: want messages per second (0: the provider's default)", r)
	}
	return nil
}

// allProviders are the providers in the CLI's order.
func allProviders() []send.Provider { return []send.Provider{send.Meta, send.D360, send.Infobip} }

// buildPipeline builds the clients for the providers used. With a sandbox
// URL, every provider is the sandbox and Infobip's URLs come from its file
// host (or S3 when S3_ENDPOINT is set); otherwise credentials and endpoints
// come from the environment as for `prep send` and `prep upload`. Missing
// settings are usage errors, found before any work. tempDir holds work
// files ("" for the system's).
func buildPipeline(ctx context.Context, e *env, f *stageFlags, providers []send.Provider, link bool, tempDir string) (*pipeline.Pipeline, error) {
	topts := transcode.Options{Bitrate: *f.bitrate, Packing: transcode.Packing(*f.packing)}
	if _, err := transcode.New(topts); err != nil {
		var te *transcode.Error
		if errors.As(err, &te) {
			return nil, usageErrorf("%v", te.Err)
		}
		return nil, err
	}
	// Where each provider's items are uploaded is the pipeline's rule
	// (Infobip, or every provider with link, takes URLs from the link host).
	linkHost := pipeline.Destination(send.Infobip, true)
	needLink := link
	for _, p := range providers {
		needLink = needLink || pipeline.Destination(p, link) == linkHost
	}
	if err := checkRate(*f.rate); err != nil {
		return nil, err
	}
	var sendOpts []send.Option
	if *f.rate > 0 {
		sendOpts = append(sendOpts, send.WithRateLimit(*f.rate, 0))
	}
	s3FromEnv := func(required bool) (upload.Uploader, error) {
		cfg := upload.S3ConfigFromEnv(e.getenv)
		if *f.s3Bucket != "" {
			cfg.Bucket = *f.s3Bucket
		}
		if cfg.Bucket == "" {
			if !required {
				return nil, nil
			}
			return nil, usageErrorf("Infobip and --upload s3 need a URL: set S3_BUCKET (and S3_ENDPOINT, AWS_* for a custom S3), or use --sandbox")
		}
		s3, err := upload.NewS3(ctx, cfg)
		if err != nil {
			return nil, usageErrorf("S3: %v", withHint(err))
		}
		return s3, nil
	}

	if sb := envOr(e, *f.sandbox, "PREP_SANDBOX_URL"); sb != "" {
		cfg := pipeline.SandboxConfig{URL: sb, Transcode: topts, SendOptions: sendOpts, TempDir: tempDir}
		if needLink && e.getenv("S3_ENDPOINT") != "" {
			up, err := s3FromEnv(false)
			if err != nil {
				return nil, err
			}
			if up != nil {
				cfg.Link = up
			}
		}
		return pipeline.NewSandboxPipeline(cfg)
	}

	var cache *upload.Cache
	if !*f.noCache {
		if c, err := upload.OpenCache(""); err == nil {
			cache = c
		} else {
			fmt.Fprintf(e.stderr, "prep: media-id cache unavailable (%v); uploading without it\n", err)
		}
	}
	cfg := pipeline.Config{Transcode: topts, TempDir: tempDir, Senders: map[send.Provider]send.Sender{}, Media: map[send.Provider]upload.Uploader{}}
	for _, pv := range providers {
		// One client per account: it sends the messages and uploads the
		// media, under one rate limit and one retry policy.
		c, err := send.FromEnv(string(pv), e.getenv, sendOpts...)
		if err != nil {
			return nil, withHint(err)
		}
		cfg.Senders[pv] = c
		if pipeline.Destination(pv, link) == linkHost {
			continue
		}
		m, err := upload.NewMedia(c, cache)
		if err != nil {
			return nil, err
		}
		cfg.Media[pv] = m
	}
	if needLink || f.linkToo {
		up, err := s3FromEnv(needLink)
		if err != nil {
			return nil, err
		}
		if up != nil {
			cfg.Link = up
		}
	}
	return pipeline.New(cfg)
}

// runResult is the --json output of prep run: one object.
type runResult struct {
	File      string          `json:"file"`
	Provider  string          `json:"provider"`
	To        string          `json:"to"`
	Profile   string          `json:"profile"`
	SHA256    string          `json:"sha256,omitempty"`
	Inspect   *inspect.Report `json:"inspect,omitempty"`
	Transcode *runTranscoded  `json:"transcode,omitempty"`
	Media     []runMedia      `json:"media,omitempty"`
	MessageID string          `json:"message_id"` // the parts' ids joined with ";"
	Status    string          `json:"status"`     // sent, failed, in_doubt, invalid
	Timing    pipeline.Timing `json:"timing"`
	Error     *runError       `json:"error,omitempty"`
}

// runTranscoded is what the transcode stage made.
type runTranscoded struct {
	Action   string      `json:"action"` // passthrough, remux or transcode
	Attempts int         `json:"attempts"`
	Outputs  []runOutput `json:"outputs"`
}

type runOutput struct {
	Path     string  `json:"path"`
	Bytes    int64   `json:"bytes"`
	MIME     string  `json:"mime"`
	Ext      string  `json:"ext"`
	Duration float64 `json:"duration_s"`
	SHA256   string  `json:"sha256"`
}

// runMedia is where an upload landed.
type runMedia struct {
	ID     string `json:"media_id,omitempty"`
	URL    string `json:"url,omitempty"`
	Reused bool   `json:"reused,omitempty"`
}

// newRunResult is the output of prep run from the pipeline's result.
func newRunResult(file string, prof transcode.Profile, res *pipeline.Result) runResult {
	out := runResult{File: file, Provider: string(res.Provider), To: res.To, Profile: string(prof), SHA256: res.SHA256, Inspect: res.Inspect,
		MessageID: strings.Join(res.MessageIDs, ";"), Status: "sent", Timing: res.Timing}
	if tr := res.Transcode; tr != nil {
		out.Transcode = &runTranscoded{Action: string(tr.Action), Attempts: tr.Attempts}
		for i, o := range tr.Outputs {
			ro := runOutput{Path: o.Path, Bytes: o.Bytes, Duration: o.Duration}
			if typ, ok := rules.ByExt(filepath.Ext(o.Path)); ok {
				ro.MIME, ro.Ext = typ.MIME, typ.Ext
			}
			if i < len(res.Files) {
				ro.SHA256 = res.Files[i].SHA256
			}
			out.Transcode.Outputs = append(out.Transcode.Outputs, ro)
		}
	}
	for _, m := range res.Media {
		out.Media = append(out.Media, runMedia{ID: m.MediaID, URL: m.URL, Reused: m.Reused})
	}
	return out
}

type runError struct {
	Stage   string `json:"stage"`
	Class   string `json:"class,omitempty"`
	Code    int    `json:"code,omitempty"`
	Message string `json:"message"`
	Advice  string `json:"advice,omitempty"`
}

func runRun(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "run", "--provider meta|360dialog|infobip --to NUMBER [--profile voice|audio] [--upload provider|s3] [--json] FILE")
	provider := fs.String("provider", "", "meta, 360dialog or infobip (env PREP_PROVIDER)")
	to := fs.String("to", "", "recipient phone number in international format")
	profile := fs.String("profile", "voice", "voice (a voice note, sent with the voice flag) or audio")
	callback := fs.String("callback-data", "", "echoed in the message's statuses (Meta/360dialog biz_opaque_callback_data ≤ 512 characters; Infobip callbackData)")
	asJSON := fs.Bool("json", false, "print one JSON object with every stage's result")
	sf := addStageFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageErrorf("run: give exactly one FILE")
	}
	pname := envOr(e, *provider, "PREP_PROVIDER")
	if pname == "" {
		return usageErrorf("run: --provider is required (meta, 360dialog or infobip)")
	}
	pv, err := send.ParseProvider(pname)
	if err != nil {
		return usageErrorf("run: %v", err)
	}
	prof, err := pipeline.ParseProfile(*profile)
	if err != nil {
		return usageErrorf("run: %v", err)
	}
	if _, err := send.NormalizePhone(*to); err != nil {
		return err // a *send.ValidationError: exit 2, nothing done
	}
	link, err := sf.linkUpload()
	if err != nil {
		return err
	}
	p, err := buildPipeline(ctx, e, sf, []send.Provider{pv}, link, "")
	if err != nil {
		return err
	}
	res, err := p.Run(ctx, pipeline.Item{Path: pos[0], To: *to, Provider: pv, Profile: prof, Split: *sf.split, Link: link, CallbackData: *callback})
	out := newRunResult(pos[0], prof, res)
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil && !isInDoubtErr(err) {
			return err
		}
		out.Status, out.Error = "failed", describeRunError(err)
		if isInDoubtErr(err) {
			out.Status = "in_doubt"
		}
		if exitCode(err) == exitUsage {
			out.Status = "invalid"
		}
	}
	if *asJSON {
		if jerr := json.NewEncoder(e.stdout).Encode(out); jerr != nil {
			return jerr
		}
	} else {
		printRun(e, &out)
		if err != nil && out.Error.Advice != "" {
			fmt.Fprintf(e.stderr, "prep run: advice: %s\n", out.Error.Advice)
		}
	}
	if err != nil {
		return &shownError{err}
	}
	return nil
}

// shownError is an error whose details the command already printed: main
// prints nothing more (it reads as a *reportedError) and the exit code is
// the wrapped error's.
type shownError struct{ err error }

func (e *shownError) Error() string { return e.err.Error() }
func (e *shownError) Unwrap() error { return e.err }
func (e *shownError) ExitCode() int { return exitCode(e.err) }
func (e *shownError) As(target any) bool {
	if t, ok := target.(**reportedError); ok {
		*t = &reportedError{failed: 1, total: 1}
		return true
	}
	return false
}

func isInDoubtErr(err error) bool {
	var d *send.InDoubtError
	return errors.As(err, &d)
}

func describeRunError(err error) *runError {
	re := &runError{Message: err.Error()}
	var se *pipeline.StageError
	if errors.As(err, &se) {
		re.Stage = string(se.Stage)
	}
	var (
		api *send.APIError
		ie  *inspect.Error
		te  *transcode.Error
		ue  *upload.RefusedError
	)
	switch {
	case isInDoubtErr(err):
		re.Class, re.Advice = "in_doubt", "the message may have been sent: check delivery status (webhooks / reports) before sending again"
	case errors.As(err, &api):
		re.Class, re.Code, re.Advice = string(api.Kind), api.Code, api.Advice
	case errors.As(err, &ue):
		re.Class, re.Advice = "refused", ue.Advice()
		re.Advice = withHintText(re.Advice, hint(ue)) // the command that does it, as prep upload says
	case errors.As(err, &te):
		re.Class, re.Advice = string(te.Kind), transcodeHint(te, transcode.Options{})
	case errors.As(err, &ie):
		re.Class, re.Advice = string(ie.Kind), "this file is not audio WhatsApp or ffmpeg can use (prep inspect tells more)"
	}
	return re
}

func printRun(e *env, r *runResult) {
	if r.Inspect != nil {
		fmt.Fprintf(e.stdout, "inspect    %s: %s %s, %d ch, %d Hz, %.2fs, %d bytes (%s)\n", quoteName(r.File), orDash(r.Inspect.MIME), orDash(r.Inspect.Codec),
			r.Inspect.Channels, r.Inspect.SampleRate, r.Inspect.Duration, r.Inspect.Size, ms(r.Timing.Inspect))
	}
	if r.Transcode != nil {
		for _, o := range r.Transcode.Outputs {
			fmt.Fprintf(e.stdout, "transcode  %s → %s, %s, %d bytes, %.2fs (%s)\n", r.Transcode.Action, quoteName(filepath.Base(o.Path)), o.MIME, o.Bytes, o.Duration, ms(r.Timing.Transcode))
		}
	}
	for _, m := range r.Media {
		ref := "media id " + m.ID
		if m.ID == "" {
			ref = m.URL
		}
		if m.Reused {
			ref += " (reused)"
		}
		fmt.Fprintf(e.stdout, "upload     %s (%s)\n", ref, ms(r.Timing.Upload))
	}
	if r.Error != nil {
		fmt.Fprintf(e.stderr, "prep run: %s at %s: %s\n", r.Status, orDash(r.Error.Stage), escapeControls(r.Error.Message))
		return
	}
	fmt.Fprintf(e.stdout, "send       via %s to %s: message id %s (%s)\n", r.Provider, r.To, r.MessageID, ms(r.Timing.Send))
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
