package sandbox

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// hook is one request a test receiver got.
type hook struct {
	method string
	header http.Header
	query  string
	body   []byte
}

// receiver is a loopback webhook endpoint that records every request and
// answers with answer (200 when nil). With secret set it checks
// X-Hub-Signature-256 over the raw bytes the way Meta tells receivers to
// and answers 403 to a bad one.
type receiver struct {
	mu     sync.Mutex
	secret string
	answer func(n int, r *http.Request) int // n counts POSTs from 1
	hooks  []hook
	posts  int
	bad    int
	srv    *httptest.Server
}

func newReceiver(t *testing.T, secret string, answer func(n int, r *http.Request) int) *receiver {
	h := &receiver{secret: secret, answer: answer}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.hooks = append(h.hooks, hook{method: r.Method, header: r.Header.Clone(), query: r.URL.RawQuery, body: body})
		if r.Method == http.MethodGet {
			q := r.URL.Query()
			if q.Get("hub.mode") == "subscribe" && q.Get("hub.verify_token") == "right-token" {
				_, _ = io.WriteString(w, q.Get("hub.challenge"))
				return
			}
			w.WriteHeader(http.StatusForbidden)
			return
		}
		h.posts++
		if h.secret != "" && !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(Signature(h.secret, body))) {
			h.bad++
			w.WriteHeader(http.StatusForbidden)
			return
		}
		code := http.StatusOK
		if h.answer != nil {
			code = h.answer(h.posts, r)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// accepted returns the POST bodies answered 2xx so far... as recorded: the
// receiver answers from answer, so tests that need "accepted" use
// s.Webhooks(); this returns every POST body in arrival order.
func (h *receiver) bodies() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][]byte
	for _, k := range h.hooks {
		if k.method == http.MethodPost {
			out = append(out, k.body)
		}
	}
	return out
}

func (h *receiver) requests() []hook {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.hooks)
}

// waitFor waits until cond holds (10 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// graphStatusItem is one status as a receiver decodes it.
type graphStatusItem struct {
	ID, Status, Timestamp string
	RecipientID           string `json:"recipient_id"`
	Callback              string `json:"biz_opaque_callback_data"`
	Errors                []struct {
		Code      int
		Title     string
		ErrorData struct{ Details string } `json:"error_data"`
	}
}

// graphStatuses decodes every status of a Cloud API webhook body, across
// all its entries and changes, and reports how many entries and changes
// it had.
func graphStatuses(t *testing.T, body []byte) (sts []graphStatusItem, entries, changes int) {
	t.Helper()
	var p struct {
		Object string
		Entry  []struct {
			ID      string
			Changes []struct {
				Field string
				Value struct {
					MessagingProduct string `json:"messaging_product"`
					Metadata         struct {
						PhoneNumberID string `json:"phone_number_id"`
					}
					Statuses []graphStatusItem
				}
			}
		}
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Object != "whatsapp_business_account" || len(p.Entry) == 0 {
		t.Fatalf("webhook body %s", body)
	}
	for _, e := range p.Entry {
		entries++
		for _, c := range e.Changes {
			changes++
			if c.Field != "messages" || c.Value.MessagingProduct != "whatsapp" || c.Value.Metadata.PhoneNumberID == "" || len(c.Value.Statuses) == 0 {
				t.Fatalf("change of %s", body)
			}
			sts = append(sts, c.Value.Statuses...)
		}
	}
	return sts, entries, changes
}

// trails returns, per message id, the statuses in the order the receiver
// got them (every POST, duplicates included).
func trails(t *testing.T, bodies [][]byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, b := range bodies {
		sts, _, _ := graphStatuses(t, b)
		for _, st := range sts {
			out[st.ID] = append(out[st.ID], st.Status)
		}
	}
	return out
}

func sendVoice(t *testing.T, s *Server, to string, data []byte, voice bool, callback string) string {
	t.Helper()
	body := map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "audio",
		"audio": map[string]any{"link": s.HostFile("v.ogg", "audio/ogg", data), "voice": voice}}
	if callback != "" {
		body["biz_opaque_callback_data"] = callback
	}
	a := postJSON(t, s.MetaURL()+"/v23.0/1065403522/messages", metaAuth(), body)
	if a.status != 200 {
		t.Fatalf("send: %d %s", a.status, a.body)
	}
	return a.json["messages"].([]any)[0].(map[string]any)["id"].(string)
}

