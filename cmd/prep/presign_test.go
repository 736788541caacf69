package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/sandbox"
)

// s3CLIEnv is the environment of a CLI run against the versitygw the tests
// start (scripts/versitygw.sh), or the test skips (fails under CI).
func s3CLIEnv(t *testing.T) map[string]string {
	t.Helper()
	if os.Getenv("S3_ENDPOINT") == "" || os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		testdeps.Missing(t, "S3_ENDPOINT unset: S3 tests need a server (make test, or source scripts/versitygw.sh && s3_start)")
	}
	env := map[string]string{"S3_PREFIX": "presign-test/"}
	for _, k := range []string{"S3_ENDPOINT", "S3_BUCKET", "S3_REGION", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		env[k] = os.Getenv(k)
	}
	return env
}

// noCredential fails when text holds the S3 access key id or a presigned
// URL's signing query.
func noCredential(t *testing.T, env map[string]string, where, text string) {
	t.Helper()
	for _, s := range []string{env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], "X-Amz-Signature", "X-Amz-Credential"} {
		if strings.Contains(text, s) {
			t.Errorf("%s holds %q (a presigned URL's credential)", where, s)
		}
	}
}

// TestPresignedURLNeverShown: media sent by link is uploaded to S3 and sent
// as a presigned URL; what prep prints or writes (prep upload, prep run,
// prep batch: stdout, stderr, the CSV and JSON reports, the journal) shows
// the object's URL without its signing query, never the access key id or
// the signature, while the provider (the sandbox) gets, and fetches, the
// presigned URL. A second batch whose row reuses the upload the journal
// recorded presigns the URL again from the object key: no upload, and the
// sandbox still fetches the audio. Before the fix every one of these
// outputs held the whole presigned URL.
func TestPresignedURLNeverShown(t *testing.T) {
	needFFmpeg(t)
	needSamples(t, goodOgg)
	env := s3CLIEnv(t)
	sb := startSB(t, sandbox.Config{})
	sent := 0
	dir := t.TempDir()
	file := filepath.Join(dir, "a.ogg")
	copyVoiceNote(t, file)

	// prep upload, human and --json.
	var s3ref string
	for _, args := range [][]string{{"upload", "--to", "s3", file}, {"upload", "--to", "s3", "--json", file}} {
		out, errOut, code := runCLI(t, env, args...)
		if code != exitOK || !strings.Contains(out, env["S3_ENDPOINT"]+"/"+env["S3_BUCKET"]+"/presign-test/") {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		noCredential(t, env, strings.Join(args, " "), out+errOut)
		if m := regexp.MustCompile(`--link (s3://\S+)\)`).FindStringSubmatch(out); m != nil {
			s3ref = m[1]
		}
	}

	// What prep upload shows is what prep send takes: s3://BUCKET/KEY,
	// presigned by prep send for the provider alone.
	if s3ref != "s3://"+env["S3_BUCKET"]+"/presign-test/"+strings.TrimPrefix(s3ref, "s3://"+env["S3_BUCKET"]+"/presign-test/") || !strings.HasSuffix(s3ref, ".ogg") {
		t.Fatalf("prep upload --to s3 does not say the s3:// reference to send: %q", s3ref)
	}
	senv := map[string]string{"INFOBIP_BASE_URL": sb.InfobipURL(), "INFOBIP_API_KEY": "sandbox", "INFOBIP_SENDER": "441134960000"}
	for k, v := range env {
		senv[k] = v
	}
	for _, asJSON := range []bool{false, true} {
		args := []string{"send", "--provider", "infobip", "--to", "+447700900399", "--link", s3ref, "--voice"}
		if asJSON {
			args = append(args, "--json")
		}
		out, errOut, code := runCLI(t, senv, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		noCredential(t, env, strings.Join(args, " "), out+errOut)
		sent++
	}

	// prep run by link: Infobip (always a link) and Meta with --upload s3.
	for _, pv := range []string{"infobip", "meta"} {
		for _, asJSON := range []bool{false, true} {
			args := []string{"run", "--sandbox", sb.URL(), "--provider", pv, "--to", "+447700900400", "--upload", "s3", file}
			if asJSON {
				args = append(args[:len(args)-1], "--json", file)
			}
			out, errOut, code := runCLI(t, env, args...)
			if code != exitOK {
				t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
			}
			sent++
			noCredential(t, env, strings.Join(args, " "), out+errOut)
		}
	}

	// prep batch with an Infobip row and a Meta row by link: CSV report,
	// --json on stdout, the journal.
	manifest := filepath.Join(dir, "m.csv")
	os.WriteFile(manifest, []byte("to,file,provider\n+447700900401,a.ogg,infobip\n+447700900402,a.ogg,meta\n"), 0o644)
	journal := filepath.Join(dir, "m.journal")
	report := filepath.Join(dir, "r.csv")
	out, errOut, code := runCLI(t, env, "batch", "--sandbox", sb.URL(), "--upload", "s3", "--manifest", manifest, "--journal", journal, "--report", report, "--json")
	if code != exitOK {
		t.Fatalf("batch: exit %d\n%s%s", code, out, errOut)
	}
	sent += 2
	noCredential(t, env, "batch --json", out+errOut)
	csv, _ := os.ReadFile(report)
	if !strings.Contains(string(csv), env["S3_ENDPOINT"]+"/"+env["S3_BUCKET"]+"/presign-test/") {
		t.Fatalf("the report does not name the object:\n%s", csv)
	}
	noCredential(t, env, "the CSV report", string(csv))
	jb, _ := os.ReadFile(journal)
	noCredential(t, env, "the journal", string(jb))

	// A second batch: new rows, same recording. The journal's upload is
	// sent again (no upload), with a URL presigned again from its key.
	os.WriteFile(manifest, []byte("to,file,provider\n+447700900401,a.ogg,infobip\n+447700900402,a.ogg,meta\n+447700900403,a.ogg,infobip\n"), 0o644)
	report = filepath.Join(dir, "r2.jsonl")
	out, errOut, code = runCLI(t, env, "batch", "--sandbox", sb.URL(), "--upload", "s3", "--manifest", manifest, "--journal", journal, "--report", report)
	if code != exitOK {
		t.Fatalf("second batch: exit %d\n%s%s", code, out, errOut)
	}
	sent++
	noCredential(t, env, "second batch", out+errOut)
	jl, _ := os.ReadFile(report)
	noCredential(t, env, "the JSON Lines report", string(jl))
	if !strings.Contains(string(jl), `"uploads":0`) {
		t.Errorf("the second batch uploaded again:\n%s", jl)
	}
	jb, _ = os.ReadFile(journal)
	noCredential(t, env, "the journal after a rerun", string(jb))
	if rows := reportRows(t, report); len(rows) != 3 || !rows[0].Resumed || !rows[1].Resumed || rows[2].Resumed || rows[2].Status != "sent" {
		t.Errorf("second batch rows: %+v", rows)
	}

	// The provider got presigned URLs, and fetched the audio through them.
	msgs := sb.Messages()
	if len(msgs) != sent {
		t.Fatalf("the sandbox has %d messages, want %d", len(msgs), sent)
	}
	for _, m := range msgs {
		if !strings.Contains(m.Link, "X-Amz-Signature=") || m.Bytes == 0 || m.MIME != "audio/ogg" {
			t.Errorf("%s message to %s: link with a signature %v, %d bytes fetched, %s", m.Provider, m.To,
				strings.Contains(m.Link, "X-Amz-Signature="), m.Bytes, m.MIME)
		}
	}
	if n := len(sb.Requests(sandbox.Infobip)); n < 3 {
		t.Errorf("%d Infobip requests", n)
	}
}
