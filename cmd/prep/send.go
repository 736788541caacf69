package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prep-audio/prep/pkg/queue"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/upload"
)

// sendResult is the --json output of prep send: one object.
type sendResult struct {
	Provider  string     `json:"provider"`
	To        string     `json:"to"`
	MessageID string     `json:"message_id"`
	Status    string     `json:"status"` // the provider's status, or sent / failed / in_doubt / invalid
	Attempts  int        `json:"attempts,omitempty"`
	Error     *sendError `json:"error,omitempty"`
}

type sendError struct {
	Class      string              `json:"class"`
	Code       int                 `json:"code,omitempty"`
	Subcode    int                 `json:"subcode,omitempty"`
	HTTPStatus int                 `json:"http_status,omitempty"`
	Message    string              `json:"message"`
	Advice     string              `json:"advice,omitempty"`
	TraceID    string              `json:"trace_id,omitempty"`
	Validation map[string][]string `json:"validation_errors,omitempty"`
}

func runSend(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "send", "--provider meta|360dialog|infobip --to NUMBER (--media-id ID | --link URL|s3://BUCKET/KEY) [--voice] [--json]")
	provider := fs.String("provider", "", "meta, 360dialog or infobip (env PREP_PROVIDER)")
	to := fs.String("to", "", "recipient phone number in international format (+ optional)")
	mediaID := fs.String("media-id", "", "uploaded media id (Meta, 360dialog)")
	link := fs.String("link", "", "http(s) URL of the audio, or s3://BUCKET/KEY (presigned here with the S3 settings of the environment, e.g. what prep upload --to s3 put there)")
	voice := fs.Bool("voice", false, "send as a voice note (Ogg Opus; play icon up to 512 KB)")
	from := fs.String("from", "", "Infobip sender number (env INFOBIP_SENDER)")
	callback := fs.String("callback-data", "", "echoed in the message's statuses (Meta/360dialog biz_opaque_callback_data ≤ 512 characters; Infobip callbackData)")
	notify := fs.String("notify-url", "", "Infobip: URL for delivery and seen reports")
	messageID := fs.String("message-id", "", "Infobip: message id (default: a new UUID, kept across retries)")
	entityID := fs.String("entity-id", "", "Infobip: entityId")
	appID := fs.String("application-id", "", "Infobip: applicationId")
	apiURL := fs.String("api-url", "", "API base URL, path prefix kept (env WHATSAPP_API_URL, D360_API_URL, INFOBIP_BASE_URL)")
	apiVersion := fs.String("api-version", "", "Meta Graph API version (env WHATSAPP_API_VERSION; default v23.0)")
	phoneID := fs.String("phone-number-id", "", "Meta business phone number id (env WHATSAPP_PHONE_NUMBER_ID)")
	attempts := fs.Int("max-attempts", 0, "attempts at most, the first included (default 5; 1 = no retries)")
	timeout := fs.Duration("timeout", 0, "give up after this long in all, retries included (0 = no limit)")
	asJSON := fs.Bool("json", false, "print one JSON object on stdout")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("send: unexpected argument %q (credentials come from the environment: WHATSAPP_ACCESS_TOKEN, D360_API_KEY, INFOBIP_API_KEY)", pos[0])
	}
	pname := envOr(e, *provider, "PREP_PROVIDER")
	res := sendResult{Provider: pname, To: *to}
	fail := func(err error) error {
		if *asJSON {
			res.Status = "invalid"
			res.Error = &sendError{Class: "invalid_input", Message: err.Error()}
			_ = json.NewEncoder(e.stdout).Encode(res)
		}
		return err
	}
	if pname == "" {
		return fail(usageErrorf("send: --provider is required (meta, 360dialog or infobip)"))
	}
	if *attempts < 0 || *timeout < 0 {
		return fail(usageErrorf("send: --max-attempts and --timeout must not be negative"))
	}
	p, err := send.ParseProvider(pname)
	if err != nil {
		return fail(err)
	}
	res.Provider = string(p)
	opts := sendOptions(e, p, *apiURL, *apiVersion, *phoneID, *from, *attempts)
	c, err := send.FromEnv(string(p), e.getenv, opts...)
	if err != nil {
		return fail(withHint(err))
	}
	m := send.Message{To: *to, MediaID: *mediaID, Link: *link, Voice: *voice, Extras: send.Extras{
		MessageID: *messageID, CallbackData: *callback, NotifyURL: *notify, EntityID: *entityID, ApplicationID: *appID,
	}}
	if *from != "" && p != send.Infobip {
		return fail(&send.ValidationError{Field: "from", Reason: "--from is for Infobip; Meta and 360dialog send from the account's number"})
	}
	if queue.IsS3(m.Link) {
		if m.Link, err = presignS3Link(ctx, e, m.Link); err != nil {
			return fail(err)
		}
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	rc, err := c.Send(ctx, m)
	if err == nil {
		res.To, res.MessageID, res.Status, res.Attempts = rc.To, rc.MessageID, rc.Status, rc.Attempts
		if res.Status == "" {
			res.Status = "sent"
		}
		if *asJSON {
			return json.NewEncoder(e.stdout).Encode(res)
		}
		fmt.Fprintf(e.stdout, "sent via %s to %s: message id %s, status %s\n", rc.Provider, rc.To, rc.MessageID, res.Status)
		return nil
	}
	var ve *send.ValidationError
	if errors.As(err, &ve) {
		return fail(withHint(err))
	}
	var (
		ide *send.InDoubtError
		ae  *send.APIError
	)
	switch {
	case errors.As(err, &ide):
		res.MessageID, res.Attempts = ide.MessageID, ide.Attempts
	case !errors.As(err, &ae) && errors.Is(err, context.Canceled):
		return err // interrupted before any answer: nothing to report
	}
	res.Status, res.Error = describeSendError(err)
	if *asJSON {
		if jerr := json.NewEncoder(e.stdout).Encode(res); jerr != nil {
			return jerr
		}
	} else {
		fmt.Fprintf(e.stderr, "prep send: %s: %s\n", res.Status, res.Error.Message)
		if res.Error.Advice != "" {
			fmt.Fprintf(e.stderr, "prep send: advice: %s\n", res.Error.Advice)
		}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &reportedError{failed: 1, total: 1}
}

// sendOptions turns prep send's flags into client options (flags override
// the environment FromEnv reads); retry decisions go to stderr.
func sendOptions(e *env, p send.Provider, apiURL, apiVersion, phoneID, from string, attempts int) []send.Option {
	opts := []send.Option{send.WithRetryHook(func(ev send.RetryEvent) {
		if ev.Retry {
			fmt.Fprintf(e.stderr, "prep send: attempt %d failed, retrying in %s: %s\n", ev.Attempt, ev.Wait.Round(time.Millisecond), ev.Reason)
		} else if ev.Attempt > 1 {
			fmt.Fprintf(e.stderr, "prep send: attempt %d failed, %s\n", ev.Attempt, ev.Reason)
		}
	})}
	if apiURL != "" {
		opts = append(opts, send.WithBaseURL(apiURL))
	}
	if apiVersion != "" {
		opts = append(opts, send.WithAPIVersion(apiVersion))
	}
	if phoneID != "" {
		opts = append(opts, send.WithPhoneNumberID(phoneID))
	}
	if from != "" && p == send.Infobip {
		opts = append(opts, send.WithSender(from))
	}
	if attempts > 0 {
		pol := send.DefaultRetry()
		pol.MaxAttempts = attempts
		opts = append(opts, send.WithRetry(pol))
	}
	return opts
}

// describeSendError is the status and the JSON error of a failed send.
func describeSendError(err error) (string, *sendError) {
	var (
		ae  *send.APIError
		ide *send.InDoubtError
	)
	switch {
	case errors.As(err, &ide):
		return "in_doubt", &sendError{Class: "in_doubt", Message: err.Error(), Advice: "the message may have been sent: check delivery status (webhooks / reports) before sending again"}
	case errors.As(err, &ae):
		se := &sendError{Class: string(ae.Kind), Code: ae.Code, Subcode: ae.Subcode, HTTPStatus: ae.HTTPStatus, Message: ae.Error(), Advice: ae.Advice, TraceID: ae.TraceID, Validation: ae.ValidationErrors}
		se.Advice = withHintText(se.Advice, hint(err))
		return "failed", se
	}
	return "failed", &sendError{Class: "network", Message: err.Error(), Advice: "the provider could not be reached; nothing was sent"}
}

// presignS3Link makes the URL a provider fetches for s3://BUCKET/KEY: a
// presigned GET URL (or S3_PUBLIC_URL/KEY), computed here from the S3
// settings of the environment without a request. It is sent, never
// printed: a presigned URL is a credential.
func presignS3Link(ctx context.Context, e *env, raw string) (string, error) {
	bucket, key, err := queue.ParseS3(raw)
	if err != nil {
		return "", usageErrorf("send: --link %s: %v", quoteName(raw), err)
	}
	cfg := upload.S3ConfigFromEnv(e.getenv)
	cfg.Bucket = bucket
	s, err := upload.NewS3(ctx, cfg)
	if err != nil {
		return "", usageErrorf("send: --link %s: %v", quoteName(raw), withHint(err))
	}
	return s.URL(ctx, key)
}
