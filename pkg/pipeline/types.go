package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/send"
)

// Provider is a WhatsApp provider; the names are pkg/send's.
type Provider = send.Provider

// The providers (names as the CLI spells them).
const (
	Meta    = send.Meta
	D360    = send.D360
	Infobip = send.Infobip
)

// Providers lists the known providers.
var Providers = []Provider{Meta, D360, Infobip}

// ParseProvider accepts a provider name as pkg/send does (case-insensitive;
// "360" and "d360" also mean 360dialog).
func ParseProvider(s string) (Provider, error) { return send.ParseProvider(s) }

// Profile is what a recording is turned into.
type Profile string

// The profiles (see issue 3): a voice note (mono Ogg Opus within the voice
// budget, sent with the voice flag) or basic audio (any accepted type up to
// the audio limit, sent without it).
const (
	Voice Profile = "voice"
	Audio Profile = "audio"
)

// ParseProfile accepts "voice" or "audio" ("" means voice).
func ParseProfile(s string) (Profile, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "voice":
		return Voice, nil
	case "audio":
		return Audio, nil
	}
	return "", fmt.Errorf("unknown profile %q (voice or audio)", s)
}

// Destination is where a prepared recording is uploaded.
type Destination string

// The destinations: a provider's media endpoint (a media id) or a link host
// (S3, or the sandbox's file host) that gives a URL.
const (
	DestMeta Destination = "meta"
	Dest360  Destination = "360dialog"
	DestLink Destination = "link"
)

// DestinationFor is where an item for provider p is uploaded: the provider's
// media endpoint for Meta and 360dialog, a link for Infobip (it only takes a
// URL, seeds/000) or whenever link is true (`--upload s3`).
func DestinationFor(p Provider, link bool) Destination {
	switch {
	case link || p == Infobip:
		return DestLink
	case p == D360:
		return Dest360
	default:
		return DestMeta
	}
}

// InspectFunc inspects a file (inspect.File has this signature).
type InspectFunc func(ctx context.Context, path string, opts ...inspect.Option) (*inspect.Report, error)

// TranscodeRequest asks for one source to be made fit for a profile.
type TranscodeRequest struct {
	Path    string          // the source file
	Report  *inspect.Report // its inspection
	Profile Profile
	Split   bool   // voice: cut what cannot fit into consecutive notes
	OutDir  string // where outputs go (owned by the pipeline, removed after)
}

// TranscodeResult is what a Transcoder made.
type TranscodeResult struct {
	Action   string   `json:"action"` // passthrough, remux or transcode
	Attempts int      `json:"attempts"`
	Outputs  []Output `json:"outputs"`
}

// Output is one prepared file (one per part when split).
type Output struct {
	Path     string  `json:"path"`
	Bytes    int64   `json:"bytes"`
	MIME     string  `json:"mime"`
	Ext      string  `json:"ext"`
	Duration float64 `json:"duration_s"`
	SHA256   string  `json:"sha256"` // filled by the pipeline when empty
}

// Transcoder prepares a source for a profile. A compliant source may come
// back as itself (passthrough: Outputs[0].Path == req.Path).
type Transcoder interface {
	Transcode(ctx context.Context, req TranscodeRequest) (*TranscodeResult, error)
}

// UploadRequest asks for one prepared file to be put at a destination.
type UploadRequest struct {
	Dest   Destination
	Path   string
	Name   string // a stem for the uploaded name; the extension is Ext
	SHA256 string
	MIME   string
	Ext    string
	Bytes  int64
}

// Media is where an upload landed: a media id or a URL.
type Media struct {
	ID     string `json:"media_id,omitempty"`
	URL    string `json:"url,omitempty"`
	Reused bool   `json:"reused,omitempty"`
}

// Ref is the media's id, else its URL (what the report's media column
// shows).
func (m Media) Ref() string {
	if m.ID != "" {
		return m.ID
	}
	return m.URL
}

// Uploader puts prepared files at one or more destinations.
type Uploader interface {
	Upload(ctx context.Context, req UploadRequest) (*Media, error)
}

// SendRequest is one audio message.
type SendRequest struct {
	Provider     Provider
	To           string
	MediaID      string // exactly one of MediaID and Link
	Link         string
	Voice        bool
	CallbackData string
	// NotifyURL is where Infobip posts the message's reports.
	NotifyURL string
	// MessageID is a client message id where the provider takes one
	// (Infobip's messageId): chosen once by the pipeline, journaled before
	// the request leaves, kept across the sender's retries.
	MessageID string
}

// Receipt is the provider's answer to a send.
type Receipt struct {
	MessageID string `json:"message_id"`
	Status    string `json:"status,omitempty"`
}

// Sender sends audio messages through one provider.
type Sender interface {
	Send(ctx context.Context, req SendRequest) (*Receipt, error)
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, req SendRequest) (*Receipt, error)

// Send calls f.
func (f SenderFunc) Send(ctx context.Context, req SendRequest) (*Receipt, error) { return f(ctx, req) }

// UploaderFunc adapts a function to Uploader.
type UploaderFunc func(ctx context.Context, req UploadRequest) (*Media, error)

// Upload calls f.
func (f UploaderFunc) Upload(ctx context.Context, req UploadRequest) (*Media, error) {
	return f(ctx, req)
}

// TranscoderFunc adapts a function to Transcoder.
type TranscoderFunc func(ctx context.Context, req TranscodeRequest) (*TranscodeResult, error)

// Transcode calls f.
func (f TranscoderFunc) Transcode(ctx context.Context, req TranscodeRequest) (*TranscodeResult, error) {
	return f(ctx, req)
}

// Stage names, as errors and timings report them.
const (
	StageRead      = "read"
	StageInspect   = "inspect"
	StageTranscode = "transcode"
	StageUpload    = "upload"
	StageSend      = "send"
)

// StageError is a failure of one stage for one item. Find it with
// errors.As.
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return e.Stage + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// InDoubtError says a send may or may not have reached the provider: the
// request left and no answer came (dropped connection, timeout, the process
// stopped at once). Such a row is "unknown" and is not resent unless asked.
// Senders return it (or any error with an InDoubt() bool method that says
// true).
type InDoubtError struct {
	MessageID string // the client message id the request carried, if any
	Err       error
}

func (e *InDoubtError) Error() string {
	if e.Err == nil {
		return "in doubt: no answer from the provider"
	}
	return "in doubt: " + e.Err.Error()
}
func (e *InDoubtError) Unwrap() error { return e.Err }

// InDoubt is true.
func (e *InDoubtError) InDoubt() bool { return true }

// isInDoubt reports whether err says the outcome of a send is unknown.
func isInDoubt(err error) bool {
	var d interface{ InDoubt() bool }
	if errors.As(err, &d) && d.InDoubt() {
		return true
	}
	return false
}

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
