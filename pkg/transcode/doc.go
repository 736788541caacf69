// Package transcode turns recordings into WhatsApp voice notes — mono Ogg
// Opus that fits the play-icon budget (rules.VoiceMaxBytes by default)
// in one encode — or into basic WhatsApp audio under rules.AudioMaxBytes.
//
// Each input goes through three steps:
//
//  1. pkg/inspect reads what the bytes really are (or the caller hands its
//     own report of the file in, Input.Report, and it is not read twice);
//  2. a pure plan (Transcoder.Plan) picks the cheapest action —
//     passthrough (byte-identical copy under the real type's canonical
//     extension), remux (ffmpeg -c copy into the right container) or
//     transcode — and, for a transcode, the bitrate, from the duration and
//     a measured model of Ogg/Opus overhead and libopus size deviation;
//  3. ffmpeg runs (its argument list built with github.com/u2takey/ffmpeg-go,
//     the process run under exec.CommandContext in its own process group,
//     killed as a group on cancellation) into a temporary file next to the
//     destination, pkg/inspect verifies the result, and only an output over
//     the budget is encoded once more with a corrected bitrate. The file is
//     then renamed into place: no temporary file survives any path. Each
//     Output keeps the inspection it was verified with (Output.Report; a
//     passthrough's is the source's), so a later step — pkg/upload, via
//     upload.File.Report — does not read the bytes again.
//
// Voice notes: Ogg Opus, mono (stereo and 5.1 downmixed), 16 kHz encoder
// input, -application voip, 20 ms frames, metadata, video and cover art
// stripped. The bitrate is the cap (32 kbit/s, constrained VBR) when the
// worst measured VBR deviation still fits; otherwise the largest CBR
// bitrate that fits — CBR sizes are exact, so a long memo uses ≈99% of
// the budget — never below the floor (6 kbit/s). What cannot fit at the
// floor is refused (KindTooLong) unless Split (consecutive notes cut at
// pauses found by silencedetect, NAME-part1.ogg, …) or AllowOversize.
//
// Packing (Options.Packing, PackingNative by default): every voice note is
// repacked without decoding so that its frames go three to a packet (TOC
// code 3, 60 ms; RFC 6716 §3.2.5), like WhatsApp's own notes, with Ogg
// granule positions that count the samples (RFC 7845 §4); libopus decodes
// it to the same PCM. A compliant note of SILK wideband frames packed one
// to a packet is repacked (ActionRepack) instead of copied.
//
// Sources of the rules: Meta Cloud API "Supported audio formats" (Ogg is
// "OPUS codecs only; … mono input only") and 360dialog "Audio" ("the play
// icon will only appear if the file is 512KB or smaller"), via pkg/rules;
// RFC 7845 (Ogg Opus) and RFC 3533 (Ogg) for the size model.
//
// A Transcoder is safe for concurrent use; Batch runs inputs in parallel.
// Every error is a *Error with a Kind (errors.As).
package transcode
