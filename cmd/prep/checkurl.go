package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/prep-audio/prep/pkg/upload"
)

func runCheckURL(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "check-url", "[--json] [--max-fetch BYTES] URL...")
	asJSON := fs.Bool("json", false, "one JSON object per line per URL")
	maxFetch := fs.Int64("max-fetch", 2<<20, "most bytes downloaded per URL")
	urls, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(urls) == 0 {
		fs.Usage()
		return usageErrorf("check-url: no URL given")
	}
	if *maxFetch < 1024 {
		return usageErrorf("check-url: --max-fetch must be at least 1024")
	}
	failed := 0
	enc := json.NewEncoder(e.stdout)
	for _, u := range urls {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := upload.CheckURL(ctx, u, upload.CheckOptions{MaxFetch: *maxFetch})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed++
			if *asJSON {
				// The URL as the error names it: query (presigned
				// signature) and user info removed.
				shown := "(invalid URL)"
				var ie *upload.InputError
				if errors.As(err, &ie) {
					shown = ie.Name
				}
				if err := enc.Encode(map[string]any{"url": shown, "ok": false, "error": err.Error()}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(e.stderr, "prep check-url: %v\n", err)
			}
			continue
		}
		if !c.OK {
			failed++
		}
		if *asJSON {
			if err := enc.Encode(c); err != nil {
				return err
			}
			continue
		}
		printCheck(e, c)
	}
	if failed > 0 {
		return &reportedError{failed: failed, total: len(urls)}
	}
	return nil
}

func printCheck(e *env, c *upload.URLCheck) {
	verdict := "OK"
	if !c.OK {
		verdict = "FAIL"
	}
	fmt.Fprintf(e.stdout, "%s %s\n", verdict, c.URL)
	if c.FinalURL != "" {
		fmt.Fprintf(e.stdout, "  redirected to  %s\n", c.FinalURL)
	}
	size := "unknown"
	if c.Size >= 0 {
		size = fmt.Sprintf("%d bytes", c.Size)
	}
	fmt.Fprintf(e.stdout, "  status         %d\n  https          %s\n  content-type   %s\n  real content   %s (%s inspection)\n  size           %s\n  ranges         %s\n",
		c.Status, yesNo(c.HTTPS), orDash(c.ContentType), describeContent(c), c.Inspected, size, yesNo(c.Ranges))
	for _, p := range c.Problems {
		fmt.Fprintf(e.stdout, "  %-7s %s: %s\n", p.Severity, p.Code, p.Message)
	}
}

func describeContent(c *upload.URLCheck) string {
	s := orDash(c.RealMIME)
	if c.Codec != "" {
		s += fmt.Sprintf(", %s, %d ch, %.2fs", c.Codec, c.Channels, c.Duration)
	}
	return s
}