func TestStatusWebhooks(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	stereo := sample(t, sampleStereo, "audio/ogg")
	schema := componentSchema(t, loadMeta(t), "WebhookPayload")
	recv := newReceiver(t, "s3cret", nil)
	s := start(t, Config{AppSecret: "s3cret", WebhookURL: recv.srv.URL + "/hook", StatusDelay: 10 * time.Millisecond})

	okID := sendVoice(t, s, "15550000001", voice, true, "row-1")
	badID := sendVoice(t, s, "15550000002", stereo, true, "row-2")
	waitStatuses(t, s, okID, 3)
	// The webhooks go out after the statuses are recorded: wait for the
	// three to arrive, then nothing more may follow by itself (played
	// needs a play).
	waitFor(t, "3 webhooks of the voice note", func() bool { return len(trails(t, recv.bodies())[okID]) >= 3 })
	time.Sleep(100 * time.Millisecond)
	if got := strings.Join(trails(t, recv.bodies())[okID], ","); got != "sent,delivered,read" {
		t.Fatalf("before play: %s", got)
	}
	if err := s.Play(okID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "5 webhooks", func() bool { return len(recv.bodies()) >= 5 })
	time.Sleep(50 * time.Millisecond)
	bodies := recv.bodies()
	if recv.bad != 0 || len(bodies) != 5 {
		t.Fatalf("%d webhooks, %d with a bad signature", len(bodies), recv.bad)
	}
	for _, b := range bodies {
		sts, _, _ := graphStatuses(t, b)
		st := sts[0]
		if st.Status == StatusPlayed {
			// Meta's v23.0 spec lists sent, delivered, read and failed only;
			// "played" is checked with the rest of the payload by standing
			// in as "read".
			conform(t, schema, bytes.Replace(b, []byte(`"status":"played"`), []byte(`"status":"read"`), 1), false, "played webhook")
		} else {
			conform(t, schema, b, false, st.Status+" webhook")
		}
		want := map[string]string{okID: "row-1", badID: "row-2"}[st.ID]
		if st.Callback != want {
			t.Fatalf("biz_opaque_callback_data %q, want %q: %s", st.Callback, want, b)
		}
		if st.ID == badID && (len(st.Errors) != 1 || st.Errors[0].Code != 131053 || st.Errors[0].ErrorData.Details == "") {
			t.Fatalf("failed webhook %s", b)
		}
	}
	tr := trails(t, bodies)
	if got := strings.Join(tr[okID], ","); got != "sent,delivered,read,played" {
		t.Fatalf("voice note trail %s", got)
	}
	if got := strings.Join(tr[badID], ","); got != "failed" {
		t.Fatalf("voice flag on stereo: trail %s", got)
	}
	for _, w := range s.Webhooks() {
		if w.Status != 200 || w.Provider != Meta || w.Method != http.MethodPost || w.Attempt != 1 || w.Statuses != 1 {
			t.Fatalf("webhook record %+v", w)
		}
	}
}

func TestWebhookSignatureNeedsTheSecret(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	recv := newReceiver(t, "the-receivers-secret", nil)
	s := start(t, Config{AppSecret: "another-secret", WebhookURL: recv.srv.URL, Delivery: Delivery{Retries: -1}})
	sendVoice(t, s, "15550000001", voice, false, "")
	waitFor(t, "a webhook", func() bool { return len(s.Webhooks()) >= 1 })
	if w := s.Webhooks()[0]; w.Status != http.StatusForbidden || !strings.Contains(w.Error, "gave up") {
		t.Fatalf("a webhook signed with another secret: %+v", w)
	}
}

func TestSignature(t *testing.T) {
	// Independent value: printf '{"a":1}' | openssl dgst -sha256 -hmac key
	const want = "sha256=88a67f24bbcdaed0e6c997404bb79a743baf44c6bab2f4c27328e3009d22e342"
	if got := Signature("key", []byte(`{"a":1}`)); got != want {
		t.Fatalf("Signature = %s, want %s", got, want)
	}
}

