package status

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// DefaultMaxBody bounds a webhook body. Meta batches up to 1000 statuses
// in one POST (about 0.5 MB with errors); public clients quote "a few MB"
// as Meta's largest payloads, and piusalfred/whatsapp caps at 4 MiB.
const DefaultMaxBody = 4 << 20

// TokenHeader is the header prep registers with 360dialog (POST
// /v1/configs/webhook takes headers to add to every delivery) to
// authenticate its deliveries: 360dialog does not forward Meta's
// signature.
const TokenHeader = "X-Prep-Webhook-Token"

// SignatureHeader is Meta's signature header: "sha256=" and the hex
// HMAC-SHA256 of the raw body with the app secret.
const SignatureHeader = "X-Hub-Signature-256"

// Config says which providers a Receiver takes, with what secrets. A
// provider without its secret is not served (404). Secrets are never
// logged or echoed.
type Config struct {
	// MetaVerifyToken is answered in Meta's hub.challenge handshake;
	// MetaAppSecret signs Meta's bodies.
	MetaVerifyToken string
	MetaAppSecret   string
	// D360Token is expected in TokenHeader on 360dialog's deliveries.
	D360Token string
	// InfobipToken is the secret last segment of Infobip's notifyUrl path.
	InfobipToken string
	// MaxBody bounds a body (DefaultMaxBody when 0).
	MaxBody int64
	// OnStored, when set, is called once a body is stored, with its events
	// (duplicates included) and, when it was kept whole, raw (for logs).
	OnStored func(p Provider, events []Event, raw *Raw)
	// OnReject, when set, is called for every request answered non-200,
	// with the reason (never a secret).
	OnReject func(p Provider, code int, reason string)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Receiver verifies, parses and stores the providers' status webhooks. It
// is an http.Handler that routes
//
//	GET/POST /webhooks/meta
//	POST     /webhooks/360dialog
//	POST     /webhooks/infobip/{token}
//
// and Meta, D360 and Infobip give each provider's handler to mount
// elsewhere. A body is answered 200 only once stored; 401/403 when it is
// not authentic, 413 when it is too large, 503 when it could not be stored
// (the provider retries it).
type Receiver struct {
	sink Sink
	cfg  Config
	mux  *http.ServeMux
}

// NewReceiver returns a Receiver that hands what it receives to sink.
func NewReceiver(sink Sink, cfg Config) *Receiver {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Receiver{sink: sink, cfg: cfg, mux: http.NewServeMux()}
	r.mux.Handle("/webhooks/meta", r.Meta())
	r.mux.Handle("/webhooks/360dialog", r.D360())
	r.mux.Handle("/webhooks/infobip/{token}", r.Infobip())
	return r
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.mux.ServeHTTP(w, req) }

// Meta is the handler of Meta's webhooks: the GET handshake (Meta,
// "Getting Started with Webhooks",
// https://developers.facebook.com/docs/graph-api/webhooks/getting-started:
// answer hub.challenge when hub.verify_token matches) and signed POSTs.
func (r *Receiver) Meta() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.Method {
		case http.MethodGet:
			r.verify(w, req)
		case http.MethodPost:
			if r.cfg.MetaAppSecret == "" {
				r.reject(w, Meta, http.StatusNotFound, "meta webhooks are not configured (no app secret)")
				return
			}
			body, ok := r.read(w, req, Meta)
			if !ok {
				return
			}
			if code, why := checkSignature(req.Header.Get(SignatureHeader), body, r.cfg.MetaAppSecret); code != 0 {
				r.reject(w, Meta, code, why)
				return
			}
			r.take(w, req, Meta, body)
		default:
			w.Header().Set("Allow", "GET, POST")
			r.reject(w, Meta, http.StatusMethodNotAllowed, "method "+req.Method)
		}
	})
}

