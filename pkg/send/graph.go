package send

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Graph (Meta Cloud API and 360dialog) message body, from Meta's "Audio
// messages"
// (https://developers.facebook.com/docs/whatsapp/cloud-api/messages/audio-messages)
// and 360dialog's "Audio" docs: {"messaging_product":"whatsapp","recipient_type":"individual",
// "to":…,"type":"audio","audio":{"id"|"link", "voice":true}}; "voice" is
// included only for a voice message (360dialog: "Only include if sending
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

// Send sends one audio message: the messages service of the account. It
// validates m before any request; see the package documentation for errors
// and retries.
func (c *Client) Send(ctx context.Context, m Message) (*Receipt, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if c == nil {
		return nil, invalid("client", "nil client")
	}
	var (
		r     Request
		parse func(*Response) (*Receipt, error)
	)
	if c.provider == Infobip {
		to, id, body, err := c.infobipBody(m)
		if err != nil {
			return nil, err
		}
		r = Request{Recipient: to, MessageID: id, Body: bodyOf(body)}
		parse = c.infobipReceipt(to, id)
	} else {
		to, body, err := c.graphBody(m)
		if err != nil {
			return nil, err
		}
		r = Request{Recipient: to, Body: bodyOf(body)}
		parse = c.graphReceipt(to)
	}
	r.Path, r.ContentType = c.messagesPath(), "application/json"
	resp, err := c.Do(ctx, &r)
	if err != nil {
		return nil, err
	}
	rc, err := parse(resp)
	if err != nil {
		var ide *InDoubtError
		if errors.As(err, &ide) {
			ide.Attempts = resp.Attempts
		} else if resp.InDoubt {
			// An earlier attempt may have been accepted.
			err = c.inDoubt(&r, resp.Attempts, err)
		}
		return nil, err
	}
	rc.Attempts = resp.Attempts
	return rc, nil
}

// bodyOf returns a fresh reader over b for each attempt.
func bodyOf(b []byte) func() (io.Reader, error) {
	return func() (io.Reader, error) { return bytes.NewReader(b), nil }
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

// graphReceipt reads Meta's and 360dialog's acceptance; one without a
// message id is in doubt.
func (c *Client) graphReceipt(to string) func(*Response) (*Receipt, error) {
	return func(a *Response) (*Receipt, error) {
		var r graphResponse
		if err := json.Unmarshal(a.Body, &r); err != nil || len(r.Messages) == 0 || r.Messages[0].ID == "" {
			return nil, &InDoubtError{Provider: c.provider, To: to, Err: fmt.Errorf("HTTP %d, no message id in the answer", a.Status)}
		}
		rc := &Receipt{Provider: c.provider, To: to, MessageID: r.Messages[0].ID, Status: r.Messages[0].MessageStatus}
		if len(r.Contacts) > 0 {
			rc.WAID = r.Contacts[0].WAID
		}
		return rc, nil
	}
}
