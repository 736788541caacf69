package sandbox

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestCloseReleasesWebhookConnections: after Close, no connection the
// sandbox opened to a webhook receiver may stay open (each idle keep-alive
// connection holds two goroutines in the client for 90 s).
func TestCloseReleasesWebhookConnections(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	hooks := 0
	recv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hooks++
		mu.Unlock()
	}))
	recv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch st {
		case http.StateNew:
			open[c] = true
		case http.StateClosed, http.StateHijacked:
			delete(open, c)
		}
	}
	recv.Start()
	defer recv.Close()

	s, err := Start(Config{WebhookURL: recv.URL + "/hook", StatusDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a := sendLink(t, s, s.MetaURL()+"/v23.0/1065403522/messages", "15550000001", "v.ogg", "audio/ogg", voice, true)
	if a.status != 200 {
		s.Close()
		t.Fatalf("%d %s", a.status, a.body)
	}
	id := a.json["messages"].([]any)[0].(map[string]any)["id"].(string)
	waitStatuses(t, s, id, 3)
	if err := s.Play(id); err != nil {
		t.Fatal(err)
	}
	waitStatuses(t, s, id, 4)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := hooks
		mu.Unlock()
		if n >= 4 {
			break
		}
		if time.Now().After(deadline) {
			s.Close()
			t.Fatalf("%d webhooks arrived, want 4", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		n := len(open)
		mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connection(s) from the sandbox to the webhook receiver still open after Close", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
