// Package sandbox is a faithful local stand-in for the three WhatsApp
// providers prep talks to — Meta's Cloud API, 360dialog and Infobip — so
// that prep's own tests, the demo and users' integration tests run offline
// and still meet the mistakes real providers refuse.
//
// One HTTP server serves the three providers under path prefixes:
//
//	{URL}/meta/{version}/{phone-number-id}/messages   Authorization: Bearer <MetaToken>
//	{URL}/meta/{version}/{phone-number-id}/media
//	{URL}/meta/{version}/{media-id}                   GET (url, mime_type, sha256, file_size, id), DELETE
//	{URL}/meta/download/{media-id}                    the media bytes (needs the bearer token)
//	{URL}/360dialog/messages, {URL}/360dialog/media   D360-API-KEY: <D360Key>
//	{URL}/360dialog/{media-id}, /360dialog/download/{media-id}
//	{URL}/infobip/whatsapp/1/message/audio            Authorization: App <InfobipKey>
//	{URL}/_sandbox/files/{name}                       POST/PUT stores bytes, GET serves them (a media host)
//	{URL}/360dialog/v1/configs/webhook                POST {"url", "headers"}: 360dialog's webhook
//	{URL}/_sandbox/messages                           every accepted message, as JSON
//	{URL}/_sandbox/play/{message-id}                  POST: the recipient plays the voice note ("played")
//	{URL}/_sandbox/media/{message-id}                 the media a message carried (for the page)
//	{URL}/                                            a page showing each conversation like a phone
//
// Answers follow the providers' contracts (Meta's Business Messaging
// OpenAPI v23.0, https://github.com/facebook/openapi; Infobip's WhatsApp
// OpenAPI, https://www.infobip.com/docs/api/channels/whatsapp) and docs
// (Infobip "Send WhatsApp audio message"; Meta Cloud API "Audio messages"
// and "Webhooks"; 360dialog "Audio" and "Webhook"): Graph-shaped errors for
// Meta and 360dialog, Infobip's requestError/serviceException shape.
//
// Statuses reach receivers as the providers send them: Meta's webhooks
// signed with X-Hub-Signature-256 over bytes with non-ASCII escaped as
// \uXXXX, after the hub.challenge verification when Config.VerifyToken is
// set; 360dialog's to the URL set with POST /v1/configs/webhook, with its
// registered headers and no signature; Infobip's delivery and seen reports
// to each message's notifyUrl. Config.Delivery batches them (several
// statuses, entries and changes per POST), duplicates and reorders them
// (read before delivered, delivered skipped, failed after delivered),
// drops POSTs and retries non-2xx answers with backoff; Config.Recipients
// scripts per recipient. "played" is sent only when a voice note is played
// (Play, POST /_sandbox/play/{id}, or the page's play button).
//
// Behaviour that real users hit and that the sandbox reproduces:
//   - a wrong token: HTTP 401, Graph code 190 (360dialog: its own meta
//     shape; Infobip: UNAUTHORIZED);
//   - an upload whose declared type is not one Meta lists, whose bytes are
//     not that type (checked with pkg/inspect), whose file name's extension
//     does not fit the type (Meta classifies uploads by file name), or that
//     is over rules.AudioMaxBytes;
//   - voice=true on media that is not mono Ogg Opus: the send is accepted,
//     then a "failed" status webhook with error 131053 follows (as Meta does);
//   - a voice note over rules.VoiceMaxBytes: delivered, but shown with a
//     download icon instead of a play button (the page notes it);
//   - a recipient outside the 24-hour customer window (Config.OutsideWindow):
//     accepted, then a "failed" status with error 131047 — Meta reports this
//     asynchronously, not in the send answer;
//   - throughput over Config.MessagesPerSecond: HTTP 400 (not 429!) with
//     code 130429 on Meta/360dialog, HTTP 429 TOO_MANY_REQUESTS on Infobip;
//   - two messages to one recipient closer than Config.PairInterval: HTTP 400
//     with code 131056.
//
// Fault injection (Inject for scripted, deterministic faults; SetFaults for
// random ones) adds latency, provider-shaped 5xx, 429 with Retry-After, and
// connections closed without an answer — before or after the message was
// recorded (the "in doubt" case clients must handle).
//
// Sandbox-only rules, documented because real providers differ: media links
// (Meta audio.link, Infobip content.mediaUrl) are fetched only from
// loopback hosts — other hosts are refused synchronously with the
// provider's validation error shape — and Infobip notifyUrl reports are
// posted only to loopback hosts.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/prep-audio/prep/pkg/send"
)

