package send

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"
)

// Request is one call to an account's API, made by Client.Do: the client
// adds the base URL, the credential, the User-Agent, the rate limit and
// the retries.
type Request struct {
	Method      string // default POST
	Path        string // under the account, e.g. "messages" or "media" (see Client.URL)
	ContentType string
	// Body returns the body of one attempt. Do calls it once per attempt,
	// so every retry sends the whole body afresh; nil for no body.
	Body func() (io.Reader, error)
	// ContentLength is the length of what Body returns (0: unknown,
	// sent chunked).
	ContentLength int64
	// Recipient is the message's recipient (digits), if any: a pair rate
	// limit (131056) holds back only this recipient, and an *InDoubtError
	// names them.
	Recipient string
	// MessageID is a client message id kept across attempts (Infobip's
	// messageId): reported in an *InDoubtError and as APIError.TraceID.
	MessageID string
	// Repeatable says a repeat of the request can do no harm (a media
	// upload makes at most a second media id; no one receives anything):
	// an attempt that may have reached the provider is then retried and
	// never reported in doubt. Messages are not repeatable.
	Repeatable bool
	// Timeout bounds each attempt; 0 = RetryPolicy.AttemptTimeout.
	Timeout time.Duration
}

// Response is a provider's 2xx answer to a Request.
type Response struct {
	Status   int
	Header   http.Header
	Body     []byte // at most 1 MiB
	Attempts int    // requests made, this one included
	// InDoubt: an earlier attempt may also have reached the provider (it
	// was retried under RetryPolicy.RetryInDoubt), so what this answer
	// accepts may be a duplicate.
	InDoubt bool
}

// Do makes the request with the account's credential, under its rate limit
// and pauses, retrying as RetryPolicy says (a fresh body per attempt,
// sleeping on ctx). A 2xx answer is returned for the caller to read; an
// error answer is an *APIError (classified, the credential scrubbed); a
// request that may have reached the provider without an answer is an
// *InDoubtError unless r.Repeatable; a request that never left is a plain
// error. Redirects are never followed.
func (c *Client) Do(ctx context.Context, r *Request) (*Response, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	var last error
	// doubt: an earlier attempt may have reached the provider (retried
	// under RetryInDoubt). No later answer proves it did not, so every
	// failure from then on is reported in doubt, wrapping the last error.
	doubt := false
	settle := func(err error, attempts int) error {
		var ide *InDoubtError
		if !doubt || errors.As(err, &ide) {
			return err
		}
		return c.inDoubt(r, attempts, err)
	}
	for attempt := 1; ; attempt++ {
		if err := c.waitTurn(ctx, r.Recipient, r.Path == c.messagesPath()); err != nil {
			return nil, settle(c.ctxErr(err, last), attempt-1)
		}
		a := c.roundTrip(ctx, r)
		if a.local != nil {
			return nil, settle(a.local, attempt)
		}
		if a.err == nil && a.status >= 200 && a.status < 300 {
			return &Response{Status: a.status, Header: a.header, Body: a.body, Attempts: attempt, InDoubt: doubt}, nil
		}
		var (
			err     error
			apiErr  *APIError
			arrived bool // the request may have reached the provider
		)
		switch {
		case a.err != nil && ctx.Err() != nil:
			if a.wrote && !r.Repeatable {
				return nil, c.inDoubt(r, attempt, ctx.Err())
			}
			return nil, settle(c.ctxErr(ctx.Err(), last), attempt)
		case a.err != nil && !a.wrote:
			err = fmt.Errorf("%s: the request never reached the provider: %s", c.provider, c.scrub(transportMessage(a.err)))
		case a.err != nil:
			arrived = true
			msg := c.scrub(transportMessage(a.err))
			if a.status != 0 {
				msg = fmt.Sprintf("HTTP %d, the answer could not be read: %s", a.status, msg)
			}
			if r.Repeatable {
				err = fmt.Errorf("%s: no answer: %s", c.provider, msg)
			} else {
				err = c.inDoubt(r, attempt, errors.New(msg))
			}
		default:
			apiErr = c.apiError(a, r)
			apiErr.Attempts = attempt
			err = apiErr
		}
		d := c.policy.decide(attempt, apiErr, arrived, r.Repeatable, rand.N[time.Duration])
		if d.retry {
			if dl, ok := ctx.Deadline(); ok && c.now().Add(d.wait).After(dl) {
				d = decision{reason: "not retried: the context's deadline comes before the next attempt could start"}
			}
		}
		if !d.retry {
			c.emit(RetryEvent{Provider: c.provider, Path: r.Path, To: r.Recipient, Attempt: attempt, Reason: d.reason, Err: err})
			if attempt > 1 && apiErr == nil && !arrived {
				err = fmt.Errorf("%w (%d attempts)", err, attempt)
			}
			return nil, settle(err, attempt)
		}
		if arrived && !r.Repeatable {
			doubt = true
		}
		switch d.hold {
		case holdRecipient:
			c.hold(r.Recipient, d.wait)
		case holdAccount:
			c.hold("", d.wait)
		}
		last = err
		c.emit(RetryEvent{Provider: c.provider, Path: r.Path, To: r.Recipient, Attempt: attempt, Retry: true, Wait: d.wait, Reason: d.reason, Err: err})
		if err := sleep(ctx, d.wait); err != nil {
			return nil, settle(c.ctxErr(err, last), attempt)
		}
	}
}

