package send

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Infobip field lengths, from seeds/000 ("from string [1 .. 24]", "messageId
// [0 .. 100]", "mediaUrl [1 .. 2048]", "callbackData [0 .. 4000]",
// "notifyUrl [0 .. 2048]", "entityId/applicationId [0 .. 255]") and the
// Infobip OpenAPI excerpt (AudioMessage). Where they differ (the OpenAPI
// allows messageId up to 200), prep keeps the stricter, which both accept.
const (
	infobipMaxFrom          = 24
	infobipMaxMessageID     = 100
	infobipMaxMediaURL      = 2048
	infobipMaxCallbackData  = 4000
	infobipMaxNotifyURL     = 2048
	infobipMaxEntityID      = 255
	infobipMaxApplicationID = 255
)

// infobipMessage is Infobip's AudioMessage (seeds/000).
type infobipMessage struct {
	From          string         `json:"from"`
	To            string         `json:"to"`
	MessageID     string         `json:"messageId,omitempty"`
	Content       infobipContent `json:"content"`
	CallbackData  string         `json:"callbackData,omitempty"`
	NotifyURL     string         `json:"notifyUrl,omitempty"`
	EntityID      string         `json:"entityId,omitempty"`
	ApplicationID string         `json:"applicationId,omitempty"`
}

type infobipContent struct {
	MediaURL string `json:"mediaUrl"`
	Voice    bool   `json:"voice,omitempty"`
}

// infobipBody validates m and builds the request body; the messageId is
// generated here, once per message, and kept across attempts.
func (c *Client) infobipBody(m Message) (to, messageID string, body []byte, err error) {
	x := m.Extras
	to, err = NormalizePhone(m.To)
	if err != nil {
		return "", "", nil, invalid("to", "%s", err.(*ValidationError).Reason)
	}
	from := c.sender
	if x.From != "" {
		if from, err = NormalizePhone(x.From); err != nil {
			return "", "", nil, invalid("from", "%s", err.(*ValidationError).Reason)
		}
	}
	switch {
	case from == "":
		return "", "", nil, invalid("from", "Infobip needs a sender number (--from or INFOBIP_SENDER)")
	case len(from) > infobipMaxFrom:
		return "", "", nil, invalid("from", "longer than %d characters", infobipMaxFrom)
	case m.MediaID != "":
		return "", "", nil, invalid("media", "Infobip sends audio by URL only (content.mediaUrl); give a link, not a media id")
	}
	if err := checkLink("link", m.Link, infobipMaxMediaURL); err != nil {
		return "", "", nil, err
	}
	messageID = x.MessageID
	if messageID == "" {
		messageID = uuid.NewString()
	} else if err := checkID("message id", messageID, infobipMaxMessageID); err != nil {
		return "", "", nil, err
	}
	if err := checkLen("callback data", x.CallbackData, infobipMaxCallbackData); err != nil {
		return "", "", nil, err
	}
	if x.NotifyURL != "" {
		if err := checkLink("notify URL", x.NotifyURL, infobipMaxNotifyURL); err != nil {
			return "", "", nil, err
		}
	}
	if err := checkLen("entity id", x.EntityID, infobipMaxEntityID); err != nil {
		return "", "", nil, err
	}
	if err := checkLen("application id", x.ApplicationID, infobipMaxApplicationID); err != nil {
		return "", "", nil, err
	}
	body, err = marshal(infobipMessage{
		From: from, To: to, MessageID: messageID,
		Content:      infobipContent{MediaURL: m.Link, Voice: m.Voice},
		CallbackData: x.CallbackData, NotifyURL: x.NotifyURL, EntityID: x.EntityID, ApplicationID: x.ApplicationID,
	})
	return to, messageID, body, err
}

func (c *Client) sendInfobip(ctx context.Context, m Message) (*Receipt, error) {
	to, id, body, err := c.infobipBody(m)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, to, id, body, c.parseInfobip(to, id))
}

// infobipInfo is SingleMessageInfo (Infobip OpenAPI).
type infobipInfo struct {
	To        string `json:"to"`
	MessageID string `json:"messageId"`
	Status    struct {
		GroupID     int    `json:"groupId"`
		GroupName   string `json:"groupName"`
		ID          int    `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Action      string `json:"action"`
	} `json:"status"`
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

func (c *Client) parseInfobip(to, id string) parseFunc {
	return func(a answer) (*Receipt, error) {
		if a.status >= 200 && a.status < 300 {
			var r infobipInfo
			if err := json.Unmarshal(a.body, &r); err != nil {
				why := "the answer could not be decoded"
				if a.err != nil {
					why = "the answer could not be read: " + c.scrub(transportMessage(a.err))
				}
				return nil, &InDoubtError{Provider: Infobip, To: to, MessageID: id, Err: fmt.Errorf("HTTP %d, %s", a.status, why)}
			}
			if r.MessageID == "" {
				r.MessageID = id
			}
			// A status in the REJECTED group is a refusal even with 200
			// (Infobip "response status and error codes").
			if strings.EqualFold(r.Status.GroupName, "REJECTED") {
				e := &APIError{Provider: Infobip, HTTPStatus: a.status, Type: c.scrub(r.Status.Name), Message: c.scrub(r.Status.Description), TraceID: r.MessageID}
				classify(e)
				if r.Status.Action != "" {
					e.Advice = c.scrub(r.Status.Action)
				}
				return nil, e
			}
			return &Receipt{Provider: Infobip, To: to, MessageID: r.MessageID, Status: r.Status.Name, StatusGroup: r.Status.GroupName, Description: r.Status.Description}, nil
		}
		e := &APIError{Provider: Infobip, HTTPStatus: a.status, TraceID: id, RetryAfter: parseRetryAfter(a.header, c.now())}
		var ex infobipException
		if json.Unmarshal(a.body, &ex) == nil && (ex.RequestError.ServiceException != nil || ex.RequestError.PolicyException != nil) {
			d := ex.RequestError.ServiceException
			if d == nil {
				d = ex.RequestError.PolicyException
			}
			e.Type, e.Message = c.scrub(d.MessageID), c.scrub(d.Text)
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
		} else if len(a.body) > 0 {
			e.Message = c.snippet(a.body)
		}
		classify(e)
		return nil, e
	}
}
