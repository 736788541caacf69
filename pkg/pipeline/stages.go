package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/rules"
	"github.com/prep-audio/prep/pkg/send"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/prep-audio/prep/pkg/upload"
)

// The stages, usable one by one (a webhook receiver, a remote worker) as
// Pipeline.Run and Batch use them:
//
//	prep, err := p.Prepare(ctx, pipeline.Recording{Path: src, Profile: transcode.ProfileVoice}, dir)
//	refs, err := p.Upload(ctx, prep, send.Meta, false)
//	out := p.Send(ctx, store, &pipeline.SendRow{Key: key, Provider: send.Meta, To: to, Voice: true, Media: refs})
//
// Prepare and Upload are shared by content (Recording.Key and the
// destination); Send is per row and guarded by a Store.

// Recording is one source to prepare for a profile.
type Recording struct {
	Path    string
	SHA256  string // the source's; computed when empty
	Profile transcode.Profile
	Split   bool // voice: cut what cannot fit into consecutive notes
}

// Key is the recording's content key: the same bytes for the same profile
// are prepared once and uploaded once per destination, whatever their
// file names. SHA256 must be set.
func (r Recording) Key() string { return r.SHA256 + "|" + string(profileOr(r.Profile)) }

// Prepared is a recording made fit for its profile: the inspection, what
// the transcoder did and the files to upload, one per part.
type Prepared struct {
	Recording
	Bytes     int64 // the source's size
	Report    *inspect.Report
	Transcode *transcode.Result
	// Files are the outputs in part order, with their SHA-256 and the
	// transcoder's inspection of each (transcode.Output.Report; the
	// source's for a passthrough) so the upload inspects nothing twice.
	Files  []upload.File
	Timing Timing // Inspect and Transcode
}

// OutBytes is the sum of the prepared files' sizes.
func (pr *Prepared) OutBytes() int64 {
	var n int64
	for _, o := range pr.Transcode.Outputs {
		n += o.Bytes
	}
	return n
}

// Prepare inspects rec and transcodes it into dir (created when missing;
// the caller removes it once the files are uploaded). The returned
// Prepared is non-nil once the inspection ran; errors are *StageError.
func (p *Pipeline) Prepare(ctx context.Context, rec Recording, dir string) (*Prepared, error) {
	rec.Profile = profileOr(rec.Profile)
	pr := &Prepared{Recording: rec}
	if pr.SHA256 == "" {
		sum, _, err := hashFile(rec.Path)
		if err != nil {
			return nil, &StageError{Stage: StageRead, Err: err}
		}
		pr.SHA256 = sum
	}
	o := p.topts
	o.Profile, o.Split = rec.Profile, rec.Split && rec.Profile == transcode.ProfileVoice
	// The source is inspected once, with the transcoder's voice budget, and
	// the transcoder plans from that report.
	budget := o.MaxBytes
	if budget == 0 {
		budget = rules.VoiceMaxBytes
	}
	t0 := time.Now()
	rep, err := p.inspect(ctx, rec.Path, append(slices.Clip(p.iopts), inspect.WithVoiceMaxBytes(budget))...)
	pr.Timing.Inspect = time.Since(t0)
	pr.Report = rep
	if rep != nil {
		pr.Bytes = rep.Size
	}
	if err != nil {
		return pr, &StageError{Stage: StageInspect, Err: err}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return pr, &StageError{Stage: StageTranscode, Err: err}
	}
	t0 = time.Now()
	tr, err := p.transcode(ctx, rec.Path, rep, o, dir)
	pr.Timing.Transcode = time.Since(t0)
	if err != nil {
		return pr, &StageError{Stage: StageTranscode, Err: err}
	}
	if tr == nil || len(tr.Outputs) == 0 {
		return pr, &StageError{Stage: StageTranscode, Err: errors.New("the transcoder produced no output")}
	}
	pr.Transcode = tr
	for i := range tr.Outputs {
		out := &tr.Outputs[i]
		sum, n, err := hashFile(out.Path)
		if err != nil {
			return pr, &StageError{Stage: StageTranscode, Err: err}
		}
		out.Bytes = n
		// The transcoder's own inspection of the output (the source's for a
		// passthrough) goes on to the upload, which checks it instead of
		// reading the bytes again.
		f := upload.File{Path: out.Path, Name: strings.TrimSuffix(filepath.Base(out.Path), filepath.Ext(out.Path)), SHA256: sum, Report: out.Report}
		if f.Report == nil && tr.Action == transcode.ActionPassthrough && n == pr.Bytes {
			f.Report = rep // the same bytes, already inspected
		}
		pr.Files = append(pr.Files, f)
	}
	return pr, nil
}

// destination is where a row's recording is uploaded: a provider's media
// endpoint ("meta", "360dialog") or the link host ("link").
type destination string

const linkDest destination = "link"

// destFor is where an item for pv is uploaded: the link host for Infobip
// (it takes URLs only) or when link is set, else pv's media endpoint.
func destFor(pv send.Provider, link bool) destination {
	if link || pv == send.Infobip {
		return linkDest
	}
	return destination(pv)
}

