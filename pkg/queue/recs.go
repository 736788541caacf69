package queue

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/pipeline"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// Recording is a distinct recording's entry in the recordings bucket: who
// holds its claim, what the batches want of it, and where it was uploaded.
type Recording struct {
	Content string            `json:"content"` // ContentKey
	SHA256  string            `json:"sha256"`
	Profile transcode.Profile `json:"profile"`
	Source  string            `json:"source"` // where to fetch it (any row's file)
	Split   bool              `json:"split,omitempty"`
	// Want are the destinations asked for: plain destination names (as
	// submitted: every worker serves them for its own account) or media
	// keys (a worker's own want, see Worker.mediaKey).
	Want []string `json:"want"`
	// Worker holds the claim ("" when none); ClaimedAt is when it took it.
	Worker    string    `json:"worker,omitempty"`
	ClaimedAt time.Time `json:"claimed_at,omitempty"`
	// Claims counts claims taken: each one fetched and transcoded the
	// recording (or began to). Prepared counts those that prepared it.
	Claims   int `json:"claims"`
	Prepared int `json:"prepared,omitempty"`
	// Uploads counts upload passes and Media holds the uploads by media
	// key: "meta@ACCOUNT" for a provider's media endpoint (a media id is
	// usable only by the account that uploaded it), the destination alone
	// for the link host. An entry at a plain "meta" (written before media
	// were keyed by account) is nobody's: never used.
	Uploads map[string]int                `json:"uploads,omitempty"`
	Media   map[string][]MediaRef         `json:"media,omitempty"`
	Error   string                        `json:"error,omitempty"` // the last claim failed; resubmitting clears it
	Timing  pipeline.Timing               `json:"timing"`
	Bytes   struct{ Before, After int64 } `json:"bytes"`
}

// MediaRef is an upload's result, with when it was made (reused for
// MediaTTL).
type MediaRef struct {
	upload.Ref
	At time.Time `json:"at"`
}

// media returns the uploaded parts at media key k, when fresh.
func (r *Recording) media(k string, ttl time.Duration) []upload.Ref {
	refs := r.Media[k]
	if len(refs) == 0 {
		return nil
	}
	out := make([]upload.Ref, len(refs))
	for i, m := range refs {
		if time.Since(m.At) > ttl {
			return nil
		}
		out[i] = m.Ref
		// An entry written before presigned URLs were kept out of the
		// bucket holds one whole: still sent, shown without its query.
		if shown := upload.RedactURL(m.URL); m.URL != "" && m.Link == "" && shown != m.URL {
			out[i].URL, out[i].Link = shown, m.URL
		}
	}
	return out
}

// mediaAt is media at media key mk or, for a link host's key
// ("link@HOST"), an entry at the plain destination written before link
// uploads were keyed by host, when it holds whole presigned URLs (Link:
// fetchable from anywhere); a plain entry holding keys is nobody's.
func (r *Recording) mediaAt(mk string, ttl time.Duration) []upload.Ref {
	if m := r.media(mk, ttl); m != nil {
		return m
	}
	d := destOf(mk)
	if d == mk {
		return nil
	}
	m := r.media(d, ttl)
	for _, ref := range m {
		if ref.MediaID != "" || ref.Link == "" {
			return nil
		}
	}
	return m
}

// RecordingError is a recording that could not be prepared or uploaded:
// every row using it fails (resubmitting retries it).
type RecordingError struct {
	Content string
	Msg     string
}

func (e *RecordingError) Error() string { return e.Msg }

// errWait is returned inside update to give up without writing.
var errWait = errors.New("wait")

// mediaKey is where the recordings bucket keeps this worker's media for
// dest: dest and the account its stages upload to ("meta@ACCOUNT"), as
// Meta's and 360dialog's media ids are usable only by the account that
// uploaded them; dest alone when its uploads are not account-bound (the
// link host: a URL anyone fetches).
func (w *Worker) mediaKey(dest string) string {
	if a := w.stages.MediaAccount(dest); a != "" {
		return dest + "@" + a
	}
	return dest
}

// destOf is a media key's (or a plain want's) destination.
func destOf(k string) string {
	d, _, _ := strings.Cut(k, "@")
	return d
}

