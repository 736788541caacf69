package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// zeroLines overwrites with NUL bytes every journal line that contains
// match (keepNL keeps the newlines, as zeroing a block of a file in place
// leaves them when they fall outside it), and reports the 1-based numbers
// of the lines zeroed.
func zeroLines(t *testing.T, path, match string, keepNL bool) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	var zeroed []int
	for i, l := range lines {
		if !bytes.Contains(l, []byte(match)) {
			continue
		}
		zeroed = append(zeroed, i+1)
		for k := range l {
			if keepNL && l[k] == '\n' {
				continue
			}
			l[k] = 0
		}
	}
	if len(zeroed) == 0 {
		t.Fatalf("no journal line has %q", match)
	}
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return zeroed
}

// Issue 13 finding 4: a journal line that cannot be read, other than a
// torn last line, stops the batch before anything is sent and names the
// line; with CorruptInDoubt the rows it may have belonged to are unknown,
// never sent again silently.
func TestBatchCorruptJournalLine(t *testing.T) {
	cases := []struct {
		name      string
		match     func(key string) string // which lines to zero
		keepNL    bool
		inDoubt   bool
		wantStop  bool
		wantSends int // in the rerun
		wantRow2  Status
	}{
		{name: "sent row's lines zeroed, newlines kept", match: func(k string) string { return k }, keepNL: true, wantStop: true},
		{name: "sent row's lines zeroed whole", match: func(k string) string { return k }, wantStop: true},
		{name: "only the sent line zeroed", match: func(string) string { return `"state":"sent"` }, keepNL: true, wantStop: true},
		{name: "in doubt: all rows not recorded sent are unknown", match: func(k string) string { return k }, keepNL: true, inDoubt: true, wantRow2: StatusUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"a.ogg": "AAA"})
			m := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,a.ogg,meta\n")
			journal := filepath.Join(dir, "j")
			f := newFakes()
			p := f.pipeline(t)
			res := runBatch(t, p, m, BatchOptions{Journal: journal})
			if !res.AllSent() {
				t.Fatalf("run 1: %v", byStatus(res))
			}
			// Damage the journal (the row's lines are its last ones: zeroed
			// whole, they look like one unterminated line).
			m2 := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,a.ogg,meta\n+447000000002,a.ogg,meta\n")
			zeroed := zeroLines(t, journal, tc.match(res.Rows[0].Key), tc.keepNL)
			sends := len(f.sent)
			res, err := p.NewBatch(m2, BatchOptions{Journal: journal, CorruptInDoubt: tc.inDoubt}).Run(t.Context())
			if tc.wantStop {
				var je *JournalError
				if !errors.As(err, &je) || !errors.Is(err, ErrJournalCorrupt) {
					t.Fatalf("rerun over a damaged journal: err %v, rows %v", err, res)
				}
				if je.Line != zeroed[0] || !strings.Contains(err.Error(), fmt.Sprintf("line %d", zeroed[0])) {
					t.Errorf("error %q names line %d, want %d", err, je.Line, zeroed[0])
				}
				if len(f.sent) != sends {
					t.Errorf("sent %d messages over a damaged journal", len(f.sent)-sends)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c := f.acceptedTo(); c["447000000001"] != 1 {
				t.Errorf("recipient of the damaged row has %d messages, want 1", c["447000000001"])
			}
			if got := res.Rows[0].Status; got != StatusUnknown || !strings.Contains(res.Rows[0].Error, "unreadable") {
				t.Errorf("damaged row: %s %q", got, res.Rows[0].Error)
			}
			if got := res.Rows[1].Status; got != tc.wantRow2 {
				t.Errorf("row 2: %s %q, want %s", got, res.Rows[1].Error, tc.wantRow2)
			}
		})
	}
}

