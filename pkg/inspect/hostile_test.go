package inspect

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// id3Tag builds an ID3v2.4 tag of n payload bytes (zero padding), the way
// players store multi-megabyte cover art.
func id3Tag(n int) []byte {
	h := []byte{'I', 'D', '3', 4, 0, 0, byte(n >> 21 & 0x7f), byte(n >> 14 & 0x7f), byte(n >> 7 & 0x7f), byte(n & 0x7f)}
	return append(h, make([]byte, n)...)
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// hostileCases are inputs that are not audio prep can use. Each must give a
// typed *Error with the expected code — never a panic or a hang. The same
// table seeds FuzzReader.
var hostileCases = []struct {
	name string
	data []byte
	code Code
}{
	{"empty", nil, CodeEmpty},
	{"html error page", []byte("<!DOCTYPE html><html><body><h1>403 Forbidden</h1></body></html>"), CodeNotAudio},
	{"plain text", []byte("hello, this is not audio\n"), CodeNotAudio},
	{"zeros", make([]byte, 8192), CodeNotAudio},
	{"random 4 KiB", randomBytes(1, 4096), CodeNotAudio},
	{"random 64 KiB", randomBytes(2, 64<<10), CodeNotAudio},
	{"pdf", append([]byte("%PDF-1.7\n"), randomBytes(3, 512)...), CodeNotAudio},
	{"png", append([]byte("\x89PNG\r\n\x1a\n"), randomBytes(4, 512)...), CodeNotAudio},
	{"id3 tag only", id3Tag(1000), CodeTruncated},
	{"huge id3 tag then nothing", id3Tag(3 << 20), CodeTruncated},
	{"huge id3 tag then html", append(id3Tag(3<<20), []byte("<html><body>oops</body></html>")...), CodeNotAudio},
	{"id3 size past the end", id3Tag(100)[:50], CodeTruncated},
	{"ogg magic only", []byte("OggS"), CodeTruncated},
	{"riff magic only", []byte("RIFF\x00\x00\x00\x00WAVE"), CodeTruncated},
	{"ebml magic only", []byte{0x1a, 0x45, 0xdf, 0xa3}, CodeTruncated},
	{"ftyp box only", []byte("\x00\x00\x00\x14ftypM4A \x00\x00\x00\x00M4A "), CodeTruncated},
	{"amr magic only", []byte("#!AMR\n"), CodeTruncated},
	{"flac magic only", []byte("fLaC"), CodeTruncated},
}

func TestHostile(t *testing.T) {
	for _, c := range hostileCases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := Reader(context.Background(), bytes.NewReader(c.data), int64(len(c.data)), "x.mp3")
			require.Error(t, err)
			var ie *Error
			require.True(t, errors.As(err, &ie), "want *inspect.Error, got %T: %v", err, err)
			assert.Equal(t, c.code, Code(ie.Kind), "error: %v", err)
			require.NotNil(t, rep)
			assert.NotEmpty(t, rep.Error)
			assert.Contains(t, rep.Error, "x.mp3", "the error names the file")
			assert.False(t, rep.VoiceReady)
			assert.False(t, rep.AudioReady)
			assert.True(t, rep.Has(c.code), "problems: %v", rep.Problems)
		})
	}
}

func TestHostileFiles(t *testing.T) {
	for name, code := range map[string]Code{
		"hostile-empty.mp3": CodeEmpty,
		"hostile-html.mp3":  CodeNotAudio,
		"hostile-text.ogg":  CodeNotAudio,
	} {
		rep, err := File(context.Background(), filepath.Join("..", "..", "testdata", name))
		var ie *Error
		require.True(t, errors.As(err, &ie), name)
		assert.Equal(t, code, Code(ie.Kind), name)
		assert.Contains(t, rep.Error, name)
	}
}