func (c *Client) inDoubt(r *Request, attempts int, err error) *InDoubtError {
	return &InDoubtError{Provider: c.provider, To: r.Recipient, MessageID: r.MessageID, Attempts: attempts, Err: err}
}

// answer is what one attempt got.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error // transport error or body read error
	local  error // the request could not be built (nothing was sent)
	// wrote: the request was (or may have been) written to the provider.
	wrote bool
}

const maxBody = 1 << 20

// roundTrip makes one attempt with a fresh body.
func (c *Client) roundTrip(ctx context.Context, r *Request) answer {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = c.policy.AttemptTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var started, wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		GetConn: func(string) { started.Store(true) },
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		},
	}
	var body io.Reader
	if r.Body != nil {
		b, err := r.Body()
		if err != nil {
			return answer{local: err}
		}
		body = b
	}
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(actx, trace), method, c.URL(r.Path), body)
	if err != nil {
		return answer{local: err}
	}
	if r.ContentLength > 0 {
		req.ContentLength = r.ContentLength
	}
	if r.Body != nil {
		// Lets net/http resend a request it could not write at all on a
		// kept-alive connection the server had closed (nothing reached
		// the provider); it never follows a redirect with it.
		req.GetBody = func() (io.ReadCloser, error) {
			b, err := r.Body()
			if err != nil {
				return nil, err
			}
			return io.NopCloser(b), nil
		}
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	switch c.provider {
	case Meta:
		req.Header.Set("Authorization", "Bearer "+c.cred)
	case D360:
		req.Header.Set("D360-API-KEY", c.cred)
	case Infobip:
		req.Header.Set("Authorization", "App "+c.cred)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		w := wrote.Load()
		if !started.Load() {
			// A transport without traces: we cannot tell, so assume the
			// worst.
			w = true
		}
		if isDialError(err) {
			w = false
		}
		return answer{err: err, wrote: w}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	a := answer{status: resp.StatusCode, header: resp.Header, body: b, wrote: true}
	if err != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		a.err = err
	}
	return a
}

func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// ctxErr reports a cancellation, keeping the last attempt's error.
func (c *Client) ctxErr(err, last error) error {
	if last == nil {
		return fmt.Errorf("%s: %w", c.provider, err)
	}
	return fmt.Errorf("%s: %w while waiting to retry after: %w", c.provider, err, last)
}

// transportMessage describes a transport error without the URL (which
// holds no secret, but is noise) where possible.
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "attempt timed out"
	}
	return err.Error()
}

