package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/upload"
)

// checkAccountMedia fails t unless every Meta send of each fake (by
// account) used a media id of its own account, and each account uploaded
// each recording it sent at most once; it returns the Meta sends per
// account.
func checkAccountMedia(t *testing.T, fks map[string]*fakeStages) map[string]int {
	t.Helper()
	sent := map[string]int{}
	for acct, fk := range fks {
		fk.mu.Lock()
		files := map[string]bool{}
		for _, s := range fk.sends {
			if s.Provider != send.Meta {
				continue
			}
			sent[acct]++
			if !strings.HasPrefix(s.MediaID, acct+":") {
				t.Errorf("account %s sent to %s with media id %q: not its own (another account's id fails later, 131053)", acct, s.To, s.MediaID)
			}
			files[strings.TrimPrefix(s.MediaID, acct+":meta-")] = true
		}
		for f := range files {
			if n := fk.prepDests[f+"|meta"]; n != 1 {
				t.Errorf("account %s uploaded %s to its media endpoint %d times, want once", acct, f, n)
			}
		}
		for k, n := range fk.prepDests {
			if n > 1 {
				t.Errorf("account %s: %s uploaded %d times", acct, k, n)
			}
		}
		fk.mu.Unlock()
	}
	return sent
}

// TestMediaPerAccountAcrossBatches: a Meta media id belongs to the phone
// number that uploaded it. One recording sent by a batch through account
// A, then by another batch through account B: B uploads it for itself
// once and sends its own media id, while the link upload (not bound to an
// account) is reused. Before, the recordings bucket kept media by
// destination only ("meta"), and B sent A's media id (every such message
// fails later with a 131053 status).
func TestMediaPerAccountAcrossBatches(t *testing.T) {
	_, _, q := testQueue(t)
	m := manifest(t, 1, 3) // meta, meta, infobip (link)
	ctx := context.Background()
	fks := map[string]*fakeStages{}
	var ck string
	for _, acct := range []string{"A", "B"} {
		fk := newFake()
		fk.account = acct
		fks[acct] = fk
		sub := submit(t, q, m, SubmitOptions{Batch: "batch-" + acct})
		ck = ContentKey(sub.Rows[0].SHA, sub.Rows[0].Row.Profile)
		stop := runWorkers(t, q, fk, 1, WorkerOptions{Logf: t.Logf})
		res := waitResult(t, q, sub)
		stop()
		if !res.AllSent() {
			t.Fatalf("account %s: not all sent: %+v", acct, res.Summary.Counts)
		}
	}
	sent := checkAccountMedia(t, fks)
	if sent["A"] != 2 || sent["B"] != 2 {
		t.Errorf("Meta sends per account %v, want 2 each", sent)
	}
	if a, b := fks["A"].prepDests["rec00.ogg|link"], fks["B"].prepDests["rec00.ogg|link"]; a != 1 || b != 0 {
		t.Errorf("link uploads by A %d, by B %d: want A's reused by B", a, b)
	}
	rec, err := q.Recording(ctx, ck)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"meta@A", "meta@B", "link"} {
		if rec.Uploads[d] != 1 || len(rec.Media[d]) != 1 {
			t.Errorf("recording: %d uploads and %d media at %s, want 1 and 1 (uploads %v)", rec.Uploads[d], len(rec.Media[d]), d, rec.Uploads)
		}
	}
}

// TestMediaPerAccountOneBatch: two workers of different accounts share one
// batch: each uploads each recording once for its own account and sends
// only its own media ids; the link uploads are made once for both.
// Before, the first upload (either account's) served both.
func TestMediaPerAccountOneBatch(t *testing.T) {
	_, _, q := testQueue(t)
	m := manifest(t, 2, 40)
	sub := submit(t, q, m, SubmitOptions{})
	fks := map[string]*fakeStages{}
	for _, acct := range []string{"A", "B"} {
		fk := newFake()
		fk.account = acct
		fk.prepareWait = 20 * time.Millisecond
		// Slow sends and few rows held: both workers take rows.
		fk.sendHook = func(SendRequest) (*send.Receipt, error) {
			time.Sleep(10 * time.Millisecond)
			return nil, errPass
		}
		fks[acct] = fk
		runWorkers(t, q, fk, 1, WorkerOptions{Concurrency: 2, Logf: t.Logf})
	}
	res := waitResult(t, q, sub)
	if !res.AllSent() {
		t.Fatalf("not all sent: %+v", res.Summary.Counts)
	}
	sent := checkAccountMedia(t, fks)
	if sent["A"] == 0 || sent["B"] == 0 || sent["A"]+sent["B"] != 27 {
		t.Fatalf("Meta sends per account %v: want 27 in all, by both accounts", sent)
	}
	for _, f := range []string{"rec00.ogg", "rec01.ogg"} {
		if n := fks["A"].prepDests[f+"|link"] + fks["B"].prepDests[f+"|link"]; n != 1 {
			t.Errorf("%s uploaded to the link host %d times, want once for both accounts", f, n)
		}
	}
}

// TestMediaOfNoAccountIgnored: a bucket entry written before media were
// keyed by account (media at plain "meta") is nobody's: a worker uploads
// for its own account instead of sending that media id.
func TestMediaOfNoAccountIgnored(t *testing.T) {
	_, _, q := testQueue(t)
	m := manifest(t, 1, 2) // meta, meta
	ctx := context.Background()
	sub := submit(t, q, m, SubmitOptions{})
	ck := ContentKey(sub.Rows[0].SHA, sub.Rows[0].Row.Profile)
	if _, _, err := update(ctx, q.recs, ck, func(r *Recording, _ bool) error {
		r.Media = map[string][]MediaRef{"meta": {{Ref: upload.Ref{MediaID: "legacy-id"}, At: time.Now()}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	fk := newFake()
	fk.account = "A"
	runWorkers(t, q, fk, 1, WorkerOptions{Logf: t.Logf})
	res := waitResult(t, q, sub)
	if !res.AllSent() {
		t.Fatalf("not all sent: %+v", res.Summary.Counts)
	}
	if sent := checkAccountMedia(t, map[string]*fakeStages{"A": fk}); sent["A"] != 2 {
		t.Errorf("%d Meta sends, want 2", sent["A"])
	}
}