// media returns the media for row's recording at row's destination,
// preparing it under a claim when nobody has, waiting for the holder of
// the claim otherwise, and taking the claim over when the holder is gone.
func (w *Worker) media(ctx, hard context.Context, row *Row) ([]upload.Ref, error) {
	key := ContentKey(row.SHA256, row.Profile)
	ttl := w.q.cfg.MediaTTL
	mk := w.mediaKey(row.Dest)
	if m, ok := w.cachedMedia(key, mk, ttl); ok {
		return m, nil
	}
	m, err := w.mediaOf(ctx, hard, row, key, mk, ttl)
	if err == nil {
		w.cacheMedia(key, mk, m)
	}
	return m, err
}

// cachedMedia is the worker's own copy of a recording's media at a media
// key (destination and account), when it has one.
func (w *Worker) cachedMedia(key, mk string, ttl time.Duration) ([]upload.Ref, bool) {
	if v, ok := w.mediaCache.Load(key + "|" + mk); ok {
		// An hour at most: the bucket's entry says how old the upload is.
		if me := v.(mediaEntry); time.Since(me.at) < min(ttl, mediaCacheAge) {
			return me.refs, true
		}
	}
	return nil, false
}

// mediaCacheAge is how long a worker uses its own copy of a recording's
// media before it reads the bucket again; mediaCacheSweep how many stores
// go between two sweeps of what is older.
const (
	mediaCacheAge   = time.Hour
	mediaCacheSweep = 1024
)

func (w *Worker) cacheMedia(key, mk string, refs []upload.Ref) {
	now := time.Now()
	w.mediaCache.Store(key+"|"+mk, mediaEntry{refs, now})
	// A worker that lives for weeks sees every recording of every batch:
	// what it can no longer use is dropped, so its memory follows the last
	// hour's recordings, not all it ever saw.
	if w.cacheStores.Add(1)%mediaCacheSweep == 0 {
		w.mediaCache.Range(func(k, v any) bool {
			if now.Sub(v.(mediaEntry).at) >= mediaCacheAge {
				w.mediaCache.Delete(k)
			}
			return true
		})
	}
}

// mediaEntry is a worker's own copy of a recording's media at a media key
// (what the recordings bucket says; valid for MediaTTL).
type mediaEntry struct {
	refs []upload.Ref
	at   time.Time
}

// mediaOf is media's work past the worker's cache; mk is the row's media
// key (w.mediaKey(row.Dest)).
func (w *Worker) mediaOf(ctx, hard context.Context, row *Row, key, mk string, ttl time.Duration) ([]upload.Ref, error) {
	backoff := 50 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Another of this worker's rows prepares it now: wait for that
		// one (it leaves the media here), with no request.
		if ended := w.preparingNow(key); ended != nil {
			select {
			case <-ended:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if m, ok := w.cachedMedia(key, mk, ttl); ok {
				return m, nil
			}
		}
		var holder string
		var done []upload.Ref
		var failed string
		var seen Recording // as read: the claim starts from it
		_, seenRev, err := update(ctx, w.q.recs, key, func(r *Recording, exists bool) error {
			seen = *r
			if m := r.mediaAt(mk, ttl); m != nil {
				done = m
				return errWait
			}
			if r.Error != "" {
				failed = r.Error
				return errWait
			}
			if !exists {
				r.Content, r.SHA256, r.Profile, r.Source, r.Split = key, row.SHA256, row.Profile, row.Source, row.Split
			}
			if !slices.Contains(r.Want, row.Dest) && !slices.Contains(r.Want, mk) {
				// Not submitted this way (or expired), nor wanted by
				// this account: record its own want, then look again.
				// (A plain want is served by any claimer for its own
				// account: claimAndPrepare.)
				r.Want = append(r.Want, mk)
				holder = "-"
				return nil
			}
			holder = r.Worker
			return errWait
		})
		switch {
		case done != nil:
			return done, nil
		case failed != "":
			return nil, &RecordingError{Content: key, Msg: failed}
		case err != nil && !errors.Is(err, errWait):
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			sleep(ctx, 200*time.Millisecond) // a server restart: try again
			continue
		case holder == "-":
			continue
		}
		// Nobody (alive) holds it — or this worker's own claim whose
		// answer was lost, which nothing here prepares — and no other of
		// this worker's rows is claiming it now: take a local transcode
		// slot, then the claim.
		mine := holder == w.id
		if holder != "" && !mine && w.alive(ctx, holder) {
			sleep(ctx, backoff)
			backoff = min(backoff*2, 500*time.Millisecond)
			continue
		}
		if ok, ended := w.startPreparing(key); !ok {
			// Another of this worker's rows claims or prepares it: look
			// again as soon as that one ends (not up to a backoff later).
			select {
			case <-ended:
			case <-ctx.Done():
			}
			if m, ok := w.cachedMedia(key, mk, ttl); ok {
				return m, nil
			}
			continue
		}
		if mine {
			w.logf("recording %s: the bucket says this worker claimed it, but nothing here prepares it (a lost answer): taking it again", key)
		}
		m, err, retry := w.claimAndPrepareSlot(ctx, hard, key, mk, holder, row, seen, seenRev)
		w.stopPreparing(key)
		if !retry {
			return m, err
		}
	}
}