// Provider names one of the sandboxed providers. It is send.Provider: the
// sandbox stands in for the same three providers the client talks to, so a
// test names them one way (s.Requests(send.Meta) and s.Requests(sandbox.Meta)
// are the same call).
type Provider = send.Provider

// The providers the sandbox serves (send's constants).
const (
	Meta    = send.Meta
	D360    = send.D360
	Infobip = send.Infobip
)

// Providers lists every provider, in a stable order (a new slice each
// call: no package state a caller could change).
func Providers() []Provider { return []Provider{Meta, D360, Infobip} }

// Config configures a Server. The zero value is a working sandbox on a
// random loopback port with the credential "sandbox" everywhere.
type Config struct {
	Addr              string               // listen address for Start; default "127.0.0.1:0" (loopback only unless set)
	MetaToken         string               // accepted "Authorization: Bearer <token>"; default "sandbox"
	D360Key           string               // accepted "D360-API-KEY"; default "sandbox"
	InfobipKey        string               // accepted "Authorization: App <key>"; default "sandbox"
	AppSecret         string               // HMAC key for X-Hub-Signature-256 on webhooks; default "sandbox"
	WebhookURL        string               // Meta status webhooks go here, signed; "" = none
	VerifyToken       string               // when set, Meta's hub.challenge GET verifies WebhookURL before any status is posted to it
	D360WebhookURL    string               // 360dialog status webhooks go here (as if set with POST /v1/configs/webhook), unsigned; "" = none until registered
	D360Headers       map[string]string    // headers added to every 360dialog delivery (as registered)
	DataDir           string               // received media kept here; "" = a temp dir removed on Close
	OutsideWindow     []string             // recipients (digits) outside the 24-hour window → error 131047
	MessagesPerSecond float64              // per business phone number / API key before 130429 (Meta) / 429 (Infobip); 0 = no limit
	PairInterval      time.Duration        // minimum gap between two messages to the same recipient before 131056; 0 = off
	StatusDelay       time.Duration        // delay between the steps of a trail (sent → delivered → read); default 50ms
	Faults            map[Provider]Faults  // random faults (for `prep sandbox` flags)
	Delivery          Delivery             // how statuses reach receivers: batches, duplicates, order, drops, retries
	Recipients        map[string]Recipient // scripted outcomes per recipient (digits or any international form)

	// Logf, when set, receives one line per request and per webhook
	// delivery (credentials never appear in it).
	Logf func(format string, args ...any)
}

// Faults are random faults applied to a fraction of requests.
type Faults struct {
	Latency     time.Duration // added to every request
	ErrorRate   float64       // fraction answered with a provider-shaped 500 (Meta/360dialog: code 131000; Infobip: GENERAL_ERROR)
	TooManyRate float64       // fraction answered HTTP 429 with Retry-After
	RetryAfter  time.Duration // value of Retry-After for TooManyRate (default 1s)
	DropRate    float64       // fraction of requests processed (message recorded) and then the connection closed with no answer
}

// Fault is one scripted answer, consumed by the next request to that
// provider (deterministic tests).
type Fault struct {
	Status     int           // HTTP status to answer (e.g. 400, 429, 500, 503)
	Code       int           // provider error code in the body (Meta/360dialog Graph error code, e.g. 4, 80007, 130429, 131056, 131000, 131016, 190, 100); 0 = a generic one for Status
	Subcode    int           // Graph error_subcode (Meta/360dialog), 0 = none
	RetryAfter time.Duration // sets the Retry-After header when > 0
	Drop       bool          // process the request (record the message) then close the connection without answering (the "in doubt" case)
	DropBefore bool          // close the connection before processing (nothing recorded)
	Latency    time.Duration // wait this long before answering
}

// Request is one request a provider API received.
type Request struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Header http.Header `json:"header"` // with credentials redacted
	Body   []byte      `json:"body"`   // JSON bodies; multipart bodies are summarized
	Status int         `json:"status"` // what the sandbox answered (0 if dropped)
	Time   time.Time   `json:"time"`
}

