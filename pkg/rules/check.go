package rules

import (
	"fmt"
	"strings"
)

// Facts are what is known of a file's bytes — as pkg/inspect reports them —
// that decide whether WhatsApp takes it.
type Facts struct {
	Container string // as pkg/inspect names it (ContainerOgg, …); "" unknown
	Codec     string // ffprobe's codec_name; "" unknown
	Channels  int    // 0: the header gives no channel count
	Streams   int    // audio streams (Ogg: logical audio bitstreams); 0 means 1
	Chained   bool   // Ogg: several links one after another
	HasVideo  bool
	Truncated bool
	Size      int64 // bytes
	// VoiceMaxBytes is the voice-note budget; 0 means VoiceMaxBytes.
	VoiceMaxBytes int64
}

// Problem codes Check gives (pkg/inspect reports them as its Problem codes).
const (
	ProblemUnsupportedContainer = "unsupported_container" // a container WhatsApp does not take
	ProblemUnsupportedCodec     = "unsupported_codec"     // a container it takes, with a codec it does not
	ProblemHasVideo             = "has_video"             // a video track is present
	ProblemTruncated            = "truncated"             // the file ends early
	ProblemChainedStream        = "chained_stream"        // more than one stream or link
	ProblemNotMono              = "not_mono"              // more than one channel (or unknown) where mono is required
	ProblemTooLarge             = "too_large"             // over AudioMaxBytes
	ProblemTooLargeForVoice     = "too_large_for_voice"   // over the voice budget: a download icon, not a play icon
)

// Problem is one reason WhatsApp does not take a file, or not as a voice
// note.
type Problem struct {
	Code    string
	Message string
	// VoiceOnly: the file is still taken as basic audio; only the voice
	// note (play icon) is lost.
	VoiceOnly bool
}

// Verdict is Check's answer.
type Verdict struct {
	Type     MediaType // the type of the bytes when Known (even if refused, e.g. stereo Ogg Opus)
	Known    bool      // container and codec are one of AudioTypes
	Audio    bool      // taken as basic audio
	Voice    bool      // taken as a voice note with a play icon
	Problems []Problem // why not, in a stable order
}

// Refusals are the problems that keep the file from being taken as basic
// audio (those that are not VoiceOnly).
func (v Verdict) Refusals() []Problem {
	var out []Problem
	for _, p := range v.Problems {
		if !p.VoiceOnly {
			out = append(out, p)
		}
	}
	return out
}

// Check decides whether WhatsApp takes a file with these facts as basic
// audio (one of AudioTypes, audio only, one stream, complete, mono where
// the type demands it, at most AudioMaxBytes) and as a voice note (also
// Ogg Opus, mono, within the voice budget).
func Check(f Facts) Verdict {
	c := checker{f: f, v: Verdict{Audio: true, Voice: true}}
	c.v.Type, c.v.Known = Lookup(f.Container, f.Codec)
	c.typ()
	if f.HasVideo {
		c.refuse(ProblemHasVideo, "the file has a video track; WhatsApp audio must be audio only")
	}
	if f.Truncated {
		c.refuse(ProblemTruncated, "the file ends early (truncated or still being written)")
	}
	c.streams()
	c.channels()
	if !IsVoiceType(f.Container, f.Codec) {
		c.v.Voice = false
	}
	c.size()
	c.v.Voice = c.v.Voice && c.v.Audio
	return c.v
}

type checker struct {
	f Facts
	v Verdict
}

func (c *checker) refuse(code, msg string) {
	c.v.Audio, c.v.Voice = false, false
	c.v.Problems = append(c.v.Problems, Problem{Code: code, Message: msg})
}

func (c *checker) notVoice(code, msg string) {
	c.v.Voice = false
	c.v.Problems = append(c.v.Problems, Problem{Code: code, Message: msg, VoiceOnly: true})
}

func (c *checker) typ() {
	if c.v.Known {
		return
	}
	if containerAccepted(c.f.Container) {
		codec := c.f.Codec
		if codec == "" {
			codec = "an unknown codec"
		}
		c.refuse(ProblemUnsupportedCodec, fmt.Sprintf("%s in %s is not accepted; WhatsApp takes %s", codec, c.f.Container, acceptedCodecs(c.f.Container)))
		return
	}
	c.refuse(ProblemUnsupportedContainer, fmt.Sprintf("the %s container is not accepted; WhatsApp takes %s", c.f.Container, acceptedTypes()))
}

func (c *checker) streams() {
	switch {
	case c.f.Chained:
		c.refuse(ProblemChainedStream, "the Ogg file is chained (several recordings one after another); WhatsApp needs exactly one logical stream")
	case c.f.Streams <= 1:
	case c.f.Container == ContainerOgg:
		c.refuse(ProblemChainedStream, fmt.Sprintf("the Ogg file multiplexes %d logical streams; WhatsApp needs exactly one", c.f.Streams))
	default:
		c.refuse(ProblemChainedStream, fmt.Sprintf("the file holds %d audio tracks; WhatsApp needs exactly one", c.f.Streams))
	}
}

func (c *checker) channels() {
	if c.f.Channels == 1 {
		return
	}
	mono := c.v.Known && c.v.Type.MonoOnly
	var msg string
	switch {
	case c.f.Channels > 1:
		msg = fmt.Sprintf("%d channels; a voice note must be mono", c.f.Channels)
	case mono: // 0: the header gives no channel count
		msg = fmt.Sprintf("the channel count is unknown; WhatsApp takes %s mono only", c.v.Type.Name)
	default:
		c.v.Voice = false
		return
	}
	if mono {
		c.refuse(ProblemNotMono, msg)
	} else {
		c.notVoice(ProblemNotMono, msg)
	}
}

func (c *checker) size() {
	budget := c.f.VoiceMaxBytes
	if budget <= 0 {
		budget = VoiceMaxBytes
	}
	switch {
	case c.f.Size > AudioMaxBytes:
		c.refuse(ProblemTooLarge, fmt.Sprintf("%d bytes is over WhatsApp's limit of %d bytes", c.f.Size, AudioMaxBytes))
	case c.f.Size > budget && IsVoiceType(c.f.Container, c.f.Codec):
		// Said only of what is otherwise a voice note's type (Ogg Opus):
		// other types become voice notes by transcoding, which plans the
		// size anyway.
		c.notVoice(ProblemTooLargeForVoice, fmt.Sprintf("%d bytes is over the voice-note budget of %d bytes: it would show a download icon, not a play icon", c.f.Size, budget))
	case c.f.Size > budget:
		c.v.Voice = false
	}
}

func containerAccepted(container string) bool {
	for _, t := range audioTypes {
		if t.Container == container {
			return true
		}
	}
	return false
}

// acceptedTypes lists the table's types, e.g. "MP4 Audio (aac in mp4, .m4a)".
func acceptedTypes() string {
	var names []string
	for _, t := range audioTypes {
		names = append(names, fmt.Sprintf("%s (%s in %s, %s)", t.Name, t.Codec, t.Container, t.Ext))
	}
	return strings.Join(names, ", ")
}

func acceptedCodecs(container string) string {
	var names []string
	for _, t := range audioTypes {
		if t.Container == container {
			names = append(names, t.Codec)
		}
	}
	return strings.Join(names, ", ")
}
