package sandbox

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/google/uuid"
	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
)

// infobipAudioPath is the one Infobip operation the sandbox serves
// (Infobip's OpenAPI, operationId send-whatsapp-audio-message:
// https://www.infobip.com/docs/api/channels/whatsapp/whatsapp-outbound-messages/send-whatsapp-audio-message).
const infobipAudioPath = "/whatsapp/1/message/audio"

// infobipField is one string field of AudioMessage with its length bounds.
//
// The bounds are those of the OpenAPI excerpt (Infobip 3.210.0): from
// 1..24, to 1..150, messageId 0..200, content.mediaUrl 1..2048,
// callbackData 0..4000, notifyUrl 0..2048, entityId and applicationId
// 0..255. The public docs page ("Send WhatsApp audio message", URL above)
// still says to 1..24 and messageId 0..100; the sandbox follows the newer
// contract, so clients that keep to the docs' stricter bounds are accepted
// either way.
type infobipField struct {
	name     string
	min, max int
	required bool
}

var infobipFields = []infobipField{
	{"from", 1, 24, true},
	{"to", 1, 150, true},
	{"messageId", 0, 200, false},
	{"callbackData", 0, 4000, false},
	{"notifyUrl", 0, 2048, false},
	{"entityId", 0, 255, false},
	{"applicationId", 0, 255, false},
}

// infobipSend is a validated AudioMessage.
type infobipSend struct {
	from, to, messageID, callbackData, notifyURL, entityID, applicationID string
	mediaURL                                                              string
	voice                                                                 bool
}

func (s *Server) handleInfobip(c *call) {
	if !s.infobipAuthorized(c.r) {
		writeInfobipError(c.w, http.StatusUnauthorized, "UNAUTHORIZED", "", nil)
		return
	}
	path := strings.TrimPrefix(c.r.URL.Path, "/infobip")
	if path != infobipAudioPath {
		writeInfobipError(c.w, http.StatusNotFound, "NOT_FOUND", "Requested URL not found: "+path, nil)
		return
	}
	if c.r.Method != http.MethodPost {
		writeInfobipError(c.w, http.StatusMethodNotAllowed, "BAD_REQUEST", "Request method '"+c.r.Method+"' is not supported", nil)
		return
	}
	if c.tooBig {
		writeInfobipError(c.w, http.StatusBadRequest, "BAD_REQUEST", "", nil)
		return
	}
	req, verrs, ok := parseInfobip(c.body)
	if !ok {
		writeInfobipError(c.w, http.StatusBadRequest, "BAD_REQUEST", "", nil)
		return
	}
	if len(verrs) > 0 {
		writeInfobipError(c.w, http.StatusBadRequest, "BAD_REQUEST", "", verrs)
		return
	}
	u, _ := url.Parse(req.mediaURL)
	if !isLoopbackHost(u.Hostname()) {
		writeInfobipError(c.w, http.StatusBadRequest, "BAD_REQUEST", "", map[string][]string{"content.mediaUrl": {"sandbox: " + errNotLoopback.Error()}})
		return
	}
	if !s.limit(string(Infobip) + ":" + s.cfg.InfobipKey) {
		writeInfobipError(c.w, http.StatusTooManyRequests, "TOO_MANY_REQUESTS", "", nil)
		return
	}
	id := req.messageID
	if id == "" {
		id = uuid.NewString()
	}
	m := &Message{Provider: Infobip, ID: id, From: req.from, To: req.to, Voice: req.voice, Link: req.mediaURL,
		NotifyURL: req.notifyURL, Callback: req.callbackData, Time: time.Now(), applicationID: req.applicationID, entityID: req.entityID}
	m.FileName = cleanFileName(strings.SplitN(u.Path, "?", 2)[0])
	fail, details := 0, ""
	data, ctype, err := s.fetch(c.r.Context(), req.mediaURL, c.r.Host)
	var rep *inspect.Report
	switch {
	case err == errTooLarge:
		fail, details = 131053, fmt.Sprintf("Maximum audio size is %d bytes.", rules.AudioMaxBytes)
	case err != nil:
		fail, details = 131052, "Downloading the media failed: "+err.Error()+"."
	default:
		rep, _ = inspectBytes(c.r.Context(), data, m.FileName)
		m.Bytes, m.MIME, m.Codec, m.Channels, m.Duration = int64(len(data)), rep.MIME, rep.Codec, rep.Channels, rep.Duration
		served := ""
		if t, ok := rules.ByMIME(ctype); ok && strings.EqualFold(mimeBase(ctype), t.MIME) {
			served = t.MIME
		}
		// Infobip fetches by URL and judges the bytes; a served type that
		// is not an audio type Meta lists is not held against the sender.
		fail, details = judgeMedia(rep, served, req.voice)
	}
	if fail == 0 && s.outside[digits(req.to)] {
		fail = 131047
	}
	s.classify(m, rep, fail)
	if data != nil {
		if f, err := s.keep(Infobip, m.ID, extFor(rep), data); err == nil {
			m.file = f
		}
	}
	s.addMessage(m)
	writeJSON(c.w, http.StatusOK, map[string]any{
		"to":           req.to,
		"messageCount": 1,
		"messageId":    id,
		"status": map[string]any{
			"groupId": 1, "groupName": "PENDING", "id": 7, "name": "PENDING_ENROUTE", "description": "Message sent to next instance",
		},
	})
	s.progress(m, fail, details)
}

