package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	neturl "net/url"
	"reflect"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config names and tunes the JetStream resources a queue uses. Every
// process that shares a queue (submitters and workers) must use the same
// Config; the zero value is the default.
type Config struct {
	// Prefix names the stream (PREFIX_WORK, upper case) and buckets
	// (prefix_rows, prefix_recs, prefix_workers, prefix_rates,
	// prefix_batches, prefix_sources); default "prep".
	Prefix string
	// Replicas for every stream and bucket: 1 (default), or 3 on a
	// three-node cluster so a node can be lost.
	Replicas int
	// AckWait is how long a delivered message may go without an ack or an
	// InProgress before JetStream delivers it again; default 30 s. Workers
	// send InProgress every AckWait/3.
	AckWait time.Duration
	// MaxDeliver bounds deliveries of one row's message; default 20. The
	// last delivery fails a row it cannot finish.
	MaxDeliver int
	// WorkerTTL is how long a worker counts as alive after its last
	// heartbeat; default 15 s (heartbeat every WorkerTTL/3).
	WorkerTTL time.Duration
	// MediaTTL is how long a prepared recording's media ids and URLs are
	// reused; default 6 days (S3 presigned URLs last 7, Meta keeps media 30).
	MediaTTL time.Duration
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = "prep"
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 20
	}
	if c.WorkerTTL <= 0 {
		c.WorkerTTL = 15 * time.Second
	}
	if c.MediaTTL <= 0 {
		c.MediaTTL = 6 * 24 * time.Hour
	}
	return c
}

// Queue is a handle on the JetStream resources of one queue. It is safe for
// concurrent use.
type Queue struct {
	cfg     Config
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	cons    jetstream.Consumer
	rows    jetstream.KeyValue
	recs    jetstream.KeyValue
	workers jetstream.KeyValue
	rates   jetstream.KeyValue
	batches jetstream.KeyValue
	sources jetstream.KeyValue
	subject string // work subject prefix: prefix.work
}

// Error is a failure of the queue's JetStream layer (the server cannot be
// reached, a stream or bucket cannot be made).
type Error struct {
	Op  string
	Err error
}

func (e *Error) Error() string { return "queue: " + e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Connect connects to the NATS server(s) at url (comma-separated for a
// cluster) with reconnects that never give up, for long-running workers
// and submitters that must outlive a server restart.
func Connect(url, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(false), nats.Timeout(5*time.Second))
	if err != nil {
		var ue *neturl.Error
		if errors.As(err, &ue) {
			// url.Parse's error quotes the whole URL, password included
			// (and an invalid escape it names is a piece of it).
			err = errors.New("not a valid URL")
		}
		return nil, &Error{Op: "connect " + RedactURL(url), Err: err}
	}
	return nc, nil
}

// RedactURL drops user:password@ (or a token@) from NATS URLs for
// messages: credentials never appear in output or logs.
func RedactURL(u string) string {
	var out []string
	for _, p := range strings.Split(u, ",") {
		if i := strings.LastIndex(p, "@"); i >= 0 { // the last: a password may hold '@'
			if j := strings.Index(p, "://"); j >= 0 && j < i {
				p = p[:j+3] + "***@" + p[i+1:]
			} else {
				p = "***@" + p[i+1:]
			}
		}
		out = append(out, p)
	}
	return strings.Join(out, ",")
}

// MinTimer is the shortest AckWait and WorkerTTL a queue takes: workers
// act every third of them (InProgress, heartbeats).
const MinTimer = time.Second

// Open makes (or updates) the queue's stream, consumer and buckets on nc's
// JetStream and returns a handle. AckWait and WorkerTTL, when set, must be
// at least MinTimer.
func Open(ctx context.Context, nc *nats.Conn, cfg Config) (*Queue, error) {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ack wait", cfg.AckWait}, {"worker TTL", cfg.WorkerTTL}} {
		if d.v != 0 && d.v < MinTimer {
			return nil, &Error{Op: "config", Err: fmt.Errorf("%s %v is shorter than %v", d.name, d.v, MinTimer)}
		}
	}
	cfg = cfg.withDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, &Error{Op: "jetstream", Err: err}
	}
	q := &Queue{cfg: cfg, nc: nc, js: js, subject: cfg.Prefix + ".work"}
	name := strings.ToUpper(cfg.Prefix) + "_WORK"
	q.stream, err = retry(ctx, func() (jetstream.Stream, error) {
		return js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: name, Subjects: []string{q.subject + ".>"}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage, Replicas: cfg.Replicas, Duplicates: 2 * time.Minute,
		})
	})
	if err != nil {
		return nil, &Error{Op: "stream " + name, Err: err}
	}
	q.cons, err = retry(ctx, func() (jetstream.Consumer, error) {
		return q.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable: "workers", AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait,
			MaxDeliver: cfg.MaxDeliver, MaxAckPending: 10000, Replicas: cfg.Replicas,
		})
	})
	if err != nil {
		return nil, &Error{Op: "consumer", Err: err}
	}
	buckets := []struct {
		kv  *jetstream.KeyValue
		cfg jetstream.KeyValueConfig
	}{
		{&q.rows, jetstream.KeyValueConfig{Bucket: cfg.Prefix + "_rows", Description: "prep: row states"}},
		{&q.recs, jetstream.KeyValueConfig{Bucket: cfg.Prefix + "_recs", Description: "prep: recordings (claims, media)", TTL: cfg.MediaTTL}},
		{&q.workers, jetstream.KeyValueConfig{Bucket: cfg.Prefix + "_workers", Description: "prep: live workers", TTL: cfg.WorkerTTL}},
		{&q.rates, jetstream.KeyValueConfig{Bucket: cfg.Prefix + "_rates", Description: "prep: rate buckets", TTL: time.Hour}},
		{&q.batches, jetstream.KeyValueConfig{Bucket: cfg.Prefix + "_batches", Description: "prep: submitted batches"}},
		{&q.sources, jetstream.KeyValueConfig{Bucket: cfg.Prefix + "_sources", Description: "prep: SHA-256 of S3 sources by ETag", TTL: 30 * 24 * time.Hour}},
	}
	for _, b := range buckets {
		b.cfg.Storage, b.cfg.Replicas, b.cfg.History = jetstream.FileStorage, cfg.Replicas, 1
		kv, err := retry(ctx, func() (jetstream.KeyValue, error) {
			if cfg.Replicas == 1 {
				return js.CreateOrUpdateKeyValue(ctx, b.cfg)
			}
			return leaderReads(ctx, js, b.cfg)
		})
		if err != nil {
			return nil, &Error{Op: "bucket " + b.cfg.Bucket, Err: err}
		}
		*b.kv = kv
	}
	return q, nil
}

