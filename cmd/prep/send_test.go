package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prep-audio/prep/pkg/sandbox"
)

const (
	cliMetaToken  = "EAAcli-SECRET-tok-51d0"
	cliD360Key    = "d360cli-SECRET-k-77e2"
	cliInfobipKey = "ibcli-SECRET-k-3c9a"
)

func startSendSandbox(t *testing.T) (*sandbox.Server, string) {
	t.Helper()
	s, err := sandbox.Start(sandbox.Config{MetaToken: cliMetaToken, D360Key: cliD360Key, InfobipKey: cliInfobipKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "ogg-opus-mono-48k-2s.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	return s, s.HostFile("voice.ogg", "audio/ogg", b)
}

func sendEnv(s *sandbox.Server) map[string]string {
	return map[string]string{
		"WHATSAPP_ACCESS_TOKEN":    cliMetaToken,
		"WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
		"WHATSAPP_API_URL":         s.MetaURL(),
		"D360_API_KEY":             cliD360Key,
		"D360_API_URL":             s.D360URL(),
		"INFOBIP_API_KEY":          cliInfobipKey,
		"INFOBIP_BASE_URL":         s.InfobipURL(),
		"INFOBIP_SENDER":           "441134960000",
	}
}

func totalRequests(s *sandbox.Server) int {
	n := 0
	for _, p := range sandbox.Providers() {
		n += len(s.Requests(p))
	}
	return n
}

func noSecrets(t *testing.T, texts ...string) {
	t.Helper()
	for _, txt := range texts {
		for _, sec := range []string{cliMetaToken, cliD360Key, cliInfobipKey} {
			if strings.Contains(txt, sec) {
				t.Errorf("a credential was printed: %s", txt)
			}
		}
	}
}

func TestSendJSON(t *testing.T) {
	s, link := startSendSandbox(t)
	env := sendEnv(s)
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		fault    *sandbox.Fault
		provider sandbox.Provider
		code     int
		status   string
		class    string
	}{
		{"meta voice", []string{"--provider", "meta", "--to", "+1 650 555 1234", "--link", link, "--voice"}, nil, nil, sandbox.Meta, exitOK, "accepted", ""},
		{"360dialog", []string{"--provider", "360dialog", "--to", "+16505551234", "--link", link}, nil, nil, sandbox.D360, exitOK, "accepted", ""},
		{"infobip", []string{"--provider", "infobip", "--to", "+441134960001", "--link", link, "--voice", "--message-id", "cli-1", "--callback-data", "x"}, nil, nil, sandbox.Infobip, exitOK, "PENDING_ENROUTE", ""},
		{"window refused", []string{"--provider", "meta", "--to", "+16505551234", "--link", link}, nil, &sandbox.Fault{Status: 400, Code: 131047}, sandbox.Meta, exitFailed, "failed", "window"},
		{"wrong token", []string{"--provider", "meta", "--to", "+16505551234", "--link", link}, map[string]string{"WHATSAPP_ACCESS_TOKEN": "wrong-" + cliMetaToken}, nil, sandbox.Meta, exitFailed, "failed", "auth"},
		{"in doubt", []string{"--provider", "360dialog", "--to", "+16505551234", "--link", link}, nil, &sandbox.Fault{Drop: true}, sandbox.D360, exitFailed, "in_doubt", "in_doubt"},
		{"flag overrides env", []string{"--provider", "meta", "--to", "+16505551234", "--link", link, "--api-url", s.MetaURL()}, map[string]string{"WHATSAPP_API_URL": "http://127.0.0.1:1/nowhere"}, nil, sandbox.Meta, exitOK, "accepted", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			for k, v := range tt.env {
				e[k] = v
			}
			if tt.fault != nil {
				s.Inject(tt.provider, *tt.fault)
			}
			before := len(s.Requests(tt.provider))
			out, errOut, code := runCLI(t, e, append([]string{"send", "--json", "--max-attempts", "1"}, tt.args...)...)
			noSecrets(t, out, errOut)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if n := len(s.Requests(tt.provider)) - before; n != 1 {
				t.Errorf("%d requests to %s, want 1", n, tt.provider)
			}
			if strings.Count(out, "\n") != 1 {
				t.Errorf("stdout is not one JSON line: %q", out)
			}
			var res struct {
				Provider, To, Status string
				MessageID            string `json:"message_id"`
				Error                *struct{ Class, Message, Advice string }
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("stdout %q: %v", out, err)
			}
			if res.Provider != string(tt.provider) || res.Status != tt.status || res.To == "" {
				t.Errorf("result %+v, want provider %s status %s", res, tt.provider, tt.status)
			}
			if tt.class == "" && (res.Error != nil || res.MessageID == "") {
				t.Errorf("success without a message id or with an error: %+v", res)
			}
			if tt.class != "" && (res.Error == nil || res.Error.Class != tt.class || res.Error.Advice == "" || res.Error.Message == "") {
				t.Errorf("error %+v, want class %s with message and advice", res.Error, tt.class)
			}
		})
	}
}

