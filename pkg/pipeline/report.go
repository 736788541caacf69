package pipeline

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/status"
)

// ms renders a duration as milliseconds with microsecond precision.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MarshalJSON writes the stages in milliseconds.
func (t Timing) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Inspect   float64 `json:"inspect_ms"`
		Transcode float64 `json:"transcode_ms"`
		Upload    float64 `json:"upload_ms"`
		Send      float64 `json:"send_ms"`
	}{ms(t.Inspect), ms(t.Transcode), ms(t.Upload), ms(t.Send)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (t *Timing) UnmarshalJSON(b []byte) error {
	var raw struct {
		Inspect   float64 `json:"inspect_ms"`
		Transcode float64 `json:"transcode_ms"`
		Upload    float64 `json:"upload_ms"`
		Send      float64 `json:"send_ms"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	f := func(x float64) time.Duration { return time.Duration(x * float64(time.Millisecond)) }
	*t = Timing{Inspect: f(raw.Inspect), Transcode: f(raw.Transcode), Upload: f(raw.Upload), Send: f(raw.Send)}
	return nil
}

// MarshalJSON writes the wall time in milliseconds.
func (s Summary) MarshalJSON() ([]byte, error) {
	type plain Summary
	return json.Marshal(struct {
		plain
		Wall float64 `json:"wall_ms"`
		// hide the nanosecond field of plain
		WallNS *struct{} `json:"wall_ns,omitempty"`
	}{plain: plain(s), Wall: ms(s.Wall)})
}

// MarshalJSON writes durations in milliseconds (eta_ms 0 when unknown).
func (p Progress) MarshalJSON() ([]byte, error) {
	type plain Progress
	return json.Marshal(struct {
		plain
		Elapsed   float64   `json:"elapsed_ms"`
		ETA       float64   `json:"eta_ms"`
		ElapsedNS *struct{} `json:"elapsed_ns,omitempty"`
		ETANS     *struct{} `json:"eta_ns,omitempty"`
	}{plain: plain(p), Elapsed: ms(p.Elapsed), ETA: ms(p.ETA)})
}

// String is a one-line human form (the terminal progress line).
func (p Progress) String() string {
	s := fmt.Sprintf("%d/%d rows", p.Done, p.Total)
	if p.Total > 0 {
		s += fmt.Sprintf(" (%d%%)", p.Done*100/p.Total)
	}
	s += fmt.Sprintf(", %.1f rows/s", p.Rate)
	if p.ETA > 0 {
		s += ", ETA " + p.ETA.Round(time.Second).String()
	}
	s += fmt.Sprintf(" — sent %d", p.Sent)
	if p.Failed+p.Unknown+p.Invalid+p.Skipped > 0 {
		s += fmt.Sprintf(", failed %d, unknown %d, invalid %d, skipped %d", p.Failed, p.Unknown, p.Invalid, p.Skipped)
	}
	return s
}

// reportColumns are the CSV report's columns.
var reportColumns = []string{"row", "to", "file", "provider", "profile", "status", "message_id", "error", "media", "sha256", "resumed",
	"inspect_ms", "transcode_ms", "upload_ms", "send_ms", "delivery", "error_code", "advice"}

// WriteReportFile writes the report to path: CSV when the name ends in
// .csv, else JSON Lines. The file is written whole and renamed into place,
// so a crash never leaves half a report.
func WriteReportFile(path string, r *BatchResult) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if strings.HasSuffix(strings.ToLower(path), ".csv") {
		err = WriteReportCSV(w, r)
	} else {
		err = WriteReportJSONL(w, r)
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// WriteReportJSONL writes one JSON object per row, then one line
// {"summary": {...}}.
func WriteReportJSONL(w io.Writer, r *BatchResult) error {
	enc := json.NewEncoder(w)
	for i := range r.Rows {
		if err := enc.Encode(&r.Rows[i]); err != nil {
			return err
		}
	}
	return enc.Encode(map[string]any{"summary": r.Summary})
}

// WriteReportCSV writes a header and one record per row, then the summary
// as comment lines starting with "#" (skip them with e.g. pandas'
// comment="#").
func WriteReportCSV(w io.Writer, r *BatchResult) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(reportColumns); err != nil {
		return err
	}
	f := func(d time.Duration) string { return strconv.FormatFloat(ms(d), 'f', 3, 64) }
	for _, row := range r.Rows {
		rec := []string{strconv.Itoa(row.Row), row.To, row.File, string(row.Provider), string(row.Profile), string(row.Status),
			row.MessageID, row.Error, row.Media, row.SHA256, strconv.FormatBool(row.Resumed),
			f(row.Timing.Inspect), f(row.Timing.Transcode), f(row.Timing.Upload), f(row.Timing.Send),
			row.Delivery, "", row.Advice}
		if row.ErrorCode != 0 {
			rec[len(rec)-2] = strconv.Itoa(row.ErrorCode)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	text := r.Summary.Text()
	if r.Summary.Error != "" {
		text += "\nerror: " + r.Summary.Error
	}
	for _, line := range strings.Split(text, "\n") {
		if _, err := fmt.Fprintf(w, "# %s\n", line); err != nil {
			return err
		}
	}
	return nil
}

// Text is the summary in a few human lines. The batch-level Error is not
// part of it: it is a diagnostic (the CLI prints it on stderr).
func (s Summary) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d rows:", s.Rows)
	for _, st := range statuses() {
		fmt.Fprintf(&b, " %s %d", st, s.Counts[st])
		if st != StatusInvalid {
			b.WriteByte(',')
		}
	}
	fmt.Fprintf(&b, "\n%d distinct recordings, %d prepared in this run, %d uploads, %d messages sent in this run", s.Distinct, s.Prepared, s.Uploads, s.Messages)
	fmt.Fprintf(&b, "\nbytes %d before → %d after", s.BytesBefore, s.BytesAfter)
	fmt.Fprintf(&b, "\ntime: wall %s; summed per stage: inspect %s, transcode %s, upload %s, send %s",
		s.Wall.Round(time.Millisecond), s.Stages.Inspect.Round(time.Millisecond), s.Stages.Transcode.Round(time.Millisecond),
		s.Stages.Upload.Round(time.Millisecond), s.Stages.Send.Round(time.Millisecond))
	if len(s.Delivery) > 0 {
		b.WriteString("\ndelivery:")
		for i, d := range status.Statuses() {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, " %s %d", d, s.Delivery[string(d)])
		}
		if s.Pending > 0 {
			fmt.Fprintf(&b, "; %d pending (not there when the wait ended)", s.Pending)
		}
	}
	if s.Interrupted {
		b.WriteString("\ninterrupted: rows not attempted are skipped; run the same command again to resume")
	}
	return b.String()
}
