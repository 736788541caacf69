package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/rules"
)

// maxBody bounds what one request may send: a 16 MB upload plus its
// multipart framing. Larger bodies are refused with the provider's error.
const maxBody = rules.AudioMaxBytes + 1<<20

// maxJSONBody bounds JSON request bodies.
const maxJSONBody = 1 << 20

func (s *Server) routes() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.learnBase(r)
		path := r.URL.Path
		switch {
		case path == "/" || path == "/index.html":
			s.servePage(w, r)
		case path == "/_sandbox/messages":
			s.serveMessagesJSON(w, r)
		case strings.HasPrefix(path, "/_sandbox/files/"):
			s.serveFiles(w, r, strings.TrimPrefix(path, "/_sandbox/files/"))
		case strings.HasPrefix(path, "/_sandbox/play/"):
			s.servePlay(w, r, strings.TrimPrefix(path, "/_sandbox/play/"))
		case strings.HasPrefix(path, "/_sandbox/media/"):
			s.serveMessageMedia(w, r, strings.TrimPrefix(path, "/_sandbox/media/"))
		case path == "/meta" || strings.HasPrefix(path, "/meta/"):
			s.serveProvider(Meta, w, r, s.handleMeta)
		case path == "/360dialog" || strings.HasPrefix(path, "/360dialog/"):
			s.serveProvider(D360, w, r, s.handleD360)
		case path == "/infobip" || strings.HasPrefix(path, "/infobip/"):
			s.serveProvider(Infobip, w, r, s.handleInfobip)
		default:
			http.NotFound(w, r)
		}
	})
}

// servePlay is POST /_sandbox/play/{message-id}: the recipient plays the
// voice note (Play). 200 {"id", "played": true}; 404 for an unknown id;
// 409 for a message that cannot be played.
func (s *Server) servePlay(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := s.Play(id); err != nil {
		var pe *PlayError
		code := http.StatusConflict
		if errors.As(err, &pe) && !pe.Found {
			code = http.StatusNotFound
		}
		writeJSON(w, code, map[string]any{"id": id, "played": false, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "played": true})
}

// learnBase records the base URL from the first request when the server
// was built with New and served by someone else (httptest).
func (s *Server) learnBase(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.baseURL == "" && r.Host != "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		s.baseURL = scheme + "://" + r.Host
	}
}

// call is one request to a provider API being answered.
type call struct {
	p       Provider
	r       *http.Request
	body    []byte
	tooBig  bool
	summary []byte // replaces the recorded body (multipart uploads)
	w       *recorder
}

// recorder buffers a handler's answer so that a Drop fault can process a
// request and still close the connection without answering.
type recorder struct {
	h      http.Header
	status int
	buf    bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.buf.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (s *Server) serveProvider(p Provider, w http.ResponseWriter, r *http.Request, h func(*call)) {
	c := &call{p: p, r: r, w: &recorder{h: http.Header{}}}
	body, err := readAll(r.Body, maxBody)
	if err == errTooLarge {
		c.tooBig = true
		// Drain (a bounded amount) so that the client, still sending, reads
		// the answer instead of a reset connection.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 4*maxBody))
	} else if err != nil {
		abort(w)
		return
	}
	c.body = body
	idx := s.record(p, r, body)

	f := s.nextFault(p)
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			s.setStatus(p, idx, 0, nil)
			return
		case <-s.ctx.Done():
			t.Stop()
		}
	}
	if f.DropBefore {
		s.setStatus(p, idx, 0, nil)
		s.logf("%s %s %s → dropped before processing (fault)", p, r.Method, r.URL.Path)
		abort(w)
		return
	}
	if f.Status != 0 {
		s.writeFault(c, f)
	} else {
		h(c)
	}
	if c.w.status == 0 {
		c.w.status = http.StatusOK
	}
	if f.Drop {
		s.setStatus(p, idx, 0, c.summary)
		s.logf("%s %s %s → processed (%d) then dropped (fault)", p, r.Method, r.URL.Path, c.w.status)
		abort(w)
		return
	}
	s.setStatus(p, idx, c.w.status, c.summary)
	s.logf("%s %s %s → %d", p, r.Method, r.URL.Path, c.w.status)
	for k, v := range c.w.h {
		w.Header()[k] = v
	}
	w.WriteHeader(c.w.status)
	_, _ = w.Write(c.w.buf.Bytes())
}

