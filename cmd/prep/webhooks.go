package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prep-audio/prep/pkg/status"
)

// The secrets of the receiver: read from the environment only, never
// printed.
const (
	envVerifyToken  = "WHATSAPP_VERIFY_TOKEN"
	envAppSecret    = "WHATSAPP_APP_SECRET"
	envD360Token    = "D360_WEBHOOK_TOKEN"
	envInfobipToken = "INFOBIP_WEBHOOK_TOKEN"
)

func runWebhooks(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "register" {
		return runWebhooksRegister(ctx, e, args[1:])
	}
	fs := newFlags(e, "webhooks", "[--addr HOST:PORT] --store FILE [--json]   |   prep webhooks register --provider 360dialog|meta|infobip --url URL")
	addr := fs.String("addr", "", "address to listen on (env PREP_WEBHOOKS_ADDR; default 127.0.0.1:8080)")
	storePath := fs.String("store", "", "the status store file, JSON lines, appended (env PREP_STATUS_STORE)")
	asJSON := fs.Bool("json", false, "one JSON line per event on stdout (human lines go to stderr)")
	maxBody := fs.Int64("max-body", status.DefaultMaxBody, "largest body taken, in bytes")
	grace := fs.Duration("shutdown-timeout", 10*time.Second, "on SIGTERM/Ctrl-C, how long bodies still arriving get before their connections are closed")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("webhooks: unexpected argument %q (secrets come from the environment: %s, %s, %s, %s)", pos[0], envVerifyToken, envAppSecret, envD360Token, envInfobipToken)
	}
	a := envOr(e, *addr, "PREP_WEBHOOKS_ADDR")
	if a == "" {
		a = "127.0.0.1:8080"
	}
	sp := envOr(e, *storePath, "PREP_STATUS_STORE")
	if sp == "" {
		return usageErrorf("webhooks: --store is required (or PREP_STATUS_STORE)")
	}
	if *maxBody <= 0 {
		return usageErrorf("webhooks: --max-body must be positive")
	}
	if *grace <= 0 {
		return usageErrorf("webhooks: --shutdown-timeout must be positive")
	}
	cfg := status.Config{
		MetaVerifyToken: e.getenv(envVerifyToken),
		MetaAppSecret:   e.getenv(envAppSecret),
		D360Token:       e.getenv(envD360Token),
		InfobipToken:    e.getenv(envInfobipToken),
		MaxBody:         *maxBody,
	}
	var routes []string
	if cfg.MetaAppSecret != "" || cfg.MetaVerifyToken != "" {
		if cfg.MetaAppSecret == "" {
			return usageErrorf("webhooks: %s is set but %s is not: Meta's bodies cannot be verified without the app secret", envVerifyToken, envAppSecret)
		}
		v := "POST"
		if cfg.MetaVerifyToken != "" {
			v = "GET/POST"
		}
		routes = append(routes, "meta       "+v+" /webhooks/meta")
	}
	if cfg.D360Token != "" {
		routes = append(routes, "360dialog  POST /webhooks/360dialog ("+status.TokenHeader+": $"+envD360Token+")")
	}
	if cfg.InfobipToken != "" {
		routes = append(routes, "infobip    POST /webhooks/infobip/$"+envInfobipToken)
	}
	if len(routes) == 0 {
		return usageErrorf("webhooks: no provider configured: set %s (and %s for the handshake), %s or %s", envAppSecret, envVerifyToken, envD360Token, envInfobipToken)
	}

	store, err := status.OpenStore(sp)
	if err != nil {
		return err
	}
	defer store.Close()
	if store.Corrupt > 0 {
		fmt.Fprintf(e.stderr, "prep webhooks: warning: %d unreadable line(s) in %s were ignored\n", store.Corrupt, sp)
	}
	out := &eventPrinter{human: e.stderr}
	if *asJSON {
		out.json = e.stdout
	}
	cfg.OnStored = out.stored
	// A store that failed a write takes nothing more: stop (exit 1) so a
	// supervisor restarts the receiver; meanwhile bodies are answered 503
	// and the providers retry them.
	storeFailed := make(chan struct{})
	var failOnce sync.Once
	cfg.OnReject = func(p status.Provider, code int, why string) {
		out.rejected(p, code, why)
		if code == http.StatusServiceUnavailable && store.Err() != nil {
			failOnce.Do(func() { close(storeFailed) })
		}
	}
	sink := &storingSink{Sink: store}
	rc := status.NewReceiver(sink, cfg)

	ln, err := net.Listen("tcp", a)
	if err != nil {
		return usageErrorf("webhooks: listen on %s: %v", a, err)
	}
	srv := receiverServer(rc)
	st := store.Stats()
	fmt.Fprintf(e.stderr, "prep webhooks: listening on http://%s, storing to %s (%d messages, %d events already)\n", ln.Addr(), sp, st.Messages, st.Events)
	for _, r := range routes {
		fmt.Fprintln(e.stderr, "  "+r)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var failed error
	select {
	case err := <-errc:
		return fmt.Errorf("webhooks: %w", err)
	case <-ctx.Done():
	case <-storeFailed:
		failed = fmt.Errorf("webhooks: stopped, the store failed: %v", store.Err()) // exit 1, not the usage code of a store that would not open
	}
	// Graceful: bodies being stored are finished and answered; new
	// connections are refused. Bounded, so a signal always ends prep: a
	// body still arriving when the grace ends (a slow or stalled client —
	// no token is needed to trickle a body, the signature is checked after
	// it) was never acknowledged, so its provider sends it again; its
	// connection is closed and that is no failure. Only a body caught
	// while being stored is one (exit 1).
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	serr := srv.Shutdown(sctx)
	if errors.Is(serr, context.DeadlineExceeded) {
		srv.Close()
		fmt.Fprintf(e.stderr, "prep webhooks: closed the connections still sending a body after %s (never acknowledged: the providers send them again)\n", *grace)
		serr = nil
		// A store under way finishes (Append does not stop for a closed
		// connection); wait for it, bounded too.
		if !sink.drain(*grace) {
			serr = fmt.Errorf("%d body(ies) still being stored after %s", sink.storing(), 2**grace)
		}
	}
	cerr := store.Close()
	st = store.Stats()
	fmt.Fprintf(e.stderr, "prep webhooks: stopped; %s holds %d messages, %d events\n", sp, st.Messages, st.Events)
	if failed != nil {
		return failed
	}
	if serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("webhooks: shutdown: %w", serr)
	}
	return cerr
}

