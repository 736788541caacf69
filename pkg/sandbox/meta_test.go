package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/rules"
)

const metaPath = "/{Version}/{Phone-Number-ID}"

func TestMetaUpload(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	vorbis := sample(t, sampleVorbis, "audio/ogg")
	html := sample(t, sampleHTML, "")
	s := start(t, Config{})
	doc := loadMeta(t)
	errSchema := componentSchema(t, doc, "GraphAPIError")
	okSchema := responseSchema(t, doc, metaPath+"/media", http.MethodPost, 200)
	big := make([]byte, rules.AudioMaxBytes+1)
	huge := make([]byte, rules.AudioMaxBytes+3<<20) // more than the sandbox reads of a body

	tests := []struct {
		name    string
		header  map[string]string
		form    form
		status  int
		code    int
		msgHas  string
		created bool
	}{
		{name: "voice note", form: form{product: "whatsapp", typ: "audio/ogg", fileName: "voice.ogg", data: voice}, status: 200, created: true},
		{name: "type from the file part", form: form{product: "whatsapp", fileName: "voice.ogg", partType: "audio/ogg", data: voice}, status: 200, created: true},
		{name: "bad token", header: map[string]string{"Authorization": "Bearer nope"}, form: form{product: "whatsapp", typ: "audio/ogg", fileName: "voice.ogg", data: voice}, status: 401, code: 190},
		{name: "no token", header: map[string]string{"Authorization": ""}, form: form{product: "whatsapp", typ: "audio/ogg", fileName: "voice.ogg", data: voice}, status: 401, code: 190},
		{name: "missing messaging_product", form: form{noProduct: true, typ: "audio/ogg", fileName: "voice.ogg", data: voice}, status: 400, code: 100, msgHas: "messaging_product is required"},
		{name: "wrong messaging_product", form: form{product: "whatsap", typ: "audio/ogg", fileName: "voice.ogg", data: voice}, status: 400, code: 100, msgHas: "must be one of {WHATSAPP}"},
		{name: "missing file", form: form{product: "whatsapp", typ: "audio/ogg", noFile: true}, status: 400, code: 100, msgHas: "file is required"},
		{name: "missing type", form: form{product: "whatsapp", fileName: "voice.ogg", partType: "application/octet-stream", data: voice}, status: 400, code: 100, msgHas: "type is required"},
		{name: "type Meta does not list", form: form{product: "whatsapp", typ: "audio/wav", fileName: "a.wav", data: voice}, status: 400, code: 100, msgHas: "Received file of type 'audio/wav'"},
		{name: "opus is not a Meta type", form: form{product: "whatsapp", typ: "audio/opus", fileName: "voice.ogg", data: voice}, status: 400, code: 100, msgHas: "audio/ogg"},
		{name: "extension does not fit the type", form: form{product: "whatsapp", typ: "audio/ogg", fileName: "voice.mp3", data: voice}, status: 400, code: 131053, msgHas: "classifies uploads by file name"},
		{name: "opus extension", form: form{product: "whatsapp", typ: "audio/ogg", fileName: "voice.opus", data: voice}, status: 400, code: 131053, msgHas: ".opus"},
		{name: "no extension", form: form{product: "whatsapp", typ: "audio/ogg", fileName: "voice", data: voice}, status: 400, code: 131053, msgHas: "no extension"},
		{name: "content is Vorbis, not Opus", form: form{product: "whatsapp", typ: "audio/ogg", fileName: "v.ogg", data: vorbis}, status: 400, code: 131053, msgHas: "vorbis"},
		{name: "content is HTML", form: form{product: "whatsapp", typ: "audio/mpeg", fileName: "a.mp3", data: html}, status: 400, code: 131053, msgHas: "text/html"},
		{name: "empty file", form: form{product: "whatsapp", typ: "audio/ogg", fileName: "v.ogg", data: nil}, status: 400, code: 131053, msgHas: "empty"},
		{name: "over 16 MB", form: form{product: "whatsapp", typ: "audio/ogg", fileName: "big.ogg", data: big}, status: 400, code: 131053, msgHas: fmt.Sprint(rules.AudioMaxBytes)},
		{name: "far over 16 MB", form: form{product: "whatsapp", typ: "audio/ogg", fileName: "big.ogg", data: huge}, status: 400, code: 131053, msgHas: fmt.Sprint(rules.AudioMaxBytes)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{"Authorization": "Bearer sandbox"}
			for k, v := range tc.header {
				h[k] = v
			}
			before := len(s.Media(Meta))
			a := upload(t, s.MetaURL()+"/v23.0/1065403522/media", h, tc.form)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			if tc.created {
				conform(t, okSchema, a.body, false, "upload answer")
				id, _ := a.json["id"].(string)
				if !regexp.MustCompile(`^[0-9]+$`).MatchString(id) {
					t.Fatalf("id %q is not digits", id)
				}
				media := s.Media(Meta)
				if len(media) != before+1 || media[len(media)-1].ID != id {
					t.Fatalf("media not recorded: %+v", media)
				}
				sum := sha256.Sum256(tc.form.data)
				if got := media[len(media)-1]; got.SHA256 != hex.EncodeToString(sum[:]) || got.Bytes != int64(len(tc.form.data)) || got.MIME != "audio/ogg" {
					t.Fatalf("media object %+v", got)
				}
				return
			}
			conform(t, errSchema, a.body, false, "error answer")
			if got := graphCode(a); got != tc.code {
				t.Fatalf("code %d, want %d: %s", got, tc.code, a.body)
			}
			if !strings.Contains(graphMsg(a), tc.msgHas) {
				t.Fatalf("message %q lacks %q", graphMsg(a), tc.msgHas)
			}
			if len(s.Media(Meta)) != before {
				t.Fatal("a refused upload was recorded")
			}
			if a.status == 401 && !strings.Contains(a.header.Get("WWW-Authenticate"), "invalid_token") {
				t.Fatalf("401 without WWW-Authenticate: %v", a.header)
			}
		})
	}

	t.Run("not multipart", func(t *testing.T) {
		a := postJSON(t, s.MetaURL()+"/v23.0/1/media", metaAuth(), `{"messaging_product":"whatsapp","file":"@/x.ogg"}`)
		if a.status != 400 || graphCode(a) != 100 {
			t.Fatalf("%d %s", a.status, a.body)
		}
	})
}