// Meta signs its payload with every non-ASCII character escaped as
// \uXXXX: the receiver must verify the bytes it got, and a re-serialized
// body does not verify.
func TestWebhookEscapesNonASCIILikeMeta(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	recv := newReceiver(t, "s3cret", nil)
	s := start(t, Config{AppSecret: "s3cret", WebhookURL: recv.srv.URL})
	const cb = "café ☕ 😀 <&>"
	sendVoice(t, s, "15550000001", voice, false, cb)
	waitFor(t, "a webhook", func() bool { return len(recv.bodies()) >= 1 })
	b := recv.bodies()[0]
	for _, want := range []string{`caf\u00e9`, `\u2615`, `\ud83d\ude00`, `<&>`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Fatalf("body lacks %s: %s", want, b)
		}
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			t.Fatalf("raw non-ASCII byte in %s", b)
		}
	}
	if recv.bad != 0 {
		t.Fatal("the signature over the escaped bytes does not verify")
	}
	sts, _, _ := graphStatuses(t, b)
	if sts[0].Callback != cb {
		t.Fatalf("callback data decodes to %q", sts[0].Callback)
	}
	var v any
	_ = json.Unmarshal(b, &v)
	again, _ := json.Marshal(v)
	if hmac.Equal([]byte(Signature("s3cret", again)), []byte(Signature("s3cret", b))) {
		t.Fatal("a re-serialized body verifies: the test proves nothing")
	}
}

func TestWebhookBatches(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	recv := newReceiver(t, "sandbox", nil)
	s := start(t, Config{WebhookURL: recv.srv.URL, StatusDelay: 30 * time.Millisecond,
		Delivery: Delivery{Batch: 100, BatchWindow: 200 * time.Millisecond}})
	var ids []string
	for i := range 4 {
		ids = append(ids, sendVoice(t, s, "1555000000"+string(rune('1'+i)), voice, false, ""))
	}
	// Another business phone number: its statuses get an entry of their own.
	other := postJSON(t, s.MetaURL()+"/v23.0/2000000001/messages", metaAuth(), map[string]any{"messaging_product": "whatsapp",
		"to": "15550000009", "type": "audio", "audio": map[string]any{"link": s.HostFile("v.ogg", "audio/ogg", voice)}})
	ids = append(ids, other.json["messages"].([]any)[0].(map[string]any)["id"].(string))
	total := func() int {
		n := 0
		for _, b := range recv.bodies() {
			sts, _, _ := graphStatuses(t, b)
			n += len(sts)
		}
		return n
	}
	waitFor(t, "15 statuses", func() bool { return total() >= 15 })
	bodies := recv.bodies()
	if len(bodies) >= 15 {
		t.Fatalf("%d POSTs for 15 statuses: not batched", len(bodies))
	}
	sawEntries, sawChanges := false, false
	for _, b := range bodies {
		_, e, c := graphStatuses(t, b)
		sawEntries = sawEntries || e > 1
		sawChanges = sawChanges || c > e
	}
	if !sawEntries || !sawChanges {
		t.Fatalf("no body with several entries (%v) or several changes in an entry (%v)", sawEntries, sawChanges)
	}
	tr := trails(t, bodies)
	for _, id := range ids {
		if got := strings.Join(tr[id], ","); got != "sent,delivered,read" {
			t.Fatalf("%s: %s", id, got)
		}
	}
	if recv.bad != 0 {
		t.Fatal("a batched body does not verify")
	}
}

