package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func ibAuth() map[string]string {
	return map[string]string{"Authorization": "App sandbox", "Content-Type": "application/json"}
}

func ibErr(a answer) (string, map[string]any) {
	re, _ := a.json["requestError"].(map[string]any)
	se, _ := re["serviceException"].(map[string]any)
	id, _ := se["messageId"].(string)
	ve, _ := se["validationErrors"].(map[string]any)
	return id, ve
}

func TestInfobipValidation(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	s := start(t, Config{})
	doc := loadInfobip(t)
	reqSchema := componentSchema(t, doc, infobipAudioMessage)
	errSchema := responseSchema(t, doc, infobipAudioPath, http.MethodPost, 400)
	okSchema := responseSchema(t, doc, infobipAudioPath, http.MethodPost, 200)
	media := s.HostFile("voice.ogg", "audio/ogg", voice)

	valid := func() map[string]any {
		return map[string]any{"from": "441134960000", "to": "441134960001", "content": map[string]any{"mediaUrl": media, "voice": true}}
	}
	set := func(path string, v any) map[string]any {
		m := valid()
		target := m
		if rest, ok := strings.CutPrefix(path, "content."); ok {
			target, path = m["content"].(map[string]any), rest
		}
		if v == nil {
			delete(target, path)
		} else {
			target[path] = v
		}
		return m
	}
	tests := []struct {
		name  string
		body  any
		field string // "" = accepted
	}{
		{name: "minimal", body: valid()},
		{name: "every optional field", body: map[string]any{"from": "441134960000", "to": "441134960001", "messageId": "my-id-1",
			"content": map[string]any{"mediaUrl": media}, "callbackData": "cb", "notifyUrl": "http://127.0.0.1:1/dlr",
			"entityId": "e", "applicationId": "a"}},
		{name: "from missing", body: set("from", nil), field: "from"},
		{name: "from empty", body: set("from", ""), field: "from"},
		{name: "from 25 characters", body: set("from", strings.Repeat("4", 25)), field: "from"},
		{name: "from 24 characters", body: set("from", strings.Repeat("4", 24))},
		{name: "from a number", body: set("from", 4411), field: "from"},
		{name: "to missing", body: set("to", nil), field: "to"},
		{name: "to empty", body: set("to", ""), field: "to"},
		{name: "to 151 characters", body: set("to", strings.Repeat("4", 151)), field: "to"},
		{name: "messageId 201 characters", body: set("messageId", strings.Repeat("m", 201)), field: "messageId"},
		{name: "callbackData 4001 characters", body: set("callbackData", strings.Repeat("c", 4001)), field: "callbackData"},
		{name: "callbackData 4000 characters", body: set("callbackData", strings.Repeat("c", 4000))},
		{name: "notifyUrl 2049 characters", body: set("notifyUrl", "http://127.0.0.1/"+strings.Repeat("n", 2032)), field: "notifyUrl"},
		{name: "notifyUrl not a URL", body: set("notifyUrl", "dlr-endpoint"), field: "notifyUrl"},
		{name: "entityId 256 characters", body: set("entityId", strings.Repeat("e", 256)), field: "entityId"},
		{name: "applicationId 256 characters", body: set("applicationId", strings.Repeat("a", 256)), field: "applicationId"},
		{name: "content missing", body: set("content", nil), field: "content"},
		{name: "mediaUrl missing", body: set("content.mediaUrl", nil), field: "content.mediaUrl"},
		{name: "mediaUrl empty", body: set("content.mediaUrl", ""), field: "content.mediaUrl"},
		{name: "mediaUrl 2049 characters", body: set("content.mediaUrl", media+"?"+strings.Repeat("q", 2049-len(media)-1)), field: "content.mediaUrl"},
		{name: "mediaUrl not http", body: set("content.mediaUrl", "ftp://127.0.0.1/v.ogg"), field: "content.mediaUrl"},
		{name: "mediaUrl not loopback", body: set("content.mediaUrl", "https://example.com/v.ogg"), field: "content.mediaUrl"},
		{name: "voice not a boolean", body: set("content.voice", "yes"), field: "content.voice"},
		{name: "context without replyToMessageId", body: set("context", map[string]any{}), field: "context.replyToMessageId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(tc.body)
			before := len(s.Messages())
			a := postJSON(t, s.InfobipURL()+infobipAudioPath, ibAuth(), string(body))
			// Whatever the spec rejects, the sandbox must reject.
			if !specAccepts(reqSchema, body) && a.status == 200 {
				t.Fatalf("the spec rejects %s but the sandbox accepted it", body)
			}
			if tc.field == "" {
				if a.status != 200 {
					t.Fatalf("%d %s", a.status, a.body)
				}
				conform(t, okSchema, a.body, false, "send answer")
				if len(s.Messages()) != before+1 {
					t.Fatal("message not recorded")
				}
				return
			}
			if a.status != 400 {
				t.Fatalf("%d %s", a.status, a.body)
			}
			conform(t, errSchema, a.body, false, "error answer")
			id, ve := ibErr(a)
			if id != "BAD_REQUEST" || ve[tc.field] == nil {
				t.Fatalf("want a validation error on %s: %s", tc.field, a.body)
			}
			if len(s.Messages()) != before {
				t.Fatal("a refused message was recorded")
			}
		})
	}
	t.Run("empty mediaUrl lists Infobip's three messages", func(t *testing.T) {
		a := postJSON(t, s.InfobipURL()+infobipAudioPath, ibAuth(), set("content.mediaUrl", ""))
		_, ve := ibErr(a)
		got, _ := json.Marshal(ve["content.mediaUrl"])
		// The spec's own example of this answer.
		if string(got) != `["size must be between 1 and 2048","is not a valid url","must not be blank"]` {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		a := postJSON(t, s.InfobipURL()+infobipAudioPath, ibAuth(), "{from:")
		id, ve := ibErr(a)
		if a.status != 400 || id != "BAD_REQUEST" || ve != nil {
			t.Fatalf("%d %s", a.status, a.body)
		}
		conform(t, errSchema, a.body, false, "error answer")
	})
}

