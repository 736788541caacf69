package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prep-audio/prep/pkg/rules"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// This file holds the thin adapters from the real stage packages
// (transcode, upload, send) to the pipeline's small interfaces.

// Transcode adapts pkg/transcode. One transcode.Transcoder is built per
// (profile, split) from Base and reused.
type Transcode struct {
	Base transcode.Options

	mu sync.Mutex
	tc map[string]*transcode.Transcoder
}

// NewTranscode returns a Transcoder over pkg/transcode with base options
// (their Profile and Split are replaced per request).
func NewTranscode(base transcode.Options) *Transcode {
	return &Transcode{Base: base, tc: map[string]*transcode.Transcoder{}}
}

func (t *Transcode) get(p Profile, split bool) (*transcode.Transcoder, error) {
	key := fmt.Sprintf("%s|%v", p, split)
	t.mu.Lock()
	defer t.mu.Unlock()
	if tc := t.tc[key]; tc != nil {
		return tc, nil
	}
	o := t.Base
	o.Profile, o.Split = transcode.ProfileVoice, split
	if p == Audio {
		o.Profile, o.Split = transcode.ProfileAudio, false
	}
	tc, err := transcode.New(o)
	if err != nil {
		return nil, err
	}
	if t.tc == nil {
		t.tc = map[string]*transcode.Transcoder{}
	}
	t.tc[key] = tc
	return tc, nil
}

// Transcode makes req.Path fit req.Profile, writing into req.OutDir.
func (t *Transcode) Transcode(ctx context.Context, req TranscodeRequest) (*TranscodeResult, error) {
	tc, err := t.get(req.Profile, req.Split)
	if err != nil {
		return nil, err
	}
	r, err := tc.ToDir(ctx, transcode.FileInput(req.Path), req.OutDir)
	if err != nil {
		return nil, err
	}
	out := &TranscodeResult{Action: string(r.Action), Attempts: r.Attempts}
	for _, o := range r.Outputs {
		typ, ok := rules.ByExt(filepath.Ext(o.Path))
		if !ok {
			return nil, fmt.Errorf("transcode produced %s, not a type WhatsApp takes", o.Path)
		}
		out.Outputs = append(out.Outputs, Output{Path: o.Path, Bytes: o.Bytes, MIME: typ.MIME, Ext: typ.Ext, Duration: o.Duration})
	}
	return out, nil
}

// Uploads routes each destination to its uploader. Missing destinations
// fail the rows that need them.
type Uploads map[Destination]Uploader

// Upload sends req to the uploader of req.Dest.
func (u Uploads) Upload(ctx context.Context, req UploadRequest) (*Media, error) {
	up := u[req.Dest]
	if up == nil {
		return nil, fmt.Errorf("no uploader configured for %s", req.Dest)
	}
	return up.Upload(ctx, req)
}

// FromUpload adapts a pkg/upload Uploader (S3, Meta or 360dialog media
// endpoint). The pipeline's SHA-256 is passed along so the file is not
// hashed twice.
func FromUpload(u upload.Uploader) Uploader {
	return UploaderFunc(func(ctx context.Context, req UploadRequest) (*Media, error) {
		ref, err := u.Upload(ctx, upload.File{Path: req.Path, Name: req.Name, SHA256: req.SHA256})
		if err != nil {
			return nil, err
		}
		return &Media{ID: ref.MediaID, URL: ref.URL, Reused: ref.Reused}, nil
	})
}

// FileHost uploads to an HTTP file host that stores a PUT body under a
// name and serves it back with the same Content-Type: the sandbox's
// /_sandbox/files/ (so Infobip and link flows work offline without S3).
// Names are {sha256}{canonical extension}, like S3 keys.
type FileHost struct {
	BaseURL string // e.g. sandbox URL()+"/_sandbox/files"
	Client  *http.Client
}

// Upload checks the real type of the file (refusing what no provider
// takes, as pkg/upload does) and PUTs it with that type's MIME.
func (h *FileHost) Upload(ctx context.Context, req UploadRequest) (*Media, error) {
	typ, _, err := upload.Check(ctx, upload.File{Path: req.Path, Name: req.Name})
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(req.Path)
	if err != nil {
		return nil, err
	}
	name := req.SHA256 + typ.Ext
	u := strings.TrimRight(h.BaseURL, "/") + "/" + url.PathEscape(name)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", typ.MIME)
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("file host: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var ans struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(body, &ans) != nil || ans.URL == "" {
		ans.URL = u
	}
	return &Media{URL: ans.URL}, nil
}

