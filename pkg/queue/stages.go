package queue

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
	"github.com/prep-audio/prep/pkg/pipeline"
)

// Stages are the batch's stages as a worker runs them: prepare (inspect +
// transcode a local file, then upload its outputs to each destination)
// once per recording, and send once per row part.
type Stages interface {
	Prepare(ctx context.Context, req PrepareRequest) (*Prepared, error)
	Send(ctx context.Context, req pipeline.SendRequest) (*pipeline.Receipt, error)
	// NewMessageID is the client message id for a send through p ("" when
	// the provider takes none).
	NewMessageID(p pipeline.Provider) string
}

// PrepareRequest is one recording to make fit and upload.
type PrepareRequest struct {
	Path    string // a local file
	Name    string // the recording's name (upload names)
	Profile pipeline.Profile
	Split   bool
	Dests   []pipeline.Destination
	Dir     string // a work directory the caller removes
}

// Prepared is a prepared recording's media per destination.
type Prepared struct {
	Media         map[pipeline.Destination][]pipeline.Media `json:"media"`
	Timing        pipeline.Timing                           `json:"timing"`
	Before, After int64                                     // source and output bytes
}

// PipelineStages runs the stages of a *pipeline.Pipeline (its Inspect,
// Transcoder, Uploader and Senders).
type PipelineStages struct {
	P *pipeline.Pipeline
}

// Prepare inspects, transcodes and uploads req.Path.
func (s PipelineStages) Prepare(ctx context.Context, req PrepareRequest) (*Prepared, error) {
	p := s.P
	if p.Transcoder == nil || p.Uploader == nil {
		return nil, errors.New("the pipeline has no transcoder or uploader")
	}
	insp := p.Inspect
	if insp == nil {
		insp = inspect.File
	}
	out := &Prepared{Media: map[pipeline.Destination][]pipeline.Media{}}
	t0 := time.Now()
	rep, err := insp(ctx, req.Path, p.InspectOptions...)
	out.Timing.Inspect = time.Since(t0)
	if err != nil {
		return out, &pipeline.StageError{Stage: pipeline.StageInspect, Err: err}
	}
	out.Before = rep.Size
	dir := filepath.Join(req.Dir, "out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return out, &pipeline.StageError{Stage: pipeline.StageTranscode, Err: err}
	}
	t0 = time.Now()
	tr, err := p.Transcoder.Transcode(ctx, pipeline.TranscodeRequest{Path: req.Path, Report: rep, Profile: req.Profile, Split: req.Split, OutDir: dir})
	out.Timing.Transcode = time.Since(t0)
	if err != nil {
		return out, &pipeline.StageError{Stage: pipeline.StageTranscode, Err: err}
	}
	if tr == nil || len(tr.Outputs) == 0 {
		return out, &pipeline.StageError{Stage: pipeline.StageTranscode, Err: errors.New("the transcoder produced no output")}
	}
	for i := range tr.Outputs {
		o := &tr.Outputs[i]
		if o.SHA256 == "" || o.Bytes == 0 {
			if o.SHA256, o.Bytes, err = hashFile(o.Path); err != nil {
				return out, &pipeline.StageError{Stage: pipeline.StageTranscode, Err: err}
			}
		}
		out.After += o.Bytes
	}
	t0 = time.Now()
	defer func() { out.Timing.Upload = time.Since(t0) }()
	for _, d := range req.Dests {
		for _, o := range tr.Outputs {
			stem := strings.TrimSuffix(filepath.Base(o.Path), filepath.Ext(o.Path))
			if strings.HasPrefix(stem, "src-") {
				stem = stem[4:]
			}
			m, err := p.Uploader.Upload(ctx, pipeline.UploadRequest{Dest: d, Path: o.Path, Name: stem, SHA256: o.SHA256, MIME: o.MIME, Ext: o.Ext, Bytes: o.Bytes})
			if err != nil {
				return out, &pipeline.StageError{Stage: pipeline.StageUpload, Err: err}
			}
			if m == nil || (m.ID == "" && m.URL == "") {
				return out, &pipeline.StageError{Stage: pipeline.StageUpload, Err: errors.New("the uploader returned no media id or URL")}
			}
			out.Media[d] = append(out.Media[d], *m)
		}
	}
	return out, nil
}

// Send sends through the pipeline's sender for req.Provider.
func (s PipelineStages) Send(ctx context.Context, req pipeline.SendRequest) (*pipeline.Receipt, error) {
	snd := s.P.Senders[req.Provider]
	if snd == nil {
		return nil, fmt.Errorf("no sender configured for provider %s", req.Provider)
	}
	return snd.Send(ctx, req)
}

// NewMessageID is the pipeline's (default: a UUID for Infobip, "" else).
func (s PipelineStages) NewMessageID(p pipeline.Provider) string {
	if s.P.NewMessageID != nil {
		return s.P.NewMessageID(p)
	}
	if p == pipeline.Infobip {
		return uuid.NewString()
	}
	return ""
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
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
