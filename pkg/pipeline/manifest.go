package pipeline

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
)

// Manifest is a parsed batch manifest.
type Manifest struct {
	Path string // the manifest file ("" when read from a reader)
	Rows []Row  // every data row, valid or not, in file order
}

// Row is one manifest row.
type Row struct {
	Line         int           // 1-based line number in the manifest file
	To           string        // as written
	File         string        // as written
	Path         string        // File resolved against the manifest's directory
	Provider     send.Provider // "" when neither the row nor the defaults name one
	Profile      transcode.Profile
	CallbackData string
	// Err says why the row is invalid (nil when it is valid so far; the
	// batch also checks the recipient and that the file can be read).
	Err error
}

// ManifestDefaults fill columns a manifest leaves out or empty.
type ManifestDefaults struct {
	Provider send.Provider
	Profile  transcode.Profile // default voice
}

// ManifestError is a problem with the manifest as a whole (unreadable, no
// header, a required column missing). Problems of single rows are in
// Row.Err instead.
type ManifestError struct {
	Path string
	Line int
	Err  error
}

func (e *ManifestError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("manifest %s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("manifest %s: %v", e.Path, e.Err)
}
func (e *ManifestError) Unwrap() error { return e.Err }

// maxManifestLine bounds one line of a JSON Lines manifest.
const maxManifestLine = 1 << 20

// ParseManifest reads a manifest file: CSV with a header (`to,file`
// required; `provider`, `profile`, `callback_data` optional; other columns
// ignored) or JSON Lines with the same keys. The format is chosen by the
// extension (.csv; .jsonl, .ndjson, .json) or else by the first byte ('{'
// means JSON Lines). Relative file paths are relative to the manifest's
// directory.
//
// Only a regular file is read: a FIFO (a named pipe, or a shell's process
// substitution), a device, a socket or a directory is refused before it is
// opened for reading — a pipe's open or read would block where no signal
// ends it, /dev/zero would never end — and a manifest larger than
// MaxManifestSize is refused.
func ParseManifest(path string, d ManifestDefaults) (*Manifest, error) {
	f, st, err := inspect.OpenRegular(path)
	if err != nil {
		var ie *inspect.Error
		if errors.As(err, &ie) {
			err = ie.Err // the path is the ManifestError's
			if ie.Kind == inspect.KindNotRegular {
				err = fmt.Errorf("%v: a manifest is read from a regular file only (write a pipe's output to a file first)", err)
			}
		}
		return nil, &ManifestError{Path: path, Err: err}
	}
	defer f.Close()
	if st.Size() > MaxManifestSize {
		return nil, &ManifestError{Path: path, Err: errManifestSize(st.Size())}
	}
	return ReadManifest(f, path, filepath.Dir(path), d)
}

// MaxManifestSize bounds a manifest: 64 MiB, about a million rows. A
// larger one is refused (split it into several batches).
const MaxManifestSize = 64 << 20

func errManifestSize(n int64) error {
	if n <= 0 {
		return fmt.Errorf("larger than %d MiB, the limit for a manifest: split it into several batches", MaxManifestSize>>20)
	}
	return fmt.Errorf("%d bytes, larger than %d MiB, the limit for a manifest: split it into several batches", n, MaxManifestSize>>20)
}

// cappedReader reads at most MaxManifestSize bytes and then fails.
type cappedReader struct {
	r io.Reader
	n int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.n > MaxManifestSize {
		return 0, errManifestSize(0)
	}
	if max := MaxManifestSize + 1 - c.n; int64(len(p)) > max {
		p = p[:max]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > MaxManifestSize {
		return n, errManifestSize(0)
	}
	return n, err
}

// ReadManifest parses a manifest from r. name is used for the format (by
// extension) and messages; baseDir resolves relative file paths. More than
// MaxManifestSize bytes is an error.
func ReadManifest(r io.Reader, name, baseDir string, d ManifestDefaults) (*Manifest, error) {
	br := bufio.NewReader(&cappedReader{r: r})
	jsonl := false
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jsonl", ".ndjson", ".json":
		jsonl = true
	case ".csv":
	default:
		head, _ := br.Peek(512)
		head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
		head = bytes.TrimLeft(head, " \t\r\n")
		jsonl = len(head) > 0 && head[0] == '{'
	}
	if d.Profile == "" {
		d.Profile = transcode.ProfileVoice
	}
	m := &Manifest{Path: name}
	var err error
	if jsonl {
		err = readJSONL(br, m, baseDir, d)
	} else {
		err = readCSV(br, m, baseDir, d)
	}
	if err != nil {
		return nil, err
	}
	if len(m.Rows) == 0 {
		// Nothing to do is a mistake in the input, not a batch that
		// succeeded (or failed) at nothing.
		return nil, &ManifestError{Path: name, Err: ErrManifestNoRows}
	}
	return m, nil
}

// ErrManifestNoRows is wrapped by the error of ParseManifest and
// ReadManifest for a manifest without a data row (a CSV header alone,
// blank lines).
var ErrManifestNoRows = errors.New("no rows: a manifest needs at least one row after its header")

// fill builds a row from its named values and checks what can be checked
// without the file system.
func fill(line int, vals map[string]string, baseDir string, d ManifestDefaults) Row {
	r := Row{Line: line, To: strings.TrimSpace(vals["to"]), File: strings.TrimSpace(vals["file"]), CallbackData: vals["callback_data"]}
	var errs []string
	if r.To == "" {
		errs = append(errs, "to is empty")
	}
	if r.File == "" {
		errs = append(errs, "file is empty")
	} else {
		r.Path = r.File
		if !filepath.IsAbs(r.Path) {
			r.Path = filepath.Join(baseDir, r.Path)
		}
	}
	r.Provider = d.Provider
	if s := strings.TrimSpace(vals["provider"]); s != "" {
		p, err := send.ParseProvider(s)
		if err != nil {
			errs = append(errs, err.Error())
		}
		r.Provider = p
	}
	if r.Provider == "" && len(errs) == 0 {
		errs = append(errs, "no provider (add a provider column or give a default provider)")
	}
	if r.CallbackData != "" && r.Provider != "" && r.Provider != send.Infobip {
		// FromSend refuses it; found here, the row is invalid before any
		// transcode or upload instead of failing (and being retried) at
		// the send.
		errs = append(errs, fmt.Sprintf("callback_data is for infobip only, not %s", r.Provider))
	}
	r.Profile = d.Profile
	if s := strings.TrimSpace(vals["profile"]); s != "" {
		p, err := ParseProfile(s)
		if err != nil {
			errs = append(errs, err.Error())
		}
		r.Profile = p
	}
	if len(errs) > 0 {
		r.Err = errors.New(strings.Join(errs, "; "))
	}
	return r
}

var manifestKeys = []string{"to", "file", "provider", "profile", "callback_data"}

func readCSV(r io.Reader, m *Manifest, baseDir string, d ManifestDefaults) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err == io.EOF {
		return &ManifestError{Path: m.Path, Err: errors.New("empty: a header line with at least `to,file` is needed")}
	}
	if err != nil {
		return &ManifestError{Path: m.Path, Line: 1, Err: fmt.Errorf("header: %w", err)}
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	for _, k := range []string{"to", "file"} {
		if _, ok := col[k]; !ok {
			return &ManifestError{Path: m.Path, Line: 1, Err: fmt.Errorf("header %q has no %q column (required: to,file; optional: provider,profile,callback_data)", strings.Join(header, ","), k)}
		}
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			m.Rows = append(m.Rows, Row{Line: pe.StartLine, Err: fmt.Errorf("not valid CSV: %v", pe.Err)})
			continue // the reader goes on at the next record
		}
		if err != nil {
			return &ManifestError{Path: m.Path, Err: err}
		}
		line := 0
		if len(rec) > 0 { // FieldPos panics without fields
			line, _ = cr.FieldPos(0)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a line of spaces
		}
		vals := map[string]string{}
		for _, k := range manifestKeys {
			if i, ok := col[k]; ok && i < len(rec) {
				vals[k] = rec[i]
			}
		}
		row := fill(line, vals, baseDir, d)
		if len(rec) != len(header) {
			row.Err = fmt.Errorf("%d fields, the header has %d", len(rec), len(header))
		}
		m.Rows = append(m.Rows, row)
	}
}

func readJSONL(r io.Reader, m *Manifest, baseDir string, d ManifestDefaults) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxManifestLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if len(b) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			m.Rows = append(m.Rows, Row{Line: line, Err: fmt.Errorf("not a JSON object: %v", err)})
			continue
		}
		vals := map[string]string{}
		var bad []string
		for _, k := range manifestKeys {
			raw, ok := obj[k]
			if !ok {
				continue
			}
			s, err := jsonScalar(raw)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", k, err))
				continue
			}
			vals[k] = s
		}
		row := fill(line, vals, baseDir, d)
		if len(bad) > 0 {
			msg := strings.Join(bad, "; ")
			if row.Err != nil {
				msg += "; " + row.Err.Error()
			}
			row.Err = errors.New(msg)
		}
		m.Rows = append(m.Rows, row)
	}
	if err := sc.Err(); err != nil {
		return &ManifestError{Path: m.Path, Line: line + 1, Err: err}
	}
	return nil
}

// jsonScalar accepts a JSON string or number (a phone number is often
// written as a number) and returns it as text.
func jsonScalar(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err == nil {
		if _, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
			return n.String(), nil
		}
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		return "", nil
	}
	return "", errors.New("must be a string")
}
