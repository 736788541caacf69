package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Kinds of Infobip report bodies (they never share a POST).
const (
	kindGraph = "graph"
	kindDLR   = "delivery"
	kindSeen  = "seen"
)

// hookEvent is one status waiting to be posted.
type hookEvent struct {
	p       Provider
	target  string
	kind    string
	headers map[string]string // 360dialog's registered headers
	sign    bool              // Meta: X-Hub-Signature-256
	phoneID string            // Meta/360dialog metadata.phone_number_id
	item    map[string]any    // one statuses[] or results[] entry
	ready   time.Time         // not posted before (a duplicate comes later)
	due     time.Time         // ready + the batch window: posted by then
}

func (e *hookEvent) key() string {
	return string(e.p) + "\x00" + e.kind + "\x00" + e.target
}

// hookBatch is one POST: its body is fixed when it is first formed and
// retried byte for byte (as Meta retries a payload).
type hookBatch struct {
	p       Provider
	target  string
	headers map[string]string
	sign    bool
	body    []byte
	n       int // statuses in it
	attempt int // attempts made
	due     time.Time
}

// d360Hook is 360dialog's webhook as set with POST /v1/configs/webhook.
type d360Hook struct {
	url     string
	headers map[string]string
}

// emit queues st's webhook or report (twice when dup).
func (s *Server) emit(msg *Message, st Status, details string, dup bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	m := msg.clone()
	if s.cfg.Delivery.DuplicateRate > 0 && rand01() < s.cfg.Delivery.DuplicateRate {
		dup = true
	}
	ev := &hookEvent{p: m.Provider, phoneID: m.From}
	switch m.Provider {
	case Meta:
		if s.cfg.WebhookURL == "" {
			return
		}
		ev.target, ev.kind, ev.sign = s.cfg.WebhookURL, kindGraph, true
		ev.item = graphStatus(m, st, details)
	case D360:
		if s.d360.url == "" {
			return
		}
		// 360dialog forwards the Cloud API envelope with the headers set
		// at registration, and without Meta's signature (360dialog docs,
		// "Webhook": https://docs.360dialog.com/docs/waba-messaging/webhook).
		ev.target, ev.kind, ev.headers = s.d360.url, kindGraph, s.d360.headers
		ev.item = graphStatus(m, st, details)
	case Infobip:
		if m.NotifyURL == "" {
			return
		}
		u, err := url.Parse(m.NotifyURL)
		if err != nil || !isLoopbackHost(u.Hostname()) {
			return
		}
		ev.target = m.NotifyURL
		ev.item, ev.kind = infobipResult(m, st, details)
		if ev.item == nil {
			return
		}
	}
	window := time.Duration(0)
	if s.cfg.Delivery.Batch > 1 {
		window = s.cfg.Delivery.BatchWindow
	}
	ev.ready = time.Now()
	ev.due = ev.ready.Add(window)
	s.outbox = append(s.outbox, ev)
	if dup {
		cp := *ev
		// The copy comes later, after the message's next status.
		cp.ready = ev.ready.Add(s.cfg.StatusDelay * 3 / 2)
		cp.due = cp.ready.Add(window)
		s.outbox = append(s.outbox, &cp)
	}
	s.wakeLocked()
}

