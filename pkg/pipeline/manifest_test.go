package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadManifest(t *testing.T) {
	base := filepath.FromSlash("/data/batch")
	type row struct {
		line     int
		to, path string
		prov     Provider
		prof     Profile
		cb       string
		err      string // substring; "" = valid
	}
	cases := []struct {
		name, file, content string
		defs                ManifestDefaults
		want                []row
		wantErr             string
	}{
		{name: "csv minimal with default provider", file: "m.csv", defs: ManifestDefaults{Provider: Meta},
			content: "to,file\n+447700900001,a.ogg\n+447700900002,/abs/b.mp3\n",
			want: []row{{2, "+447700900001", filepath.Join(base, "a.ogg"), Meta, Voice, "", ""},
				{3, "+447700900002", "/abs/b.mp3", Meta, Voice, "", ""}}},
		{name: "csv all columns, any order and case, BOM, CRLF, blank lines", file: "m.csv",
			content: "\ufeffProfile,FILE,To,provider,callback_data,extra\r\naudio,sub/a.ogg,+1 650 555 0100,360,,x\r\n\r\n,b.ogg,+447700900002,Infobip,cb-1,y\r\n",
			want: []row{{2, "+1 650 555 0100", filepath.Join(base, "sub/a.ogg"), D360, Audio, "", ""},
				{4, "+447700900002", filepath.Join(base, "b.ogg"), Infobip, Voice, "cb-1", ""}}},
		{name: "csv callback data for a provider without it", file: "m.csv", defs: ManifestDefaults{Provider: Meta},
			content: "to,file,provider,callback_data\n+447700900001,a.ogg,,cb\n+447700900002,a.ogg,360dialog,cb\n+447700900003,a.ogg,infobip,cb\n",
			want: []row{{2, "", "", "", "", "", "callback_data is for infobip only"}, {3, "", "", "", "", "", "callback_data is for infobip only"},
				{4, "+447700900003", filepath.Join(base, "a.ogg"), Infobip, Voice, "cb", ""}}},
		{name: "csv invalid rows keep their line numbers", file: "m.csv",
			content: "to,file,provider\n,a.ogg,meta\n+447700900002,,meta\n+447700900003,a.ogg,sms\n+447700900004,a.ogg\n\"multi\nline\",a.ogg,meta\n+447700900006,a.ogg,meta,extra\n+447700900007,a.ogg,meta\n",
			want: []row{{2, "", "", Meta, Voice, "", "to is empty"}, {3, "+447700900002", "", Meta, Voice, "", "file is empty"},
				{4, "+447700900003", "", "", Voice, "", "is not one of meta, 360dialog, infobip"}, {5, "+447700900004", "", "", Voice, "", "2 fields"},
				{6, "multi\nline", filepath.Join(base, "a.ogg"), Meta, Voice, "", ""}, {8, "+447700900006", "", Meta, Voice, "", "4 fields"},
				{9, "+447700900007", filepath.Join(base, "a.ogg"), Meta, Voice, "", ""}}},
		{name: "csv no provider anywhere", file: "m.csv", content: "to,file\n+447700900001,a.ogg\n",
			want: []row{{2, "+447700900001", "", "", Voice, "", "no provider"}}},
		{name: "csv bad quote is one invalid row", file: "m.csv",
			content: "to,file,provider\n+447700900001,a \"quoted\" name.ogg,meta\n+447700900002,b.ogg,meta\n",
			want:    []row{{2, "", "", "", "", "", "not valid CSV"}, {3, "+447700900002", filepath.Join(base, "b.ogg"), Meta, Voice, "", ""}}},
		{name: "csv missing required column", file: "m.csv", content: "phone,file\n1,a\n", wantErr: `no "to" column`},
		{name: "csv empty", file: "m.csv", content: "", wantErr: "empty"},
		{name: "csv header only", file: "m.csv", content: "to,file\n", wantErr: "no rows"},
		{name: "csv header and blank lines", file: "m.csv", content: "to,file\n\n  \n", wantErr: "no rows"},
		{name: "jsonl blank lines only", file: "m.jsonl", content: "\n\n", wantErr: "no rows"},
		{name: "jsonl by extension", file: "m.jsonl",
			content: `{"to":"+447700900001","file":"a.ogg","provider":"infobip","callback_data":"x"}` + "\n\n" +
				`{"to":447700900002,"file":"b.ogg","provider":"infobip","profile":"audio"}` + "\n" +
				`not json` + "\n" + `{"to":["x"],"file":"c.ogg","provider":"meta"}` + "\n" + `{"to":"+447700900005","file":null,"provider":"meta"}` + "\n",
			want: []row{{1, "+447700900001", filepath.Join(base, "a.ogg"), Infobip, Voice, "x", ""},
				{3, "447700900002", filepath.Join(base, "b.ogg"), Infobip, Audio, "", ""},
				{4, "", "", "", "", "", "not a JSON object"}, {5, "", "", Meta, Voice, "", "to: must be a string"},
				{6, "+447700900005", "", Meta, Voice, "", "file is empty"}}},
		{name: "jsonl sniffed without extension", file: "manifest",
			content: "  {\"to\":\"+447700900001\",\"file\":\"a.ogg\",\"provider\":\"360dialog\"}\n",
			want:    []row{{1, "+447700900001", filepath.Join(base, "a.ogg"), D360, Voice, "", ""}}},
		{name: "csv sniffed without extension", file: "manifest", content: "to,file,provider\n+447700900001,a.ogg,meta\n",
			want: []row{{2, "+447700900001", filepath.Join(base, "a.ogg"), Meta, Voice, "", ""}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := ReadManifest(strings.NewReader(c.content), c.file, base, c.defs)
			if c.wantErr != "" {
				var me *ManifestError
				if !errors.As(err, &me) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want a *ManifestError with %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Rows) != len(c.want) {
				t.Fatalf("%d rows, want %d: %+v", len(m.Rows), len(c.want), m.Rows)
			}
			for i, w := range c.want {
				g := m.Rows[i]
				if g.Line != w.line {
					t.Errorf("row %d: line %d, want %d", i, g.Line, w.line)
				}
				if w.err != "" {
					if g.Err == nil || !strings.Contains(g.Err.Error(), w.err) {
						t.Errorf("line %d: err %v, want %q", g.Line, g.Err, w.err)
					}
					continue
				}
				if g.Err != nil {
					t.Errorf("line %d: unexpected err %v", g.Line, g.Err)
					continue
				}
				got := fmt.Sprintf("%q %q %s %s %q", g.To, g.Path, g.Provider, g.Profile, g.CallbackData)
				exp := fmt.Sprintf("%q %q %s %s %q", w.to, w.path, w.prov, w.prof, w.cb)
				if got != exp {
					t.Errorf("line %d: %s, want %s", g.Line, got, exp)
				}
			}
		})
	}
}

