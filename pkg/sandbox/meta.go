package sandbox

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
	"golang.org/x/time/rate"
)

// d360PhoneID stands for the business phone number behind the sandbox's
// 360dialog API key (360dialog's URLs carry no phone-number id).
const d360PhoneID = "360000000000001"

// displayPhone is the business display number put in webhook metadata.
const displayPhone = "15550000000"

// wabaID is the WhatsApp Business Account id put in webhook entries.
const wabaID = "100000000000000"

var versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)

// handleMeta serves Meta's Cloud API under /meta (Meta's Business
// Messaging OpenAPI v23.0, https://github.com/facebook/openapi, paths
// /{Version}/{Phone-Number-ID}/messages, /{Version}/{Phone-Number-ID}/media,
// /{Version}/{Media-ID}; the download URL is the sandbox's own).
func (s *Server) handleMeta(c *call) {
	if !s.metaAuthorized(c.r) {
		writeGraph(c.w, graphError{status: http.StatusUnauthorized, code: 190})
		return
	}
	segs := splitPath(strings.TrimPrefix(c.r.URL.Path, "/meta"))
	switch {
	case len(segs) == 2 && segs[0] == "download":
		s.mediaDownload(c, segs[1])
	case len(segs) == 3 && versionRE.MatchString(segs[0]) && segs[2] == "messages" && c.r.Method == http.MethodPost:
		s.sendGraph(c, segs[1])
	case len(segs) == 3 && versionRE.MatchString(segs[0]) && segs[2] == "media" && c.r.Method == http.MethodPost:
		s.uploadGraph(c, segs[1])
	case len(segs) == 2 && versionRE.MatchString(segs[0]) && (c.r.Method == http.MethodGet || c.r.Method == http.MethodDelete):
		s.mediaInfo(c, segs[1], "/meta/download/")
	default:
		unsupported(c, segs)
	}
}

// handleD360 serves 360dialog's Cloud API proxy under /360dialog: the same
// bodies and answers as Meta (360dialog's "Audio",
// https://docs.360dialog.com/docs/messaging/message-types/audio),
// authenticated with D360-API-KEY.
func (s *Server) handleD360(c *call) {
	key := c.r.Header.Get("D360-API-KEY")
	if key == "" {
		write360Auth(c.w, "D360-API-KEY header is missing")
		return
	}
	if subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.D360Key)) != 1 {
		write360Auth(c.w, "Invalid api key")
		return
	}
	segs := splitPath(strings.TrimPrefix(c.r.URL.Path, "/360dialog"))
	switch {
	case len(segs) == 2 && segs[0] == "download":
		s.mediaDownload(c, segs[1])
	case len(segs) == 1 && segs[0] == "messages" && c.r.Method == http.MethodPost:
		s.sendGraph(c, d360PhoneID)
	case len(segs) == 3 && segs[0] == "v1" && segs[1] == "configs" && segs[2] == "webhook":
		s.d360Config(c)
	case len(segs) == 1 && segs[0] == "media" && c.r.Method == http.MethodPost:
		s.uploadGraph(c, d360PhoneID)
	case len(segs) == 1 && segs[0] != "messages" && segs[0] != "media" && (c.r.Method == http.MethodGet || c.r.Method == http.MethodDelete):
		s.mediaInfo(c, segs[0], "/360dialog/download/")
	default:
		unsupported(c, segs)
	}
}

func (s *Server) metaAuthorized(r *http.Request) bool {
	tok := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		tok = strings.TrimSpace(rest)
	} else {
		// Graph also takes the token as the access_token query parameter.
		tok = r.URL.Query().Get("access_token")
	}
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.MetaToken)) == 1
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// unsupported is Graph's answer to a path or method it does not serve
// (code 100, subcode 33).
func unsupported(c *call, segs []string) {
	obj := ""
	if len(segs) > 1 {
		obj = segs[1]
	} else if len(segs) == 1 {
		obj = segs[0]
	}
	writeGraph(c.w, graphError{code: 100, subcode: 33, message: fmt.Sprintf(
		"Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation",
		strings.ToLower(c.r.Method), obj)})
}

// param returns a graph 100 error for a missing parameter.
func missingParam(name string) graphError {
	return graphError{code: 100, message: "The parameter " + name + " is required."}
}