// leaderReads opens (creating it when missing) a replicated bucket with
// direct gets off, so that its reads are answered by the stream's leader.
// A direct get may be answered by any replica, and a follower that has
// not applied the latest write yet answers with the value before it: on a
// three-node cluster a read right after a write saw the old value about
// once in 500, and more often after a node loss — where a worker that read
// its own "sending" row as still "queued" took its stored outcome for
// another worker's change, left the row "sending" under itself and
// acknowledged its message (the batch never finished). A value the leader
// acknowledged is what a read through the leader returns.
//
// An existing bucket is updated as a stream, never with
// CreateOrUpdateKeyValue: that turns direct gets on again, and a process
// opening the queue meanwhile (workers started together) bound a handle
// that makes direct gets, which the stream, once they were turned off
// again, no longer answered — every read of that process failed ("no
// responders"). The handle bound is checked to read.
func leaderReads(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	name := "KV_" + cfg.Bucket
	// Processes opening the queue together wait for each other's stream
	// creations (a minute at most).
	deadline := time.Now().Add(time.Minute)
	for {
		// A stream another process is creating answers no info until
		// it has a leader: ask again soon.
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := js.Stream(sctx, name)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && time.Now().Before(deadline) {
			continue
		}
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			if _, err := js.CreateKeyValue(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
				return nil, err
			}
			continue // created (direct gets on): turn them off
		}
		if err != nil {
			return nil, err
		}
		sc := st.CachedInfo().Config
		want := sc
		want.Description, want.MaxAge, want.Replicas, want.AllowDirect = cfg.Description, cfg.TTL, cfg.Replicas, false
		want.MaxMsgsPerSubject = int64(max(cfg.History, 1))
		want.Duplicates = 2 * time.Minute // as a KV bucket's: its TTL when shorter
		if cfg.TTL > 0 && cfg.TTL < want.Duplicates {
			want.Duplicates = cfg.TTL
		}
		if !reflect.DeepEqual(sc, want) {
			if _, err := js.UpdateStream(ctx, want); err != nil {
				return nil, err
			}
		}
		kv, err := js.KeyValue(ctx, cfg.Bucket)
		if err != nil {
			return nil, err
		}
		// A handle bound while another process's create had direct gets
		// on makes direct gets: nobody answers them once they are off.
		_, err = getWithin(ctx, kv, "prep-open-probe")
		if err == nil || errors.Is(err, jetstream.ErrKeyNotFound) {
			if st, serr := js.Stream(ctx, name); serr == nil && !st.CachedInfo().Config.AllowDirect {
				return kv, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bucket %s: no handle that reads through the stream leader (%v)", cfg.Bucket, err)
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

// Config returns the queue's configuration with defaults filled in.
func (q *Queue) Config() Config { return q.cfg }

// retry runs f until it succeeds, ctx ends, or ~10 s of transient failures
// (a cluster electing a leader, a server restarting) have passed.
func retry[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	deadline := time.Now().Add(10 * time.Second)
	wait := 50 * time.Millisecond
	for {
		v, err := f()
		if err == nil {
			return v, nil
		}
		if !transient(err) || time.Now().After(deadline) {
			return zero, err
		}
		select {
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Second)
	}
}

// transient reports whether a JetStream error may go away by itself.
func transient(err error) bool {
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch),
		errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, context.Canceled):
		return false
	}
	return true
}