// Message is one accepted message with its status trail.
type Message struct {
	Provider Provider  `json:"provider"`
	ID       string    `json:"id"`   // wamid.… or Infobip messageId
	From     string    `json:"from"` // phone-number id / Infobip sender
	To       string    `json:"to"`
	Voice    bool      `json:"voice"`
	MediaID  string    `json:"media_id,omitempty"`
	Link     string    `json:"link,omitempty"`
	MIME     string    `json:"mime"` // what the media really is (via pkg/inspect)
	Bytes    int64     `json:"bytes"`
	Duration float64   `json:"duration_s"`
	Statuses []Status  `json:"statuses"` // trail: sent, delivered, read, played / failed (with error code)
	Time     time.Time `json:"time"`

	// Additions to the agreed contract.
	Codec     string    `json:"codec,omitempty"`
	Channels  int       `json:"channels,omitempty"`
	FileName  string    `json:"file_name,omitempty"`
	PlayIcon  bool      `json:"play_icon"`      // shown as a voice note with a play button
	Note      string    `json:"note,omitempty"` // e.g. why a voice note shows a download icon
	Waveform  []float64 `json:"waveform,omitempty"`
	WaveFrom  string    `json:"waveform_from,omitempty"` // "ffmpeg" (decoded peaks) or "bytes" (a deterministic placeholder)
	Failure   string    `json:"failure,omitempty"`       // why a "failed" status was sent (error_data.details)
	NotifyURL string    `json:"notify_url,omitempty"`    // Infobip
	Callback  string    `json:"callback_data,omitempty"` // Infobip callbackData; Meta/360dialog biz_opaque_callback_data (echoed in statuses)

	file                    string // path of the kept media under DataDir
	applicationID, entityID string // Infobip, echoed in seen reports
	read, failed            bool   // the trail ended: read, or failed
	played, playWanted      bool
}

// Status is one step of a message's status trail.
type Status struct {
	Name string    `json:"name"`
	Code int       `json:"code,omitempty"`
	Time time.Time `json:"time"`
}

// MediaObject is one uploaded media object (Meta/360dialog).
type MediaObject struct {
	ID       string `json:"id"`
	MIME     string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	FileName string `json:"file_name"`
	Bytes    int64  `json:"file_size"`

	file    string
	phoneID string
	deleted bool
}

// Webhook is one webhook or report the sandbox posted (or tried to): one
// attempt. Meta's hub.challenge verification is recorded with Method GET
// and no body.
type Webhook struct {
	Provider Provider  `json:"provider"`
	Method   string    `json:"method"`
	URL      string    `json:"url"`
	Body     []byte    `json:"body"`
	Statuses int       `json:"statuses"` // statuses or reports in the body
	Attempt  int       `json:"attempt"`  // 1 for the first try, 2 for the first retry, …
	Status   int       `json:"status"`   // the receiver's answer, 0 if it could not be reached
	Error    string    `json:"error,omitempty"`
	Time     time.Time `json:"time"`
}

type hostedFile struct {
	ctype string
	data  []byte
}

// Server is a running (or, after New, ready to run) sandbox.
type Server struct {
	cfg     Config
	dataDir string
	tmpDir  bool
	handler http.Handler

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	client *http.Client // webhooks to Config.WebhookURL
	local  *http.Client // links and notifyUrl reports: loopback addresses only, no proxy

	ln  net.Listener
	srv *http.Server

	mu       sync.Mutex
	baseURL  string
	requests map[Provider][]Request
	messages []*Message
	media    map[Provider][]*MediaObject
	files    map[string]hostedFile
	scripted map[Provider][]Fault
	faults   map[Provider]Faults
	limiters map[string]*rate.Limiter
	lastPair map[string]time.Time
	webhooks []Webhook
	outside  map[string]bool
	closed   bool

	recipients map[string]Recipient
	outbox     []*hookEvent
	retries    []*hookBatch
	wake       chan struct{}
	d360       d360Hook
	verified   bool
	dropNext   int
	waveSlot   chan struct{} // one waveform decode (ffmpeg) at a time
	closeOnce  sync.Once
}

const defaultCredential = "sandbox"

