package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookReceiver is a loopback webhook endpoint that checks
// X-Hub-Signature-256 the way Meta tells receivers to.
type hookReceiver struct {
	mu     sync.Mutex
	secret string
	bodies [][]byte
	bad    int
	srv    *httptest.Server
}

func newHookReceiver(t *testing.T, secret string) *hookReceiver {
	h := &hookReceiver{secret: secret}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(h.secret))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		h.mu.Lock()
		defer h.mu.Unlock()
		if !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(want)) {
			h.bad++
			w.WriteHeader(http.StatusForbidden)
			return
		}
		h.bodies = append(h.bodies, body)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// statusesOf returns (message id, status, error code) per webhook body.
func statusesOf(t *testing.T, body []byte) (string, string, int) {
	t.Helper()
	var p struct {
		Object string
		Entry  []struct {
			Changes []struct {
				Field string
				Value struct {
					Statuses []struct {
						ID, Status, Timestamp string
						RecipientID           string `json:"recipient_id"`
						Errors                []struct{ Code int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Object != "whatsapp_business_account" || len(p.Entry) != 1 ||
		len(p.Entry[0].Changes) != 1 || p.Entry[0].Changes[0].Field != "messages" || len(p.Entry[0].Changes[0].Value.Statuses) != 1 {
		t.Fatalf("webhook body %s", body)
	}
	st := p.Entry[0].Changes[0].Value.Statuses[0]
	code := 0
	if len(st.Errors) > 0 {
		code = st.Errors[0].Code
	}
	return st.ID, st.Status, code
}

func TestStatusWebhooks(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	stereo := sample(t, sampleStereo, "audio/ogg")
	doc := loadMeta(t)
	schema := componentSchema(t, doc, "WebhookPayload")
	recv := newHookReceiver(t, "s3cret")
	s := start(t, Config{AppSecret: "s3cret", WebhookURL: recv.srv.URL + "/hook", StatusDelay: 10 * time.Millisecond})

	ok := sendLink(t, s, s.MetaURL()+"/v23.0/1065403522/messages", "15550000001", "v.ogg", "audio/ogg", voice, true)
	okID := ok.json["messages"].([]any)[0].(map[string]any)["id"].(string)
	bad := sendLink(t, s, s.MetaURL()+"/v23.0/1065403522/messages", "15550000002", "s.ogg", "audio/ogg", stereo, true)
	badID := bad.json["messages"].([]any)[0].(map[string]any)["id"].(string)

	deadline := time.Now().Add(10 * time.Second)
	for {
		recv.mu.Lock()
		n := len(recv.bodies)
		recv.mu.Unlock()
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d webhooks arrived", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // nothing more may follow
	recv.mu.Lock()
	bodies, badSigs := recv.bodies, recv.bad
	recv.mu.Unlock()
	if badSigs != 0 {
		t.Fatalf("%d webhooks with a bad signature", badSigs)
	}
	trail := map[string][]string{}
	for _, b := range bodies {
		id, st, code := statusesOf(t, b)
		trail[id] = append(trail[id], st)
		if st == StatusPlayed {
			// Meta's v23.0 spec lists sent, delivered, read and failed only;
			// "played" (voice notes, seed 002) is checked with the rest of
			// the payload against the spec by standing in as "read".
			conform(t, schema, []byte(strings.Replace(string(b), `"status":"played"`, `"status":"read"`, 1)), false, "played webhook")
		} else {
			conform(t, schema, b, false, st+" webhook")
		}
		if id == badID && code != 131053 {
			t.Fatalf("failed webhook code %d: %s", code, b)
		}
	}
	if got := strings.Join(trail[okID], ","); got != "sent,delivered,read,played" {
		t.Fatalf("voice note trail %s", got)
	}
	if got := strings.Join(trail[badID], ","); got != "failed" {
		t.Fatalf("voice flag on stereo: trail %s", got)
	}
	for _, w := range s.Webhooks() {
		if w.Status != 200 || w.Provider != Meta {
			t.Fatalf("webhook record %+v", w)
		}
	}
}

func TestWebhookSignatureNeedsTheSecret(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	recv := newHookReceiver(t, "the-receivers-secret")
	s := start(t, Config{AppSecret: "another-secret", WebhookURL: recv.srv.URL})
	sendLink(t, s, s.MetaURL()+"/v23.0/1/messages", "15550000001", "v.ogg", "audio/ogg", voice, false)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ws := s.Webhooks(); len(ws) >= 1 {
			if ws[0].Status != http.StatusForbidden {
				t.Fatalf("a webhook signed with another secret was accepted: %+v", ws[0])
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no webhook sent")
}

func TestSignature(t *testing.T) {
	// Independent value: printf '{"a":1}' | openssl dgst -sha256 -hmac key
	const want = "sha256=88a67f24bbcdaed0e6c997404bb79a743baf44c6bab2f4c27328e3009d22e342"
	if got := Signature("key", []byte(`{"a":1}`)); got != want {
		t.Fatalf("Signature = %s, want %s", got, want)
	}
}