func (s *Server) wakeLocked() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// dispatch posts queued statuses until Close: due events are grouped into
// batches (per provider, kind and target, at most Delivery.Batch each),
// posted one after another, and failed batches are retried with backoff.
func (s *Server) dispatch(ctx context.Context) {
	for {
		now := time.Now()
		s.mu.Lock()
		// When one status of a key is due, every status of that key that
		// is ready goes with it (one POST carries what the window
		// gathered).
		var due []*hookEvent
		keep := s.outbox[:0]
		next := time.Time{}
		dueKeys := map[string]bool{}
		for _, e := range s.outbox {
			if !e.due.After(now) {
				dueKeys[e.key()] = true
			}
		}
		for _, e := range s.outbox {
			if dueKeys[e.key()] && !e.ready.After(now) {
				due = append(due, e)
			} else {
				keep = append(keep, e)
				if next.IsZero() || e.due.Before(next) {
					next = e.due
				}
			}
		}
		clear(s.outbox[len(keep):])
		s.outbox = keep
		var retry []*hookBatch
		keepR := s.retries[:0]
		for _, b := range s.retries {
			if !b.due.After(now) {
				retry = append(retry, b)
			} else {
				keepR = append(keepR, b)
				if next.IsZero() || b.due.Before(next) {
					next = b.due
				}
			}
		}
		clear(s.retries[len(keepR):])
		s.retries = keepR
		s.mu.Unlock()

		batches := append(retry, s.group(due)...)
		slices.SortStableFunc(batches, func(a, b *hookBatch) int { return a.due.Compare(b.due) })
		for _, b := range batches {
			if ctx.Err() != nil {
				return
			}
			s.deliver(ctx, b)
		}
		if len(batches) > 0 {
			continue
		}
		var timer <-chan time.Time
		var t *time.Timer
		if !next.IsZero() {
			t = time.NewTimer(time.Until(next))
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// group forms batches of events, in the order they became due.
func (s *Server) group(events []*hookEvent) []*hookBatch {
	size := max(1, s.cfg.Delivery.Batch)
	var order []string
	byKey := map[string][]*hookEvent{}
	for _, e := range events {
		k := e.key()
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], e)
	}
	var out []*hookBatch
	for _, k := range order {
		evs := byKey[k]
		for len(evs) > 0 {
			n := min(size, len(evs))
			chunk := evs[:n]
			evs = evs[n:]
			e := chunk[0]
			b := &hookBatch{p: e.p, target: e.target, headers: e.headers, sign: e.sign, n: n, due: e.due}
			if e.kind == kindGraph {
				b.body = graphBody(chunk)
			} else {
				items := make([]any, n)
				for i, c := range chunk {
					items[i] = c.item
				}
				b.body = jsonBody(map[string]any{"results": items})
			}
			out = append(out, b)
		}
	}
	return out
}

// graphBody is Meta's webhook envelope (Meta webhooks reference; spec
// components/schemas/WebhookPayload → Entry → Change → Value): one entry
// per business phone number, its statuses split into two changes when
// there are several (receivers must read every entry and change).
func graphBody(evs []*hookEvent) []byte {
	var phones []string
	by := map[string][]any{}
	for _, e := range evs {
		if _, ok := by[e.phoneID]; !ok {
			phones = append(phones, e.phoneID)
		}
		by[e.phoneID] = append(by[e.phoneID], e.item)
	}
	var entries []any
	for _, ph := range phones {
		sts := by[ph]
		var changes []any
		half := (len(sts) + 1) / 2
		for len(sts) > 0 {
			n := min(half, len(sts))
			changes = append(changes, map[string]any{
				"field": "messages",
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]any{"display_phone_number": displayPhone, "phone_number_id": ph},
					"statuses":          sts[:n],
				},
			})
			sts = sts[n:]
		}
		entries = append(entries, map[string]any{"id": wabaID, "changes": changes})
	}
	return jsonBody(map[string]any{"object": "whatsapp_business_account", "entry": entries})
}

// jsonBody encodes v the way Meta does: no HTML escaping, and every
// non-ASCII character escaped as \uXXXX (UTF-16, surrogate pairs above
// U+FFFF). Meta signs these bytes, so a receiver that re-serializes the
// decoded JSON gets another signature.
func jsonBody(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return escapeNonASCII(bytes.TrimRight(b.Bytes(), "\n"))
}