func TestMetaMediaLifecycle(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	s := start(t, Config{})
	doc := loadMeta(t)
	a := upload(t, s.MetaURL()+"/v23.0/42/media", map[string]string{"Authorization": "Bearer sandbox"}, form{product: "whatsapp", typ: "audio/ogg", fileName: "voice.ogg", data: voice})
	if a.status != 200 {
		t.Fatalf("upload: %d %s", a.status, a.body)
	}
	id := a.json["id"].(string)
	info := do(t, http.MethodGet, s.MetaURL()+"/v23.0/"+id, metaAuth(), nil)
	if info.status != 200 {
		t.Fatalf("GET media: %d %s", info.status, info.body)
	}
	conform(t, responseSchema(t, doc, "/{Version}/{Media-ID}", http.MethodGet, 200), info.body, false, "media info")
	sum := sha256.Sum256(voice)
	if info.json["sha256"] != hex.EncodeToString(sum[:]) || info.json["mime_type"] != "audio/ogg" ||
		info.json["file_size"] != fmt.Sprint(len(voice)) || info.json["id"] != id || info.json["messaging_product"] != "whatsapp" {
		t.Fatalf("media info %s", info.body)
	}
	url, _ := info.json["url"].(string)
	if noTok := do(t, http.MethodGet, url, nil, nil); noTok.status != 401 || graphCode(noTok) != 190 {
		t.Fatalf("download without token: %d %s", noTok.status, noTok.body)
	}
	dl := do(t, http.MethodGet, url, map[string]string{"Authorization": "Bearer sandbox"}, nil)
	if dl.status != 200 || !bytes.Equal(dl.body, voice) || dl.header.Get("Content-Type") != "audio/ogg" {
		t.Fatalf("download: %d %q, %d bytes", dl.status, dl.header.Get("Content-Type"), len(dl.body))
	}
	if other := do(t, http.MethodGet, s.MetaURL()+"/v23.0/"+id+"?phone_number_id=7", metaAuth(), nil); other.status != 400 || graphCode(other) != 100 {
		t.Fatalf("other phone number: %d %s", other.status, other.body)
	}
	del := do(t, http.MethodDelete, s.MetaURL()+"/v23.0/"+id, metaAuth(), nil)
	if del.status != 200 || del.json["success"] != true {
		t.Fatalf("delete: %d %s", del.status, del.body)
	}
	conform(t, responseSchema(t, doc, "/{Version}/{Media-ID}", http.MethodDelete, 200), del.body, false, "delete answer")
	gone := do(t, http.MethodGet, s.MetaURL()+"/v23.0/"+id, metaAuth(), nil)
	if gone.status != 400 || graphCode(gone) != 100 {
		t.Fatalf("GET deleted: %d %s", gone.status, gone.body)
	}
	if e, _ := gone.json["error"].(map[string]any); e["error_subcode"] != float64(33) {
		t.Fatalf("want subcode 33: %s", gone.body)
	}
	send := postJSON(t, s.MetaURL()+"/v23.0/42/messages", metaAuth(), map[string]any{
		"messaging_product": "whatsapp", "to": "15551234567", "type": "audio", "audio": map[string]any{"id": id}})
	if send.status != 400 || graphCode(send) != 100 {
		t.Fatalf("send with a deleted id: %d %s", send.status, send.body)
	}
}

