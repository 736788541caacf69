package transcode

import (
	"fmt"
	"runtime"

	"github.com/prep-audio/prep/pkg/rules"
)

// Profile chooses what the output must be.
type Profile string

// Profiles.
const (
	// ProfileVoice makes a WhatsApp voice note: mono Ogg Opus within the
	// voice budget (rules.Voice, rules.VoiceMaxBytes by default).
	ProfileVoice Profile = "voice"
	// ProfileAudio makes a basic WhatsApp audio file (one of
	// rules.AudioTypes, at most rules.AudioMaxBytes): compliant inputs pass
	// through, the rest become AAC in M4A.
	ProfileAudio Profile = "audio"
)

// VBR modes for the voice encoder (libopus -vbr).
const (
	VBRAuto        = ""            // constrained VBR where the budget leaves room, CBR where it binds
	VBRConstrained = "constrained" // libopus constrained VBR
	VBROff         = "off"         // hard CBR: every packet exactly bitrate×20 ms
	VBROn          = "on"          // unconstrained VBR (size deviates most)
)

// Packing is how a voice note's Opus frames are put into packets.
type Packing string

// Packings.
const (
	// PackingNative packs consecutive frames of the same configuration
	// three 20 ms frames to a packet (TOC code 3, 60 ms), the way
	// WhatsApp's own voice notes are packed; lossless (the same frames,
	// decoded to the same samples). The default.
	PackingNative Packing = "native"
	// PackingSingle keeps libopus's one frame per packet (TOC code 0).
	PackingSingle Packing = "single"
)

// Defaults of the voice profile.
const (
	DefaultSampleRate = 16000 // libopus encoder input (wideband speech)
	DefaultMinBitrate = 6000  // the floor: below it libopus speech is barely intelligible
	DefaultMaxBitrate = 32000 // the cap: more buys nothing audible for speech
	// Audio profile (AAC) bitrates.
	DefaultAudioMonoBitrate   = 64000
	DefaultAudioStereoBitrate = 128000
	DefaultAudioMinBitrate    = 16000
)

// Options configure a Transcoder. The zero value is the voice profile with
// every default.
type Options struct {
	Profile Profile // default ProfileVoice

	// MaxBytes is the voice budget (default rules.VoiceMaxBytes). The audio
	// profile always uses rules.AudioMaxBytes.
	MaxBytes int64
	// Bitrate, when > 0, overrides the planned bitrate (bits/s). The result
	// is still verified against the budget.
	Bitrate int
	// MinBitrate and MaxBitrate clamp the planned voice bitrate (defaults
	// DefaultMinBitrate, DefaultMaxBitrate). For the audio profile they
	// clamp the AAC bitrate (defaults DefaultAudioMinBitrate and 64k mono /
	// 128k stereo).
	MinBitrate, MaxBitrate int
	// SampleRate is the Opus encoder input rate: 8000, 12000, 16000, 24000
	// or 48000 (default 16000). For the audio profile it sets the output
	// rate (default: the source's, at most 48000).
	SampleRate int
	// VBR is the libopus VBR mode (VBRAuto by default).
	VBR string

	// Packing is how voice notes' frames are packed (default
	// PackingNative). With PackingNative, an input that is already a
	// voice note of SILK wideband frames (16 kHz) not packed that way is
	// repacked losslessly instead of passed through.
	Packing Packing
	// Reencode re-encodes inputs that are already voice notes (or
	// accepted audio) instead of passing them through or repacking them.
	Reencode bool

	Normalize     bool // EBU R128 loudness (loudnorm) for speech, after trimming leading silence
	TrimSilence   bool // trim leading and trailing silence, shorten long pauses
	AllowOversize bool // voice: when it cannot fit, encode anyway (download icon instead of play icon)
	Split         bool // voice: when it cannot fit, cut into consecutive voice notes

	// FFmpeg is the ffmpeg binary (default "ffmpeg" found in PATH).
	FFmpeg string
	// TempDir holds spooled readers and outputs bound for writers (default
	// os.TempDir()). File outputs are written next to the destination.
	TempDir string
	// Progress, when set, is called from time to time during an encode with
	// the encoded and the expected duration (seconds; total may be 0).
	// It must be safe for concurrent use when transcodes run in parallel.
	Progress func(input string, done, total float64)
}

// validSampleRates are the Opus encoder input rates (RFC 6716 §2: 8, 12,
// 16, 24 and 48 kHz).
var validSampleRates = map[int]bool{8000: true, 12000: true, 16000: true, 24000: true, 48000: true}

