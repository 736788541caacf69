package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// metaSend is a valid Meta send of a hosted voice note.
func metaSend(t *testing.T, s *Server, voice []byte) (*http.Response, error) {
	t.Helper()
	link := s.HostFile("v.ogg", "audio/ogg", voice)
	body := `{"messaging_product":"whatsapp","recipient_type":"individual","to":"15550000001","type":"audio","audio":{"link":"` + link + `","voice":true}}`
	req, _ := http.NewRequest(http.MethodPost, s.MetaURL()+"/v23.0/1/messages", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer sandbox")
	req.Header.Set("Content-Type", "application/json")
	// A fresh transport per call: a dropped connection must not be retried
	// by Go's transport behind the test's back.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	return c.Do(req)
}

func TestInjectMeta(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	errSchema := componentSchema(t, loadMeta(t), "GraphAPIError")
	tests := []struct {
		name       string
		fault      Fault
		status     int
		code       int
		retryAfter string
		dropped    bool
		recorded   bool // a message is recorded
	}{
		{name: "503 generic", fault: Fault{Status: 503}, status: 503, code: 131016},
		{name: "500 generic", fault: Fault{Status: 500}, status: 500, code: 131000},
		{name: "502 generic", fault: Fault{Status: 502}, status: 502, code: 1},
		{name: "throughput as Meta sends it", fault: Fault{Status: 400, Code: 130429}, status: 400, code: 130429},
		{name: "WABA rate limit", fault: Fault{Status: 400, Code: 80007}, status: 400, code: 80007},
		{name: "pair rate", fault: Fault{Status: 400, Code: 131056}, status: 400, code: 131056},
		{name: "expired token", fault: Fault{Status: 401, Code: 190, Subcode: 463}, status: 401, code: 190},
		{name: "429 with Retry-After", fault: Fault{Status: 429, RetryAfter: 2 * time.Second}, status: 429, code: 4, retryAfter: "2"},
		{name: "Retry-After rounds up", fault: Fault{Status: 503, RetryAfter: 1500 * time.Millisecond}, status: 503, code: 131016, retryAfter: "2"},
		{name: "drop after processing", fault: Fault{Drop: true}, dropped: true, recorded: true},
		{name: "drop before processing", fault: Fault{DropBefore: true}, dropped: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Config{})
			s.Inject(Meta, tc.fault)
			resp, err := metaSend(t, s, voice)
			if tc.dropped {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got an answer (%d), want a closed connection", resp.StatusCode)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				_, _ = buf.ReadFrom(resp.Body)
				resp.Body.Close()
				a := answer{status: resp.StatusCode, body: buf.Bytes()}
				_ = json.Unmarshal(a.body, &a.json)
				if a.status != tc.status || graphCode(a) != tc.code {
					t.Fatalf("got %d/%d, want %d/%d: %s", a.status, graphCode(a), tc.status, tc.code, a.body)
				}
				if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
					t.Fatalf("Retry-After %q, want %q", got, tc.retryAfter)
				}
				conform(t, errSchema, a.body, false, "fault answer")
			}
			if got := len(s.Messages()); got != map[bool]int{true: 1, false: 0}[tc.recorded] {
				t.Fatalf("%d messages recorded", got)
			}
			reqs := s.Requests(Meta)
			if len(reqs) != 1 || reqs[0].Status != tc.status {
				t.Fatalf("requests %+v", reqs)
			}
			// The fault is consumed: the next request is answered normally.
			resp, err = metaSend(t, s, voice)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("after the fault: %v %v", resp, err)
			}
			resp.Body.Close()
			if got := s.Requests(Meta); len(got) != 2 || got[1].Status != 200 {
				t.Fatalf("requests %+v", got)
			}
		})
	}
}

func TestInjectQueueAndLatency(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	s := start(t, Config{})
	s.Inject(Meta, Fault{Status: 500}, Fault{Latency: 150 * time.Millisecond})
	s.Inject(Infobip, Fault{Status: 503})
	var got []int
	var slow time.Duration
	for range 3 {
		t0 := time.Now()
		resp, err := metaSend(t, s, voice)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
		if len(got) == 2 {
			slow = time.Since(t0)
		}
	}
	if got[0] != 500 || got[1] != 200 || got[2] != 200 {
		t.Fatalf("statuses %v", got)
	}
	if slow < 150*time.Millisecond {
		t.Fatalf("latency fault took only %v", slow)
	}
	// Infobip's queue is its own.
	a := postJSON(t, s.InfobipURL()+infobipAudioPath, ibAuth(), `{}`)
	if id, _ := ibErr(a); a.status != 503 || id != "GENERAL_ERROR" {
		t.Fatalf("%d %s", a.status, a.body)
	}
	conform(t, responseSchema(t, loadInfobip(t), infobipAudioPath, http.MethodPost, 500), a.body, false, "Infobip fault")
}

