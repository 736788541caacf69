package inspect

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prep-audio/prep/pkg/rules"
)

// matroskaCases: see testdata/gen/matroska.sh. Where the file has a
// Duration element, it is reported as written: ffmpeg writes the end of the
// last block without subtracting Opus's pre-skip or padding (up to 20 ms +
// 6.5 ms over, hence tol 0.03). Durations taken from the clusters subtract
// CodecDelay and DiscardPadding, so they are exact to the 1 ms timestamps.
var matroskaCases = []smpCase{
	{file: "webm-opus-mono-2s.webm", container: rules.ContainerWebM, codec: "opus", channels: 1, rate: 48000, duration: 2, tol: 0.03},
	// No Duration element (written to a pipe): the end of the last block.
	{file: "webm-mediarecorder-opus-mono-pipe-noduration-3s.webm", container: rules.ContainerWebM, codec: "opus", channels: 1, rate: 48000, duration: 3, tol: 0.002},
	{file: "webm-vorbis-stereo-44k-2s.webm", container: rules.ContainerWebM, codec: "vorbis", channels: 2, rate: 44100, duration: 2, tol: 0.01},
	{file: "webm-vp8-opus-video-1s.webm", container: rules.ContainerWebM, codec: "opus", channels: 1, rate: 48000, duration: 1, tol: 0.03, video: true},
	{file: "mka-flac-stereo-44k-0.5s.mka", container: rules.ContainerMatroska, codec: "flac", channels: 2, rate: 44100, duration: 0.5, tol: 0.001},
	// AAC: 1024 priming samples + padding to a whole 1024-sample frame.
	{file: "mka-aac-mono-22k-2s.mka", container: rules.ContainerMatroska, codec: "aac", channels: 1, rate: 22050, duration: 2, tol: 0.05},
	// MP3: LAME's delay and padding to a whole 1152-sample frame.
	{file: "mka-mp3-mono-44k-2s.mka", container: rules.ContainerMatroska, codec: "mp3", channels: 1, rate: 44100, duration: 2, tol: 0.03},
	{file: "mka-pcm-s16le-mono-8k-0.5s.mka", container: rules.ContainerMatroska, codec: "pcm_s16le", channels: 1, rate: 8000, duration: 0.5, tol: 0.001},
	// 5000 of 8845 bytes of a 2 s file: what is there (≈ 5000/8845 × 2 s),
	// not what the header's Duration promised.
	{file: "webm-opus-truncated.webm", container: rules.ContainerWebM, codec: "opus", channels: 1, rate: 48000, duration: 1.13, tol: 0.3, truncated: true},
}

func TestMatroskaSamples(t *testing.T) { smpCheck(t, matroskaCases) }

