package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Status names of the trail. They are Meta's webhook statuses; "played"
// is sent for voice notes (360dialog seed 002: since 2026-03-17) although
// Meta's v23.0 spec (components/schemas/Statuses) does not list it.
const (
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusPlayed    = "played"
	StatusFailed    = "failed"
)

// progress walks a message through its status trail in the background,
// one step every StatusDelay, posting each step's webhook before the next
// so receivers see them in order.
//
// The trail is the message's own (msg, not its id): a client may reuse an
// id (Infobip's messageId, resent when in doubt), and each message must
// keep its own trail.
func (s *Server) progress(msg *Message, fail int, details string) {
	s.goBackground(func(ctx context.Context) {
		s.mu.Lock()
		m := msg.clone()
		s.mu.Unlock()
		steps := []string{StatusSent, StatusDelivered, StatusRead}
		if m.Voice && m.Provider != Infobip {
			// Infobip's reports have no "played" (delivery and seen only).
			steps = append(steps, StatusPlayed)
		}
		if fail != 0 {
			steps = []string{StatusFailed}
		}
		for _, st := range steps {
			if !sleepCtx(ctx, s.cfg.StatusDelay) {
				return
			}
			now := time.Now()
			code := 0
			if st == StatusFailed {
				code = fail
				if details == "" {
					details = graphDetails[fail]
				}
			}
			s.mu.Lock()
			msg.Statuses = append(msg.Statuses, Status{Name: st, Code: code, Time: now})
			if code != 0 {
				msg.Failure = details
			}
			m = msg.clone()
			s.mu.Unlock()
			if m.Provider == Infobip {
				s.infobipReport(ctx, m, st, fail, details, now)
			} else {
				s.graphWebhook(ctx, m, st, fail, details, now)
			}
		}
	})
}

// graphWebhook posts Meta's status webhook (spec components/schemas
// WebhookPayload → Entry → Change → StatusMessageValue → Statuses).
func (s *Server) graphWebhook(ctx context.Context, m Message, status string, fail int, details string, at time.Time) {
	if s.cfg.WebhookURL == "" {
		return
	}
	st := map[string]any{
		"id":           m.ID,
		"status":       status,
		"timestamp":    strconv.FormatInt(at.Unix(), 10),
		"recipient_id": m.To,
	}
	if status == StatusSent || status == StatusDelivered {
		st["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "category": "service"}
	}
	if status == StatusFailed {
		if details == "" {
			details = graphDetails[fail]
		}
		st["errors"] = []map[string]any{{
			"code":       fail,
			"title":      graphTitle(fail),
			"message":    graphTitle(fail),
			"error_data": map[string]any{"details": details},
			"href":       "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
		}}
	}
	body, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []map[string]any{{
			"id": wabaID,
			"changes": []map[string]any{{
				"field": "messages",
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]any{"display_phone_number": displayPhone, "phone_number_id": m.From},
					"statuses":          []any{st},
				},
			}},
		}},
	})
	s.post(ctx, s.client, m.Provider, s.cfg.WebhookURL, body, true)
}

// Signature returns the X-Hub-Signature-256 value Meta sends with a
// webhook body: "sha256=" + hex(HMAC-SHA256(body, appSecret)).
func Signature(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// post delivers one webhook with client and records it.
func (s *Server) post(ctx context.Context, client *http.Client, p Provider, target string, body []byte, sign bool) {
	wh := Webhook{Provider: p, URL: target, Body: body, Time: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "prep-sandbox")
		if sign {
			req.Header.Set("X-Hub-Signature-256", Signature(s.cfg.AppSecret, body))
		}
		var resp *http.Response
		resp, err = client.Do(req)
		if err == nil {
			wh.Status = resp.StatusCode
			resp.Body.Close()
		}
	}
	if err != nil {
		wh.Error = "the receiver could not be reached"
	}
	s.mu.Lock()
	s.webhooks = append(s.webhooks, wh)
	s.mu.Unlock()
	s.logf("%s webhook → %s: %d %s", p, redactURL(target), wh.Status, wh.Error)
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