func TestInfobipAuthAndRoutes(t *testing.T) {
	s := start(t, Config{InfobipKey: "ib-key"})
	doc := loadInfobip(t)
	schema401 := responseSchema(t, doc, infobipAudioPath, http.MethodPost, 401)
	for _, h := range []map[string]string{
		{},
		{"Authorization": "App wrong"},
		{"Authorization": "Bearer ib-key"},
		{"Authorization": "ib-key"},
	} {
		a := postJSON(t, s.InfobipURL()+infobipAudioPath, h, `{}`)
		if id, _ := ibErr(a); a.status != 401 || id != "UNAUTHORIZED" {
			t.Fatalf("%v: %d %s", h, a.status, a.body)
		}
		conform(t, schema401, a.body, false, "401")
		if strings.Contains(string(a.body), "ib-key") {
			t.Fatal("the key is echoed")
		}
	}
	a := postJSON(t, s.InfobipURL()+"/whatsapp/1/message/video", map[string]string{"Authorization": "App ib-key"}, `{}`)
	if id, _ := ibErr(a); a.status != 404 || id != "NOT_FOUND" {
		t.Fatalf("%d %s", a.status, a.body)
	}
	a = do(t, http.MethodGet, s.InfobipURL()+infobipAudioPath, map[string]string{"Authorization": "App ib-key"}, nil)
	if a.status != 405 {
		t.Fatalf("%d %s", a.status, a.body)
	}
}

func TestInfobipThroughput(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	s := start(t, Config{MessagesPerSecond: 1})
	media := s.HostFile("v.ogg", "audio/ogg", voice)
	body := map[string]any{"from": "44", "to": "4411", "content": map[string]any{"mediaUrl": media}}
	if a := postJSON(t, s.InfobipURL()+infobipAudioPath, ibAuth(), body); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	a := postJSON(t, s.InfobipURL()+infobipAudioPath, ibAuth(), body)
	if id, _ := ibErr(a); a.status != 429 || id != "TOO_MANY_REQUESTS" {
		t.Fatalf("%d %s", a.status, a.body)
	}
	conform(t, responseSchema(t, loadInfobip(t), infobipAudioPath, http.MethodPost, 429), a.body, false, "429")
}

// reportSink collects reports posted to it.
type reportSink struct {
	mu     sync.Mutex
	bodies [][]byte
	srv    *httptest.Server
}

func newSink(t *testing.T) *reportSink {
	k := &reportSink{}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		k.mu.Lock()
		k.bodies = append(k.bodies, b)
		k.mu.Unlock()
	}))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *reportSink) wait(t *testing.T, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		k.mu.Lock()
		got := append([][]byte(nil), k.bodies...)
		k.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("fewer than %d reports arrived", n)
	return nil
}