// FromSend adapts a pkg/send Sender. Its *send.InDoubtError becomes
// in-doubt for the pipeline (the row is "unknown", not resent); the client
// message id is passed as Infobip's messageId, with its callback data and
// notify URL; for Meta and 360dialog the callback data goes as
// biz_opaque_callback_data.
func FromSend(s send.Sender, p Provider) Sender {
	return SenderFunc(func(ctx context.Context, req SendRequest) (*Receipt, error) {
		m := send.Message{To: req.To, MediaID: req.MediaID, Link: req.Link, Voice: req.Voice}
		if p == Infobip {
			m.Extras = send.Extras{MessageID: req.MessageID, CallbackData: req.CallbackData, NotifyURL: req.NotifyURL}
		} else {
			m.Extras = send.Extras{CallbackData: req.CallbackData}
		}
		rc, err := s.Send(ctx, m)
		if err != nil {
			var d *send.InDoubtError
			if errors.As(err, &d) {
				return nil, &InDoubtError{MessageID: d.MessageID, Err: err}
			}
			return nil, err
		}
		return &Receipt{MessageID: rc.MessageID, Status: rc.Status}, nil
	})
}

// SandboxConfig says how to reach a sandbox (pkg/sandbox) and its default
// credentials; NewSandboxPipeline builds real stages against it.
type SandboxConfig struct {
	URL           string // the sandbox's base URL, e.g. http://127.0.0.1:8080
	MetaToken     string // default "sandbox"
	D360Key       string // default "sandbox"
	InfobipKey    string // default "sandbox"
	PhoneNumberID string // default "100000000000001"
	InfobipSender string // default "447860099299"
	// Link, when set, replaces the sandbox's file host for link uploads
	// (e.g. an S3 uploader).
	Link Uploader
	// Transcode options (Profile and Split are set per item).
	Transcode transcode.Options
	// HTTPClient for every stage (default: a client with a 30 s timeout).
	HTTPClient *http.Client
	// Cache for media ids (nil: none; the sandbox forgets ids on restart).
	Cache *upload.Cache
	// SendOptions are added to every sender's options (e.g.
	// send.WithRateLimit, send.WithRetry).
	SendOptions []send.Option
}

// NewSandboxPipeline returns a Pipeline whose stages are the real
// transcode, upload and send packages pointed at a sandbox.
func NewSandboxPipeline(cfg SandboxConfig) (*Pipeline, error) {
	def := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	base := strings.TrimRight(cfg.URL, "/")
	if base == "" {
		return nil, errors.New("pipeline: sandbox URL is empty")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	}
	token, key, ikey := def(cfg.MetaToken, "sandbox"), def(cfg.D360Key, "sandbox"), def(cfg.InfobipKey, "sandbox")
	phone := def(cfg.PhoneNumberID, "100000000000001")
	link := cfg.Link
	if link == nil {
		link = &FileHost{BaseURL: base + "/_sandbox/files", Client: hc}
	}
	opts := append([]send.Option{send.WithHTTPClient(hc)}, cfg.SendOptions...)
	meta, err := send.NewMeta(append([]send.Option{send.WithBaseURL(base + "/meta"), send.WithToken(token), send.WithPhoneNumberID(phone)}, opts...)...)
	if err != nil {
		return nil, err
	}
	d360, err := send.NewD360(append([]send.Option{send.WithBaseURL(base + "/360dialog"), send.WithAPIKey(key)}, opts...)...)
	if err != nil {
		return nil, err
	}
	ib, err := send.NewInfobip(append([]send.Option{send.WithBaseURL(base + "/infobip"), send.WithAPIKey(ikey), send.WithSender(def(cfg.InfobipSender, "447860099299"))}, opts...)...)
	if err != nil {
		return nil, err
	}
	// One client per account: media uploads go through the same one.
	metaUp, err := upload.NewMedia(meta, cfg.Cache)
	if err != nil {
		return nil, err
	}
	d360Up, err := upload.NewMedia(d360, cfg.Cache)
	if err != nil {
		return nil, err
	}
	return &Pipeline{
		Transcoder:  NewTranscode(cfg.Transcode),
		Uploader:    Uploads{DestMeta: FromUpload(metaUp), Dest360: FromUpload(d360Up), DestLink: link},
		Senders:     map[Provider]Sender{Meta: FromSend(meta, Meta), D360: FromSend(d360, D360), Infobip: FromSend(ib, Infobip)},
		NormalizeTo: send.NormalizePhone,
	}, nil
}
