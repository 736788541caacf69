package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/upload"
)

func TestJournalConcurrentAppendsAreDurableAndWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, recs, err := OpenJournal(path)
	if err != nil || len(recs) != 0 {
		t.Fatal(err, recs)
	}
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r := Record{Key: fmt.Sprintf("k%d-%d", w, i), State: StateSending}
				if i%2 == 1 {
					if err := j.AppendAsync(r); err != nil {
						t.Error(err)
					}
					continue
				}
				if err := j.Append(r); err != nil {
					t.Error(err)
				}
				// Append returned: the record is in the file now.
				b, err := os.ReadFile(path)
				if err != nil || !bytes.Contains(b, []byte(`"key":"`+r.Key+`"`)) {
					t.Errorf("record %s not on disk after Append", r.Key)
				}
			}
		}()
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2, recs, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if len(recs) != writers*each {
		t.Fatalf("%d records, want %d", len(recs), writers*each)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.Key] {
			t.Errorf("record %s twice", r.Key)
		}
		seen[r.Key] = true
	}
}

func TestJournalLockedAndClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, _, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenJournal(path); !errors.Is(err, ErrJournalLocked) {
		t.Errorf("second open: %v", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil { // Batch.Run closes, and defers a Close
		t.Errorf("second close: %v", err)
	}
	if err := j.Append(Record{Key: "x", State: StateSent}); err == nil {
		t.Error("append after close succeeded")
	}
	j2, _, err := OpenJournal(path)
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	j2.Close()
	if _, _, err := OpenJournal(filepath.Join(t.TempDir(), "no", "such", "dir", "j")); err == nil {
		t.Error("journal in a missing directory opened")
	}
}

func TestReplayRows(t *testing.T) {
	rec := func(key string, part, parts int, st State, id string) Record {
		return Record{Key: key, Part: part, Parts: parts, State: st, MessageID: id}
	}
	cases := []struct {
		name    string
		recs    []Record
		allSent bool
		doubt   bool
		ids     string
	}{
		{"nothing", nil, false, false, "[]"},
		{"prepared only", []Record{rec("k", 0, 1, StatePrepared, ""), rec("k", 0, 1, StateUploaded, "")}, false, false, "[]"},
		{"sending without outcome", []Record{rec("k", 0, 1, StateSending, "")}, false, true, "[]"},
		{"sent", []Record{rec("k", 0, 1, StateSending, ""), rec("k", 0, 1, StateSent, "w1")}, true, false, "[w1]"},
		{"failed is retried", []Record{rec("k", 0, 1, StateSending, ""), rec("k", 0, 1, StateFailed, "")}, false, false, "[]"},
		{"unknown recorded", []Record{rec("k", 0, 1, StateSending, ""), rec("k", 0, 1, StateUnknown, "")}, false, true, "[]"},
		{"resent after unknown then sent", []Record{rec("k", 0, 1, StateSending, ""), rec("k", 0, 1, StateUnknown, ""),
			rec("k", 0, 1, StateSending, ""), rec("k", 0, 1, StateSent, "w2")}, true, false, "[w2]"},
		{"sent stays sent", []Record{rec("k", 0, 1, StateSent, "w1"), rec("k", 0, 1, StateSending, ""), rec("k", 0, 1, StateFailed, "")}, true, false, "[w1]"},
		{"one of two parts", []Record{rec("k", 0, 2, StateSent, "w1"), rec("k", 1, 2, StateFailed, "")}, false, false, "[w1]"},
		{"second part in doubt", []Record{rec("k", 0, 2, StateSent, "w1"), rec("k", 1, 2, StateSending, "")}, false, true, "[w1]"},
		{"both parts", []Record{rec("k", 1, 2, StateSent, "w2"), rec("k", 0, 2, StateSent, "w1")}, true, false, "[w1 w2]"},
		{"other key ignored", []Record{rec("other", 0, 1, StateSending, "")}, false, false, "[]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := replayRows(c.recs)["k"]
			doubt, why := h.inDoubt()
			if h.allSent() != c.allSent || doubt != c.doubt || fmt.Sprint(h.messageIDs()) != c.ids {
				t.Errorf("allSent %v doubt %v ids %v, want %v %v %s", h.allSent(), doubt, h.messageIDs(), c.allSent, c.doubt, c.ids)
			}
			if doubt && !strings.Contains(why, "earlier run") {
				t.Errorf("why %q", why)
			}
		})
	}
}

// TestReplayUploadsPresignedURLs: an upload the journal recorded comes back
// as the object's URL and key (the send step presigns it again), a
// journal written before presigned URLs were kept out of it still sends
// its whole URL but shows it without the query, and a record whose keys do
// not match its parts is not reused.
func TestReplayUploadsPresignedURLs(t *testing.T) {
	const obj = "http://127.0.0.1:9000/bucket/voice/ab.ogg"
	const presigned = obj + "?X-Amz-Credential=AKIAEXAMPLE%2F20260101&X-Amz-Signature=0123"
	now := time.Now()
	for _, tt := range []struct {
		name string
		rec  Record
		want []upload.Ref // nil: not reused
	}{
		{"keys", Record{Dest: string(linkDest), Media: obj + ";" + obj + "2", Keys: []string{"voice/ab.ogg", "voice/ab.ogg2"}, Parts: 2},
			[]upload.Ref{{URL: obj, Key: "voice/ab.ogg", Reused: true}, {URL: obj + "2", Key: "voice/ab.ogg2", Reused: true}}},
		{"older journal", Record{Dest: string(linkDest), Media: presigned, Parts: 1},
			[]upload.Ref{{URL: obj, Link: presigned, Reused: true}}},
		{"keys not matching the parts", Record{Dest: string(linkDest), Media: obj, Keys: []string{"a", "b"}, Parts: 1}, nil},
		{"media id", Record{Dest: string(send.Meta), Media: "1234", Parts: 1}, []upload.Ref{{MediaID: "1234", Reused: true}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rec
			r.State, r.Content, r.Time = StateUploaded, "c", now
			got := replayUploads([]Record{r}, now)[uploadKey{"c", r.Dest}]
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for _, ref := range got {
				if strings.Contains(ref.URL, "X-Amz") {
					t.Fatalf("shown URL %s holds the presigned query", ref.URL)
				}
			}
		})
	}
}
