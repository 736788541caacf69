package status

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// The hand encoder writes what encoding/json writes, byte for byte.
func FuzzEncodeEvent(f *testing.F) {
	f.Add("wamid.HBg", "16505551234", "row-7", "DELIVERED_TO_HANDSET", int64(1773828000123456789), false)
	f.Add("é\u2028<&>\"\\\x00\x1f\xff", "\t\n\r", "\f\b", "", int64(0), true)
	f.Fuzz(func(t *testing.T, id, rcpt, cb, detail string, ns int64, failed bool) {
		e := Event{Provider: Meta, MessageID: id, Status: Read, Time: time.Unix(0, ns).UTC(), Received: time.Unix(0, ns/3).In(time.FixedZone("x", 3600)),
			Recipient: rcpt, CallbackData: cb, Detail: detail, TimeReceived: ns%2 == 0}
		if failed {
			e.Status = Failed
			e.Error = &Failure{Code: 131053, Title: id, Details: cb, Time: e.Time}
		}
		got, ok := appendEventLine(nil, &e)
		want, err := json.Marshal(line{Kind: kindStatus, Event: &e})
		if !ok || err != nil {
			t.Fatalf("ok %v err %v", ok, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

func TestEncodeOutOfRange(t *testing.T) {
	e := Event{Provider: Meta, MessageID: "a", Status: Read, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, ok := appendEventLine(nil, &e); ok {
		t.Fatal("a year-10000 time encoded")
	}
}
