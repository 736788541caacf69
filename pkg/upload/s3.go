package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// MaxPresignTTL is the longest a SigV4 presigned URL can live (7 days).
const MaxPresignTTL = 7 * 24 * time.Hour

// S3Config configures the S3 destination. Only Bucket is required.
type S3Config struct {
	Bucket string
	Prefix string // key prefix, e.g. "voice/"; keys are {Prefix}{sha256}{ext}
	// Endpoint is a custom S3 endpoint (MinIO, R2, Ceph, versitygw, …);
	// path-style addressing is used with it. "" = AWS.
	Endpoint string
	Region   string // "" = from the AWS config chain, else us-east-1
	// PublicURL, when set, makes references {PublicURL}/{key} instead of
	// presigned URLs (a public bucket or a CDN in front of it).
	PublicURL string
	// PresignTTL is how long presigned URLs live: default and maximum
	// MaxPresignTTL.
	PresignTTL time.Duration
	// Static credentials; when AccessKeyID is empty the standard AWS chain
	// (environment, shared config/profile, SSO, IMDS, …) is used.
	AccessKeyID, SecretAccessKey, SessionToken string
	// HTTPClient is copied and made not to follow redirects (see NewS3).
	HTTPClient  *http.Client
	MaxAttempts int // SDK attempts per operation; 0 = SDK default
}

// S3ConfigFromEnv reads the S3 destination from environment-like variables
// (getenv is usually os.Getenv; nil reads nothing): S3_BUCKET, S3_PREFIX,
// S3_ENDPOINT, S3_PUBLIC_URL, S3_REGION (else AWS_REGION), and static
// credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN when set (otherwise NewS3 uses the AWS config chain:
// profiles, SSO, instance roles, …). Callers override fields (flags) before
// NewS3.
func S3ConfigFromEnv(getenv func(string) string) S3Config {
	get := func(k string) string {
		if getenv == nil {
			return ""
		}
		return strings.TrimSpace(getenv(k))
	}
	return S3Config{
		Bucket:          get("S3_BUCKET"),
		Prefix:          get("S3_PREFIX"),
		Endpoint:        get("S3_ENDPOINT"),
		PublicURL:       get("S3_PUBLIC_URL"),
		Region:          firstNonEmpty(get("S3_REGION"), get("AWS_REGION")),
		AccessKeyID:     get("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: get("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    get("AWS_SESSION_TOKEN"),
	}
}

// S3 uploads to a bucket under content-addressed keys. It is safe for
// concurrent use; concurrent uploads of the same bytes make one PUT.
type S3 struct {
	cfg     S3Config
	client  *s3.Client
	presign *s3.PresignClient
	flight  flight
}

var (
	_ Uploader = (*S3)(nil)
	_ Linker   = (*S3)(nil)
)

// NewS3 builds an S3 uploader. It makes no request.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, &ConfigError{Setting: "bucket", Msg: "not given"}
	}
	if cfg.PresignTTL == 0 {
		cfg.PresignTTL = MaxPresignTTL
	}
	if cfg.PresignTTL < time.Second || cfg.PresignTTL > MaxPresignTTL {
		return nil, &ConfigError{Setting: "presign TTL", Msg: "must be between 1s and 7 days (the SigV4 maximum)"}
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, &ConfigError{Setting: "public URL", Msg: "must be an http(s) URL"}
		}
		cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	}
	client, err := NewS3Client(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &S3{cfg: cfg, client: client, presign: s3.NewPresignClient(client)}, nil
}

// NewS3Client builds the S3 API client for cfg's endpoint, region and
// credentials (Bucket, Prefix, PublicURL and PresignTTL are not read): the
// one S3 client of prep, for whatever reads or writes objects. It follows
// no redirect (see NewS3) and, with a custom endpoint, uses path-style
// addressing and integrity checksums only where required. It makes no
// request.
func NewS3Client(ctx context.Context, cfg S3Config) (*s3.Client, error) {
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, &ConfigError{Setting: "endpoint", Msg: "must be an http(s) URL"}
		}
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	if cfg.MaxAttempts > 0 {
		opts = append(opts, config.WithRetryMaxAttempts(cfg.MaxAttempts))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, &ConfigError{Setting: "AWS configuration", Msg: err.Error()}
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.HTTPClient = s3HTTPClient(cfg.HTTPClient)
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
			// Third-party servers vary in their support of the newer
			// default integrity checksums; send them only when required.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	}), nil
}

