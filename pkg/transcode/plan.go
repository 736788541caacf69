package transcode

import (
	"fmt"
	"strings"

	"github.com/prep-audio/prep/pkg/inspect"
	"github.com/prep-audio/prep/pkg/inspect/codec"
	"github.com/prep-audio/prep/pkg/rules"
)

// Action is what a transcode does to one input.
type Action string

// Actions, cheapest first.
const (
	// ActionPassthrough copies the bytes unchanged (under the canonical
	// extension of their real type).
	ActionPassthrough Action = "passthrough"
	// ActionRemux copies the audio stream into the right container
	// (ffmpeg -c copy).
	ActionRemux Action = "remux"
	// ActionTranscode decodes and encodes.
	ActionTranscode Action = "transcode"
	// ActionRepack rewrites a voice note's packets and pages without
	// decoding (PackingNative on a note that is not packed that way).
	ActionRepack Action = "repack"
)

// Plan is what Transcoder.Plan decides for one input: pure, from the
// inspect report and the options.
type Plan struct {
	Action  Action  `json:"action"`
	Profile Profile `json:"profile"`
	Reason  string  `json:"reason"`
	// Ext is the canonical extension (from pkg/rules) of the output.
	Ext string `json:"ext"`
	// Format is ffmpeg's muxer for the output ("" for passthrough).
	Format string `json:"format,omitempty"`
	// Duration is the source duration planned for (0 when unknown).
	Duration float64 `json:"duration_s"`
	// Budget is the largest output allowed, in bytes.
	Budget int64 `json:"budget"`
	// Bitrate (bit/s), VBR mode, Channels and SampleRate of an encode.
	Bitrate    int    `json:"bitrate_bps,omitempty"`
	VBR        string `json:"vbr,omitempty"`
	Channels   int    `json:"channels,omitempty"`
	SampleRate int    `json:"sample_rate,omitempty"`
	// Filters is the -af chain ("" none).
	Filters string `json:"filters,omitempty"`
	// Estimate is the predicted output size in bytes (0 when unknown).
	Estimate int64 `json:"estimate,omitempty"`
	// Split is set when the input is cut into parts of at most PartMax
	// seconds, each planned on its own.
	Split   bool    `json:"split,omitempty"`
	PartMax float64 `json:"part_max_s,omitempty"`
	// Oversize is set when the voice budget was given up (--allow-oversize).
	Oversize bool `json:"oversize,omitempty"`
	// Packing of a voice note's Opus frames (voice encodes and remuxes).
	Packing Packing `json:"packing,omitempty"`
	// DTX is set for AMR sources that carry (or, in MP4/3GP, whose frames
	// prep does not walk may carry) SID/NO_DATA frames, which ffmpeg 5.1
	// cannot decode: the encode runs without -xerror, fills the frames it
	// drops with silence from the packet timestamps and pads to the
	// recording's length (one run, the recording's duration).
	DTX bool `json:"dtx,omitempty"`
}

// amrDTX reports whether an AMR source needs the DTX-tolerant decode: the
// AMR storage format says so frame by frame (inspect counts them); AMR in
// MP4/3GP is not walked, so it is assumed.
func amrDTX(rep *inspect.Report) bool {
	if rep.Codec != rules.CodecAMRNB && rep.Codec != codecAMRWB {
		return false
	}
	return rep.DTXFrames > 0 || rep.Container != rules.ContainerAMR
}

// planRepack turns the passthrough of a compliant voice note into a
// repack under PackingNative when inspect found SILK wideband frames (what
// a 16 kHz voip encode of speech makes) not packed like WhatsApp's own
// notes; other notes pass through, the reason saying why.
func planRepack(p *Plan, rep *inspect.Report, o Options) {
	op := rep.Opus
	if o.Packing != PackingNative || op == nil || op.Native || rep.Container != rules.ContainerOgg {
		return
	}
	if repackPacking(rep, o) != PackingNative {
		p.Reason += fmt.Sprintf("; kept as is: %s, not SILK wideband (re-encode it for WhatsApp's packing)", op)
		return
	}
	p.Action, p.Packing = ActionRepack, PackingNative
	p.Reason = fmt.Sprintf("a voice note of %s: repacked three frames to a packet, like WhatsApp's own (lossless)", op)
}

