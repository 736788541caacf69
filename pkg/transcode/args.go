package transcode

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	ffmpeg "github.com/u2takey/ffmpeg-go"
)

func init() {
	// ffmpeg-go logs every compiled command through the log package by
	// default; prep never calls Compile, but keep it quiet regardless.
	ffmpeg.LogCompiledCommand = false
}

// globalArgs are on every ffmpeg run: no reading of stdin (it would steal
// the terminal and hang in the background), errors only, and stop at the
// first decoding error (-xerror) instead of writing a damaged file.
var globalArgs = []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-xerror", "-y"}

// Segment is one part of an input to encode: Start and Dur in seconds
// (zero Dur: to the end).
type Segment struct {
	Start float64 `json:"start_s"`
	Dur   float64 `json:"duration_s"`
}

// fileURL makes a path safe for ffmpeg's URL parsing: "file:" keeps names
// such as "a:b.wav" or "-x.ogg" from being read as protocols or options.
func fileURL(p string) string {
	if p == "-" || p == "pipe:" {
		return p
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return "file:" + p
}

func secs(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) }

// Args returns the ffmpeg argument list (without the program name) that
// carries out the plan from in to out, for one segment (zero Segment: the
// whole input). It is built with ffmpeg-go. Passthrough has no arguments.
func (p Plan) Args(in, out string, seg Segment) (args []string, err error) {
	return p.args(in, out, seg, false, false)
}

// args builds the list; lenient drops -xerror (for a second try on an
// input with undecodable parts), progress adds -progress pipe:1.
func (p Plan) args(in, out string, seg Segment, progress, lenient bool) (args []string, err error) {
	if p.Action == ActionPassthrough || p.Action == ActionRepack {
		return nil, errorf(KindOptions, "%s runs no ffmpeg", p.Action)
	}
	if p.Format == "" {
		return nil, errorf(KindOptions, "plan without an output format")
	}
	defer func() {
		// ffmpeg-go panics on malformed graphs; none of ours are, but no
		// input may crash the caller.
		if r := recover(); r != nil {
			args, err = nil, errorf(KindFFmpeg, "building the ffmpeg command: %v", r)
		}
	}()
	inKw := ffmpeg.KwArgs{}
	if seg.Start > 0 {
		inKw["ss"] = secs(seg.Start)
	}
	if seg.Dur > 0 {
		inKw["t"] = secs(seg.Dur)
	}
	// Only the first audio stream: no video, cover art, subtitles or data.
	out2 := ffmpeg.KwArgs{
		"format":       p.Format,
		"map_metadata": "-1",
		"map_chapters": "-1",
		"vn":           "",
		"sn":           "",
		"dn":           "",
	}
	switch p.Action {
	case ActionRemux:
		out2["c:a"] = "copy"
	case ActionTranscode:
		if af := strings.Trim(p.dtxFilters(seg)+","+p.Filters, ","); af != "" {
			out2["af"] = af
		}
		if p.Channels > 0 {
			out2["ac"] = strconv.Itoa(p.Channels)
		}
		if p.SampleRate > 0 {
			out2["ar"] = strconv.Itoa(p.SampleRate)
		}
		if p.Bitrate > 0 {
			out2["b:a"] = strconv.Itoa(p.Bitrate)
		}
		switch p.Profile {
		case ProfileVoice:
			// The Ogg muxer's default encoder is Vorbis: name libopus.
			out2["c:a"] = "libopus"
			out2["application"] = "voip"
			out2["frame_duration"] = "20"
			out2["page_duration"] = strconv.Itoa(int(oggPageSec * 1e6))
			if p.VBR != "" {
				out2["vbr"] = p.VBR
			}
		case ProfileAudio:
			out2["c:a"] = "aac"
		}
	default:
		return nil, errorf(KindOptions, "unknown action %q", p.Action)
	}
	if p.Format == "ipod" || p.Format == "mp4" {
		out2["movflags"] = "+faststart"
	}
	g := make([]string, 0, len(globalArgs)+3)
	for _, a := range globalArgs {
		if (lenient || p.DTX) && a == "-xerror" {
			continue
		}
		g = append(g, a)
	}
	if p.DTX {
		// SID and NO_DATA frames are decoding errors to ffmpeg 5.1, and a
		// recording may be mostly silence: past the default
		// max_error_rate (2/3 of the frames) ffmpeg exits with status 69.
		g = append(g, "-max_error_rate", "1")
	}
	if progress {
		g = append(g, "-progress", "pipe:1", "-nostats")
	}
	st := ffmpeg.Input(fileURL(in), inKw).Get("a:0").Output(fileURL(out), out2).GlobalArgs(g...)
	return st.GetArgs(), nil
}

// dtxFilters puts back on the timeline what ffmpeg drops from an AMR
// stream with DTX (SID and NO_DATA frames: "not yet implemented" in
// ffmpeg 5.1): aresample fills every gap of a frame or more between the
// decoded frames' timestamps with silence (from 0: a recording that starts
// in a silence keeps it), and apad adds the silence a recording that ends
// in one had, up to its frame-count duration (or the segment's).
func (p Plan) dtxFilters(seg Segment) string {
	if !p.DTX {
		return ""
	}
	f := "aresample=async=1:min_hard_comp=0.015:first_pts=0"
	dur := seg.Dur
	if dur <= 0 && p.Duration > 0 {
		dur = p.Duration - seg.Start
	}
	if dur > 0 {
		f += ",apad=whole_dur=" + secs(dur)
	}
	return f
}

// silenceArgs decodes the first audio stream through silencedetect into
// the null muxer; silencedetect reports at the info log level.
func silenceArgs(in string, noiseDB, minSilence float64) (args []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			args, err = nil, errorf(KindFFmpeg, "building the ffmpeg command: %v", r)
		}
	}()
	st := ffmpeg.Input(fileURL(in)).Get("a:0").Output("-", ffmpeg.KwArgs{
		"format": "null",
		"af":     fmt.Sprintf("silencedetect=noise=%gdB:d=%g", noiseDB, minSilence),
		"vn":     "", "sn": "", "dn": "",
	}).GlobalArgs("-nostdin", "-hide_banner", "-loglevel", "info", "-nostats")
	return st.GetArgs(), nil
}
