package status

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Index is the merged state of every event stored: per message id, per
// callback data, and a way to wait for states. It is safe for concurrent
// use. Store and Reader embed one.
type Index struct {
	mu      sync.RWMutex
	msgs    map[string]*Message
	order   []string            // message ids in order of first event
	byCB    map[string][]string // callback data → message ids
	seen    map[string]struct{} // event keys (deduplication)
	events  int
	dups    int
	raws    []RawInfo
	changed chan struct{} // closed and replaced on every change
}

// RawInfo describes a body kept whole for inspection (its bytes are in the
// store file).
type RawInfo struct {
	Provider Provider  `json:"provider"`
	Received time.Time `json:"received"`
	Reason   string    `json:"reason"`
	Size     int       `json:"size"`
}

func newIndex() *Index {
	return &Index{
		msgs:    map[string]*Message{},
		byCB:    map[string][]string{},
		seen:    map[string]struct{}{},
		changed: make(chan struct{}),
	}
}

// has reports whether an event with key k was already applied. ix.mu is
// held (read or write).
func (ix *Index) has(k string) bool {
	_, ok := ix.seen[k]
	return ok
}

// applyLocked merges e unless it is a duplicate. ix.mu is held for
// writing.
func (ix *Index) applyLocked(e Event) bool {
	k := e.key()
	if _, ok := ix.seen[k]; ok {
		ix.dups++
		return false
	}
	ix.seen[k] = struct{}{}
	ix.events++
	m := ix.msgs[e.MessageID]
	if m == nil {
		m = &Message{}
		ix.msgs[e.MessageID] = m
		ix.order = append(ix.order, e.MessageID)
	}
	hadCB := m.CallbackData
	m.apply(e)
	if e.CallbackData != "" && hadCB != e.CallbackData && !contains(ix.byCB[e.CallbackData], e.MessageID) {
		ix.byCB[e.CallbackData] = append(ix.byCB[e.CallbackData], e.MessageID)
	}
	return true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// notifyLocked wakes every waiter. ix.mu is held for writing.
func (ix *Index) notifyLocked() {
	close(ix.changed)
	ix.changed = make(chan struct{})
}

// Message is the state of the message with this provider message id.
func (ix *Index) Message(id string) (Message, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	m := ix.msgs[id]
	if m == nil {
		return Message{ID: id, Status: Unknown}, false
	}
	return m.clone(), true
}

// Status is the outcome of the message with this id (Unknown when no
// event came for it).
func (ix *Index) Status(id string) Status {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if m := ix.msgs[id]; m != nil {
		return m.Status
	}
	return Unknown
}

// ByCallback is every message whose events carried this callback data
// (Meta's biz_opaque_callback_data, Infobip's callbackData), in the order
// they were first seen. It resolves a send that left without an answer: its
// statuses name the row.
func (ix *Index) ByCallback(data string) []Message {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []Message
	for _, id := range ix.byCB[data] {
		out = append(out, ix.msgs[id].clone())
	}
	return out
}

// Messages is every message known, in the order of their first event.
func (ix *Index) Messages() []Message {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]Message, 0, len(ix.order))
	for _, id := range ix.order {
		out = append(out, ix.msgs[id].clone())
	}
	return out
}

// Stats counts what the index holds.
type Stats struct {
	Messages   int            `json:"messages"`
	Events     int            `json:"events"`
	Duplicates int            `json:"duplicates"` // events ignored as duplicates
	Raw        int            `json:"raw"`        // bodies kept whole for inspection
	ByStatus   map[Status]int `json:"by_status"`
}

// Stats counts messages per status, events, duplicates and raw bodies.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := Stats{Messages: len(ix.msgs), Events: ix.events, Duplicates: ix.dups, Raw: len(ix.raws), ByStatus: map[Status]int{}}
	for _, m := range ix.msgs {
		s.ByStatus[m.Status]++
	}
	return s
}

// Raw describes the bodies kept whole for inspection.
func (ix *Index) Raw() []RawInfo {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return append([]RawInfo(nil), ix.raws...)
}

// Changed returns a channel closed at the next change of the index.
func (ix *Index) Changed() <-chan struct{} {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.changed
}

// Wait blocks until every message in ids has settled for target — reached
// it (played reaches read and delivered) or failed — or ctx is done. It
// returns the messages' states either way (Unknown for ids without events),
// and ctx's error when it ended the wait: a missed deadline leaves messages
// pending, not failed. With a Reader, run Follow meanwhile.
func (ix *Index) Wait(ctx context.Context, ids []string, target Status) (map[string]Message, error) {
	return ix.WaitFunc(ctx, ids, func(m Message) bool { return m.Status.Settled(target) })
}

// WaitFunc is Wait with a condition of the caller's.
func (ix *Index) WaitFunc(ctx context.Context, ids []string, done func(Message) bool) (map[string]Message, error) {
	for {
		ch := ix.Changed()
		out := make(map[string]Message, len(ids))
		all := true
		for _, id := range ids {
			m, _ := ix.Message(id)
			out[id] = m
			if !done(m) {
				all = false
			}
		}
		if all {
			return out, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}

// sortedStatuses lists the statuses of a count map in model order.
func sortedStatuses(m map[Status]int) []Status {
	out := make([]Status, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return statusOrder(out[i]) < statusOrder(out[j]) })
	return out
}

func statusOrder(s Status) int {
	switch s {
	case Failed:
		return 6
	case Unknown:
		return 7
	}
	return s.rank()
}
