package queue

import (
	"encoding/json"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestAnnounced: a submitter takes the row an announcement carries only
// when it is the announced key's row of its batch; otherwise (an older
// worker's announcement without it, a damaged or mismatched one) it reads
// the row back.
func TestAnnounced(t *testing.T) {
	row := Row{Batch: "b1", Key: "k1", State: StateSent, IDs: []string{"wamid.1"}}
	js := func(r Row) string { b, _ := json.Marshal(r); return string(b) }
	for _, tt := range []struct {
		name   string
		header string
		key    string
		ok     bool
	}{
		{"the row", js(row), "b1.k1", true},
		{"no header (an older worker)", "", "b1.k1", false},
		{"not JSON", "{", "b1.k1", false},
		{"another row's", js(Row{Batch: "b1", Key: "k2", State: StateSent}), "b1.k1", false},
		{"another batch's", js(Row{Batch: "b2", Key: "k1", State: StateSent}), "b1.k1", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := nats.NewMsg("prep.done.b1")
			m.Data = []byte(tt.key)
			if tt.header != "" {
				m.Header.Set(rowHeader, tt.header)
			}
			r, ok := announced(m, "b1", tt.key)
			if ok != tt.ok {
				t.Fatalf("announced = %v, want %v", ok, tt.ok)
			}
			if ok && (r.State != StateSent || len(r.IDs) != 1 || r.IDs[0] != "wamid.1") {
				t.Errorf("row %+v, want %+v", r, row)
			}
		})
	}
}