func escapeNonASCII(in []byte) []byte {
	ascii := true
	for _, c := range in {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return in
	}
	out := make([]byte, 0, len(in)+len(in)/4)
	for len(in) > 0 {
		r, size := utf8.DecodeRune(in)
		if r < utf8.RuneSelf {
			out = append(out, in[0])
			in = in[1:]
			continue
		}
		in = in[size:]
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
	}
	return out
}

// deliver posts one batch; a failure is retried with backoff up to
// Delivery.Retries times.
func (s *Server) deliver(ctx context.Context, b *hookBatch) {
	b.attempt++
	wh := Webhook{Provider: b.p, Method: http.MethodPost, URL: b.target, Body: b.body, Statuses: b.n, Attempt: b.attempt, Time: time.Now()}
	s.mu.Lock()
	drop := s.dropNext > 0
	if drop {
		s.dropNext--
	}
	s.mu.Unlock()
	if !drop && s.cfg.Delivery.DropRate > 0 && b.attempt == 1 {
		drop = rand01() < s.cfg.Delivery.DropRate
	}
	switch {
	case drop:
		wh.Error = "dropped (fault): not sent, to be retried"
	case b.p == Meta && s.cfg.VerifyToken != "" && !s.isVerified():
		if err := s.VerifyWebhook(ctx); err != nil {
			wh.Error = "not sent: the callback URL is not verified (" + err.Error() + ")"
			break
		}
		fallthrough
	default:
		wh.Status, wh.Error = s.post(ctx, b)
	}
	ok := wh.Status >= 200 && wh.Status < 300
	retries := s.cfg.Delivery.Retries
	giveUp := !ok && b.attempt > retries
	if !ok && !giveUp {
		d := s.cfg.Delivery.RetryBackoff << (b.attempt - 1)
		if d > 30*time.Second || d <= 0 {
			d = 30 * time.Second
		}
		b.due = time.Now().Add(d)
		s.mu.Lock()
		s.retries = append(s.retries, b)
		s.mu.Unlock()
	}
	if giveUp {
		wh.Error = strings.TrimSpace(wh.Error + " (gave up)")
	}
	s.mu.Lock()
	s.webhooks = append(s.webhooks, wh)
	s.mu.Unlock()
	target := redactURL(b.target)
	if b.p == Infobip {
		// A notifyUrl's path may be a receiver's secret (prep's
		// /webhooks/infobip/TOKEN): only its host is logged.
		if u, err := url.Parse(b.target); err == nil {
			target = u.Scheme + "://" + u.Host + "/…"
		}
	}
	s.logf("%s webhook → %s (%d status(es), attempt %d): %d %s", b.p, target, b.n, b.attempt, wh.Status, wh.Error)
}

// post sends one batch and returns the receiver's status.
func (s *Server) post(ctx context.Context, b *hookBatch) (int, string) {
	client := s.local
	if b.p == Meta {
		client = s.client // the operator's Config.WebhookURL may be any host
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.target, bytes.NewReader(b.body))
	if err != nil {
		return 0, "the receiver could not be reached"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "prep-sandbox")
	for k, v := range b.headers {
		req.Header.Set(k, v)
	}
	if b.sign {
		req.Header.Set("X-Hub-Signature-256", Signature(s.cfg.AppSecret, b.body))
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "the receiver could not be reached"
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, ""
}

func (s *Server) isVerified() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.verified
}