// hold pauses a recipient ("" = the whole account) for d.
func (c *Client) hold(to string, d time.Duration) {
	until := c.now().Add(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	if to == "" {
		if until.After(c.pauseUntil) {
			c.pauseUntil = until
		}
		return
	}
	if len(c.pair) > 4096 {
		now := c.now()
		for k, t := range c.pair {
			if t.Before(now) {
				delete(c.pair, k)
			}
		}
	}
	if until.After(c.pair[to]) {
		c.pair[to] = until
	}
}

// waitTurn waits for account and recipient holds, then, for a message,
// for the limiter: the providers' throughput limits count messages (Meta:
// 80 per second per number), not media uploads; a rate-limit answer to
// anything pauses the whole account.
func (c *Client) waitTurn(ctx context.Context, to string, message bool) error {
	for {
		c.mu.Lock()
		until := c.pauseUntil
		if t, ok := c.pair[to]; ok && to != "" && t.After(until) {
			until = t
		}
		c.mu.Unlock()
		d := until.Sub(c.now())
		if d <= 0 {
			break
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.limiter != nil && message {
		if err := c.limiter.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The limiter refuses to wait past the deadline.
			return fmt.Errorf("the rate limiter's next slot is after the deadline: %w", context.DeadlineExceeded)
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) emit(ev RetryEvent) {
	if c.hook != nil {
		c.hook(ev)
	}
	if c.logger != nil {
		attrs := []any{"provider", string(ev.Provider), "path", ev.Path, "to", ev.To, "attempt", ev.Attempt, "reason", ev.Reason}
		if ev.Err != nil {
			attrs = append(attrs, "error", ev.Err.Error())
		}
		if ev.Retry {
			c.logger.Info("send: retrying", append(attrs, "wait", ev.Wait)...)
		} else {
			c.logger.Warn("send: not retrying", attrs...)
		}
	}
}

// apiError reads a provider's error answer — Graph's error object (Meta,
// 360dialog), 360dialog's gateway envelope or string error, Infobip's
// requestError — into a classified *APIError with the credential scrubbed.
func (c *Client) apiError(a answer, r *Request) *APIError {
	e := &APIError{Provider: c.provider, HTTPStatus: a.status, RetryAfter: parseRetryAfter(a.header, c.now())}
	if c.provider == Infobip {
		e.TraceID = r.MessageID
		c.readInfobipError(e, a.body)
	} else {
		c.readGraphError(e, a.body)
	}
	e.Message, e.Details, e.TraceID, e.Type = c.scrub(e.Message), c.scrub(e.Details), c.scrub(e.TraceID), c.scrub(e.Type)
	classify(e)
	return e
}

// graphError is a Graph API error object (Meta OpenAPI GraphAPIError).
type graphError struct {
	Message        string          `json:"message"`
	Type           string          `json:"type"`
	Code           int             `json:"code"`
	ErrorSubcode   int             `json:"error_subcode"`
	ErrorData      json.RawMessage `json:"error_data"`
	FBTraceID      string          `json:"fbtrace_id"`
	IsTransient    bool            `json:"is_transient"`
	ErrorUserTitle string          `json:"error_user_title"`
	ErrorUserMsg   string          `json:"error_user_msg"`
}

func (c *Client) readGraphError(e *APIError, body []byte) {
	var env struct {
		Error json.RawMessage `json:"error"`
		// 360dialog's gateway envelope, e.g. for a wrong D360-API-KEY:
		// {"meta":{"success":false,"http_code":401,"developer_message":…,"360dialog_trace_id":…}}.
		Meta *struct {
			DeveloperMessage string `json:"developer_message"`
			TraceID          string `json:"360dialog_trace_id"`
		} `json:"meta"`
	}
	jsonOK := json.Unmarshal(body, &env) == nil
	switch {
	case jsonOK && len(env.Error) == 0 && env.Meta != nil:
		e.Message, e.TraceID = env.Meta.DeveloperMessage, env.Meta.TraceID
	case jsonOK && len(env.Error) > 0:
		var ge graphError
		var s string
		switch {
		case json.Unmarshal(env.Error, &ge) == nil:
			e.Code, e.Subcode, e.Type, e.TraceID, e.Transient = ge.Code, ge.ErrorSubcode, ge.Type, ge.FBTraceID, ge.IsTransient
			e.Message = ge.Message
			if ge.ErrorUserTitle != "" && e.Message == "" {
				e.Message = ge.ErrorUserTitle
			}
			e.Details = errorDetails(ge.ErrorData)
			if e.Details == "" {
				e.Details = ge.ErrorUserMsg
			}
		case json.Unmarshal(env.Error, &s) == nil:
			// 360dialog: {"error": "Invalid request"}.
			e.Message = s
		}
	case len(body) > 0:
		e.Message = c.snippet(body)
	}
}

// errorDetails reads Graph's error_data: an object with "details" or a
// plain string.
func errorDetails(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var o struct {
		Details string `json:"details"`
	}
	if json.Unmarshal(raw, &o) == nil && o.Details != "" {
		return o.Details
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// infobipException is ApiException: requestError.serviceException (or
// policyException) with messageId, text and validationErrors.
type infobipException struct {
	RequestError struct {
		ServiceException *infobipDetails `json:"serviceException"`
		PolicyException  *infobipDetails `json:"policyException"`
	} `json:"requestError"`
}

type infobipDetails struct {
	MessageID        string              `json:"messageId"`
	Text             string              `json:"text"`
	ValidationErrors map[string][]string `json:"validationErrors"`
}

func (c *Client) readInfobipError(e *APIError, body []byte) {
	var ex infobipException
	if json.Unmarshal(body, &ex) != nil || (ex.RequestError.ServiceException == nil && ex.RequestError.PolicyException == nil) {
		if len(body) > 0 {
			e.Message = c.snippet(body)
		}
		return
	}
	d := ex.RequestError.ServiceException
	if d == nil {
		d = ex.RequestError.PolicyException
	}
	e.Type, e.Message = d.MessageID, d.Text
	if len(d.ValidationErrors) > 0 {
		e.ValidationErrors = make(map[string][]string, len(d.ValidationErrors))
		for k, v := range d.ValidationErrors {
			vs := make([]string, len(v))
			for i := range v {
				vs[i] = c.scrub(v[i])
			}
			e.ValidationErrors[c.scrub(k)] = vs
		}
	}
}
