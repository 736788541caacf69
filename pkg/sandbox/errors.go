package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strconv"
)

// graphError is one Graph API error. The shape is Meta's GraphAPIError
// (Meta's Business Messaging OpenAPI v23.0, https://github.com/facebook/openapi,
// components/schemas/GraphAPIError): error.message, type, code,
// error_subcode, error_data{messaging_product, details}, is_transient,
// fbtrace_id. 360dialog passes these through unchanged.
type graphError struct {
	status  int
	code    int
	subcode int
	message string // without the "(#code) " prefix; "" = the standard one for code
	details string
}

// graphCodes are the messages Meta documents for the codes the sandbox
// produces (Cloud API "Error codes" reference and Graph API error
// handling). transient marks codes Meta flags is_transient.
var graphCodes = map[int]struct {
	msg       string
	transient bool
}{
	1:      {"An unknown error occurred", true},
	2:      {"Service temporarily unavailable", true},
	4:      {"Application request limit reached", true},
	10:     {"Application does not have permission for this action", false},
	100:    {"Invalid parameter", false},
	190:    {"Invalid OAuth access token - Cannot parse access token", false},
	80007:  {"Rate limit issues", true},
	130429: {"Rate limit hit", true},
	131000: {"Something went wrong", true},
	131005: {"Access denied", false},
	131008: {"Required parameter is missing", false},
	131009: {"Parameter value is not valid", false},
	131016: {"Service unavailable", true},
	131026: {"Message undeliverable", false},
	131047: {"Re-engagement message", false},
	131051: {"Unsupported message type", false},
	131052: {"Media download error", false},
	131053: {"Media upload error", false},
	131056: {"(Business Account, Consumer Account) pair rate limit hit", true},
}

// graphDetails are the error_data.details Meta sends for some codes.
var graphDetails = map[int]string{
	130429: "Cloud API message throughput has been reached.",
	131047: "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
	131056: "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.",
	131053: "Unable to upload the media used in the message.",
	131052: "Unable to download the media sent by the user.",
}

// graphTitle is the title a status webhook's errors[] entry carries.
func graphTitle(code int) string {
	if c, ok := graphCodes[code]; ok {
		return c.msg
	}
	return "Error"
}

func graphMessage(code int, msg string) string {
	if msg == "" {
		if c, ok := graphCodes[code]; ok {
			msg = c.msg
		} else {
			msg = "An error occurred"
		}
	}
	if code == 190 {
		// Graph does not prefix OAuth token errors with "(#190)".
		return msg
	}
	return "(#" + strconv.Itoa(code) + ") " + msg
}

// genericGraphCode is the code used for an injected fault with only an
// HTTP status.
func genericGraphCode(status int) int {
	switch status {
	case http.StatusUnauthorized:
		return 190
	case http.StatusForbidden:
		return 10
	case http.StatusTooManyRequests:
		return 4
	case http.StatusInternalServerError:
		return 131000
	case http.StatusServiceUnavailable:
		return 131016
	}
	if status >= 500 {
		return 1
	}
	return 100
}

func writeGraph(w http.ResponseWriter, e graphError) {
	if e.status == 0 {
		e.status = http.StatusBadRequest
	}
	body := map[string]any{
		"message":    graphMessage(e.code, e.message),
		"type":       "OAuthException",
		"code":       e.code,
		"fbtrace_id": traceID(),
	}
	if e.subcode != 0 {
		body["error_subcode"] = e.subcode
	}
	if c, ok := graphCodes[e.code]; ok && c.transient {
		body["is_transient"] = true
	}
	details := e.details
	if details == "" {
		details = graphDetails[e.code]
	}
	if details != "" {
		body["error_data"] = map[string]any{"messaging_product": "whatsapp", "details": details}
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `OAuth "Facebook Platform" "invalid_token" "`+graphMessage(e.code, e.message)+`"`)
	}
	writeJSON(w, e.status, map[string]any{"error": body})
}

// write360Auth answers a request with a missing or wrong D360-API-KEY in
// 360dialog's own envelope (their gateway answers before Meta is reached):
// {"meta":{"success":false,"http_code":401,"developer_message":…,"360dialog_trace_id":…}}.
func write360Auth(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusUnauthorized, map[string]any{"meta": map[string]any{
		"success":            false,
		"http_code":          http.StatusUnauthorized,
		"developer_message":  msg,
		"360dialog_trace_id": traceID(),
	}})
}

// writeInfobipError answers in Infobip's ApiException shape (Infobip's
// OpenAPI for the audio message,
// https://www.infobip.com/docs/api/channels/whatsapp/whatsapp-outbound-messages/send-whatsapp-audio-message):
// {"requestError":{"serviceException":{"messageId":…,"text":…,"validationErrors":{field:[…]}}}}.
func writeInfobipError(w http.ResponseWriter, status int, id, text string, validation map[string][]string) {
	if text == "" {
		text = infobipTexts[id]
	}
	se := map[string]any{"messageId": id, "text": text}
	if len(validation) > 0 {
		se["validationErrors"] = validation
	}
	writeJSON(w, status, map[string]any{"requestError": map[string]any{"serviceException": se}})
}

var infobipTexts = map[string]string{
	"BAD_REQUEST":       "Bad request",
	"UNAUTHORIZED":      "Invalid login details",
	"FORBIDDEN":         "Forbidden",
	"TOO_MANY_REQUESTS": "Too many requests",
	"GENERAL_ERROR":     "Something went wrong. Please contact support.",
	"NOT_FOUND":         "Requested URL not found: ",
}

func infobipFaultID(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "UNAUTHORIZED"
	case status == http.StatusForbidden:
		return "FORBIDDEN"
	case status == http.StatusTooManyRequests:
		return "TOO_MANY_REQUESTS"
	case status == http.StatusNotFound:
		return "NOT_FOUND"
	case status >= 500:
		return "GENERAL_ERROR"
	}
	return "BAD_REQUEST"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func itoa(n int) string { return strconv.Itoa(n) }

// traceID is a random fbtrace_id-like string.
func traceID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// wamid is a random WhatsApp message id ("wamid." + base64).
func wamid() string {
	b := make([]byte, 30)
	_, _ = rand.Read(b)
	return "wamid." + base64.RawURLEncoding.EncodeToString(b)
}

// mediaID is a random 16-digit media id (Meta ids are digits).
func mediaID() string {
	n, err := rand.Int(rand.Reader, big.NewInt(9e15))
	if err != nil {
		return "1000000000000000"
	}
	return strconv.FormatInt(n.Int64()+1e15, 10)
}
