package inspect

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prep-audio/prep/pkg/rules"
)

// smpCase is one committed sample and what it must parse to. Expected
// values come from how testdata/gen/<family>.sh made the sample (its ffmpeg
// arguments: codec, -ac, sample rate, duration), never from the parser.
// The same tables seed the Fuzz targets.
type smpCase struct {
	file      string
	container string
	codec     string
	channels  int
	rate      int
	duration  float64 // seconds; 0 means "unknown" (must be reported as 0)
	tol       float64 // allowed duration error in seconds (why: see the table)
	streams   int     // audio streams; 0 means 1
	chained   bool
	truncated bool
	video     bool
}

func smpLoad(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	require.NoError(tb, err, "sample missing: run `make samples`")
	return b
}

func smpInspect(b []byte, name string) (*Report, error) {
	return Reader(context.Background(), bytes.NewReader(b), int64(len(b)), name)
}

// smpCheck runs a parser's table.
func smpCheck(t *testing.T, cases []smpCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			rep, err := smpInspect(smpLoad(t, c.file), c.file)
			require.NoError(t, err)
			assert.Equal(t, c.container, rep.Container, "container")
			assert.Equal(t, c.codec, rep.Codec, "codec")
			assert.Equal(t, c.channels, rep.Channels, "channels")
			assert.Equal(t, c.rate, rep.SampleRate, "sample rate")
			if c.duration == 0 {
				assert.Zero(t, rep.Duration, "duration must stay unknown")
			} else {
				assert.InDelta(t, c.duration, rep.Duration, c.tol, "duration")
			}
			assert.Equal(t, max(c.streams, 1), rep.Streams, "audio streams")
			assert.Equal(t, c.chained, rep.Chained, "chained")
			assert.Equal(t, c.truncated, rep.Truncated, "truncated")
			assert.Equal(t, c.video, rep.HasVideo, "has video")
			assert.Equal(t, c.truncated, rep.Has(CodeTruncated), "truncated problem")
		})
	}
}

// smpSeed adds every sample of a table and truncations of it to a fuzz
// corpus.
func smpSeed(f *testing.F, cases []smpCase) {
	for _, c := range cases {
		b := smpLoad(f, c.file)
		f.Add(b)
		for _, n := range []int{len(b) / 2, len(b) / 10, 64, 12} {
			if n < len(b) {
				f.Add(b[:n])
			}
		}
	}
}

// smpSane is the fuzz property: no panic, and either a typed error or a
// report with sane numbers.
func smpSane(t *testing.T, b []byte) {
	rep, err := smpInspect(b, "")
	require.NotNil(t, rep)
	if err != nil {
		var ie *Error
		require.True(t, errors.As(err, &ie), "untyped error %T: %v", err, err)
		return
	}
	assert.GreaterOrEqual(t, rep.Channels, 0)
	assert.GreaterOrEqual(t, rep.SampleRate, 0)
	assert.False(t, math.IsNaN(rep.Duration) || math.IsInf(rep.Duration, 0) || rep.Duration < 0, "duration %v", rep.Duration)
	assert.GreaterOrEqual(t, rep.Bitrate, int64(0))
	assert.GreaterOrEqual(t, rep.Streams, 1)
}

func smpBench(b *testing.B, name string) {
	data := smpLoad(b, name)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Reader(ctx, bytes.NewReader(data), int64(len(data)), name); err != nil {
			b.Fatal(err)
		}
	}
}

// oggCases: see testdata/gen/ogg.sh.
var oggCases = []smpCase{
	// libopus pads to whole 20 ms frames; (last granule − pre-skip) is exact.
	{file: "ogg-opus-mono-48k-2s.ogg", container: rules.ContainerOgg, codec: "opus", channels: 1, rate: 48000, duration: 2, tol: 0.001},
	// Input at 44.1 kHz: Opus still decodes (and ffprobe reports) 48000.
	{file: "ogg-opus-stereo-input44100-3s.opus", container: rules.ContainerOgg, codec: "opus", channels: 2, rate: 48000, duration: 3, tol: 0.001},
	{file: "ogg-vorbis-stereo-44k-2s.ogg", container: rules.ContainerOgg, codec: "vorbis", channels: 2, rate: 44100, duration: 2, tol: 0.001},
	{file: "ogg-flac-mono-16k-1.5s.oga", container: rules.ContainerOgg, codec: "flac", channels: 1, rate: 16000, duration: 1.5, tol: 0.001},
	// libspeex's last granule leaves out its look-ahead (~9 ms at 16 kHz).
	{file: "ogg-speex-mono-16k-2s.spx", container: rules.ContainerOgg, codec: "speex", channels: 1, rate: 16000, duration: 2, tol: 0.02},
	// Two links of 1 s and 2 s.
	{file: "ogg-opus-chained-1s+2s.ogg", container: rules.ContainerOgg, codec: "opus", channels: 1, rate: 48000, duration: 3, tol: 0.001, chained: true},
	{file: "ogg-opus-multiplexed-2streams-1s.ogg", container: rules.ContainerOgg, codec: "opus", channels: 1, rate: 48000, duration: 1, tol: 0.001, streams: 2},
	{file: "ogg-theora-vorbis-video-1s.ogv", container: rules.ContainerOgg, codec: "vorbis", channels: 1, rate: 22050, duration: 1, tol: 0.001, video: true},
	// 5000 of ~8000 bytes: about 1 s of the 2 s is left; the last complete
	// page ends on a whole second at 24 kb/s only roughly, hence the tolerance.
	{file: "ogg-opus-truncated-midpage.ogg", container: rules.ContainerOgg, codec: "opus", channels: 1, rate: 48000, duration: 1, tol: 0.35, truncated: true},
}

