// Package upload puts audio where a WhatsApp provider can fetch it: an S3
// bucket (a presigned or public URL, for Infobip and for Meta/360dialog
// "link" messages) or the media endpoint of Meta's Cloud API or 360dialog
// (a media id).
//
// Every destination follows the same rules:
//
//   - The bytes are inspected (package inspect) before anything leaves the
//     machine, or a report already made of them is taken (File.Report, e.g.
//     transcode.Output.Report: the transcoder's own inspection of its
//     output) and decided on the same way (rules.Check over its facts).
//     What a provider would reject — not audio, a container or codec
//     WhatsApp does not take, stereo Ogg Opus, a video track, over the size
//     limit — is refused with a *RefusedError that says to transcode first.
//   - The MIME type and the file extension always come from package rules for
//     the real type of the bytes, never from the file name: Ogg Opus bytes
//     named "voice.mp4" are uploaded as audio/ogg under a ".ogg" name
//     (Meta classifies uploads by file name and fails with 131053 otherwise).
//   - Uploads are content-addressed by SHA-256 so repeats are free: S3 objects
//     are keyed {prefix}{sha256}{ext} and not written twice; media ids are
//     kept in a local cache (see Cache) for less than Meta's 30 days.
//
// The destinations implement the small Uploader interface; consumers (the
// pipeline, the CLI) depend on that interface only. The media endpoint is
// a service over the provider account's *send.Client (NewMedia): the same
// client sends the messages, with one retry policy, one set of rate-limit
// pauses and one error type (*send.APIError). S3 has its own client
// (NewS3Client), which follows no redirect either.
package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
)

// Uploader puts one file somewhere a provider can fetch it.
type Uploader interface {
	Upload(ctx context.Context, f File) (*Ref, error)
}

// File is one input to upload: a path, or a reader and its size. Report and
// SHA256 may carry what the caller already computed so the bytes are not
// read twice (pkg/pipeline passes transcode.Output.Report): a Report whose
// Size is the file's is trusted as the inspection of these bytes, and
// checked with rules.Check as a fresh one would be; another is ignored and
// the bytes inspected. A Path is opened with inspect.OpenRegular either way.
type File struct {
	Path string      // read from disk when R is nil
	R    io.ReaderAt // the bytes, when not reading Path
	Size int64       // size of R (ignored for Path)
	// Name is used for messages and as the stem of the uploaded file name
	// (its extension is always replaced by the canonical one). Default: the
	// base name of Path.
	Name   string
	Report *inspect.Report // optional, precomputed inspection of these bytes
	SHA256 string          // optional, precomputed lowercase hex SHA-256
}

// Ref is where an upload landed.
//
// URL is what may be shown and kept: for a presigned upload the object's
// URL without its signing query (scheme://host/path, see RedactURL), never
// the access key id or the signature. Link is the URL a provider fetches
// (the full presigned URL, a bearer credential to the object for
// PresignTTL): it is never encoded (json:"-"), and must not be printed,
// logged or stored; where it is lost (a journal, a queue entry), Linker
// makes it again from Key. FetchURL picks the one to send.
type Ref struct {
	URL     string `json:"url,omitempty"`      // S3: the public URL, or the presigned one without its query
	Link    string `json:"-"`                  // S3 presigned: the URL to send; "" when URL is fetchable as is
	MediaID string `json:"media_id,omitempty"` // Meta / 360dialog media id
	SHA256  string `json:"sha256"`
	MIME    string `json:"mime"` // from rules, for the real type
	Ext     string `json:"ext"`  // canonical extension, with the dot
	Bytes   int64  `json:"bytes"`
	Reused  bool   `json:"reused"`        // the object or media id already existed (nothing uploaded)
	Key     string `json:"key,omitempty"` // S3 object key
}

// FetchURL is the URL a provider fetches: Link when set, else URL.
func (r Ref) FetchURL() string {
	if r.Link != "" {
		return r.Link
	}
	return r.URL
}

// Linker makes the URL a provider fetches for an object already uploaded,
// from its key (Ref.Key), without uploading or any request: *S3 presigns
// it again (or gives its public URL).
type Linker interface {
	URL(ctx context.Context, key string) (string, error)
}

// RedactURL is raw without what may carry a credential, for display and
// records: the user info, the query (a presigned URL's X-Amz-Credential,
// which names the access key id, and its X-Amz-Signature) and the
// fragment. A presigned URL becomes https://host/bucket/key (path-style)
// or https://bucket.host/key. Text that does not parse as a URL becomes
// "(invalid URL)".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return u.String()
}

// prepared is a file that passed the checks, ready to upload.
type prepared struct {
	name   string // for messages
	stem   string // uploaded file name without extension
	r      io.ReaderAt
	size   int64
	typ    rules.MediaType
	sha256 string
	report *inspect.Report
	close  func() error
}