// VerifyWebhook performs Meta's verification request against
// Config.WebhookURL — GET ?hub.mode=subscribe&hub.challenge=C&
// hub.verify_token=T, answered 200 with C as the body — as Meta does
// when a callback URL is saved (Meta Graph API webhooks, "Getting
// started": https://developers.facebook.com/docs/graph-api/webhooks/getting-started).
// With Config.VerifyToken set, Meta statuses are held until it succeeds;
// the sandbox tries it at start and before each held delivery.
func (s *Server) VerifyWebhook(ctx context.Context) error {
	if s.cfg.WebhookURL == "" || s.cfg.VerifyToken == "" {
		return &ConfigError{Msg: "verifying a webhook needs a webhook URL and a verify token"}
	}
	buf := make([]byte, 8)
	_, _ = rand.Read(buf)
	challenge := hex.EncodeToString(buf)
	u, err := url.Parse(s.cfg.WebhookURL)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("hub.mode", "subscribe")
	q.Set("hub.challenge", challenge)
	q.Set("hub.verify_token", s.cfg.VerifyToken)
	u.RawQuery = q.Encode()
	wh := Webhook{Provider: Meta, Method: http.MethodGet, URL: redactURL(s.cfg.WebhookURL), Time: time.Now()}
	err = func() error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "prep-sandbox")
		resp, err := s.client.Do(req)
		if err != nil {
			return fmt.Errorf("the receiver could not be reached")
		}
		defer resp.Body.Close()
		wh.Status = resp.StatusCode
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("the receiver answered %d", resp.StatusCode)
		}
		if strings.TrimSpace(string(body)) != challenge {
			return fmt.Errorf("the receiver did not answer with the challenge")
		}
		return nil
	}()
	if err != nil {
		wh.Error = err.Error()
	}
	s.mu.Lock()
	s.webhooks = append(s.webhooks, wh)
	if err == nil {
		s.verified = true
	}
	s.mu.Unlock()
	s.logf("meta webhook verification → %s: %d %s", redactURL(s.cfg.WebhookURL), wh.Status, wh.Error)
	return err
}

// DropWebhooks drops the next n webhook or report POSTs (they are not
// sent, and retried after backoff like an unanswered delivery).
func (s *Server) DropWebhooks(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNext += n
}

// SetD360Webhook sets 360dialog's webhook as POST /v1/configs/webhook
// does: statuses of 360dialog messages go to url with these headers
// added. An empty url removes it.
func (s *Server) SetD360Webhook(url string, headers map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := make(map[string]string, len(headers))
	for k, v := range headers {
		h[k] = v
	}
	s.d360 = d360Hook{url: url, headers: h}
}

// d360Config serves 360dialog's POST /v1/configs/webhook (body {"url":
// "...", "headers": {"Name": "value"}}) and GET (the URL set). The
// sandbox accepts only loopback URLs (it never calls out); unlike
// 360dialog it accepts a port, which a loopback URL needs.
func (s *Server) d360Config(c *call) {
	switch c.r.Method {
	case http.MethodGet:
		s.mu.Lock()
		u := s.d360.url
		s.mu.Unlock()
		writeJSON(c.w, http.StatusOK, map[string]any{"url": u})
	case http.MethodPost:
		var body struct {
			URL     *string           `json:"url"`
			Headers map[string]string `json:"headers"`
		}
		if err := json.Unmarshal(c.body, &body); err != nil || body.URL == nil {
			writeGraph(c.w, graphError{code: 100, details: `the body is {"url": "https://…", "headers": {"Name": "value"}}`})
			return
		}
		u := *body.URL
		if u != "" {
			pu, err := url.Parse(u)
			if err := checkHTTPURL(u); err != nil {
				writeGraph(c.w, graphError{code: 100, details: "url " + err.Error()})
				return
			}
			if err != nil || !isLoopbackHost(pu.Hostname()) {
				writeGraph(c.w, graphError{code: 100, details: "sandbox: webhooks go to loopback hosts only (127.0.0.1, ::1, localhost)"})
				return
			}
		}
		for k := range body.Headers {
			if k == "" || strings.ContainsAny(k, " :\r\n") {
				writeGraph(c.w, graphError{code: 100, details: fmt.Sprintf("header name %q is not valid", k)})
				return
			}
		}
		s.SetD360Webhook(u, body.Headers)
		writeJSON(c.w, http.StatusOK, map[string]any{"url": u})
	default:
		unsupported(c, []string{"", "webhook"})
	}
}

// redactURL drops a URL's query and user info (they may carry secrets).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