// ebmlEl encodes one EBML element with an 8-byte size (or unknown size).
func ebmlEl(id uint32, body []byte, unknown bool) []byte {
	var b []byte
	switch {
	case id >= 1<<24:
		b = binary.BigEndian.AppendUint32(b, id)
	case id >= 1<<16:
		b = append(b, byte(id>>16), byte(id>>8), byte(id))
	case id >= 1<<8:
		b = append(b, byte(id>>8), byte(id))
	default:
		b = append(b, byte(id))
	}
	if unknown {
		b = append(b, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
	} else {
		b = append(b, 0x01)
		b = append(b, binary.BigEndian.AppendUint64(nil, uint64(len(body)))[1:]...)
	}
	return append(b, body...)
}

func ebmlUint(id uint32, v uint64) []byte {
	return ebmlEl(id, binary.BigEndian.AppendUint64(nil, v), false)
}

// buildWebM builds a MediaRecorder-like WebM: unknown-size Segment, no
// Duration, one Opus track (mono, 48 kHz), clusters of blocks 20 ms apart
// (TimestampScale 1 ms), each block a CELT 20 ms frame (TOC 0xF8).
func buildWebM(docType string, clusters, blocks, blockSize int, unknownClusters bool) []byte {
	head := ebmlEl(mkvEBML, ebmlEl(mkvDocType, []byte(docType), false), false)
	info := ebmlEl(mkvInfo, ebmlUint(mkvTimestampScale, 1_000_000), false)
	audio := ebmlEl(mkvAudio, append(ebmlEl(mkvSamplingFreq, binary.BigEndian.AppendUint64(nil, 0x40E7700000000000), false), ebmlUint(mkvChannels, 1)...), false)
	entry := bytes.Join([][]byte{ebmlUint(mkvTrackNumber, 1), ebmlUint(mkvTrackType, 2), ebmlEl(mkvCodecID, []byte("A_OPUS"), false), audio}, nil)
	seg := append(info, ebmlEl(mkvTracks, ebmlEl(mkvTrackEntry, entry, false), false)...)
	payload := bytes.Repeat([]byte{0xF8}, blockSize)
	for c := 0; c < clusters; c++ {
		body := ebmlUint(mkvTimestamp, uint64(c*blocks*20))
		for k := 0; k < blocks; k++ {
			blk := append([]byte{0x81, byte(k * 20 >> 8), byte(k * 20), 0x80}, payload...)
			body = append(body, ebmlEl(mkvSimpleBlock, blk, false)...)
		}
		seg = append(seg, ebmlEl(mkvCluster, body, unknownClusters)...)
	}
	return append(head, ebmlEl(mkvSegment, seg, true)...)
}

// tracksLast moves the Tracks element of a 2-cluster file after the clusters.
func tracksLast() []byte {
	b := buildWebM("webm", 2, 50, 10, false)
	i := bytes.Index(b, []byte{0x16, 0x54, 0xAE, 0x6B})
	j := bytes.Index(b, []byte{0x1F, 0x43, 0xB6, 0x75})
	out := append(bytes.Clone(b[:i]), b[j:]...)
	return append(out, b[i:j]...)
}

// TestMatroskaOpusRate: ffmpeg writes the encoder's input rate (16000 here)
// as the Opus track's SamplingFrequency; Opus decodes at 48 kHz and ffprobe
// reports 48000, so must we.
func TestMatroskaOpusRate(t *testing.T) {
	b := buildWebM("webm", 1, 1, 1, false)
	i := bytes.Index(b, []byte{0xB5, 0x01})
	require.Greater(t, i, 0)
	binary.BigEndian.PutUint64(b[i+9:], math.Float64bits(16000))
	rep, err := smpInspect(b, "x.webm")
	require.NoError(t, err)
	assert.Equal(t, 48000, rep.SampleRate)
}

// TestMatroskaCodecDelay: the end of the last block minus the track's
// CodecDelay and the block's DiscardPadding.
func TestMatroskaCodecDelay(t *testing.T) {
	head := ebmlEl(mkvEBML, ebmlEl(mkvDocType, []byte("webm"), false), false)
	info := ebmlEl(mkvInfo, ebmlUint(mkvTimestampScale, 1_000_000), false)
	entry := bytes.Join([][]byte{ebmlUint(mkvTrackNumber, 1), ebmlUint(mkvTrackType, 2),
		ebmlEl(mkvCodecID, []byte("A_OPUS"), false), ebmlUint(mkvCodecDelay, 6_500_000)}, nil)
	tracks := ebmlEl(mkvTracks, ebmlEl(mkvTrackEntry, entry, false), false)
	first := ebmlEl(mkvSimpleBlock, []byte{0x81, 0, 0, 0x80, 0xF8}, false)
	// The last block at 20 ms, 20 ms long, 5 ms of it padding.
	group := ebmlEl(mkvBlockGroup, append(ebmlEl(mkvBlock, []byte{0x81, 0, 20, 0, 0xF8}, false), ebmlUint(mkvDiscardPadding, 5_000_000)...), false)
	cluster := ebmlEl(mkvCluster, bytes.Join([][]byte{ebmlUint(mkvTimestamp, 1000), first, group}, nil), true)
	b := append(head, ebmlEl(mkvSegment, bytes.Join([][]byte{info, tracks, cluster}, nil), true)...)
	rep, err := smpInspect(b, "x.webm")
	require.NoError(t, err)
	assert.InDelta(t, 1.040-0.005-0.0065, rep.Duration, 1e-9)
}

func TestMatroskaBuilt(t *testing.T) {
	// 30 clusters of 50 blocks of 20 ms: the last block starts at 29.98 s
	// and lasts 20 ms.
	known := buildWebM("webm", 30, 50, 100, false)
	unknown := buildWebM("webm", 30, 50, 100, true)
	cases := []struct {
		name      string
		data      []byte
		container string
		dur       float64
		truncated bool
	}{
		{"known-size clusters", known, rules.ContainerWebM, 30, false},
		{"unknown-size clusters (tail search)", unknown, rules.ContainerWebM, 30, false},
		{"matroska doctype", buildWebM("matroska", 2, 50, 10, true), rules.ContainerMatroska, 2, false},
		// Tracks after a known-size Cluster (allowed by the spec): 2 clusters of 1 s.
		{"tracks after the clusters", tracksLast(), rules.ContainerWebM, 2, false},
		// Cut inside the 50th block of the last cluster: 49 whole blocks.
		{"unknown-size clusters, cut mid-block", unknown[:len(unknown)-50], rules.ContainerWebM, 29.98, true},
		{"known-size clusters, cut mid-block", known[:len(known)-50], rules.ContainerWebM, 29.98, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := smpInspect(c.data, "x.webm")
			require.NoError(t, err)
			assert.Equal(t, c.container, rep.Container)
			assert.Equal(t, "opus", rep.Codec)
			assert.Equal(t, 1, rep.Channels)
			assert.Equal(t, 48000, rep.SampleRate)
			assert.InDelta(t, c.dur, rep.Duration, 1e-6)
			assert.Equal(t, c.truncated, rep.Truncated)
		})
	}
}

