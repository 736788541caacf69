package sandbox

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzParseGraphSend: any body either parses into exactly one media
// reference and a valid recipient, or is refused with a Graph error —
// never a panic.
func FuzzParseGraphSend(f *testing.F) {
	for _, seed := range []string{
		`{"messaging_product":"whatsapp","recipient_type":"individual","to":"+15551234567","type":"audio","audio":{"id":"1","voice":true}}`,
		`{"messaging_product":"whatsapp","to":"1555","type":"audio","audio":{"link":"http://127.0.0.1/x.ogg"}}`,
		`{"audio":{"id":"1","link":"x"}}`, `[]`, `null`, `{"messaging_product":1}`, `{"messaging_product":"whatsapp","to":"15551234567","type":"audio","audio":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, gerr := parseGraphSend(body)
		if (req == nil) == (gerr == nil) {
			t.Fatalf("want exactly one of a request or an error: %v %v", req, gerr)
		}
		if gerr != nil {
			if gerr.code == 0 || graphMessage(gerr.code, gerr.message) == "" {
				t.Fatalf("error without code or message: %+v", gerr)
			}
			return
		}
		if (req.mediaID == "") == (req.link == "") || !validPhone(req.to) {
			t.Fatalf("accepted %q as %+v", body, req)
		}
	})
}

// FuzzParseInfobip: a body is a bare BAD_REQUEST, a list of field errors,
// or a message whose fields are within the spec's bounds.
func FuzzParseInfobip(f *testing.F) {
	for _, seed := range []string{
		`{"from":"44","to":"4411","content":{"mediaUrl":"http://127.0.0.1/v.ogg","voice":true}}`,
		`{"from":"","to":"","content":{"mediaUrl":""}}`, `{"content":null}`, `{"context":{}}`, `[]`, `{"from":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, verrs, ok := parseInfobip(body)
		if !ok || len(verrs) > 0 {
			return
		}
		if javaLen(req.from) < 1 || javaLen(req.from) > 24 || javaLen(req.to) < 1 || javaLen(req.to) > 150 ||
			checkHTTPURL(req.mediaURL) != nil || javaLen(req.mediaURL) > 2048 {
			t.Fatalf("accepted %q as %+v", body, req)
		}
	})
}

// FuzzParseUpload: any multipart body parses or is refused, never panics.
func FuzzParseUpload(f *testing.F) {
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"v.ogg\"\r\nContent-Type: audio/ogg\r\n\r\nOggS\r\n--b--\r\n"))
	f.Add([]byte("--b\r\n\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, _ := http.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		form, err := parseUpload(&call{r: r, body: body})
		if err == nil && form == nil {
			t.Fatal("nil form without an error")
		}
	})
}

// BenchmarkMetaSend measures one voice-note send by link over loopback
// HTTP: validation, the in-memory link fetch, pkg/inspect and keeping the
// media on disk (status webhooks are parked by a long StatusDelay).
func BenchmarkMetaSend(b *testing.B) {
	voice := sample(b, sampleVoice, "audio/ogg")
	s, err := Start(Config{StatusDelay: time.Hour, DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	link := s.HostFile("v.ogg", "audio/ogg", voice)
	body := `{"messaging_product":"whatsapp","to":"15551234567","type":"audio","audio":{"link":"` + link + `","voice":true}}`
	url := s.MetaURL() + "/v23.0/1/messages"
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer sandbox")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("%v %v", resp, err)
		}
		resp.Body.Close()
	}
}

// BenchmarkInfobipValidation measures field-by-field validation alone.
func BenchmarkInfobipValidation(b *testing.B) {
	body := []byte(`{"from":"441134960000","to":"441134960001","messageId":"a28dd97c-1ffb-4fcf-99f1-0b557ed381da","content":{"mediaUrl":"http://127.0.0.1/v.ogg","voice":true},"callbackData":"Callback data","notifyUrl":"https://www.example.com/whatsapp"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, verrs, ok := parseInfobip(body); !ok || len(verrs) > 0 {
			b.Fatal(verrs)
		}
	}
}