func TestOggSamples(t *testing.T) { smpCheck(t, oggCases) }

func TestOggVideoMIME(t *testing.T) {
	rep, err := smpInspect(smpLoad(t, "ogg-theora-vorbis-video-1s.ogv"), "clip.ogv")
	require.NoError(t, err)
	assert.Equal(t, "video/ogg", rep.MIME)
	assert.Equal(t, ".ogv", rep.Ext)
	assert.True(t, rep.Has(CodeHasVideo))
	rep, err = smpInspect(smpLoad(t, "ogg-vorbis-stereo-44k-2s.ogg"), "a.ogg")
	require.NoError(t, err)
	assert.Equal(t, "audio/ogg", rep.MIME)
}

// oggPage builds one Ogg page (RFC 3533 §6; the CRC is left 0: the parser
// does not check it).
func oggPage(flags byte, granule int64, serial, seq uint32, packets ...[]byte) []byte {
	var lacing []byte
	var body []byte
	for _, p := range packets {
		n := len(p)
		for n >= 255 {
			lacing = append(lacing, 255)
			n -= 255
		}
		lacing = append(lacing, byte(n))
		body = append(body, p...)
	}
	h := make([]byte, 27, 27+len(lacing)+len(body))
	copy(h, "OggS")
	h[5] = flags
	binary.LittleEndian.PutUint64(h[6:], uint64(granule))
	binary.LittleEndian.PutUint32(h[14:], serial)
	binary.LittleEndian.PutUint32(h[18:], seq)
	h[26] = byte(len(lacing))
	return append(append(h, lacing...), body...)
}

func opusHead(channels byte, preSkip uint16, inputRate uint32) []byte {
	p := []byte("OpusHead\x01")
	p = append(p, channels)
	p = binary.LittleEndian.AppendUint16(p, preSkip)
	p = binary.LittleEndian.AppendUint32(p, inputRate)
	return append(p, 0, 0, 0)
}

