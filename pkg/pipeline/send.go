package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/upload"
)

// Store keeps row states durably: the send step's guard against sending a
// row twice. The local Journal is one; a replicated key-value store (e.g.
// a NATS JetStream KV) can be another.
type Store interface {
	// Append records r and returns once it survives a crash.
	Append(r Record) error
}

// The local journal is a Store.
var _ Store = (*Journal)(nil)

// SendRow is one manifest row (or one item) at the send step.
type SendRow struct {
	Key      string // the row's key in the Store ("" without one)
	Line     int    // its manifest line, for the records
	Provider send.Provider
	To       string // normalized (send.NormalizePhone)
	Voice    bool
	// CallbackData is echoed in the message's statuses: Infobip's
	// callbackData, Meta's and 360dialog's biz_opaque_callback_data.
	CallbackData string
	NotifyURL    string       // Infobip: where it posts this message's reports
	Media        []upload.Ref // the uploaded parts, in order
	// Sent holds the message ids of parts an earlier run sent (by part
	// index): they are not sent again.
	Sent map[int]string
	// ClientIDs holds the client message ids of parts whose earlier send
	// is in doubt and that are being resent on purpose: the same id again,
	// so the provider's reports can tell it is the same message.
	ClientIDs map[int]string
}

// SendResult is the send step's outcome for one row.
type SendResult struct {
	Status     Status        // sent, failed, unknown or skipped
	MessageIDs []string      // the sent parts' ids, in order (earlier runs' included)
	Err        error         // why, when not sent: *send.InDoubtError for unknown
	Messages   int           // requests answered with a message id in this call
	Duration   time.Duration // the send step's time (requests and their records)
}

// Send sends the row's parts not yet sent, in order: before each request a
// durable "sending" record in st (nil: no store), after it the outcome. A
// request whose answer never came (an in-doubt error, a sender returning
// no receipt or no message id, ctx cancelled while it was out) is
// "unknown", never retried here; a refusal is "failed"; a store that
// cannot be written stops the row before its request ("skipped", or
// "failed" when earlier parts left).
func (p *Pipeline) Send(ctx context.Context, st Store, row *SendRow) SendResult {
	return p.send(ctx, st, row, nil)
}

// waitFunc is called before each part's request (a rate limit, a stop):
// an error ends the row there. started says whether a part of the row
// has left already.
type waitFunc func(ctx context.Context, started bool) error

func (p *Pipeline) send(ctx context.Context, st Store, row *SendRow, wait waitFunc) SendResult {
	var res SendResult
	parts := len(row.Media)
	sender := p.senders[row.Provider]
	switch {
	case parts == 0:
		res.Status, res.Err = StatusFailed, errors.New("nothing to send: no uploaded media")
		return res
	case sender == nil:
		res.Status, res.Err = StatusFailed, fmt.Errorf("no sender configured for %s", row.Provider)
		return res
	}
	started := false
	for i := range row.Media {
		if id, ok := row.Sent[i]; ok {
			res.MessageIDs = append(res.MessageIDs, id) // sent in an earlier run
			started = true
			continue
		}
		if wait != nil {
			if err := wait(ctx, started); err != nil {
				return res.endBefore(i, parts, errInterrupted)
			}
		}
		started = true
		t0 := time.Now()
		id, status, err := p.sendPart(ctx, st, sender, row, i)
		res.Duration += time.Since(t0) // the request, and its records
		if status == StatusSkipped {
			return res.endBefore(i, parts, err)
		}
		if err != nil {
			if parts > 1 {
				err = fmt.Errorf("part %d of %d: %w", i+1, parts, err)
			}
			res.Status, res.Err = status, err
			return res
		}
		res.MessageIDs = append(res.MessageIDs, id)
		res.Messages++
	}
	res.Status = StatusSent
	return res
}

// endBefore ends the row before part i's request: skipped when none of
// its parts was ever sent, else failed (partly delivered; a rerun sends
// the rest).
func (res SendResult) endBefore(i, parts int, err error) SendResult {
	if len(res.MessageIDs) > 0 {
		res.Status, res.Err = StatusFailed, fmt.Errorf("part %d of %d: %w (the parts before it were sent; a rerun sends the rest)", i+1, parts, err)
	} else {
		res.Status, res.Err = StatusSkipped, err
	}
	return res
}

// sendPart sends part i of row: a durable "sending" record first, the
// outcome after. It returns the message id, or the status the row ends
// with and why: skipped (nothing left: the store failed), unknown (in
// doubt) or failed (refused).
func (p *Pipeline) sendPart(ctx context.Context, st Store, sender send.Sender, row *SendRow, i int) (string, Status, error) {
	m := row.Media[i]
	msg := send.Message{To: row.To, MediaID: m.MediaID, Voice: row.Voice}
	if m.MediaID == "" {
		link, err := p.FetchURL(ctx, m)
		if err != nil {
			return "", StatusFailed, err
		}
		msg.Link = link
	}
	msg.Extras.CallbackData = row.CallbackData
	if row.Provider == send.Infobip {
		msg.Extras.MessageID, msg.Extras.NotifyURL = p.newMessageID(row.Provider), row.NotifyURL
		if id := row.ClientIDs[i]; id != "" {
			msg.Extras.MessageID = id // the in-doubt request's id again
		}
	}
	rec := Record{Key: row.Key, Row: row.Line, Part: i, Parts: len(row.Media), To: row.To, Provider: row.Provider, ClientID: msg.Extras.MessageID, Media: refOf(m)}
	if st != nil {
		r := rec
		r.State = StateSending
		if err := st.Append(r); err != nil {
			return "", StatusSkipped, fmt.Errorf("not sent: the journal could not be written: %w", err)
		}
	}
	rc, err := sender.Send(ctx, msg)
	if err == nil && (rc == nil || rc.MessageID == "") {
		err = &send.InDoubtError{Provider: row.Provider, To: row.To, MessageID: msg.Extras.MessageID, Err: errors.New("the provider answered without a message id")}
	}
	status := StatusSent
	rec.State = StateSent
	switch {
	case err == nil:
		rec.MessageID = rc.MessageID
	case isInDoubt(err):
		status, rec.State, rec.Error = StatusUnknown, StateUnknown, err.Error()
	case ctx.Err() != nil:
		// Cancelled while the request may have been out.
		err = &send.InDoubtError{Provider: row.Provider, To: row.To, MessageID: msg.Extras.MessageID, Err: err}
		status, rec.State, rec.Error = StatusUnknown, StateUnknown, err.Error()
	default:
		status, rec.State, rec.Error = StatusFailed, StateFailed, err.Error()
	}
	if st != nil {
		// Best effort: without the outcome, "sending" already says in
		// doubt, and a rerun never resends the part.
		st.Append(rec)
	}
	if err != nil {
		return "", status, err
	}
	return rc.MessageID, StatusSent, nil
}

// errInterrupted ends rows not attempted because the batch was stopped.
var errInterrupted = errors.New("interrupted before sending")

// isInDoubt reports whether err says the outcome of a send is unknown.
func isInDoubt(err error) bool {
	var d *send.InDoubtError
	return errors.As(err, &d)
}
