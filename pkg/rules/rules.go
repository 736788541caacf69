// Package rules is the single table of WhatsApp's media rules that every
// other prep package reads. No other package may hold a copy of these
// numbers, MIME types or extensions.
//
// Sources:
//   - Meta Cloud API, "Audio messages" → "Supported audio formats"
//     (../shared/seeds/001): AAC .aac audio/aac, AMR .amr audio/amr,
//     MP3 .mp3 audio/mpeg, MP4 Audio .m4a audio/mp4, OGG Audio .ogg
//     audio/ogg ("OPUS codecs only; base audio/ogg not supported; mono
//     input only"), each 16 MB at most.
//   - 360dialog "Audio" (../shared/seeds/002): voice messages require .ogg
//     with the OPUS codec; "the play icon will only appear if the file is
//     512KB or smaller".
//   - Infobip "Send WhatsApp audio message" (../shared/seeds/000): AAC, AMR,
//     MP3, MP4, OPUS, "Maximum audio size is 16MB".
//   - Meta media ids live 30 days (Cloud API media reference).
package rules

import (
	"strings"
	"time"
)

// Limits of WhatsApp media, in bytes.
const (
	// VoiceMaxBytes is the largest voice note that still shows a play icon
	// (360dialog/Meta: "512KB or smaller"). prep reads KB as 1000 bytes, the
	// stricter reading, so a file at the limit is fine under either.
	VoiceMaxBytes int64 = 512_000
	// AudioMaxBytes is the largest audio file any provider accepts ("16 MB").
	AudioMaxBytes int64 = 16_000_000
)

// MediaIDLifetime is how long Meta keeps an uploaded media id.
const MediaIDLifetime = 30 * 24 * time.Hour

// Containers, as pkg/inspect reports them.
const (
	ContainerOgg      = "ogg"
	ContainerMP4      = "mp4" // ISO BMFF: .mp4, .m4a, .3gp, .mov
	ContainerMP3      = "mp3"
	ContainerADTS     = "adts"
	ContainerAMR      = "amr" // RFC 4867 storage format (#!AMR / #!AMR-WB)
	ContainerWebM     = "webm"
	ContainerMatroska = "matroska"
	ContainerWAV      = "wav"
	ContainerFLAC     = "flac"
	ContainerCAF      = "caf"
)

// Codec names follow ffprobe's codec_name vocabulary.
const (
	CodecOpus  = "opus"
	CodecAAC   = "aac"
	CodecMP3   = "mp3"
	CodecAMRNB = "amr_nb"
)

// MediaType is one audio type WhatsApp accepts.
type MediaType struct {
	Name      string // human name, e.g. "MP4 Audio"
	Container string // container as pkg/inspect reports it
	Codec     string // the only codec accepted in that container
	MIME      string // the MIME type to upload and serve it with
	Ext       string // canonical file extension, with the dot
	MaxBytes  int64
	MonoOnly  bool // Ogg Opus: "mono input only"
}

// AudioTypes lists the basic-audio types every provider accepts, in the
// order of Meta's table.
var AudioTypes = []MediaType{
	{Name: "AAC", Container: ContainerADTS, Codec: CodecAAC, MIME: "audio/aac", Ext: ".aac", MaxBytes: AudioMaxBytes},
	{Name: "AMR", Container: ContainerAMR, Codec: CodecAMRNB, MIME: "audio/amr", Ext: ".amr", MaxBytes: AudioMaxBytes},
	{Name: "MP3", Container: ContainerMP3, Codec: CodecMP3, MIME: "audio/mpeg", Ext: ".mp3", MaxBytes: AudioMaxBytes},
	{Name: "MP4 Audio", Container: ContainerMP4, Codec: CodecAAC, MIME: "audio/mp4", Ext: ".m4a", MaxBytes: AudioMaxBytes},
	{Name: "OGG Audio", Container: ContainerOgg, Codec: CodecOpus, MIME: "audio/ogg", Ext: ".ogg", MaxBytes: AudioMaxBytes, MonoOnly: true},
}

// Voice is the type of a voice note: Ogg Opus, mono, one logical stream.
var Voice = MediaType{Name: "Voice note", Container: ContainerOgg, Codec: CodecOpus, MIME: "audio/ogg", Ext: ".ogg", MaxBytes: VoiceMaxBytes, MonoOnly: true}

// Lookup returns the accepted type for a container and codec.
func Lookup(container, codec string) (MediaType, bool) {
	for _, t := range AudioTypes {
		if t.Container == container && t.Codec == codec {
			return t, true
		}
	}
	return MediaType{}, false
}

// ByMIME returns the accepted type with that MIME type (parameters such as
// "; codecs=opus" are ignored).
func ByMIME(mime string) (MediaType, bool) {
	mime = strings.ToLower(strings.TrimSpace(mime))
	if i := strings.IndexByte(mime, ';'); i >= 0 {
		mime = strings.TrimSpace(mime[:i])
	}
	for _, t := range AudioTypes {
		if t.MIME == mime {
			return t, true
		}
	}
	return MediaType{}, false
}

// ByExt returns the accepted type whose canonical extension is ext
// (case-insensitive, with or without the dot).
func ByExt(ext string) (MediaType, bool) {
	ext = strings.ToLower(ext)
	if ext != "" && ext[0] != '.' {
		ext = "." + ext
	}
	for _, t := range AudioTypes {
		if t.Ext == ext {
			return t, true
		}
	}
	return MediaType{}, false
}

// MIMEs returns the accepted upload MIME types in table order.
func MIMEs() []string {
	out := make([]string, len(AudioTypes))
	for i, t := range AudioTypes {
		out[i] = t.MIME
	}
	return out
}