// s3HTTPClient is the client S3 requests go through: the caller's (copied,
// never changed) or one on the SDK's default transport, and in both cases
// one that follows no redirect. The SDK's own client follows every 307 and
// 308 without a limit (aws/transport/http limitedRedirect) and re-sends the
// signed request, SigV4 Authorization included, to whatever host the
// answer names: an endpoint answering 307 to itself drew 35,000 requests
// in 30 s (issue 13). S3 has no redirect a client must follow: a bucket in
// another region answers 301 PermanentRedirect, which the SDK does not
// follow either. The 3xx answer comes back as an *S3Error of kind
// S3Redirect.
func s3HTTPClient(hc *http.Client) *http.Client {
	var c http.Client
	if hc != nil {
		c = *hc
	} else {
		c.Transport = awshttp.NewBuildableClient().GetTransport()
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// Key is the object key for content with that SHA-256 and canonical
// extension.
func (u *S3) Key(sha256hex, ext string) string { return u.cfg.Prefix + sha256hex + ext }

// Upload checks f, then writes it to {Prefix}{sha256}{ext} with the
// Content-Type of its real type, unless an object with that key, size and
// type already exists (Ref.Reused). The reference is the public URL, or a
// presigned GET URL: Ref.Link, with Ref.URL the same without its query.
func (u *S3) Upload(ctx context.Context, f File) (*Ref, error) {
	p, err := prepare(ctx, f, true)
	if err != nil {
		return nil, err
	}
	defer p.close()
	ref := p.ref()
	ref.Key = u.Key(p.sha256, p.typ.Ext)
	existed, shared, err := u.flight.do(ctx, ref.Key, func() (string, error) {
		existed, err := u.put(ctx, p, ref.Key)
		if existed {
			return "existed", err
		}
		return "", err
	})
	if err != nil {
		return nil, err
	}
	// Reused: S3 had it, or a concurrent call of ours just wrote it.
	ref.Reused = existed != "" || shared
	link, err := u.URL(ctx, ref.Key)
	if err != nil {
		return nil, err
	}
	ref.URL = link
	if u.cfg.PublicURL == "" {
		ref.URL, ref.Link = RedactURL(link), link
	}
	return ref, nil
}

// URL is the reference for an object key: {PublicURL}/{key} or a presigned
// GET URL valid for PresignTTL (computed locally, no request). A presigned
// URL is a credential: send it, never print or store it (RedactURL).
func (u *S3) URL(ctx context.Context, key string) (string, error) {
	if u.cfg.PublicURL != "" {
		return u.cfg.PublicURL + "/" + escapeKey(key), nil
	}
	req, err := u.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(u.cfg.Bucket), Key: aws.String(key)},
		s3.WithPresignExpires(u.cfg.PresignTTL))
	if err != nil {
		return "", u.classify("PresignGetObject", key, err)
	}
	return req.URL, nil
}

// put writes the object unless it is already there; it reports whether it
// was.
func (u *S3) put(ctx context.Context, p *prepared, key string) (bool, error) {
	head, err := u.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(u.cfg.Bucket), Key: aws.String(key)})
	if err == nil {
		// Content-addressed: same key means same bytes. Size and type are
		// checked anyway so an object written by something else with a wrong
		// Content-Type is rewritten rather than served wrong.
		if aws.ToInt64(head.ContentLength) == p.size && sameMIME(aws.ToString(head.ContentType), p.typ.MIME) {
			return true, nil
		}
	} else if !isNotFound(err) && !isForbidden(err) {
		return false, u.classify("HeadObject", key, err)
	}
	_, err = u.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(u.cfg.Bucket),
		Key:           aws.String(key),
		Body:          io.NewSectionReader(p.r, 0, p.size),
		ContentLength: aws.Int64(p.size),
		ContentType:   aws.String(p.typ.MIME),
		Metadata:      map[string]string{"sha256": p.sha256},
	})
	if err != nil {
		return false, u.classify("PutObject", key, err)
	}
	return false, nil
}

