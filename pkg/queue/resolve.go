package queue

import (
	"context"
	"errors"
	"time"
)

// ResolveUnknown makes "sent" the unknown rows of a submission whose
// in-doubt request is known to have arrived: found returns the provider's
// message id when a status came for it (by the row's key, which Meta and
// 360dialog echo as biz_opaque_callback_data, or by Infobip's messageId,
// the row's ClientID). Such a row is never resent, not even with
// ResendUnknown. Only a row's last part is resolved this way (an earlier
// part in doubt leaves the rest unsent: the row stays unknown). It
// returns how many rows it resolved.
func (q *Queue) ResolveUnknown(ctx context.Context, sub *Submission, found func(r Row) (messageID string, ok bool)) (int, error) {
	n := 0
	for _, sr := range sub.Rows {
		if sr.Err != nil {
			continue
		}
		k := rowKV(sub.Batch, sr.Key)
		var id string
		_, _, err := update(ctx, q.rows, k, func(r *Row, exists bool) error {
			if !exists || r.State != StateUnknown || r.Part != len(r.IDs) || (r.Parts > 0 && r.Part != r.Parts-1) {
				return errWait
			}
			var ok bool
			if id, ok = found(*r); !ok || id == "" {
				return errWait
			}
			r.IDs = append(r.IDs, id)
			r.State, r.Error, r.Resend, r.Updated = StateSent, "", false, time.Now().UTC()
			return nil
		})
		switch {
		case err == nil:
			n++
		case errors.Is(err, errWait):
		default:
			return n, &Error{Op: "resolve " + sub.Batch, Err: err}
		}
	}
	return n, nil
}
