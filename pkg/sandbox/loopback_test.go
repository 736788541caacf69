package sandbox

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// TestLinksNeverLeaveThroughAProxy: the sandbox fetches links from
// loopback hosts only. A name under .localhost passes the name check but
// is resolved by DNS or, with HTTP_PROXY set (as on many developer
// machines), handed to the proxy, which fetches it from wherever it likes:
// the request must neither go through a proxy nor connect to anything but
// a loopback address. The environment proxy is read once per process, so
// the sending half runs in a child process with HTTP_PROXY set.
func TestLinksNeverLeaveThroughAProxy(t *testing.T) {
	if os.Getenv("PREP_SANDBOX_PROXY_CHILD") != "" {
		s := start(t, Config{})
		for _, p := range []struct{ url, body string }{
			{s.MetaURL() + "/v23.0/1065403522/messages", `{"messaging_product":"whatsapp","to":"15550000001","type":"audio","audio":{"link":"http://media.localhost/v.ogg"}}`},
			{s.InfobipURL() + "/whatsapp/1/message/audio", `{"from":"441134960000","to":"15550000001","content":{"mediaUrl":"http://media.localhost/v.ogg"},"notifyUrl":"http://hooks.localhost/report"}`},
		} {
			h := metaAuth()
			if p.url == s.InfobipURL()+"/whatsapp/1/message/audio" {
				h = map[string]string{"Authorization": "App sandbox", "Content-Type": "application/json"}
			}
			a := postJSON(t, p.url, h, p.body)
			if a.status != 200 && a.status != 400 {
				t.Fatalf("%s: %d %s", p.url, a.status, a.body)
			}
		}
		for _, m := range s.Messages() {
			waitStatuses(t, s, m.ID, 1)
		}
		return
	}
	if testing.Short() {
		t.Skip("runs a child test process")
	}
	var mu sync.Mutex
	var via []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		via = append(via, r.Method+" "+r.URL.String())
		mu.Unlock()
		w.Header().Set("Content-Type", "audio/ogg")
		_, _ = w.Write([]byte("OggS"))
	}))
	defer proxy.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLinksNeverLeaveThroughAProxy$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PREP_SANDBOX_PROXY_CHILD=1",
		"HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL, "NO_PROXY=", "no_proxy=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(via) > 0 {
		t.Fatalf("the sandbox sent requests through the environment's proxy: %q", via)
	}
}

// TestLinkToHostedFileAsServed: a link to the sandbox's own media host is
// judged by what GET would serve for it; /_sandbox/files/ cleans names
// ("my voice.ogg" is kept as my_voice.ogg), so the link fetch must too.
func TestLinkToHostedFileAsServed(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	s := start(t, Config{})
	a := do(t, http.MethodPost, s.URL()+"/_sandbox/files/my%20voice.ogg", map[string]string{"Content-Type": "audio/ogg"}, voice)
	if a.status != http.StatusCreated {
		t.Fatalf("hosting: %d %s", a.status, a.body)
	}
	link := s.URL() + "/_sandbox/files/my%20voice.ogg"
	if g := do(t, http.MethodGet, link, nil, nil); g.status != 200 {
		t.Fatalf("GET %s: %d", link, g.status)
	}
	a = postJSON(t, s.MetaURL()+"/v23.0/1065403522/messages", metaAuth(), map[string]any{
		"messaging_product": "whatsapp", "to": "15550000001", "type": "audio", "audio": map[string]any{"link": link, "voice": true}})
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	id := a.json["messages"].([]any)[0].(map[string]any)["id"].(string)
	if m := waitStatuses(t, s, id, 1); m.Statuses[0].Name != StatusSent {
		t.Fatalf("a link GET serves was judged %s (%s)", statusNames(m.Statuses), m.Failure)
	}
}
