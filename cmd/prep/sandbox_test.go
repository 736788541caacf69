package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/sandbox"
)

// lockedBuffer is a bytes.Buffer safe for the command's goroutine and the
// test to share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestSandboxCommand(t *testing.T) {
	var out, errb lockedBuffer
	environ := map[string]string{"PREP_SANDBOX_META_TOKEN": "EAAenv-SECRET-9f1"}
	e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string { return environ[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, e, []string{"sandbox", "--addr", "127.0.0.1:0", "--json", "--rate", "100", "--error-rate", "1", "--fault-providers", "infobip"})
	}()
	var urls map[string]string
	deadline := time.Now().Add(10 * time.Second)
	for urls == nil {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no URLs printed: %q %q", out.String(), errb.String())
		}
		if line, _, ok := strings.Cut(out.String(), "\n"); ok {
			if err := json.Unmarshal([]byte(line), &urls); err != nil {
				t.Fatalf("not JSON: %q", line)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The token from the environment is the one accepted; Meta has no faults.
	req, _ := http.NewRequest(http.MethodPost, urls["meta"]+"/v23.0/1/messages", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer EAAenv-SECRET-9f1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 { // authenticated, then refused: messaging_product is required
		t.Fatalf("Meta answered %d", resp.StatusCode)
	}
	// --error-rate 1 applies to Infobip only.
	resp, err = http.Post(urls["infobip"]+"/whatsapp/1/message/audio", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("Infobip answered %d, want the injected 500", resp.StatusCode)
	}
	if resp, err := http.Get(urls["page"]); err != nil || resp.StatusCode != 200 {
		t.Fatalf("page: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	select {
	case err := <-done:
		if code := exitCode(err); code != exitOK {
			t.Fatalf("exit %d (%v)", code, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sandbox did not stop on cancel")
	}
	if strings.Contains(out.String()+errb.String(), "SECRET") {
		t.Fatal("a credential was printed")
	}
	if !strings.Contains(errb.String(), "meta POST /meta/v23.0/1/messages → 400") {
		t.Fatalf("request log: %q", errb.String())
	}
}

func TestSandboxCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"sandbox", "extra"},
		{"sandbox", "--error-rate", "2"},
		{"sandbox", "--error-rate", "0.7", "--drop-rate", "0.7"},
		{"sandbox", "--fault-providers", "twilio"},
		{"sandbox", "--webhook", "not-a-url"},
		{"sandbox", "--rate", "-1"},
		{"sandbox", "--latency", "soon"},
		{"sandbox", "--duplicate-rate", "1.5"},
		{"sandbox", "--webhook-batch", "1001"},
		{"sandbox", "--reorder-rate", "0.6", "--skip-delivered-rate", "0.6"},
		{"sandbox", "--recipient", "15550001=sideways"},
		{"sandbox", "--recipient", "15550001=fail:x"},
		{"sandbox", "--recipient", "no-spec"},
	} {
		if _, _, code := runCLI(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestRecipientFlag(t *testing.T) {
	f := recipientFlag{}
	for _, v := range []string{"+1 555 0001=fail:131053,duplicate", "15550002=read-before-delivered", "15550002=duplicate"} {
		if err := f.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	want := recipientFlag{
		"+1 555 0001": {Fail: 131053, Duplicate: true},
		"15550002":    {Order: sandbox.ReadBeforeDelivered, Duplicate: true},
	}
	if !maps.Equal(f, want) {
		t.Fatalf("%+v", f)
	}
}

// The delivery flags reach the sandbox: a scripted recipient fails with
// 131053, duplicated, in batched, signed webhooks to a verified URL.
func TestSandboxCommandDeliveryFlags(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	var gets int
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodGet {
			gets++
			if r.URL.Query().Get("hub.verify_token") != "vt-SECRET" {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			io.WriteString(w, r.URL.Query().Get("hub.challenge"))
			return
		}
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Hub-Signature-256") != sandbox.Signature("app-SECRET", b) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		bodies = append(bodies, string(b))
	}))
	defer recv.Close()
	var out, errb lockedBuffer
	environ := map[string]string{"PREP_SANDBOX_VERIFY_TOKEN": "vt-SECRET", "PREP_SANDBOX_APP_SECRET": "app-SECRET"}
	e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string { return environ[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, e, []string{"sandbox", "--addr", "127.0.0.1:0", "--json", "--webhook", recv.URL, "--status-delay", "10ms",
			"--webhook-batch", "10", "--batch-window", "50ms", "--recipient", "+1 650 555 1234=fail:131053,duplicate"})
	}()
	defer func() {
		cancel()
		<-done
	}()
	var urls map[string]string
	for deadline := time.Now().Add(10 * time.Second); urls == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no URLs printed: %q %q", out.String(), errb.String())
		}
		if line, _, ok := strings.Cut(out.String(), "\n"); ok {
			_ = json.Unmarshal([]byte(line), &urls)
		}
	}
	voice, err := os.ReadFile(filepath.Join("..", "..", "testdata", "ogg-opus-mono-48k-2s.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	if host, err := http.Post(urls["files"]+"v.ogg", "audio/ogg", bytes.NewReader(voice)); err == nil {
		host.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPost, urls["meta"]+"/v23.0/1/messages", strings.NewReader(
		`{"messaging_product":"whatsapp","to":"16505551234","type":"audio","audio":{"link":"`+urls["files"]+`v.ogg","voice":true}}`))
	req.Header.Set("Authorization", "Bearer sandbox")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("send: %d", resp.StatusCode)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		all := strings.Join(bodies, "\n")
		mu.Unlock()
		if strings.Count(all, `"code":131053`) >= 2 { // the failed status, and its duplicate
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no duplicated 131053 failure arrived: %s", all)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if gets == 0 {
		t.Fatal("the webhook was not verified")
	}
	if strings.Contains(out.String()+errb.String(), "SECRET") {
		t.Fatal("a secret was printed")
	}
}

// TestSandboxConfigErrorExit: a sandbox that cannot start is a usage error
// for every command that starts one (prep sandbox and prep demo alike),
// mapped in exit.go, not by each command.
func TestSandboxConfigErrorExit(t *testing.T) {
	_, err := sandbox.Start(sandbox.Config{MessagesPerSecond: -1})
	var ce *sandbox.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Start: %v, want a *sandbox.ConfigError", err)
	}
	for _, err := range []error{err, fmt.Errorf("demo: %w", err)} {
		if code := exitCode(err); code != exitUsage {
			t.Errorf("exitCode(%v) = %d, want %d", err, code, exitUsage)
		}
	}
}
