// Package rules is the single table of WhatsApp's media rules that every
// other prep package reads. No other package may hold a copy of these
// numbers, MIME types or extensions.
//
// Check is the one decision of what WhatsApp takes, made from plain Facts
// about a file's bytes; pkg/inspect's verdict, pkg/upload's refusal,
// pkg/transcode's plan and pkg/sandbox all ask it.
//
// Sources:
//   - Meta Cloud API, "Audio messages" → "Supported audio formats"
//     (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types): AAC .aac audio/aac, AMR .amr audio/amr,
//     MP3 .mp3 audio/mpeg, MP4 Audio .m4a audio/mp4, OGG Audio .ogg
//     audio/ogg ("OPUS codecs only; base audio/ogg not supported; mono
//     input only"), each 16 MB at most.
//   - 360dialog "Audio" (https://docs.360dialog.com/docs/waba-messaging/media): voice messages require .ogg
//     with the OPUS codec; "the play icon will only appear if the file is
//     512KB or smaller".
//   - Infobip "Send WhatsApp audio message"
//     (https://www.infobip.com/docs/api/channels/whatsapp/whatsapp-outbound-messages/send-whatsapp-audio-message): AAC, AMR,
//     MP3, MP4, OPUS, "Maximum audio size is 16MB".
//   - Meta media ids live 30 days (Cloud API media reference).
package rules

import (
	"strings"
	"time"
)

// WhatsApp's own voice notes (Baileys pull request 2648, decrypted native
// notes, https://github.com/WhiskeySockets/Baileys/pull/2648) are packed
// one way: Opus SILK wideband 20 ms frames (TOC configuration 9), three to
// a code-3 packet (60 ms, 2880 samples at 48 kHz), mono, 16 kHz input.
// Other shapes are reported not to play on some iPhones.
const (
	NativeOpusConfig        = 9
	NativeOpusFrameMs       = 20
	NativeOpusFrames        = 3
	NativeOpusInputRate     = 16000
	NativeOpusPacketSamples = NativeOpusFrames * NativeOpusFrameMs * 48 // at 48 kHz
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

// audioTypes lists the basic-audio types every provider accepts, in the
// order of Meta's table. Read it through AudioTypes (a copy).
var audioTypes = [...]MediaType{
	{Name: "AAC", Container: ContainerADTS, Codec: CodecAAC, MIME: "audio/aac", Ext: ".aac", MaxBytes: AudioMaxBytes},
	{Name: "AMR", Container: ContainerAMR, Codec: CodecAMRNB, MIME: "audio/amr", Ext: ".amr", MaxBytes: AudioMaxBytes},
	{Name: "MP3", Container: ContainerMP3, Codec: CodecMP3, MIME: "audio/mpeg", Ext: ".mp3", MaxBytes: AudioMaxBytes},
	{Name: "MP4 Audio", Container: ContainerMP4, Codec: CodecAAC, MIME: "audio/mp4", Ext: ".m4a", MaxBytes: AudioMaxBytes},
	{Name: "OGG Audio", Container: ContainerOgg, Codec: CodecOpus, MIME: "audio/ogg", Ext: ".ogg", MaxBytes: AudioMaxBytes, MonoOnly: true},
}

// AudioTypes returns the basic-audio types every provider accepts, in the
// order of Meta's table. The slice is the caller's own.
func AudioTypes() []MediaType {
	out := audioTypes
	return out[:]
}

// Voice returns the type of a voice note: Ogg Opus, mono, one logical
// stream, at most VoiceMaxBytes.
func Voice() MediaType {
	return MediaType{Name: "Voice note", Container: ContainerOgg, Codec: CodecOpus, MIME: "audio/ogg", Ext: ".ogg", MaxBytes: VoiceMaxBytes, MonoOnly: true}
}

// IsVoiceType reports whether container and codec are a voice note's
// (Ogg Opus), whatever else is true of the file.
func IsVoiceType(container, codec string) bool {
	return container == ContainerOgg && codec == CodecOpus
}

// Lookup returns the accepted type for a container and codec.
func Lookup(container, codec string) (MediaType, bool) {
	for _, t := range audioTypes {
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
	for _, t := range audioTypes {
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
	for _, t := range audioTypes {
		if t.Ext == ext {
			return t, true
		}
	}
	return MediaType{}, false
}

// MIMEs returns the accepted upload MIME types in table order.
func MIMEs() []string {
	out := make([]string, len(audioTypes))
	for i, t := range audioTypes {
		out[i] = t.MIME
	}
	return out
}