// classify turns an SDK error into an *S3Error (context errors pass).
func (u *S3) classify(op, key string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	e := &S3Error{Kind: S3Other, Op: op, Bucket: u.cfg.Bucket, Key: key, Err: err}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		e.Status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		e.Code = ae.ErrorCode()
		e.Err = errors.New(ae.ErrorMessage())
		if e.Err.Error() == "" {
			e.Err = errors.New(e.Code)
		}
	}
	var ne net.Error
	var se *smithyhttp.RequestSendError
	switch {
	case e.Status >= 300 && e.Status < 400:
		e.Kind = S3Redirect
		where := "elsewhere"
		if re != nil && re.Response != nil {
			if loc, perr := url.Parse(re.Response.Header.Get("Location")); perr == nil && loc.Host != "" {
				where = "to " + loc.Host
			}
		}
		e.Err = fmt.Errorf("the endpoint redirected %s; redirects are not followed for S3, so signed requests never go to another host (use the bucket's own endpoint and region)", where)
	case e.Code == "NoSuchBucket":
		e.Kind = S3NoBucket
	case e.Status == http.StatusForbidden || e.Status == http.StatusUnauthorized || isAuthCode(e.Code):
		e.Kind = S3Auth
	case strings.Contains(err.Error(), "failed to retrieve credentials") || strings.Contains(err.Error(), "failed to refresh cached credentials"):
		e.Kind = S3Auth
		e.Err = errors.New("no AWS credentials found")
	case e.Status == 0 && (errors.As(err, &se) || errors.As(err, &ne)):
		e.Kind = S3Network
	}
	return e
}

func isAuthCode(code string) bool {
	switch code {
	case "SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "InvalidToken", "ExpiredToken",
		"InvalidClientTokenId", "AuthorizationHeaderMalformed", "MissingSecurityHeader",
		"XAdminUserNotFound": // versitygw's answer (404) to an unknown access key

		return true
	}
	return false
}

func isNotFound(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		var ae smithy.APIError
		// A HEAD has no body, so a missing bucket and a missing key both
		// read as 404 NotFound; the PUT that follows tells them apart.
		return !errors.As(err, &ae) || ae.ErrorCode() != "NoSuchBucket"
	}
	return false
}

// isForbidden: a HEAD answered 403. Without s3:ListBucket (an uploader
// policy often grants only GetObject and PutObject) S3 answers 403, not
// 404, for a key that does not exist. Wrong credentials also give 403 on
// a HEAD (no body, no error code): the PUT that follows tells them apart
// and is the error reported.
func isForbidden(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden
}

func sameMIME(a, b string) bool {
	if i := strings.IndexByte(a, ';'); i >= 0 {
		a = a[:i]
	}
	return strings.EqualFold(strings.TrimSpace(a), b)
}

// escapeKey escapes each path segment of an object key for a URL.
func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// flight makes concurrent calls for the same key share one execution. The
// first caller runs fn; the others wait for it and get its value with
// shared=true. A leader that gave up on its context does not fail the
// others: one of them runs fn again.
type flight struct {
	mu sync.Mutex
	m  map[string]*flightCall
}

type flightCall struct {
	done chan struct{}
	val  string
	err  error
}

func (f *flight) do(ctx context.Context, key string, fn func() (string, error)) (val string, shared bool, err error) {
	for {
		f.mu.Lock()
		if f.m == nil {
			f.m = map[string]*flightCall{}
		}
		if c, ok := f.m[key]; ok {
			f.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				return "", false, ctx.Err()
			}
			if c.err != nil && (errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded)) {
				continue
			}
			return c.val, true, c.err
		}
		c := &flightCall{done: make(chan struct{})}
		f.m[key] = c
		f.mu.Unlock()
		c.val, c.err = fn()
		f.mu.Lock()
		delete(f.m, key)
		f.mu.Unlock()
		close(c.done)
		return c.val, false, c.err
	}
}
