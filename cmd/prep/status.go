package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/status"
)

// statusRow is one line of prep status (and its --json object).
type statusRow struct {
	Row       int      `json:"row"`
	To        string   `json:"to"`
	Provider  string   `json:"provider"`
	MessageID []string `json:"message_id"`
	// Journal is the batch's own state of the row (sent, failed, unknown,
	// sending, or pending when it was never sent).
	Journal   string `json:"journal"`
	Delivery  string `json:"delivery"`
	ErrorCode int    `json:"error_code,omitempty"`
	Error     string `json:"error,omitempty"`
	Advice    string `json:"advice,omitempty"`
	Updated   string `json:"updated,omitempty"`
}

func runStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "status", "--journal FILE --store FILE [--json]")
	journal := fs.String("journal", "", "the batch's journal (MANIFEST.journal)")
	storePath := fs.String("store", "", "the status store prep webhooks writes (env PREP_STATUS_STORE)")
	asJSON := fs.Bool("json", false, "one JSON object per row on stdout, then a summary object")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("status: unexpected argument %q", pos[0])
	}
	sp := envOr(e, *storePath, "PREP_STATUS_STORE")
	if *journal == "" || sp == "" {
		return usageErrorf("status: --journal and --store are required")
	}
	recs, err := pipeline.ReadJournal(*journal)
	if err != nil {
		return err
	}
	store, err := status.OpenReader(sp)
	if err != nil {
		return err
	}
	rows := statusRows(recs, store.Index)
	counts := map[string]int{}
	notDelivered := 0
	for _, r := range rows {
		counts[r.Delivery]++
		if d, _ := status.ParseStatus(r.Delivery); !d.Reached(status.Delivered) {
			notDelivered++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, r := range rows {
			enc.Encode(r)
		}
		enc.Encode(map[string]any{"summary": map[string]any{"rows": len(rows), "delivery": counts}})
	} else {
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ROW\tTO\tPROVIDER\tDELIVERY\tCODE\tUPDATED\tMESSAGE_ID\tERROR")
		for _, r := range rows {
			code := ""
			if r.ErrorCode != 0 {
				code = strconv.Itoa(r.ErrorCode)
			}
			msg := r.Error
			if r.Advice != "" {
				msg += " — " + r.Advice
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Row, quoteName(r.To), r.Provider, r.Delivery, code, r.Updated, strings.Join(r.MessageID, ";"), escapeControls(strings.ReplaceAll(msg, "\n", " ")))
		}
		tw.Flush()
		fmt.Fprintf(e.stdout, "%d rows: %s\n", len(rows), summaryText(counts))
	}
	if store.Corrupt > 0 {
		fmt.Fprintf(e.stderr, "prep status: warning: %d unreadable line(s) in %s were ignored\n", store.Corrupt, sp)
	}
	if notDelivered > 0 {
		return &reportedError{failed: notDelivered, total: len(rows)}
	}
	return nil
}

// summaryText lists the non-zero delivery counts, best status first.
func summaryText(counts map[string]int) string {
	var parts []string
	for _, d := range status.Statuses() {
		if n := counts[string(d)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, d))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// journalPart is what the journal says about one part of a row.
type journalPart struct {
	state     pipeline.State
	messageID string
	clientID  string
	// sending is when the part's latest request was about to leave (its
	// "sending" record): statuses found by callback data must be newer.
	sending time.Time
	err     string
	// last is the part's last record folded in, its message and client
	// ids filled from earlier records when it had none.
	last pipeline.Record
}

type journalRow struct {
	key      string
	row      int
	to       string
	provider send.Provider
	parts    int
	part     map[int]*journalPart
}

// statusRows folds the journal into rows (as the batch does: "sent" is
// final for a part, otherwise the last outcome counts) and looks each
// part up in the store: by message id (Infobip: the messageId prep fixed
// before sending, so a send in doubt is found too), else by the row's key
// carried as callback data. A part the provider refused has no message:
// it is failed with the journal's error.
func statusRows(recs []pipeline.Record, ix *status.Index) []statusRow {
	rows := journalRows(recs)
	out := make([]statusRow, 0, len(rows))
	for _, jr := range rows {
		out = append(out, jr.report(ix))
	}
	return out
}

// journalRows folds the journal's records into rows, by row number.
func journalRows(recs []pipeline.Record) []*journalRow {
	byKey := map[string]*journalRow{}
	var order []*journalRow
	for _, r := range recs {
		if r.Key == "" || r.State == pipeline.StateRun {
			continue
		}
		jr := byKey[r.Key]
		if jr == nil {
			jr = &journalRow{key: r.Key, part: map[int]*journalPart{}}
			byKey[r.Key] = jr
			order = append(order, jr)
		}
		jr.add(r)
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].row < order[j].row })
	return order
}