// New builds the server without listening; serve Handler() yourself (for
// example with httptest.NewServer) or use Start.
func New(cfg Config) (*Server, error) {
	if cfg.MetaToken == "" {
		cfg.MetaToken = defaultCredential
	}
	if cfg.D360Key == "" {
		cfg.D360Key = defaultCredential
	}
	if cfg.InfobipKey == "" {
		cfg.InfobipKey = defaultCredential
	}
	if cfg.AppSecret == "" {
		cfg.AppSecret = defaultCredential
	}
	if cfg.StatusDelay <= 0 {
		cfg.StatusDelay = 50 * time.Millisecond
	}
	if cfg.MessagesPerSecond < 0 || cfg.PairInterval < 0 {
		return nil, &ConfigError{Msg: "MessagesPerSecond and PairInterval must not be negative"}
	}
	if cfg.WebhookURL != "" {
		if err := checkHTTPURL(cfg.WebhookURL); err != nil {
			return nil, &ConfigError{Msg: "webhook URL " + err.Error()}
		}
	}
	s := &Server{
		cfg:      cfg,
		requests: map[Provider][]Request{},
		media:    map[Provider][]*MediaObject{},
		files:    map[string]hostedFile{},
		scripted: map[Provider][]Fault{},
		faults:   map[Provider]Faults{},
		limiters: map[string]*rate.Limiter{},
		lastPair: map[string]time.Time{},
		outside:  map[string]bool{},

		recipients: map[string]Recipient{},
		wake:       make(chan struct{}, 1),
		waveSlot:   make(chan struct{}, 1),
	}
	if err := cfg.Delivery.check(); err != nil {
		return nil, &ConfigError{Msg: err.Error()}
	}
	if s.cfg.Delivery.Retries == 0 {
		s.cfg.Delivery.Retries = 5
	} else if s.cfg.Delivery.Retries < 0 {
		s.cfg.Delivery.Retries = 0
	}
	if s.cfg.Delivery.RetryBackoff == 0 {
		s.cfg.Delivery.RetryBackoff = 200 * time.Millisecond
	}
	if s.cfg.Delivery.Batch > 1 && s.cfg.Delivery.BatchWindow == 0 {
		s.cfg.Delivery.BatchWindow = cfg.StatusDelay
	}
	for n, r := range cfg.Recipients {
		if r.Order != "" && !slices.Contains(Orders(), r.Order) {
			return nil, &ConfigError{Msg: fmt.Sprintf("recipient %s: unknown order %q", n, r.Order)}
		}
		if d := digits(n); d != "" {
			s.recipients[d] = r
		}
	}
	if cfg.D360WebhookURL != "" {
		if err := checkHTTPURL(cfg.D360WebhookURL); err != nil {
			return nil, &ConfigError{Msg: "360dialog webhook URL " + err.Error()}
		}
		s.SetD360Webhook(cfg.D360WebhookURL, cfg.D360Headers)
	}
	for p, f := range cfg.Faults {
		if err := checkFaults(f); err != nil {
			return nil, &ConfigError{Msg: fmt.Sprintf("%s faults: %v", p, err)}
		}
		s.faults[p] = f
	}
	for _, n := range cfg.OutsideWindow {
		if d := digits(n); d != "" {
			s.outside[d] = true
		}
	}
	if cfg.DataDir == "" {
		d, err := os.MkdirTemp("", "prep-sandbox-*")
		if err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		s.dataDir, s.tmpDir = d, true
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: data dir: %w", err)
		}
		s.dataDir = cfg.DataDir
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	// A transport of its own, so that Close can close the keep-alive
	// connections it opened (webhooks, links) instead of leaving them, and
	// their goroutines, in http.DefaultTransport's pool.
	redirects := func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		if !isLoopbackHost(req.URL.Hostname()) {
			return errors.New("redirect to a non-loopback host")
		}
		return nil
	}
	s.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 10 * time.Second, CheckRedirect: redirects}
	s.local = &http.Client{Transport: loopbackTransport(), Timeout: 10 * time.Second, CheckRedirect: redirects}
	s.handler = s.routes()
	s.goBackground(s.dispatch)
	if cfg.WebhookURL != "" && cfg.VerifyToken != "" {
		// Meta verifies a callback URL when it is saved; a receiver that
		// starts after the sandbox is verified at the first delivery.
		s.goBackground(func(ctx context.Context) { _ = s.VerifyWebhook(ctx) })
	}
	return s, nil
}

// Start builds the server, listens on cfg.Addr (default 127.0.0.1:0) and
// serves in the background until Close.
func Start(cfg Config) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s.ln = ln
	host := ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	s.mu.Lock()
	s.baseURL = "http://" + host
	s.mu.Unlock()
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Handler returns the sandbox's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// URL is the base URL ("http://127.0.0.1:PORT") after Start. With New and
// your own listener it is learned from the first request's Host header.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// SetURL tells a server built with New where it is served (for example
// httptest.NewServer(s.Handler()).URL), so that URL, HostFile and media
// download URLs are absolute before the first request arrives.
func (s *Server) SetURL(base string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.baseURL = strings.TrimRight(base, "/")
}