func TestRandomFaults(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	tests := []struct {
		name    string
		f       Faults
		status  int
		dropped bool
	}{
		{name: "all 500", f: Faults{ErrorRate: 1}, status: 500},
		{name: "all 429", f: Faults{TooManyRate: 1}, status: 429},
		{name: "all dropped", f: Faults{DropRate: 1}, dropped: true},
		{name: "none", f: Faults{Latency: time.Millisecond}, status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Config{Faults: map[Provider]Faults{Meta: tc.f}})
			for range 3 {
				resp, err := metaSend(t, s, voice)
				if tc.dropped {
					if err == nil {
						resp.Body.Close()
						t.Fatal("got an answer, want a dropped connection")
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
				if tc.status == 429 && resp.Header.Get("Retry-After") != "1" {
					t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
				}
			}
			if tc.dropped && len(s.Messages()) != 3 {
				t.Fatalf("dropped after processing: %d messages recorded, want 3", len(s.Messages()))
			}
			// Faults are per provider and can be turned off.
			s.SetFaults(Meta, Faults{})
			resp, err := metaSend(t, s, voice)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("after SetFaults(zero): %v %v", resp, err)
			}
			resp.Body.Close()
		})
	}
	t.Run("rates split as configured", func(t *testing.T) {
		s := start(t, Config{})
		s.SetFaults(Infobip, Faults{ErrorRate: 0.5})
		n500 := 0
		for range 200 {
			if a := postJSON(t, s.InfobipURL()+infobipAudioPath, ibAuth(), `{}`); a.status == 500 {
				n500++
			}
		}
		// Binomial(200, 0.5): 60..140 fails with probability < 1e-8.
		if n500 < 60 || n500 > 140 {
			t.Fatalf("%d of 200 answered 500 at rate 0.5", n500)
		}
	})
}

func TestRequestsRedactCredentials(t *testing.T) {
	s := start(t, Config{MetaToken: "EAAsecret-token", D360Key: "d360-secret", InfobipKey: "ib-secret"})
	postJSON(t, s.MetaURL()+"/v23.0/1/messages", map[string]string{"Authorization": "Bearer EAAsecret-token"}, `{"a":1}`)
	// Graph also takes the token as a query parameter.
	if a := do(t, http.MethodGet, s.MetaURL()+"/v23.0/123?access_token=EAAsecret-token", nil, nil); a.status != 400 || graphCode(a) != 100 {
		t.Fatalf("access_token query: %d %s", a.status, a.body)
	}
	if got := s.Requests(Meta); len(got) != 2 || strings.Contains(got[1].Path, "secret") || !strings.Contains(got[1].Path, "access_token=%5Bredacted%5D") {
		t.Fatalf("recorded %+v", got)
	}
	postJSON(t, s.D360URL()+"/messages", map[string]string{"D360-API-KEY": "d360-secret"}, `{}`)
	postJSON(t, s.InfobipURL()+infobipAudioPath, map[string]string{"Authorization": "App ib-secret"}, `{}`)
	for _, p := range Providers() {
		reqs := s.Requests(p)
		if p == Meta {
			reqs = reqs[:1]
		}
		if len(reqs) != 1 {
			t.Fatalf("%s: %d requests", p, len(reqs))
		}
		dump := strings.Join(append(reqs[0].Header.Values("Authorization"), reqs[0].Header.Values("D360-API-KEY")...), " ")
		if strings.Contains(dump, "secret") || !strings.Contains(dump, "[redacted]") {
			t.Fatalf("%s: headers %v", p, reqs[0].Header)
		}
	}
	if got := s.Requests(Meta)[0]; got.Method != "POST" || got.Path != "/meta/v23.0/1/messages" || string(got.Body) != `{"a":1}` || got.Status != 400 {
		t.Fatalf("request %+v", got)
	}
}
