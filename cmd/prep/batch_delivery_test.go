package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/status"
)

// Secrets of the receiver, distinctive so that a leak is easy to grep.
var deliveryEnv = map[string]string{
	envAppSecret:    "app-SECRET-5e1f",
	envVerifyToken:  "verify-SECRET-77",
	envD360Token:    "d360hook-SECRET-0a",
	envInfobipToken: "ibhook-SECRET-c3",
}

// freeAddr reserves a loopback port for --listen (the sandbox must know
// the receiver's URL before the batch starts).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// deliverySandbox is a sandbox that sends its statuses to a prep receiver
// at addr, the way the providers would once set up: Meta's webhook
// verified with the verify token and signed with the app secret,
// 360dialog's registered with POST /v1/configs/webhook and its token
// header, Infobip's to each send's notifyUrl.
func deliverySandbox(t *testing.T, addr string, cfg sandbox.Config) *sandbox.Server {
	t.Helper()
	cfg.AppSecret, cfg.VerifyToken = deliveryEnv[envAppSecret], deliveryEnv[envVerifyToken]
	cfg.WebhookURL = "http://" + addr + "/webhooks/meta"
	if cfg.StatusDelay == 0 {
		cfg.StatusDelay = 20 * time.Millisecond
	}
	if cfg.Delivery.RetryBackoff == 0 {
		cfg.Delivery.RetryBackoff = 100 * time.Millisecond
	}
	cfg.Delivery.Retries = 8
	sb := startSB(t, cfg)
	if err := status.Register360(context.Background(), http.DefaultClient, sb.D360URL(), "sandbox", "http://"+addr+"/webhooks/360dialog", deliveryEnv[envD360Token]); err != nil {
		t.Fatal(err)
	}
	return sb
}

