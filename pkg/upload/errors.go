package upload

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/prep-audio/prep/pkg/inspect"
)

// RefusedError says a file was not uploaded because the provider would
// reject it. Nothing left the machine. Find it with errors.As.
type RefusedError struct {
	Name     string
	MIME     string            // the real type of the bytes, as inspected
	Kind     inspect.Code      // the first blocking problem's code
	Problems []inspect.Problem // the blocking problems
}

func (e *RefusedError) Error() string {
	msgs := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		msgs = append(msgs, fmt.Sprintf("%s (%s)", p.Message, p.Code))
	}
	return fmt.Sprintf("upload refused %s: %s; %s", orDefault(e.Name, "input"), strings.Join(msgs, "; "), e.Advice())
}

// Advice tells what to do about the refusal.
func (e *RefusedError) Advice() string {
	switch e.Kind {
	case inspect.CodeNotAudio, inspect.CodeEmpty, inspect.CodeUnreadable:
		return "it is not an audio file prep can send"
	}
	return "transcode it first, to a mono Ogg Opus voice note or to audio WhatsApp takes"
}

// InputError is a file (or, for CheckURL, a URL) that could not be read.
type InputError struct {
	Op   string // what was being done: "upload" (the default) or "fetch" (CheckURL)
	Name string
	Err  error
}

func (e *InputError) Error() string {
	msg := e.Err.Error()
	if e.Name != "" && strings.Contains(msg, e.Name) {
		return msg // the cause names the file already ("inspect FILE: …"): no stutter
	}
	return fmt.Sprintf("%s %s: %s", orDefault(e.Op, "upload"), orDefault(e.Name, "input"), msg)
}
func (e *InputError) Unwrap() error { return e.Err }

// ConfigError is a missing or invalid setting, found before any request:
// nothing was done.
type ConfigError struct {
	// Setting names what is wrong — "bucket", "endpoint", "public URL",
	// "presign TTL", "AWS configuration", "client", "provider" — never an
	// environment variable or flag (callers add those hints).
	Setting string
	Msg     string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("upload: %s: %s", e.Setting, e.Msg) }

// ErrorKind classifies S3 failures.
type ErrorKind string

// S3 failure kinds.
const (
	S3Auth     ErrorKind = "auth"      // credentials missing, unknown or wrong (403, signature mismatch)
	S3NoBucket ErrorKind = "no_bucket" // the bucket does not exist
	S3Network  ErrorKind = "network"   // the endpoint could not be reached
	S3Redirect ErrorKind = "redirect"  // the endpoint answered a redirect, which is never followed
	S3Other    ErrorKind = "other"
)

// S3Error is a failed S3 operation. It never holds credentials.
type S3Error struct {
	Kind   ErrorKind
	Op     string // HeadObject, PutObject, PresignGetObject
	Bucket string
	Key    string
	Status int    // HTTP status, 0 if none
	Code   string // S3 error code (SignatureDoesNotMatch, NoSuchBucket, …)
	Err    error
}

func (e *S3Error) Error() string {
	var hint string
	switch e.Kind {
	case S3Auth:
		hint = "S3 refused the credentials: check the access key, the secret and the bucket policy"
	case S3NoBucket:
		hint = fmt.Sprintf("bucket %q does not exist: check the bucket name, the endpoint and the region", e.Bucket)
	case S3Network:
		hint = "cannot reach S3: check the endpoint and the network"
	case S3Redirect:
		hint = "S3 answered a redirect"
	default:
		hint = "S3 error"
	}
	detail := e.Code
	if e.Status != 0 {
		detail = strings.TrimSpace(fmt.Sprintf("HTTP %d %s", e.Status, e.Code))
	}
	if detail != "" && (e.Err == nil || e.Err.Error() == e.Code || e.Err.Error() == http.StatusText(e.Status)) {
		return fmt.Sprintf("s3 %s s3://%s/%s: %s (%s)", e.Op, e.Bucket, e.Key, hint, detail)
	}
	if detail != "" {
		return fmt.Sprintf("s3 %s s3://%s/%s: %s (%s): %v", e.Op, e.Bucket, e.Key, hint, detail, e.Err)
	}
	return fmt.Sprintf("s3 %s s3://%s/%s: %s: %v", e.Op, e.Bucket, e.Key, hint, e.Err)
}

func (e *S3Error) Unwrap() error { return e.Err }
