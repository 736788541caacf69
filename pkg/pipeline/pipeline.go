package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// Config is what a Pipeline is built from: one client per provider
// account, the media endpoints of those accounts, and where links come
// from.
type Config struct {
	// Senders send messages, one per provider account (*send.Client).
	Senders map[send.Provider]send.Sender
	// Media are the providers' media endpoints (upload.NewMedia) for Meta
	// and 360dialog: a recording sent through them is uploaded there and
	// sent by media id.
	Media map[send.Provider]upload.Uploader
	// Link gives URLs (upload.NewS3, or the sandbox's file host): used for
	// Infobip, which sends by link only, and for every provider with
	// Item.Link or BatchOptions.Link.
	Link upload.Uploader
	// Transcode are the transcoder's options; Profile and Split are set per
	// recording.
	Transcode transcode.Options
	// InspectOptions are passed to inspect.File, followed by the voice
	// budget of Transcode (MaxBytes, default rules.VoiceMaxBytes): the
	// source is inspected once, and the transcoder plans from that report.
	InspectOptions []inspect.Option
	// TempDir holds work directories; default os.TempDir().
	TempDir string
}

// Pipeline takes recordings through prepare (inspect + transcode), upload
// and send. Build it with New (or NewSandboxPipeline) once and use it for
// any number of items and batches; it is safe for concurrent use.
type Pipeline struct {
	senders   map[send.Provider]send.Sender
	media     map[send.Provider]upload.Uploader
	link      upload.Uploader
	topts     transcode.Options
	iopts     []inspect.Option
	tempDir   string
	inspect   inspectFunc   // inspect.File; a seam for tests
	transcode transcodeFunc // pkg/transcode; a seam for tests
	// newMessageID is the client message id of a send through p, or "":
	// a UUID for Infobip (its messageId), none for Meta and 360dialog.
	newMessageID func(p send.Provider) string

	tcMu sync.Mutex
	tc   map[string]*transcode.Transcoder // by options
}

// inspectFunc is inspect.File's signature.
type inspectFunc func(ctx context.Context, path string, opts ...inspect.Option) (*inspect.Report, error)

// transcodeFunc makes src (inspected as rep) fit opts, writing into dir.
type transcodeFunc func(ctx context.Context, src string, rep *inspect.Report, opts transcode.Options, dir string) (*transcode.Result, error)

// New returns a pipeline over the given clients. At least one sender is
// needed; uploads go where Config says (a provider without a media
// endpoint and no Link fails its items at the upload stage, naming it).
func New(cfg Config) (*Pipeline, error) {
	if len(cfg.Senders) == 0 {
		return nil, errors.New("pipeline: no sender given")
	}
	for pv, s := range cfg.Senders {
		if s == nil {
			return nil, fmt.Errorf("pipeline: the sender for %s is nil", pv)
		}
	}
	p := &Pipeline{senders: cfg.Senders, media: cfg.Media, link: cfg.Link, topts: cfg.Transcode, iopts: cfg.InspectOptions, tempDir: cfg.TempDir}
	p.inspect = inspect.File
	p.transcode = p.realTranscode
	p.newMessageID = defaultMessageID
	return p, nil
}

func defaultMessageID(pv send.Provider) string {
	if pv == send.Infobip {
		return uuid.NewString() // Infobip's messageId, chosen before the request
	}
	return ""
}

// realTranscode runs pkg/transcode, one Transcoder per set of options.
// It plans from rep, the pipeline's inspection of src (not inspected again).
func (p *Pipeline) realTranscode(ctx context.Context, src string, rep *inspect.Report, o transcode.Options, dir string) (*transcode.Result, error) {
	key := o.String()
	p.tcMu.Lock()
	tc := p.tc[key]
	if tc == nil {
		var err error
		if tc, err = transcode.New(o); err != nil {
			p.tcMu.Unlock()
			return nil, err
		}
		if p.tc == nil {
			p.tc = map[string]*transcode.Transcoder{}
		}
		p.tc[key] = tc
	}
	p.tcMu.Unlock()
	return tc.ToDir(ctx, transcode.Input{Path: src, Report: rep}, dir)
}

// Item is one recording to one recipient.
type Item struct {
	Path   string    // the source file, or
	Reader io.Reader // its bytes (spooled to a temporary file)
	Name   string    // the reader's file name (messages, upload name)

	To       string
	Provider send.Provider
	Profile  transcode.Profile // default voice
	Split    bool              // voice: cut what cannot fit into several notes
	// Link uploads to the link host (S3) even for Meta and 360dialog.
	Link bool
	// CallbackData is echoed in the message's statuses: Infobip's
	// callbackData, Meta's and 360dialog's biz_opaque_callback_data.
	CallbackData string
}

