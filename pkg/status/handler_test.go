package status

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
)

func TestMetaVerification(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name  string
		query url.Values
		code  int
		body  string
	}{
		{"match", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {testVerify}, "hub.challenge": {"1158201444"}}, 200, "1158201444"},
		{"wrong token", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"nope"}, "hub.challenge": {"1158201444"}}, 403, ""},
		{"no token", url.Values{"hub.mode": {"subscribe"}, "hub.challenge": {"1158201444"}}, 403, ""},
		{"wrong mode", url.Values{"hub.mode": {"unsubscribe"}, "hub.verify_token": {testVerify}, "hub.challenge": {"1"}}, 403, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Get(e.srv.URL + "/webhooks/meta?" + c.query.Encode())
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.code)
			}
			if c.code == 200 && string(b) != c.body {
				t.Fatalf("body %q, want the challenge %q", b, c.body)
			}
			if strings.Contains(string(b), testVerify) {
				t.Fatal("the verify token was echoed")
			}
		})
	}
}

func TestMetaSignature(t *testing.T) {
	body := metaJSON(t, 0, st{id: "wamid.A", status: "delivered", ts: t0})
	cases := []struct {
		name string
		sig  string
		code int
	}{
		{"good", sign(testSecret, body), 200},
		{"missing", "", 401},
		{"other secret", sign("another-secret", body), 403},
		{"not hex", "sha256=zz", 401},
		{"sha1", "sha1=" + strings.Repeat("0", 40), 401},
		{"truncated", sign(testSecret, body)[:40], 401},
		{"body changed", sign(testSecret, append([]byte(" "), body...)), 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			hdr := map[string]string{}
			if c.sig != "" {
				hdr[SignatureHeader] = c.sig
			}
			if got := e.post(t, "/webhooks/meta", body, hdr); got != c.code {
				t.Fatalf("answered %d, want %d (%v)", got, c.code, e.rejects)
			}
			st := e.store.Status("wamid.A")
			if c.code == 200 && st != Delivered {
				t.Fatalf("status %s after a good signature", st)
			}
			if c.code != 200 {
				// A forged POST changes nothing: not in the index, not in the file.
				if st != Unknown {
					t.Fatalf("forged POST stored: %s", st)
				}
				if b, _ := os.ReadFile(e.store.Path()); len(b) != 0 {
					t.Fatalf("forged POST written to the store: %q", b)
				}
			}
		})
	}
}

// Meta signs the bytes it sends, with non-ASCII escaped as \uXXXX: the
// receiver must verify those bytes, never a re-serialization.
func TestMetaSignatureEscapedUnicode(t *testing.T) {
	e := newEnv(t)
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","statuses":[{"id":"wamid.\u00e9\u4e2d","status":"read","timestamp":"1773828000","recipient_id":"16505551234","biz_opaque_callback_data":"caf\u00e9 \ud83c\udfa4 \/ \u003c"}]}}]}]}`)
	if got := e.postMeta(t, body); got != 200 {
		t.Fatalf("answered %d: %v", got, e.rejects)
	}
	m, ok := e.store.Message("wamid.é中")
	if !ok || m.Status != Read || m.CallbackData != "café 🎤 / <" {
		t.Fatalf("got %+v", m)
	}
	// The same content signed as re-serialized (unescaped) bytes does not
	// verify the escaped body.
	re := []byte(strings.ReplaceAll(string(body), `\u00e9`, "é"))
	if got := e.post(t, "/webhooks/meta", body, map[string]string{SignatureHeader: sign(testSecret, re)}); got != 403 {
		t.Fatalf("a signature of other bytes answered %d", got)
	}
}