// add folds one of the row's records in: "sent" is final for a part,
// otherwise the last outcome counts.
func (jr *journalRow) add(r pipeline.Record) {
	if r.Row != 0 {
		jr.row = r.Row
	}
	if r.To != "" {
		jr.to = r.To
	}
	if r.Provider != "" {
		jr.provider = r.Provider
	}
	if r.Parts > jr.parts {
		jr.parts = r.Parts
	}
	switch r.State {
	case pipeline.StateSending, pipeline.StateSent, pipeline.StateFailed, pipeline.StateUnknown:
	default:
		return
	}
	p := jr.part[r.Part]
	if p == nil {
		p = &journalPart{}
		jr.part[r.Part] = p
	}
	if p.state == pipeline.StateSent {
		return
	}
	if r.State == pipeline.StateSending {
		p.sending = r.Time
	}
	p.state = r.State
	if r.MessageID != "" {
		p.messageID = r.MessageID
	}
	if r.ClientID != "" {
		p.clientID = r.ClientID
	}
	p.err = r.Error
	p.last = r
	p.last.MessageID, p.last.ClientID = p.messageID, p.clientID
}

// refs are the store references of the row's parts, one per part number
// (a part refused or missing from the journal: an empty one, which finds
// nothing), with whether the journal holds each sent; refused is the first
// part the provider refused, states the parts' journal states.
func (jr *journalRow) refs() (refs []status.Ref, sent []bool, refused *journalPart, states map[pipeline.State]bool) {
	n := jr.parts
	for i := range jr.part {
		n = max(n, i+1)
	}
	states = map[pipeline.State]bool{}
	for i := 0; i < n; i++ {
		p := jr.part[i]
		if p == nil {
			refs, sent = append(refs, status.Ref{}), append(sent, false)
			continue
		}
		states[p.state] = true
		if p.state == pipeline.StateFailed {
			if refused == nil {
				refused = p
			}
			refs, sent = append(refs, status.Ref{}), append(sent, false)
			continue
		}
		id := p.messageID
		if id == "" {
			id = p.clientID
		}
		refs = append(refs, status.Ref{ID: id, CallbackData: jr.key, NotBefore: p.sending})
		sent = append(sent, p.state == pipeline.StateSent)
	}
	return refs, sent, refused, states
}

// report is the row's line: its journal state and what the store says of
// its parts.
func (jr *journalRow) report(ix *status.Index) statusRow {
	sr := statusRow{Row: jr.row, To: jr.to, Provider: string(jr.provider), MessageID: []string{}}
	if len(jr.part) == 0 {
		sr.Journal, sr.Delivery = "pending", string(status.Unknown)
		return sr
	}
	refs, sent, refused, states := jr.refs()
	sr.Journal = journalState(states)
	row := ix.Row(refs...)
	for _, m := range row.Parts {
		if m.ID != "" {
			sr.MessageID = append(sr.MessageID, m.ID)
		}
	}
	// A part the provider accepted that no status came for yet is
	// accepted, not unknown (unknown: a send in doubt, or never sent).
	parts := make([]status.Status, len(row.Parts))
	for i, m := range row.Parts {
		parts[i] = m.Status
		if m.Status == status.Unknown && sent[i] {
			parts[i] = status.Accepted
		}
	}
	sr.Delivery = string(status.Combine(parts...))
	if !row.Updated.IsZero() {
		sr.Updated = row.Updated.UTC().Format(time.RFC3339)
	}
	switch {
	case refused != nil:
		sr.Delivery = string(status.Failed)
		sr.Error = refused.err
	case row.Error != nil:
		sr.ErrorCode, sr.Error, sr.Advice = row.Error.Code, row.Error.Text(), row.Error.Advice
	}
	return sr
}

// journalState is a row's state in the journal, from its parts'.
func journalState(s map[pipeline.State]bool) string {
	for _, st := range []pipeline.State{pipeline.StateFailed, pipeline.StateUnknown, pipeline.StateSending} {
		if s[st] {
			return string(st)
		}
	}
	return string(pipeline.StateSent)
}
