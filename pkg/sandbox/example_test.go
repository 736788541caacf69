package sandbox_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prep-audio/prep/pkg/sandbox"
)

// send posts a Meta audio message and returns the HTTP status and the
// Graph error code (0 on success).
func send(s *sandbox.Server, link string, voice bool) (int, int) {
	body := fmt.Sprintf(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"+15551234567","type":"audio","audio":{"link":%q,"voice":%t}}`, link, voice)
	req, _ := http.NewRequest(http.MethodPost, s.MetaURL()+"/v23.0/1065403522/messages", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer sandbox")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	var e struct{ Error struct{ Code int } }
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error.Code
}

// A voice note sent through the sandbox's Meta Cloud API, and the status
// trail its webhooks report.
func Example() {
	s, err := sandbox.Start(sandbox.Config{StatusDelay: time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	voice, err := os.ReadFile("../../testdata/ogg-opus-mono-48k-2s.ogg")
	if err != nil {
		fmt.Println(err)
		return
	}
	link := s.HostFile("voice.ogg", "audio/ogg", voice) // a stand-in media host
	status, _ := send(s, link, true)
	fmt.Println("HTTP", status)

	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if m := s.Messages(); len(m) == 1 && len(m[0].Statuses) == 3 {
			break
		}
	}
	// The recipient plays the note (the page's play button does this too):
	// "played" is sent then, never by itself.
	_ = s.Play(s.Messages()[0].ID)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if m := s.Messages(); len(m[0].Statuses) == 4 {
			break
		}
	}
	m := s.Messages()[0]
	fmt.Println(m.MIME, m.Voice, m.PlayIcon)
	for _, st := range m.Statuses {
		fmt.Println(st.Name)
	}
	// Output:
	// HTTP 200
	// audio/ogg true true
	// sent
	// delivered
	// read
	// played
}

// Scripted faults answer the next requests, in order: here Meta's
// throughput error, which is HTTP 400 with code 130429 (not a 429), then a
// 503, then the normal answer.
func ExampleServer_Inject() {
	s, err := sandbox.Start(sandbox.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	link := s.HostFile("voice.ogg", "audio/ogg", []byte("not fetched while faults answer"))
	s.Inject(sandbox.Meta, sandbox.Fault{Status: 400, Code: 130429}, sandbox.Fault{Status: 503, RetryAfter: time.Second})
	for range 3 {
		fmt.Println(send(s, link, false))
	}
	fmt.Println(len(s.Requests(sandbox.Meta)), "requests")
	// Output:
	// 400 130429
	// 503 131016
	// 200 0
	// 3 requests
}

// Receivers check a webhook's X-Hub-Signature-256 header against this.
func ExampleSignature() {
	fmt.Println(sandbox.Signature("app-secret", []byte(`{"object":"whatsapp_business_account"}`)))
	// Output:
	// sha256=0bf7374433906636bed1653bc7c64affb42fa5da9a39e251ab95c2e3a9c06923
}

// Statuses reach a receiver the way Meta sends them, here with the
// delivered status of one recipient's message arriving after its read
// (Meta does not guarantee the order), and "played" only once the
// recipient plays the voice note.
func ExampleConfig_recipients() {
	var mu sync.Mutex
	var got []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Hub-Signature-256") != sandbox.Signature("app-secret", body) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		var p struct {
			Entry []struct {
				Changes []struct {
					Value struct{ Statuses []struct{ Status string } }
				}
			}
		}
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		defer mu.Unlock()
		for _, e := range p.Entry {
			for _, c := range e.Changes {
				for _, st := range c.Value.Statuses {
					got = append(got, st.Status)
				}
			}
		}
	}))
	defer recv.Close()
	s, err := sandbox.Start(sandbox.Config{AppSecret: "app-secret", WebhookURL: recv.URL, StatusDelay: 10 * time.Millisecond,
		Recipients: map[string]sandbox.Recipient{"+1 555 123 4567": {Order: sandbox.ReadBeforeDelivered}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	voice, _ := os.ReadFile("../../testdata/ogg-opus-mono-48k-2s.ogg")
	send(s, s.HostFile("voice.ogg", "audio/ogg", voice), true)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	for deadline := time.Now().Add(5 * time.Second); count() < 3 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
	}
	_ = s.Play(s.Messages()[0].ID)
	for deadline := time.Now().Add(5 * time.Second); count() < 4 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
	}
	mu.Lock()
	fmt.Println(strings.Join(got, " "))
	mu.Unlock()
	// Output:
	// sent read delivered played
}