func TestInfobipReports(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	stereo := sample(t, sampleStereo, "audio/ogg")
	doc := loadInfobip(t)
	dlrSchema := componentSchema(t, doc, infobipDeliveryResult)
	seenSchema := componentSchema(t, doc, infobipSeenResult)
	s := start(t, Config{})
	sink := newSink(t)

	body := map[string]any{"from": "441134960000", "to": "441134960001", "messageId": "m-1", "callbackData": "cb-1",
		"notifyUrl": sink.srv.URL + "/dlr", "content": map[string]any{"mediaUrl": s.HostFile("v.ogg", "audio/ogg", voice), "voice": true}}
	a := postJSON(t, s.InfobipURL()+infobipAudioPath, ibAuth(), body)
	if a.status != 200 || a.json["messageId"] != "m-1" || a.json["to"] != "441134960001" {
		t.Fatalf("%d %s", a.status, a.body)
	}
	st, _ := a.json["status"].(map[string]any)
	if st["name"] != "PENDING_ENROUTE" || st["groupName"] != "PENDING" {
		t.Fatalf("status %v", st)
	}
	reports := sink.wait(t, 2)
	conform(t, dlrSchema, reports[0], true, "delivery report", infobipDateTime())
	conform(t, seenSchema, reports[1], true, "seen report", infobipDateTime())
	var dlr struct {
		Results []struct {
			MessageID, To string
			Status        struct{ GroupName, Name string }
			Contact       struct{ PhoneNumber string }
		}
	}
	if err := json.Unmarshal(reports[0], &dlr); err != nil || len(dlr.Results) != 1 {
		t.Fatalf("dlr %s", reports[0])
	}
	if r := dlr.Results[0]; r.MessageID != "m-1" || r.Status.GroupName != "DELIVERED" || r.Contact.PhoneNumber != "441134960001" || r.To != "441134960001" ||
		strings.Contains(string(reports[0]), "callbackData") {
		t.Fatalf("dlr %s", reports[0])
	}
	if !strings.Contains(string(reports[1]), `"seenAt"`) || !strings.Contains(string(reports[1]), `"m-1"`) {
		t.Fatalf("seen %s", reports[1])
	}
	m := waitStatuses(t, s, "m-1", 3)
	if statusNames(m.Statuses) != "sent,delivered,read" || !m.PlayIcon {
		t.Fatalf("message %+v", m)
	}

	t.Run("voice flag on stereo: undeliverable", func(t *testing.T) {
		sink := newSink(t)
		body := map[string]any{"from": "44", "to": "4411", "messageId": "m-2", "notifyUrl": sink.srv.URL,
			"content": map[string]any{"mediaUrl": s.HostFile("s.ogg", "audio/ogg", stereo), "voice": true}}
		if a := postJSON(t, s.InfobipURL()+infobipAudioPath, ibAuth(), body); a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		r := sink.wait(t, 1)[0]
		conform(t, dlrSchema, r, true, "failed delivery report", infobipDateTime())
		if !strings.Contains(string(r), `"UNDELIVERABLE"`) || !strings.Contains(string(r), "131053") {
			t.Fatalf("report %s", r)
		}
		if m := waitStatuses(t, s, "m-2", 1); m.Statuses[0].Name != StatusFailed || m.Statuses[0].Code != 131053 {
			t.Fatalf("trail %+v", m.Statuses)
		}
	})
}

// TestInfobipReusedMessageIDKeepsOwnTrails: a client that resends with
// the same messageId (Infobip's in-doubt retry) gets two messages, each
// with its own status trail — not both trails doubled.
func TestInfobipReusedMessageIDKeepsOwnTrails(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	s := start(t, Config{})
	link := s.HostFile("v.ogg", "audio/ogg", voice)
	h := map[string]string{"Authorization": "App sandbox", "Content-Type": "application/json"}
	for i := 0; i < 2; i++ {
		a := postJSON(t, s.InfobipURL()+"/whatsapp/1/message/audio", h, map[string]any{
			"from": "441134960000", "to": "441134960001", "messageId": "same-id", "content": map[string]any{"mediaUrl": link}})
		if a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs := s.Messages()
		done := len(msgs) == 2
		for _, m := range msgs {
			done = done && len(m.Statuses) >= 3
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // nothing more may follow
	msgs := s.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	for i, m := range msgs {
		if got := statusNames(m.Statuses); got != "sent,delivered,read" {
			t.Errorf("message %d (%s): trail %s, want sent,delivered,read", i, m.ID, got)
		}
	}
}
