package status

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Infobip reports without doneAt, sentAt or seenAt take the time they were
// received (they were stored with the year 1), and a report without a
// time received again later is the same report retried: a duplicate.
func TestStatusWithoutProviderTime(t *testing.T) {
	recv := time.Date(2026, 3, 18, 10, 0, 5, 123456789, time.UTC)
	done := time.Date(2026, 3, 18, 10, 0, 2, 0, time.UTC)
	sent := time.Date(2026, 3, 18, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name, body   string
		status       Status
		time         time.Time
		timeReceived bool
	}{
		{"delivered with doneAt", `{"results":[{"messageId":"ib1","to":"1555","sentAt":"2026-03-18T10:00:00.000+0000","doneAt":"2026-03-18T10:00:02.000+0000","status":{"groupName":"DELIVERED"}}]}`, Delivered, done, false},
		{"delivered with sentAt only", `{"results":[{"messageId":"ib1","to":"1555","sentAt":"2026-03-18T10:00:00.000+0000","status":{"groupName":"DELIVERED"}}]}`, Delivered, sent, false},
		{"delivered without a time", `{"results":[{"messageId":"ib1","to":"1555","status":{"groupName":"DELIVERED"}}]}`, Delivered, recv, true},
		{"pending without a time", `{"results":[{"messageId":"ib1","status":{"groupId":1}}]}`, Sent, recv, true},
		{"failed without a time", `{"results":[{"messageId":"ib1","status":{"groupName":"UNDELIVERABLE","name":"UNDELIVERABLE_NOT_DELIVERED"}}]}`, Failed, recv, true},
		{"seen", `{"results":[{"messageId":"ib1","seenAt":"2026-03-18T10:00:02.000+0000"}]}`, Read, done, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, err := ParseInfobip([]byte(c.body), recv)
			if err != nil || len(evs) != 1 {
				t.Fatalf("%v, %d events", err, len(evs))
			}
			e := evs[0]
			if e.Status != c.status || !e.Time.Equal(c.time) || e.TimeReceived != c.timeReceived || !e.Received.Equal(recv) {
				t.Fatalf("got %s at %s (time_received %v), want %s at %s (%v)", e.Status, e.Time, e.TimeReceived, c.status, c.time, c.timeReceived)
			}
			if e.Error != nil && !e.Error.Time.Equal(c.time) {
				t.Fatalf("failure time %s, want %s", e.Error.Time, c.time)
			}
		})
	}
	// Meta's statuses always carry a timestamp; one without is treated alike.
	evs, err := ParseMeta(Meta, []byte(`{"entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"wamid.X","status":"delivered"}]}}]}]}`), recv)
	if err != nil || len(evs) != 1 || !evs[0].Time.Equal(recv) || !evs[0].TimeReceived {
		t.Fatalf("meta without timestamp: %v %+v", err, evs)
	}

	// Stored: the line says when, and the same report received again
	// (a retry) is a duplicate; after a reopen too.
	path := filepath.Join(t.TempDir(), "statuses.jsonl")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"results":[{"messageId":"ib1","to":"1555","status":{"groupName":"DELIVERED"}}]}`)
	for _, at := range []time.Time{recv, recv.Add(time.Minute)} {
		evs, err := ParseInfobip(body, at)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Append(context.Background(), evs, nil); err != nil {
			t.Fatal(err)
		}
		if n := s.Stats().Events; n != 1 {
			t.Fatalf("received at %s: %d events, want 1", at, n)
		}
	}
	m, _ := s.Message("ib1")
	if m.Status != Delivered || !m.At[Delivered].Equal(recv) {
		t.Fatalf("message %+v", m)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), "\n") != 1 || strings.Contains(string(b), "0001-01-01") || !strings.Contains(string(b), `"time":"2026-03-18T10:00:05.123456789Z"`) {
		t.Fatalf("stored:\n%s", b)
	}
	s, err = OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, _ = ParseInfobip(body, recv.Add(time.Hour))
	if err := s.Append(context.Background(), evs, nil); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().Events; n != 1 {
		t.Fatalf("after reopen: %d events, want 1", n)
	}
}