// Destination names where items through pv are uploaded: "link" (the link
// host: Infobip, or every provider when link is set) or the provider's name
// (its media endpoint). One upload per recording and destination.
func Destination(pv send.Provider, link bool) string { return string(destFor(pv, link)) }

// MediaAccount is the media-id cache key of pv's media endpoint without
// content (upload.MediaUploader.CacheKey with no SHA-256: provider,
// endpoint and account), the one definition of which account a media id
// uploaded there belongs to. false when pv has no media uploader, or one
// that does not say (not an *upload.MediaUploader).
func (p *Pipeline) MediaAccount(pv send.Provider) (upload.CacheKey, bool) {
	if k, ok := p.media[pv].(interface{ CacheKey(string) upload.CacheKey }); ok {
		return k.CacheKey(""), true
	}
	return upload.CacheKey{}, false
}

// Account names the account that sends through pv without revealing its
// credential (send.Client.Account: Meta's phone number id, else a digest
// of the key); "" when pv has no sender, or one that does not say. Rate
// limits and caches shared between processes key on it.
func (p *Pipeline) Account(pv send.Provider) string {
	if a, ok := p.senders[pv].(interface{ Account() string }); ok {
		return a.Account()
	}
	return ""
}

// Upload puts every prepared file where messages through pv fetch it (the
// link host for Infobip or when link is set, else pv's media endpoint),
// in part order. Errors are *StageError.
func (p *Pipeline) Upload(ctx context.Context, prep *Prepared, pv send.Provider, link bool) ([]upload.Ref, error) {
	return p.upload(ctx, prep, destFor(pv, link))
}

func (p *Pipeline) upload(ctx context.Context, prep *Prepared, d destination) ([]upload.Ref, error) {
	up := p.link
	if d != linkDest {
		up = p.media[send.Provider(d)]
	}
	if up == nil {
		return nil, &StageError{Stage: StageUpload, Err: fmt.Errorf("no uploader configured for %s", d)}
	}
	refs := make([]upload.Ref, 0, len(prep.Files))
	for _, f := range prep.Files {
		ref, err := up.Upload(ctx, f)
		if err != nil {
			return refs, &StageError{Stage: StageUpload, Err: err}
		}
		if ref == nil || (ref.MediaID == "" && ref.URL == "") {
			return refs, &StageError{Stage: StageUpload, Err: errors.New("the uploader returned no media id or URL")}
		}
		refs = append(refs, *ref)
	}
	return refs, nil
}

// FetchURL is the URL a provider fetches for an upload to the link host:
// r.Link; else, when r has an object key and the link host is an
// upload.Linker (S3, the sandbox's file host), the URL made again from
// the key (a presigned URL, a credential, is kept in memory only:
// journals and queue entries hold the key); else r.URL. The URL made
// again must name the object r.URL names: an upload made through
// another link host (another bucket or endpoint, S3 then the file host or
// the other way round) is an error, never a URL the provider cannot fetch
// (r.URL alone is unsigned; the key presigned here names another object).
func (p *Pipeline) FetchURL(ctx context.Context, r upload.Ref) (string, error) {
	if r.Link != "" {
		return r.Link, nil
	}
	l, ok := p.link.(upload.Linker)
	if !ok || r.Key == "" {
		return r.URL, nil
	}
	u, err := l.URL(ctx, r.Key)
	if err != nil {
		return "", &StageError{Stage: StageUpload, Err: err}
	}
	if here := upload.RedactURL(u); here != upload.RedactURL(r.URL) {
		return "", &StageError{Stage: StageUpload, Err: fmt.Errorf("%w: %s, not %s", ErrOtherLinkHost, upload.RedactURL(r.URL), here)}
	}
	return u, nil
}

// LinkHost names where the link host keeps uploads, as the URLs it makes
// again from a key name them, without the key and any query (e.g.
// http://127.0.0.1:9000/bucket/ for S3 with a custom endpoint): an upload
// kept without its presigned URL is sent only through the same link host
// (FetchURL), so what shares uploads between processes (the queue's
// recordings bucket) keys them on it. "" when the link host cannot make
// URLs again (not an upload.Linker, or it failed): its URLs are fetched
// as they are, from anywhere. Never a credential.
func (p *Pipeline) LinkHost(ctx context.Context) string {
	l, ok := p.link.(upload.Linker)
	if !ok {
		return ""
	}
	const probe = "prep-link-host"
	u, err := l.URL(ctx, probe)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(upload.RedactURL(u), probe)
}

// ErrOtherLinkHost is FetchURL's error for an upload made through another
// link host than the pipeline's: it cannot be sent from here.
var ErrOtherLinkHost = errors.New("uploaded through another link host")

// fetchable reports whether every part of an earlier upload can be sent
// through this pipeline's link host (FetchURL; a media id always).
func (p *Pipeline) fetchable(ctx context.Context, refs []upload.Ref) bool {
	for _, r := range refs {
		if r.MediaID != "" {
			continue
		}
		if _, err := p.FetchURL(ctx, r); err != nil {
			return false
		}
	}
	return true
}

// refOf is the media id of an upload, else its URL (what the report's
// media column shows and the journal keeps).
func refOf(r upload.Ref) string {
	if r.MediaID != "" {
		return r.MediaID
	}
	return r.URL
}