func (p *prepared) ref() *Ref {
	return &Ref{SHA256: p.sha256, MIME: p.typ.MIME, Ext: p.typ.Ext, Bytes: p.size}
}

// body returns a fresh reader over the whole content.
func (p *prepared) body() io.Reader { return io.NewSectionReader(p.r, 0, p.size) }

// Check inspects f (unless a matching Report is given) and reports the
// WhatsApp type it would be uploaded as, or a *RefusedError saying why no
// provider would take it. It does not hash or upload anything.
func Check(ctx context.Context, f File) (rules.MediaType, *inspect.Report, error) {
	p, err := prepare(ctx, f, false)
	if err != nil {
		return rules.MediaType{}, nil, err
	}
	defer p.close()
	return p.typ, p.report, nil
}

// prepare opens, inspects, checks and (if hash) hashes f. On success the
// caller must call p.close.
func prepare(ctx context.Context, f File, hash bool) (*prepared, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &prepared{name: f.Name, r: f.R, size: f.Size, close: func() error { return nil }}
	if p.name == "" {
		p.name = f.Path
	}
	if f.R == nil {
		if f.Path == "" {
			return nil, &InputError{Name: p.name, Err: errors.New("no path and no reader given")}
		}
		fh, st, err := inspect.OpenRegular(f.Path) // a FIFO or device is refused, never opened for reading
		if err != nil {
			return nil, &InputError{Name: p.name, Err: err}
		}
		p.r, p.size, p.close = fh, st.Size(), fh.Close
	} else if f.Size < 0 {
		return nil, &InputError{Name: p.name, Err: fmt.Errorf("negative size %d", f.Size)}
	}
	p.stem = fileStem(firstNonEmpty(f.Name, f.Path))
	ok := false
	defer func() {
		if !ok {
			p.close()
		}
	}()

	rep := f.Report
	if rep == nil || rep.Size != p.size {
		var err error
		rep, err = inspect.Reader(ctx, p.r, p.size, p.name)
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ie *inspect.Error
		if err != nil && !errors.As(err, &ie) {
			return nil, &InputError{Name: p.name, Err: err}
		}
	}
	p.report = rep
	typ, err := accept(p.name, rep)
	if err != nil {
		return nil, err
	}
	p.typ = typ
	if hash {
		if f.SHA256 != "" && isHexSHA256(f.SHA256) {
			p.sha256 = strings.ToLower(f.SHA256)
		} else {
			sum, err := hashReader(ctx, p.body(), p.size)
			if err != nil {
				return nil, &InputError{Name: p.name, Err: err}
			}
			p.sha256 = sum
		}
	}
	ok = true
	return p, nil
}

// accept decides from an inspection whether providers take the bytes, and
// as which type: rules.Check over the report's facts (checked again, so a
// hand-made Report cannot slip by), or, when the bytes could not be read
// as audio, the inspection's own reasons.
func accept(name string, rep *inspect.Report) (rules.MediaType, error) {
	v := rules.Check(rep.Facts())
	var blocking []inspect.Problem
	if rep.Error != "" || rep.Container == "" {
		for _, pr := range rep.Problems {
			if pr.Code != inspect.CodeExtMismatch {
				blocking = append(blocking, pr)
			}
		}
	}
	if len(blocking) == 0 {
		for _, p := range v.Refusals() {
			blocking = append(blocking, inspect.Problem{Code: inspect.Code(p.Code), Message: p.Message})
		}
	}
	if len(blocking) == 0 && !rep.AudioReady {
		blocking = append(blocking, inspect.Problem{Code: inspect.CodeCorrupt, Message: "inspection judged the file not ready for WhatsApp"})
	}
	if len(blocking) > 0 {
		return rules.MediaType{}, &RefusedError{Name: name, MIME: rep.MIME, Kind: blocking[0].Code, Problems: blocking}
	}
	return v.Type, nil
}

func hasCode(ps []inspect.Problem, c inspect.Code) bool {
	for _, p := range ps {
		if p.Code == c {
			return true
		}
	}
	return false
}

// hashReader returns the lowercase hex SHA-256 of r (about size bytes),
// checking ctx between chunks.
func hashReader(ctx context.Context, r io.Reader, size int64) (string, error) {
	h := sha256.New()
	buf := make([]byte, min(max(size, 512), 256<<10))
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := r.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
	}
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// fileStem is a safe upload name without extension: the base name's stem
// reduced to [A-Za-z0-9._-], at most 64 characters, "audio" when empty.
func fileStem(name string) string {
	base := filepath.Base(name)
	if base == "." || base == string(filepath.Separator) {
		base = ""
	}
	base = strings.TrimSuffix(base, filepath.Ext(base))
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	s := strings.Trim(b.String(), "._")
	if s == "" {
		return "audio"
	}
	return s
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