func TestMetaSendRefused(t *testing.T) {
	s := start(t, Config{})
	errSchema := componentSchema(t, loadMeta(t), "GraphAPIError")
	audio := func(a map[string]any) map[string]any {
		return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+15551234567", "type": "audio", "audio": a}
	}
	with := func(k string, v any) map[string]any {
		m := audio(map[string]any{"link": s.URL() + "/_sandbox/files/x.ogg"})
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name   string
		header map[string]string
		path   string
		body   any
		status int
		code   int
		msgHas string
	}{
		{name: "not JSON", body: "messaging_product=whatsapp", status: 400, code: 100, msgHas: "messaging_product"},
		{name: "missing messaging_product", body: with("messaging_product", nil), status: 400, code: 100, msgHas: "messaging_product is required"},
		{name: "wrong messaging_product", body: with("messaging_product", "sms"), status: 400, code: 100, msgHas: `got "sms"`},
		{name: "messaging_product not a string", body: with("messaging_product", 1), status: 400, code: 100, msgHas: "must be a string"},
		{name: "bad recipient_type", body: with("recipient_type", "broadcast"), status: 400, code: 100, msgHas: "recipient_type"},
		{name: "missing to", body: with("to", nil), status: 400, code: 100, msgHas: "to is required"},
		{name: "to not a number", body: with("to", "alice"), status: 400, code: 100, msgHas: "phone number"},
		{name: "to too short", body: with("to", "+12"), status: 400, code: 100, msgHas: "phone number"},
		{name: "missing type means text", body: with("type", nil), status: 400, code: 100, msgHas: "text['body']"},
		{name: "type video", body: with("type", "video"), status: 400, code: 131009, msgHas: "audio messages only"},
		{name: "unknown type", body: with("type", "voice"), status: 400, code: 100, msgHas: "Param type"},
		{name: "missing audio", body: with("audio", nil), status: 400, code: 100, msgHas: "audio is required"},
		{name: "audio not an object", body: with("audio", "x"), status: 400, code: 100, msgHas: "JSON object"},
		{name: "both id and link", body: audio(map[string]any{"id": "1", "link": "http://127.0.0.1/x.ogg"}), status: 400, code: 131009, msgHas: "exactly one"},
		{name: "neither id nor link", body: audio(map[string]any{"voice": true}), status: 400, code: 131009, msgHas: "exactly one"},
		{name: "voice not a boolean", body: audio(map[string]any{"id": "1", "voice": "true"}), status: 400, code: 100, msgHas: "boolean"},
		{name: "id not a string", body: audio(map[string]any{"id": 123}), status: 400, code: 100, msgHas: "audio['id']"},
		{name: "caption on audio", body: audio(map[string]any{"id": "1", "caption": "hi"}), status: 400, code: 100, msgHas: "caption"},
		{name: "link not http", body: audio(map[string]any{"link": "ftp://127.0.0.1/x.ogg"}), status: 400, code: 100, msgHas: "valid URL"},
		{name: "link not loopback", body: audio(map[string]any{"link": "https://example.com/x.ogg"}), status: 400, code: 100, msgHas: "loopback"},
		{name: "unknown media id", body: audio(map[string]any{"id": "999"}), status: 400, code: 100, msgHas: "999"},
		{name: "bad token", header: map[string]string{"Authorization": "Bearer wrong"}, body: with("to", "15551234567"), status: 401, code: 190, msgHas: "access token"},
		{name: "basic auth", header: map[string]string{"Authorization": "Basic c2FuZGJveA=="}, body: with("to", "15551234567"), status: 401, code: 190},
		{name: "unknown edge", path: "/v23.0/1/foo", body: with("to", "15551234567"), status: 400, code: 100, msgHas: "Unsupported post request"},
		{name: "bad version", path: "/23/1/messages", body: with("to", "15551234567"), status: 400, code: 100, msgHas: "Unsupported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := metaAuth()
			for k, v := range tc.header {
				h[k] = v
			}
			path := tc.path
			if path == "" {
				path = "/v23.0/1065403522/messages"
			}
			a := postJSON(t, s.MetaURL()+path, h, tc.body)
			if a.status != tc.status || graphCode(a) != tc.code {
				t.Fatalf("got %d/%d, want %d/%d: %s", a.status, graphCode(a), tc.status, tc.code, a.body)
			}
			if !strings.Contains(graphMsg(a), tc.msgHas) {
				t.Fatalf("message %q lacks %q", graphMsg(a), tc.msgHas)
			}
			conform(t, errSchema, a.body, false, "error answer")
			if n := len(s.Messages()); n != 0 {
				t.Fatalf("%d messages recorded for a refused send", n)
			}
		})
	}
}

