package upload

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/send"
)

// MediaUploader is the media service of a provider account: it uploads to
// the Meta Cloud API or 360dialog media endpoint of a *send.Client and
// returns a media id. Transport, credential, retries (a media upload is
// repeatable: one with no answer is retried), rate limit, redirects (none)
// and error answers (*send.APIError) are the client's.
type MediaUploader struct {
	c      *send.Client
	cache  *Cache
	flight flight
}

var _ Uploader = (*MediaUploader)(nil)

// mediaAttemptTimeout bounds one upload attempt: a 16 MB file over a slow
// link takes longer than a message's 30 s.
const mediaAttemptTimeout = 5 * time.Minute

// NewMedia builds the media uploader of an account. Only Meta and
// 360dialog have a media endpoint (Infobip sends by URL: use S3). cache,
// when not nil, remembers media ids by (provider, endpoint, account,
// sha256) so the same bytes are not uploaded twice. It makes no request.
func NewMedia(c *send.Client, cache *Cache) (*MediaUploader, error) {
	if c == nil {
		return nil, &ConfigError{Setting: "client", Msg: "no provider client given"}
	}
	if p := c.Provider(); p != send.Meta && p != send.D360 {
		return nil, &ConfigError{Setting: "provider", Msg: fmt.Sprintf("%s has no media endpoint (want %s or %s; send %s audio by URL)", p, send.Meta, send.D360, p)}
	}
	return &MediaUploader{c: c, cache: cache}, nil
}

// CacheKey is the cache key an upload of content with that SHA-256 uses.
func (u *MediaUploader) CacheKey(sha256hex string) CacheKey {
	return CacheKey{Provider: u.c.Provider(), Endpoint: u.c.URL("media"), Account: u.c.Account(), SHA256: sha256hex}
}

// Upload checks f, then returns the cached media id for its bytes if one
// is still fresh (Ref.Reused), else uploads it as multipart/form-data with
// messaging_product=whatsapp, type=<real MIME> and file=<name><canonical
// ext> (Meta's Business Messaging OpenAPI v23.0,
// https://github.com/facebook/openapi, POST /{Version}/{Phone-Number-ID}/media,
// operationId uploadImage: form-data "file" and "messaging_product"; the
// answer is {"id": …}).
func (u *MediaUploader) Upload(ctx context.Context, f File) (*Ref, error) {
	p, err := prepare(ctx, f, true)
	if err != nil {
		return nil, err
	}
	defer p.close()
	ref := p.ref()
	key := u.CacheKey(p.sha256)
	if u.cache != nil {
		if e, ok := u.cache.Get(key); ok {
			ref.MediaID, ref.Reused = e.MediaID, true
			return ref, nil
		}
	}
	// Concurrent uploads of the same bytes to the same account share one
	// request (a batch sending one file to many recipients).
	id, shared, err := u.flight.do(ctx, key.file(), func() (string, error) {
		id, err := u.post(ctx, p)
		if err == nil && u.cache != nil {
			// A cache that cannot be written costs a re-upload later,
			// nothing more; the upload itself succeeded.
			_ = u.cache.Put(key, CacheEntry{MediaID: id, MIME: p.typ.MIME, Ext: p.typ.Ext, Bytes: p.size})
		}
		return id, err
	})
	if err != nil {
		return nil, err
	}
	ref.MediaID, ref.Reused = id, shared
	return ref, nil
}

// post sends the multipart request through the account's client, with a
// fresh body for each attempt.
func (u *MediaUploader) post(ctx context.Context, p *prepared) (string, error) {
	head, tail, ctype, err := multipartFrame(p.stem+p.typ.Ext, p.typ.MIME)
	if err != nil {
		return "", err
	}
	resp, err := u.c.Do(ctx, &send.Request{
		Path:          "media",
		ContentType:   ctype,
		ContentLength: int64(len(head)) + p.size + int64(len(tail)),
		Body: func() (io.Reader, error) {
			return io.MultiReader(bytes.NewReader(head), p.body(), bytes.NewReader(tail)), nil
		},
		Repeatable: true,
		Timeout:    mediaAttemptTimeout,
	})
	if err != nil {
		return "", fmt.Errorf("media upload: %w", err)
	}
	id := mediaID(resp.Body)
	if id == "" {
		return "", fmt.Errorf("media upload: %s answered HTTP %d without a media id", u.c.Provider(), resp.Status)
	}
	return id, nil
}

// mediaID reads {"id": "…"} (Meta, 360dialog Cloud API) or
// {"media": [{"id": "…"}]} (360dialog on-premise answers).
func mediaID(body []byte) string {
	var v struct {
		ID    json.RawMessage `json:"id"`
		Media []struct {
			ID string `json:"id"`
		} `json:"media"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	if len(v.ID) > 0 {
		var s string
		if json.Unmarshal(v.ID, &s) == nil {
			return s
		}
		var n json.Number
		if json.Unmarshal(v.ID, &n) == nil {
			return n.String()
		}
	}
	if len(v.Media) > 0 {
		return v.Media[0].ID
	}
	return ""
}

// multipartFrame builds everything of the multipart body but the file
// bytes: the fields and the file part's header (head) and the closing
// boundary (tail). The file goes between them, so each attempt streams it
// afresh with an exact Content-Length.
func multipartFrame(filename, mime string) (head, tail []byte, contentType string, err error) {
	var hb, tb bytes.Buffer
	sw := &switchWriter{w: &hb}
	mw := multipart.NewWriter(sw)
	if err := mw.WriteField("messaging_product", "whatsapp"); err != nil {
		return nil, nil, "", err
	}
	if err := mw.WriteField("type", mime); err != nil {
		return nil, nil, "", err
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, escapeQuotes(filename)))
	h.Set("Content-Type", mime)
	if _, err := mw.CreatePart(h); err != nil {
		return nil, nil, "", err
	}
	sw.w = &tb
	if err := mw.Close(); err != nil {
		return nil, nil, "", err
	}
	return hb.Bytes(), tb.Bytes(), mw.FormDataContentType(), nil
}

type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "", "\n", "")

func escapeQuotes(s string) string { return quoteEscaper.Replace(s) }