// opTimeout bounds one JetStream request.
const opTimeout = 5 * time.Second

// getWithin reads key with a timeout of its own: a request lost with a
// connection to a node that died (a cluster losing a member) would
// otherwise hold the caller — a submitter's sweep of every row — until its
// whole deadline, with every row long settled.
func getWithin(ctx context.Context, kv jetstream.KeyValue, key string) (jetstream.KeyValueEntry, error) {
	opCtx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return kv.Get(opCtx, key)
}

// errConflict means a compare-and-set lost to another writer.
var errConflict = errors.New("revision conflict")

// update reads key, lets f change the decoded value, and writes it back
// with compare-and-set on the revision it read, again until it wins or f
// says to stop (by returning an error, passed through) or ctx ends.
// Transient server errors are retried. A missing key is decoded as the zero
// value with revision 0 (created then).
func update[T any](ctx context.Context, kv jetstream.KeyValue, key string, f func(v *T, exists bool) error) (T, uint64, error) {
	for {
		var v T
		var rev uint64
		// Each request its own timeout: one lost in a leader change must
		// not hold the caller for its whole deadline.
		e, err := getWithin(ctx, kv, key)
		switch {
		case err == nil:
			rev = e.Revision()
			if jerr := json.Unmarshal(e.Value(), &v); jerr != nil {
				return v, 0, fmt.Errorf("key %s: %w", key, jerr)
			}
		case errors.Is(err, jetstream.ErrKeyNotFound):
		default:
			if ctx.Err() != nil {
				return v, 0, ctx.Err()
			}
			if !transient(err) {
				return v, 0, err
			}
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		if err := f(&v, rev != 0); err != nil {
			return v, rev, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return v, 0, err
		}
		var nrev uint64
		opCtx, cancel := context.WithTimeout(ctx, opTimeout)
		if rev == 0 {
			nrev, err = kv.Create(opCtx, key, b)
		} else {
			nrev, err = kv.Update(opCtx, key, b, rev)
		}
		cancel()
		if err == nil {
			return v, nrev, nil
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // lost the race: read again
		}
		if ctx.Err() != nil {
			return v, 0, ctx.Err()
		}
		return v, 0, err // unknown whether it landed: the caller decides
	}
}

// updateFrom is update starting from v at revision rev, as read a moment
// ago: no read first (one round trip fewer). When f refuses v or the key
// changed since, it reads and goes on as update does. f gets a copy of v.
func updateFrom[T any](ctx context.Context, kv jetstream.KeyValue, key string, v T, rev uint64, f func(v *T, exists bool) error) (T, uint64, error) {
	if rev != 0 {
		var c T // a deep copy: f may change v's maps and slices
		if b, err := json.Marshal(v); err == nil && json.Unmarshal(b, &c) == nil && f(&c, true) == nil {
			nb, err := json.Marshal(c)
			if err != nil {
				return c, 0, err
			}
			opCtx, cancel := context.WithTimeout(ctx, opTimeout)
			nrev, err := kv.Update(opCtx, key, nb, rev)
			cancel()
			switch {
			case err == nil:
				return c, nrev, nil
			case errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch):
				// Changed meanwhile: read it again.
			case ctx.Err() != nil:
				return c, 0, ctx.Err()
			default:
				return c, 0, err // unknown whether it landed: the caller decides (as update's)
			}
		}
	}
	return update(ctx, kv, key, f)
}

// createOrUpdate is update for a key that is most likely new (a row a
// submission makes): it creates the key from f's zero value first — one
// round trip where update reads first — and reads and updates it as update
// does when it exists. f may be called more than once.
func createOrUpdate[T any](ctx context.Context, kv jetstream.KeyValue, key string, f func(v *T, exists bool) error) (T, uint64, error) {
	var v T
	if err := f(&v, false); err != nil {
		return v, 0, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v, 0, err
	}
	opCtx, cancel := context.WithTimeout(ctx, opTimeout)
	rev, err := kv.Create(opCtx, key, b)
	cancel()
	switch {
	case err == nil:
		return v, rev, nil
	case errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return update(ctx, kv, key, f)
	case ctx.Err() != nil:
		return v, 0, ctx.Err()
	}
	return v, 0, err // unknown whether it landed: the caller decides (as update's)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
