package upload_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/prep-audio/prep/pkg/sandbox"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/upload"
)

// One client per provider account: the media uploader and the messages
// go through it (one retry policy, one rate limit, one credential).
func ExampleNewMedia() {
	sb, _ := sandbox.Start(sandbox.Config{})
	defer sb.Close()
	meta, err := send.FromEnv("meta", func(k string) string {
		return map[string]string{
			send.EnvMetaURL:     sb.MetaURL(), // default https://graph.facebook.com
			send.EnvMetaToken:   "sandbox",
			send.EnvMetaPhoneID: "106540352242922",
		}[k]
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	media, _ := upload.NewMedia(meta, nil)
	ref, err := media.Upload(context.Background(), upload.File{Path: "../../testdata/ogg-opus-mono-48k-2s.ogg"})
	if err != nil {
		fmt.Println(err)
		return
	}
	rc, err := meta.Send(context.Background(), send.Message{To: "+16505551234", MediaID: ref.MediaID, Voice: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ref.MIME, rc.Provider, rc.To, rc.Attempts)
	// Output:
	// audio/ogg meta 16505551234 1
}

// A file named .mp4 that holds Ogg Opus is uploaded as audio/ogg under a
// .ogg name; the second upload of the same bytes comes from the media-id
// cache.
func ExampleMediaUploader_Upload() {
	sb, err := sandbox.Start(sandbox.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sb.Close()
	cacheDir, _ := os.MkdirTemp("", "prep-example-")
	defer os.RemoveAll(cacheDir)
	cache, _ := upload.OpenCache(cacheDir)

	// One client per account: the same one sends the messages.
	meta, err := send.NewMeta(
		send.WithBaseURL(sb.MetaURL()), // default https://graph.facebook.com
		send.WithToken("sandbox"),
		send.WithPhoneNumberID("106540352242922"))
	if err != nil {
		fmt.Println(err)
		return
	}
	u, err := upload.NewMedia(meta, cache)
	if err != nil {
		fmt.Println(err)
		return
	}
	data, _ := os.ReadFile("../../testdata/ogg-opus-mono-48k-2s.ogg")
	path := filepath.Join(cacheDir, "voice.mp4")
	os.WriteFile(path, data, 0o644)

	for range 2 {
		ref, err := u.Upload(context.Background(), upload.File{Path: path})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ref.MIME, ref.Ext, ref.Bytes, "reused:", ref.Reused)
	}
	media := sb.Media(sandbox.Meta)
	fmt.Println("uploads:", len(media), "named", media[0].FileName)
	// Output:
	// audio/ogg .ogg 8062 reused: false
	// audio/ogg .ogg 8062 reused: true
	// uploads: 1 named voice.ogg
}

// What a provider would refuse never leaves the machine.
func ExampleRefusedError() {
	d360, _ := send.NewD360(send.WithAPIKey("k3y1"), send.WithBaseURL("http://127.0.0.1:9"))
	u, _ := upload.NewMedia(d360, nil)
	_, err := u.Upload(context.Background(), upload.File{Path: "../../testdata/ogg-opus-stereo-input44100-3s.opus"})
	var re *upload.RefusedError
	if errors.As(err, &re) {
		fmt.Println(re.Kind)
		fmt.Println(re.Advice())
	}
	// Output:
	// not_mono
	// transcode it first, to a mono Ogg Opus voice note or to audio WhatsApp takes
}

// CheckURL tells what a provider fetching the URL would find.
func ExampleCheckURL() {
	data, _ := os.ReadFile("../../testdata/ogg-opus-mono-48k-2s.ogg")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg") // wrong: the bytes are Ogg Opus
		w.Write(data)
	}))
	defer srv.Close()
	c, err := upload.CheckURL(context.Background(), srv.URL+"/voice.ogg", upload.CheckOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ok:", c.OK, "real:", c.RealMIME, c.Codec)
	for _, p := range c.Problems {
		fmt.Println(p.Severity, p.Code)
	}
	// Output:
	// ok: false real: audio/ogg opus
	// warning not_https
	// warning not_public
	// error content_type_mismatch
}

// Uploading to S3 (or MinIO, R2, Ceph, versitygw with Endpoint): the key is
// {Prefix}{sha256}{ext}, the reference a presigned GET URL valid 7 days, or
// {PublicURL}/{key}.
func ExampleNewS3() {
	ctx := context.Background()
	s3u, err := upload.NewS3(ctx, upload.S3Config{
		Bucket:   os.Getenv("S3_BUCKET"),
		Prefix:   "voice/",
		Endpoint: os.Getenv("S3_ENDPOINT"), // "" for AWS
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ref, err := s3u.Upload(ctx, upload.File{Path: "voice.ogg"})
	var se *upload.S3Error
	switch {
	case errors.As(err, &se) && se.Kind == upload.S3Auth:
		fmt.Println("fix the credentials:", err)
	case err != nil:
		fmt.Println(err)
	default:
		// ref.URL is the object's URL without the signing query (safe to
		// show); ref.FetchURL() is the presigned URL to send, a credential.
		fmt.Println(ref.URL, ref.Reused)
	}
}

// A presigned URL as prep shows it: without the query that names the
// access key id and carries the signature.
func ExampleRedactURL() {
	fmt.Println(upload.RedactURL("https://s3.example.com/bucket/voice/ab12.ogg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=0123"))
	// Output: https://s3.example.com/bucket/voice/ab12.ogg
}
