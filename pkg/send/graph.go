package send

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// Graph (Meta Cloud API and 360dialog) message body, seeds/001 and
// seeds/002: {"messaging_product":"whatsapp","recipient_type":"individual",
// "to":…,"type":"audio","audio":{"id"|"link", "voice":true}}; "voice" is
// included only for a voice message (seeds/002: "Only include if sending
// voice message").
type graphMessage struct {
	MessagingProduct string     `json:"messaging_product"`
	RecipientType    string     `json:"recipient_type"`
	To               string     `json:"to"`
	Type             string     `json:"type"`
	Audio            graphAudio `json:"audio"`
	// CallbackData is echoed in the message's status webhooks.
	CallbackData string `json:"biz_opaque_callback_data,omitempty"`
}

// maxGraphCallbackData bounds biz_opaque_callback_data (Meta: "Maximum
// 512 characters").
const maxGraphCallbackData = 512

type graphAudio struct {
	ID    string `json:"id,omitempty"`
	Link  string `json:"link,omitempty"`
	Voice bool   `json:"voice,omitempty"`
}

// maxGraphLink bounds a link for Meta and 360dialog: neither documents a
// limit, so prep uses Infobip's 2048 (an URL longer than that is unusual
// and often cut by proxies).
const maxGraphLink = 2048

// maxMediaID bounds a media id (Meta's are ~16 digits).
const maxMediaID = 256

// Send sends one audio message. It validates m before any request; see the
// package documentation for errors and retries.
func (c *Client) Send(ctx context.Context, m Message) (*Receipt, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if c == nil {
		return nil, invalid("client", "nil client")
	}
	if c.provider == Infobip {
		return c.sendInfobip(ctx, m)
	}
	to, body, err := c.graphBody(m)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, to, "", body, c.parseGraph(to))
}

func (c *Client) graphBody(m Message) (string, []byte, error) {
	if x := m.Extras; x != (Extras{CallbackData: x.CallbackData}) {
		return "", nil, invalid("extras", "from, message id, notify URL, entity and application id are Infobip fields; %s does not take them", c.provider)
	}
	if n := len([]rune(m.Extras.CallbackData)); n > maxGraphCallbackData {
		return "", nil, invalid("callback data", "%d characters, more than the %d %s takes", n, maxGraphCallbackData, c.provider)
	}
	to, err := NormalizePhone(m.To)
	if err != nil {
		return "", nil, invalid("to", "%s", err.(*ValidationError).Reason)
	}
	a := graphAudio{Voice: m.Voice}
	switch {
	case m.MediaID != "" && m.Link != "":
		return "", nil, invalid("media", "give a media id or a link, not both")
	case m.MediaID != "":
		if err := checkID("media id", m.MediaID, maxMediaID); err != nil {
			return "", nil, err
		}
		a.ID = m.MediaID
	case m.Link != "":
		if err := checkLink("link", m.Link, maxGraphLink); err != nil {
			return "", nil, err
		}
		a.Link = m.Link
	default:
		return "", nil, invalid("media", "give a media id or a link")
	}
	body, err := marshal(graphMessage{MessagingProduct: "whatsapp", RecipientType: "individual", To: to, Type: "audio", Audio: a, CallbackData: m.Extras.CallbackData})
	return to, body, err
}

// marshal encodes JSON without HTML escaping (links keep their "&").
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

type graphResponse struct {
	Contacts []struct {
		Input string `json:"input"`
		WAID  string `json:"wa_id"`
	} `json:"contacts"`
	Messages []struct {
		ID            string `json:"id"`
		MessageStatus string `json:"message_status"`
	} `json:"messages"`
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

func (c *Client) parseGraph(to string) parseFunc {
	return func(a answer) (*Receipt, error) {
		if a.status >= 200 && a.status < 300 {
			var r graphResponse
			if err := json.Unmarshal(a.body, &r); err != nil || len(r.Messages) == 0 || r.Messages[0].ID == "" {
				why := "no message id in the answer"
				if a.err != nil {
					why = "the answer could not be read: " + c.scrub(transportMessage(a.err))
				}
				return nil, &InDoubtError{Provider: c.provider, To: to, Err: fmt.Errorf("HTTP %d, %s", a.status, why)}
			}
			rc := &Receipt{Provider: c.provider, To: to, MessageID: r.Messages[0].ID, Status: r.Messages[0].MessageStatus}
			if len(r.Contacts) > 0 {
				rc.WAID = r.Contacts[0].WAID
			}
			return rc, nil
		}
		e := &APIError{Provider: c.provider, HTTPStatus: a.status, RetryAfter: parseRetryAfter(a.header, c.now())}
		var env struct {
			Error json.RawMessage `json:"error"`
			// 360dialog's gateway envelope, e.g. for a wrong D360-API-KEY:
			// {"meta":{"success":false,"http_code":401,"developer_message":…,"360dialog_trace_id":…}}.
			Meta *struct {
				DeveloperMessage string `json:"developer_message"`
				TraceID          string `json:"360dialog_trace_id"`
			} `json:"meta"`
		}
		jsonOK := json.Unmarshal(a.body, &env) == nil
		if jsonOK && len(env.Error) == 0 && env.Meta != nil {
			e.Message, e.TraceID = env.Meta.DeveloperMessage, env.Meta.TraceID
		} else if jsonOK && len(env.Error) > 0 {
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
				// 360dialog: {"error": "Invalid request"} (seeds/002).
				e.Message = s
			}
		} else if len(a.body) > 0 {
			e.Message = c.snippet(a.body)
		}
		e.Message, e.Details, e.TraceID, e.Type = c.scrub(e.Message), c.scrub(e.Details), c.scrub(e.TraceID), c.scrub(e.Type)
		classify(e)
		return nil, e
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
