package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/queue"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/status"
)

func TestStatusCommand(t *testing.T) {
	dir := t.TempDir()
	jpath, spath := filepath.Join(dir, "m.journal"), filepath.Join(dir, "statuses.jsonl")
	j, _, err := pipeline.OpenJournal(jpath)
	if err != nil {
		t.Fatal(err)
	}
	key := func(i int) string { return fmt.Sprintf("%032x", i) }
	recs := []pipeline.Record{
		{State: pipeline.StateRun},
		{Key: key(1), Row: 1, To: "+16505550001", Provider: send.Meta, Parts: 1, State: pipeline.StateSending},
		{Key: key(1), Row: 1, Part: 0, State: pipeline.StateSent, MessageID: "wamid.1"},
		{Key: key(2), Row: 2, To: "+16505550002", Provider: send.Meta, Parts: 2, State: pipeline.StateSent, MessageID: "wamid.2a"},
		{Key: key(2), Row: 2, Part: 1, Parts: 2, State: pipeline.StateSent, MessageID: "wamid.2b"},
		// in doubt, resolved by a status carrying the row's key
		{Key: key(3), Row: 3, To: "+16505550003", Provider: send.Meta, Parts: 1, State: pipeline.StateUnknown, Error: "no answer"},
		// Infobip in doubt: its messageId was fixed before sending
		{Key: key(4), Row: 4, To: "+16505550004", Provider: send.Infobip, Parts: 1, State: pipeline.StateUnknown, ClientID: "ib-4"},
		{Key: key(5), Row: 5, To: "+16505550005", Provider: send.D360, Parts: 1, State: pipeline.StateFailed, Error: "360dialog: HTTP 400 code 131047 (window)"},
		{Key: key(6), Row: 6, To: "+16505550006", Provider: send.Meta, Parts: 1, State: pipeline.StateSent, MessageID: "wamid.6"},
		{Key: key(7), Row: 7, To: "+16505550007", Provider: send.Meta, Parts: 1, State: pipeline.StateSent, MessageID: "wamid.7"},
	}
	for _, r := range recs {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	st, err := status.OpenStore(spath)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 18, 10, 0, 0, 0, time.UTC)
	evs := []status.Event{
		{Provider: status.Meta, MessageID: "wamid.1", Status: status.Played, Time: at},
		{Provider: status.Meta, MessageID: "wamid.2a", Status: status.Played, Time: at},
		{Provider: status.Meta, MessageID: "wamid.2b", Status: status.Delivered, Time: at.Add(time.Minute)},
		{Provider: status.Meta, MessageID: "wamid.3", Status: status.Read, Time: at, CallbackData: key(3)},
		{Provider: status.Infobip, MessageID: "ib-4", Status: status.Delivered, Time: at},
		{Provider: status.Meta, MessageID: "wamid.6", Status: status.Failed, Time: at, Error: &status.Failure{Code: 131053, Title: "Media upload error", Kind: "media", Advice: "check the file"}},
	}
	if err := st.Append(context.Background(), evs, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out, stderr, code := runCLI(t, nil, "status", "--journal", jpath, "--store", spath, "--json")
	if code != exitFailed {
		t.Fatalf("exit %d, want 1 (rows not delivered); stderr %s", code, stderr)
	}
	want := map[int]struct {
		delivery string
		code     int
		ids      string
	}{
		1: {"played", 0, "wamid.1"},
		2: {"delivered", 0, "wamid.2a;wamid.2b"},
		3: {"read", 0, "wamid.3"},
		4: {"delivered", 0, "ib-4"},
		5: {"failed", 0, ""},
		6: {"failed", 131053, "wamid.6"},
		7: {"accepted", 0, "wamid.7"}, // sent, no status yet
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want)+1 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for _, l := range lines[:len(want)] {
		var r statusRow
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		w := want[r.Row]
		ids := strings.Join(r.MessageID, ";")
		if r.Delivery != w.delivery || r.ErrorCode != w.code || ids != w.ids {
			t.Errorf("row %d: %+v, want %+v", r.Row, r, w)
		}
		if r.Row == 6 && (r.Advice == "" || r.Error == "") {
			t.Errorf("row 6 without error/advice: %+v", r)
		}
		if r.Row == 5 && !strings.Contains(r.Error, "131047") {
			t.Errorf("row 5: %+v", r)
		}
	}
	if !strings.Contains(lines[len(lines)-1], `"summary"`) {
		t.Errorf("no summary: %s", lines[len(lines)-1])
	}
	// Human form: a table and the counts.
	out, _, _ = runCLI(t, nil, "status", "--journal", jpath, "--store", spath)
	if !strings.Contains(out, "7 rows: 1 played, 1 read, 2 delivered, 1 accepted, 2 failed") {
		t.Errorf("summary line:\n%s", out)
	}
	// Missing inputs are usage errors (nothing done).
	if _, _, code := runCLI(t, nil, "status", "--journal", jpath, "--store", filepath.Join(dir, "none")); code != exitUsage {
		t.Errorf("missing store: exit %d", code)
	}
	if _, _, code := runCLI(t, nil, "status", "--journal", jpath); code != exitUsage {
		t.Errorf("no store: exit %d", code)
	}
}

func TestStatusAllDelivered(t *testing.T) {
	dir := t.TempDir()
	jpath, spath := filepath.Join(dir, "m.journal"), filepath.Join(dir, "s.jsonl")
	j, _, _ := pipeline.OpenJournal(jpath)
	j.Append(pipeline.Record{Key: "k", Row: 1, To: "+1", Provider: send.Meta, Parts: 1, State: pipeline.StateSent, MessageID: "w"})
	j.Close()
	st, _ := status.OpenStore(spath)
	st.Append(context.Background(), []status.Event{{Provider: status.Meta, MessageID: "w", Status: status.Read}}, nil)
	st.Close()
	if out, _, code := runCLI(t, nil, "status", "--journal", jpath, "--store", spath); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// webhooksProc is a `prep webhooks` process whose stderr is read to its
// end: exec.Cmd.Wait closes the pipe once the process exits, so whatever
// was still unread would be lost — stop waits for the reader's EOF first.
type webhooksProc struct {
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:PORT
	log     syncBuffer
	drained chan struct{}
}

func startWebhooks(t *testing.T, cmd *exec.Cmd) *webhooksProc {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	p := &webhooksProc{cmd: cmd, drained: make(chan struct{})}
	sc := bufio.NewScanner(stderr)
	re := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	for p.base == "" && sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			p.base = m[1]
		}
	}
	if p.base == "" {
		t.Fatal("prep webhooks did not say where it listens")
	}
	go func() {
		defer close(p.drained)
		for sc.Scan() {
			fmt.Fprintln(&p.log, sc.Text())
		}
		io.Copy(io.Discard, stderr) // a line longer than the scanner takes
	}()
	return p
}