// repackPacking is how a compliant Ogg Opus note that is rewritten
// losslessly (planRepack, or a granule gap) is packed: PackingNative
// (frames regrouped three to a packet) only under PackingNative and for
// SILK wideband frames, the one shape WhatsApp's own packets take;
// otherwise PackingSingle: its packets kept, pages and granules rewritten.
func repackPacking(rep *inspect.Report, o Options) Packing {
	op := rep.Opus
	if o.Packing != PackingNative || op == nil || rep.Container != rules.ContainerOgg ||
		op.Mode != codec.OpusSILK.String() || op.Bandwidth != codec.OpusWB.String() {
		return PackingSingle
	}
	return PackingNative
}

// dtxReason is added to the reason of a DTX plan.
const dtxReason = "; AMR SID/NO_DATA (DTX) frames decoded as silence, at the recording's length"

// codecAMRWB is ffprobe's codec name for AMR-WB.
const codecAMRWB = "amr_wb"

// refusal builds the error for a voice note that cannot fit.
func refusal(dur float64, budget int64, floor int, packing Packing) *Error {
	return errorf(KindTooLong, "%.1f s cannot fit a %d-byte voice note even at the %d bit/s floor (the longest that fits is %.0f s)",
		dur, budget, floor, maxDurationCBR(floor, int64(float64(budget)*budgetMargin), packing))
}

// plan decides what to do with the input described by rep. rep may carry
// an inspection error: then the input is transcoded blind (ffmpeg may still
// decode it) unless it is empty or unreadable.
func plan(rep *inspect.Report, o Options) (Plan, error) {
	if rep == nil {
		return Plan{}, errorf(KindInput, "no inspection report")
	}
	if rep.Has(inspect.CodeEmpty) || rep.Has(inspect.CodeUnreadable) || rep.Has(inspect.CodeNotRegular) {
		return Plan{}, errorf(KindInput, "%s", firstProblem(rep))
	}
	if o.Profile == ProfileAudio {
		return planAudio(rep, o)
	}
	return planVoice(rep, o)
}

func firstProblem(rep *inspect.Report) string {
	if len(rep.Problems) > 0 {
		return rep.Problems[0].Message
	}
	if rep.Error != "" {
		return rep.Error
	}
	return "unreadable input"
}

// forced reports whether the options ask for processing, which rules out
// passthrough and remux.
func forced(o Options) bool { return o.Normalize || o.TrimSilence || o.Bitrate > 0 || o.Reencode }

func filters(o Options) string {
	var f []string
	// Leading silence goes first so loudnorm measures speech, not silence.
	switch {
	case o.TrimSilence:
		// Leading silence, trailing silence and pauses over 1 s (kept at 0.5 s).
		f = append(f, "silenceremove=start_periods=1:start_threshold=-50dB:start_silence=0.1:stop_periods=-1:stop_duration=1:stop_threshold=-50dB:stop_silence=0.5")
	case o.Normalize:
		f = append(f, "silenceremove=start_periods=1:start_threshold=-50dB:start_silence=0.1")
	}
	if o.Normalize {
		// EBU R128 (ITU-R BS.1770) integrated loudness; -16 LUFS, -1.5 dBTP
		// is the usual target for speech on phones.
		f = append(f, "loudnorm=I=-16:TP=-1.5:LRA=11")
	}
	return strings.Join(f, ",")
}