// TestSendUsageErrors: every input or configuration mistake exits 2 and
// makes no request.
func TestSendUsageErrors(t *testing.T) {
	s, link := startSendSandbox(t)
	env := sendEnv(s)
	without := func(k string) map[string]string {
		e := map[string]string{}
		for kk, v := range env {
			if kk != k {
				e[kk] = v
			}
		}
		return e
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"no provider", env, []string{"--to", "+16505551234", "--link", link}},
		{"unknown provider", env, []string{"--provider", "twilio", "--to", "+16505551234", "--link", link}},
		{"bad number", env, []string{"--provider", "meta", "--to", "12345", "--link", link}},
		{"letters in number", env, []string{"--provider", "meta", "--to", "+1650CALLME", "--link", link}},
		{"no media", env, []string{"--provider", "meta", "--to", "+16505551234"}},
		{"id and link", env, []string{"--provider", "meta", "--to", "+16505551234", "--link", link, "--media-id", "1"}},
		{"ftp link", env, []string{"--provider", "360dialog", "--to", "+16505551234", "--link", "ftp://127.0.0.1/a.ogg"}},
		{"infobip media id", env, []string{"--provider", "infobip", "--to", "+16505551234", "--media-id", "1"}},
		{"infobip long callback", env, []string{"--provider", "infobip", "--to", "+16505551234", "--link", link, "--callback-data", strings.Repeat("x", 4001)}},
		{"meta token missing", without("WHATSAPP_ACCESS_TOKEN"), []string{"--provider", "meta", "--to", "+16505551234", "--link", link}},
		{"meta phone id missing", without("WHATSAPP_PHONE_NUMBER_ID"), []string{"--provider", "meta", "--to", "+16505551234", "--link", link}},
		{"360 key missing", without("D360_API_KEY"), []string{"--provider", "360dialog", "--to", "+16505551234", "--link", link}},
		{"infobip base missing", without("INFOBIP_BASE_URL"), []string{"--provider", "infobip", "--to", "+16505551234", "--link", link}},
		{"infobip sender missing", without("INFOBIP_SENDER"), []string{"--provider", "infobip", "--to", "+16505551234", "--link", link}},
		{"from on meta", env, []string{"--provider", "meta", "--to", "+16505551234", "--link", link, "--from", "441134960000"}},
		{"notify URL on meta", env, []string{"--provider", "meta", "--to", "+16505551234", "--link", link, "--notify-url", "https://example.com/r"}},
		{"long callback on meta", env, []string{"--provider", "meta", "--to", "+16505551234", "--link", link, "--callback-data", strings.Repeat("x", 513)}},
		{"message id on meta", env, []string{"--provider", "meta", "--to", "+16505551234", "--link", link, "--message-id", "x"}},
		{"positional", env, []string{"--provider", "meta", "--to", "+16505551234", "--link", link, "EAAtoken"}},
		{"bad flag", env, []string{"--provider", "meta", "--bogus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, asJSON := range []bool{false, true} {
				args := append([]string{"send"}, tt.args...)
				if asJSON {
					args = append(args, "--json")
				}
				out, errOut, code := runCLI(t, tt.env, args...)
				noSecrets(t, out, errOut)
				if code != exitUsage {
					t.Errorf("json=%v: exit %d, want %d (stdout %q stderr %q)", asJSON, code, exitUsage, out, errOut)
				}
			}
		})
	}
	if n := totalRequests(s); n != 0 {
		t.Errorf("%d requests were made; usage errors must make none", n)
	}
}