func TestD360AndInfobipAuth(t *testing.T) {
	e := newEnv(t)
	body := metaJSON(t, 0, st{id: "wamid.D", status: "sent", ts: t0})
	ib := []byte(`{"results":[{"messageId":"ib-1","to":"41793026727","sentAt":"2026-03-18T10:00:00.000+0000","doneAt":"2026-03-18T10:00:02.000+0000","messageCount":1,"status":{"groupId":3,"groupName":"DELIVERED","id":5,"name":"DELIVERED_TO_HANDSET","description":"Message delivered to handset"},"error":{"groupId":0,"groupName":"OK","id":0,"name":"NO_ERROR","description":"No Error","permanent":false},"price":{"pricePerMessage":0,"currency":"EUR"}}]}`)
	cases := []struct {
		name, path string
		body       []byte
		hdr        map[string]string
		code       int
	}{
		{"360 no token", "/webhooks/360dialog", body, nil, 401},
		{"360 wrong token", "/webhooks/360dialog", body, map[string]string{TokenHeader: "x"}, 403},
		{"360 meta signature is not enough", "/webhooks/360dialog", body, map[string]string{SignatureHeader: sign(testSecret, body)}, 401},
		{"infobip wrong path", "/webhooks/infobip/guess", ib, nil, 404},
		{"infobip no token", "/webhooks/infobip/", ib, nil, 404},
		{"360 good", "/webhooks/360dialog", body, map[string]string{TokenHeader: testD360}, 200},
		{"infobip good", "/webhooks/infobip/" + testIB, ib, nil, 200},
	}
	for _, c := range cases {
		if got := e.post(t, c.path, c.body, c.hdr); got != c.code {
			t.Errorf("%s: answered %d, want %d", c.name, got, c.code)
		}
	}
	if m, _ := e.store.Message("wamid.D"); m.Status != Sent || m.Provider != D360 {
		t.Errorf("360dialog: %+v", m)
	}
	if m, _ := e.store.Message("ib-1"); m.Status != Delivered || m.Provider != Infobip || m.Detail != "DELIVERED_TO_HANDSET" {
		t.Errorf("infobip: %+v", m)
	}
	if n := e.store.Stats().Events; n != 2 {
		t.Errorf("%d events stored, want 2 (the refused ones changed nothing)", n)
	}
}

func TestOrderAndDuplicates(t *testing.T) {
	e := newEnv(t)
	// read before delivered, played, duplicates, a late sent, and a failed
	// after delivered (multi-device): the outcome is played, the failure a note.
	bodies := [][]st{
		{{id: "wamid.X", status: "read", ts: t0 + 20, cb: "row-7"}},
		{{id: "wamid.X", status: "read", ts: t0 + 20, cb: "row-7"}, {id: "wamid.X", status: "played", ts: t0 + 30}},
		{{id: "wamid.X", status: "delivered", ts: t0 + 10}},
		{{id: "wamid.X", status: "sent", ts: t0}},
		{{id: "wamid.X", status: "failed", ts: t0 + 40, code: 131053}},
		{{id: "wamid.X", status: "played", ts: t0 + 30}},
	}
	for i, b := range bodies {
		if got := e.postMeta(t, metaJSON(t, 0, b...)); got != 200 {
			t.Fatalf("body %d answered %d", i, got)
		}
	}
	m, _ := e.store.Message("wamid.X")
	if m.Status != Played || m.Error != nil || len(m.Notes) != 1 || m.Notes[0].Code != 131053 {
		t.Fatalf("got %+v", m)
	}
	if m.Events != 5 {
		t.Fatalf("%d events, want 5 (duplicates ignored)", m.Events)
	}
	for s, ts := range map[Status]int64{Sent: t0, Delivered: t0 + 10, Read: t0 + 20, Played: t0 + 30} {
		if m.At[s].Unix() != ts {
			t.Errorf("%s at %v, want %d", s, m.At[s], ts)
		}
	}
	if got := e.store.ByCallback("row-7"); len(got) != 1 || got[0].ID != "wamid.X" {
		t.Fatalf("by callback: %+v", got)
	}
	// Reopening the store gives the same state.
	path := e.store.Path()
	e.srv.Close()
	e.store.Close()
	s2, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	m2, _ := s2.Message("wamid.X")
	if m2.Status != Played || m2.Events != 5 || len(m2.Notes) != 1 {
		t.Fatalf("reopened: %+v", m2)
	}
}

