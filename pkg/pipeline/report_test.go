package pipeline

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleResult() *BatchResult {
	return &BatchResult{
		Rows: []RowResult{
			{Row: 2, To: "+447700900001", File: "a, \"quoted\".ogg", Provider: Meta, Profile: Voice, Status: StatusSent, MessageID: "wamid.1",
				Media: "123", Timing: Timing{Transcode: 1500 * time.Microsecond, Send: 2 * time.Millisecond}},
			{Row: 3, To: "12", File: "b.ogg", Provider: Infobip, Status: StatusInvalid, Error: "recipient \"12\": not a phone number\nsecond line"},
			{Row: 4, To: "+447700900003", File: "c.ogg", Provider: D360, Status: StatusUnknown, Error: "in doubt"},
		},
		Summary: Summary{Rows: 3, Counts: map[Status]int{StatusSent: 1, StatusInvalid: 1, StatusUnknown: 1}, Distinct: 2, Wall: 1500 * time.Millisecond,
			BytesBefore: 1000, BytesAfter: 500, Interrupted: true},
	}
}

func TestReportFiles(t *testing.T) {
	dir := t.TempDir()
	res := sampleResult()
	for _, name := range []string{"r.jsonl", "r.CSV"} {
		path := filepath.Join(dir, name)
		if err := WriteReportFile(path, res); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
			t.Errorf("%s: temp file left", name)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if strings.HasSuffix(name, ".CSV") {
			cr := csv.NewReader(f)
			cr.Comment = '#'
			recs, err := cr.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 4 || strings.Join(recs[0][:9], ",") != "row,to,file,provider,profile,status,message_id,error,media" {
				t.Fatalf("csv %q", recs)
			}
			if recs[1][2] != res.Rows[0].File || recs[2][7] != res.Rows[1].Error || recs[1][11+1] != "1.500" || recs[3][5] != "unknown" {
				t.Errorf("csv rows %q", recs[1:])
			}
			b, _ := os.ReadFile(path)
			if !strings.Contains(string(b), "# 3 rows: sent 1, failed 0, unknown 1, skipped 0, invalid 1") || !strings.Contains(string(b), "# interrupted") {
				t.Errorf("csv summary:\n%s", b)
			}
			continue
		}
		sc := bufio.NewScanner(f)
		var rows []RowResult
		var summary map[string]json.RawMessage
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), `{"summary"`) {
				var s struct{ Summary map[string]json.RawMessage }
				if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
					t.Fatal(err)
				}
				summary = s.Summary
				continue
			}
			var r RowResult
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, r)
		}
		if len(rows) != 3 || rows[0].Timing != res.Rows[0].Timing || rows[1].Error != res.Rows[1].Error {
			t.Errorf("jsonl rows %+v", rows)
		}
		if string(summary["wall_ms"]) != "1500" || summary["wall_ns"] != nil || string(summary["counts"]) != `{"invalid":1,"sent":1,"unknown":1}` {
			t.Errorf("summary %s %s %s", summary["wall_ms"], summary["wall_ns"], summary["counts"])
		}
	}
	if err := WriteReportFile(filepath.Join(dir, "missing", "r.jsonl"), res); err == nil {
		t.Error("report into a missing directory succeeded")
	}
}

func TestProgressFormats(t *testing.T) {
	p := Progress{Total: 200, Done: 50, Sent: 45, Failed: 5, Elapsed: 10 * time.Second, Rate: 5, ETA: 30 * time.Second}
	if s := p.String(); s != "50/200 rows (25%), 5.0 rows/s, ETA 30s — sent 45, failed 5, unknown 0, invalid 0, skipped 0" {
		t.Errorf("String %q", s)
	}
	b, _ := json.Marshal(p)
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["elapsed_ms"] != 10000.0 || m["eta_ms"] != 30000.0 || m["done"] != 50.0 || m["elapsed_ns"] != nil {
		t.Errorf("json %s", b)
	}
}