// receiverServer serves a status receiver (prep webhooks, and prep batch
// --listen) with bounded header, body and idle times.
func receiverServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// storingSink counts the bodies being stored (read whole, authentic, and
// not yet answered): those a shutdown must not cut.
type storingSink struct {
	status.Sink
	mu       sync.Mutex
	inFlight int
	idle     chan struct{} // closed when inFlight falls back to 0
}

func (s *storingSink) Append(ctx context.Context, events []status.Event, raw *status.Raw) error {
	s.mu.Lock()
	if s.inFlight == 0 {
		s.idle = make(chan struct{})
	}
	s.inFlight++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.inFlight--; s.inFlight == 0 {
			close(s.idle)
		}
		s.mu.Unlock()
	}()
	return s.Sink.Append(ctx, events, raw)
}

// storing is how many stores are under way.
func (s *storingSink) storing() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// drain waits up to d for the stores under way to end; false when some
// have not.
func (s *storingSink) drain(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		s.mu.Lock()
		if s.inFlight == 0 {
			s.mu.Unlock()
			return true
		}
		idle := s.idle
		s.mu.Unlock()
		select {
		case <-idle: // one may have started since: look again
		case <-t.C:
			return false
		}
	}
}

// eventPrinter writes a line per event: human on stderr, JSON on stdout
// with --json.
type eventPrinter struct {
	mu    sync.Mutex
	human io.Writer
	json  io.Writer
}