// uploadGraph is POST …/media: multipart with messaging_product, type and
// file (Meta "Upload media"; the table of types of Meta's "Audio messages",
// https://developers.facebook.com/docs/whatsapp/cloud-api/messages/audio-messages).
func (s *Server) uploadGraph(c *call, phoneID string) {
	if c.tooBig {
		writeGraph(c.w, graphError{code: 131053, details: fmt.Sprintf("The uploaded file is over the maximum size of %d bytes for audio.", rules.AudioMaxBytes)})
		return
	}
	form, err := parseUpload(c)
	if err != nil {
		writeGraph(c.w, graphError{code: 100, details: err.Error()})
		return
	}
	c.summary = form.summary()
	if form.product == "" {
		writeGraph(c.w, missingParam("messaging_product"))
		return
	}
	if !strings.EqualFold(form.product, "whatsapp") {
		writeGraph(c.w, graphError{code: 100, message: fmt.Sprintf("Param messaging_product must be one of {WHATSAPP} - got %q.", form.product)})
		return
	}
	if !form.hasFile {
		writeGraph(c.w, missingParam("file"))
		return
	}
	declared := form.typ
	if declared == "" {
		declared = form.partType
	}
	if declared == "" {
		writeGraph(c.w, missingParam("type"))
		return
	}
	t, ok := rules.ByMIME(declared)
	if !ok || !strings.EqualFold(mimeBase(declared), t.MIME) {
		writeGraph(c.w, graphError{code: 100, message: fmt.Sprintf(
			"Param file must be a file with one of the following types: %s. Received file of type '%s'.",
			strings.Join(rules.MIMEs(), ", "), mimeBase(declared))})
		return
	}
	if int64(len(form.data)) > t.MaxBytes {
		writeGraph(c.w, graphError{code: 131053, details: fmt.Sprintf("The uploaded file is %d bytes, over the maximum size of %d bytes for %s.", len(form.data), t.MaxBytes, t.MIME)})
		return
	}
	if len(form.data) == 0 {
		writeGraph(c.w, graphError{code: 131053, details: "The uploaded file is empty."})
		return
	}
	// Meta classifies uploads by file name: the extension must fit the type.
	ext := strings.ToLower(filepath.Ext(form.fileName))
	if et, ok := rules.ByExt(ext); !ok || et.MIME != t.MIME {
		got := ext
		if got == "" {
			got = "no extension"
		}
		writeGraph(c.w, graphError{code: 131053, details: fmt.Sprintf(
			"The file name %q (%s) does not fit the type %s: Meta classifies uploads by file name, so name it *%s.", form.fileName, got, t.MIME, t.Ext)})
		return
	}
	rep, ierr := inspectBytes(c.r.Context(), form.data, form.fileName)
	if rt, ok := rep.Type(); ierr != nil || !ok || rt.MIME != t.MIME || rep.HasVideo {
		writeGraph(c.w, graphError{code: 131053, details: fmt.Sprintf(
			"The file's content is %s, not %s: the declared type must be what the bytes are.", describe(rep), t.MIME)})
		return
	}
	id := mediaID()
	file, err := s.keep(c.p, id, t.Ext, form.data)
	if err != nil {
		writeGraph(c.w, graphError{status: http.StatusInternalServerError, code: 131000, details: "sandbox: could not keep the media"})
		return
	}
	sum := sha256.Sum256(form.data)
	mo := &MediaObject{ID: id, MIME: t.MIME, SHA256: hex.EncodeToString(sum[:]), FileName: form.fileName, Bytes: int64(len(form.data)), file: file, phoneID: phoneID}
	s.mu.Lock()
	s.media[c.p] = append(s.media[c.p], mo)
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, map[string]any{"id": id})
}

// describe names what inspect found, for error details.
func describe(rep *inspect.Report) string {
	if rep == nil {
		return "unreadable"
	}
	if rep.Codec != "" {
		ch := ""
		if rep.Channels > 0 {
			ch = fmt.Sprintf(", %d channel(s)", rep.Channels)
		}
		return fmt.Sprintf("%s (%s in %s%s)", rep.MIME, rep.Codec, rep.Container, ch)
	}
	if rep.MIME != "" {
		return rep.MIME
	}
	return "not audio"
}

func mimeBase(m string) string {
	m = strings.ToLower(strings.TrimSpace(m))
	if i := strings.IndexByte(m, ';'); i >= 0 {
		m = strings.TrimSpace(m[:i])
	}
	return m
}

type uploadForm struct {
	product, typ       string
	hasFile            bool
	fileName, partType string
	data               []byte
}

