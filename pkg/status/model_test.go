package status

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCombine(t *testing.T) {
	cases := []struct {
		parts []Status
		want  Status
	}{
		{nil, Unknown},
		{[]Status{Delivered}, Delivered},
		{[]Status{Played, Delivered, Read}, Delivered},
		{[]Status{Played, Played}, Played},
		{[]Status{Played, Sent}, Sent},
		{[]Status{Played, Unknown}, Unknown},
		{[]Status{Unknown, Failed}, Failed},
		{[]Status{Read, Failed}, Failed},
		{[]Status{Accepted, Read}, Accepted},
	}
	for _, c := range cases {
		if got := Combine(c.parts...); got != c.want {
			t.Errorf("Combine(%v) = %s, want %s", c.parts, got, c.want)
		}
	}
}

func TestReached(t *testing.T) {
	cases := []struct {
		s, target Status
		reached   bool
		settled   bool
	}{
		{Played, Delivered, true, true},
		{Read, Delivered, true, true},
		{Read, Played, false, false},
		{Sent, Delivered, false, false},
		{Failed, Delivered, false, true},
		{Failed, Failed, true, true},
		{Unknown, Accepted, false, false},
		{Delivered, Delivered, true, true},
	}
	for _, c := range cases {
		if got := c.s.Reached(c.target); got != c.reached {
			t.Errorf("%s.Reached(%s) = %v", c.s, c.target, got)
		}
		if got := c.s.Settled(c.target); got != c.settled {
			t.Errorf("%s.Settled(%s) = %v", c.s, c.target, got)
		}
	}
	if _, err := ParseStatus("undelivered"); err == nil {
		t.Error("undelivered (not a Meta status) parsed")
	}
}

// The outcome is a function of the set of events, whatever order they
// arrive in.
func TestOutcomeIndependentOfOrder(t *testing.T) {
	ev := func(s Status, sec int64, code int) Event {
		e := Event{Provider: Meta, MessageID: "m", Status: s, Time: time.Unix(t0+sec, 0).UTC()}
		if code != 0 {
			e.Error = &Failure{Code: code, Time: e.Time}
		}
		return e
	}
	sets := []struct {
		evs    []Event
		want   Status
		notes  int
		errNil bool
	}{
		{[]Event{ev(Sent, 0, 0), ev(Delivered, 1, 0), ev(Read, 2, 0), ev(Played, 3, 0)}, Played, 0, true},
		{[]Event{ev(Sent, 0, 0), ev(Read, 2, 0)}, Read, 0, true},
		{[]Event{ev(Sent, 0, 0), ev(Failed, 1, 131053)}, Failed, 0, false},
		{[]Event{ev(Sent, 0, 0), ev(Delivered, 1, 0), ev(Failed, 2, 131026)}, Delivered, 1, true},
		{[]Event{ev(Failed, 1, 131053), ev(Failed, 2, 131026), ev(Accepted, 0, 0)}, Failed, 1, false},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, c := range sets {
		for round := 0; round < 20; round++ {
			evs := append([]Event(nil), c.evs...)
			rng.Shuffle(len(evs), func(a, b int) { evs[a], evs[b] = evs[b], evs[a] })
			// and duplicates
			evs = append(evs, evs[rng.IntN(len(evs))])
			ix := newIndex()
			ix.mu.Lock()
			for _, e := range evs {
				ix.applyLocked(e)
			}
			ix.mu.Unlock()
			m, _ := ix.Message("m")
			if m.Status != c.want || len(m.Notes) != c.notes || (m.Error == nil) != c.errNil || m.Events != len(c.evs) {
				t.Fatalf("set %d order %v: %+v", i, evs, m)
			}
			if m.Error != nil && m.Error.Code != 131053 {
				t.Fatalf("set %d: the earliest failure decides, got %d", i, m.Error.Code)
			}
		}
	}
}

func TestReaderFollowsAndWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.jsonl")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go r.Follow(ctx, 5*time.Millisecond)
	go func() {
		time.Sleep(20 * time.Millisecond)
		now := time.Now().UTC()
		s.Append(ctx, []Event{{Provider: Meta, MessageID: "a", Status: Delivered, Time: now}}, nil)
		s.Append(ctx, []Event{{Provider: Meta, MessageID: "b", Status: Failed, Time: now, Error: &Failure{Code: 131047}}}, nil)
		time.Sleep(20 * time.Millisecond)
		s.Append(ctx, []Event{{Provider: Meta, MessageID: "a", Status: Read, Time: now.Add(time.Second)}}, nil)
	}()
	got, err := r.Wait(ctx, []string{"a", "b"}, Read)
	if err != nil {
		t.Fatal(err)
	}
	if got["a"].Status != Read || got["b"].Status != Failed {
		t.Fatalf("%+v", got)
	}
	// The in-process store answers the same.
	got2, err := s.Wait(ctx, []string{"a", "b"}, Read)
	if err != nil || got2["a"].Status != Read {
		t.Fatalf("%v %+v", err, got2)
	}
	// A wait that times out says pending, not failed.
	short, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	got3, err := s.Wait(short, []string{"a", "c"}, Played)
	if err == nil || got3["c"].Status != Unknown || got3["a"].Status != Read {
		t.Fatalf("timeout: %v %+v", err, got3)
	}
}

func TestTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.jsonl")
	good := `{"kind":"status","provider":"meta","message_id":"a","status":"delivered","time":"2026-03-18T10:00:00Z","received":"2026-03-18T10:00:01Z"}` + "\n"
	torn := `{"kind":"status","provider":"meta","message_id":"b","sta`
	if err := os.WriteFile(path, []byte(good+torn), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status("a") != Delivered || r.Status("b") != Unknown || r.Corrupt != 0 {
		t.Fatalf("reader: a=%s b=%s corrupt=%d", r.Status("a"), r.Status("b"), r.Corrupt)
	}
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Corrupt != 0 {
		t.Fatalf("corrupt %d", s.Corrupt)
	}
	if err := s.Append(context.Background(), []Event{{Provider: Meta, MessageID: "c", Status: Sent}}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Status("a") != Delivered || s2.Status("c") != Sent || s2.Corrupt != 0 {
		t.Fatalf("after reopen: a=%s c=%s corrupt=%d", s2.Status("a"), s2.Status("c"), s2.Corrupt)
	}
	if b, _ := os.ReadFile(path); string(b[:len(good)]) != good || strings.Contains(string(b), `"sta`+"\n") {
		t.Fatalf("the torn line was not cut: %q", b)
	}
	if _, err := OpenStore(path); !errors.Is(err, ErrStoreLocked) {
		t.Fatalf("a second writer: %v", err)
	}
}

func TestRow(t *testing.T) {
	ix := newIndex()
	at := time.Unix(t0, 0).UTC()
	ix.mu.Lock()
	for _, e := range []Event{
		{Provider: Meta, MessageID: "p1", Status: Played, Time: at, CallbackData: "rowA"},
		{Provider: Meta, MessageID: "p2", Status: Delivered, Time: at.Add(time.Second), CallbackData: "rowA"},
		{Provider: Meta, MessageID: "q1", Status: Read, Time: at, CallbackData: "rowB"},
		{Provider: Meta, MessageID: "f1", Status: Failed, Time: at, Error: &Failure{Code: 131053}},
	} {
		ix.applyLocked(e)
	}
	ix.mu.Unlock()
	cases := []struct {
		name string
		refs []Ref
		want Status
	}{
		{"two parts, one only delivered", []Ref{{ID: "p1"}, {ID: "p2"}}, Delivered},
		{"a part not heard of", []Ref{{ID: "p1"}, {ID: "nope"}}, Unknown},
		{"in doubt, found by callback data", []Ref{{CallbackData: "rowB"}}, Read},
		{"both parts in doubt, one callback", []Ref{{CallbackData: "rowA"}, {CallbackData: "rowA"}}, Delivered},
		{"one id known, the other by callback", []Ref{{ID: "p2", CallbackData: "rowA"}, {CallbackData: "rowA"}}, Delivered},
		{"three parts, two messages", []Ref{{CallbackData: "rowA"}, {CallbackData: "rowA"}, {CallbackData: "rowA"}}, Unknown},
		{"a failed part", []Ref{{ID: "p1"}, {ID: "f1"}}, Failed},
		{"nothing", nil, Unknown},
	}
	for _, c := range cases {
		r := ix.Row(c.refs...)
		if r.Status != c.want {
			t.Errorf("%s: %s, want %s (%+v)", c.name, r.Status, c.want, r)
		}
		if c.want == Failed && (r.Error == nil || r.Error.Code != 131053) {
			t.Errorf("%s: error %+v", c.name, r.Error)
		}
	}
	if r := ix.Row(Ref{CallbackData: "rowA"}, Ref{CallbackData: "rowA"}); r.Parts[0].ID == r.Parts[1].ID {
		t.Error("one message taken for two parts")
	}
}

func TestNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := OpenStore(fifo); err == nil {
			t.Error("a FIFO opened as a store")
		}
		if _, err := OpenReader(fifo); err == nil {
			t.Error("a FIFO opened for reading")
		}
		if _, err := OpenReader(dir); err == nil {
			t.Error("a directory opened for reading")
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("opening a FIFO hung")
	}
}

// TestStatuses: every status once, valid, the positive ones by falling rank
// before Failed and Unknown.
func TestStatuses(t *testing.T) {
	all := Statuses()
	seen := map[Status]bool{}
	for i, s := range all {
		if !s.Valid() || seen[s] {
			t.Errorf("Statuses()[%d] = %q: invalid or repeated", i, s)
		}
		seen[s] = true
		if i > 0 && s.rank() > 0 && s.rank() >= all[i-1].rank() {
			t.Errorf("Statuses(): %q after %q, want best first", s, all[i-1])
		}
		if i > 0 && s.rank() > 0 && all[i-1].rank() == 0 {
			t.Errorf("Statuses(): %q after %q, want the positive statuses first", s, all[i-1])
		}
	}
	if len(all) != 7 {
		t.Errorf("Statuses() = %v, want 7 statuses", all)
	}
}

// TestRowNotBefore: a part found by callback data takes only a message
// whose events began after its send (within ClockSkew), not an earlier
// send's with the same row key.
func TestRowNotBefore(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "s.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sent := time.Date(2026, 3, 19, 10, 0, 0, 0, time.UTC)
	if err := s.Append(context.Background(), []Event{
		{Provider: Meta, MessageID: "wamid.old", Status: Read, Time: sent.Add(-time.Hour), CallbackData: "k"},
		{Provider: Meta, MessageID: "wamid.skewed", Status: Delivered, Time: sent.Add(-ClockSkew / 2), CallbackData: "k2"},
	}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ref  Ref
		want string
	}{
		{Ref{CallbackData: "k"}, "wamid.old"},
		{Ref{CallbackData: "k", NotBefore: sent}, ""},
		{Ref{CallbackData: "k2", NotBefore: sent}, "wamid.skewed"},
	} {
		if got := s.Row(c.ref).Parts[0].ID; got != c.want {
			t.Errorf("Row(%+v): %q, want %q", c.ref, got, c.want)
		}
	}
}
