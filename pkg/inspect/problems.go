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
	CodeExtMismatch          Code = "ext_mismatch"                    // the extension claims another type than the bytes
	CodeNotAudio             Code = "not_audio"                       // the bytes are not audio at all
	CodeEmpty                Code = "empty"                           // zero bytes
	CodeTruncated            Code = rules.ProblemTruncated            // the file ends before its structure says it should
	CodeUnsupportedContainer Code = rules.ProblemUnsupportedContainer // audio, but in a container WhatsApp does not take
	CodeUnsupportedCodec     Code = rules.ProblemUnsupportedCodec     // a container WhatsApp takes, with a codec it does not
	CodeNotMono              Code = rules.ProblemNotMono              // more than one channel where mono is required
	CodeTooLarge             Code = rules.ProblemTooLarge             // over rules.AudioMaxBytes
	CodeTooLargeForVoice     Code = rules.ProblemTooLargeForVoice     // over the voice budget (no play icon)
	CodeHasVideo             Code = rules.ProblemHasVideo             // a video track is present
	CodeChainedStream        Code = rules.ProblemChainedStream        // Ogg with more than one logical bitstream
	CodeUnreadable           Code = "unreadable"                      // the file could not be opened or read
	CodeCorrupt              Code = "corrupt"                         // the structure is inconsistent
	CodeNotRegular           Code = "not_regular_file"                // a FIFO, device, socket or directory
	// CodeNotNativePacking is advisory (the file stays ready): an Ogg Opus
	// note not packed like WhatsApp's own (see OpusPacking).
	CodeNotNativePacking Code = "not_native_packing"
)

// Problem is one reason a file is not (or not cleanly) what WhatsApp takes.
type Problem struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (r *Report) add(code Code, msg string) {
	r.Problems = append(r.Problems, Problem{Code: code, Message: msg})
}

// judge sets VoiceReady, AudioReady and the problems that explain them:
// the decision is rules.Check's, over the report's facts. Readiness judges
// the bytes only: the uploader names and types files by content, so a
// wrong extension is reported (ext_mismatch) but does not make a file
// unready.
func (r *Report) judge(o options) {
	if r.ExtMIME != "" && !sameType(r.ExtMIME, r.MIME) {
		r.add(CodeExtMismatch, fmt.Sprintf("the name says %s but the content is %s", r.ExtMIME, r.MIME))
	}
	f := r.Facts()
	f.VoiceMaxBytes = o.voiceMax
	v := rules.Check(f)
	for _, p := range v.Problems {
		r.add(Code(p.Code), p.Message)
	}
	r.AudioReady, r.VoiceReady = v.Audio, v.Voice
	if v.Audio && rules.IsVoiceType(r.Container, r.Codec) && r.Opus != nil && !r.Opus.Native {
		r.add(CodeNotNativePacking, fmt.Sprintf("Opus packed as %s; WhatsApp's own voice notes are SILK WB, %d × %d ms frames per packet, %d Hz input (other shapes are reported not to play on some iPhones)",
			r.Opus, rules.NativeOpusFrames, rules.NativeOpusFrameMs, rules.NativeOpusInputRate))
	}
}

// Facts are the report's facts as rules.Check takes them (with the
// default voice budget).
func (r *Report) Facts() rules.Facts {
	return rules.Facts{Container: r.Container, Codec: r.Codec, Channels: r.Channels, Streams: r.Streams, Chained: r.Chained,
		HasVideo: r.HasVideo, Truncated: r.Truncated, Size: r.Size}
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