// Result is what each stage of one item did.
type Result struct {
	Path      string            `json:"path"`
	To        string            `json:"to"`
	Provider  send.Provider     `json:"provider"`
	Profile   transcode.Profile `json:"profile"`
	SHA256    string            `json:"sha256"`
	Bytes     int64             `json:"bytes"`
	Inspect   *inspect.Report   `json:"inspect,omitempty"`
	Transcode *transcode.Result `json:"transcode,omitempty"`
	// Files are the prepared files (one per part), with their SHA-256.
	Files []upload.File `json:"-"`
	Media []upload.Ref  `json:"media,omitempty"`
	// MessageIDs are the provider's message ids, one per part in order
	// (several for a split recording).
	MessageIDs []string `json:"message_ids"`
	Timing     Timing   `json:"timing"`
}

// Run takes one item through every stage, with the same send step as a
// batch (without a journal). The Result is never nil; on error it holds
// what the stages before the failure did, and the error is a *StageError
// (a send whose outcome is unknown wraps a *send.InDoubtError).
func (p *Pipeline) Run(ctx context.Context, it Item) (*Result, error) {
	res := &Result{Path: it.Path, Provider: it.Provider, Profile: profileOr(it.Profile)}
	to, err := send.NormalizePhone(it.To)
	if err != nil {
		return res, &StageError{Stage: StageRead, Err: err}
	}
	res.To = to
	if p.senders[it.Provider] == nil {
		return res, &StageError{Stage: StageRead, Err: fmt.Errorf("no sender configured for %s", it.Provider)}
	}
	work, err := os.MkdirTemp(p.tempDir, "prep-run-")
	if err != nil {
		return res, &StageError{Stage: StageRead, Err: err}
	}
	defer os.RemoveAll(work)

	src := it.Path
	if it.Reader != nil {
		name := it.Name
		if name == "" {
			name = "input"
		}
		src = filepath.Join(work, "src-"+sanitizeName(filepath.Base(name)))
		if err := spool(ctx, it.Reader, src); err != nil {
			return res, &StageError{Stage: StageRead, Err: err}
		}
		res.Path = name
	}
	sum, size, err := hashFile(src)
	if err != nil {
		return res, &StageError{Stage: StageRead, Err: err}
	}
	res.SHA256, res.Bytes = sum, size
	prep, err := p.Prepare(ctx, Recording{Path: src, SHA256: sum, Profile: res.Profile, Split: it.Split}, filepath.Join(work, "out"))
	if prep != nil {
		res.Inspect, res.Transcode, res.Files = prep.Report, prep.Transcode, prep.Files
		res.Timing.Inspect, res.Timing.Transcode = prep.Timing.Inspect, prep.Timing.Transcode
	}
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	res.Media, err = p.Upload(ctx, prep, it.Provider, it.Link)
	res.Timing.Upload = time.Since(t0)
	if err != nil {
		return res, err
	}
	out := p.Send(ctx, nil, &SendRow{Provider: it.Provider, To: to, Voice: res.Profile == transcode.ProfileVoice, CallbackData: it.CallbackData, Media: res.Media})
	res.MessageIDs, res.Timing.Send = out.MessageIDs, out.Duration
	if out.Status != StatusSent {
		return res, &StageError{Stage: StageSend, Err: out.Err}
	}
	return res, nil
}

func profileOr(p transcode.Profile) transcode.Profile {
	if p == "" {
		return transcode.ProfileVoice
	}
	return p
}

// ParseProfile accepts "voice" or "audio" ("" means voice).
func ParseProfile(s string) (transcode.Profile, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "voice":
		return transcode.ProfileVoice, nil
	case "audio":
		return transcode.ProfileAudio, nil
	}
	return "", fmt.Errorf("unknown profile %q (voice or audio)", s)
}

// Stage names a step of the pipeline, as errors report it.
type Stage string

// The stages.
const (
	StageRead      Stage = "read"
	StageInspect   Stage = "inspect"
	StageTranscode Stage = "transcode"
	StageUpload    Stage = "upload"
	StageSend      Stage = "send"
)

// StageError is a failure of one stage for one item. Find it with
// errors.As; the stage's own error (e.g. *inspect.Error, *send.APIError,
// *send.InDoubtError) is wrapped.
type StageError struct {
	Stage Stage
	Err   error
}

func (e *StageError) Error() string { return string(e.Stage) + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// Timing is the time spent in each stage. In a batch, the first three are
// the recording's (shared by every row that uses it) and Send is the row's.
type Timing struct {
	Inspect   time.Duration `json:"inspect_ns"`
	Transcode time.Duration `json:"transcode_ns"`
	Upload    time.Duration `json:"upload_ns"`
	Send      time.Duration `json:"send_ns"`
}

// Total is the sum of the stages.
func (t Timing) Total() time.Duration { return t.Inspect + t.Transcode + t.Upload + t.Send }

// hashFile returns the lowercase hex SHA-256 and size of a file.
func hashFile(path string) (string, int64, error) {
	f, _, err := inspect.OpenRegular(path) // a FIFO or device is refused, never opened for reading
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// spool copies r to path, honouring ctx between reads.
func spool(ctx context.Context, r io.Reader, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, ctxReader{ctx, r})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// sanitizeName keeps a file name safe to use inside a work directory.
func sanitizeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < 0x20 {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return "input"
	}
	return s
}