// TestMatroskaSampleUnknownClusters rewrites the cluster sizes of the
// MediaRecorder-like sample to "unknown" (same vint width, all ones), as
// Chrome writes them: the duration must not change.
func TestMatroskaSampleUnknownClusters(t *testing.T) {
	b := bytes.Clone(smpLoad(t, "webm-mediarecorder-opus-mono-pipe-noduration-3s.webm"))
	n := 0
	for i := 0; i+5 < len(b); i++ {
		if !bytes.Equal(b[i:i+4], []byte{0x1F, 0x43, 0xB6, 0x75}) {
			continue
		}
		w := 1
		for m := byte(0x80); w <= 8 && b[i+4]&m == 0; m >>= 1 {
			w++
		}
		require.LessOrEqual(t, w, 8)
		b[i+4] |= 0xFF >> w
		for k := 1; k < w; k++ {
			b[i+4+k] = 0xFF
		}
		n++
	}
	require.Greater(t, n, 0, "no clusters found")
	want, err := smpInspect(smpLoad(t, "webm-mediarecorder-opus-mono-pipe-noduration-3s.webm"), "")
	require.NoError(t, err)
	rep, err := smpInspect(b, "x.webm")
	require.NoError(t, err)
	assert.InDelta(t, 3, rep.Duration, 0.03)
	assert.Equal(t, want.Duration, rep.Duration)
	assert.False(t, rep.Truncated)
}

func TestMatroskaErrors(t *testing.T) {
	head := ebmlEl(mkvEBML, ebmlEl(mkvDocType, []byte("webm"), false), false)
	noTracks := append(bytes.Clone(head), ebmlEl(mkvSegment, ebmlEl(mkvCluster, ebmlUint(mkvTimestamp, 0), false), false)...)
	unknownFirst := append(bytes.Clone(head), ebmlEl(mkvSegment, ebmlEl(mkvCluster, ebmlUint(mkvTimestamp, 0), true), true)...)

	for _, c := range []struct {
		name string
		data []byte
		code Code
	}{
		{"doctype not matroska", buildWebM("mp4ish", 1, 1, 1, false), CodeUnsupportedContainer},
		{"no tracks at all", noTracks, CodeCorrupt},
		{"unknown-size cluster before tracks", unknownFirst, CodeCorrupt},
		{"segment cut before tracks", append(bytes.Clone(head), ebmlEl(mkvSegment, ebmlEl(0xEC, make([]byte, 100), false), false)[:40]...), CodeTruncated},
		{"header cut", buildWebM("webm", 1, 1, 1, false)[:30], CodeTruncated},
		{"zero vint", []byte{0x1A, 0x45, 0xDF, 0xA3, 0x00, 0x00}, CodeCorrupt},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := smpInspect(c.data, "x.webm")
			var ie *Error
			require.True(t, errors.As(err, &ie), "want *Error, got %v", err)
			assert.Equal(t, c.code, Code(ie.Kind), "%v", err)
		})
	}
}

func TestOpusPacketNs(t *testing.T) {
	for _, c := range []struct {
		p  []byte
		ns float64
	}{
		{[]byte{0xF8}, 20e6},            // CELT FB 20 ms, one frame
		{[]byte{0x08}, 20e6},            // SILK NB 20 ms
		{[]byte{0x78 | 1}, 40e6},        // hybrid 20 ms, two frames
		{[]byte{0xE0 | 3, 0x03}, 7.5e6}, // CELT 2.5 ms, three frames
		{[]byte{0x18}, 60e6},            // SILK NB 60 ms
		{nil, 0},
	} {
		assert.Equal(t, c.ns, opusPacketNs(c.p), "TOC %x", c.p)
	}
}

func FuzzMatroska(f *testing.F) {
	smpSeed(f, matroskaCases)
	f.Add(buildWebM("webm", 2, 3, 4, true))
	f.Fuzz(smpSane)
}

func BenchmarkMatroska(b *testing.B) {
	smpBench(b, "webm-mediarecorder-opus-mono-pipe-noduration-3s.webm")
}

