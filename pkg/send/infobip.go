package send

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Infobip field lengths, from Infobip's "Send WhatsApp audio message"
// (https://www.infobip.com/docs/api/channels/whatsapp/whatsapp-outbound-messages/send-whatsapp-audio-message:
// "from string [1 .. 24]", "messageId
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

// infobipMessage is Infobip's AudioMessage.
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
		return "", "", nil, invalidFor(Infobip, "from", "Infobip needs a sender number")
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

// infobipReceipt reads Infobip's acceptance; a status in the REJECTED
// group is a refusal even with 200 (Infobip "Response status and error
// codes", https://www.infobip.com/docs/essentials/api-essentials/response-status-and-error-codes).
func (c *Client) infobipReceipt(to, id string) func(*Response) (*Receipt, error) {
	return func(a *Response) (*Receipt, error) {
		var r infobipInfo
		if err := json.Unmarshal(a.Body, &r); err != nil {
			return nil, &InDoubtError{Provider: Infobip, To: to, MessageID: id, Err: fmt.Errorf("HTTP %d, the answer could not be decoded", a.Status)}
		}
		if r.MessageID == "" {
			r.MessageID = id
		}
		if strings.EqualFold(r.Status.GroupName, "REJECTED") {
			e := &APIError{Provider: Infobip, HTTPStatus: a.Status, Type: c.scrub(r.Status.Name), Message: c.scrub(r.Status.Description), TraceID: r.MessageID, Attempts: a.Attempts}
			classify(e)
			if r.Status.Action != "" {
				e.Advice = c.scrub(r.Status.Action)
			}
			return nil, e
		}
		return &Receipt{Provider: Infobip, To: to, MessageID: r.MessageID, Status: r.Status.Name, StatusGroup: r.Status.GroupName, Description: r.Status.Description}, nil
	}
}
