package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReadJournal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.journal")
	j, _, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(Record{Key: "k1", Row: 2, State: StateSent, MessageID: "wamid.1"}); err != nil {
		t.Fatal(err)
	}
	// Readable while the batch holds it (no lock taken).
	recs, err := ReadJournal(path)
	if err != nil || len(recs) != 1 || recs[0].MessageID != "wamid.1" {
		t.Fatalf("%v %+v", err, recs)
	}
	j.Close()
	cases := []struct {
		name    string
		content string
		n       int
		corrupt bool
	}{
		{"torn last line left out", `{"key":"k1","part":0,"state":"sent","time":"2026-01-01T00:00:00Z"}` + "\n" + `{"key":"k2","pa`, 1, false},
		{"damaged line", "\x00\x00\x00\n" + `{"key":"k1","part":0,"state":"sent","time":"2026-01-01T00:00:00Z"}` + "\n", 0, true},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		os.WriteFile(p, []byte(c.content), 0o644)
		recs, err := ReadJournal(p)
		if c.corrupt != errors.Is(err, ErrJournalCorrupt) || (!c.corrupt && len(recs) != c.n) {
			t.Errorf("%s: %v %+v", c.name, err, recs)
		}
	}
	if _, err := ReadJournal(dir); err == nil {
		t.Error("a directory read as a journal")
	}
}