func planVoice(rep *inspect.Report, o Options) (Plan, error) {
	budget := o.MaxBytes
	p := Plan{Profile: ProfileVoice, Ext: rules.Voice().Ext, Format: "ogg", Duration: rep.Duration, Budget: budget}
	ok := rep.Error == ""
	if ok && !forced(o) {
		if rep.VoiceReady {
			p.Action, p.Reason, p.Estimate = ActionPassthrough, "already a mono Ogg Opus voice note within the budget", rep.Size
			p.Format = ""
			planRepack(&p, rep, o)
			return p, nil
		}
		if o.AllowOversize && rep.AudioReady && rules.Check(oversize(rep)).Voice {
			p.Action, p.Reason, p.Estimate, p.Oversize = ActionPassthrough, "mono Ogg Opus over the voice budget, oversize allowed", rep.Size, true
			p.Budget, p.Format = rules.AudioMaxBytes, ""
			planRepack(&p, rep, o)
			return p, nil
		}
		if rep.Codec == rules.CodecOpus && rep.Channels == 1 && !rep.Truncated && !rep.Chained && opusCopyable(rep.Container) &&
			(!rules.IsVoiceType(rep.Container, rep.Codec) || rep.HasVideo) {
			// Opus payload ≈ bitrate × duration; Ogg adds its pages. With
			// no duration, the file's own size stands in (verified after).
			est := rep.Size
			if rep.Duration > 0 && rep.Bitrate > 0 {
				est = noteSize(rep.Duration, int(float64(rep.Bitrate)*opusFrameSec/8)+1, o.Packing)
			}
			if est > 0 && est <= budget {
				p.Action, p.Reason, p.Estimate, p.Packing = ActionRemux, fmt.Sprintf("mono Opus in %s: copied into Ogg", rep.Container), est, o.Packing
				return p, nil
			}
		}
	}
	p.Action, p.Channels, p.SampleRate, p.Filters, p.Packing = ActionTranscode, 1, o.SampleRate, filters(o), o.Packing
	p.Reason = voiceReason(rep)
	if p.DTX = amrDTX(rep); p.DTX {
		p.Reason += dtxReason
	}
	if o.Bitrate > 0 {
		p.Bitrate, p.VBR = o.Bitrate, o.VBR
		if p.VBR == VBRAuto {
			p.VBR = VBRConstrained
		}
		if rep.Duration > 0 {
			p.Estimate = oggOpusVBRSize(rep.Duration, p.Bitrate, p.VBR, o.Packing)
			if p.Estimate > budget && !o.AllowOversize {
				return p, errorf(KindTooLong, "at the asked %d bit/s a %.1f s note would be about %d bytes, over the %d-byte budget", p.Bitrate, rep.Duration, p.Estimate, budget)
			}
			if p.Estimate > budget {
				p.Oversize, p.Budget = true, rules.AudioMaxBytes
			}
		}
		return p, nil
	}
	if rep.Duration <= 0 {
		// Unknown duration: encode at the cap, verify, and correct once.
		p.Bitrate, p.VBR = o.MaxBitrate, orVBR(o.VBR, VBRConstrained)
		p.Reason += "; duration unknown: encoded at the cap, then verified"
		return p, nil
	}
	br, vbr, est := voiceBitrate(rep.Duration, budget, o)
	if br == 0 {
		switch {
		case o.Split:
			p.Split = true
			p.PartMax = splitPartMax(budget, o)
			p.Reason += fmt.Sprintf("; too long for one voice note: split into parts of at most %.0f s", p.PartMax)
			return p, nil
		case o.AllowOversize:
			p.Oversize, p.Budget = true, rules.AudioMaxBytes
			br, vbr, est = voiceBitrate(rep.Duration, rules.AudioMaxBytes, o)
			if br == 0 {
				return p, errorf(KindTooLong, "%.1f s cannot fit WhatsApp's %d-byte limit even at %d bit/s", rep.Duration, rules.AudioMaxBytes, o.MinBitrate)
			}
			p.Reason += "; over the voice budget, oversize allowed"
		default:
			return p, refusal(rep.Duration, budget, o.MinBitrate, o.Packing)
		}
	}
	p.Bitrate, p.VBR, p.Estimate = br, vbr, est
	return p, nil
}

