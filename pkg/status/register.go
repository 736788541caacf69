package status

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Default360BaseURL is 360dialog's Cloud API base URL.
const Default360BaseURL = "https://waba-v2.360dialog.io"

// Register360 sets the webhook URL of a 360dialog number with POST
// {base}/v1/configs/webhook, authenticated by the D360-API-KEY header,
// body {"url": webhookURL, "headers": {TokenHeader: token}}: 360dialog adds
// the headers to every delivery, which is how the Receiver knows them
// (360dialog, "Receiving messages" and "Webhook Configuration &
// Management",
// https://docs.360dialog.com/partner/messaging/receiving-messages-via-webhook).
// 360dialog's pages ask for URLs without "_" and without a port; check
// with Check360URL. hc nil means a client with a 30 s timeout that follows
// no redirect (the API key must not reach another host).
func Register360(ctx context.Context, hc *http.Client, base, apiKey, webhookURL, token string) error {
	fail := func(err error) error {
		return &Error{Kind: ErrRegister, Op: "360dialog webhook registration", Err: err}
	}
	if apiKey == "" || token == "" {
		return &Error{Kind: ErrInvalid, Op: "360dialog webhook registration", Err: fmt.Errorf("an API key and a webhook token are required")}
	}
	if base == "" {
		base = Default360BaseURL
	}
	bu, err := url.Parse(base)
	if err != nil || (bu.Scheme != "https" && bu.Scheme != "http") || bu.Host == "" {
		return &Error{Kind: ErrInvalid, Op: "360dialog webhook registration", Err: fmt.Errorf("base URL %q is not an http(s) URL", redact(base))}
	}
	if u, err := url.Parse(webhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &Error{Kind: ErrInvalid, Op: "360dialog webhook registration", Err: fmt.Errorf("webhook URL %q is not an http(s) URL", redact(webhookURL))}
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	body, _ := json.Marshal(map[string]any{"url": webhookURL, "headers": map[string]string{TokenHeader: token}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/v1/configs/webhook", bytes.NewReader(body))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("D360-API-KEY", apiKey)
	resp, err := hc.Do(req)
	if err != nil {
		// The transport error may name the URL, never the key.
		return fail(fmt.Errorf("no answer from %s", redact(base)))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(b))
		msg = strings.ReplaceAll(msg, apiKey, "[redacted]")
		msg = strings.ReplaceAll(msg, token, "[redacted]")
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return fail(fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg))
	}
	return nil
}

// Check360URL lists what 360dialog's pages say a webhook URL must not
// have: an underscore, a port. (Loopback test URLs have ports; the
// sandbox takes them.)
func Check360URL(webhookURL string) []string {
	u, err := url.Parse(webhookURL)
	if err != nil {
		return []string{"not a URL"}
	}
	var out []string
	if u.Scheme != "https" {
		out = append(out, "not https")
	}
	if u.Port() != "" {
		out = append(out, "has a port ("+u.Port()+")")
	}
	if strings.Contains(u.Host+u.Path, "_") {
		out = append(out, "has an underscore")
	}
	return out
}

// redact drops a URL's query and user info (they may carry secrets).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
