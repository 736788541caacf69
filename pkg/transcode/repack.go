package transcode

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/transcode/internal/oggopus"
)

// readNote reads a whole Ogg Opus note (bounded: voice notes are at most
// WhatsApp's 16 MB audio limit). It opens with inspect.OpenRegular, as
// every read of the source does: a path swapped for a FIFO since it was
// inspected is refused, not waited on.
func readNote(p string) ([]byte, error) {
	f, _, err := inspect.OpenRegular(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, oggopus.MaxStreamBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > oggopus.MaxStreamBytes {
		return nil, fmt.Errorf("%d bytes or more: too large to repack", oggopus.MaxStreamBytes)
	}
	return b, nil
}

// writeFile writes b to the existing file p (truncating it); a full disk
// is reported as such (the error text says "no space left on device").
func writeFile(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// repackInPlace repacks the Ogg Opus file ffmpeg wrote at p: PackingNative
// always; PackingSingle only when its granule positions do not count its
// samples (ffmpeg's Ogg muxer carries its input's timestamp gaps into
// them), and then keeping its packets. The file is read and parsed once.
func repackInPlace(p string, packing Packing) error {
	b, err := readNote(p)
	if err != nil {
		return &Error{Kind: KindOutput, Err: fmt.Errorf("reading the encoded note: %w", err)}
	}
	s, err := oggopus.Parse(b)
	if packing != PackingNative && (err != nil || oggopus.GranuleError(s) == nil) {
		return nil // kept as ffmpeg wrote it (verify reads it next)
	}
	var out []byte
	if err == nil {
		out, _, err = s.Rewrite(packing == PackingNative)
	}
	if err != nil {
		return &Error{Kind: KindFFmpeg, Err: fmt.Errorf("repacking the note ffmpeg wrote: %w", err)}
	}
	if err := writeFile(p, out); err != nil {
		return &Error{Kind: KindOutput, Err: fmt.Errorf("writing the repacked note: %w", err)}
	}
	return nil
}

// repack carries out an ActionRepack plan: the compliant note's frames
// repacked (no decoding), verified and delivered. A stream the repacker
// cannot take (e.g. chained or cut, which inspect would have flagged) is
// passed through as it is instead: it returns false, the plan turned back
// into a passthrough.
//
// s is the source already parsed (by the granule check), nil to read and
// parse it here.
func (j *job) repack(ctx context.Context, d dest, p *Plan, s *oggopus.Stream) (Output, bool, error) {
	var err error
	if s == nil {
		var b []byte
		if b, err = readNote(j.src); err != nil {
			return Output{}, false, &Error{Kind: KindInput, Err: err}
		}
		s, err = oggopus.Parse(b)
	}
	var out []byte
	if err == nil {
		// PackingSingle: packets kept, pages and granules rewritten.
		out, _, err = s.Rewrite(p.Packing != PackingSingle)
	}
	if err != nil {
		p.Action, p.Packing = ActionPassthrough, ""
		p.Reason = "already a mono Ogg Opus voice note within the budget; kept as is: it cannot be repacked (" + err.Error() + ")"
		return Output{}, false, nil
	}
	final := d.outPath(j.name, p.Ext, 0)
	tmp, err := j.newTemp(j.t.tempDir(final), "."+filepath.Base(orStr(final, "prep"))+".*.tmp")
	if err != nil {
		return Output{}, false, err
	}
	if err := writeFile(tmp, out); err != nil {
		return Output{}, false, &Error{Kind: KindOutput, Err: fmt.Errorf("writing the repacked note: %w", err)}
	}
	rep, over, err := j.verify(ctx, *p, tmp)
	if err != nil {
		return Output{}, false, err
	}
	if over {
		return Output{}, false, &Error{Kind: KindOverBudget, Err: fmt.Errorf("the repacked note is %d bytes, over the %d-byte budget", rep.Size, p.Budget)}
	}
	o, err := j.deliver(tmp, final, d.w, outputOf(rep))
	return o, true, err
}

// granuleGap says why the Ogg Opus note at p has granule positions that do
// not count its packets' samples (RFC 7845 §4), "" when they do or when it
// is not a stream the repacker reads (those are passed through as they are).
// It returns the parsed stream for the repack (nil with "").
func granuleGap(p string) (string, *oggopus.Stream) {
	b, err := readNote(p)
	if err != nil {
		return "", nil
	}
	s, err := oggopus.Parse(b)
	if err != nil {
		return "", nil
	}
	if err := oggopus.GranuleError(s); err != nil {
		return strings.TrimPrefix(err.Error(), "oggopus: "), s
	}
	return "", nil
}