func TestWebhookOrders(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	tests := []struct {
		name string
		r    Recipient
		play bool
		want string
	}{
		{"in order", Recipient{}, true, "sent,delivered,read,played"},
		{"read before delivered", Recipient{Order: ReadBeforeDelivered}, false, "sent,read,delivered"},
		{"delivered skipped", Recipient{Order: SkipDelivered}, true, "sent,read,played"},
		{"failed after delivered", Recipient{Order: FailedAfterDelivered}, false, "sent,delivered,failed,read"},
		{"duplicates", Recipient{Duplicate: true}, false, "sent,delivered,read"}, // each twice
		{"fail 131053", Recipient{Fail: 131053}, false, "failed"},
		{"fail 131047", Recipient{Fail: 131047}, false, "failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recv := newReceiver(t, "sandbox", nil)
			s := start(t, Config{WebhookURL: recv.srv.URL, StatusDelay: 20 * time.Millisecond,
				Recipients: map[string]Recipient{"+1 555 000 0001": tc.r}})
			id := sendVoice(t, s, "15550000001", voice, true, "")
			n := strings.Count(tc.want, ",") + 1
			if tc.r.Duplicate {
				n *= 2
			}
			if tc.play {
				waitFor(t, "the trail's end", func() bool { m, _ := s.Message(id); return m.read })
				if err := s.Play(id); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, tc.want, func() bool { return len(trails(t, recv.bodies())[id]) >= n })
			time.Sleep(80 * time.Millisecond)
			bodies := recv.bodies()
			got := trails(t, bodies)[id]
			if tc.r.Duplicate {
				// The copies come later, among the next statuses.
				var first []string
				for _, st := range got {
					if !slices.Contains(first, st) {
						first = append(first, st)
					}
				}
				if len(got) != 2*len(first) {
					t.Fatalf("statuses arrived as %v: not each twice", got)
				}
				got = first
			}
			if strings.Join(got, ",") != tc.want {
				t.Fatalf("statuses arrived as %v, want %s", got, tc.want)
			}
			var times []string
			var failCode int
			for _, b := range bodies {
				sts, _, _ := graphStatuses(t, b)
				times = append(times, sts[0].Status+"@"+sts[0].Timestamp)
				if sts[0].Status == StatusFailed {
					failCode = sts[0].Errors[0].Code
				}
			}
			if want := map[string]int{"fail 131053": 131053, "fail 131047": 131047, "failed after delivered": 131026}[tc.name]; failCode != want {
				t.Fatalf("failed with %d, want %d", failCode, want)
			}
			if tc.r.Duplicate {
				seen := map[string]int{}
				for _, tm := range times {
					seen[tm]++
				}
				for tm, k := range seen {
					if k != 2 {
						t.Fatalf("%s came %d times (a duplicate keeps the status's time): %v", tm, k, times)
					}
				}
			}
		})
	}
}