// verify answers Meta's subscription handshake.
func (r *Receiver) verify(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	if r.cfg.MetaVerifyToken == "" {
		r.reject(w, Meta, http.StatusForbidden, "verification refused: no verify token configured")
		return
	}
	if q.Get("hub.mode") != "subscribe" || !equal(q.Get("hub.verify_token"), r.cfg.MetaVerifyToken) {
		r.reject(w, Meta, http.StatusForbidden, "verification refused: wrong mode or verify token")
		return
	}
	ch := q.Get("hub.challenge")
	if ch == "" || len(ch) > 1024 {
		r.reject(w, Meta, http.StatusBadRequest, "verification without a usable hub.challenge")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	io.WriteString(w, ch)
}

// checkSignature verifies Meta's X-Hub-Signature-256 on the body as
// received, in constant time. It returns 0 when it holds, else the status
// to answer and why.
func checkSignature(header string, body []byte, secret string) (int, string) {
	if header == "" {
		return http.StatusUnauthorized, "missing " + SignatureHeader
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return http.StatusUnauthorized, SignatureHeader + " is not sha256=HEX"
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return http.StatusUnauthorized, SignatureHeader + " is not sha256=HEX"
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return http.StatusForbidden, "bad signature (" + SignatureHeader + " does not match the body)"
	}
	return 0, ""
}

// D360 is the handler of 360dialog's deliveries: Meta's envelope,
// authenticated by TokenHeader.
func (r *Receiver) D360() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			r.reject(w, D360, http.StatusMethodNotAllowed, "method "+req.Method)
			return
		}
		if r.cfg.D360Token == "" {
			r.reject(w, D360, http.StatusNotFound, "360dialog webhooks are not configured (no token)")
			return
		}
		tok := req.Header.Get(TokenHeader)
		if tok == "" {
			r.reject(w, D360, http.StatusUnauthorized, "missing "+TokenHeader)
			return
		}
		if !equal(tok, r.cfg.D360Token) {
			r.reject(w, D360, http.StatusForbidden, "wrong "+TokenHeader)
			return
		}
		body, ok := r.read(w, req, D360)
		if !ok {
			return
		}
		r.take(w, req, D360, body)
	})
}

// Infobip is the handler of Infobip's delivery and seen reports. They are
// not signed, so the token is the last segment of the path
// (…/infobip/TOKEN), compared in constant time.
func (r *Receiver) Infobip() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			r.reject(w, Infobip, http.StatusMethodNotAllowed, "method "+req.Method)
			return
		}
		if r.cfg.InfobipToken == "" {
			r.reject(w, Infobip, http.StatusNotFound, "infobip webhooks are not configured (no token)")
			return
		}
		tok := req.PathValue("token")
		if tok == "" {
			tok = req.URL.Path[strings.LastIndexByte(req.URL.Path, '/')+1:]
		}
		if !equal(tok, r.cfg.InfobipToken) {
			// 404: the path is the secret; do not confirm it exists.
			r.reject(w, Infobip, http.StatusNotFound, "wrong token in the path")
			return
		}
		body, ok := r.read(w, req, Infobip)
		if !ok {
			return
		}
		r.take(w, req, Infobip, body)
	})
}

// read reads the whole body, bounded.
func (r *Receiver) read(w http.ResponseWriter, req *http.Request, p Provider) ([]byte, bool) {
	rd := http.MaxBytesReader(w, req.Body, r.cfg.MaxBody)
	var buf bytes.Buffer
	if n := req.ContentLength; n > 0 && n <= r.cfg.MaxBody {
		buf.Grow(int(n) + 1)
	}
	if _, err := buf.ReadFrom(rd); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			r.reject(w, p, http.StatusRequestEntityTooLarge, "body over the size limit")
		} else {
			r.reject(w, p, http.StatusBadRequest, "body could not be read")
		}
		return nil, false
	}
	return buf.Bytes(), true
}

// take parses an authentic body, stores it, and answers.
func (r *Receiver) take(w http.ResponseWriter, req *http.Request, p Provider, body []byte) {
	now := r.cfg.Now().UTC()
	var evs []Event
	var err error
	if p == Infobip {
		evs, err = ParseInfobip(body, now)
	} else {
		evs, err = ParseMeta(p, body, now)
	}
	var raw *Raw
	if err != nil {
		raw = NewRaw(p, now, err.Error(), body)
	}
	if serr := r.sink.Append(req.Context(), evs, raw); serr != nil {
		r.reject(w, p, http.StatusServiceUnavailable, "could not be stored: "+serr.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.cfg.OnStored != nil {
		r.cfg.OnStored(p, evs, raw)
	}
}

func (r *Receiver) reject(w http.ResponseWriter, p Provider, code int, why string) {
	if r.cfg.OnReject != nil {
		r.cfg.OnReject(p, code, why)
	}
	http.Error(w, http.StatusText(code), code)
}

// equal compares a presented secret with the configured one in constant
// time (for equal lengths; a length mismatch is refused at once).
func equal(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