// sendLink hosts data and sends it by link; it returns the answer.
func sendLink(t *testing.T, s *Server, base, to, name, ctype string, data []byte, voice bool) answer {
	t.Helper()
	link := s.HostFile(name, ctype, data)
	return postJSON(t, base, metaAuth(), map[string]any{
		"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "audio",
		"audio": map[string]any{"link": link, "voice": voice}})
}

func TestMetaSendAccepted(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	s := start(t, Config{})
	doc := loadMeta(t)
	okSchema := responseSchema(t, doc, metaPath+"/messages", http.MethodPost, 200)

	up := upload(t, s.MetaURL()+"/v23.0/1065403522/media", map[string]string{"Authorization": "Bearer sandbox"}, form{product: "whatsapp", typ: "audio/ogg", fileName: "voice.ogg", data: voice})
	id, _ := up.json["id"].(string)
	a := postJSON(t, s.MetaURL()+"/v23.0/1065403522/messages", metaAuth(), map[string]any{
		"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+1 (555) 123-4567", "type": "audio",
		"audio": map[string]any{"id": id, "voice": true}})
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	conform(t, okSchema, a.body, false, "send answer")
	contacts, _ := a.json["contacts"].([]any)
	msgs, _ := a.json["messages"].([]any)
	if len(contacts) != 1 || len(msgs) != 1 || a.json["messaging_product"] != "whatsapp" {
		t.Fatalf("answer %s", a.body)
	}
	c := contacts[0].(map[string]any)
	if c["input"] != "+1 (555) 123-4567" || c["wa_id"] != "15551234567" {
		t.Fatalf("contact %v", c)
	}
	m0 := msgs[0].(map[string]any)
	wid, _ := m0["id"].(string)
	if !strings.HasPrefix(wid, "wamid.") || m0["message_status"] != "accepted" {
		t.Fatalf("message %v", m0)
	}
	m := waitStatuses(t, s, wid, 3)
	if got := statusNames(m.Statuses); got != "sent,delivered,read" {
		t.Fatalf("trail %s (played only when the note is played)", got)
	}
	if err := s.Play(wid); err != nil {
		t.Fatal(err)
	}
	m = waitStatuses(t, s, wid, 4)
	if got := statusNames(m.Statuses); got != "sent,delivered,read,played" {
		t.Fatalf("trail %s", got)
	}
	if m.From != "1065403522" || m.To != "15551234567" || !m.Voice || !m.PlayIcon || m.MIME != "audio/ogg" || m.MediaID != id ||
		m.Bytes != int64(len(voice)) || m.Duration < 1.9 || m.Duration > 2.1 {
		t.Fatalf("message %+v", m)
	}
	// The page's player serves the kept media.
	if got := do(t, http.MethodGet, s.URL()+"/_sandbox/media/"+wid, nil, nil); got.status != 200 || !bytes.Equal(got.body, voice) {
		t.Fatalf("kept media: %d, %d bytes", got.status, len(got.body))
	}

	t.Run("basic audio by link has no played", func(t *testing.T) {
		a := sendLink(t, s, s.MetaURL()+"/v23.0/1065403522/messages", "15557654321", "voice.ogg", "audio/ogg", voice, false)
		if a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		wid := a.json["messages"].([]any)[0].(map[string]any)["id"].(string)
		m := waitStatuses(t, s, wid, 3)
		time.Sleep(30 * time.Millisecond)
		m, _ = s.Message(wid)
		if got := statusNames(m.Statuses); got != "sent,delivered,read" {
			t.Fatalf("trail %s", got)
		}
		if m.PlayIcon || !strings.Contains(m.Note, "microphone") || m.Link == "" {
			t.Fatalf("message %+v", m)
		}
	})
}