func TestFailedOutcome(t *testing.T) {
	e := newEnv(t)
	body := metaJSON(t, 0,
		st{id: "wamid.M", status: "sent", ts: t0},
		st{id: "wamid.M", status: "failed", ts: t0 + 5, code: 131053},
		st{id: "wamid.W", status: "failed", ts: t0, code: 131047},
		st{id: "wamid.U", status: "failed", ts: t0, code: 131026},
	)
	if got := e.postMeta(t, body); got != 200 {
		t.Fatal(got)
	}
	for id, want := range map[string]FailureKind{"wamid.M": KindMedia, "wamid.W": KindWindow, "wamid.U": KindUndeliverable} {
		m, _ := e.store.Message(id)
		if m.Status != Failed || m.Error == nil || m.Error.Kind != want || m.Error.Advice == "" {
			t.Errorf("%s: %+v", id, m)
		}
	}
	// A late sent does not undo the failure.
	e.postMeta(t, metaJSON(t, 0, st{id: "wamid.W", status: "sent", ts: t0 - 1}))
	if s := e.store.Status("wamid.W"); s != Failed {
		t.Errorf("late sent moved a failure to %s", s)
	}
}

func TestBigBodyAndUnknownIDs(t *testing.T) {
	e := newEnv(t)
	var sts []st
	for i := 0; i < 1000; i++ {
		sts = append(sts, st{id: "wamid.nobody-sent-this-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + itoa(i), status: "delivered", ts: t0 + int64(i)})
	}
	body := metaJSON(t, 250, sts...)
	if got := e.postMeta(t, body); got != 200 {
		t.Fatalf("answered %d: %v", got, e.rejects)
	}
	if n := e.store.Stats().Messages; n != 1000 {
		t.Fatalf("%d messages, want 1000", n)
	}
}

func TestKeptForInspection(t *testing.T) {
	e := newEnv(t)
	incoming := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","messages":[{"from":"16505551234","id":"wamid.in","timestamp":"1773828000","type":"text","text":{"body":"hi"}}]}}]}]}`)
	for _, body := range [][]byte{[]byte("not json at all \xff"), incoming, []byte(`{"entry":[{"changes":[{"value":{"statuses":[{"id":"wamid.Q","status":"deleted","timestamp":"1"}]}}]}]}`)} {
		if got := e.postMeta(t, body); got != 200 {
			t.Fatalf("authentic body answered %d", got)
		}
	}
	raws := e.store.Raw()
	if len(raws) != 3 {
		t.Fatalf("kept %d bodies, want 3", len(raws))
	}
	b, _ := os.ReadFile(e.store.Path())
	if !strings.Contains(string(b), `\"body\":\"hi\"`) {
		t.Fatalf("incoming message not kept whole: %s", b)
	}
}

func TestStoreFailureIsNotAcknowledged(t *testing.T) {
	e := newEnv(t)
	e.store.Close()
	body := metaJSON(t, 0, st{id: "wamid.Z", status: "delivered", ts: t0})
	if got := e.postMeta(t, body); got != http.StatusServiceUnavailable {
		t.Fatalf("answered %d when the store could not take it", got)
	}
}

func TestTooLarge(t *testing.T) {
	s, err := OpenStore(t.TempDir() + "/s.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := newServer(t, NewReceiver(s, Config{D360Token: testD360, MaxBody: 1000}))
	req, _ := http.NewRequest("POST", srv.URL+"/webhooks/360dialog", strings.NewReader(strings.Repeat(" ", 2000)))
	req.Header.Set(TokenHeader, testD360)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("answered %d", resp.StatusCode)
	}
}

// The same body delivered concurrently (a provider's retry racing the
// first delivery) is stored once, and every copy is answered only once that
// copy is durable.
func TestConcurrentDuplicates(t *testing.T) {
	e := newEnv(t)
	var sts []st
	for i := 0; i < 200; i++ {
		sts = append(sts, st{id: "wamid.C" + itoa(i), status: "delivered", ts: t0 + int64(i)})
	}
	body := metaJSON(t, 0, sts...)
	codes := make(chan int, 16)
	for i := 0; i < 16; i++ {
		go func() { codes <- e.postMeta(t, body) }()
	}
	for i := 0; i < 16; i++ {
		if c := <-codes; c != 200 {
			t.Fatalf("answered %d", c)
		}
	}
	b, _ := os.ReadFile(e.store.Path())
	if n := strings.Count(string(b), "\n"); n != 200 {
		t.Fatalf("%d lines stored, want 200 (each event once)", n)
	}
	st := e.store.Stats()
	if st.Events != 200 || st.Messages != 200 {
		t.Fatalf("%+v", st)
	}
}

// TestOddStatusKeepsTheOthers: one status of a body whose fields have an
// unexpected shape (a float timestamp, a number where a string is, an
// object) is skipped and the body kept whole — the body's other statuses
// still count; and numbers sent as strings (an error code "131053", a
// groupId "3") are read as the numbers they are. Before, one such status
// made the whole body "not JSON of the webhook envelope": every status in
// it was lost to the index (a failed 131053 among them).
func TestOddStatusKeepsTheOthers(t *testing.T) {
	e := newEnv(t)
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[
{"id":"wamid.ok1","status":"delivered","timestamp":"1773828000","recipient_id":"16505551234"},
{"id":"wamid.float","status":"read","timestamp":1.7e9},
{"id":"wamid.numrcpt","status":"read","timestamp":"1773828001","recipient_id":16505551234},
{"id":"wamid.obj","status":{"x":1},"timestamp":"1773828001"},
{"id":"wamid.code","status":"failed","timestamp":"1773828002","errors":[{"code":"131053","title":"Media upload error"}]},
{"id":"wamid.ok2","status":"read","timestamp":1773828003}]}}]}]}`)
	if got := e.postMeta(t, body); got != 200 {
		t.Fatalf("answered %d: %v", got, e.rejects)
	}
	for id, want := range map[string]Status{"wamid.ok1": Delivered, "wamid.numrcpt": Read, "wamid.code": Failed, "wamid.ok2": Read,
		"wamid.float": Unknown, "wamid.obj": Unknown} {
		if got := e.store.Status(id); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	if m, _ := e.store.Message("wamid.code"); m.Error == nil || m.Error.Code != 131053 || m.Error.Kind != KindMedia {
		t.Errorf("wamid.code: error %+v, want code 131053 (media)", m.Error)
	}
	if m, _ := e.store.Message("wamid.numrcpt"); m.Recipient != "16505551234" {
		t.Errorf("wamid.numrcpt: recipient %q", m.Recipient)
	}
	if n := len(e.store.Raw()); n != 1 {
		t.Errorf("%d bodies kept whole, want 1 (the statuses skipped are in it)", n)
	}

	ib := []byte(`{"results":[
{"messageId":"ib-ok","to":"41793026727","doneAt":"2026-03-18T10:00:00.000+0000","status":{"groupId":3,"groupName":"DELIVERED","id":5,"name":"DELIVERED_TO_HANDSET"}},
{"messageId":"ib-str","to":"41793026727","doneAt":"2026-03-18T10:00:00.000+0000","status":{"groupId":"2","groupName":"UNDELIVERABLE","id":"7","name":"UNDELIVERABLE_NOT_DELIVERED"},"error":{"id":"131026","name":"EC_UNDELIVERABLE","permanent":"true"}},
{"messageId":"ib-bad","to":"41793026727","doneAt":12,"status":{"groupName":"DELIVERED"}},
{"messageId":"ib-ok2","to":"41793026727","seenAt":"2026-03-18T10:01:00.000+0000"}]}`)
	if got := e.post(t, "/webhooks/infobip/"+testIB, ib, nil); got != 200 {
		t.Fatalf("infobip answered %d", got)
	}
	for id, want := range map[string]Status{"ib-ok": Delivered, "ib-str": Failed, "ib-ok2": Read, "ib-bad": Unknown} {
		if got := e.store.Status(id); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	if m, _ := e.store.Message("ib-str"); m.Error == nil || m.Error.Code != 131026 {
		t.Errorf("ib-str: error %+v, want code 131026", m.Error)
	}
}
