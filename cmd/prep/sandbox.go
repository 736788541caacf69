package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/sandbox"
)

func runSandbox(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sandbox", "[--addr 127.0.0.1:8080] [--webhook URL] [--app-secret S] [--data DIR] [fault flags] [webhook delivery flags] [--recipient N=SPEC]")
	f := addSandboxFlags(fs)
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		fs.Usage()
		return usageErrorf("sandbox: unexpected arguments %q", rest)
	}
	cfg, err := f.config(e)
	if err != nil {
		return err
	}
	srv, err := sandbox.Start(cfg)
	if err != nil {
		return err // a *sandbox.ConfigError exits 2 (exit.go)
	}
	defer srv.Close()
	if *f.asJSON {
		printSandboxJSON(e, srv)
	} else {
		printSandbox(e, srv, cfg.WebhookURL)
	}
	<-ctx.Done()
	return nil
}

// sandboxFlags are prep sandbox's flags.
type sandboxFlags struct {
	addr, webhook, secret, data    *string
	metaToken, d360Key, infobipKey *string
	latency, retryAfter            *time.Duration
	errRate, tooMany, dropRate     *float64
	faultProviders, outside        *string
	rate                           *float64
	pair, statusDelay              *time.Duration
	batch                          *int
	batchWindow                    *time.Duration
	dupRate, reorderRate, skipRate *float64
	failAfterRate, hookDrop        *float64
	hookRetries                    *int
	hookBackoff                    *time.Duration
	recipients                     recipientFlag
	asJSON, quiet                  *bool
}

func addSandboxFlags(fs *flag.FlagSet) *sandboxFlags {
	f := &sandboxFlags{
		addr:           fs.String("addr", "127.0.0.1:8080", "listen address (loopback unless you say otherwise; port 0 picks one)"),
		webhook:        fs.String("webhook", "", "post Meta/360dialog status webhooks here (env PREP_SANDBOX_WEBHOOK)"),
		secret:         fs.String("app-secret", "", "HMAC key for X-Hub-Signature-256 (env PREP_SANDBOX_APP_SECRET; default \"sandbox\")"),
		data:           fs.String("data", "", "keep received media in this directory (default: a temp dir removed on exit)"),
		metaToken:      fs.String("meta-token", "", "accepted Meta bearer token (env PREP_SANDBOX_META_TOKEN; default \"sandbox\")"),
		d360Key:        fs.String("d360-key", "", "accepted D360-API-KEY (env PREP_SANDBOX_D360_KEY; default \"sandbox\")"),
		infobipKey:     fs.String("infobip-key", "", "accepted Infobip App key (env PREP_SANDBOX_INFOBIP_KEY; default \"sandbox\")"),
		latency:        fs.Duration("latency", 0, "added latency per request"),
		errRate:        fs.Float64("error-rate", 0, "fraction of requests answered with a provider-shaped 500"),
		tooMany:        fs.Float64("429-rate", 0, "fraction of requests answered 429 with Retry-After"),
		retryAfter:     fs.Duration("retry-after", time.Second, "Retry-After for --429-rate"),
		dropRate:       fs.Float64("drop-rate", 0, "fraction of requests processed and then dropped without an answer"),
		faultProviders: fs.String("fault-providers", "meta,360dialog,infobip", "providers the fault flags apply to"),
		outside:        fs.String("outside-window", "", "comma-separated recipients outside the 24-hour window (error 131047)"),
		rate:           fs.Float64("rate", 0, "messages per second per sender before 130429 / 429 (0 = no limit)"),
		pair:           fs.Duration("pair-interval", 0, "minimum gap between messages to one recipient before 131056 (0 = off)"),
		statusDelay:    fs.Duration("status-delay", 500*time.Millisecond, "delay between the steps of a status trail (sent, delivered, read)"),
		batch:          fs.Int("webhook-batch", 0, "statuses per webhook POST, up to 1000 (0 or 1: one each); batched bodies have several entries and changes"),
		batchWindow:    fs.Duration("batch-window", 0, "how long a status waits to share a POST (default --status-delay)"),
		dupRate:        fs.Float64("duplicate-rate", 0, "fraction of statuses delivered twice"),
		reorderRate:    fs.Float64("reorder-rate", 0, "fraction of messages whose delivered status arrives after read"),
		skipRate:       fs.Float64("skip-delivered-rate", 0, "fraction of messages read at once (no delivered status)"),
		failAfterRate:  fs.Float64("failed-after-delivered-rate", 0, "fraction of messages with a failed status (131026, another device) after delivered"),
		hookDrop:       fs.Float64("webhook-drop-rate", 0, "fraction of webhook POSTs dropped once (not sent) and retried"),
		hookRetries:    fs.Int("webhook-retries", 5, "retries of a webhook answered non-2xx or not at all (negative: none)"),
		hookBackoff:    fs.Duration("webhook-backoff", 200*time.Millisecond, "first webhook retry delay, doubled for each next one (capped at 30s)"),
		recipients:     recipientFlag{},
	}
	fs.Var(&f.recipients, "recipient", "script one recipient: NUMBER=fail:CODE | read-before-delivered | skip-delivered | failed-after-delivered | duplicate (comma-separated; repeatable)")
	f.asJSON = fs.Bool("json", false, "print the URLs as one JSON object")
	f.quiet = fs.Bool("quiet", false, "do not log requests on stderr")
	return f
}