func (f *uploadForm) summary() []byte {
	b, _ := json.Marshal(map[string]any{
		"multipart":         true,
		"messaging_product": f.product,
		"type":              f.typ,
		"file":              map[string]any{"filename": f.fileName, "content_type": f.partType, "bytes": len(f.data)},
	})
	return b
}

// parseUpload reads the multipart form of a media upload. Field values
// other than the file are bounded.
func parseUpload(c *call) (*uploadForm, error) {
	ct, params, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(ct, "multipart/") || params["boundary"] == "" {
		return nil, fmt.Errorf("media uploads are multipart/form-data with the fields messaging_product, type and file")
	}
	mr := multipart.NewReader(bytes.NewReader(c.body), params["boundary"])
	f := &uploadForm{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the multipart body is malformed")
		}
		switch part.FormName() {
		case "messaging_product":
			f.product = strings.TrimSpace(string(readSmall(part)))
		case "type":
			f.typ = strings.TrimSpace(string(readSmall(part)))
		case "file":
			data, err := io.ReadAll(part)
			if err != nil {
				return nil, fmt.Errorf("the multipart body is malformed")
			}
			f.hasFile, f.fileName, f.data = true, part.FileName(), data
			if pt := part.Header.Get("Content-Type"); pt != "" && mimeBase(pt) != "application/octet-stream" {
				f.partType = pt
			}
		default:
			_, _ = io.Copy(io.Discard, part)
		}
		part.Close()
	}
	return f, nil
}

func readSmall(r io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, 4096))
	return b
}

// mediaInfo is GET/DELETE /{version}/{media-id} (retrieveMediaUrl and
// deleteMedia in Meta's spec).
func (s *Server) mediaInfo(c *call, id, downloadPrefix string) {
	s.mu.Lock()
	var mo *MediaObject
	for _, m := range s.media[c.p] {
		if m.ID == id && !m.deleted {
			mo = m
		}
	}
	if mo != nil && c.r.URL.Query().Get("phone_number_id") != "" && c.r.URL.Query().Get("phone_number_id") != mo.phoneID {
		mo = nil
	}
	if mo != nil && c.r.Method == http.MethodDelete {
		mo.deleted = true
	}
	var cp MediaObject
	if mo != nil {
		cp = *mo
	}
	base := s.baseURL
	s.mu.Unlock()
	if mo == nil {
		unsupported(c, []string{"", id})
		return
	}
	if c.r.Method == http.MethodDelete {
		writeJSON(c.w, http.StatusOK, map[string]any{"success": true})
		return
	}
	// file_size is a string in Meta's v23.0 spec (example '303833').
	writeJSON(c.w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"url":               base + downloadPrefix + cp.ID,
		"mime_type":         cp.MIME,
		"sha256":            cp.SHA256,
		"file_size":         fmt.Sprint(cp.Bytes),
		"id":                cp.ID,
	})
}

// mediaDownload serves the bytes of an uploaded media object; the caller
// is already authenticated (Meta: "you must include an access token").
func (s *Server) mediaDownload(c *call, id string) {
	if c.r.Method != http.MethodGet && c.r.Method != http.MethodHead {
		unsupported(c, []string{"", id})
		return
	}
	s.mu.Lock()
	var mo *MediaObject
	for _, m := range s.media[c.p] {
		if m.ID == id && !m.deleted {
			mo = m
		}
	}
	var file, mimeType string
	if mo != nil {
		file, mimeType = mo.file, mo.MIME
	}
	s.mu.Unlock()
	if mo == nil {
		writeGraph(c.w, graphError{status: http.StatusNotFound, code: 100, subcode: 33, details: "sandbox: no such media"})
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		writeGraph(c.w, graphError{status: http.StatusNotFound, code: 100, subcode: 33, details: "sandbox: media no longer kept"})
		return
	}
	c.w.Header().Set("Content-Type", mimeType)
	c.w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	c.w.WriteHeader(http.StatusOK)
	if c.r.Method == http.MethodGet {
		_, _ = c.w.Write(data)
	}
}

// graphSend is the parsed body of POST …/messages.
type graphSend struct {
	to       string
	mediaID  string
	link     string
	voice    bool
	callback string // biz_opaque_callback_data
}

// maxCallbackData is the most characters of biz_opaque_callback_data
// (Meta, "Send messages": "Maximum 512 characters").
const maxCallbackData = 512

