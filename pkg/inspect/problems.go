package inspect

import (
	"fmt"
	"strings"

	"github.com/prep-audio/prep/pkg/rules"
)

// Code is a stable problem code. Scripts may match on it.
type Code string

// Problem codes.
const (
	CodeExtMismatch          Code = "ext_mismatch"          // the extension claims another type than the bytes
	CodeNotAudio             Code = "not_audio"             // the bytes are not audio at all
	CodeEmpty                Code = "empty"                 // zero bytes
	CodeTruncated            Code = "truncated"             // the file ends before its structure says it should
	CodeUnsupportedContainer Code = "unsupported_container" // audio, but in a container WhatsApp does not take
	CodeUnsupportedCodec     Code = "unsupported_codec"     // a container WhatsApp takes, with a codec it does not
	CodeNotMono              Code = "not_mono"              // more than one channel where mono is required
	CodeTooLarge             Code = "too_large"             // over rules.AudioMaxBytes
	CodeTooLargeForVoice     Code = "too_large_for_voice"   // over the voice budget (no play icon)
	CodeHasVideo             Code = "has_video"             // a video track is present
	CodeChainedStream        Code = "chained_stream"        // Ogg with more than one logical bitstream
	CodeUnreadable           Code = "unreadable"            // the file could not be opened or read
	CodeCorrupt              Code = "corrupt"               // the structure is inconsistent
	CodeNotRegular           Code = "not_regular_file"      // a FIFO, device, socket or directory
)

// Problem is one reason a file is not (or not cleanly) what WhatsApp takes.
type Problem struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (r *Report) add(code Code, msg string) {
	r.Problems = append(r.Problems, Problem{Code: code, Message: msg})
}

// judge sets VoiceReady, AudioReady and the problems that explain them.
// Readiness judges the bytes only: the uploader names and types files by
// content, so a wrong extension is reported (ext_mismatch) but does not
// make a file unready.
func (r *Report) judge(o options) {
	if r.ExtMIME != "" && !sameType(r.ExtMIME, r.MIME) {
		r.add(CodeExtMismatch, fmt.Sprintf("the name says %s but the content is %s", r.ExtMIME, r.MIME))
	}
	audioOK, voiceOK := true, true
	t, known := rules.Lookup(r.Container, r.Codec)
	if !known {
		audioOK, voiceOK = false, false
		if containerAccepted(r.Container) {
			r.add(CodeUnsupportedCodec, fmt.Sprintf("%s in %s is not accepted; WhatsApp takes %s", orUnknown(r.Codec), r.Container, acceptedCodecs(r.Container)))
		} else {
			r.add(CodeUnsupportedContainer, fmt.Sprintf("the %s container is not accepted; WhatsApp takes %s", r.Container, acceptedTypes()))
		}
	}
	if r.HasVideo {
		audioOK, voiceOK = false, false
		r.add(CodeHasVideo, "the file has a video track; WhatsApp audio must be audio only")
	}
	if r.Truncated {
		audioOK, voiceOK = false, false
		r.add(CodeTruncated, "the file ends early (truncated or still being written)")
	}
	if r.Chained || r.Streams > 1 {
		audioOK, voiceOK = false, false
		switch {
		case r.Chained:
			r.add(CodeChainedStream, "the Ogg file is chained (several recordings one after another); WhatsApp needs exactly one logical stream")
		case r.Container == rules.ContainerOgg:
			r.add(CodeChainedStream, fmt.Sprintf("the Ogg file multiplexes %d logical streams; WhatsApp needs exactly one", r.Streams))
		default:
			r.add(CodeChainedStream, fmt.Sprintf("the file holds %d audio tracks; WhatsApp needs exactly one", r.Streams))
		}
	}
	if r.Channels != 1 {
		voiceOK = false
		if known && t.MonoOnly {
			audioOK = false
		}
		switch {
		case r.Channels > 1:
			r.add(CodeNotMono, fmt.Sprintf("%d channels; a voice note must be mono", r.Channels))
		case known && t.MonoOnly: // 0: the header gives no channel count
			r.add(CodeNotMono, fmt.Sprintf("the channel count is unknown; WhatsApp takes %s mono only", t.Name))
		}
	}
	if r.Container != rules.Voice.Container || r.Codec != rules.Voice.Codec {
		voiceOK = false
	}
	switch {
	case r.Size > rules.AudioMaxBytes:
		audioOK, voiceOK = false, false
		r.add(CodeTooLarge, fmt.Sprintf("%d bytes is over WhatsApp's limit of %d bytes", r.Size, rules.AudioMaxBytes))
	case r.Size > o.voiceMax:
		voiceOK = false
		// Said only of what is otherwise a voice note's type (Ogg Opus):
		// other types become voice notes by transcoding, which plans the
		// size anyway.
		if r.Container == rules.Voice.Container && r.Codec == rules.Voice.Codec {
			r.add(CodeTooLargeForVoice, fmt.Sprintf("%d bytes is over the voice-note budget of %d bytes: it would show a download icon, not a play icon", r.Size, o.voiceMax))
		}
	}
	r.AudioReady = audioOK
	r.VoiceReady = voiceOK && audioOK
}

func containerAccepted(c string) bool {
	for _, t := range rules.AudioTypes {
		if t.Container == c {
			return true
		}
	}
	return false
}

// acceptedTypes lists the rules table's types, e.g. "MP4 Audio (aac in mp4, .m4a)".
func acceptedTypes() string {
	var names []string
	for _, t := range rules.AudioTypes {
		names = append(names, fmt.Sprintf("%s (%s in %s, %s)", t.Name, t.Codec, t.Container, t.Ext))
	}
	return strings.Join(names, ", ")
}

func acceptedCodecs(c string) string {
	var names []string
	for _, t := range rules.AudioTypes {
		if t.Container == c {
			names = append(names, t.Codec)
		}
	}
	return strings.Join(names, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown codec"
	}
	return s
}

// sameType compares MIME types, treating well-known aliases as equal.
func sameType(a, b string) bool {
	return canonMIME(a) == canonMIME(b)
}

var mimeAliases = map[string]string{
	"audio/x-m4a": "audio/mp4", "audio/m4a": "audio/mp4", "audio/mp3": "audio/mpeg", "audio/x-mp3": "audio/mpeg",
	"audio/x-wav": "audio/wav", "audio/wave": "audio/wav", "audio/vnd.wave": "audio/wav", "audio/x-flac": "audio/flac",
	"audio/opus": "audio/ogg", "audio/x-aac": "audio/aac", "audio/aacp": "audio/aac", "application/ogg": "audio/ogg",
	"audio/3gpp": "audio/mp4", "video/3gpp": "audio/mp4", "audio/x-matroska": "audio/webm", "video/webm": "audio/webm",
	"video/x-matroska": "audio/webm", "video/ogg": "audio/ogg", "video/mp4": "audio/mp4", "video/quicktime": "audio/mp4",
}

func canonMIME(m string) string {
	m = strings.ToLower(m)
	if c, ok := mimeAliases[m]; ok {
		return c
	}
	return m
}
