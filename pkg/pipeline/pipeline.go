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
	"time"

	"github.com/google/uuid"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/send"
)

// Pipeline holds the stages. Build it once (e.g. with the adapters in
// adapters.go) and use it for any number of items and batches; it is safe
// for concurrent use when its stages are.
type Pipeline struct {
	// Inspect inspects sources and outputs; default inspect.File.
	Inspect        InspectFunc
	InspectOptions []inspect.Option
	Transcoder     Transcoder
	Uploader       Uploader
	Senders        map[Provider]Sender
	// NormalizeTo checks a recipient and returns the form sent to the
	// provider (digits); default: send.NormalizePhone.
	NormalizeTo func(string) (string, error)
	// NewMessageID returns the client message id for a send through p, or
	// "" when the provider takes none; default: a UUID for Infobip (its
	// messageId, seeds/000), "" for Meta and 360dialog.
	NewMessageID func(p Provider) string
	// TempDir is where work directories are made; default os.TempDir().
	TempDir string
}

// Item is one recording to one recipient.
type Item struct {
	Path   string    // the source file, or
	Reader io.Reader // its bytes (spooled to a temporary file)
	Name   string    // the reader's file name (messages, upload name)

	To       string
	Provider Provider
	Profile  Profile // default Voice
	Split    bool    // voice: cut what cannot fit into several notes
	// Link uploads to the link host (S3) even for Meta and 360dialog.
	Link         bool
	CallbackData string
}

// Result is what each stage of one item did.
type Result struct {
	Path      string           `json:"path"`
	To        string           `json:"to"`
	Provider  Provider         `json:"provider"`
	Profile   Profile          `json:"profile"`
	SHA256    string           `json:"sha256"`
	Bytes     int64            `json:"bytes"`
	Inspect   *inspect.Report  `json:"inspect,omitempty"`
	Transcode *TranscodeResult `json:"transcode,omitempty"`
	Media     []Media          `json:"media,omitempty"`
	Receipts  []Receipt        `json:"receipts,omitempty"`
	// MessageID is the provider's message id (joined with ";" for a split
	// recording, in part order).
	MessageID string `json:"message_id"`
	Timing    Timing `json:"timing"`
}

func (p *Pipeline) inspectFn() InspectFunc {
	if p.Inspect != nil {
		return p.Inspect
	}
	return inspect.File
}

func (p *Pipeline) normalize(to string) (string, error) {
	if p.NormalizeTo != nil {
		return p.NormalizeTo(to)
	}
	return send.NormalizePhone(to)
}

func (p *Pipeline) messageID(pr Provider) string {
	if p.NewMessageID != nil {
		return p.NewMessageID(pr)
	}
	if pr == Infobip {
		return uuid.NewString()
	}
	return ""
}

// check reports a configuration mistake for an item before any work.
func (p *Pipeline) check(pr Provider, dest Destination) error {
	if p.Transcoder == nil {
		return errors.New("pipeline: no transcoder configured")
	}
	if p.Uploader == nil {
		return errors.New("pipeline: no uploader configured")
	}
	if p.Senders[pr] == nil {
		return fmt.Errorf("pipeline: no sender configured for %s", pr)
	}
	return nil
}