// parseGraphSend validates a send body the way the Cloud API does (the
// request syntax of Meta's "Audio messages",
// https://developers.facebook.com/docs/whatsapp/cloud-api/messages/audio-messages;
// OpenAPI components/schemas/AudioMessage). The official v23.0 schema lacks
// audio.voice, which Meta's and 360dialog's docs ("Audio",
// https://docs.360dialog.com/docs/messaging/message-types/audio) describe;
// the sandbox accepts it as an optional boolean.
func parseGraphSend(body []byte) (*graphSend, *graphError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		// Graph reads parameters from the body; nothing readable means the
		// first required one is missing.
		e := missingParam("messaging_product")
		return nil, &e
	}
	out, gerr := parseGraphEnvelope(m)
	if gerr != nil {
		return nil, gerr
	}
	if gerr := parseGraphAudio(m["audio"], out); gerr != nil {
		return nil, gerr
	}
	return out, nil
}

// graphString reads the string parameter key of m: ok is false when it is
// absent or null; a non-string is Graph's code 100.
func graphString(m map[string]json.RawMessage, key string) (v string, ok bool, gerr *graphError) {
	raw, ok := m[key]
	if !ok || string(raw) == "null" {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", true, &graphError{code: 100, message: fmt.Sprintf("Param %s must be a string.", key)}
	}
	return v, true, nil
}

// parseGraphEnvelope checks the message's own parameters —
// messaging_product, recipient_type, to, type (audio only) and
// biz_opaque_callback_data — in the order Graph reports them.
func parseGraphEnvelope(m map[string]json.RawMessage) (*graphSend, *graphError) {
	product, ok, gerr := graphString(m, "messaging_product")
	if gerr != nil {
		return nil, gerr
	}
	if !ok || product == "" {
		e := missingParam("messaging_product")
		return nil, &e
	}
	if !strings.EqualFold(product, "whatsapp") {
		return nil, &graphError{code: 100, message: fmt.Sprintf("Param messaging_product must be one of {WHATSAPP} - got %q.", product)}
	}
	rt, ok, gerr := graphString(m, "recipient_type")
	if gerr != nil {
		return nil, gerr
	}
	if ok && rt != "individual" {
		if rt == "group" {
			return nil, &graphError{code: 131009, details: "recipient_type group: the sandbox handles messages to individuals only."}
		}
		return nil, &graphError{code: 100, message: fmt.Sprintf("Param recipient_type must be one of {INDIVIDUAL, GROUP} - got %q.", rt)}
	}
	to, ok, gerr := graphString(m, "to")
	if gerr != nil {
		return nil, gerr
	}
	if !ok || to == "" {
		e := missingParam("to")
		return nil, &e
	}
	if !validPhone(to) {
		return nil, &graphError{code: 100, details: fmt.Sprintf("Invalid WhatsApp user phone number %q: use the international format, digits only or with a leading +.", to)}
	}
	typ, _, gerr := graphString(m, "type")
	if gerr != nil {
		return nil, gerr
	}
	switch typ {
	case "":
		// type defaults to text on the Cloud API.
		e := missingParam("text['body']")
		return nil, &e
	case "audio":
	case "text", "image", "video", "document", "sticker", "location", "contacts", "interactive", "template", "reaction":
		return nil, &graphError{code: 131009, details: fmt.Sprintf("type %s: the sandbox handles audio messages only.", typ)}
	default:
		return nil, &graphError{code: 100, message: fmt.Sprintf("Param type must be one of {AUDIO, CONTACTS, DOCUMENT, IMAGE, INTERACTIVE, LOCATION, REACTION, STICKER, TEMPLATE, TEXT, VIDEO} - got %q.", typ)}
	}
	// biz_opaque_callback_data: Meta's messages docs describe it (echoed
	// in the message's status webhooks); the v23.0 OpenAPI lists it only
	// for calls.
	cb, _, gerr := graphString(m, "biz_opaque_callback_data")
	if gerr != nil {
		return nil, gerr
	}
	if n := len([]rune(cb)); n > maxCallbackData {
		return nil, &graphError{code: 100, message: fmt.Sprintf("Param biz_opaque_callback_data must be at most %d characters long.", maxCallbackData)}
	}
	return &graphSend{to: to, callback: cb}, nil
}