// TestSendHuman: the default output is a line on stdout when sent, and the
// reason and advice on stderr when refused.
func TestSendHuman(t *testing.T) {
	s, link := startSendSandbox(t)
	env := sendEnv(s)
	out, errOut, code := runCLI(t, env, "send", "--provider", "infobip", "--to", "+441134960001", "--link", link, "--message-id", "human-1")
	if code != exitOK || !strings.Contains(out, "human-1") || !strings.Contains(out, "441134960001") {
		t.Errorf("sent: exit %d stdout %q stderr %q", code, out, errOut)
	}
	s.Inject(sandbox.Meta, sandbox.Fault{Status: 400, Code: 131053}, sandbox.Fault{Status: 400, Code: 131053})
	out, errOut, code = runCLI(t, env, "send", "--provider", "meta", "--to", "+16505551234", "--link", link)
	if code != exitFailed || out != "" || !strings.Contains(errOut, "131053") || !strings.Contains(errOut, "advice:") {
		t.Errorf("refused: exit %d stdout %q stderr %q", code, out, errOut)
	}
	noSecrets(t, out, errOut)
}

// TestSendInfobipDropsNoDuplicates is issue 13's finding 3 as it was
// found: 20 `prep send --provider infobip` runs (distinct recipients)
// against a sandbox that drops half the requests after recording them.
// Each run makes one request and says sent (exit 0) or in_doubt (exit 1);
// no recipient gets two messages.
func TestSendInfobipDropsNoDuplicates(t *testing.T) {
	s, err := sandbox.Start(sandbox.Config{MetaToken: cliMetaToken, D360Key: cliD360Key, InfobipKey: cliInfobipKey,
		Faults: map[sandbox.Provider]sandbox.Faults{sandbox.Infobip: {DropRate: 0.5}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "ogg-opus-mono-48k-2s.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	link := s.HostFile("voice.ogg", "audio/ogg", b)
	env := sendEnv(s)
	outcomes := map[string]int{}
	for i := range 20 {
		out, errOut, code := runCLI(t, env, "send", "--provider", "infobip", "--to", fmt.Sprintf("+4411349601%02d", i), "--link", link, "--voice", "--json")
		var res sendResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("run %d: %v: %q %q", i, err, out, errOut)
		}
		switch {
		case code == exitOK && res.Status != "in_doubt" && res.Attempts == 1:
			outcomes["sent"]++
		case code == exitFailed && res.Status == "in_doubt" && res.MessageID != "" && res.Attempts == 1:
			outcomes["in_doubt"]++
		default:
			t.Errorf("run %d: exit %d, %+v", i, code, res)
		}
	}
	per := map[string]int{}
	for _, m := range s.Messages() {
		per[m.To]++
	}
	for to, n := range per {
		if n > 1 {
			t.Errorf("%s received %d copies", to, n)
		}
	}
	if n := len(s.Requests(sandbox.Infobip)); n != 20 || outcomes["sent"] == 0 || outcomes["in_doubt"] == 0 {
		t.Errorf("%d requests for 20 sends, outcomes %v; want 20 and both outcomes", n, outcomes)
	}
}
