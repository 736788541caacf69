// Package inspect tells what an audio file really is — container, codec,
// channels, sample rate, duration and bitrate — from its bytes, never from
// its name, and judges it against WhatsApp's rules (package rules).
//
// It is pure Go and needs no ffmpeg. Each container has its own small
// parser in a file named after it (ogg.go, mp4.go, mp3.go, adts.go, amr.go,
// matroska.go, wav.go, flac.go, caf.go); they read headers and indexes
// rather than whole files where the format allows, and every read is bounded
// so hostile input cannot make them allocate or loop without limit.
//
// Codec names follow ffprobe's codec_name vocabulary (opus, vorbis, aac,
// mp3, amr_nb, amr_wb, flac, alac, pcm_s16le, …) so that results compare
// with ffprobe one to one. Codec headers (OpusHead, the Opus TOC,
// AudioSpecificConfig, FLAC STREAMINFO) are parsed by package
// inspect/codec; for Opus the report tells the packing of the first
// packets (OpusPacking), and whether it is WhatsApp's own.
//
// The verdict (AudioReady, VoiceReady and the problems why not) is
// rules.Check over the report's Facts. File reads regular files only
// (OpenRegular): a FIFO or a device is refused before it is opened.
package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"path/filepath"
	"strings"

	"github.com/prep-audio/prep/pkg/rules"
)

// Report is what inspect finds in one file.
type Report struct {
	Path       string  `json:"path"`
	Size       int64   `json:"size"`
	MIME       string  `json:"mime"`     // the real type, from the content
	ExtMIME    string  `json:"ext_mime"` // what the file name's extension claims
	Container  string  `json:"container"`
	Codec      string  `json:"codec"`
	Channels   int     `json:"channels"`
	SampleRate int     `json:"sample_rate"`
	Duration   float64 `json:"duration_s"`
	Bitrate    int64   `json:"bitrate_bps"`
	HasVideo   bool    `json:"has_video"`
	Streams    int     `json:"audio_streams"` // audio streams (Ogg: logical audio bitstreams)
	Chained    bool    `json:"chained,omitempty"`
	Truncated  bool    `json:"truncated,omitempty"`
	// DTXFrames counts AMR SID and NO_DATA frames (discontinuous
	// transmission: comfort noise in silences), which ffmpeg 5.1 cannot
	// decode. Only the AMR storage format is walked frame by frame.
	DTXFrames  int64        `json:"dtx_frames,omitempty"`
	Brand      string       `json:"brand,omitempty"` // ISO BMFF major brand (M4A, 3gp4, isom, …)
	Ext        string       `json:"ext"`             // canonical extension of the real type, e.g. ".ogg"
	Opus       *OpusPacking `json:"opus,omitempty"`  // Opus streams: the packing of the first audio packets
	VoiceReady bool         `json:"voice_ready"`
	AudioReady bool         `json:"audio_ready"`
	Problems   []Problem    `json:"problems"`
	Error      string       `json:"error,omitempty"`
}

// Type returns the WhatsApp media type the bytes are, if they are one.
func (r *Report) Type() (rules.MediaType, bool) {
	return rules.Lookup(r.Container, r.Codec)
}

// Has reports whether the report carries a problem with that code.
func (r *Report) Has(code Code) bool {
	for _, p := range r.Problems {
		if p.Code == code {
			return true
		}
	}
	return false
}

// Info is what a container parser finds. Parsers fill what the container
// tells; the caller derives the rest (bitrate, verdicts).
type Info struct {
	Container  string
	Codec      string
	Channels   int
	SampleRate int
	Duration   float64 // seconds, 0 when unknown
	Bitrate    int64   // audio bitrate in bits/s when the container states it; else derived
	HasVideo   bool
	Streams    int  // audio streams; 0 means 1
	Chained    bool // Ogg: more than one logical bitstream one after another
	Truncated  bool
	DTXFrames  int64 // AMR: SID and NO_DATA frames
	Brand      string
	MIME       string // a more precise MIME than the container default, if any (e.g. audio/3gpp)
	Opus       *OpusPacking
}

// Option configures an inspection.
type Option func(*options)

type options struct {
	voiceMax int64
}

// WithVoiceMaxBytes sets the voice-note budget (default rules.VoiceMaxBytes).
func WithVoiceMaxBytes(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.voiceMax = n
		}
	}
}

