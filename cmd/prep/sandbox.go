package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/sandbox"
)

func init() {
	register("sandbox", command{summary: "run a local sandbox of the Meta Cloud API, 360dialog and Infobip", run: runSandbox})
}

func runSandbox(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sandbox", "[--addr 127.0.0.1:8080] [--webhook URL] [--app-secret S] [--data DIR] [fault flags]")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (loopback unless you say otherwise; port 0 picks one)")
	webhook := fs.String("webhook", "", "post Meta/360dialog status webhooks here (env PREP_SANDBOX_WEBHOOK)")
	secret := fs.String("app-secret", "", "HMAC key for X-Hub-Signature-256 (env PREP_SANDBOX_APP_SECRET; default \"sandbox\")")
	data := fs.String("data", "", "keep received media in this directory (default: a temp dir removed on exit)")
	metaToken := fs.String("meta-token", "", "accepted Meta bearer token (env PREP_SANDBOX_META_TOKEN; default \"sandbox\")")
	d360Key := fs.String("d360-key", "", "accepted D360-API-KEY (env PREP_SANDBOX_D360_KEY; default \"sandbox\")")
	infobipKey := fs.String("infobip-key", "", "accepted Infobip App key (env PREP_SANDBOX_INFOBIP_KEY; default \"sandbox\")")
	latency := fs.Duration("latency", 0, "added latency per request")
	errRate := fs.Float64("error-rate", 0, "fraction of requests answered with a provider-shaped 500")
	tooMany := fs.Float64("429-rate", 0, "fraction of requests answered 429 with Retry-After")
	retryAfter := fs.Duration("retry-after", time.Second, "Retry-After for --429-rate")
	dropRate := fs.Float64("drop-rate", 0, "fraction of requests processed and then dropped without an answer")
	faultProviders := fs.String("fault-providers", "meta,360dialog,infobip", "providers the fault flags apply to")
	outside := fs.String("outside-window", "", "comma-separated recipients outside the 24-hour window (error 131047)")
	rate := fs.Float64("rate", 0, "messages per second per sender before 130429 / 429 (0 = no limit)")
	pair := fs.Duration("pair-interval", 0, "minimum gap between messages to one recipient before 131056 (0 = off)")
	statusDelay := fs.Duration("status-delay", 500*time.Millisecond, "delay between status webhooks")
	asJSON := fs.Bool("json", false, "print the URLs as one JSON object")
	quiet := fs.Bool("quiet", false, "do not log requests on stderr")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		fs.Usage()
		return usageErrorf("sandbox: unexpected arguments %q", rest)
	}
	f := sandbox.Faults{Latency: *latency, ErrorRate: *errRate, TooManyRate: *tooMany, RetryAfter: *retryAfter, DropRate: *dropRate}
	faults := map[sandbox.Provider]sandbox.Faults{}
	for _, p := range strings.Split(*faultProviders, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		ok := false
		for _, known := range sandbox.Providers {
			if string(known) == p {
				ok = true
			}
		}
		if !ok {
			return usageErrorf("sandbox: unknown provider %q in --fault-providers (meta, 360dialog, infobip)", p)
		}
		faults[sandbox.Provider(p)] = f
	}
	var outsideList []string
	for _, n := range strings.Split(*outside, ",") {
		if n = strings.TrimSpace(n); n != "" {
			outsideList = append(outsideList, n)
		}
	}
	cfg := sandbox.Config{
		Addr:              *addr,
		MetaToken:         envOr(e, *metaToken, "PREP_SANDBOX_META_TOKEN"),
		D360Key:           envOr(e, *d360Key, "PREP_SANDBOX_D360_KEY"),
		InfobipKey:        envOr(e, *infobipKey, "PREP_SANDBOX_INFOBIP_KEY"),
		AppSecret:         envOr(e, *secret, "PREP_SANDBOX_APP_SECRET"),
		WebhookURL:        envOr(e, *webhook, "PREP_SANDBOX_WEBHOOK"),
		DataDir:           *data,
		OutsideWindow:     outsideList,
		MessagesPerSecond: *rate,
		PairInterval:      *pair,
		StatusDelay:       *statusDelay,
		Faults:            faults,
	}
	if !*quiet {
		cfg.Logf = func(format string, a ...any) {
			fmt.Fprintf(e.stderr, time.Now().Format("15:04:05.000")+" "+format+"\n", a...)
		}
	}
	if *rate < 0 || *pair < 0 || *latency < 0 {
		return usageErrorf("sandbox: --rate, --pair-interval and --latency must not be negative")
	}
	srv, err := sandbox.Start(cfg)
	if err != nil {
		return err // *sandbox.ConfigError exits 2
	}
	defer srv.Close()
	if *asJSON {
		_ = json.NewEncoder(e.stdout).Encode(map[string]string{
			"url": srv.URL(), "page": srv.URL() + "/", "meta": srv.MetaURL(), "360dialog": srv.D360URL(),
			"infobip": srv.InfobipURL(), "files": srv.URL() + "/_sandbox/files/", "messages": srv.URL() + "/_sandbox/messages",
			"data": srv.DataDir(),
		})
	} else {
		fmt.Fprintf(e.stdout, "prep sandbox listening on %s\n", srv.URL())
		fmt.Fprintf(e.stdout, "  page       %s/\n", srv.URL())
		fmt.Fprintf(e.stdout, "  Meta       %s/v23.0/{phone-number-id}/messages   (Authorization: Bearer <token>)\n", srv.MetaURL())
		fmt.Fprintf(e.stdout, "  360dialog  %s/messages                          (D360-API-KEY: <key>)\n", srv.D360URL())
		fmt.Fprintf(e.stdout, "  Infobip    %s/whatsapp/1/message/audio         (Authorization: App <key>)\n", srv.InfobipURL())
		fmt.Fprintf(e.stdout, "  files      %s/_sandbox/files/{name}   (POST/PUT to host media, GET to fetch)\n", srv.URL())
		fmt.Fprintf(e.stdout, "  messages   %s/_sandbox/messages\n", srv.URL())
		fmt.Fprintf(e.stdout, "  media kept in %s\n", srv.DataDir())
		fmt.Fprintln(e.stdout, "  credentials: \"sandbox\" for each provider unless set with flags or PREP_SANDBOX_* variables")
		if cfg.WebhookURL != "" {
			fmt.Fprintf(e.stdout, "  webhooks → %s\n", cfg.WebhookURL)
		}
		fmt.Fprintln(e.stdout, "Press Ctrl-C to stop.")
	}
	<-ctx.Done()
	return nil
}