func TestMissingFile(t *testing.T) {
	rep, err := File(context.Background(), filepath.Join(t.TempDir(), "nope.ogg"))
	var ie *Error
	require.True(t, errors.As(err, &ie))
	assert.Equal(t, CodeUnreadable, Code(ie.Kind))
	assert.True(t, errors.Is(err, os.ErrNotExist))
	assert.Contains(t, rep.Error, "nope.ogg")
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A canceled context stops a long walk (5,000 Ogg pages, every header
	// visited) with the context's error, typed.
	data := oggOpus(7, 312, 5000, 960, 10, true)
	rep, err := Reader(ctx, bytes.NewReader(data), int64(len(data)), "")
	require.ErrorIs(t, err, context.Canceled)
	var ie *Error
	require.ErrorAs(t, err, &ie)
	require.NotNil(t, rep)
	// Hostile bytes under a canceled context: no panic, a typed error if any.
	data = append(id3Tag(2<<20), randomBytes(9, 1<<20)...)
	if _, err := Reader(ctx, bytes.NewReader(data), int64(len(data)), ""); err != nil {
		require.ErrorAs(t, err, &ie)
	}
}

// FuzzReader feeds every committed sample, the hostile table and
// truncations of each to the whole inspector: no panic, sane numbers.
func FuzzReader(f *testing.F) {
	for _, c := range hostileCases {
		if len(c.data) < 64<<10 {
			f.Add(c.data)
		}
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil || len(b) > 256<<10 {
			continue
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:min(len(b), 200)])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := Reader(context.Background(), bytes.NewReader(b), int64(len(b)), "fuzz.bin")
		require.NotNil(t, rep)
		if err != nil {
			var ie *Error
			require.True(t, errors.As(err, &ie), "untyped error %T: %v", err, err)
			require.NotEmpty(t, rep.Error)
			return
		}
		require.GreaterOrEqual(t, rep.Channels, 0)
		require.GreaterOrEqual(t, rep.SampleRate, 0)
		require.GreaterOrEqual(t, rep.Duration, 0.0)
		require.GreaterOrEqual(t, rep.Bitrate, int64(0))
		require.NotEmpty(t, rep.Container)
	})
}

// TestVideoWithoutAudioIsNotAudio: a container holding no audio stream is
// not audio, whatever the container (exit 1 from prep inspect), as for MP4:
// a Theora-only Ogg or a VP8-only WebM must not pass as an inspected file.
func TestVideoWithoutAudioIsNotAudio(t *testing.T) {
	theora := append([]byte("\x80theora\x03\x02\x01"), make([]byte, 32)...)
	ogv := append(oggPage(0x02, 0, 1, 0, theora), oggPage(0x04, 10, 1, 1, []byte{0x30})...)
	head := ebmlEl(mkvEBML, ebmlEl(mkvDocType, []byte("webm"), false), false)
	vp8 := bytes.Join([][]byte{ebmlUint(mkvTrackNumber, 1), ebmlUint(mkvTrackType, 1), ebmlEl(mkvCodecID, []byte("V_VP8"), false)}, nil)
	subs := bytes.Join([][]byte{ebmlUint(mkvTrackNumber, 1), ebmlUint(mkvTrackType, 17), ebmlEl(mkvCodecID, []byte("S_TEXT/WEBVTT"), false)}, nil)
	webm := func(entry []byte) []byte {
		seg := append(ebmlEl(mkvInfo, ebmlUint(mkvTimestampScale, 1_000_000), false), ebmlEl(mkvTracks, ebmlEl(mkvTrackEntry, entry, false), false)...)
		return append(bytes.Clone(head), ebmlEl(mkvSegment, seg, false)...)
	}
	for name, b := range map[string][]byte{"theora-only ogg": ogv, "vp8-only webm": webm(vp8), "subtitles-only webm": webm(subs)} {
		t.Run(name, func(t *testing.T) {
			rep, err := Reader(context.Background(), bytes.NewReader(b), int64(len(b)), "x.bin")
			var ie *Error
			require.True(t, errors.As(err, &ie), "want *Error, got %v (report %+v)", err, rep)
			assert.Equal(t, CodeNotAudio, Code(ie.Kind), "%v", err)
			assert.True(t, rep.Has(CodeNotAudio))
			assert.False(t, rep.AudioReady)
		})
	}
}