func (p *eventPrinter) stored(prov status.Provider, evs []status.Event, raw *status.Raw) {
	var hb strings.Builder
	var jb []byte
	for i := range evs {
		ev := &evs[i]
		t := ev.Time
		if t.IsZero() {
			t = ev.Received
		}
		// The message id and the error's text come from the body: a
		// line of their own, never a terminal's escape sequence.
		fmt.Fprintf(&hb, "%s %-9s %-9s %s", t.Format(time.RFC3339), ev.Provider, ev.Status, quoteName(ev.MessageID))
		if ev.Error != nil {
			fmt.Fprintf(&hb, " — %d %s (%s)", ev.Error.Code, escapeControls(ev.Error.Text()), escapeControls(ev.Error.Advice))
		}
		hb.WriteByte('\n')
		if p.json != nil {
			b, _ := json.Marshal(ev)
			jb = append(append(jb, b...), '\n')
		}
	}
	if raw != nil {
		fmt.Fprintf(&hb, "%s %-9s kept for inspection: %s (%d bytes)\n", raw.Received.Format(time.RFC3339), raw.Provider, escapeControls(raw.Reason), len(raw.Body))
		if p.json != nil {
			b, _ := json.Marshal(map[string]any{"kind": "raw", "provider": raw.Provider, "received": raw.Received, "reason": raw.Reason, "bytes": len(raw.Body)})
			jb = append(append(jb, b...), '\n')
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.human, hb.String())
	if p.json != nil {
		p.json.Write(jb)
	}
}

func (p *eventPrinter) rejected(prov status.Provider, code int, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.human, "%s %-9s refused %d: %s\n", time.Now().UTC().Format(time.RFC3339), prov, code, escapeControls(why))
}

func runWebhooksRegister(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "webhooks register", "--provider 360dialog|meta|infobip --url URL [--api-url URL]")
	provider := fs.String("provider", "", "360dialog (sets the webhook), meta or infobip (prints what to set)")
	u := fs.String("url", "", "the public base URL of the receiver (https://host) or its full webhook URL")
	apiURL := fs.String("api-url", "", "360dialog API base URL (env D360_API_URL; default "+status.Default360BaseURL+")")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("webhooks register: unexpected argument %q", pos[0])
	}
	if *u == "" {
		return usageErrorf("webhooks register: --url is required")
	}
	base := strings.TrimRight(*u, "/")
	full := func(path string) string {
		if strings.Contains(base, "/webhooks/") {
			return base
		}
		return base + path
	}
	switch strings.ToLower(*provider) {
	case "360dialog", "360", "d360":
		key, tok := e.getenv("D360_API_KEY"), e.getenv(envD360Token)
		if key == "" || tok == "" {
			return usageErrorf("webhooks register: D360_API_KEY and %s must be set", envD360Token)
		}
		target := full("/webhooks/360dialog")
		for _, p := range status.Check360URL(target) {
			fmt.Fprintf(e.stderr, "prep webhooks register: warning: %s %s (360dialog asks for https URLs without a port or \"_\")\n", target, p)
		}
		if err := status.Register360(ctx, nil, envOr(e, *apiURL, "D360_API_URL"), key, target, tok); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "360dialog webhook set to %s, with header %s: $%s\n", target, status.TokenHeader, envD360Token)
		return nil
	case "meta":
		fmt.Fprintf(e.stdout, `Meta: in the app dashboard (WhatsApp > Configuration > Webhook):
  Callback URL:  %s
  Verify token:  the value of $%s (prep answers the hub.challenge with it)
  Subscribe to:  messages
The app secret (App settings > Basic) goes in $%s: prep verifies X-Hub-Signature-256 with it.
Run "prep webhooks" first: Meta calls the URL to verify it when you save.
`, full("/webhooks/meta"), envVerifyToken, envAppSecret)
		return nil
	case "infobip":
		fmt.Fprintf(e.stdout, `Infobip: reports go to each message's notifyUrl:
  %s/$%s
(the token is the path's secret: Infobip's reports are not signed). prep batch --notify-url %s sets it on sends.
`, strings.TrimSuffix(full("/webhooks/infobip"), "/"), envInfobipToken, base)
		return nil
	case "":
		return usageErrorf("webhooks register: --provider is required (360dialog, meta or infobip)")
	}
	return usageErrorf("webhooks register: unknown provider %q (360dialog, meta or infobip)", *provider)
}
