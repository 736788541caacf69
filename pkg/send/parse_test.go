package send

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestParseAnswers feeds the answer parsers the shapes providers send
// (and some they should not) and checks the typed result.
func TestParseAnswers(t *testing.T) {
	meta, _ := NewMeta(WithToken("t0ken-secret"), WithPhoneNumberID("1"))
	d360, _ := NewD360(WithAPIKey("k3y-secret"))
	ib, _ := NewInfobip(WithAPIKey("k3y-secret"), WithBaseURL("https://x"), WithSender("441134960000"))
	tests := []struct {
		name    string
		c       *Client
		status  int
		body    string
		id      string // receipt message id; "" = an error
		kind    string // "api", "doubt"
		class   ErrorKind
		message string
	}{
		{"meta ok", meta, 200, `{"messaging_product":"whatsapp","contacts":[{"input":"+16505551234","wa_id":"16505551234"}],"messages":[{"id":"wamid.X"}]}`, "wamid.X", "", "", ""},
		{"meta 200 without id", meta, 200, `{"messages":[]}`, "", "doubt", "", ""},
		{"meta 200 garbage", meta, 200, `<html>`, "", "doubt", "", ""},
		{"meta graph error", meta, 400, `{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed"},"fbtrace_id":"AbC"}}`, "", "api", KindWindow, "Re-engagement"},
		{"meta error_data string", meta, 400, `{"error":{"message":"m","code":100,"error_data":"plain details"}}`, "", "api", KindInvalidParameter, "plain details"},
		{"meta html 502", meta, 502, `<html><body>Bad Gateway</body></html>`, "", "api", KindTransient, "Bad Gateway"},
		{"meta empty 503", meta, 503, ``, "", "api", KindTransient, ""},
		{"meta echoes token", meta, 400, `{"error":{"message":"bad t0ken-secret","code":100}}`, "", "api", KindInvalidParameter, "[redacted]"},
		{"meta echoes token as the type", meta, 400, `{"error":{"message":"m","type":"Bearer t0ken-secret"}}`, "", "api", KindUnknown, "[redacted]"},
		{"360 string error", d360, 400, `{"error": "Invalid request"}`, "", "api", KindUnknown, "Invalid request"},
		{"360 gateway 401", d360, 401, `{"meta":{"success":false,"http_code":401,"developer_message":"Invalid api key","360dialog_trace_id":"tr1"}}`, "", "api", KindAuth, "Invalid api key"},
		{"infobip ok", ib, 200, `{"to":"441134960001","messageCount":1,"messageId":"a28dd97c","status":{"groupId":1,"groupName":"PENDING","id":7,"name":"PENDING_ENROUTE","description":"Message sent to next instance"}}`, "a28dd97c", "", "", ""},
		{"infobip ok without id", ib, 200, `{"status":{"name":"PENDING_ENROUTE"}}`, "sent-id", "", "", ""},
		{"infobip rejected in 200", ib, 200, `{"messageId":"m1","status":{"groupId":5,"groupName":"REJECTED","id":6,"name":"REJECTED_NETWORK","description":"Network is forbidden","action":"Contact account manager"}}`, "", "api", KindUnknown, "Network is forbidden"},
		{"infobip rejected echoes key", ib, 200, `{"messageId":"m1","status":{"groupName":"REJECTED","name":"App k3y-secret","description":"d"}}`, "", "api", KindUnknown, "[redacted]"},
		{"infobip validation", ib, 400, `{"requestError":{"serviceException":{"messageId":"BAD_REQUEST","text":"Bad request","validationErrors":{"content.mediaUrl":["is not a valid url"]}}}}`, "", "api", KindMedia, "Bad request"},
		{"infobip policy", ib, 403, `{"requestError":{"policyException":{"messageId":"FORBIDDEN","text":"Sender not allowed"}}}`, "", "api", KindAuth, "Sender not allowed"},
		{"infobip 200 garbage", ib, 200, `[`, "", "doubt", "", ""},
	}
	for _, tt := range tests {
		to := "16505551234"
		if tt.c.provider == Infobip {
			to = "441134960001"
		}
		rc, err := tt.c.parse(to, "sent-id", answer{status: tt.status, header: http.Header{}, body: []byte(tt.body)})
		if tt.id != "" {
			if err != nil || rc.MessageID != tt.id {
				t.Errorf("%s: receipt %+v, err %v; want id %s", tt.name, rc, err, tt.id)
			}
			continue
		}
		var ae *APIError
		var ide *InDoubtError
		switch {
		case tt.kind == "api" && errors.As(err, &ae):
			if ae.Kind != tt.class || ae.HTTPStatus != tt.status || !strings.Contains(ae.Error(), tt.message) {
				t.Errorf("%s: %v (class %s), want class %s mentioning %q", tt.name, ae, ae.Kind, tt.class, tt.message)
			}
		case tt.kind == "doubt" && errors.As(err, &ide):
		default:
			t.Errorf("%s: err %v (%T), want kind %s", tt.name, err, err, tt.kind)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: credential in %q", tt.name, err)
		}
	}
}

