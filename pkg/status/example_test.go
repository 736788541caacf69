package status_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/status"
)

// A Go service mounts the receiver in its own server, and waits for the
// voice notes it sent to be played.
func Example() {
	dir, _ := os.MkdirTemp("", "prep-status")
	defer os.RemoveAll(dir)
	store, err := status.OpenStore(filepath.Join(dir, "statuses.jsonl"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	rc := status.NewReceiver(store, status.Config{
		MetaVerifyToken: os.Getenv("WHATSAPP_VERIFY_TOKEN"),
		MetaAppSecret:   "the-app-secret", // os.Getenv("WHATSAPP_APP_SECRET")
		InfobipToken:    "a-long-random-token",
	})
	mux := http.NewServeMux()
	mux.Handle("/hooks/whatsapp", rc.Meta())           // the callback URL set in Meta's app dashboard
	mux.Handle("/hooks/infobip/{token}", rc.Infobip()) // the notifyUrl of Infobip sends
	mux.Handle("/webhooks/", rc)                       // or prep's own routes
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// What Infobip POSTs when a voice note was seen.
	body := `{"results":[{"messageId":"ib-1","from":"41793026727","to":"447860099299","sentAt":"2026-03-18T10:00:00.000+0000","seenAt":"2026-03-18T10:01:00.000+0000"}]}`
	resp, err := http.Post(srv.URL+"/hooks/infobip/a-long-random-token", "application/json", strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("answered", resp.StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	got, err := store.Wait(ctx, []string{"ib-1"}, status.Delivered)
	if err != nil {
		log.Fatal(err)
	}
	m := got["ib-1"]
	fmt.Println(m.ID, m.Status, m.At[status.Read].Format(time.RFC3339))
	// Output:
	// answered 200
	// ib-1 read 2026-03-18T10:01:00Z
}