func TestParseManifestMissingFile(t *testing.T) {
	_, err := ParseManifest(filepath.Join(t.TempDir(), "nope.csv"), ManifestDefaults{})
	var me *ManifestError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzReadManifest(f *testing.F) {
	f.Add("to,file,provider\n+447700900001,a.ogg,meta\n", "m.csv")
	f.Add(`{"to":"+447700900001","file":"a.ogg"}`+"\n", "m.jsonl")
	f.Add("to,file\n\"unterminated,a\n", "m.csv")
	f.Fuzz(func(t *testing.T, content, name string) {
		m, err := ReadManifest(strings.NewReader(content), name, "/base", ManifestDefaults{Provider: Meta})
		if err != nil {
			return
		}
		last := 0
		for _, r := range m.Rows {
			if r.Line < last {
				t.Fatalf("line numbers go back: %d after %d", r.Line, last)
			}
			last = r.Line
			if r.Err == nil && (r.To == "" || r.Path == "" || r.Provider == "") {
				t.Fatalf("valid row without to/file/provider: %+v", r)
			}
		}
	})
}

// Issue 13 findings 1 and 7: a manifest that is not a regular file (a
// FIFO, a device, a directory) is refused before it is opened for reading
// — the open of a FIFO blocked where no signal ended it, /dev/zero grew
// the process's memory without bound — and one larger than
// MaxManifestSize is refused. Before the fix the FIFO case hung (the test
// times out) and /dev/zero was read until memory ran out.
func TestParseManifestNotRegularOrTooLarge(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.csv")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.csv")
	if err := os.WriteFile(big, []byte("to,file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxManifestSize+1); err != nil { // sparse
		t.Fatal(err)
	}
	cases := map[string]struct{ path, want string }{
		"a FIFO":             {fifo, "named pipe"},
		"/dev/zero":          {"/dev/zero", "character device"},
		"a directory":        {dir, "directory"},
		"larger than 64 MiB": {big, "64 MiB"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := ParseManifest(c.path, ManifestDefaults{Provider: Meta})
				done <- err
			}()
			select {
			case err := <-done:
				var me *ManifestError
				if !errors.As(err, &me) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
					t.Errorf("err %v, want a ManifestError naming %s and saying %q", err, c.path, c.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("ParseManifest(%s) still running after 10 s", c.path)
			}
		})
	}
}

// A reader that never ends (a pipe from /dev/zero) is cut at
// MaxManifestSize.
func TestReadManifestCapped(t *testing.T) {
	f, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// CSV reads its endless first line up to the limit (a JSON Lines
	// manifest stops earlier, at its 1 MiB line limit).
	_, err = ReadManifest(f, "m.csv", "/base", ManifestDefaults{Provider: Meta})
	var me *ManifestError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "64 MiB") {
		t.Errorf("err %v, want the 64 MiB limit", err)
	}
	if _, err = ReadManifest(f, "m.jsonl", "/base", ManifestDefaults{Provider: Meta}); !errors.As(err, &me) {
		t.Errorf("jsonl: err %v", err)
	}
}