// A line torn by a crash is the last one: it is dropped (its record was
// never durable, so its request never left), and the journal goes on.
func TestJournalTornLastLineIsDropped(t *testing.T) {
	for _, tail := range []string{`{"key":"b","part":0,"sta`, `{"key":"b","part":0,"state":"sending","to":"4470`} {
		path := filepath.Join(t.TempDir(), "j")
		good := `{"key":"a","part":0,"state":"sent","message_id":"wamid.1","time":"2026-01-01T00:00:00Z"}` + "\n"
		os.WriteFile(path, []byte(good+tail), 0o644)
		j, recs, err := OpenJournal(path)
		if err != nil {
			t.Fatalf("tail %q: %v", tail, err)
		}
		if len(recs) != 1 || recs[0].Key != "a" {
			t.Fatalf("recs %+v", recs)
		}
		if err := j.Append(Record{Key: "c", State: StateSending}); err != nil {
			t.Fatal(err)
		}
		j.Close()
		_, recs, err = OpenJournal(path)
		if err != nil {
			t.Fatalf("reopen after a torn line: %v", err)
		}
		if len(recs) != 2 || recs[1].Key != "c" {
			t.Fatalf("after a torn line, the next record was lost: %+v", recs)
		}
	}
}

// A NUL-filled or garbage unterminated tail is damage, not a tear: it
// stops, naming the line.
func TestJournalDamagedTailStops(t *testing.T) {
	for _, tail := range []string{"\x00\x00\x00\x00\x00\x00", `{"key":"b","part":0,"state":"sending"` + "\x00\x00", "garbage"} {
		path := filepath.Join(t.TempDir(), "j")
		good := `{"key":"a","part":0,"state":"sent","message_id":"wamid.1","time":"2026-01-01T00:00:00Z"}` + "\n"
		os.WriteFile(path, []byte(good+tail), 0o644)
		_, _, err := OpenJournal(path)
		var je *JournalError
		if !errors.As(err, &je) || !errors.Is(err, ErrJournalCorrupt) || je.Line != 2 {
			t.Errorf("tail %q: err %v", tail, err)
		}
	}
}

// editLines rewrites every journal line that contains match with edit
// (given the line without its newline; the newline is kept) and reports
// the 1-based numbers of the lines edited.
func editLines(t *testing.T, path, match string, edit func([]byte) []byte) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	var edited []int
	for i, l := range lines {
		if !bytes.Contains(l, []byte(match)) {
			continue
		}
		edited = append(edited, i+1)
		body := bytes.TrimSuffix(l, []byte("\n"))
		lines[i] = append(edit(bytes.Clone(body)), l[len(body):]...)
	}
	if len(edited) == 0 {
		t.Fatalf("no journal line has %q", match)
	}
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return edited
}

// Issue 13 finding 4, the lines that were still skipped: a line that is
// blank, or well-formed JSON that is not a valid record (an unknown state,
// a damaged key, a renamed field), stops the batch naming the line; with
// CorruptInDoubt the row is unknown, never sent again. Before the fix each
// of these reran and resent the row.
func TestBatchJournalLineNotARecord(t *testing.T) {
	fill := func(c byte) func([]byte) []byte {
		return func(l []byte) []byte { return bytes.Repeat([]byte{c}, len(l)) }
	}
	replace := func(old, new string) func([]byte) []byte {
		return func(l []byte) []byte { return bytes.Replace(l, []byte(old), []byte(new), 1) }
	}
	cases := []struct {
		name  string
		match func(key string) string // which lines to edit
		edit  func(key string) func([]byte) []byte
	}{
		{"sending and sent lines overwritten with spaces", func(k string) string { return k }, func(string) func([]byte) []byte { return fill(' ') }},
		{"sending and sent lines overwritten with CRs", func(k string) string { return k }, func(string) func([]byte) []byte { return fill('\r') }},
		{"sent line overwritten with spaces", func(string) string { return `"state":"sent"` }, func(string) func([]byte) []byte { return fill(' ') }},
		{"state sent misspelled", func(string) string { return `"state":"sent"` }, func(string) func([]byte) []byte { return replace(`"state":"sent"`, `"state":"sXnt"`) }},
		{"key damaged", func(k string) string { return k }, func(k string) func([]byte) []byte { return replace(`"key":"`+k[:1], `"key":"x`) }},
		{"key field renamed", func(k string) string { return k }, func(string) func([]byte) []byte { return replace(`"key":`, `"kex":`) }},
	}
	for _, tc := range cases {
		for _, inDoubt := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/in doubt %v", tc.name, inDoubt), func(t *testing.T) {
				dir := t.TempDir()
				writeFiles(t, dir, map[string]string{"a.ogg": "AAA"})
				m := mustManifest(t, dir, "m.csv", "to,file,provider\n+447000000001,a.ogg,meta\n")
				journal := filepath.Join(dir, "j")
				f := newFakes()
				p := f.pipeline(t)
				res := runBatch(t, p, m, BatchOptions{Journal: journal})
				if !res.AllSent() {
					t.Fatalf("run 1: %v", byStatus(res))
				}
				key := res.Rows[0].Key
				edited := editLines(t, journal, tc.match(key), tc.edit(key))
				sends := len(f.sent)
				res, err := p.NewBatch(m, BatchOptions{Journal: journal, CorruptInDoubt: inDoubt}).Run(t.Context())
				if len(f.sent) != sends {
					t.Errorf("rerun sent %d messages over a damaged journal", len(f.sent)-sends)
				}
				if !inDoubt {
					var je *JournalError
					if !errors.As(err, &je) || !errors.Is(err, ErrJournalCorrupt) {
						t.Fatalf("rerun over a damaged journal: err %v, rows %v", err, byStatus(res))
					}
					if je.Line != edited[0] || !strings.Contains(err.Error(), fmt.Sprintf("line %d", edited[0])) {
						t.Errorf("error %q names line %d, want %d", err, je.Line, edited[0])
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := res.Rows[0].Status; got != StatusUnknown && got != StatusSent {
					t.Errorf("damaged row: %s %q, want unknown (or sent, when its sent line is intact)", got, res.Rows[0].Error)
				}
			})
		}
	}
}