// Over loopback HTTP, end to end: a batch through the sandbox with --wait
// played. The sandbox plays some notes, fails one with 131053 and one with
// 131047, drops a webhook delivery (retried), batches, reorders and
// duplicates others; a forged and an unsigned POST change nothing. The
// report's delivery column is exactly right for every row.
func TestBatchDeliveryEndToEnd(t *testing.T) {
	needFFmpeg(t)
	addr := freeAddr(t)
	type rowSpec struct {
		to, provider string
		script       sandbox.Recipient
		play         bool
		want         string
		code         int
	}
	rows := []rowSpec{
		{"+447700900101", "meta", sandbox.Recipient{}, true, "played", 0},
		{"+447700900102", "360dialog", sandbox.Recipient{Duplicate: true}, true, "played", 0},
		{"+447700900103", "infobip", sandbox.Recipient{Order: sandbox.ReadBeforeDelivered}, true, "read", 0}, // Infobip reports no played
		{"+447700900104", "meta", sandbox.Recipient{Fail: 131053}, false, "failed", 131053},
		{"+447700900105", "meta", sandbox.Recipient{}, false, "failed", 131047}, // outside the 24-hour window
		{"+447700900106", "meta", sandbox.Recipient{Order: sandbox.SkipDelivered}, true, "played", 0},
		{"+447700900107", "360dialog", sandbox.Recipient{Order: sandbox.FailedAfterDelivered}, false, "read", 0},
		{"+447700900108", "meta", sandbox.Recipient{Order: sandbox.ReadBeforeDelivered, Duplicate: true}, false, "read", 0},
		{"+447700900109", "infobip", sandbox.Recipient{Fail: 131053}, false, "failed", 131053},
	}
	scripts := map[string]sandbox.Recipient{}
	for _, r := range rows {
		scripts[r.to] = r.script
	}
	sb := deliverySandbox(t, addr, sandbox.Config{Recipients: scripts, OutsideWindow: []string{"+447700900105"},
		Delivery: sandbox.Delivery{Batch: 4, BatchWindow: 60 * time.Millisecond}})
	sb.DropWebhooks(1)

	dir := t.TempDir()
	copyVoiceNote(t, filepath.Join(dir, "a.ogg"))
	var mb strings.Builder
	mb.WriteString("to,file,provider\n")
	for _, r := range rows {
		fmt.Fprintf(&mb, "%s,a.ogg,%s\n", r.to, r.provider)
	}
	manifest := filepath.Join(dir, "m.csv")
	os.WriteFile(manifest, []byte(mb.String()), 0o644)
	report := filepath.Join(dir, "r.jsonl")
	store := filepath.Join(dir, "statuses.jsonl")

	// The recipients who play their notes play them as soon as they arrive;
	// meanwhile a forger posts to the receiver.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	forged := make(chan []int, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		played := map[string]bool{}
		var codes []int
		for ctx.Err() == nil {
			for _, m := range sb.Messages() {
				for _, r := range rows {
					if r.play && "+"+m.To == r.to && !played[m.ID] {
						played[m.ID] = true
						_ = sb.Play(m.ID)
					}
					// Row 1's note, once it is out: a forged "failed" for it,
					// unsigned and then signed with the wrong secret.
					if r.to == rows[0].to && "+"+m.To == r.to && codes == nil {
						body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"1"},"statuses":[{"id":"` + m.ID + `","status":"failed","timestamp":"9999999999","recipient_id":"447700900101","errors":[{"code":131026,"title":"forged"}]}]}}]}]}`)
						for _, sig := range []string{"", sandbox.Signature("not-the-secret", body)} {
							req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/meta", bytes.NewReader(body))
							if sig != "" {
								req.Header.Set("X-Hub-Signature-256", sig)
							}
							if resp, err := http.DefaultClient.Do(req); err == nil {
								codes = append(codes, resp.StatusCode)
								resp.Body.Close()
							}
						}
						forged <- codes
					}
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	out, errOut, code := runCLI(t, deliveryEnv, "batch", "--sandbox", sb.URL(), "--manifest", manifest, "--report", report,
		"--store", store, "--listen", addr, "--notify-url", "http://"+addr, "--wait", "played", "--wait-timeout", "4s")
	cancel()
	wg.Wait()
	if code != exitFailed {
		t.Fatalf("exit %d (rows failed or pending: want 1)\n%s\n%s", code, out, errOut)
	}
	for _, s := range deliveryEnv {
		if strings.Contains(out+errOut, s) {
			t.Fatal("a secret was printed")
		}
	}
	select {
	case codes := <-forged:
		if len(codes) != 2 || codes[0] != http.StatusUnauthorized && codes[0] != http.StatusForbidden || codes[1] != http.StatusForbidden && codes[1] != http.StatusUnauthorized {
			t.Fatalf("the receiver answered the forged POSTs %v", codes)
		}
	default:
		t.Fatal("the forged POSTs were not made")
	}
	got := reportRows(t, report)
	if len(got) != len(rows) {
		t.Fatalf("%d report rows", len(got))
	}
	for i, r := range got {
		w := rows[r.Row-2]
		if r.Status != pipeline.StatusSent || r.Delivery != w.want || r.ErrorCode != w.code {
			t.Errorf("row %d (%s via %s): status %s delivery %q code %d, want sent %q %d (%s)", r.Row, w.to, w.provider, r.Status, r.Delivery, r.ErrorCode, w.want, w.code, r.Error)
		}
		if w.code != 0 && r.Advice == "" {
			t.Errorf("row %d: no advice for %d", r.Row, w.code)
		}
		_ = i
	}
	// The dropped delivery was retried; 360dialog's carried its token and
	// no signature; the verification ran first.
	// (The sandbox tried the verification when it started, before the
	// receiver listened: Meta does it when the URL is saved.)
	hooks := sb.Webhooks()
	verified, dropped := false, false
	for _, h := range hooks {
		dropped = dropped || strings.Contains(h.Error, "dropped")
		if h.Method == http.MethodGet && h.Status == 200 {
			verified = true
		}
		if h.Method == http.MethodPost && h.Provider == sandbox.Meta && h.Status != 0 && !verified {
			t.Errorf("a status was posted before the verification: %+v", h)
		}
		if h.Status != 0 && h.Status != 200 {
			t.Errorf("a webhook was refused: %+v", h)
		}
	}
	if !verified {
		t.Error("Meta's webhook was never verified")
	}
	if !dropped {
		t.Error("no delivery was dropped")
	}
	// Every note went out once.
	for _, r := range rows {
		if n := len(messagesByRecipient(sb)[strings.TrimPrefix(r.to, "+")]); n != 1 {
			t.Errorf("%s: %d messages", r.to, n)
		}
	}
	if !strings.Contains(out, "DELIVERY") || !strings.Contains(out, "failed 131053") || !strings.Contains(out, "delivery: played 3, read 3") {
		t.Errorf("the human output has no delivery column or summary:\n%s", out)
	}
}

// A row whose send is in doubt (the request left, the answer was lost) is
// known the moment a status carrying its callback data arrives — and it is
// never resent, neither in this run nor in the next.
func TestBatchUnknownResolvedByStatus(t *testing.T) {
	needFFmpeg(t)
	addr := freeAddr(t)
	sb := deliverySandbox(t, addr, sandbox.Config{})
	// The upload answers; the send is processed, then gets no answer.
	sb.Inject(sandbox.Meta, sandbox.Fault{}, sandbox.Fault{Drop: true})
	dir := t.TempDir()
	copyVoiceNote(t, filepath.Join(dir, "a.ogg"))
	manifest := filepath.Join(dir, "m.csv")
	os.WriteFile(manifest, []byte("to,file,provider\n+447700900201,a.ogg,meta\n+447700900202,a.ogg,infobip\n"), 0o644)
	sb.Inject(sandbox.Infobip, sandbox.Fault{Drop: true})
	report := filepath.Join(dir, "r.jsonl")
	store := filepath.Join(dir, "statuses.jsonl")
	args := []string{"batch", "--sandbox", sb.URL(), "--manifest", manifest, "--report", report,
		"--store", store, "--listen", addr, "--notify-url", "http://" + addr, "--wait", "read", "--wait-timeout", "10s"}
	out, errOut, code := runCLI(t, deliveryEnv, args...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// Both sends were in doubt: the journal holds them unknown.
	recs, err := pipeline.ReadJournal(manifest + ".journal")
	if err != nil {
		t.Fatal(err)
	}
	unknown := map[int]bool{}
	for _, r := range recs {
		if r.State == pipeline.StateUnknown {
			unknown[r.Row] = true
		}
	}
	if !unknown[2] || !unknown[3] {
		t.Fatalf("rows in doubt %v, want 2 and 3 (the test proves nothing otherwise)", unknown)
	}
	if !strings.Contains(out, "sent 2, failed 0, unknown 0") {
		t.Errorf("summary:\n%s", out)
	}
	for _, r := range reportRows(t, report) {
		if r.Status != pipeline.StatusSent || r.Delivery != "read" || r.MessageID == "" {
			t.Errorf("row %d: %s %q %q (%s)", r.Row, r.Status, r.Delivery, r.MessageID, r.Error)
		}
	}
	if n := len(sb.Messages()); n != 2 {
		t.Fatalf("%d messages, want 2 (nothing resent)", n)
	}
	// The journal says so now: the next run sends nothing again, not even
	// with --resend-unknown, and reports both rows sent.
	out, errOut, code = runCLI(t, deliveryEnv, append(args, "--resend-unknown")...)
	if n := len(sb.Messages()); n != 2 {
		t.Fatalf("%d messages after a rerun with --resend-unknown, want 2", n)
	}
	if code != exitOK {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, r := range reportRows(t, report) {
		if r.Status != pipeline.StatusSent || !r.Resumed || r.Delivery != "read" {
			t.Errorf("rerun row %d: %s resumed=%v %q", r.Row, r.Status, r.Resumed, r.Delivery)
		}
	}
}

// Without --listen the batch reads the store another receiver writes (here
// one in the test process, as prep webhooks would be), and with --json it
// shows the delivery counts on stderr while it waits.
func TestBatchDeliveryFromAnotherReceiver(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	storePath := filepath.Join(dir, "statuses.jsonl")
	st, err := status.OpenStore(storePath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rc := status.NewReceiver(st, status.Config{MetaAppSecret: deliveryEnv[envAppSecret], MetaVerifyToken: deliveryEnv[envVerifyToken],
		D360Token: deliveryEnv[envD360Token], InfobipToken: deliveryEnv[envInfobipToken]})
	ts := httptest.NewServer(rc)
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	sb := deliverySandbox(t, addr, sandbox.Config{Recipients: map[string]sandbox.Recipient{"+447700900302": {Fail: 131053}}})
	copyVoiceNote(t, filepath.Join(dir, "a.ogg"))
	manifest := filepath.Join(dir, "m.csv")
	os.WriteFile(manifest, []byte("to,file,provider\n+447700900301,a.ogg,360dialog\n+447700900302,a.ogg,infobip\n"), 0o644)
	out, errOut, code := runCLI(t, deliveryEnv, "batch", "--sandbox", sb.URL(), "--manifest", manifest, "--json",
		"--store", storePath, "--notify-url", ts.URL, "--wait", "delivered", "--wait-timeout", "10s")
	if code != exitFailed {
		t.Fatalf("exit %d, want 1 (a row failed after it was sent)\n%s\n%s", code, out, errOut)
	}
	// Row 2 is delivered at least (read may come before the wait ends).
	want := map[int]string{2: "delivered", 3: "failed"}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r pipeline.RowResult
		if json.Unmarshal([]byte(line), &r) != nil || r.Row == 0 {
			continue
		}
		if r.Delivery != want[r.Row] && !(r.Row == 2 && r.Delivery == "read") {
			t.Errorf("row %d: delivery %q, want %q", r.Row, r.Delivery, want[r.Row])
		}
		delete(want, r.Row)
	}
	if len(want) != 0 {
		t.Fatalf("rows missing from the output: %v\n%s", want, out)
	}
	if !strings.Contains(errOut, `{"delivery":{`) || !strings.Contains(errOut, `"wait":"delivered"`) {
		t.Errorf("no delivery progress on stderr:\n%s", errOut)
	}
}

func TestBatchDeliveryUsage(t *testing.T) {
	dir := t.TempDir()
	copyVoiceNote(t, filepath.Join(dir, "a.ogg"))
	manifest := filepath.Join(dir, "m.csv")
	os.WriteFile(manifest, []byte("to,file,provider\n+447700900401,a.ogg,meta\n"), 0o644)
	store := filepath.Join(dir, "s.jsonl")
	noInfobip := map[string]string{envAppSecret: "x"}
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{deliveryEnv, []string{"--wait", "read"}},                                                       // no store
		{deliveryEnv, []string{"--listen", "127.0.0.1:0"}},                                              // no store
		{deliveryEnv, []string{"--store", store, "--wait", "seen"}},                                     // not a state
		{deliveryEnv, []string{"--store", store, "--wait", "failed"}},                                   // not one to wait for
		{deliveryEnv, []string{"--store", store, "--wait", "read", "--wait-timeout", "0s"}},             // no time
		{nil, []string{"--store", store, "--listen", "127.0.0.1:0"}},                                    // no secret
		{map[string]string{envVerifyToken: "v"}, []string{"--store", store, "--listen", "127.0.0.1:0"}}, // handshake without the app secret
		{noInfobip, []string{"--notify-url", "http://127.0.0.1:1"}},                                     // no Infobip token
		{deliveryEnv, []string{"--notify-url", "ftp://127.0.0.1:1"}},                                    // not http
		{deliveryEnv, []string{"--store", store, "--wait", "read", "--queue", "nats://127.0.0.1:1"}},    // --wait not with the queue (--store alone resolves unknown rows)
	} {
		args := append([]string{"batch", "--sandbox", "http://127.0.0.1:1", "--manifest", manifest}, tc.args...)
		if _, errOut, code := runCLI(t, tc.env, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, exitUsage, errOut)
		}
	}
	if _, err := os.Stat(manifest + ".journal"); err == nil {
		t.Error("a usage error started the batch")
	}
}