func TestMetaAsyncFailures(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	stereo := sample(t, sampleStereo, "audio/ogg")
	wav := sample(t, sampleWAV, "audio/wav")
	s := start(t, Config{OutsideWindow: []string{"+44 7700 900123"}})
	base := s.MetaURL() + "/v23.0/1065403522/messages"
	tests := []struct {
		name, to, file, ctype string
		data                  func(t *testing.T) []byte
		voice                 bool
		code                  int
	}{
		{name: "voice flag on MP3", to: "15550000001", file: "a.mp3", ctype: "audio/mpeg", data: mp3, voice: true, code: 131053},
		{name: "voice flag on stereo Opus", to: "15550000002", file: "s.ogg", ctype: "audio/ogg", data: func(*testing.T) []byte { return stereo }, voice: true, code: 131053},
		{name: "basic stereo Ogg Opus (mono input only)", to: "15550000003", file: "s.ogg", ctype: "audio/ogg", data: func(*testing.T) []byte { return stereo }, code: 131053},
		{name: "WAV", to: "15550000004", file: "a.wav", ctype: "audio/wav", data: func(*testing.T) []byte { return wav }, code: 131053},
		{name: "served as ogg, content MP3", to: "15550000005", file: "a.ogg", ctype: "audio/ogg", data: mp3, code: 131053},
		{name: "served as octet-stream", to: "15550000006", file: "v.ogg", ctype: "application/octet-stream", data: func(*testing.T) []byte { return voice }, code: 131053},
		{name: "outside the 24-hour window", to: "447700900123", file: "v.ogg", ctype: "audio/ogg", data: func(*testing.T) []byte { return voice }, voice: true, code: 131047},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := sendLink(t, s, base, tc.to, tc.file, tc.ctype, tc.data(t), tc.voice)
			if a.status != 200 {
				t.Fatalf("accepted now, fails later — got %d %s", a.status, a.body)
			}
			wid := a.json["messages"].([]any)[0].(map[string]any)["id"].(string)
			m := waitStatuses(t, s, wid, 1)
			if len(m.Statuses) != 1 || m.Statuses[0].Name != StatusFailed || m.Statuses[0].Code != tc.code || m.Failure == "" {
				t.Fatalf("trail %+v (%q), want failed %d with a reason", m.Statuses, m.Failure, tc.code)
			}
		})
	}
	t.Run("link not found", func(t *testing.T) {
		a := postJSON(t, base, metaAuth(), map[string]any{"messaging_product": "whatsapp", "to": "15550000009", "type": "audio",
			"audio": map[string]any{"link": s.URL() + "/_sandbox/files/missing.ogg"}})
		if a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		m := waitStatuses(t, s, a.json["messages"].([]any)[0].(map[string]any)["id"].(string), 1)
		if m.Statuses[0].Name != StatusFailed || m.Statuses[0].Code != 131052 {
			t.Fatalf("trail %+v", m.Statuses)
		}
	})
	// A media id belongs to the phone number it was uploaded through: a
	// send of it from another number is accepted, then fails with 131053
	// (what a queue of two numbers sharing one media cache would meet).
	t.Run("media id of another phone number", func(t *testing.T) {
		up := upload(t, s.MetaURL()+"/v23.0/1065403522/media", metaAuth(), form{product: "whatsapp", typ: "audio/ogg", fileName: "voice.ogg", data: voice})
		if up.status != 200 {
			t.Fatalf("upload: %d %s", up.status, up.body)
		}
		id := up.json["id"].(string)
		a := postJSON(t, s.MetaURL()+"/v23.0/2065403522/messages", metaAuth(), map[string]any{"messaging_product": "whatsapp", "to": "15550000011", "type": "audio",
			"audio": map[string]any{"id": id, "voice": true}})
		if a.status != 200 {
			t.Fatalf("accepted now, fails later — got %d %s", a.status, a.body)
		}
		m := waitStatuses(t, s, a.json["messages"].([]any)[0].(map[string]any)["id"].(string), 1)
		if m.Statuses[0].Name != StatusFailed || m.Statuses[0].Code != 131053 || !strings.Contains(m.Failure, "phone number") {
			t.Fatalf("trail %+v (%q), want failed 131053 naming the phone number", m.Statuses, m.Failure)
		}
		own := postJSON(t, base, metaAuth(), map[string]any{"messaging_product": "whatsapp", "to": "15550000012", "type": "audio",
			"audio": map[string]any{"id": id, "voice": true}})
		if own.status != 200 {
			t.Fatalf("%d %s", own.status, own.body)
		}
		if m := waitStatuses(t, s, own.json["messages"].([]any)[0].(map[string]any)["id"].(string), 3); statusNames(m.Statuses) != "sent,delivered,read" {
			t.Fatalf("from its own number: %+v", m.Statuses)
		}
	})
	t.Run("link on another loopback server", func(t *testing.T) {
		host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "audio/ogg")
			_, _ = w.Write(voice)
		}))
		defer host.Close()
		a := postJSON(t, base, metaAuth(), map[string]any{"messaging_product": "whatsapp", "to": "15550000010", "type": "audio",
			"audio": map[string]any{"link": host.URL + "/v.ogg", "voice": true}})
		if a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		m := waitStatuses(t, s, a.json["messages"].([]any)[0].(map[string]any)["id"].(string), 3)
		if statusNames(m.Statuses) != "sent,delivered,read" || !m.PlayIcon || m.Bytes != int64(len(voice)) {
			t.Fatalf("message %+v", m)
		}
	})
}