// config is the sandbox's configuration from the flags and the
// environment; bad values are usage errors.
func (f *sandboxFlags) config(e *env) (sandbox.Config, error) {
	faults, err := f.faults()
	if err != nil {
		return sandbox.Config{}, err
	}
	var outsideList []string
	for _, n := range strings.Split(*f.outside, ",") {
		if n = strings.TrimSpace(n); n != "" {
			outsideList = append(outsideList, n)
		}
	}
	cfg := sandbox.Config{
		Addr:              *f.addr,
		MetaToken:         envOr(e, *f.metaToken, "PREP_SANDBOX_META_TOKEN"),
		D360Key:           envOr(e, *f.d360Key, "PREP_SANDBOX_D360_KEY"),
		InfobipKey:        envOr(e, *f.infobipKey, "PREP_SANDBOX_INFOBIP_KEY"),
		AppSecret:         envOr(e, *f.secret, "PREP_SANDBOX_APP_SECRET"),
		WebhookURL:        envOr(e, *f.webhook, "PREP_SANDBOX_WEBHOOK"),
		DataDir:           *f.data,
		OutsideWindow:     outsideList,
		MessagesPerSecond: *f.rate,
		PairInterval:      *f.pair,
		StatusDelay:       *f.statusDelay,
		Faults:            faults,
		// A secret: from the environment only. When set, Meta's
		// hub.challenge verification runs before any status is posted.
		VerifyToken: e.getenv("PREP_SANDBOX_VERIFY_TOKEN"),
		Delivery: sandbox.Delivery{
			Batch: *f.batch, BatchWindow: *f.batchWindow, DuplicateRate: *f.dupRate, ReadBeforeDeliveredRate: *f.reorderRate,
			SkipDeliveredRate: *f.skipRate, FailedAfterDeliveredRate: *f.failAfterRate, DropRate: *f.hookDrop,
			Retries: *f.hookRetries, RetryBackoff: *f.hookBackoff,
		},
		Recipients: f.recipients,
	}
	if *f.hookRetries == 0 {
		cfg.Delivery.Retries = -1 // the library's 0 means the default
	}
	if !*f.quiet {
		cfg.Logf = func(format string, a ...any) {
			fmt.Fprintf(e.stderr, time.Now().Format("15:04:05.000")+" "+format+"\n", a...)
		}
	}
	if *f.rate < 0 || *f.pair < 0 || *f.latency < 0 {
		return sandbox.Config{}, usageErrorf("sandbox: --rate, --pair-interval and --latency must not be negative")
	}
	return cfg, nil
}

