package status

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

var fuzzMeta = [][]byte{
	[]byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.HBg","status":"failed","timestamp":"1751142888","recipient_id":"16505551234","biz_opaque_callback_data":"k","errors":[{"code":131053,"title":"Media upload error","message":"Media upload error","error_data":{"details":"x"},"href":"h"}]}]}}]}]}`),
	[]byte(`{"entry":[{"changes":[{"value":{"statuses":[{"id":"a","status":"played","timestamp":1},{"id":"a","status":"read","timestamp":"2"},{"status":"sent"}]}}]},{"changes":[]}]}`),
	[]byte(`{"entry":[{"changes":[{"value":{"messages":[{"id":"in"}],"statuses":[{"id":"\u00e9","status":"delivered","timestamp":"-9223372036854775808"}]}}]}]}`),
	[]byte(`{"entry":[{"changes":[{"value":{"statuses":[{"id":"a","status":"read","timestamp":"99999999999999999999"}]}}]}]}`),
	[]byte(`[]`), []byte(`null`), []byte(`{"entry":null}`), []byte("\xff\xfe"),
}

var fuzzInfobip = [][]byte{
	[]byte(`{"results":[{"bulkId":"b","price":{"pricePerMessage":0,"currency":"EUR"},"status":{"groupId":3,"groupName":"DELIVERED","id":5,"name":"DELIVERED_TO_HANDSET","description":"d"},"error":{"groupId":0,"groupName":"OK","id":0,"name":"NO_ERROR","description":"No Error","permanent":false},"messageId":"m1","doneAt":"2019-07-18T14:09:51.000+0000","messageCount":1,"sentAt":"2019-07-18T14:09:50.000+0000","to":"41793026727","contact":{"name":"n"}}]}`),
	[]byte(`{"results":[{"messageId":"m1","from":"41793026727","to":"447860099299","sentAt":"2019-07-18T14:09:50.000+0000","seenAt":"2019-07-18T14:10:50.000+0000"}]}`),
	[]byte(`{"results":[{"messageId":"m2","status":{"groupId":2,"name":"UNDELIVERABLE_NOT_DELIVERED"},"error":{"id":131047,"name":"x","permanent":true},"doneAt":"2019-07-18T14:09:51Z"}]}`),
	[]byte(`{"results":[{"messageId":"m3","status":{"groupId":99}},{"messageId":"","seenAt":"x"}]}`),
	[]byte(`{"results":null}`), []byte(`{}`),
}

func checkEvents(t *testing.T, evs []Event) {
	for _, e := range evs {
		if e.MessageID == "" || !e.Status.Valid() || e.Status == Unknown {
			t.Fatalf("bad event %+v", e)
		}
		if e.Status == Failed && e.Error == nil {
			t.Fatalf("failed without a failure: %+v", e)
		}
		if e.Time.IsZero() || e.TimeReceived && !e.Time.Equal(e.Received) {
			t.Fatalf("an event without its time: %+v", e)
		}
	}
}

func FuzzParseMeta(f *testing.F) {
	for _, b := range fuzzMeta {
		f.Add(b)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := ParseMeta(Meta, body, now)
		checkEvents(t, evs)
		if err == nil && len(evs) == 0 {
			t.Fatal("no events and no error")
		}
		// What is parsed can be stored and read back.
		ix := newIndex()
		ix.mu.Lock()
		for _, e := range evs {
			ix.applyLocked(e)
		}
		ix.mu.Unlock()
	})
}

func FuzzParseInfobip(f *testing.F) {
	for _, b := range fuzzInfobip {
		f.Add(b)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := ParseInfobip(body, now)
		checkEvents(t, evs)
		if err == nil && len(evs) == 0 {
			t.Fatal("no events and no error")
		}
	})
}

// The 360dialog path end to end: token, bounded body, parse, store. Any
// authentic body is answered 200 (stored as events or kept whole).
func FuzzReceiver360(f *testing.F) {
	for _, b := range fuzzMeta {
		f.Add(b)
	}
	s, err := OpenStore(filepath.Join(f.TempDir(), "s.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	rc := NewReceiver(s, Config{D360Token: testD360, MaxBody: 64 << 10})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/webhooks/360dialog", bytes.NewReader(body))
		req.Header.Set(TokenHeader, testD360)
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		want := http.StatusOK
		if len(body) > 64<<10 {
			want = http.StatusRequestEntityTooLarge
		}
		if w.Code != want {
			t.Fatalf("answered %d, want %d", w.Code, want)
		}
	})
}

// A store line of any bytes is a record or is counted corrupt.
func FuzzStoreLine(f *testing.F) {
	f.Add([]byte(`{"kind":"status","provider":"meta","message_id":"a","status":"read","time":"2026-03-18T10:00:00Z"}`))
	f.Add([]byte(`{"kind":"raw","raw":{"provider":"meta","reason":"x","body":"\u0000"}}`))
	f.Add([]byte(`{"kind":"status","message_id":"a","status":"nope"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix := newIndex()
		ix.mu.Lock()
		ok := indexLine(ix, b)
		ix.mu.Unlock()
		if ok && ix.events == 0 && len(ix.raws) == 0 {
			t.Fatal("a line taken without effect")
		}
	})
}

func TestInfobipTimeRange(t *testing.T) {
	for _, s := range []string{"9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+01:00"} {
		if _, err := infobipTime(s); err == nil {
			t.Errorf("%s taken", s)
		}
	}
	if _, err := infobipTime("2019-07-18T14:09:51.000+0000"); err != nil {
		t.Error(err)
	}
}
