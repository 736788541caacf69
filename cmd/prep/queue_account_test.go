package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/sandbox"
)

// TestQueueWorkersOfTwoPhoneNumbers: `prep worker` processes of two Meta
// phone numbers (WHATSAPP_PHONE_NUMBER_ID) take one recording's batches in
// turn from one queue; each message is sent with a media id uploaded
// through its own phone number — the sandbox's retrieve-media-URL answers
// it for that phone_number_id — as Meta's media ids are usable only by the
// phone number that uploaded them (one of another number fails later,
// 131053). Before, the second worker sent the first one's media id.
func TestQueueWorkersOfTwoPhoneNumbers(t *testing.T) {
	srv, sb, dir, manifest := queueFixture(t, 3)
	phones := []string{"100000000000001", "100000000000002"}
	for i, phone := range phones {
		environ := map[string]string{"PREP_QUEUE_ACK_WAIT": "3s", "PREP_QUEUE_WORKER_TTL": "3s",
			"WHATSAPP_ACCESS_TOKEN": "sandbox", "WHATSAPP_PHONE_NUMBER_ID": phone, "WHATSAPP_API_URL": sb.MetaURL()}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan int)
		var errb bytes.Buffer
		go func() {
			var out bytes.Buffer
			e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string { return environ[k] }}
			done <- exitCode(run(ctx, e, []string{"worker", "--queue", srv.URL(), "--jobs", "1", "--no-cache"}))
		}()
		report := filepath.Join(dir, fmt.Sprintf("r%d.jsonl", i))
		_, errOut, code := runCLI(t, nil, "batch", "--queue", srv.URL(), "--manifest", manifest, "--batch", "through-"+phone, "--report", report)
		stop()
		select {
		case c := <-done:
			if c != exitOK {
				t.Errorf("worker of %s: exit %d", phone, c)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("the worker of %s did not stop", phone)
		}
		if code != exitOK {
			t.Fatalf("batch through %s: exit %d, stderr %q; worker: %s", phone, code, errOut, errb.String())
		}
	}
	msgs := sb.Messages()
	if len(msgs) != 6 {
		t.Fatalf("%d messages, want 6 (3 per phone number)", len(msgs))
	}
	from := map[string]int{}
	for _, msg := range msgs {
		from[msg.From]++
		req, _ := http.NewRequest(http.MethodGet, sb.MetaURL()+"/v23.0/"+msg.MediaID+"?phone_number_id="+msg.From, nil)
		req.Header.Set("Authorization", "Bearer sandbox")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("message to %s from %s: media id %s was not uploaded through that phone number (retrieve: %s)", msg.To, msg.From, msg.MediaID, resp.Status)
		}
	}
	if from[phones[0]] != 3 || from[phones[1]] != 3 {
		t.Errorf("messages per phone number %v, want 3 each", from)
	}
	if n := len(sb.Media(sandbox.Meta)); n != 2 {
		t.Errorf("%d uploads, want one per phone number", n)
	}
}