// oversize is the report's facts with the voice budget raised to the audio
// limit: rules.Check then says whether the file is a voice note but for its
// size.
func oversize(rep *inspect.Report) rules.Facts {
	f := rep.Facts()
	f.VoiceMaxBytes = rules.AudioMaxBytes
	return f
}

func orVBR(mode, def string) string {
	if mode == VBRAuto {
		return def
	}
	return mode
}

// voiceBitrate plans the bitrate and VBR mode for dur seconds within
// budget: the cap with constrained VBR when even its worst measured
// deviation fits, else the largest CBR bitrate that fits (CBR sizes are
// exact, so the budget is used to the last percent). 0 when not even the
// floor fits.
func voiceBitrate(dur float64, budget int64, o Options) (int, string, int64) {
	target := int64(float64(budget) * budgetMargin)
	capBR := o.MaxBitrate
	if o.VBR == VBRAuto || o.VBR == VBRConstrained || o.VBR == VBROn {
		mode := orVBR(o.VBR, VBRConstrained)
		if est := oggOpusVBRSize(dur, capBR, mode, o.Packing); est <= target {
			return capBR, mode, est
		}
		if o.VBR != VBRAuto {
			// A forced VBR mode: the largest bitrate whose worst case fits.
			for br := capBR / cbrStep * cbrStep; br >= o.MinBitrate; br -= cbrStep {
				if est := oggOpusVBRSize(dur, br, mode, o.Packing); est <= target {
					return br, mode, est
				}
			}
			return 0, "", 0
		}
	}
	br := min(fitCBR(dur, target, o.Packing), capBR/cbrStep*cbrStep)
	if br < o.MinBitrate {
		return 0, "", 0
	}
	return br, VBROff, noteSize(dur, br/cbrStep, o.Packing)
}

// splitPartMax is the longest part planned at the floor, with 2% room so
// that a part cut a little late (at a silence) still fits.
func splitPartMax(budget int64, o Options) float64 {
	return 0.98 * maxDurationCBR(o.MinBitrate, int64(float64(budget)*budgetMargin), o.Packing)
}