// startPreparing marks key as claimed or prepared by this worker now;
// false when one of its rows already is, with a channel closed when that
// one ends.
func (w *Worker) startPreparing(key string) (bool, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ended, ok := w.preparing[key]; ok {
		return false, ended
	}
	w.preparing[key] = make(chan struct{})
	return true, nil
}

// preparingNow is, when one of the worker's rows claims or prepares key
// now, a channel closed when that one ends; else nil.
func (w *Worker) preparingNow(key string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.preparing[key] // nil when absent
}

// stopPreparing ends startPreparing, waking the rows waiting for it.
func (w *Worker) stopPreparing(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ended, ok := w.preparing[key]; ok {
		close(ended)
		delete(w.preparing, key)
	}
}

// claimAndPrepareSlot is claimAndPrepare in one of the worker's transcode
// slots, given back once the recording is prepared (storing the outcome
// needs none).
func (w *Worker) claimAndPrepareSlot(ctx, hard context.Context, key, mk, prev string, row *Row, seen Recording, seenRev uint64) ([]upload.Ref, error, bool) {
	if err := w.prep.Acquire(ctx, 1); err != nil {
		return nil, err, false
	}
	var once sync.Once
	release := func() { once.Do(func() { w.prep.Release(1) }) }
	defer release()
	return w.claimAndPrepare(ctx, hard, key, mk, prev, row, seen, seenRev, release)
}

// claimAndPrepare takes the claim on key (from prev, "" or a dead worker;
// starting from the entry seen at seenRev) and, when it got it, prepares
// the recording for every destination wanted that this worker serves and
// has no media for — a plain want for its own account, a want of another
// account not at all (left to a worker of that account) — calling
// prepared when that is done. It returns the media at mk (the row's media
// key). retry is true when the claim went to someone else meanwhile.
// Storing the outcome goes on after ctx ends, until hard does
// (outcomeContext).
func (w *Worker) claimAndPrepare(ctx, hard context.Context, key, mk, prev string, row *Row, seen Recording, seenRev uint64, prepared func()) ([]upload.Ref, error, bool) {
	ttl := w.q.cfg.MediaTTL
	rec, claimRev, err := updateFrom(ctx, w.q.recs, key, seen, seenRev, func(r *Recording, exists bool) error {
		if !exists || r.media(mk, ttl) != nil || r.Error != "" || r.Worker != prev {
			return errConflict
		}
		r.Worker, r.ClaimedAt = w.id, time.Now().UTC()
		r.Claims++
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err(), false
		}
		return nil, nil, true
	}
	w.stats.claims.Add(1)
	var dests []string
	keys := map[string]string{} // destination → this worker's media key
	for _, k := range rec.Want {
		d := destOf(k)
		own := w.mediaKey(d)
		if k != d && k != own {
			continue // another account's want
		}
		if _, ok := keys[d]; !ok && rec.media(own, ttl) == nil {
			keys[d] = own
			dests = append(dests, d)
		}
	}
	prep, perr := w.prepare(ctx, &rec, dests)
	prepared()
	// Store the outcome (or, when stopped, just release the claim) —
	// even if ctx ended: a claim left behind waits for the heartbeat TTL
	// (and a stopped hard worker's is taken over once its liveness key is
	// gone).
	sctx, cancel := outcomeContext(hard)
	defer cancel()
	var out []upload.Ref
	stored, _, err := updateFrom(sctx, w.q.recs, key, rec, claimRev, func(r *Recording, exists bool) error {
		if r.Worker == w.id {
			r.Worker = ""
		}
		if prep != nil {
			if r.Media == nil {
				r.Media = map[string][]MediaRef{}
			}
			if r.Uploads == nil {
				r.Uploads = map[string]int{}
			}
			now := time.Now().UTC()
			for d, ms := range prep.Media {
				refs := make([]MediaRef, len(ms))
				for i, m := range ms {
					refs[i] = MediaRef{Ref: m, At: now}
				}
				k, ok := keys[d]
				if !ok {
					k = w.mediaKey(d)
				}
				r.Media[k] = refs
				r.Uploads[k]++
			}
			r.Timing.Inspect += prep.Timing.Inspect
			r.Timing.Transcode += prep.Timing.Transcode
			r.Timing.Upload += prep.Timing.Upload
			r.Bytes.Before, r.Bytes.After = prep.Before, prep.After
		}
		if perr != nil && ctx.Err() == nil {
			r.Error = perr.Error()
		}
		if prep != nil && perr == nil {
			r.Prepared++
		}
		out = r.media(mk, ttl)
		return nil
	})
	if err != nil {
		w.logf("recording %s: storing the outcome: %v", key, err)
	} else {
		// Every destination's media this worker may use, for its rows
		// waiting for them (and the rows to come); not other accounts'.
		for k := range stored.Media {
			if k != w.mediaKey(destOf(k)) {
				continue
			}
			if m := stored.media(k, ttl); m != nil {
				w.cacheMedia(key, k, m)
			}
		}
	}
	if perr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err(), false
		}
		return nil, &RecordingError{Content: key, Msg: perr.Error()}, false
	}
	if out == nil {
		return nil, nil, true // another destination was added meanwhile: go again
	}
	return out, nil, false
}