// parseGraphAudio reads the audio object (rawAudio, nil when absent) into
// out: exactly one of id or link, and the optional voice flag.
func parseGraphAudio(rawAudio json.RawMessage, out *graphSend) *graphError {
	if rawAudio == nil || string(rawAudio) == "null" {
		e := missingParam("audio")
		return &e
	}
	var audio map[string]json.RawMessage
	if err := json.Unmarshal(rawAudio, &audio); err != nil {
		return &graphError{code: 100, message: "Param audio must be a JSON object."}
	}
	for key, raw := range audio {
		switch key {
		case "id", "link":
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return &graphError{code: 100, message: fmt.Sprintf("Param audio['%s'] must be a string.", key)}
			}
			if key == "id" {
				out.mediaID = v
			} else {
				out.link = v
			}
		case "voice":
			var v bool
			if err := json.Unmarshal(raw, &v); err != nil {
				return &graphError{code: 100, message: "Param audio['voice'] must be a boolean."}
			}
			out.voice = v
		default:
			return &graphError{code: 100, message: fmt.Sprintf("Param audio['%s'] is not a valid parameter.", key)}
		}
	}
	if (out.mediaID == "") == (out.link == "") {
		return &graphError{code: 131009, details: "audio: provide exactly one of id (an uploaded media id) or link (an http(s) URL)."}
	}
	if out.link != "" && checkHTTPURL(out.link) != nil {
		return &graphError{code: 100, message: "Param audio['link'] must be a valid URL."}
	}
	return nil
}

// validPhone accepts international numbers: an optional +, then 7 to 15
// digits, spaces, dashes and parentheses allowed between them.
func validPhone(s string) bool {
	n := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			n++
		case r == '+' && i == 0:
		case r == ' ' || r == '-' || r == '(' || r == ')':
		default:
			return false
		}
	}
	return n >= 7 && n <= 15
}

// limit applies the per-sender throughput limit; false means over it.
func (s *Server) limit(key string) bool {
	if s.cfg.MessagesPerSecond <= 0 {
		return true
	}
	s.mu.Lock()
	l, ok := s.limiters[key]
	if !ok {
		burst := max(1, int(s.cfg.MessagesPerSecond))
		l = rate.NewLimiter(rate.Limit(s.cfg.MessagesPerSecond), burst)
		s.limiters[key] = l
	}
	s.mu.Unlock()
	return l.Allow()
}

// pairOK applies the per-recipient pair interval (131056).
func (s *Server) pairOK(key string) bool {
	if s.cfg.PairInterval <= 0 {
		return true
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.lastPair[key]; ok && now.Sub(last) < s.cfg.PairInterval {
		return false
	}
	s.lastPair[key] = now
	return true
}

// sendGraph is POST …/messages for Meta and 360dialog.
func (s *Server) sendGraph(c *call, phoneID string) {
	req, gerr := parseGraphSend(c.body)
	if gerr != nil {
		writeGraph(c.w, *gerr)
		return
	}
	if !s.limit(string(c.p) + ":" + phoneID) {
		writeGraph(c.w, graphError{code: 130429})
		return
	}
	// An unknown media id is refused before the pair interval starts: a
	// refused request sends nothing to the recipient.
	var mo *MediaObject
	if req.mediaID != "" {
		s.mu.Lock()
		for _, x := range s.media[c.p] {
			if x.ID == req.mediaID && !x.deleted {
				mo = x
			}
		}
		s.mu.Unlock()
		if mo == nil {
			writeGraph(c.w, graphError{code: 100, details: fmt.Sprintf("audio.id %s is not a media id uploaded to this %s account (or it was deleted).", req.mediaID, c.p)})
			return
		}
	}
	toDigits := digits(req.to)
	if !s.pairOK(string(c.p) + ":" + phoneID + ":" + toDigits) {
		writeGraph(c.w, graphError{code: 131056})
		return
	}
	m := &Message{Provider: c.p, ID: wamid(), From: phoneID, To: toDigits, Voice: req.voice, MediaID: req.mediaID, Link: req.link, Callback: req.callback, Time: time.Now()}
	var data []byte
	fail, details, served := 0, "", ""
	if mo != nil && mo.phoneID != phoneID {
		// A media id belongs to the phone number it was uploaded through
		// (Meta: "Upload media", https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media/
		// — media is uploaded to, and retrieved through, one business phone
		// number); another number's send is accepted and fails afterwards.
		fail, details = 131053, fmt.Sprintf("Media upload error: media id %s was uploaded through phone number %s, not %s.", req.mediaID, mo.phoneID, phoneID)
	} else if mo != nil {
		b, err := os.ReadFile(mo.file)
		if err != nil {
			writeGraph(c.w, graphError{status: http.StatusInternalServerError, code: 131000, details: "sandbox: media no longer kept"})
			return
		}
		data, m.FileName = b, mo.FileName
	} else {
		b, ctype, err := s.fetch(c.r.Context(), req.link, c.r.Host)
		switch {
		case err == errNotLoopback:
			writeGraph(c.w, graphError{code: 100, message: "Param audio['link'] must be a valid URL.", details: "sandbox: " + err.Error()})
			return
		case err == errTooLarge:
			fail, details = 131053, fmt.Sprintf("The media at the link is over the maximum size of %d bytes.", rules.AudioMaxBytes)
		case err != nil:
			fail, details = 131052, "Downloading the media from the link failed: "+err.Error()+"."
		default:
			data = b
			m.FileName = cleanFileName(filepath.Base(strings.SplitN(req.link, "?", 2)[0]))
			if t, ok := rules.ByMIME(ctype); ok && strings.EqualFold(mimeBase(ctype), t.MIME) {
				served = t.MIME
			} else {
				fail, details = 131053, fmt.Sprintf("The link is served as %q, which is not one of %s.", mimeBase(ctype), strings.Join(rules.MIMEs(), ", "))
			}
		}
	}
	var rep *inspect.Report
	if data != nil {
		rep, _ = inspectBytes(c.r.Context(), data, m.FileName)
		m.Bytes = int64(len(data))
		m.MIME, m.Codec, m.Channels, m.Duration = rep.MIME, rep.Codec, rep.Channels, rep.Duration
		if fail == 0 {
			fail, details = judgeMedia(rep, served, req.voice)
		}
	}
	if fail == 0 && s.outside[toDigits] {
		fail, details = 131047, ""
	}
	s.classify(m, rep, fail)
	if data != nil {
		if f, err := s.keep(c.p, m.ID, extFor(rep), data); err == nil {
			m.file = f
		}
	}
	s.addMessage(m)
	writeJSON(c.w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]any{{"input": req.to, "wa_id": toDigits}},
		"messages":          []map[string]any{{"id": m.ID, "message_status": "accepted"}},
	})
	s.progress(m, fail, details)
}

