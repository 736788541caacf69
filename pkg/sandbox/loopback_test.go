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