func voiceReason(rep *inspect.Report) string {
	if rep.Error != "" {
		return "not a type prep reads natively: transcoded by ffmpeg"
	}
	var why []string
	if !rules.IsVoiceType(rep.Container, rep.Codec) {
		why = append(why, fmt.Sprintf("%s in %s", orUnknown(rep.Codec), orUnknown(rep.Container)))
	}
	if rep.Channels > 1 {
		why = append(why, fmt.Sprintf("%d channels", rep.Channels))
	}
	if rep.HasVideo {
		why = append(why, "video track")
	}
	if rep.Truncated {
		why = append(why, "truncated")
	}
	if rep.Chained || rep.Streams > 1 {
		why = append(why, "several logical streams")
	}
	if rep.Size > 0 && rep.Has(inspect.CodeTooLargeForVoice) || rep.Has(inspect.CodeTooLarge) {
		why = append(why, "over the budget")
	}
	if len(why) == 0 {
		return "re-encoded as asked"
	}
	return strings.Join(why, ", ") + ": encoded as mono Ogg Opus"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// opusCopyable reports whether ffmpeg can copy an Opus stream out of
// container into Ogg. Its CAF demuxer (ffmpeg 5.1) gives no OpusHead, and
// the Ogg muxer then refuses ("No extradata present"): a remux planned
// from CAF only costs a failed run before the transcode.
func opusCopyable(container string) bool { return container != rules.ContainerCAF }

// audioRemuxTarget returns the accepted type a codec can be copied into.
func audioRemuxTarget(rep *inspect.Report) (rules.MediaType, string, bool) {
	switch rep.Codec {
	case rules.CodecAAC:
		t, ok := rules.Lookup(rules.ContainerMP4, rules.CodecAAC)
		return t, "ipod", ok
	case rules.CodecMP3:
		t, ok := rules.Lookup(rules.ContainerMP3, rules.CodecMP3)
		return t, "mp3", ok
	case rules.CodecOpus:
		if rep.Channels == 1 && opusCopyable(rep.Container) {
			t, ok := rules.Lookup(rules.ContainerOgg, rules.CodecOpus)
			return t, "ogg", ok
		}
	case rules.CodecAMRNB:
		t, ok := rules.Lookup(rules.ContainerAMR, rules.CodecAMRNB)
		return t, "amr", ok
	}
	return rules.MediaType{}, "", false
}

func planAudio(rep *inspect.Report, o Options) (Plan, error) {
	budget := rules.AudioMaxBytes
	m4a, _ := rules.Lookup(rules.ContainerMP4, rules.CodecAAC)
	p := Plan{Profile: ProfileAudio, Ext: m4a.Ext, Format: "ipod", Duration: rep.Duration, Budget: budget}
	ok := rep.Error == ""
	if ok && !forced(o) {
		if rep.AudioReady {
			p.Action, p.Reason, p.Ext, p.Estimate, p.Format = ActionPassthrough, fmt.Sprintf("already an accepted audio type within %d bytes", budget), rep.Ext, rep.Size, ""
			return p, nil
		}
		if t, format, ok := audioRemuxTarget(rep); ok && !rep.Truncated && !rep.Chained && rep.Size <= budget &&
			(rep.Container != t.Container || rep.HasVideo) {
			p.Action, p.Ext, p.Format, p.Estimate = ActionRemux, t.Ext, format, rep.Size
			p.Reason = fmt.Sprintf("%s in %s: copied into %s", rep.Codec, rep.Container, t.Name)
			if rep.HasVideo && rep.Duration > 0 && rep.Bitrate > 0 {
				p.Estimate = rep.Bitrate * int64(rep.Duration) / 8
			}
			return p, nil
		}
	}
	p.Action, p.Filters, p.DTX = ActionTranscode, filters(o), amrDTX(rep)
	p.Reason = fmt.Sprintf("%s in %s is not an accepted audio type: encoded as AAC in M4A", orUnknown(rep.Codec), orUnknown(rep.Container))
	if p.DTX {
		p.Reason += dtxReason
	}
	p.Channels = 2
	if rep.Channels == 1 {
		p.Channels = 1
	}
	p.SampleRate = o.SampleRate
	if p.SampleRate == 0 && (rep.SampleRate > 48000 || p.Filters != "") {
		// loudnorm resamples to 192 kHz internally: name the output rate.
		p.SampleRate = 48000
		if rep.SampleRate >= 8000 && rep.SampleRate < 48000 {
			p.SampleRate = rep.SampleRate
		}
	}
	rate := p.SampleRate
	if rate == 0 {
		rate = rep.SampleRate
	}
	capBR := o.MaxBitrate
	if capBR == 0 {
		capBR = DefaultAudioStereoBitrate
		if p.Channels == 1 {
			capBR = DefaultAudioMonoBitrate
		}
	}
	if o.Bitrate > 0 {
		capBR = o.Bitrate
	}
	if rep.Duration <= 0 {
		p.Bitrate = capBR
		p.Reason += "; duration unknown: encoded at the cap, then verified"
		return p, nil
	}
	target := int64(float64(budget) * budgetMargin)
	br := capBR
	for br > 0 && m4aSize(rep.Duration, br, rate) > target {
		br -= 1000
	}
	if br < o.MinBitrate || br <= 0 {
		return p, errorf(KindTooLong, "%.0f s cannot fit WhatsApp's %d-byte audio limit even at %d bit/s: cut it into shorter files first", rep.Duration, budget, o.MinBitrate)
	}
	if o.Bitrate > 0 && br < o.Bitrate {
		return p, errorf(KindTooLong, "at the asked %d bit/s a %.0f s file would be over WhatsApp's %d-byte audio limit", o.Bitrate, rep.Duration, budget)
	}
	p.Bitrate, p.Estimate = br, m4aSize(rep.Duration, br, rate)
	return p, nil
}