func (s *Server) infobipAuthorized(r *http.Request) bool {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "App") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(key)), []byte(s.cfg.InfobipKey)) == 1
}

// javaLen is a string's length as Infobip's (Java) validator counts it:
// UTF-16 code units.
func javaLen(s string) int { return len(utf16.Encode([]rune(s))) }

// parseInfobip validates an AudioMessage field by field. ok is false when
// the body is not a JSON object at all (Infobip answers a bare
// BAD_REQUEST); otherwise verrs maps field paths to Infobip's messages.
func parseInfobip(body []byte) (*infobipSend, map[string][]string, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, nil, false
	}
	verrs := map[string][]string{}
	vals := map[string]string{}
	checkString := func(path string, raw json.RawMessage, present bool, min, max int, required bool, isURL bool) (string, bool) {
		if !present || string(raw) == "null" {
			if required {
				verrs[path] = append(verrs[path], "must not be null")
			}
			return "", false
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			verrs[path] = append(verrs[path], "must be a string")
			return "", false
		}
		if n := javaLen(v); n < min || n > max {
			verrs[path] = append(verrs[path], fmt.Sprintf("size must be between %d and %d", min, max))
		}
		if isURL && (v != "" || required) && checkHTTPURL(v) != nil {
			verrs[path] = append(verrs[path], "is not a valid url")
		}
		if required && strings.TrimSpace(v) == "" {
			verrs[path] = append(verrs[path], "must not be blank")
		}
		return v, true
	}
	for _, f := range infobipFields {
		raw, present := m[f.name]
		v, _ := checkString(f.name, raw, present, f.min, f.max, f.required, f.name == "notifyUrl")
		vals[f.name] = v
	}
	out := &infobipSend{from: vals["from"], to: vals["to"], messageID: vals["messageId"], callbackData: vals["callbackData"],
		notifyURL: vals["notifyUrl"], entityID: vals["entityId"], applicationID: vals["applicationId"]}
	rawContent, ok := m["content"]
	if !ok || string(rawContent) == "null" {
		verrs["content"] = append(verrs["content"], "must not be null")
		return out, verrs, true
	}
	var content map[string]json.RawMessage
	if err := json.Unmarshal(rawContent, &content); err != nil {
		verrs["content"] = append(verrs["content"], "must be an object")
		return out, verrs, true
	}
	raw, present := content["mediaUrl"]
	if v, ok := checkString("content.mediaUrl", raw, present, 1, 2048, true, true); ok {
		out.mediaURL = v
	}
	if raw, ok := content["voice"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &out.voice); err != nil {
			verrs["content.voice"] = append(verrs["content.voice"], "must be a boolean")
		}
	}
	if raw, ok := m["context"]; ok && string(raw) != "null" {
		var ctx map[string]json.RawMessage
		if err := json.Unmarshal(raw, &ctx); err != nil {
			verrs["context"] = append(verrs["context"], "must be an object")
		} else if r, ok := ctx["replyToMessageId"]; !ok || string(r) == "null" {
			verrs["context.replyToMessageId"] = append(verrs["context.replyToMessageId"], "must not be null")
		}
	}
	return out, verrs, true
}