func TestMetaVoiceOverBudget(t *testing.T) {
	data, err := bigVoice()
	if err != nil {
		testdeps.Missing(t, "cannot make a large voice note (ffmpeg with libopus: make deps): %v", err)
	}
	if int64(len(data)) <= rules.VoiceMaxBytes {
		t.Fatalf("generated voice note is only %d bytes", len(data))
	}
	s := start(t, Config{})
	a := sendLink(t, s, s.MetaURL()+"/v23.0/1/messages", "15550000011", "big.ogg", "audio/ogg", data, true)
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	m := waitStatuses(t, s, a.json["messages"].([]any)[0].(map[string]any)["id"].(string), 3)
	if m.Statuses[1].Name != StatusDelivered || m.PlayIcon || !strings.Contains(m.Note, "download icon") {
		t.Fatalf("message %+v", m)
	}
}

func TestMetaThroughputAndPairRate(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	errSchema := componentSchema(t, loadMeta(t), "GraphAPIError")

	t.Run("throughput is HTTP 400 code 130429", func(t *testing.T) {
		s := start(t, Config{MessagesPerSecond: 1})
		first := sendLink(t, s, s.MetaURL()+"/v23.0/111/messages", "15550000001", "v.ogg", "audio/ogg", voice, true)
		second := sendLink(t, s, s.MetaURL()+"/v23.0/111/messages", "15550000002", "v.ogg", "audio/ogg", voice, true)
		other := sendLink(t, s, s.MetaURL()+"/v23.0/222/messages", "15550000002", "v.ogg", "audio/ogg", voice, true)
		if first.status != 200 || other.status != 200 {
			t.Fatalf("first %d, other sender %d", first.status, other.status)
		}
		if second.status != 400 || graphCode(second) != 130429 {
			t.Fatalf("second: %d %s", second.status, second.body)
		}
		conform(t, errSchema, second.body, false, "130429")
	})
	t.Run("pair rate is HTTP 400 code 131056", func(t *testing.T) {
		s := start(t, Config{PairInterval: time.Hour})
		first := sendLink(t, s, s.MetaURL()+"/v23.0/111/messages", "15550000001", "v.ogg", "audio/ogg", voice, true)
		again := sendLink(t, s, s.MetaURL()+"/v23.0/111/messages", "+1 555 000 0001", "v.ogg", "audio/ogg", voice, true)
		other := sendLink(t, s, s.MetaURL()+"/v23.0/111/messages", "15550000002", "v.ogg", "audio/ogg", voice, true)
		if first.status != 200 || other.status != 200 {
			t.Fatalf("first %d, other recipient %d", first.status, other.status)
		}
		if again.status != 400 || graphCode(again) != 131056 {
			t.Fatalf("again: %d %s", again.status, again.body)
		}
		if len(s.Messages()) != 2 {
			t.Fatalf("%d messages recorded", len(s.Messages()))
		}
	})
	t.Run("a refused send does not start the pair interval", func(t *testing.T) {
		s := start(t, Config{PairInterval: time.Hour})
		refused := postJSON(t, s.MetaURL()+"/v23.0/111/messages", metaAuth(), map[string]any{
			"messaging_product": "whatsapp", "to": "15550000001", "type": "audio", "audio": map[string]any{"id": "1234567890123456"}})
		if refused.status != 400 || graphCode(refused) != 100 {
			t.Fatalf("unknown media id: %d %s", refused.status, refused.body)
		}
		ok := sendLink(t, s, s.MetaURL()+"/v23.0/111/messages", "15550000001", "v.ogg", "audio/ogg", voice, true)
		if ok.status != 200 {
			t.Fatalf("first message sent after a refused one: %d %s", ok.status, ok.body)
		}
	})
}