// faults are the fault flags' faults for each provider of
// --fault-providers.
func (f *sandboxFlags) faults() (map[sandbox.Provider]sandbox.Faults, error) {
	ft := sandbox.Faults{Latency: *f.latency, ErrorRate: *f.errRate, TooManyRate: *f.tooMany, RetryAfter: *f.retryAfter, DropRate: *f.dropRate}
	faults := map[sandbox.Provider]sandbox.Faults{}
	for _, p := range strings.Split(*f.faultProviders, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(sandbox.Providers(), sandbox.Provider(p)) {
			return nil, usageErrorf("sandbox: unknown provider %q in --fault-providers (meta, 360dialog, infobip)", p)
		}
		faults[sandbox.Provider(p)] = ft
	}
	return faults, nil
}

// printSandboxJSON prints the sandbox's URLs as one JSON object.
func printSandboxJSON(e *env, srv *sandbox.Server) {
	_ = json.NewEncoder(e.stdout).Encode(map[string]string{
		"url": srv.URL(), "page": srv.URL() + "/", "meta": srv.MetaURL(), "360dialog": srv.D360URL(),
		"infobip": srv.InfobipURL(), "files": srv.URL() + "/_sandbox/files/", "messages": srv.URL() + "/_sandbox/messages",
		"data": srv.DataDir(), "play": srv.URL() + "/_sandbox/play/",
	})
}

// printSandbox prints the sandbox's URLs for a person.
func printSandbox(e *env, srv *sandbox.Server, webhookURL string) {
	fmt.Fprintf(e.stdout, "prep sandbox listening on %s\n", srv.URL())
	fmt.Fprintf(e.stdout, "  page       %s/\n", srv.URL())
	fmt.Fprintf(e.stdout, "  Meta       %s/v23.0/{phone-number-id}/messages   (Authorization: Bearer <token>)\n", srv.MetaURL())
	fmt.Fprintf(e.stdout, "  360dialog  %s/messages                          (D360-API-KEY: <key>)\n", srv.D360URL())
	fmt.Fprintf(e.stdout, "  Infobip    %s/whatsapp/1/message/audio         (Authorization: App <key>)\n", srv.InfobipURL())
	fmt.Fprintf(e.stdout, "  files      %s/_sandbox/files/{name}   (POST/PUT to host media, GET to fetch)\n", srv.URL())
	fmt.Fprintf(e.stdout, "  messages   %s/_sandbox/messages\n", srv.URL())
	fmt.Fprintf(e.stdout, "  play       POST %s/_sandbox/play/{message-id}   (the recipient plays a voice note: \"played\")\n", srv.URL())
	fmt.Fprintf(e.stdout, "  360dialog webhook: POST %s/v1/configs/webhook {\"url\", \"headers\"}\n", srv.D360URL())
	fmt.Fprintf(e.stdout, "  media kept in %s\n", srv.DataDir())
	fmt.Fprintln(e.stdout, "  credentials: \"sandbox\" for each provider unless set with flags or PREP_SANDBOX_* variables")
	if webhookURL != "" {
		fmt.Fprintf(e.stdout, "  webhooks → %s\n", webhookURL)
	}
	fmt.Fprintln(e.stdout, "Press Ctrl-C to stop.")
}

// recipientFlag is --recipient NUMBER=SPEC, repeatable: SPEC is a
// comma-separated list of fail:CODE, an order (read-before-delivered,
// skip-delivered, failed-after-delivered) and duplicate.
type recipientFlag map[string]sandbox.Recipient

func (f recipientFlag) String() string { return "" }

func (f recipientFlag) Set(v string) error {
	num, spec, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(num) == "" || spec == "" {
		return fmt.Errorf("want NUMBER=SPEC, got %q", v)
	}
	r := f[num]
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "duplicate":
			r.Duplicate = true
		case strings.HasPrefix(part, "fail:"):
			code, err := strconv.Atoi(strings.TrimPrefix(part, "fail:"))
			if err != nil || code <= 0 {
				return fmt.Errorf("fail:CODE wants a positive error code, got %q", part)
			}
			r.Fail = code
		case slices.Contains(sandbox.Orders(), sandbox.Order(part)):
			r.Order = sandbox.Order(part)
		default:
			return fmt.Errorf("unknown %q (fail:CODE, duplicate, or one of %v)", part, sandbox.Orders())
		}
	}
	f[num] = r
	return nil
}