// BenchmarkMatroska16MB: a 16 MB MediaRecorder-like file (unknown-size
// clusters, no Duration): the tail search finds the last cluster.
func BenchmarkMatroska16MB(b *testing.B) {
	data := buildWebM("webm", 1000, 50, 320, true)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := smpInspect(data, "big.webm"); err != nil {
			b.Fatal(err)
		}
	}
}

// Example_mediaRecorderWebM shows a browser-style WebM without a Duration
// element: ffprobe reports no duration; inspect takes it from the clusters.
func Example_mediaRecorderWebM() {
	name := "../../testdata/webm-mediarecorder-opus-mono-pipe-noduration-3s.webm"
	b, err := os.ReadFile(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := Reader(context.Background(), bytes.NewReader(b), int64(len(b)), "voice.webm")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s %d ch %d Hz %.1f s, voice ready: %v\n", rep.Container, rep.Codec, rep.Channels, rep.SampleRate, rep.Duration, rep.VoiceReady)
	// Output: webm opus 1 ch 48000 Hz 3.0 s, voice ready: false
}

// Example_chainedOgg shows two Opus files concatenated: the result plays
// in few players and WhatsApp does not take it.
func Example_chainedOgg() {
	rep, err := File(context.Background(), "../../testdata/ogg-opus-chained-1s+2s.ogg")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s chained=%v %.1f s, audio ready: %v\n", rep.Container, rep.Codec, rep.Chained, rep.Duration, rep.AudioReady)
	for _, p := range rep.Problems {
		fmt.Println(p.Code)
	}
	// Output:
	// ogg opus chained=true 3.0 s, audio ready: false
	// chained_stream
}

// BenchmarkMatroska16MBFile is BenchmarkMatroska16MB through an *os.File.
func BenchmarkMatroska16MBFile(b *testing.B) {
	p := filepath.Join(b.TempDir(), "big.webm")
	require.NoError(b, os.WriteFile(p, buildWebM("webm", 1000, 50, 320, true), 0o644))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := File(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMatroskaCodecPrivate: an A_AAC track's AudioSpecificConfig signalling
// HE-AAC v2 gives the decoder's output (SBR rate, stereo) when the track has
// no OutputSamplingFrequency; an A_FLAC track without a rate takes
// STREAMINFO's (the codec units, issue 10 item 7).
func TestMatroskaCodecPrivate(t *testing.T) {
	build := func(codecID string, private []byte, rate bool) []byte {
		head := ebmlEl(mkvEBML, ebmlEl(mkvDocType, []byte("matroska"), false), false)
		var a []byte
		if rate {
			a = ebmlEl(mkvSamplingFreq, binary.BigEndian.AppendUint64(nil, math.Float64bits(24000)), false)
		}
		a = append(a, ebmlUint(mkvChannels, 1)...)
		entry := bytes.Join([][]byte{ebmlUint(mkvTrackNumber, 1), ebmlUint(mkvTrackType, 2), ebmlEl(mkvCodecID, []byte(codecID), false),
			ebmlEl(mkvCodecPrivate, private, false), ebmlEl(mkvAudio, a, false)}, nil)
		seg := append(ebmlEl(mkvInfo, ebmlUint(mkvTimestampScale, 1_000_000), false), ebmlEl(mkvTracks, ebmlEl(mkvTrackEntry, entry, false), false)...)
		seg = append(seg, ebmlEl(mkvCluster, append(ebmlUint(mkvTimestamp, 0), ebmlEl(mkvSimpleBlock, []byte{0x81, 0, 0, 0x80, 1, 2, 3}, false)...), false)...)
		return append(head, ebmlEl(mkvSegment, seg, false)...)
	}
	// AOT 29 (PS), core index 6 (24000), mono, extension index 3 (48000), core AOT 2, GASpecificConfig.
	ps := []byte{0xEB, 0x09, 0x88, 0x00}
	si := make([]byte, 34)
	binary.BigEndian.PutUint64(si[10:], uint64(22050)<<44|uint64(1)<<41|uint64(15)<<36)
	flac := append([]byte("fLaC\x80\x00\x00\x22"), si...)
	for _, c := range []struct {
		name     string
		b        []byte
		rate, ch int
	}{
		{"he-aac v2", build("A_AAC", ps, true), 48000, 2},
		{"flac without a rate", build("A_FLAC", flac, false), 22050, 2},
		{"flac with a rate", build("A_FLAC", flac, true), 24000, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := inspectBytes(c.b)
			require.NoError(t, err)
			assert.Equal(t, c.rate, rep.SampleRate)
			assert.Equal(t, c.ch, rep.Channels)
		})
	}
}
