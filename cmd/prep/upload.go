package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/upload"
	"golang.org/x/sync/errgroup"
)

// uploadResult is one line of `prep upload --json`.
type uploadResult struct {
	File    string `json:"file"`
	SHA256  string `json:"sha256,omitempty"`
	MIME    string `json:"mime,omitempty"`
	Ext     string `json:"ext,omitempty"`
	Bytes   int64  `json:"bytes,omitempty"`
	MediaID string `json:"media_id,omitempty"`
	URL     string `json:"url,omitempty"`
	Key     string `json:"key,omitempty"`
	// S3 is s3://BUCKET/KEY when URL is not fetchable as shown (presigned,
	// its query left out): prep send --link takes it and presigns again.
	S3     string `json:"s3,omitempty"`
	Reused bool   `json:"reused"`
	Error  string `json:"error,omitempty"`
	Code   string `json:"code,omitempty"` // refusal problem code, or S3 error kind
}

func runUpload(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "upload", "--to s3|meta|360dialog [--json] [--no-cache] FILE...")
	to := fs.String("to", "", "destination: s3, meta or 360dialog (required)")
	asJSON := fs.Bool("json", false, "one JSON object per line per file")
	noCache := fs.Bool("no-cache", false, "meta/360dialog: ignore and do not update the media-id cache")
	cacheDir := fs.String("cache-dir", "", "media-id cache directory (default $XDG_CACHE_HOME/prep/media-ids)")
	parallel := fs.Int("parallel", 2, "files uploaded at once")
	bucket := fs.String("bucket", "", "S3 bucket (env S3_BUCKET)")
	prefix := fs.String("prefix", "", "S3 key prefix (env S3_PREFIX)")
	endpoint := fs.String("endpoint", "", "custom S3 endpoint, path-style (env S3_ENDPOINT)")
	publicURL := fs.String("public-url", "", "public base URL: references are {public-url}/{key} (env S3_PUBLIC_URL)")
	region := fs.String("region", "", "S3 region (env S3_REGION, AWS_REGION)")
	ttl := fs.Duration("ttl", upload.MaxPresignTTL, "lifetime of presigned URLs (at most 168h)")
	phoneID := fs.String("phone-number-id", "", "Meta phone number id (env "+send.EnvMetaPhoneID+")")
	apiURL := fs.String("api-url", "", "provider base URL (env "+send.EnvMetaURL+" / "+send.EnvD360URL+")")
	apiVersion := fs.String("api-version", "", "Meta Graph API version (env "+send.EnvMetaVersion+", default "+send.DefaultMetaVersion+")")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprintln(e.stderr, "\nSecrets come from the environment only (never flags): "+send.EnvMetaToken+", "+send.EnvD360Key+
			",\nAWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the AWS config chain (profiles, SSO, instance roles).")
	}
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fs.Usage()
		return usageErrorf("upload: no files given")
	}
	if *parallel < 1 {
		return usageErrorf("upload: --parallel must be at least 1")
	}
	var up upload.Uploader
	var s3Bucket string // when the URLs shown are presigned ones without their query
	switch strings.ToLower(*to) {
	case "s3":
		cfg := upload.S3ConfigFromEnv(e.getenv)
		override(&cfg.Bucket, *bucket)
		override(&cfg.Prefix, *prefix)
		override(&cfg.Endpoint, *endpoint)
		override(&cfg.PublicURL, *publicURL)
		override(&cfg.Region, *region)
		cfg.PresignTTL = *ttl
		s, err := upload.NewS3(ctx, cfg)
		if err != nil {
			return usageErrorf("%v", withHint(err))
		}
		up = s
		if cfg.PublicURL == "" {
			s3Bucket = cfg.Bucket
		}
	case "meta", "360dialog", "d360", "360":
		var opts []send.Option
		if *apiURL != "" {
			opts = append(opts, send.WithBaseURL(*apiURL))
		}
		if *phoneID != "" {
			opts = append(opts, send.WithPhoneNumberID(*phoneID))
		}
		if *apiVersion != "" {
			opts = append(opts, send.WithAPIVersion(*apiVersion))
		}
		c, err := send.FromEnv(*to, e.getenv, opts...)
		if err != nil {
			return usageErrorf("%v", withHint(err))
		}
		var cache *upload.Cache
		if !*noCache {
			if cache, err = upload.OpenCache(*cacheDir); err != nil {
				fmt.Fprintf(e.stderr, "prep upload: media-id cache unavailable (%v); uploading without it\n", err)
				cache = nil
			}
		}
		m, err := upload.NewMedia(c, cache)
		if err != nil {
			return usageErrorf("%v", withHint(err))
		}
		up = m
	case "":
		fs.Usage()
		return usageErrorf("upload: --to is required (s3, meta or 360dialog)")
	default:
		return usageErrorf("upload: --to %q: want s3, meta or 360dialog (Infobip takes URLs: use --to s3)", *to)
	}

	results := uploadAll(ctx, e, up, files, *parallel, !*asJSON)
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range results {
		if s3Bucket != "" && results[i].Key != "" {
			results[i].S3 = "s3://" + s3Bucket + "/" + results[i].Key
		}
	}
	return printUploads(e, results, *asJSON)
}

