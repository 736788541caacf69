package status

import (
	"context"
	"hash/maphash"
	"strconv"
	"sync"
	"time"
)

// Index is the merged state of every event stored: per message id, per
// callback data, and a way to wait for states. It is safe for concurrent
// use. Store and Reader embed one.
type Index struct {
	mu      sync.RWMutex
	msgs    map[string]*msgState
	order   []string            // message ids in order of first event
	byCB    map[string][]string // callback data → message ids
	seed    [2]maphash.Seed
	seen    map[eventKey]struct{} // deduplication
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
		msgs:    map[string]*msgState{},
		byCB:    map[string][]string{},
		seed:    [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		seen:    map[eventKey]struct{}{},
		changed: make(chan struct{}),
	}
}

// eventKey identifies an event for deduplication — same provider, message
// id, status and time (no time when the provider gave none: TimeReceived;
// the key is then the one of a zero time, as stores written before
// TimeReceived hold such events) — as 128 bits of hash (no pointers: millions of
// them cost the garbage collector nothing).
type eventKey [2]uint64

func (ix *Index) keyOf(e *Event) eventKey {
	var buf [24]byte
	var k eventKey
	t := e.Time
	if e.TimeReceived {
		t = time.Time{}
	}
	for i := range k {
		var h maphash.Hash
		h.SetSeed(ix.seed[i])
		h.WriteString(string(e.Provider))
		h.WriteByte(0)
		h.WriteString(e.MessageID)
		h.WriteByte(0)
		h.WriteString(string(e.Status))
		h.WriteByte(0)
		h.Write(strconv.AppendInt(buf[:0], t.UnixNano(), 10))
		k[i] = h.Sum64()
	}
	return k
}

// has reports whether an event with key k was already applied. ix.mu is
// held (read or write).
func (ix *Index) has(k eventKey) bool {
	_, ok := ix.seen[k]
	return ok
}

// applyLocked merges e unless it is a duplicate. ix.mu is held for
// writing.
func (ix *Index) applyLocked(e Event) bool {
	k := ix.keyOf(&e)
	if _, ok := ix.seen[k]; ok {
		ix.dups++
		return false
	}
	ix.seen[k] = struct{}{}
	ix.events++
	m := ix.msgs[e.MessageID]
	if m == nil {
		m = &msgState{}
		ix.msgs[e.MessageID] = m
		ix.order = append(ix.order, e.MessageID)
	}
	hadCB := m.cb
	m.apply(&e)
	// A message is indexed under the first callback data it carries.
	if hadCB == "" && m.cb != "" {
		ix.byCB[m.cb] = append(ix.byCB[m.cb], e.MessageID)
	}
	return true
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
	return m.message(), true
}

// Status is the outcome of the message with this id (Unknown when no
// event came for it).
func (ix *Index) Status(id string) Status {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if m := ix.msgs[id]; m != nil {
		return m.status()
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
		out = append(out, ix.msgs[id].message())
	}
	return out
}

// Messages is every message known, in the order of their first event.
func (ix *Index) Messages() []Message {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]Message, 0, len(ix.order))
	for _, id := range ix.order {
		out = append(out, ix.msgs[id].message())
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
		s.ByStatus[m.status()]++
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