// A line that is not a record stops ReadJournal (prep status) too.
func TestReadJournalLineNotARecord(t *testing.T) {
	good := `{"key":"a","part":0,"state":"sent","message_id":"wamid.1","time":"2026-01-01T00:00:00Z"}` + "\n"
	for _, bad := range []string{"      \n", "\r\r\r\n", `{"key":"a","part":0,"state":"sXnt"}` + "\n", `{"kex":"a","part":0,"state":"sent"}` + "\n", "{}\n"} {
		path := filepath.Join(t.TempDir(), "j")
		os.WriteFile(path, []byte(good+bad+good), 0o644)
		_, err := ReadJournal(path)
		var je *JournalError
		if !errors.As(err, &je) || !errors.Is(err, ErrJournalCorrupt) || je.Line != 2 {
			t.Errorf("line %q: err %v", bad, err)
		}
	}
}

// A part number no split makes (a damaged digit) is not a record: before,
// ReadJournal took {"parts":2000000000} and prep status then allocated a
// reference per part (fatal error: out of memory), as would a batch's
// resume walking the row's parts.
func TestReadJournalAbsurdParts(t *testing.T) {
	good := `{"key":"a","part":0,"state":"sent","message_id":"wamid.1","time":"2026-01-01T00:00:00Z"}` + "\n"
	for _, bad := range []string{
		`{"key":"a","part":0,"parts":2000000000,"state":"sending","time":"2026-01-01T00:00:00Z"}` + "\n",
		`{"key":"a","part":1500000000,"parts":1,"state":"sent","message_id":"wamid.2","time":"2026-01-01T00:00:00Z"}` + "\n",
		fmt.Sprintf(`{"key":"a","part":0,"parts":%d,"state":"sent","message_id":"wamid.3","time":"2026-01-01T00:00:00Z"}`+"\n", MaxParts+1),
	} {
		path := filepath.Join(t.TempDir(), "j")
		os.WriteFile(path, []byte(good+bad+good), 0o644)
		_, err := ReadJournal(path)
		var je *JournalError
		if !errors.As(err, &je) || !errors.Is(err, ErrJournalCorrupt) || je.Line != 2 {
			t.Errorf("line %q: err %v", bad, err)
		}
	}
	path := filepath.Join(t.TempDir(), "j")
	os.WriteFile(path, []byte(fmt.Sprintf(`{"key":"a","part":%d,"parts":%d,"state":"sent","message_id":"wamid.4","time":"2026-01-01T00:00:00Z"}`+"\n", MaxParts-1, MaxParts)), 0o644)
	if _, err := ReadJournal(path); err != nil {
		t.Errorf("the last part of a row of MaxParts parts: %v", err)
	}
}