// override sets *dst to a flag's value when the flag was given: flags
// override the environment.
func override(dst *string, flagVal string) {
	if flagVal != "" {
		*dst = flagVal
	}
}

// uploadAll uploads files, parallel at a time; one result per file, in
// order (a failure is a result, not the end of the others).
func uploadAll(ctx context.Context, e *env, up upload.Uploader, files []string, parallel int, progress bool) []uploadResult {
	results := make([]uploadResult, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i, f := range files {
		if gctx.Err() != nil {
			results[i] = uploadResult{File: f, Error: gctx.Err().Error()}
			continue
		}
		g.Go(func() error {
			start := time.Now()
			ref, err := up.Upload(gctx, upload.File{Path: f})
			results[i] = toResult(f, ref, withHint(err))
			if progress && e.isTerminal {
				fmt.Fprintf(e.stderr, "\r%s done in %s\033[K\n", quoteName(f), time.Since(start).Round(time.Millisecond))
			}
			return nil
		})
	}
	_ = g.Wait() // every upload reports into results
	return results
}

func printUploads(e *env, results []uploadResult, asJSON bool) error {
	failed := 0
	enc := json.NewEncoder(e.stdout)
	for _, r := range results {
		if r.Error != "" {
			failed++
		}
		if asJSON {
			if err := enc.Encode(r); err != nil {
				return err
			}
			continue
		}
		if r.Error != "" {
			if strings.Contains(r.Error, r.File) {
				fmt.Fprintf(e.stderr, "prep upload: %s\n", escapeControls(r.Error))
			} else {
				fmt.Fprintf(e.stderr, "prep upload: %s: %s\n", quoteName(r.File), escapeControls(r.Error))
			}
			continue
		}
		ref := r.URL
		if r.S3 != "" {
			ref += " (send with --link " + r.S3 + ")"
		}
		if r.MediaID != "" {
			ref = "media_id " + r.MediaID
		}
		state := "uploaded"
		if r.Reused {
			state = "reused"
		}
		fmt.Fprintf(e.stdout, "%s\t%s\t%d bytes\tsha256 %s\t%s\t%s\n", quoteName(r.File), r.MIME, r.Bytes, r.SHA256, state, ref)
	}
	if failed > 0 {
		return &reportedError{failed: failed, total: len(results)}
	}
	return nil
}

func toResult(file string, ref *upload.Ref, err error) uploadResult {
	r := uploadResult{File: file}
	if err != nil {
		r.Error = err.Error()
		var re *upload.RefusedError
		var se *upload.S3Error
		switch {
		case errors.As(err, &re):
			r.Code = string(re.Kind)
		case errors.As(err, &se):
			r.Code = "s3_" + string(se.Kind)
		}
		return r
	}
	r.SHA256, r.MIME, r.Ext, r.Bytes = ref.SHA256, ref.MIME, ref.Ext, ref.Bytes
	r.MediaID, r.URL, r.Key, r.Reused = ref.MediaID, ref.URL, ref.Key, ref.Reused
	return r
}