// A receiver that answers non-200 gets the same body again, with backoff,
// until it answers 200; a POST the sandbox drops is retried; retries are
// bounded.
func TestWebhookRetries(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	t.Run("until 200", func(t *testing.T) {
		recv := newReceiver(t, "sandbox", func(n int, r *http.Request) int {
			if n <= 2 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		// The retries of "sent" all come before "delivered" is due.
		s := start(t, Config{WebhookURL: recv.srv.URL, StatusDelay: 400 * time.Millisecond, Delivery: Delivery{RetryBackoff: 20 * time.Millisecond}})
		id := sendVoice(t, s, "15550000001", voice, false, "")
		// The receiver has a body before it answers; the sandbox records
		// the attempt once the answer is in: wait for both.
		waitFor(t, "3 attempts", func() bool { return len(recv.bodies()) >= 3 && len(s.Webhooks()) >= 3 })
		b := recv.bodies()
		if !bytes.Equal(b[0], b[1]) || !bytes.Equal(b[1], b[2]) {
			t.Fatal("a retry is not the same body")
		}
		ws := s.Webhooks()
		if len(ws) < 3 || ws[0].Status != 503 || ws[1].Attempt != 2 || ws[2].Status != 200 || ws[2].Attempt != 3 {
			t.Fatalf("records %+v", ws)
		}
		if gap := ws[2].Time.Sub(ws[1].Time); gap < 35*time.Millisecond {
			t.Fatalf("no backoff: the third attempt came %v after the second", gap)
		}
		if sts, _, _ := graphStatuses(t, b[0]); sts[0].ID != id {
			t.Fatal("wrong message")
		}
	})
	t.Run("dropped once", func(t *testing.T) {
		recv := newReceiver(t, "sandbox", nil)
		s := start(t, Config{WebhookURL: recv.srv.URL, StatusDelay: 20 * time.Millisecond, Delivery: Delivery{RetryBackoff: 10 * time.Millisecond}})
		s.DropWebhooks(1)
		id := sendVoice(t, s, "15550000001", voice, false, "")
		waitFor(t, "3 statuses", func() bool { return len(recv.bodies()) >= 3 })
		ws := s.Webhooks()
		if ws[0].Status != 0 || !strings.Contains(ws[0].Error, "dropped") || ws[1].Attempt != 2 || ws[1].Status != 200 || !bytes.Equal(ws[0].Body, ws[1].Body) {
			t.Fatalf("records %+v", ws[:2])
		}
		if got := strings.Join(trails(t, recv.bodies())[id], ","); got != "sent,delivered,read" {
			t.Fatalf("trail %s", got)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		recv := newReceiver(t, "sandbox", func(int, *http.Request) int { return http.StatusInternalServerError })
		s := start(t, Config{WebhookURL: recv.srv.URL, StatusDelay: 500 * time.Millisecond, Delivery: Delivery{Retries: 2, RetryBackoff: 5 * time.Millisecond}})
		sendVoice(t, s, "15550000001", voice, false, "")
		waitFor(t, "3 attempts", func() bool { return len(s.Webhooks()) >= 3 })
		time.Sleep(100 * time.Millisecond)
		ws := s.Webhooks()
		if len(ws) != 3 || !strings.Contains(ws[2].Error, "gave up") {
			t.Fatalf("records %+v", ws)
		}
	})
}

// Meta verifies a callback URL (hub.challenge) before it posts statuses
// to it; a receiver that does not echo the challenge gets nothing.
func TestWebhookVerification(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	t.Run("verified", func(t *testing.T) {
		recv := newReceiver(t, "sandbox", nil)
		s := start(t, Config{WebhookURL: recv.srv.URL + "/webhooks/meta", VerifyToken: "right-token"})
		sendVoice(t, s, "15550000001", voice, false, "")
		waitFor(t, "statuses", func() bool { return len(recv.bodies()) >= 3 })
		reqs := recv.requests()
		if reqs[0].method != http.MethodGet || !strings.Contains(reqs[0].query, "hub.mode=subscribe") || !strings.Contains(reqs[0].query, "hub.challenge=") {
			t.Fatalf("first request %s ?%s", reqs[0].method, reqs[0].query)
		}
		for _, r := range reqs[1:] {
			if r.method == http.MethodGet {
				t.Fatal("verified twice")
			}
		}
		w := s.Webhooks()[0]
		if w.Method != http.MethodGet || w.Status != 200 || strings.Contains(w.URL, "right-token") {
			t.Fatalf("verification record %+v", w)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		recv := newReceiver(t, "sandbox", nil)
		s := start(t, Config{WebhookURL: recv.srv.URL, VerifyToken: "wrong-token", Delivery: Delivery{RetryBackoff: 10 * time.Millisecond, Retries: 2}})
		sendVoice(t, s, "15550000001", voice, false, "")
		waitFor(t, "verification attempts", func() bool { return len(recv.requests()) >= 3 })
		time.Sleep(100 * time.Millisecond)
		if n := len(recv.bodies()); n != 0 {
			t.Fatalf("%d statuses posted to an unverified callback URL", n)
		}
		if err := s.VerifyWebhook(t.Context()); err == nil {
			t.Fatal("VerifyWebhook succeeded with the wrong token")
		}
	})
}

// 360dialog: the webhook is set with POST /v1/configs/webhook; its headers
// come with every delivery, and Meta's signature does not.
func TestD360Webhook(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	recv := newReceiver(t, "", nil)
	s := start(t, Config{WebhookURL: "http://127.0.0.1:1/meta-only"})
	cfgURL := s.D360URL() + "/v1/configs/webhook"
	body := map[string]any{"url": recv.srv.URL + "/webhooks/360dialog", "headers": map[string]string{"X-Prep-Webhook-Token": "tok-360"}}
	if a := postJSON(t, cfgURL, map[string]string{"D360-API-KEY": "wrong"}, body); a.status != 401 {
		t.Fatalf("wrong key: %d", a.status)
	}
	if a := postJSON(t, cfgURL, map[string]string{"D360-API-KEY": "sandbox"}, map[string]any{"url": "https://example.com/hook"}); a.status != 400 {
		t.Fatalf("non-loopback URL: %d %s", a.status, a.body)
	}
	if a := postJSON(t, cfgURL, map[string]string{"D360-API-KEY": "sandbox"}, body); a.status != 200 || a.json["url"] != recv.srv.URL+"/webhooks/360dialog" {
		t.Fatalf("set: %d %s", a.status, a.body)
	}
	if a := do(t, http.MethodGet, cfgURL, map[string]string{"D360-API-KEY": "sandbox"}, nil); a.status != 200 || !strings.Contains(string(a.body), "/webhooks/360dialog") {
		t.Fatalf("get: %d %s", a.status, a.body)
	}
	for _, r := range s.Requests(D360) {
		if strings.Contains(string(r.Body), "tok-360") {
			t.Fatal("the registered header's value is recorded")
		}
	}
	a := postJSON(t, s.D360URL()+"/messages", map[string]string{"D360-API-KEY": "sandbox"}, map[string]any{"messaging_product": "whatsapp",
		"to": "15550000001", "type": "audio", "biz_opaque_callback_data": "row-7",
		"audio": map[string]any{"link": s.HostFile("v.ogg", "audio/ogg", voice), "voice": true}})
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	id := a.json["messages"].([]any)[0].(map[string]any)["id"].(string)
	waitFor(t, "3 statuses", func() bool { return len(recv.bodies()) >= 3 })
	for _, r := range recv.requests() {
		if r.header.Get("X-Prep-Webhook-Token") != "tok-360" || r.header.Get("X-Hub-Signature-256") != "" {
			t.Fatalf("360dialog delivery headers %v", r.header)
		}
		sts, _, _ := graphStatuses(t, r.body)
		if sts[0].ID != id || sts[0].Callback != "row-7" || sts[0].RecipientID != "15550000001" {
			t.Fatalf("status %+v", sts[0])
		}
	}
	for _, w := range s.Webhooks() {
		if w.Provider != D360 {
			t.Fatalf("a 360dialog status went to %s", w.URL)
		}
	}
}

func TestPlay(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	recv := newReceiver(t, "sandbox", nil)
	s := start(t, Config{WebhookURL: recv.srv.URL, StatusDelay: 30 * time.Millisecond,
		Recipients: map[string]Recipient{"15550000009": {Fail: 131047}}})
	note := sendVoice(t, s, "15550000001", voice, true, "")
	basic := sendVoice(t, s, "15550000002", voice, false, "")
	failed := sendVoice(t, s, "15550000009", voice, true, "")

	// Played before it was read: played right after read, once.
	if err := s.Play(note); err != nil {
		t.Fatal(err)
	}
	if got := do(t, http.MethodPost, s.URL()+"/_sandbox/play/"+note, nil, nil); got.status != 200 {
		t.Fatalf("play again: %d %s", got.status, got.body)
	}
	m := waitStatuses(t, s, note, 4)
	if statusNames(m.Statuses) != "sent,delivered,read,played" {
		t.Fatalf("trail %s", statusNames(m.Statuses))
	}
	waitStatuses(t, s, failed, 1)
	for _, tc := range []struct {
		id     string
		status int
	}{{"wamid.nope", 404}, {basic, 409}, {failed, 409}} {
		if got := do(t, http.MethodPost, s.URL()+"/_sandbox/play/"+tc.id, nil, nil); got.status != tc.status {
			t.Fatalf("play %s: %d %s, want %d", tc.id, got.status, got.body, tc.status)
		}
	}
	if got := do(t, http.MethodGet, s.URL()+"/_sandbox/play/"+note, nil, nil); got.status != 405 {
		t.Fatalf("GET play: %d", got.status)
	}
	if err := s.Play(note); err != nil {
		t.Fatal(err)
	}
	// The webhooks go out after the statuses are recorded: wait for the
	// four, then a repeated play must add none.
	waitFor(t, "4 webhooks of the voice note", func() bool { return len(trails(t, recv.bodies())[note]) >= 4 })
	time.Sleep(100 * time.Millisecond)
	if got := strings.Join(trails(t, recv.bodies())[note], ","); got != "sent,delivered,read,played" {
		t.Fatalf("webhooks %s: played must come once", got)
	}
	if m, _ := s.Message(basic); strings.Contains(statusNames(m.Statuses), "played") {
		t.Fatal("basic audio played")
	}
}

// Infobip reports carry exactly the fields of Infobip's schemas, batched
// in results[] when Batch > 1; a seen report comes before the delivery
// report when scripted.
func TestInfobipReportFields(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	dlrKeys := []string{"bulkId", "price", "status", "error", "messageId", "doneAt", "messageCount", "sentAt", "to", "contact"}
	seenKeys := []string{"messageId", "from", "to", "sentAt", "seenAt", "applicationId", "entityId", "contact"}
	// run sends to two recipients and returns the reports' bodies and the
	// order of (messageId:kind) as they arrived.
	run := func(t *testing.T, d Delivery, rc map[string]Recipient) (bodies [][]byte, order []string) {
		sink := newSink(t)
		s := start(t, Config{StatusDelay: 20 * time.Millisecond, Delivery: d, Recipients: rc})
		for i, to := range []string{"441134960001", "441134960002"} {
			body := map[string]any{"from": "441134960000", "to": to, "messageId": "m-" + to, "notifyUrl": sink.srv.URL + "/webhooks/infobip/tok",
				"callbackData": "cb", "applicationId": "app", "entityId": "ent",
				"content": map[string]any{"mediaUrl": s.HostFile("v.ogg", "audio/ogg", voice), "voice": true}}
			if a := postJSON(t, s.InfobipURL()+infobipAudioPath, ibAuth(), body); a.status != 200 {
				t.Fatalf("%d: %d %s", i, a.status, a.body)
			}
		}
		count := func() (n int) {
			for _, b := range sink.wait(t, 0) {
				var r struct{ Results []map[string]any }
				_ = json.Unmarshal(b, &r)
				n += len(r.Results)
			}
			return n
		}
		waitFor(t, "4 reports", func() bool { return count() >= 4 })
		time.Sleep(100 * time.Millisecond)
		bodies = sink.wait(t, 1)
		for _, b := range bodies {
			var r struct{ Results []map[string]any }
			if err := json.Unmarshal(b, &r); err != nil || len(r.Results) == 0 {
				t.Fatalf("report %s", b)
			}
			for _, res := range r.Results {
				allowed, kind := dlrKeys, "dlr"
				if _, ok := res["seenAt"]; ok {
					allowed, kind = seenKeys, "seen"
				}
				for k := range res {
					if !slices.Contains(allowed, k) {
						t.Fatalf("%s report has %q, which Infobip's schema does not define: %s", kind, k, b)
					}
				}
				if kind == "seen" && (res["applicationId"] != "app" || res["entityId"] != "ent") {
					t.Fatalf("seen report %s", b)
				}
				order = append(order, res["messageId"].(string)+":"+kind)
			}
		}
		if len(order) != 4 {
			t.Fatalf("reports %v", order)
		}
		return bodies, order
	}
	t.Run("batched", func(t *testing.T) {
		bodies, _ := run(t, Delivery{Batch: 10, BatchWindow: 100 * time.Millisecond}, nil)
		if len(bodies) >= 4 {
			t.Fatalf("%d bodies for 4 reports: not batched", len(bodies))
		}
	})
	t.Run("seen before delivered", func(t *testing.T) {
		_, order := run(t, Delivery{}, map[string]Recipient{"441134960002": {Order: ReadBeforeDelivered}})
		if i, j := slices.Index(order, "m-441134960002:seen"), slices.Index(order, "m-441134960002:dlr"); i < 0 || j < i {
			t.Fatalf("read-before-delivered: %v", order)
		}
		if i, j := slices.Index(order, "m-441134960001:dlr"), slices.Index(order, "m-441134960001:seen"); i < 0 || j < i {
			t.Fatalf("in order: %v", order)
		}
	})
}
