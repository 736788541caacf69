package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
)

// maxHostedFile bounds what POST /_sandbox/files/{name} stores: enough for
// files just over rules.AudioMaxBytes, so clients can test the limit.
const maxHostedFile = 2 * rules.AudioMaxBytes

// inspectBytes tells what data really is (pkg/inspect).
func inspectBytes(ctx context.Context, data []byte, name string) (*inspect.Report, error) {
	return inspect.Reader(ctx, bytes.NewReader(data), int64(len(data)), name)
}

// isVoiceNote reports whether a report is what a voice note must be: mono
// Ogg Opus, one stream, complete (rules.Check), whatever its size.
func isVoiceNote(rep *inspect.Report) bool {
	if rep == nil || rep.Error != "" {
		return false
	}
	f := rep.Facts()
	f.VoiceMaxBytes, f.Size = rules.AudioMaxBytes, min(f.Size, rules.AudioMaxBytes) // the size is judged elsewhere
	return rules.Check(f).Voice
}

// checkHTTPURL accepts absolute http(s) URLs with a host.
func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid url")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("is not a valid url")
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("is not a valid url")
	}
	return nil
}

// isLoopbackHost reports whether host (no port) is a loopback name or IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var errNotLoopback = errors.New("the sandbox is offline and fetches media only from loopback hosts (127.0.0.1, ::1, localhost)")

// loopbackTransport is the transport for request-controlled URLs (media
// links, Infobip notifyUrl): isLoopbackHost judges the name, but a name
// under .localhost is resolved by DNS, and an environment proxy
// (HTTP_PROXY) would fetch it from anywhere. So no proxy, and every
// connection is checked where it is made: to a loopback address or not at
// all (redirects included, as they dial through here too).
func loopbackTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return errNotLoopback
			}
			return nil
		}}
	tr.DialContext = d.DialContext
	return tr
}

// fetchError says why a link could not be fetched.
type fetchError struct {
	status int // the host's HTTP status, 0 if it was not reached
	err    error
}

func (e *fetchError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("the media host answered HTTP %d", e.status)
	}
	return e.err.Error()
}

// fetch downloads a media link. Links to this sandbox's own
// /_sandbox/files/ are served from memory; other loopback hosts are fetched
// over HTTP; anything else is refused (errNotLoopback). At most
// rules.AudioMaxBytes+1 bytes are read, so callers can tell "too large".
func (s *Server) fetch(ctx context.Context, link string, selfHost string) ([]byte, string, error) {
	u, err := url.Parse(link)
	if err != nil || checkHTTPURL(link) != nil {
		return nil, "", &fetchError{err: errors.New("not a valid http(s) URL")}
	}
	if !isLoopbackHost(u.Hostname()) {
		return nil, "", errNotLoopback
	}
	if strings.HasPrefix(u.Path, "/_sandbox/files/") && (u.Host == selfHost || u.Host == strings.TrimPrefix(s.URL(), "http://")) {
		// The name as serveFiles reads it, so a link is judged by what a
		// GET of it serves.
		name := strings.TrimPrefix(u.Path, "/_sandbox/files/")
		if name == "" || strings.Contains(name, "/") {
			return nil, "", &fetchError{status: http.StatusNotFound}
		}
		name = cleanFileName(name)
		s.mu.Lock()
		f, ok := s.files[name]
		s.mu.Unlock()
		if !ok {
			return nil, "", &fetchError{status: http.StatusNotFound}
		}
		return f.data, f.ctype, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return nil, "", &fetchError{err: err}
	}
	resp, err := s.local.Do(req)
	if err != nil {
		return nil, "", &fetchError{err: errors.New("the media host could not be reached")}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", &fetchError{status: resp.StatusCode}
	}
	data, err := readAll(resp.Body, rules.AudioMaxBytes)
	if err == errTooLarge {
		return nil, resp.Header.Get("Content-Type"), errTooLarge
	}
	if err != nil {
		return nil, "", &fetchError{err: errors.New("the download broke off")}
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// keep stores media bytes under DataDir/<provider>/<sha256><ext>. Storage
// is by content: a batch that sends one recording to a thousand recipients
// by link keeps one file, not a thousand (writing a copy per message was
// most of the sandbox's CPU in 1,000-row batches). id names the message or
// media object only in errors.
func (s *Server) keep(p Provider, id, ext string, data []byte) (string, error) {
	dir := filepath.Join(s.dataDir, string(p))
	sum := sha256.Sum256(data)
	name := filepath.Join(dir, hex.EncodeToString(sum[:])+cleanFileName(ext))
	if st, err := os.Stat(name); err == nil && st.Size() == int64(len(data)) {
		return name, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Write under a unique temporary name and rename, so concurrent
	// requests with the same content never see a half-written file.
	tmp, err := os.CreateTemp(dir, ".keep-*")
	if err != nil {
		return "", err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", fmt.Errorf("keep media for %s: %w", id, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return name, nil
}

// cleanFileName keeps a file name safe to use as one path element.
func cleanFileName(name string) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_', r == '+':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.TrimLeft(b.String(), ".")
	if out == "" {
		out = "file"
	}
	if len(out) > 200 {
		out = out[:200]
	}
	return out
}

// serveFiles is the stand-in media host: POST/PUT store, GET/HEAD serve.
func (s *Server) serveFiles(w http.ResponseWriter, r *http.Request, name string) {
	if name == "" || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	name = cleanFileName(name)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.mu.Lock()
		f, ok := s.files[name]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if f.ctype != "" {
			w.Header().Set("Content-Type", f.ctype)
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
	case http.MethodPost, http.MethodPut:
		data, err := readAll(r.Body, maxHostedFile)
		if err != nil {
			http.Error(w, "sandbox: file too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		u := s.HostFile(name, r.Header.Get("Content-Type"), data)
		writeJSON(w, http.StatusCreated, map[string]any{"url": u, "bytes": len(data)})
	case http.MethodDelete:
		s.mu.Lock()
		delete(s.files, name)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// serveMessageMedia serves the media a message carried (the page plays it).
func (s *Server) serveMessageMedia(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	var file, mime string
	for _, m := range s.messages {
		if m.ID == id {
			file, mime = m.file, m.MIME
		}
	}
	s.mu.Unlock()
	if file == "" {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	if mime != "" {
		w.Header().Set("Content-Type", mime)
	}
	http.ServeContent(w, r, "", time.Time{}, f)
}

func (s *Server) serveMessagesJSON(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	msgs := s.Messages()
	if msgs == nil {
		msgs = []Message{}
	}
	writeJSON(w, http.StatusOK, msgs)
}
