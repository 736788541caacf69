package main

import (
	"context"
	"strings"
	"testing"
)

// TestHintsNameTheSetting: the library's errors name what is missing
// ("credentials", "bucket"); the CLI adds the environment variable or flag
// that sets it.
func TestHintsNameTheSetting(t *testing.T) {
	full := map[string]string{
		"WHATSAPP_ACCESS_TOKEN": "t0ken", "WHATSAPP_PHONE_NUMBER_ID": "1065",
		"D360_API_KEY": "k3y1", "INFOBIP_API_KEY": "k3y1", "INFOBIP_BASE_URL": "http://127.0.0.1:9", "INFOBIP_SENDER": "441134960000",
	}
	without := func(k string) map[string]string {
		m := map[string]string{}
		for kk, v := range full {
			if kk != k {
				m[kk] = v
			}
		}
		return m
	}
	link := "http://127.0.0.1:9/a.ogg"
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{without("WHATSAPP_ACCESS_TOKEN"), []string{"send", "--provider", "meta", "--to", "+16505551234", "--link", link}, "WHATSAPP_ACCESS_TOKEN"},
		{without("WHATSAPP_PHONE_NUMBER_ID"), []string{"send", "--provider", "meta", "--to", "+16505551234", "--link", link}, "WHATSAPP_PHONE_NUMBER_ID"},
		{without("D360_API_KEY"), []string{"send", "--provider", "360dialog", "--to", "+16505551234", "--link", link}, "D360_API_KEY"},
		{without("INFOBIP_BASE_URL"), []string{"send", "--provider", "infobip", "--to", "+16505551234", "--link", link}, "INFOBIP_BASE_URL"},
		{without("INFOBIP_SENDER"), []string{"send", "--provider", "infobip", "--to", "+16505551234", "--link", link}, "INFOBIP_SENDER"},
		{without("WHATSAPP_ACCESS_TOKEN"), []string{"upload", "--to", "meta", "a.ogg"}, "WHATSAPP_ACCESS_TOKEN"},
		{without("D360_API_KEY"), []string{"upload", "--to", "360dialog", "a.ogg"}, "D360_API_KEY"},
		{full, []string{"upload", "--to", "s3", "a.ogg"}, "S3_BUCKET"},
	}
	for _, tt := range tests {
		var out, errb strings.Builder
		e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string { return tt.env[k] }}
		err := run(context.Background(), e, tt.args)
		if exitCode(err) != exitUsage || err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: exit %d, error %v; want a usage error naming %s", tt.args, exitCode(err), err, tt.want)
		}
	}
}

// TestHintTranscodeARefusal: upload's refusal says "transcode it first";
// the CLI adds the command that does it (the library names no command).
func TestHintTranscodeARefusal(t *testing.T) {
	const stereo = "../../testdata/ogg-opus-stereo-input44100-3s.opus"
	var out, errb strings.Builder
	e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string {
		return map[string]string{"D360_API_KEY": "k3y1", "D360_API_URL": "http://127.0.0.1:9"}[k]
	}}
	err := run(context.Background(), e, []string{"upload", "--to", "360dialog", stereo})
	if got := out.String() + errb.String(); err == nil || !strings.Contains(got, "transcode it first") || !strings.Contains(got, "(prep transcode "+stereo+")") {
		t.Fatalf("err %v, output %q; want the refusal with the prep transcode hint", err, got)
	}
}