// wait waits up to d for the process to end, after its stderr is read to
// the end; timedOut says it had not.
func (p *webhooksProc) wait(d time.Duration) (err error, timedOut bool) {
	done := make(chan error, 1)
	go func() {
		<-p.drained
		done <- p.cmd.Wait()
	}()
	select {
	case err := <-done:
		return err, false
	case <-time.After(d):
		return nil, true
	}
}

func TestWebhooksCommand(t *testing.T) {
	dir := t.TempDir()
	spath := filepath.Join(dir, "statuses.jsonl")
	secrets := map[string]string{
		envVerifyToken: "verify-secret-value", envAppSecret: "app-secret-value",
		envD360Token: "d360-secret-value", envInfobipToken: "infobip-secret-value",
	}
	var out, errb syncBuffer
	e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string { return secrets[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, e, []string{"webhooks", "--addr", "127.0.0.1:0", "--store", spath, "--json"}) }()
	var base string
	re := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(errb.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("not listening: %s", errb.String())
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(path string, body []byte, hdr map[string]string) int {
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c, b := get(base + "/webhooks/meta?hub.mode=subscribe&hub.verify_token=verify-secret-value&hub.challenge=42"); c != 200 || b != "42" {
		t.Errorf("handshake: %d %q", c, b)
	}
	meta := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","statuses":[{"id":"wamid.A","status":"read","timestamp":"1773828000","recipient_id":"16505551234"}]}}]}]}`)
	mac := hmac.New(sha256.New, []byte("app-secret-value"))
	mac.Write(meta)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if c := post("/webhooks/meta", meta, map[string]string{"X-Hub-Signature-256": sig}); c != 200 {
		t.Errorf("signed meta: %d", c)
	}
	if c := post("/webhooks/meta", meta, map[string]string{"X-Hub-Signature-256": "sha256=" + strings.Repeat("0", 64)}); c != 403 {
		t.Errorf("forged meta: %d", c)
	}
	d360 := bytes.ReplaceAll(meta, []byte("wamid.A"), []byte("wamid.B"))
	if c := post("/webhooks/360dialog", d360, map[string]string{status.TokenHeader: "d360-secret-value"}); c != 200 {
		t.Errorf("360dialog: %d", c)
	}
	ib := []byte(`{"results":[{"messageId":"ib-1","to":"41793026727","doneAt":"2026-03-18T10:00:02.000+0000","status":{"groupId":3,"groupName":"DELIVERED","id":5,"name":"DELIVERED_TO_HANDSET"}}]}`)
	if c := post("/webhooks/infobip/infobip-secret-value", ib, nil); c != 200 {
		t.Errorf("infobip: %d", c)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("webhooks ended with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("webhooks did not stop on cancel")
	}
	r, err := status.OpenReader(spath)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]status.Status{"wamid.A": status.Read, "wamid.B": status.Read, "ib-1": status.Delivered} {
		if got := r.Status(id); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	if n := strings.Count(strings.TrimSpace(out.String()), "\n") + 1; n != 3 {
		t.Errorf("%d JSON lines on stdout, want 3:\n%s", n, out.String())
	}
	all := out.String() + errb.String()
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("a secret was printed:\n%s", all)
		}
	}
	if !strings.Contains(errb.String(), "refused 403") {
		t.Errorf("the forged POST was not logged:\n%s", errb.String())
	}
	b, _ := os.ReadFile(spath)
	if strings.Count(string(b), "\n") != 3 {
		t.Errorf("store:\n%s", b)
	}
}

func TestWebhooksRegister(t *testing.T) {
	var got map[string]any
	var key string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key = r.Header.Get("D360-API-KEY")
		json.NewDecoder(r.Body).Decode(&got)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	envs := map[string]string{"D360_API_KEY": "key-value", envD360Token: "tok-value", "D360_API_URL": srv.URL}
	out, stderr, code := runCLI(t, envs, "webhooks", "register", "--provider", "360dialog", "--url", "https://hooks.example.com")
	if code != 0 || key != "key-value" || got["url"] != "https://hooks.example.com/webhooks/360dialog" {
		t.Fatalf("exit %d, sent %v (key %q); %s %s", code, got, key, out, stderr)
	}
	if strings.Contains(out+stderr, "tok-value") || strings.Contains(out+stderr, "key-value") {
		t.Fatal("a secret was printed")
	}
	out, _, code = runCLI(t, nil, "webhooks", "register", "--provider", "meta", "--url", "https://hooks.example.com")
	if code != 0 || !strings.Contains(out, "https://hooks.example.com/webhooks/meta") {
		t.Fatalf("meta: %d %s", code, out)
	}
	if _, _, code := runCLI(t, nil, "webhooks", "register", "--provider", "360dialog", "--url", "https://x"); code != exitUsage {
		t.Fatalf("no key: exit %d", code)
	}
	if _, _, code := runCLI(t, nil, "webhooks", "--store", filepath.Join(t.TempDir(), "s")); code != exitUsage {
		t.Fatalf("no provider configured: exit %d", code)
	}
}

// The prep binary as a receiver: SIGTERM ends it gracefully (exit 0) with
// what it acknowledged stored.
func TestWebhooksSIGTERM(t *testing.T) {
	bin := prepBinary(t)
	spath := filepath.Join(t.TempDir(), "statuses.jsonl")
	cmd := exec.Command(bin, "webhooks", "--addr", "127.0.0.1:0", "--store", spath)
	cmd.Env = append(os.Environ(), "INFOBIP_WEBHOOK_TOKEN=tok-for-sigterm")
	p := startWebhooks(t, cmd)
	base := p.base
	ib := `{"results":[{"messageId":"ib-9","to":"41793026727","doneAt":"2026-03-18T10:00:02.000+0000","status":{"groupId":3,"groupName":"DELIVERED","id":5,"name":"DELIVERED_TO_HANDSET"}}]}`
	resp, err := http.Post(base+"/webhooks/infobip/tok-for-sigterm", "application/json", strings.NewReader(ib))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("answered %d", resp.StatusCode)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err, timedOut := p.wait(20 * time.Second); timedOut {
		t.Fatal("prep webhooks did not stop on SIGTERM")
	} else if err != nil {
		t.Fatalf("prep webhooks after SIGTERM: %v\n%s", err, p.log.String())
	}
	r, err := status.OpenReader(spath)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status("ib-9") != status.Delivered {
		t.Fatalf("ib-9: %s", r.Status("ib-9"))
	}
}

// A store that fails a write (here: the file size limit, EFBIG) takes
// nothing more: the body is answered 503 (the provider retries it) and
// prep webhooks stops with exit 1 so a supervisor restarts it.
func TestWebhooksStoreFailure(t *testing.T) {
	bin := prepBinary(t)
	dir := t.TempDir()
	spath := filepath.Join(dir, "statuses.jsonl")
	cmd := exec.Command("sh", "-c", `ulimit -f 8 && exec "$0" webhooks --addr 127.0.0.1:0 --store "$1"`, bin, spath)
	cmd.Env = append(os.Environ(), "INFOBIP_WEBHOOK_TOKEN=tok")
	p := startWebhooks(t, cmd)
	base := p.base
	log := &p.log
	acked, refused := 0, 0
	for i := 0; i < 60 && refused == 0; i++ {
		body := fmt.Sprintf(`{"results":[{"messageId":"ib-%d-%s","doneAt":"2026-03-18T10:00:02.000+0000","status":{"groupName":"DELIVERED"}}]}`, i, strings.Repeat("x", 300))
		resp, err := http.Post(base+"/webhooks/infobip/tok", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			acked++
		case 503:
			refused++
		default:
			t.Fatalf("answered %d", resp.StatusCode)
		}
	}
	if refused == 0 || acked == 0 {
		t.Fatalf("acked %d, refused %d", acked, refused)
	}
	err, timedOut := p.wait(20 * time.Second)
	if timedOut {
		t.Fatal("prep webhooks went on after its store failed")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "file too large") {
		t.Errorf("the reason is not said:\n%s", log.String())
	}
	// What was acknowledged is there; the torn write is cut on reopen.
	s, err := status.OpenStore(spath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := s.Stats().Events; n < acked {
		t.Fatalf("%d events stored, %d acknowledged", n, acked)
	}
}

// A client trickling a body (a slowloris: /webhooks/meta reads the body
// before it checks the signature, so it needs no secret) does not make a
// SIGTERM fail: after the grace its connection is closed — the body was
// never acknowledged — and prep webhooks ends with exit 0, keeping what it
// acknowledged.
func TestWebhooksSIGTERMTricklingBody(t *testing.T) {
	bin := prepBinary(t)
	spath := filepath.Join(t.TempDir(), "statuses.jsonl")
	cmd := exec.Command(bin, "webhooks", "--addr", "127.0.0.1:0", "--store", spath, "--shutdown-timeout", "1s")
	cmd.Env = append(os.Environ(), "WHATSAPP_APP_SECRET=app-secret-for-trickle", "INFOBIP_WEBHOOK_TOKEN=tok-for-trickle")
	p := startWebhooks(t, cmd)
	base := p.base
	log := &p.log

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "POST /webhooks/meta HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", strings.TrimPrefix(base, "http://")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a byte every 100 ms, until the connection is closed
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	ib := `{"results":[{"messageId":"ib-t","to":"41793026727","doneAt":"2026-03-18T10:00:02.000+0000","status":{"groupName":"DELIVERED"}}]}`
	resp, err := http.Post(base+"/webhooks/infobip/tok-for-trickle", "application/json", strings.NewReader(ib))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("answered %d", resp.StatusCode)
	}
	time.Sleep(300 * time.Millisecond) // the trickle is under way
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if err, timedOut := p.wait(15 * time.Second); timedOut {
		t.Fatal("prep webhooks did not stop on SIGTERM")
	} else if err != nil {
		t.Fatalf("prep webhooks after SIGTERM with a trickling client: %v\n%s", err, log.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopped %s after SIGTERM, with a 1 s grace", d)
	}
	if !strings.Contains(log.String(), "closed the connections still sending a body") {
		t.Errorf("the closed connection is not said:\n%s", log.String())
	}
	r, err := status.OpenReader(spath)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status("ib-t") != status.Delivered {
		t.Fatalf("ib-t: %s", r.Status("ib-t"))
	}
}

// TestStatusCallbackOfAnotherBatch: a row in doubt is not resolved by the
// statuses of an earlier send of the same row key — the same recording to
// the same recipient in yesterday's batch, whose statuses carry the same
// biz_opaque_callback_data — but by a message whose statuses came after
// the row's own request left. Before, prep status showed yesterday's
// message (read) for today's row, and prep batch --store journaled it
// sent: a note that may never have left was reported delivered and never
// resent.
func TestStatusCallbackOfAnotherBatch(t *testing.T) {
	dir := t.TempDir()
	spath := filepath.Join(dir, "statuses.jsonl")
	key := fmt.Sprintf("%032x", 42)
	today := time.Date(2026, 3, 19, 10, 0, 0, 0, time.UTC)
	yesterday := today.Add(-24 * time.Hour)
	st, err := status.OpenStore(spath)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Append(context.Background(), []status.Event{
		{Provider: status.Meta, MessageID: "wamid.yesterday", Status: status.Sent, Time: yesterday, CallbackData: key},
		{Provider: status.Meta, MessageID: "wamid.yesterday", Status: status.Read, Time: yesterday.Add(time.Minute), CallbackData: key},
	}, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	jpath := filepath.Join(dir, "today.journal")
	j, _, err := pipeline.OpenJournal(jpath)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []pipeline.Record{
		{State: pipeline.StateRun, Time: today},
		{Key: key, Row: 2, To: "+16505550042", Provider: send.Meta, Parts: 1, State: pipeline.StateSending, Time: today},
		{Key: key, Row: 2, Part: 0, Parts: 1, State: pipeline.StateUnknown, Error: "no answer", Time: today.Add(time.Minute)},
	} {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()

	check := func(wantDelivery, wantID string) {
		t.Helper()
		out, stderr, _ := runCLI(t, nil, "status", "--journal", jpath, "--store", spath, "--json")
		var r statusRow
		if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &r); err != nil {
			t.Fatalf("%v: %s %s", err, out, stderr)
		}
		if r.Delivery != wantDelivery || strings.Join(r.MessageID, ";") != wantID {
			t.Errorf("row: delivery %s, message %v; want %s %q", r.Delivery, r.MessageID, wantDelivery, wantID)
		}
	}
	check("unknown", "")
	recs, err := pipeline.ReadJournal(jpath)
	if err != nil {
		t.Fatal(err)
	}
	r, err := status.OpenReader(spath)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := resolveUnknown(jpath, recs, r.Index); n != 0 || err != nil {
		t.Errorf("resolveUnknown journaled %d part(s) sent (%v) on yesterday's statuses", n, err)
	}

	// Today's own message's statuses resolve it.
	st, err = status.OpenStore(spath)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Append(context.Background(), []status.Event{
		{Provider: status.Meta, MessageID: "wamid.today", Status: status.Delivered, Time: today.Add(30 * time.Second), CallbackData: key},
	}, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	check("delivered", "wamid.today")
}

// TestQueueRowMessage: a queue row in doubt is resolved by its own
// message's statuses only — not by those of its parts already sent (a
// split row's parts all carry its key: before, its first part's message
// was taken for the last part), nor by an earlier batch's send of the
// same row key (statuses older than the row's queueing).
func TestQueueRowMessage(t *testing.T) {
	st, err := status.OpenStore(filepath.Join(t.TempDir(), "s.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	queued := time.Date(2026, 3, 19, 10, 0, 0, 0, time.UTC)
	key := fmt.Sprintf("%032x", 7)
	add := func(id string, at time.Time) {
		if err := st.Append(context.Background(), []status.Event{{Provider: status.Meta, MessageID: id, Status: status.Delivered, Time: at, CallbackData: key}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	add("wamid.yesterday", queued.Add(-24*time.Hour))
	add("wamid.part1", queued.Add(time.Minute))
	row := queue.Row{Key: key, Provider: send.Meta, State: queue.StateUnknown, Part: 1, Parts: 2, IDs: []string{"wamid.part1"}, Queued: queued}
	if id, ok := queueRowMessage(st.Index, row); ok {
		t.Errorf("resolved by %s: neither yesterday's message nor part 1's is part 2's", id)
	}
	add("wamid.part2", queued.Add(2*time.Minute))
	if id, ok := queueRowMessage(st.Index, row); !ok || id != "wamid.part2" {
		t.Errorf("resolved by %q %v, want wamid.part2", id, ok)
	}
}