// Run takes one item through every stage. The Result is never nil; on
// error it holds what the stages before the failure did, and the error is a
// *StageError (a send whose outcome is unknown wraps an in-doubt error:
// errors.As(err, new(*InDoubtError)) or the sender's own type).
func (p *Pipeline) Run(ctx context.Context, it Item) (*Result, error) {
	res := &Result{Path: it.Path, Provider: it.Provider, Profile: it.Profile}
	if res.Profile == "" {
		res.Profile = Voice
	}
	to, err := p.normalize(it.To)
	if err != nil {
		return res, &StageError{Stage: StageRead, Err: err}
	}
	res.To = to
	dest := DestinationFor(it.Provider, it.Link)
	if err := p.check(it.Provider, dest); err != nil {
		return res, err
	}
	work, err := os.MkdirTemp(p.TempDir, "prep-run-")
	if err != nil {
		return res, &StageError{Stage: StageRead, Err: err}
	}
	defer os.RemoveAll(work)

	src, name := it.Path, it.Name
	if it.Reader != nil {
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

	pr, err := p.prepare(ctx, src, res.Profile, it.Split, filepath.Join(work, "out"))
	if pr != nil {
		res.Inspect, res.Transcode = pr.report, pr.tr
		res.Timing.Inspect, res.Timing.Transcode = pr.timing.Inspect, pr.timing.Transcode
	}
	if err != nil {
		return res, err
	}
	media, d, err := p.upload(ctx, pr, dest)
	res.Media, res.Timing.Upload = media, d
	if err != nil {
		return res, err
	}
	var ids []string
	for i, m := range media {
		req := SendRequest{Provider: it.Provider, To: to, MediaID: m.ID, Link: m.URL, Voice: res.Profile == Voice,
			CallbackData: it.CallbackData, MessageID: p.messageID(it.Provider)}
		if req.MediaID != "" {
			req.Link = ""
		}
		t0 := time.Now()
		rc, err := p.Senders[it.Provider].Send(ctx, req)
		res.Timing.Send += time.Since(t0)
		if err != nil {
			if ctx.Err() != nil && !isInDoubt(err) {
				// Cancelled while the request may have been out.
				err = &InDoubtError{MessageID: req.MessageID, Err: err}
			}
			if len(media) > 1 {
				err = fmt.Errorf("part %d of %d: %w", i+1, len(media), err)
			}
			res.MessageID = strings.Join(ids, ";")
			return res, &StageError{Stage: StageSend, Err: err}
		}
		res.Receipts = append(res.Receipts, *rc)
		ids = append(ids, rc.MessageID)
	}
	res.MessageID = strings.Join(ids, ";")
	return res, nil
}

// prepared is one recording made fit for a profile.
type prepared struct {
	report *inspect.Report
	tr     *TranscodeResult
	timing Timing
	before int64 // source bytes
	after  int64 // sum of the outputs' bytes
}

// prepare inspects and transcodes src into outDir and hashes the outputs.
// The returned prepared is non-nil when inspection ran.
func (p *Pipeline) prepare(ctx context.Context, src string, prof Profile, split bool, outDir string) (*prepared, error) {
	pr := &prepared{}
	t0 := time.Now()
	rep, err := p.inspectFn()(ctx, src, p.InspectOptions...)
	pr.timing.Inspect = time.Since(t0)
	pr.report = rep
	if rep != nil {
		pr.before = rep.Size
	}
	if err != nil {
		return pr, &StageError{Stage: StageInspect, Err: err}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return pr, &StageError{Stage: StageTranscode, Err: err}
	}
	t0 = time.Now()
	tr, err := p.Transcoder.Transcode(ctx, TranscodeRequest{Path: src, Report: rep, Profile: prof, Split: split, OutDir: outDir})
	pr.timing.Transcode = time.Since(t0)
	if err != nil {
		return pr, &StageError{Stage: StageTranscode, Err: err}
	}
	if tr == nil || len(tr.Outputs) == 0 {
		return pr, &StageError{Stage: StageTranscode, Err: errors.New("the transcoder produced no output")}
	}
	pr.tr = tr
	for i := range tr.Outputs {
		o := &tr.Outputs[i]
		if o.SHA256 == "" || o.Bytes == 0 {
			sum, n, err := hashFile(o.Path)
			if err != nil {
				return pr, &StageError{Stage: StageTranscode, Err: err}
			}
			o.SHA256, o.Bytes = sum, n
		}
		pr.after += o.Bytes
	}
	return pr, nil
}

// upload puts every output of pr at dest, in part order.
func (p *Pipeline) upload(ctx context.Context, pr *prepared, dest Destination) ([]Media, time.Duration, error) {
	t0 := time.Now()
	out := make([]Media, 0, len(pr.tr.Outputs))
	for _, o := range pr.tr.Outputs {
		stem := strings.TrimSuffix(filepath.Base(o.Path), filepath.Ext(o.Path))
		m, err := p.Uploader.Upload(ctx, UploadRequest{Dest: dest, Path: o.Path, Name: stem, SHA256: o.SHA256, MIME: o.MIME, Ext: o.Ext, Bytes: o.Bytes})
		if err != nil {
			return out, time.Since(t0), &StageError{Stage: StageUpload, Err: err}
		}
		if m == nil || (m.ID == "" && m.URL == "") {
			return out, time.Since(t0), &StageError{Stage: StageUpload, Err: errors.New("the uploader returned no media id or URL")}
		}
		out = append(out, *m)
	}
	return out, time.Since(t0), nil
}

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
