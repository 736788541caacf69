package upload

import (
	"testing"
)

// FuzzParseAnswers: provider answers and headers of any shape never panic.
func FuzzParseAnswers(f *testing.F) {
	f.Add(500, []byte(`{"error":{"message":"x","code":2,"is_transient":true}}`), "bytes 0-1/2", "x.ogg")
	f.Add(200, []byte(`{"id":123}`), "bytes */*", "")
	f.Add(400, []byte(`{"error":"Invalid request"}`), "", "../a b.mp3")
	f.Add(200, []byte(`{"media":[{"id":"m"}]}`), "garbage/-1", "ü.ogg")
	f.Fuzz(func(t *testing.T, _ int, body []byte, h string, name string) {
		_ = mediaID(body)
		_ = contentRangeTotal(h)
		_ = RedactURL(h)
		_ = isPrivateHost(h)
		if s := fileStem(name); s == "" || len(s) > 64 {
			t.Fatalf("fileStem(%q) = %q", name, s)
		}
	})
}
