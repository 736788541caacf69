package queue

import (
	"context"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// Stages are the batch's stages as a worker runs them: prepare (inspect +
// transcode a local file, then upload its outputs to each destination)
// once per recording, and send once per row part.
type Stages interface {
	Prepare(ctx context.Context, req PrepareRequest) (*Prepared, error)
	// Send sends one part; an error that leaves it unknown whether the
	// message went out is a *send.InDoubtError (the row becomes unknown,
	// never sent again by itself).
	Send(ctx context.Context, req SendRequest) (*send.Receipt, error)
	// NewMessageID is the client message id for a send through p ("" when
	// the provider takes none).
	NewMessageID(p send.Provider) string
	// MediaAccount names the account (without a secret) that Prepare's
	// uploads to dest belong to: a media id of Meta or 360dialog is usable
	// only by the account that uploaded it (one sent through another
	// fails later, with a 131053 status), so the recordings bucket keeps
	// media per destination and account. "" when dest's uploads are not
	// bound to an account (the link host).
	MediaAccount(dest string) string
}

// Linker is implemented by Stages that make again the URL a provider
// fetches for an upload whose Ref lost it (upload.Ref.Link is not stored
// in the recordings bucket): PipelineStages presigns it from the key.
type Linker interface {
	FetchURL(ctx context.Context, r upload.Ref) (string, error)
}

// PrepareRequest is one recording to make fit and upload.
type PrepareRequest struct {
	Path    string // a local file
	Name    string // the recording's name (upload names)
	SHA256  string // Path's SHA-256 when checked (an S3 source's fetch); computed when empty
	Profile transcode.Profile
	Split   bool
	Dests   []string // pipeline.Destination names
	Dir     string   // a work directory the caller removes
}

// Prepared is a prepared recording's media per destination.
type Prepared struct {
	// Media are the uploads by destination, every part of the recording
	// at each one; a destination whose upload failed is absent.
	Media         map[string][]upload.Ref `json:"media"`
	Timing        pipeline.Timing         `json:"timing"`
	Before, After int64                   // source and output bytes
}

// SendRequest is one part of one row to send.
type SendRequest struct {
	Provider     send.Provider
	To           string
	MediaID      string // exactly one of MediaID and Link
	Link         string // the URL to fetch (a presigned URL: never print or store it)
	Voice        bool
	CallbackData string
	// MessageID is the client message id (Infobip's messageId), chosen
	// before the request and kept in the row's state.
	MessageID string
}

// PipelineStages runs the stages of a *pipeline.Pipeline: its Prepare and
// Upload, and its send step for one part (without a store: the worker
// keeps the row's state in the KV bucket).
type PipelineStages struct {
	P *pipeline.Pipeline
}

// Prepare prepares req.Path and uploads its outputs to each destination.
func (s PipelineStages) Prepare(ctx context.Context, req PrepareRequest) (*Prepared, error) {
	out := &Prepared{Media: map[string][]upload.Ref{}}
	prep, err := s.P.Prepare(ctx, pipeline.Recording{Path: req.Path, SHA256: req.SHA256, Profile: req.Profile, Split: req.Split}, req.Dir+"/out")
	if prep != nil {
		out.Timing = prep.Timing
		out.Before = prep.Bytes
	}
	if err != nil {
		return out, err
	}
	out.After = prep.OutBytes()
	t0 := time.Now()
	defer func() { out.Timing.Upload = time.Since(t0) }()
	// Every destination at once, as the local batch's upload stage does
	// (the worker holds a transcode slot meanwhile).
	// A destination whose upload failed has no media: the parts uploaded
	// before the failure are not the recording (a split one's rows would
	// be sent with those parts alone).
	media := make([][]upload.Ref, len(req.Dests))
	var g errgroup.Group
	for i, d := range req.Dests {
		g.Go(func() error {
			refs, err := s.P.Upload(ctx, prep, send.Provider(d), d == pipeline.Destination(send.Infobip, true))
			if err == nil {
				media[i] = refs
			}
			return err
		})
	}
	err = g.Wait()
	for i, d := range req.Dests {
		if media[i] != nil {
			out.Media[d] = media[i]
		}
	}
	return out, err
}

// Send sends one part through the pipeline's send step: no receipt or an
// empty message id is a *send.InDoubtError, as in a batch.
func (s PipelineStages) Send(ctx context.Context, req SendRequest) (*send.Receipt, error) {
	row := &pipeline.SendRow{Provider: req.Provider, To: req.To, Voice: req.Voice, CallbackData: req.CallbackData,
		Media: []upload.Ref{{MediaID: req.MediaID, URL: upload.RedactURL(req.Link), Link: req.Link}}}
	if req.Link == "" {
		row.Media[0].URL = ""
	}
	if req.MessageID != "" {
		row.ClientIDs = map[int]string{0: req.MessageID}
	}
	res := s.P.Send(ctx, nil, row)
	if res.Status != pipeline.StatusSent {
		return nil, res.Err
	}
	return &send.Receipt{Provider: req.Provider, To: req.To, MessageID: res.MessageIDs[0]}, nil
}

// FetchURL is the pipeline's FetchURL: the URL to send for r, presigned
// again from r.Key when r lost it.
func (s PipelineStages) FetchURL(ctx context.Context, r upload.Ref) (string, error) {
	return s.P.FetchURL(ctx, r)
}

var _ Linker = PipelineStages{}

// NewMessageID is a UUID for Infobip (its messageId), "" for the others.
func (s PipelineStages) NewMessageID(p send.Provider) string {
	if p == send.Infobip {
		return uuid.NewString()
	}
	return ""
}

// MediaAccount is the account of dest's media endpoint as the media-id
// cache keys it (upload.MediaUploader.CacheKey: the account, and the
// endpoint so that sandbox and production never mix), "" for a media
// uploader that does not say. For the link host it is where the host
// keeps uploads (Pipeline.LinkHost: the bucket's URL), as the recordings
// bucket keeps a key and not the presigned URL, which only the same host
// can make again; "" for a host whose URLs are fetched as they are.
func (s PipelineStages) MediaAccount(dest string) string {
	if dest == pipeline.Destination(send.Infobip, true) {
		return s.P.LinkHost(context.Background())
	}
	k, ok := s.P.MediaAccount(send.Provider(dest))
	if !ok {
		return ""
	}
	return k.Account + "@" + k.Endpoint
}

// refOf is an upload's media id, else its URL.
func refOf(r upload.Ref) string {
	if r.MediaID != "" {
		return r.MediaID
	}
	return r.URL
}