func TestDefaultRateLimits(t *testing.T) {
	meta, _ := NewMeta(WithToken("t0ken"), WithPhoneNumberID("1"))
	ib, _ := NewInfobip(WithAPIKey("k3y1"), WithBaseURL("https://x"))
	off, _ := NewD360(WithAPIKey("k3y1"), WithRateLimit(0, 0))
	if got := float64(meta.limiter.Limit()); got != 80 {
		t.Errorf("Meta default %v/s, want 80", got)
	}
	if got := float64(ib.limiter.Limit()); got != 4000 {
		t.Errorf("Infobip default %v/s, want 4000", got)
	}
	if off.limiter != nil {
		t.Errorf("WithRateLimit(0) left a limiter")
	}
	if ib.policy.RetryInDoubt || meta.policy.RetryInDoubt {
		t.Errorf("RetryInDoubt: infobip %v meta %v; want false for both (issue 13)", ib.policy.RetryInDoubt, meta.policy.RetryInDoubt)
	}
}

// FuzzParse: no answer makes the parsers panic, every failure is typed,
// and the credential never shows.
func FuzzParse(f *testing.F) {
	f.Add(400, []byte(`{"error":{"code":131056,"message":"t0ken-secret"}}`))
	f.Add(200, []byte(`{"messages":[{"id":"wamid.1"}]}`))
	f.Add(429, []byte(`{"requestError":{"serviceException":{"validationErrors":{"t0ken-secret":["t0ken-secret"]}}}}`))
	f.Add(401, []byte(`{"meta":{"developer_message":"t0ken-secret"}}`))
	f.Add(502, []byte("\xff\xfe t0ken-secret"))
	meta, _ := NewMeta(WithToken("t0ken-secret"), WithPhoneNumberID("1"))
	ib, _ := NewInfobip(WithAPIKey("t0ken-secret"), WithBaseURL("https://x"), WithSender("441134960000"))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, c := range []*Client{meta, ib} {
			rc, err := c.parse("16505551234", "id", answer{status: status, header: http.Header{"Retry-After": {string(body)}}, body: body})
			if err == nil {
				if rc == nil || rc.MessageID == "" {
					t.Fatalf("success without a message id: %+v", rc)
				}
				continue
			}
			var ae *APIError
			var ide *InDoubtError
			if !errors.As(err, &ae) && !errors.As(err, &ide) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			if strings.Contains(err.Error(), "t0ken-secret") {
				t.Fatalf("credential in %q", err)
			}
		}
	})
}

// parse reads one answer as Send does: a 2xx through the provider's
// receipt reader, anything else through the one error reader.
func (c *Client) parse(to, id string, a answer) (*Receipt, error) {
	if a.status >= 200 && a.status < 300 {
		resp := &Response{Status: a.status, Header: a.header, Body: a.body, Attempts: 1}
		if c.provider == Infobip {
			return c.infobipReceipt(to, id)(resp)
		}
		return c.graphReceipt(to)(resp)
	}
	return nil, c.apiError(a, &Request{Recipient: to, MessageID: id})
}