// normalize fills the defaults and checks the options.
func (o Options) normalize() (Options, error) {
	if o.Profile == "" {
		o.Profile = ProfileVoice
	}
	switch o.Profile {
	case ProfileVoice, ProfileAudio:
	default:
		return o, errorf(KindOptions, "unknown profile %q (want voice or audio)", o.Profile)
	}
	if o.MaxBytes < 0 || o.Bitrate < 0 || o.MinBitrate < 0 || o.MaxBitrate < 0 || o.SampleRate < 0 {
		return o, errorf(KindOptions, "negative sizes, bitrates and sample rates are not allowed")
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = rules.VoiceMaxBytes
	}
	if o.MaxBytes > rules.AudioMaxBytes {
		return o, errorf(KindOptions, "max bytes %d is over WhatsApp's audio limit of %d bytes", o.MaxBytes, rules.AudioMaxBytes)
	}
	if o.MaxBytes < 4096 {
		return o, errorf(KindOptions, "max bytes %d is too small for any voice note (at least 4096)", o.MaxBytes)
	}
	switch o.VBR {
	case VBRAuto, VBRConstrained, VBROff, VBROn:
	default:
		return o, errorf(KindOptions, "unknown VBR mode %q (want constrained, off or on)", o.VBR)
	}
	switch o.Packing {
	case "":
		o.Packing = PackingNative
	case PackingNative, PackingSingle:
	default:
		return o, errorf(KindOptions, "unknown packing %q (want native or single)", o.Packing)
	}
	if o.Profile == ProfileVoice {
		if o.SampleRate == 0 {
			o.SampleRate = DefaultSampleRate
		}
		if !validSampleRates[o.SampleRate] {
			return o, errorf(KindOptions, "sample rate %d: Opus takes 8000, 12000, 16000, 24000 or 48000", o.SampleRate)
		}
		if o.MinBitrate == 0 {
			o.MinBitrate = DefaultMinBitrate
		}
		if o.MaxBitrate == 0 {
			o.MaxBitrate = DefaultMaxBitrate
		}
		// libopus accepts 500 bit/s to 512 kbit/s; below 6 kbit/s speech
		// falls apart, so the floor may not go lower.
		if o.MinBitrate < 6000 {
			return o, errorf(KindOptions, "min bitrate %d: the floor must be at least 6000 bit/s", o.MinBitrate)
		}
		if o.MaxBitrate > 256000 {
			return o, errorf(KindOptions, "max bitrate %d is over 256000 bit/s", o.MaxBitrate)
		}
		if o.Bitrate != 0 && (o.Bitrate < 6000 || o.Bitrate > 256000) {
			return o, errorf(KindOptions, "bitrate %d: Opus voice takes 6000 to 256000 bit/s", o.Bitrate)
		}
	} else {
		if o.SampleRate != 0 && (o.SampleRate < 8000 || o.SampleRate > 48000) {
			return o, errorf(KindOptions, "sample rate %d: AAC output takes 8000 to 48000", o.SampleRate)
		}
		if o.MinBitrate == 0 {
			o.MinBitrate = DefaultAudioMinBitrate
		}
		if o.Bitrate != 0 && (o.Bitrate < 8000 || o.Bitrate > 320000) {
			return o, errorf(KindOptions, "bitrate %d: AAC takes 8000 to 320000 bit/s", o.Bitrate)
		}
		if o.Split {
			return o, errorf(KindOptions, "Split is for voice notes (the audio profile refuses what does not fit)")
		}
	}
	if o.MaxBitrate != 0 && o.MinBitrate > o.MaxBitrate {
		return o, errorf(KindOptions, "min bitrate %d is above max bitrate %d", o.MinBitrate, o.MaxBitrate)
	}
	if o.Split && o.AllowOversize {
		return o, errorf(KindOptions, "Split and AllowOversize exclude each other")
	}
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	return o, nil
}

// DefaultJobs is the default parallelism for batches: the number of cores.
func DefaultJobs() int { return max(1, runtime.NumCPU()) }

func (o Options) String() string {
	return fmt.Sprintf("profile=%s max_bytes=%d bitrate=%d range=[%d,%d] rate=%d packing=%s", o.Profile, o.MaxBytes, o.Bitrate, o.MinBitrate, o.MaxBitrate, o.SampleRate, o.Packing)
}