// MetaURL is URL()+"/meta"; clients use {MetaURL}/{version}/{phone-number-id}/messages.
func (s *Server) MetaURL() string { return s.URL() + "/meta" }

// D360URL is URL()+"/360dialog"; clients use {D360URL}/messages and {D360URL}/media.
func (s *Server) D360URL() string { return s.URL() + "/360dialog" }

// InfobipURL is URL()+"/infobip"; clients use {InfobipURL}/whatsapp/1/message/audio.
func (s *Server) InfobipURL() string { return s.URL() + "/infobip" }

// DataDir is where received media is kept.
func (s *Server) DataDir() string { return s.dataDir }

// Inject queues scripted faults; each is consumed by the next request to p.
func (s *Server) Inject(p Provider, f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripted[p] = append(s.scripted[p], f...)
}

// SetFaults sets the random faults of p (the zero Faults turns them off).
func (s *Server) SetFaults(p Provider, f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[p] = f
}

// Requests returns every request p's API received, in order.
func (s *Server) Requests(p Provider) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests[p]))
	for i, r := range s.requests[p] {
		r.Header = r.Header.Clone()
		r.Body = slices.Clone(r.Body)
		out[i] = r
	}
	return out
}

// Messages returns every accepted message with its status trail so far,
// all providers, in the order they were accepted.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = m.clone()
	}
	return out
}

// Message returns the message with that id.
func (s *Server) Message(id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.ID == id {
			return m.clone(), true
		}
	}
	return Message{}, false
}

func (m *Message) clone() Message {
	c := *m
	c.Statuses = slices.Clone(m.Statuses)
	c.Waveform = slices.Clone(m.Waveform)
	return c
}

// Media returns the media uploaded to p (Meta/360dialog) and not deleted.
func (s *Server) Media(p Provider) []MediaObject {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []MediaObject
	for _, m := range s.media[p] {
		if !m.deleted {
			out = append(out, *m)
		}
	}
	return out
}

// Webhooks returns every webhook and report the sandbox posted, in order.
func (s *Server) Webhooks() []Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Webhook, len(s.webhooks))
	for i, w := range s.webhooks {
		w.Body = slices.Clone(w.Body)
		out[i] = w
	}
	return out
}

// HostFile serves data at URL()+"/_sandbox/files/<name>" with that
// Content-Type (a stand-in for a media host) and returns the URL.
func (s *Server) HostFile(name, contentType string, data []byte) string {
	name = cleanFileName(name)
	s.mu.Lock()
	s.files[name] = hostedFile{ctype: contentType, data: slices.Clone(data)}
	base := s.baseURL
	s.mu.Unlock()
	return base + "/_sandbox/files/" + name
}

// Close stops the server, waits for pending webhooks to stop, closes the
// connections the sandbox opened and removes the temporary data dir (a
// configured DataDir is kept).
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		if s.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if e := s.srv.Shutdown(ctx); e != nil {
				_ = s.srv.Close()
			}
			cancel()
		}
		s.wg.Wait()
		s.client.CloseIdleConnections()
		s.local.CloseIdleConnections()
		if s.tmpDir {
			err = os.RemoveAll(s.dataDir)
		}
	})
	return err
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// go runs f in the background until Close.
func (s *Server) goBackground(f func(ctx context.Context)) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		f(s.ctx)
	}()
}

func checkFaults(f Faults) error {
	for _, r := range []float64{f.ErrorRate, f.TooManyRate, f.DropRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("rates must be between 0 and 1, got %v", r)
		}
	}
	if f.ErrorRate+f.TooManyRate+f.DropRate > 1 {
		return errors.New("error, 429 and drop rates add up to more than 1")
	}
	if f.Latency < 0 || f.RetryAfter < 0 {
		return errors.New("durations must not be negative")
	}
	return nil
}

// digits keeps the ASCII digits of s.
func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// readAll reads at most limit bytes; more is an error.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

var errTooLarge = errors.New("body too large")

// ConfigError is a Config that cannot work (find it with errors.As):
// nothing was started.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return "sandbox: " + e.Msg }
