package send

import (
	"fmt"
	"strings"
	"time"
)

// ErrorKind is the kind of a provider refusal; it decides the advice and
// whether a retry is safe.
type ErrorKind string

// The kinds of provider errors (the CLI's JSON calls this "class").
const (
	KindWindow           ErrorKind = "window"            // outside the 24-hour customer service window
	KindMedia            ErrorKind = "media"             // the media could not be downloaded or is of the wrong type
	KindAuth             ErrorKind = "auth"              // credentials invalid, expired or lacking permission
	KindInvalidParameter ErrorKind = "invalid_parameter" // the request itself is wrong
	KindRateLimit        ErrorKind = "rate_limit"        // too many requests; retried after a wait
	KindTransient        ErrorKind = "transient"         // a temporary failure at the provider; retried
	KindUnknown          ErrorKind = "unknown"
)

// APIError is a provider's error answer to a request of an account's
// Client — a message (Send) or a media upload (package upload) — whatever
// the provider. Find it with errors.As. It never carries credentials.
type APIError struct {
	Provider   Provider
	HTTPStatus int
	// Code and Subcode are the Graph API error code and error_subcode
	// (Meta, 360dialog); 0 for Infobip.
	Code    int
	Subcode int
	// Type is the Graph error type (e.g. OAuthException) or Infobip's
	// serviceException messageId (e.g. BAD_REQUEST, UNAUTHORIZED).
	Type    string
	Message string
	// Details is Graph's error_data.details or error_user_msg.
	Details string
	// TraceID is Graph's fbtrace_id; for Infobip, the messageId of the
	// message the request carried (what Infobip support asks for).
	TraceID string
	// ValidationErrors is Infobip's serviceException.validationErrors:
	// field → problems.
	ValidationErrors map[string][]string
	// RetryAfter is the provider's Retry-After header, if any.
	RetryAfter time.Duration
	// Transient is Graph's is_transient flag.
	Transient bool
	// Attempts is how many requests were made, retries included.
	Attempts int

	Kind      ErrorKind
	Advice    string
	Retryable bool // the kind is one a retry may cure (it may have been retried already)
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %d", e.Provider, e.HTTPStatus)
	if e.Code != 0 {
		fmt.Fprintf(&b, " code %d", e.Code)
		if e.Subcode != 0 {
			fmt.Fprintf(&b, "/%d", e.Subcode)
		}
	}
	if e.Type != "" && e.Code == 0 {
		fmt.Fprintf(&b, " %s", e.Type)
	}
	fmt.Fprintf(&b, " (%s)", e.Kind)
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Details != "" && e.Details != e.Message {
		fmt.Fprintf(&b, " — %s", e.Details)
	}
	if len(e.ValidationErrors) > 0 {
		fmt.Fprintf(&b, " %v", e.ValidationErrors)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if e.TraceID != "" {
		fmt.Fprintf(&b, " [trace %s]", e.TraceID)
	}
	return b.String()
}

// InDoubtError reports a request that may have reached the provider but got
// no (readable) answer: the body was written, then the connection dropped or
// the attempt timed out. The message may or may not have been sent; no
// provider documents an idempotency key, so it is not retried by default
// (see RetryPolicy.RetryInDoubt). Find it with errors.As.
type InDoubtError struct {
	Provider Provider
	To       string
	// MessageID is the Infobip messageId the request carried ("" for Meta
	// and 360dialog): look it up in the delivery reports.
	MessageID string
	Attempts  int
	Err       error
}

func (e *InDoubtError) Error() string {
	s := fmt.Sprintf("%s: in doubt: the message to %s may have reached the provider but no answer came (%v)", e.Provider, e.To, e.Err)
	if e.MessageID != "" {
		s += "; messageId " + e.MessageID
	}
	return s + "; check delivery status before sending again"
}

func (e *InDoubtError) Unwrap() error { return e.Err }

// ValidationError is a mistake in a message or a client's configuration
// (bad number, missing media id or link, non-http(s) link, field too long,
// missing credentials), found before any request was made: nothing was
// sent.
type ValidationError struct {
	// Provider is the provider whose client or message is wrong ("" when
	// the provider itself is unknown).
	Provider Provider
	// Field names what is wrong: "to", "link", "credentials", "phone
	// number id", "base URL", "sender", "provider", … (never an
	// environment variable or flag: callers add those hints).
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("send: invalid %s: %s", e.Field, e.Reason)
}

func invalid(field, format string, a ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// Graph API error codes that prep treats specially. Sources: Meta's
// Business Messaging OpenAPI v23.0 (https://github.com/facebook/openapi:
// code 4 "Application request limit reached" with is_transient, code 2
// "unexpected error ... retry", 190 "Invalid OAuth access token", 100
// invalid parameter) and Meta's Cloud API error codes
// (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
const (
	codeUnknownTransient = 1      // API Unknown
	codeService          = 2      // API Service: "An unexpected error occurred. Please retry"
	codeTooManyCalls     = 4      // Application request limit reached
	codePermission       = 10     // permission denied
	codeInvalidParam     = 100    // Invalid parameter
	codeAccessToken      = 190    // access token expired or invalid
	codeRateLimitHit     = 80007  // WABA rate limit
	codeCloudThroughput  = 130429 // Cloud API throughput reached
	codeGeneric          = 131000 // Something went wrong
	codeAccessDenied     = 131005 // Access denied
	codeParamMissing     = 131008 // Required parameter is missing
	codeParamInvalid     = 131009 // Parameter value is not valid
	codeUnsupportedType  = 131051 // Unsupported message type
	codeServiceUnavail   = 131016 // Service unavailable
	codeReEngagement     = 131047 // more than 24 hours since the customer last replied
	codeMediaDownload    = 131052 // media download error
	codeMediaUpload      = 131053 // media upload error (unsupported / mismatched type)
	codePairRate         = 131056 // (business, consumer) pair rate limit
	codeTempUnavailable  = 133004 // server temporarily unavailable
)

// classify fills Kind, Advice and Retryable from the provider's answer.
// It is the one place that reads Meta's, 360dialog's and Infobip's error
// answers, for messages and media uploads alike (see RetryPolicy for what
// a retry then does).
func classify(e *APIError) {
	e.Kind, e.Advice, e.Retryable = KindUnknown, "see the provider's message; not retried", false
	switch e.Provider {
	case Meta, D360:
		classifyGraph(e)
	case Infobip:
		classifyInfobip(e)
	}
}

// classifyGraph: codes before statuses — a refusal code is never retried,
// whatever the HTTP status it came with; Meta sends most rate limits as
// HTTP 400 with a code.
func classifyGraph(e *APIError) {
	switch {
	case e.Code == codeReEngagement:
		e.Kind, e.Advice = KindWindow, "the recipient has not written in the last 24 hours: send an approved template message first"
	case e.Code == codeMediaUpload || e.Code == codeMediaDownload:
		e.Kind, e.Advice = KindMedia, "the media could not be fetched or is not a supported audio type: check the file's real type (its bytes, not its name), MIME type and size, and that the link or media id is reachable"
	case e.Code == codeAccessToken || e.HTTPStatus == 401:
		e.Kind, e.Advice = KindAuth, "the access token or API key is invalid or expired: issue a new one"
	case e.Code == codePermission || e.Code == codeAccessDenied || (e.Code >= 200 && e.Code <= 299) || e.HTTPStatus == 403:
		e.Kind, e.Advice = KindAuth, "the credentials lack permission for this phone number: check the token's scopes and the phone number id"
	case e.Code == codeInvalidParam || e.Code == codeParamMissing || e.Code == codeParamInvalid || e.Code == codeUnsupportedType:
		e.Kind, e.Advice = KindInvalidParameter, "a request parameter is wrong: check the recipient, media id or link and the phone number id"
	case e.Code == codeTooManyCalls || e.Code == codeRateLimitHit || e.Code == codeCloudThroughput || e.HTTPStatus == 429:
		e.Kind, e.Advice, e.Retryable = KindRateLimit, "the provider's rate limit was reached: slow down (retried after a backoff)", true
	case e.Code == codePairRate:
		e.Kind, e.Advice, e.Retryable = KindRateLimit, "too many messages to this recipient in a short time: wait before sending to them again (retried for this recipient only)", true
	case e.Code == codeGeneric || e.Code == codeServiceUnavail || e.Code == codeUnknownTransient || e.Code == codeService || e.Code == codeTempUnavailable ||
		e.HTTPStatus >= 500 || e.HTTPStatus == 408 || e.Transient:
		e.Kind, e.Advice, e.Retryable = KindTransient, "a temporary failure at the provider (retried with backoff)", true
	}
}

// classifyInfobip: status codes from Infobip's "Send WhatsApp audio
// message" reference and OpenAPI (400, 401, 403, 429, 500).
func classifyInfobip(e *APIError) {
	switch {
	case e.HTTPStatus == 401:
		e.Kind, e.Advice = KindAuth, "the API key is invalid or revoked"
	case e.HTTPStatus == 403:
		e.Kind, e.Advice = KindAuth, "the API key lacks the whatsapp:message:send scope or the sender is not yours"
	case e.HTTPStatus == 429:
		e.Kind, e.Advice, e.Retryable = KindRateLimit, "Infobip's rate limit was reached: slow down (retried after a backoff)", true
	case e.HTTPStatus >= 500 || e.HTTPStatus == 408:
		e.Kind, e.Advice, e.Retryable = KindTransient, "a temporary failure at Infobip (retried with backoff; the messageId is kept)", true
	case e.HTTPStatus == 400:
		e.Kind, e.Advice = KindInvalidParameter, "Infobip rejected a field: see the validation errors"
		for f := range e.ValidationErrors {
			if strings.Contains(f, "mediaUrl") {
				e.Kind, e.Advice = KindMedia, "Infobip rejected the media URL: it must be a reachable http(s) URL of at most 2048 characters"
			}
		}
	}
}