// oggOpus builds an Opus stream of n data pages, each 960·k samples long
// (k = 50: one second a page), ending with EOS when eos is set.
func oggOpus(serial uint32, preSkip uint16, pages int, pageSamples int64, payload int, eos bool) []byte {
	b := oggPage(0x02, 0, serial, 0, opusHead(1, preSkip, 16000))
	b = append(b, oggPage(0, 0, serial, 1, []byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00"))...)
	pkt := bytes.Repeat([]byte{0xF8}, payload)
	for i := 1; i <= pages; i++ {
		flags := byte(0)
		if eos && i == pages {
			flags = 0x04
		}
		b = append(b, oggPage(flags, int64(preSkip)+int64(i)*pageSamples, serial, uint32(i+1), pkt)...)
	}
	return b
}

func TestOggBuilt(t *testing.T) {
	full := oggOpus(7, 312, 10, 48000, 200, true)
	// junk between two pages: the parser must find the next "OggS".
	split := 0
	for i := 0; i < 5; i++ {
		split += bytes.Index(full[split+1:], []byte("OggS")) + 1
	}
	junk := append(append(append([]byte{}, full[:split]...), []byte("garbage between pages")...), full[split:]...)
	// cut at a page boundary: find where the last page starts.
	lastPage := bytes.LastIndex(full, []byte("OggS"))
	vorbisBOS := append([]byte("\x01vorbis\x00\x00\x00\x00\x02"), binary.LittleEndian.AppendUint32(nil, 32000)...)
	vorbisBOS = append(vorbisBOS, make([]byte, 14)...)
	twoSerials := append(oggOpus(1, 0, 2, 48000, 10, true), oggOpus(2, 0, 3, 48000, 10, true)...)
	grouped := append(oggPage(0x02, 0, 1, 0, opusHead(1, 0, 48000)), oggPage(0x02, 0, 2, 0, vorbisBOS)...)
	grouped = append(grouped, oggPage(0x04, 48000*2, 1, 1, []byte{1})...)
	grouped = append(grouped, oggPage(0x04, 32000*3, 2, 1, []byte{1})...)

	cases := []struct {
		name      string
		data      []byte
		dur       float64
		truncated bool
		chained   bool
		streams   int
		codec     string
	}{
		// 10 pages of 48000 samples after a 312-sample pre-skip: 10 s exactly.
		{"ten seconds", full, 10, false, false, 1, "opus"},
		// Without its EOS page the stream is cut at a page boundary: 9 s.
		{"no EOS page", full[:lastPage], 9, true, false, 1, "opus"},
		// Junk between pages is skipped (resync on "OggS"): still 10 s.
		{"junk between pages", junk, 10, false, false, 1, "opus"},
		// Cut in the middle of a page: the complete pages before it count.
		{"cut mid-page", full[:lastPage-100], 8, true, false, 1, "opus"},
		// Chained with different serials: 2 s + 3 s.
		{"chained serials", twoSerials, 5, false, true, 1, "opus"},
		// Opus (2 s) grouped with Vorbis at 32 kHz (3 s): the longest counts.
		{"grouped opus+vorbis", grouped, 3, false, false, 2, "opus"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := smpInspect(c.data, "x.ogg")
			require.NoError(t, err)
			assert.Equal(t, c.codec, rep.Codec)
			assert.InDelta(t, c.dur, rep.Duration, 1e-6)
			assert.Equal(t, c.truncated, rep.Truncated, "truncated")
			assert.Equal(t, c.chained, rep.Chained, "chained")
			assert.Equal(t, c.streams, rep.Streams, "streams")
		})
	}
}

func TestOggErrors(t *testing.T) {
	notBOS := oggPage(0, 0, 1, 0, opusHead(1, 0, 48000))
	unknown := oggPage(0x02, 0, 1, 0, []byte("NotACodec header"))
	badVersion := oggPage(0x02, 0, 1, 0, opusHead(1, 0, 48000))
	badVersion[4] = 1
	for _, c := range []struct {
		name string
		data []byte
		code Code
	}{
		{"first page not BOS", notBOS, CodeCorrupt},
		{"unknown codec", unknown, CodeUnsupportedContainer},
		{"page version 1", badVersion, CodeCorrupt},
		{"header cut", oggPage(0x02, 0, 1, 0, opusHead(1, 0, 48000))[:20], CodeTruncated},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := smpInspect(c.data, "x.ogg")
			var ie *Error
			require.True(t, errors.As(err, &ie), "want *Error, got %v", err)
			assert.Equal(t, c.code, Code(ie.Kind), "%v", err)
		})
	}
}

// TestOggLarge checks that a 16 MB Opus file (1 KB pages, ~16,000 of them)
// is walked within the read budget and gives the exact duration.
func TestOggLarge(t *testing.T) {
	const pages = 16_000
	b := oggOpus(9, 312, pages, 960, 1000, true) // 20 ms a page
	require.Greater(t, len(b), 16_000_000)
	rep, err := smpInspect(b, "big.ogg")
	require.NoError(t, err)
	assert.InDelta(t, float64(pages)*0.02, rep.Duration, 1e-9)
	assert.False(t, rep.Truncated)
	assert.True(t, rep.Has(CodeTooLarge))
}

// TestOggTinyPages: 16 MB of minimal pages (one 1-byte packet each) stays
// within the read budget and is cancellable.
func TestOggTinyPages(t *testing.T) {
	b := oggPage(0x02, 0, 1, 0, opusHead(1, 0, 48000))
	page := oggPage(0, 0, 1, 1, []byte{0xF8})
	n := 16_000_000 / len(page)
	for i := 1; i <= n; i++ {
		binary.LittleEndian.PutUint64(page[6:], uint64(i*960))
		if i == n {
			page[5] = 0x04
		}
		b = append(b, page...)
	}
	rep, err := smpInspect(b, "tiny.ogg")
	require.NoError(t, err)
	assert.InDelta(t, float64(n)*0.02, rep.Duration, 1e-6)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Reader(ctx, bytes.NewReader(b), int64(len(b)), "tiny.ogg")
	assert.ErrorIs(t, err, context.Canceled)
}

func FuzzOgg(f *testing.F) {
	smpSeed(f, oggCases)
	f.Add(oggOpus(1, 312, 3, 960, 10, false))
	// Code 3 packets (the packing walk reads packet starts).
	for _, name := range []string{"opus-native-silk-wb-3x20ms-16k.ogg", "opus-single-silk-wb-1x20ms-16k.ogg"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(smpSane)
}

func BenchmarkOgg(b *testing.B) { smpBench(b, "ogg-opus-mono-48k-2s.ogg") }

func BenchmarkOgg16MB(b *testing.B) {
	data := oggOpus(9, 312, 16_000, 960, 1000, true)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := smpInspect(data, "big.ogg"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOgg16MBFile is BenchmarkOgg16MB through an *os.File (pread
// system calls, page cache warm).
func BenchmarkOgg16MBFile(b *testing.B) {
	p := filepath.Join(b.TempDir(), "big.ogg")
	require.NoError(b, os.WriteFile(p, oggOpus(9, 312, 16_000, 960, 1000, true), 0o644))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := File(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}