// prepare fetches rec's source and runs the prepare stage for dests.
func (w *Worker) prepare(ctx context.Context, rec *Recording, dests []string) (*Prepared, error) {
	dir, err := os.MkdirTemp(w.opts.TempDir, "prep-worker-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path, err := w.opts.Sources.Fetch(ctx, rec.Source, rec.SHA256, dir)
	if err != nil {
		return nil, err
	}
	sum := "" // a local path is not checked by Fetch: the prepare stage hashes it
	if IsS3(rec.Source) {
		sum = rec.SHA256 // checked by Fetch: not hashed again
	}
	p, err := w.stages.Prepare(ctx, PrepareRequest{Path: path, Name: rec.Source, SHA256: sum, Profile: rec.Profile, Split: rec.Split, Dests: dests, Dir: dir})
	if err != nil {
		return p, prepareError(rec.Source, path, dir, err)
	}
	w.stats.prepared.Add(1)
	return p, nil
}

// prepError is a recording's prepare stage failing. Its message names
// the recording's source (s3://… or the manifest's path), never the
// worker's temporary copy of it; the stage's error is wrapped.
type prepError struct {
	Source string
	Err    error
	msg    string
}

func (e *prepError) Error() string { return e.msg }
func (e *prepError) Unwrap() error { return e.Err }

// prepareError names src in err instead of path (its local copy) and the
// work directory dir: an inspection failure reads "inspect SRC: …" (not
// "SRC: inspect: inspect /tmp/…: …"); any other failure is prefixed with
// src unless it names it already.
func prepareError(src, path, dir string, err error) error {
	var ie *inspect.Error
	var msg string
	if errors.As(err, &ie) {
		c := *ie
		c.Path = src
		msg = c.Error()
	} else {
		msg = strings.ReplaceAll(err.Error(), path, src)
		msg = strings.ReplaceAll(msg, dir+string(filepath.Separator), "")
		if !strings.Contains(msg, src) {
			msg = src + ": " + msg
		}
	}
	return &prepError{Source: src, Err: err, msg: msg}
}

// Recording returns the recordings bucket's entry for a content key.
func (q *Queue) Recording(ctx context.Context, content string) (*Recording, error) {
	e, err := q.recs.Get(ctx, content)
	if err != nil {
		return nil, &Error{Op: "recording " + content, Err: err}
	}
	var r Recording
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, &Error{Op: "recording " + content, Err: err}
	}
	return &r, nil
}