func buildOptions(opts []Option) options {
	o := options{voiceMax: rules.VoiceMaxBytes}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// File inspects the file at path. The report is never nil: when the file
// cannot be read as audio, the report carries Error and the problems, and
// the returned error is an *Error. Only regular files are read (see
// OpenRegular): a FIFO or a device is refused, never opened for reading.
func File(ctx context.Context, path string, opts ...Option) (*Report, error) {
	f, st, err := OpenRegular(path)
	if err != nil {
		e := err.(*Error)
		return failed(path, e), e
	}
	defer f.Close()
	return Reader(ctx, f, st.Size(), path, opts...)
}

// Reader inspects size bytes read through r. name is used only for the
// extension check and for messages; it may be empty.
func Reader(ctx context.Context, r io.ReaderAt, size int64, name string, opts ...Option) (*Report, error) {
	o := buildOptions(opts)
	rep := &Report{Path: name, Size: size, ExtMIME: extMIME(name), Problems: []Problem{}}
	if size <= 0 {
		e := &Error{Path: name, Kind: KindEmpty, Err: errors.New("the file is empty")}
		rep.add(CodeEmpty, "the file is empty (0 bytes)")
		rep.Error = e.Error()
		return rep, e
	}
	src := newSource(ctx, r, size)
	info, sniffed, err := detect(src)
	rep.MIME = sniffed
	if err != nil {
		var ie *Error
		if !errors.As(err, &ie) {
			ie = &Error{Kind: KindUnreadable, Err: err}
		}
		ie.Path = name
		if rep.MIME == "" {
			rep.MIME = "application/octet-stream"
		}
		if ie.Kind == KindNotAudio {
			rep.add(CodeNotAudio, fmt.Sprintf("the content is %s, not audio", rep.MIME))
		} else {
			rep.add(Code(ie.Kind), ie.Err.Error())
		}
		rep.Error = ie.Error()
		return rep, ie
	}
	rep.fill(info)
	rep.judge(o)
	return rep, nil
}

func failed(path string, e *Error) *Report {
	return &Report{Path: path, ExtMIME: extMIME(path), Problems: []Problem{{Code: Code(e.Kind), Message: e.Err.Error()}}, Error: e.Error()}
}

func (r *Report) fill(in *Info) {
	r.Container = in.Container
	r.Codec = in.Codec
	r.Channels = in.Channels
	r.SampleRate = in.SampleRate
	if in.Duration > 0 && !math.IsInf(in.Duration, 0) && !math.IsNaN(in.Duration) {
		r.Duration = in.Duration
		if d := math.Round(in.Duration*1e6) / 1e6; !math.IsInf(d, 0) { // ×1e6 overflows near MaxFloat64
			r.Duration = d
		}
	}
	r.HasVideo = in.HasVideo
	r.Streams = in.Streams
	if r.Streams == 0 {
		r.Streams = 1
	}
	r.Chained = in.Chained
	r.DTXFrames = in.DTXFrames
	r.Truncated = in.Truncated
	r.Brand = in.Brand
	if in.Codec == "opus" {
		r.Opus = in.Opus
	}
	r.Bitrate = in.Bitrate
	if r.Bitrate == 0 && r.Duration > 0 {
		r.Bitrate = int64(math.Round(float64(r.Size) * 8 / r.Duration))
	}
	if t, ok := rules.Lookup(in.Container, in.Codec); ok && !in.HasVideo {
		r.MIME = t.MIME
		r.Ext = t.Ext
	} else {
		r.MIME, r.Ext = containerMIME(in)
	}
}

// extMIME is the MIME type the file name's extension claims ("" if none).
func extMIME(name string) string {
	ext := strings.ToLower(filepath.Ext(name))
	if ext == "" {
		return ""
	}
	if t, ok := rules.ByExt(ext); ok {
		return t.MIME
	}
	if m, ok := extraExtMIME[ext]; ok {
		return m
	}
	if m := mime.TypeByExtension(ext); m != "" {
		if i := strings.IndexByte(m, ';'); i >= 0 {
			m = m[:i]
		}
		if m == "application/octet-stream" { // .bin, .dat…: the name claims no type
			return ""
		}
		return m
	}
	return ""
}

// extraExtMIME covers audio extensions that the system MIME table may lack.
var extraExtMIME = map[string]string{
	".opus": "audio/ogg", ".oga": "audio/ogg", ".m4b": "audio/mp4",
	".mp4": "video/mp4", ".3gp": "audio/3gpp", ".3g2": "audio/3gpp2", ".awb": "audio/amr-wb",
	".webm": "audio/webm", ".weba": "audio/webm", ".mka": "audio/x-matroska", ".mkv": "video/x-matroska",
	".wav": "audio/wav", ".flac": "audio/flac", ".caf": "audio/x-caf", ".html": "text/html", ".htm": "text/html",
	".mov": "video/quicktime", ".spx": "audio/ogg",
}

// containerMIME is the MIME type and extension of a container that is not
// one of WhatsApp's accepted types as a whole (an accepted container with
// another codec, video, or a container WhatsApp does not take). Accepted
// containers take their MIME type and extension from the rules table.
func containerMIME(in *Info) (string, string) {
	if in.MIME != "" {
		return in.MIME, ""
	}
	if in.HasVideo {
		if v, ok := videoTypes[in.Container]; ok {
			return v[0], v[1]
		}
	}
	if in.Container == rules.ContainerAMR && in.Codec == "amr_wb" {
		return "audio/amr-wb", ".awb"
	}
	for _, t := range rules.AudioTypes() {
		if t.Container == in.Container {
			return t.MIME, t.Ext
		}
	}
	if v, ok := otherTypes[in.Container]; ok {
		return v[0], v[1]
	}
	return "application/octet-stream", ""
}

// videoTypes and otherTypes name containers outside WhatsApp's table:
// {MIME type, extension}.
var (
	videoTypes = map[string][2]string{
		rules.ContainerOgg:      {"video/ogg", ".ogv"},
		rules.ContainerMP4:      {"video/mp4", ".mp4"},
		rules.ContainerWebM:     {"video/webm", ".webm"},
		rules.ContainerMatroska: {"video/x-matroska", ".mkv"},
	}
	otherTypes = map[string][2]string{
		rules.ContainerWebM:     {"audio/webm", ".webm"},
		rules.ContainerMatroska: {"audio/x-matroska", ".mka"},
		rules.ContainerWAV:      {"audio/wav", ".wav"},
		rules.ContainerFLAC:     {"audio/flac", ".flac"},
		rules.ContainerCAF:      {"audio/x-caf", ".caf"},
	}
)