// judgeMedia decides whether media that was accepted for sending fails
// afterwards (Meta reports these in a "failed" status webhook, code 131053).
// served is the Content-Type a link was served with ("" for uploads,
// which were checked at upload).
func judgeMedia(rep *inspect.Report, served string, voice bool) (int, string) {
	t, ok := rep.Type()
	if !ok || rep.HasVideo {
		return 131053, fmt.Sprintf("The media is %s, which WhatsApp does not accept as audio (%s).", describe(rep), strings.Join(rules.MIMEs(), ", "))
	}
	if served != "" && served != t.MIME {
		return 131053, fmt.Sprintf("The link is served as %s but the content is %s: the MIME type must match the file.", served, t.MIME)
	}
	if !rep.AudioReady {
		return 131053, fmt.Sprintf("The media cannot be sent as audio: %s.", problemList(rep))
	}
	if voice && !isVoiceNote(rep) {
		return 131053, fmt.Sprintf("A voice message needs mono Ogg Opus; this is %s.", describe(rep))
	}
	return 0, ""
}

func problemList(rep *inspect.Report) string {
	var out []string
	for _, p := range rep.Problems {
		if p.Code == inspect.CodeTooLargeForVoice || p.Code == inspect.CodeExtMismatch {
			continue
		}
		out = append(out, p.Message)
	}
	if len(out) == 0 {
		return describe(rep)
	}
	return strings.Join(out, "; ")
}

func extFor(rep *inspect.Report) string {
	if rep != nil && rep.Ext != "" {
		return rep.Ext
	}
	return ".bin"
}

// classify sets how the recipient's phone shows the message (360dialog's
// "Audio", https://docs.360dialog.com/docs/messaging/message-types/audio):
// a voice note with a play icon only when it is mono Ogg Opus of at most
// rules.VoiceMaxBytes; otherwise a download icon.
func (s *Server) classify(m *Message, rep *inspect.Report, fail int) {
	if fail != 0 || rep == nil {
		return
	}
	switch {
	case m.Voice && m.Bytes > rules.VoiceMaxBytes:
		m.Note = fmt.Sprintf("voice note of %d bytes is over %d bytes: WhatsApp shows a download icon instead of a play button", m.Bytes, rules.VoiceMaxBytes)
	case m.Voice:
		m.PlayIcon = true
	case isVoiceNote(rep):
		m.Note = "Ogg Opus sent as basic audio: shown with a microphone icon and a download icon, not as a voice note"
	}
}

func (s *Server) addMessage(m *Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
}