// abort closes the connection without an answer.
func abort(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// net/http's documented way to abort a response: the server closes the
	// connection (HTTP/1) or resets the stream (HTTP/2) and logs nothing.
	panic(http.ErrAbortHandler)
}

func (s *Server) record(p Provider, r *http.Request, body []byte) int {
	path := r.URL.Path
	if q := r.URL.Query(); len(q) > 0 {
		if q.Has("access_token") {
			q.Set("access_token", "[redacted]")
		}
		path += "?" + q.Encode()
	}
	req := Request{Method: r.Method, Path: path, Header: redact(r.Header), Time: time.Now()}
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/") && len(body) <= maxJSONBody {
		req.Body = bytes.Clone(body)
	}
	if strings.HasSuffix(r.URL.Path, "/v1/configs/webhook") {
		req.Body = redactHookConfig(body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[p] = append(s.requests[p], req)
	return len(s.requests[p]) - 1
}

func (s *Server) setStatus(p Provider, idx, status int, summary []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx < len(s.requests[p]) {
		s.requests[p][idx].Status = status
		if summary != nil {
			s.requests[p][idx].Body = summary
		}
	}
}

// redact returns a copy of h with credentials replaced.
func redact(h http.Header) http.Header {
	out := h.Clone()
	for k := range out {
		switch strings.ToLower(k) {
		case "authorization":
			for i, v := range out[k] {
				scheme, _, found := strings.Cut(v, " ")
				if found {
					out[k][i] = scheme + " [redacted]"
				} else {
					out[k][i] = "[redacted]"
				}
			}
		case "d360-api-key", "cookie", "x-api-key":
			for i := range out[k] {
				out[k][i] = "[redacted]"
			}
		}
	}
	return out
}

// nextFault pops a scripted fault of p, or rolls the random ones.
func (s *Server) nextFault(p Provider) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.scripted[p]; len(q) > 0 {
		f := q[0]
		s.scripted[p] = q[1:]
		return f
	}
	fs := s.faults[p]
	f := Fault{Latency: fs.Latency}
	x := rand.Float64()
	switch {
	case x < fs.DropRate:
		f.Drop = true
	case x < fs.DropRate+fs.TooManyRate:
		f.Status = http.StatusTooManyRequests
		f.RetryAfter = fs.RetryAfter
		if f.RetryAfter <= 0 {
			f.RetryAfter = time.Second
		}
	case x < fs.DropRate+fs.TooManyRate+fs.ErrorRate:
		f.Status = http.StatusInternalServerError
	}
	return f
}

// writeFault answers with the provider's error shape for a scripted or
// random fault.
func (s *Server) writeFault(c *call, f Fault) {
	if f.RetryAfter > 0 {
		secs := int((f.RetryAfter + time.Second - 1) / time.Second)
		c.w.Header().Set("Retry-After", itoa(secs))
	}
	switch c.p {
	case Infobip:
		writeInfobipError(c.w, f.Status, infobipFaultID(f.Status), "", nil)
	default:
		code := f.Code
		if code == 0 {
			code = genericGraphCode(f.Status)
		}
		sub := f.Subcode
		if sub == 0 && f.Code == 0 && f.Status == http.StatusNotFound {
			sub = 33
		}
		writeGraph(c.w, graphError{status: f.Status, code: code, subcode: sub, details: "sandbox: injected fault"})
	}
}

// sleepCtx waits d or until ctx ends; it reports whether it waited in full.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// redactHookConfig keeps a webhook registration's URL and header names,
// not the header values (a receiver's token).
func redactHookConfig(body []byte) []byte {
	var v struct {
		URL     any            `json:"url"`
		Headers map[string]any `json:"headers"`
	}
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	for k := range v.Headers {
		v.Headers[k] = "[redacted]"
	}
	out, _ := json.Marshal(v)
	return out
}
