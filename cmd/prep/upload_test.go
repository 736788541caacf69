package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/sandbox"
)

const (
	goodOgg = "../../testdata/ogg-opus-mono-48k-2s.ogg"
	notAud  = "../../testdata/hostile-html.mp3"
)

func needSamples(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("sample %s missing (testdata is committed): %v", p, err)
		}
	}
}

func decodeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var res []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		res = append(res, m)
	}
	return res
}

func TestUploadUsage(t *testing.T) {
	env := map[string]string{}
	tests := []struct {
		name string
		args []string
	}{
		{"no --to", []string{"upload", "a.ogg"}},
		{"bad --to", []string{"upload", "--to", "infobip", "a.ogg"}},
		{"no files", []string{"upload", "--to", "meta"}},
		{"meta without credentials", []string{"upload", "--to", "meta", "a.ogg"}},
		{"s3 without bucket", []string{"upload", "--to", "s3", "a.ogg"}},
		{"ttl over 7 days", []string{"upload", "--to", "s3", "--bucket", "b", "--ttl", "169h", "a.ogg"}},
		{"check-url without url", []string{"check-url"}},
	}
	for _, tt := range tests {
		if _, _, code := runCLI(t, env, tt.args...); code != exitUsage {
			t.Errorf("%s: exit %d, want %d", tt.name, code, exitUsage)
		}
	}
}

func TestUploadMetaCLI(t *testing.T) {
	needSamples(t, goodOgg, notAud)
	s, err := sandbox.Start(sandbox.Config{DataDir: t.TempDir(), MetaToken: "cli-secret-token-xyz"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	env := map[string]string{
		"WHATSAPP_ACCESS_TOKEN":    "cli-secret-token-xyz",
		"WHATSAPP_PHONE_NUMBER_ID": "wrong-from-env",
		"WHATSAPP_API_URL":         s.MetaURL(),
	}
	cache := t.TempDir()
	// The flag overrides the environment's phone number id.
	args := []string{"upload", "--to", "meta", "--json", "--cache-dir", cache, "--phone-number-id", "106540352242922", goodOgg, notAud}
	out, errOut, code := runCLI(t, env, args...)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1 (one file refused)\n%s\n%s", code, out, errOut)
	}
	res := decodeLines(t, out)
	if len(res) != 2 || res[0]["media_id"] == nil || res[0]["mime"] != "audio/ogg" || res[0]["reused"] != false || res[0]["error"] != nil {
		t.Fatalf("results %v", res)
	}
	if res[1]["error"] == nil || res[1]["code"] != "not_audio" || res[1]["media_id"] != nil {
		t.Fatalf("refused file: %v", res[1])
	}
	reqs := s.Requests(sandbox.Meta)
	if len(reqs) != 1 || !strings.Contains(reqs[0].Path, "/106540352242922/media") {
		t.Fatalf("requests %+v", reqs)
	}
	// Again: from the cache, no request.
	out, _, code = runCLI(t, env, args[:len(args)-1]...)
	if res := decodeLines(t, out); code != exitOK || res[0]["reused"] != true || len(s.Requests(sandbox.Meta)) != 1 {
		t.Fatalf("second run: exit %d %v, %d requests", code, res, len(s.Requests(sandbox.Meta)))
	}
	// --no-cache uploads again; human output.
	out, errOut, code = runCLI(t, env, "upload", "--to", "meta", "--no-cache", "--phone-number-id", "106540352242922", goodOgg)
	if code != exitOK || len(s.Requests(sandbox.Meta)) != 2 || !strings.Contains(out, "media_id ") || !strings.Contains(out, "uploaded") {
		t.Fatalf("--no-cache: exit %d, %d requests\n%s%s", code, len(s.Requests(sandbox.Meta)), out, errOut)
	}
	if strings.Contains(out+errOut, "cli-secret-token-xyz") {
		t.Fatal("token in output")
	}
	// Nothing in the cache dir holds the token either.
	files, _ := filepath.Glob(filepath.Join(cache, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "cli-secret-token-xyz") {
			t.Fatal("token in the cache")
		}
	}
}

func TestUploadS3CLI(t *testing.T) {
	needSamples(t, goodOgg)
	if os.Getenv("S3_ENDPOINT") == "" {
		testdeps.Missing(t, "S3_ENDPOINT unset: S3 tests need a server (make test, or source scripts/versitygw.sh && s3_start)")
	}
	env := map[string]string{"S3_PREFIX": "cli-test/"}
	for _, k := range []string{"S3_ENDPOINT", "S3_BUCKET", "S3_REGION", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		env[k] = os.Getenv(k)
	}
	out, errOut, code := runCLI(t, env, "upload", "--to", "s3", "--json", goodOgg)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	res := decodeLines(t, out)
	url, _ := res[0]["url"].(string)
	if !strings.HasPrefix(url, env["S3_ENDPOINT"]+"/") || !strings.Contains(res[0]["key"].(string), "cli-test/") {
		t.Fatalf("result %v", res[0])
	}
	// The URL shown is the object's, without the presigned query (its
	// credential); check-url finds the private object there, answering 403.
	if strings.Contains(url, "?") || strings.Contains(out, env["AWS_ACCESS_KEY_ID"]) || !strings.HasSuffix(url, "/"+env["S3_BUCKET"]+"/"+res[0]["key"].(string)) {
		t.Fatalf("url %s", url)
	}
	env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret-for-the-cli-test"
	out, errOut, code = runCLI(t, env, "upload", "--to", "s3", "--json", goodOgg)
	if code != exitFailed || !strings.Contains(out, `"code":"s3_auth"`) || strings.Contains(out+errOut, "wrong-secret-for-the-cli-test") {
		t.Fatalf("wrong secret: exit %d\n%s%s", code, out, errOut)
	}
}

func TestCheckURLCLI(t *testing.T) {
	needSamples(t, goodOgg)
	s, err := sandbox.Start(sandbox.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, _ := os.ReadFile(goodOgg)
	good := s.HostFile("v.ogg", "audio/ogg", b)
	bad := s.HostFile("v.mp3", "audio/mpeg", b)
	out, errOut, code := runCLI(t, nil, "check-url", good)
	if code != exitOK || !strings.HasPrefix(out, "OK ") {
		t.Fatalf("good: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = runCLI(t, nil, "check-url", "--json", good, bad)
	res := decodeLines(t, out)
	if code != exitFailed || len(res) != 2 || res[0]["ok"] != true || res[1]["ok"] != false {
		t.Fatalf("exit %d, %v", code, res)
	}
	if !strings.Contains(out, "content_type_mismatch") {
		t.Fatalf("no mismatch reported: %s", out)
	}
}

// TestCheckURLNeverPrintsQuery: a URL check-url cannot take is reported
// without its query string (a presigned signature), in both output forms.
func TestCheckURLNeverPrintsQuery(t *testing.T) {
	const sig = "X-Amz-Signature=0123456789abcdefSECRET"
	for _, u := range []string{"ftp://bucket.example.com/v.ogg?" + sig, "https://bad host.example.com/v.ogg?" + sig} {
		for _, args := range [][]string{{"check-url", u}, {"check-url", "--json", u}} {
			out, errOut, code := runCLI(t, nil, args...)
			if code == exitOK {
				t.Errorf("%v: exit 0", args)
			}
			if strings.Contains(out+errOut, "SECRET") {
				t.Errorf("%v: the query was printed:\n%s%s", args, out, errOut)
			}
		}
	}
}