func TestD360(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	s := start(t, Config{D360Key: "k-360"})
	doc := loadMeta(t)
	key := map[string]string{"D360-API-KEY": "k-360", "Content-Type": "application/json"}

	for _, tc := range []struct {
		name   string
		header map[string]string
		msgHas string
	}{
		{"missing key", map[string]string{"Content-Type": "application/json"}, "missing"},
		{"wrong key", map[string]string{"D360-API-KEY": "nope"}, "Invalid api key"},
		{"Meta's bearer is not 360dialog's key", map[string]string{"Authorization": "Bearer k-360"}, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := postJSON(t, s.D360URL()+"/messages", tc.header, `{}`)
			meta, _ := a.json["meta"].(map[string]any)
			if a.status != 401 || meta["success"] != false || meta["http_code"] != float64(401) || !strings.Contains(fmt.Sprint(meta["developer_message"]), tc.msgHas) {
				t.Fatalf("%d %s", a.status, a.body)
			}
		})
	}
	up := upload(t, s.D360URL()+"/media", map[string]string{"D360-API-KEY": "k-360"}, form{product: "whatsapp", typ: "audio/ogg", fileName: "v.ogg", data: voice})
	if up.status != 200 {
		t.Fatalf("upload %d %s", up.status, up.body)
	}
	id := up.json["id"].(string)
	if len(s.Media(D360)) != 1 || len(s.Media(Meta)) != 0 {
		t.Fatal("360dialog media must be kept apart from Meta's")
	}
	info := do(t, http.MethodGet, s.D360URL()+"/"+id, key, nil)
	if info.status != 200 {
		t.Fatalf("media info %d %s", info.status, info.body)
	}
	if dl := do(t, http.MethodGet, info.json["url"].(string), key, nil); dl.status != 200 || !bytes.Equal(dl.body, voice) {
		t.Fatalf("download %d", dl.status)
	}
	bad := postJSON(t, s.D360URL()+"/messages", key, map[string]any{"messaging_product": "whatsapp", "to": "15550000001", "audio": map[string]any{"id": id}})
	if bad.status != 400 || graphCode(bad) != 100 {
		t.Fatalf("Graph errors pass through: %d %s", bad.status, bad.body)
	}
	conform(t, componentSchema(t, doc, "GraphAPIError"), bad.body, false, "360dialog error")
	a := postJSON(t, s.D360URL()+"/messages", key, map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual",
		"to": "15550000001", "type": "audio", "audio": map[string]any{"id": id, "voice": true}})
	if a.status != 200 {
		t.Fatalf("send %d %s", a.status, a.body)
	}
	conform(t, responseSchema(t, doc, metaPath+"/messages", http.MethodPost, 200), a.body, false, "360dialog send answer")
	m := waitStatuses(t, s, a.json["messages"].([]any)[0].(map[string]any)["id"].(string), 3)
	if m.Provider != D360 || statusNames(m.Statuses) != "sent,delivered,read" {
		t.Fatalf("message %+v", m)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{MessagesPerSecond: -1},
		{PairInterval: -time.Second},
		{WebhookURL: "not a url"},
		{Faults: map[Provider]Faults{Meta: {ErrorRate: 1.5}}},
		{Faults: map[Provider]Faults{Infobip: {ErrorRate: 0.6, DropRate: 0.6}}},
		{Delivery: Delivery{DuplicateRate: 2}},
		{Delivery: Delivery{SkipDeliveredRate: 0.6, ReadBeforeDeliveredRate: 0.6}},
		{Delivery: Delivery{Batch: 1001}},
		{Recipients: map[string]Recipient{"15550000001": {Order: "sideways"}}},
		{D360WebhookURL: "ftp://x"},
	} {
		s, err := New(cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			if s != nil {
				s.Close()
			}
			t.Errorf("New(%+v) = %v, want a *ConfigError", cfg, err)
		}
	}
}

func TestNewWithHTTPTest(t *testing.T) {
	voice := sample(t, sampleVoice, "audio/ogg")
	s, err := New(Config{StatusDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	s.SetURL(ts.URL + "/")
	if s.URL() != ts.URL || s.MetaURL() != ts.URL+"/meta" {
		t.Fatalf("URL %q", s.URL())
	}
	a := sendLink(t, s, s.MetaURL()+"/v23.0/1/messages", "15550000001", "v.ogg", "audio/ogg", voice, true)
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if m := waitStatuses(t, s, a.json["messages"].([]any)[0].(map[string]any)["id"].(string), 3); !m.PlayIcon {
		t.Fatalf("message %+v", m)
	}
}
