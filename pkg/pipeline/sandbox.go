package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// SandboxConfig says how to reach a sandbox (pkg/sandbox, `prep sandbox`)
// and its default credentials; NewSandboxPipeline builds the real clients
// against it.
type SandboxConfig struct {
	URL           string // the sandbox's base URL, e.g. http://127.0.0.1:8080
	MetaToken     string // default "sandbox"
	D360Key       string // default "sandbox"
	InfobipKey    string // default "sandbox"
	PhoneNumberID string // default "100000000000001"
	InfobipSender string // default "447860099299"
	// Link, when set, replaces the sandbox's file host for link uploads
	// (e.g. an S3 uploader).
	Link upload.Uploader
	// Transcode options (Profile and Split are set per recording).
	Transcode transcode.Options
	// HTTPClient for every client (default: one with a 30 s timeout).
	HTTPClient *http.Client
	// Cache for media ids (nil: none; the sandbox forgets ids on restart).
	Cache *upload.Cache
	// SendOptions are added to every sender's options (e.g.
	// send.WithRateLimit, send.WithRetry).
	SendOptions []send.Option
	// TempDir holds work directories; default os.TempDir().
	TempDir string
}

// NewSandboxPipeline returns a Pipeline whose clients are the real
// transcode, upload and send packages pointed at a sandbox: the three
// providers, their media endpoints, and the sandbox's file host for links.
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
		link = &fileHost{baseURL: base + "/_sandbox/files", client: hc}
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
	return New(Config{
		Senders:   map[send.Provider]send.Sender{send.Meta: meta, send.D360: d360, send.Infobip: ib},
		Media:     map[send.Provider]upload.Uploader{send.Meta: metaUp, send.D360: d360Up},
		Link:      link,
		Transcode: cfg.Transcode,
		TempDir:   cfg.TempDir,
	})
}

// fileHost uploads to an HTTP file host that stores a PUT body under a
// name and serves it back with the same Content-Type: the sandbox's
// /_sandbox/files/ (so Infobip and link flows work offline without S3).
// Names are {sha256}{canonical extension}, like S3 keys.
type fileHost struct {
	baseURL string
	client  *http.Client
}

// Upload checks the real type of the file (refusing what no provider
// takes, as pkg/upload does) and PUTs it with that type's MIME.
func (h *fileHost) Upload(ctx context.Context, f upload.File) (*upload.Ref, error) {
	typ, _, err := upload.Check(ctx, f)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, err
	}
	sum := f.SHA256
	if sum == "" {
		s := sha256.Sum256(data)
		sum = hex.EncodeToString(s[:])
	}
	name := sum + typ.Ext
	u := h.url(name)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", typ.MIME)
	resp, err := h.client.Do(hr)
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
	// URL is the one URL(name) makes again (a journal or a queue entry
	// keeps the key, and Pipeline.FetchURL checks the object is the same);
	// the host's answer, when it names the file otherwise, is what is sent
	// now.
	ref := &upload.Ref{URL: u, SHA256: sum, MIME: typ.MIME, Ext: typ.Ext, Bytes: int64(len(data)), Key: name}
	if ans.URL != u {
		ref.Link = ans.URL
	}
	return ref, nil
}

// URL is the file host's URL for a name (an upload's key): an
// upload.Linker, so an upload read back from a journal or a queue entry
// is sent from this host only when it was made here.
func (h *fileHost) URL(_ context.Context, name string) (string, error) {
	return h.url(name), nil
}

func (h *fileHost) url(name string) string {
	return strings.TrimRight(h.baseURL, "/") + "/" + url.PathEscape(name)
}

var _ upload.Linker = (*fileHost)(nil)
