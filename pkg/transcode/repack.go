package transcode

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/prep-audio/prep/pkg/inspect/codec"
	"github.com/prep-audio/prep/pkg/transcode/internal/oggopus"
)

// readNote reads a whole Ogg Opus note (bounded: voice notes are at most
// WhatsApp's 16 MB audio limit).
func readNote(p string) ([]byte, error) {
	f, err := os.Open(p)
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

// repackInPlace repacks the Ogg Opus file ffmpeg wrote at p (PackingNative).
func repackInPlace(p string) error {
	b, err := readNote(p)
	if err != nil {
		return &Error{Kind: KindOutput, Err: fmt.Errorf("reading the encoded note: %w", err)}
	}
	out, _, err := oggopus.Repack(b)
	if err != nil {
		return &Error{Kind: KindFFmpeg, Err: fmt.Errorf("repacking the note ffmpeg wrote: %w", err)}
	}
	if err := writeFile(p, out); err != nil {
		return &Error{Kind: KindOutput, Err: fmt.Errorf("writing the repacked note: %w", err)}
	}
	return nil
}

// silkWideband: SILK wideband frames (RFC 6716 §3.1: configs 8–11), what
// a 16 kHz voip encode of speech makes.
func silkWideband(t codec.OpusTOC) bool {
	return t.Mode() == codec.OpusSILK && t.Bandwidth() == codec.OpusWB
}

// repackable reports whether a compliant voice note should be repacked
// under PackingNative: every frame SILK wideband, and not already packed
// natively (some packet is not code 3, or frames could be combined).
// why says why not, for the plan's reason.
func repackable(b []byte) (ok bool, why string) {
	s, err := oggopus.Parse(b)
	if err != nil {
		return false, "its Ogg pages cannot be repacked (" + err.Error() + ")"
	}
	if s.Head.MappingFamily != 0 {
		return false, "its channel mapping cannot be repacked"
	}
	allCode3 := true
	for _, a := range s.Audio {
		pk, err := codec.ParseOpusPacket(a.Data)
		if err != nil {
			return false, "it holds a malformed Opus packet"
		}
		if !silkWideband(pk.TOC) {
			return false, fmt.Sprintf("its frames are not all SILK wideband (%s %s)", pk.TOC.Mode(), pk.TOC.Bandwidth())
		}
		if pk.TOC.Code != 3 {
			allCode3 = false
		}
	}
	if allCode3 {
		if _, st, err := oggopus.Repack(b); err == nil && st.PacketsOut == st.PacketsIn {
			return false, "already packed three frames to a packet"
		}
	}
	return true, ""
}

// repackPassthrough is the passthrough of a compliant voice note under
// PackingNative: the note's frames repacked (no decoding), verified.
// It returns false (and no error) when the note is passed through as is.
func (j *job) repackPassthrough(ctx context.Context, d dest, p *Plan) (Output, bool, error) {
	b, err := readNote(j.src)
	if err != nil {
		return Output{}, false, &Error{Kind: KindInput, Err: err}
	}
	ok, why := repackable(b)
	if !ok {
		p.Reason += "; kept as is: " + why
		return Output{}, false, nil
	}
	out, _, err := oggopus.Repack(b)
	if err != nil { // repackable checked it
		return Output{}, false, &Error{Kind: KindInput, Err: err}
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
	p.Action, p.Packing = ActionRepack, PackingNative
	p.Reason = "a voice note of SILK wideband frames, one to a packet: repacked three to a packet (lossless)"
	o, err := j.deliver(tmp, final, d.w, outputOf(rep))
	return o, true, err
}
