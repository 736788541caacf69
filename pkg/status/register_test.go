package status

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestRegister360(t *testing.T) {
	var got struct {
		key  string
		body map[string]any
	}
	fail := false
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/configs/webhook" {
			http.NotFound(w, r)
			return
		}
		got.key = r.Header.Get("D360-API-KEY")
		json.NewDecoder(r.Body).Decode(&got.body)
		if fail {
			w.WriteHeader(401)
			w.Write([]byte(`{"meta":{"developer_message":"Invalid api key the-key"}}`))
			return
		}
		w.Write([]byte(`{"url":"ok"}`))
	}))
	ctx := context.Background()
	if err := Register360(ctx, nil, srv.URL, "the-key", "https://hooks.example.com/webhooks/360dialog", "tok"); err != nil {
		t.Fatal(err)
	}
	h, _ := got.body["headers"].(map[string]any)
	if got.key != "the-key" || got.body["url"] != "https://hooks.example.com/webhooks/360dialog" || h[TokenHeader] != "tok" {
		t.Fatalf("sent %+v", got)
	}
	fail = true
	err := Register360(ctx, nil, srv.URL, "the-key", "https://hooks.example.com/webhooks/360dialog", "tok")
	var se *Error
	if !errors.As(err, &se) || se.Kind != ErrRegister || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "the-key") {
		t.Fatalf("refusal: %v", err)
	}
	if p := Check360URL("http://127.0.0.1:8080/web_hooks"); len(p) != 3 {
		t.Fatalf("check: %v", p)
	}
}
