package upload

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
)

// RefusedError says a file was not uploaded because the provider would
// reject it. Nothing left the machine. Find it with errors.As.
type RefusedError struct {
	Name     string
	MIME     string            // the real type of the bytes, as inspected
	Problems []inspect.Problem // the blocking problems
}

func (e *RefusedError) Error() string {
	msgs := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		msgs = append(msgs, fmt.Sprintf("%s (%s)", p.Message, p.Code))
	}
	return fmt.Sprintf("upload refused %s: %s; %s", orDefault(e.Name, "input"), strings.Join(msgs, "; "), e.Advice())
}

// Code is the first blocking problem's code.
func (e *RefusedError) Code() inspect.Code {
	if len(e.Problems) == 0 {
		return ""
	}
	return e.Problems[0].Code
}

// Advice tells what to do about the refusal.
func (e *RefusedError) Advice() string {
	switch e.Code() {
	case inspect.CodeNotAudio, inspect.CodeEmpty, inspect.CodeUnreadable:
		return "it is not an audio file prep can send"
	}
	return "transcode it first: prep transcode " + orDefault(e.Name, "FILE")
}

// ExitCode is 1: the input failed (the CLI reports it per file).
func (e *RefusedError) ExitCode() int { return 1 }

// InputError is a file that could not be read.
type InputError struct {
	Name string
	Err  error
}

func (e *InputError) Error() string {
	return fmt.Sprintf("upload %s: %v", orDefault(e.Name, "input"), e.Err)
}
func (e *InputError) Unwrap() error { return e.Err }

// ConfigError is a missing or invalid setting, found before any request.
type ConfigError struct {
	Setting string // e.g. "S3_BUCKET", "WHATSAPP_PHONE_NUMBER_ID"
	Msg     string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("upload: %s: %s", e.Setting, e.Msg) }

// ExitCode is 2: a usage error, nothing was done.
func (e *ConfigError) ExitCode() int { return 2 }

// S3ErrorKind classifies S3 failures.
type S3ErrorKind string

// S3 failure kinds.
const (
	S3Auth     S3ErrorKind = "auth"      // credentials missing, unknown or wrong (403, signature mismatch)
	S3NoBucket S3ErrorKind = "no_bucket" // the bucket does not exist
	S3Network  S3ErrorKind = "network"   // the endpoint could not be reached
	S3Redirect S3ErrorKind = "redirect"  // the endpoint answered a redirect, which is never followed
	S3Other    S3ErrorKind = "other"
)

// S3Error is a failed S3 operation. It never holds credentials.
type S3Error struct {
	Kind   S3ErrorKind
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
		hint = "S3 refused the credentials: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the AWS profile) and the bucket policy"
	case S3NoBucket:
		hint = fmt.Sprintf("bucket %q does not exist: check S3_BUCKET (and S3_ENDPOINT / region)", e.Bucket)
	case S3Network:
		hint = "cannot reach S3: check S3_ENDPOINT and the network"
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

// APIError is an error answer of the Meta or 360dialog media endpoint
// (Graph API error object: message, type, code, error_subcode, fbtrace_id,
// is_transient — meta-business-messaging-api_v23.0.yaml, GraphAPIError).
type APIError struct {
	Provider   Provider
	Status     int
	Code       int
	Subcode    int
	Type       string
	Message    string
	TraceID    string
	Transient  bool // worth retrying (5xx, 429, is_transient or a transient code)
	Attempts   int  // how many requests were made
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s media upload: HTTP %d", e.Provider, e.Status)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", error %d", e.Code)
		if e.Subcode != 0 {
			fmt.Fprintf(&b, "/%d", e.Subcode)
		}
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if hint := e.hint(); hint != "" {
		fmt.Fprintf(&b, " (%s)", hint)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if e.TraceID != "" {
		fmt.Fprintf(&b, " [fbtrace_id %s]", e.TraceID)
	}
	return b.String()
}

func (e *APIError) hint() string {
	if e.Status == 401 || e.Code == 190 {
		if e.Provider == D360 {
			return "check D360_API_KEY"
		}
		return "check WHATSAPP_ACCESS_TOKEN"
	}
	if e.Status == 404 && e.Provider == Meta {
		return "check WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_API_VERSION"
	}
	return ""
}

// NetworkError is a media upload that got no HTTP answer (connection
// refused, reset, timeout) after all attempts.
type NetworkError struct {
	Provider Provider
	Attempts int
	Err      error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("%s media upload: no answer after %d attempt(s): %v", e.Provider, e.Attempts, e.Err)
}

func (e *NetworkError) Unwrap() error { return e.Err }
