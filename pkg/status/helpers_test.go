package status

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

const (
	testSecret = "app-secret-for-tests"
	testVerify = "verify-token-for-tests"
	testD360   = "d360-token-for-tests"
	testIB     = "infobip-token-for-tests"
)

// st is one status for a test body.
type st struct {
	id, status string
	ts         int64
	cb         string
	code       int
}

// metaBody builds Meta's envelope with the statuses spread over entries of
// up to perEntry statuses each.
func metaJSON(t testing.TB, perEntry int, sts ...st) []byte {
	t.Helper()
	if perEntry <= 0 {
		perEntry = len(sts)
	}
	var entries []map[string]any
	for i := 0; i < len(sts); i += perEntry {
		var statuses []map[string]any
		for _, s := range sts[i:min(i+perEntry, len(sts))] {
			m := map[string]any{"id": s.id, "status": s.status, "timestamp": strconv.FormatInt(s.ts, 10), "recipient_id": "16505551234"}
			if s.cb != "" {
				m["biz_opaque_callback_data"] = s.cb
			}
			if s.status == "sent" || s.status == "delivered" {
				m["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "category": "service"}
			}
			if s.code != 0 {
				m["errors"] = []map[string]any{{"code": s.code, "title": "Media upload error", "message": "Media upload error",
					"error_data": map[string]any{"details": "Unsupported audio type"}, "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}}
			}
			statuses = append(statuses, m)
		}
		entries = append(entries, map[string]any{"id": "102290129340398", "changes": []map[string]any{{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
			"statuses":          statuses,
		}}}})
	}
	b, err := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": entries})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// env is a store and a receiver behind a real loopback server.
type testEnv struct {
	store   *Store
	srv     *httptest.Server
	rejects []string
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	s, err := OpenStore(filepath.Join(t.TempDir(), "statuses.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{store: s}
	rc := NewReceiver(s, Config{MetaVerifyToken: testVerify, MetaAppSecret: testSecret, D360Token: testD360, InfobipToken: testIB,
		OnReject: func(p Provider, code int, why string) {
			e.rejects = append(e.rejects, fmt.Sprintf("%s %d %s", p, code, why))
		}})
	e.srv = httptest.NewServer(rc)
	t.Cleanup(func() { e.srv.Close(); s.Close() })
	return e
}

func (e *testEnv) post(t testing.TB, path string, body []byte, hdr map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (e *testEnv) postMeta(t testing.TB, body []byte) int {
	return e.post(t, "/webhooks/meta", body, map[string]string{SignatureHeader: sign(testSecret, body)})
}

var t0 = time.Date(2026, 3, 18, 10, 0, 0, 0, time.UTC).Unix()

func itoa(i int) string { return strconv.Itoa(i) }

func newServer(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
