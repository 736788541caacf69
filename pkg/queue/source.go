package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/upload"
)

// DefaultMaxSourceBytes caps a recording read from S3 (or a local file):
// 1 GiB, an hour of 48 kHz stereo 24-bit WAV and then some.
const DefaultMaxSourceBytes = 1 << 30

// S3Config is how sources in S3 are read: pkg/upload's S3 settings (one
// type, not a mirror; a custom endpoint means path-style addressing). Only
// the endpoint, region and credentials matter here: a source names its
// own bucket and key.
type S3Config = upload.S3Config

// Sources reads recordings: s3://bucket/key objects and local paths.
type Sources struct {
	s3       *s3.Client // nil: s3:// sources are refused
	MaxBytes int64      // default DefaultMaxSourceBytes
}

// SourceError is a recording that cannot be read.
type SourceError struct {
	Source string
	Err    error
}

func (e *SourceError) Error() string { return fmt.Sprintf("source %s: %v", e.Source, e.Err) }
func (e *SourceError) Unwrap() error { return e.Err }

// ErrTooLarge is wrapped by a SourceError for a source over the cap.
var ErrTooLarge = errors.New("larger than the source size cap")

// NewSources makes a reader of local and, when cfg is not nil, S3 sources.
func NewSources(ctx context.Context, cfg *S3Config) (*Sources, error) {
	s := &Sources{MaxBytes: DefaultMaxSourceBytes}
	if cfg == nil {
		return s, nil
	}
	// upload's S3 client: the same settings, and no redirect followed (a
	// SigV4-signed request never goes to another host; issue 13).
	c, err := upload.NewS3Client(ctx, *cfg)
	if err != nil {
		return nil, &Error{Op: "S3 configuration", Err: err}
	}
	s.s3 = c
	return s, nil
}

// IsS3 reports whether a manifest file names an S3 object.
func IsS3(file string) bool { return strings.HasPrefix(file, "s3://") }

// ParseS3 splits s3://bucket/key. The key is everything after the
// bucket's slash, as written: S3 keys may hold '?', '#', '%', spaces and
// '+', so it is not a URL to decode (a query or fragment cut off would
// name another object). The bucket is letters, digits, '.', '-' and '_'.
func ParseS3(src string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(src, "s3://")
	if !ok {
		return "", "", errors.New("not an s3://bucket/key URL")
	}
	bucket, key, ok = strings.Cut(rest, "/")
	if !ok || key == "" || !validBucket(bucket) {
		return "", "", errors.New("not an s3://bucket/key URL")
	}
	return bucket, key, nil
}

// validBucket reports whether b can be a bucket name (S3's rules and the
// legacy upper case and '_').
func validBucket(b string) bool {
	if b == "" {
		return false
	}
	for _, r := range b {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

func (s *Sources) max() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return DefaultMaxSourceBytes
}

// open returns the source's bytes, capped.
func (s *Sources) open(ctx context.Context, src string) (io.ReadCloser, error) {
	if !IsS3(src) {
		// A FIFO or a device is refused before it is read (a plain open of
		// a FIFO blocks until a writer comes, past any cancellation).
		f, st, err := inspect.OpenRegular(src)
		if err != nil {
			var ie *inspect.Error
			if errors.As(err, &ie) && ie.Kind == inspect.KindUnreadable {
				err = ie.Err // "no such file or directory", as before
			}
			return nil, &SourceError{Source: src, Err: err}
		}
		if st.Size() > s.max() {
			f.Close()
			return nil, &SourceError{Source: src, Err: ErrTooLarge}
		}
		return f, nil
	}
	if s.s3 == nil {
		return nil, &SourceError{Source: src, Err: errors.New("no S3 configuration to read it with")}
	}
	bucket, key, err := ParseS3(src)
	if err != nil {
		return nil, &SourceError{Source: src, Err: err}
	}
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, &SourceError{Source: src, Err: err}
	}
	if out.ContentLength != nil && *out.ContentLength > s.max() {
		out.Body.Close()
		return nil, &SourceError{Source: src, Err: ErrTooLarge}
	}
	return out.Body, nil
}

// copyCapped copies at most max bytes, failing with ErrTooLarge beyond.
func copyCapped(ctx context.Context, w io.Writer, r io.Reader, max int64, src string) (int64, error) {
	n, err := io.Copy(w, io.LimitReader(ctxReader{ctx, r}, max+1))
	if err != nil {
		return n, &SourceError{Source: src, Err: err}
	}
	if n > max {
		return n, &SourceError{Source: src, Err: ErrTooLarge}
	}
	return n, nil
}

// Stat returns an S3 source's ETag and size (a HEAD request): what a
// cached hash is checked against.
func (s *Sources) Stat(ctx context.Context, src string) (etag string, size int64, err error) {
	if !IsS3(src) || s.s3 == nil {
		return "", 0, &SourceError{Source: src, Err: errors.New("not an S3 source")}
	}
	bucket, key, err := ParseS3(src)
	if err != nil {
		return "", 0, &SourceError{Source: src, Err: err}
	}
	out, err := s.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return "", 0, &SourceError{Source: src, Err: err}
	}
	if out.ETag != nil {
		etag = *out.ETag
	}
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	return etag, size, nil
}

// Hash streams the source through SHA-256 (nothing is stored).
func (s *Sources) Hash(ctx context.Context, src string) (string, int64, error) {
	r, err := s.open(ctx, src)
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := copyCapped(ctx, h, r, s.max(), src)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Fetch makes the source available as a local file: a local path as it is,
// an S3 object streamed into dir. It checks the bytes against sha (when
// not empty): a source changed since it was submitted is an error.
func (s *Sources) Fetch(ctx context.Context, src, sha, dir string) (string, error) {
	if !IsS3(src) {
		return src, nil
	}
	r, err := s.open(ctx, src)
	if err != nil {
		return "", err
	}
	defer r.Close()
	_, key, _ := ParseS3(src)
	name := filepath.Base(key)
	if name == "." || name == "/" || name == "" {
		name = "source"
	}
	path := filepath.Join(dir, "src-"+name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", &SourceError{Source: src, Err: err}
	}
	h := sha256.New()
	_, err = copyCapped(ctx, io.MultiWriter(f, h), r, s.max(), src)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = &SourceError{Source: src, Err: cerr}
	}
	if err == nil && sha != "" && hex.EncodeToString(h.Sum(nil)) != sha {
		err = &SourceError{Source: src, Err: errors.New("its bytes changed since the batch was submitted (SHA-256 differs)")}
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}
