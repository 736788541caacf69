package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prep-audio/prep/internal/testdeps"
	"github.com/prep-audio/prep/pkg/rules"
	"github.com/prep-audio/prep/pkg/transcode"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTranscodeUsage(t *testing.T) {
	dir := t.TempDir()
	cases := [][]string{
		{"transcode"},
		{"transcode", "a.wav"},
		{"transcode", "-o", "x.ogg", "--out-dir", dir, "a.wav"},
		{"transcode", "-o", "x.ogg", "a.wav", "b.wav"},
		{"transcode", "--profile", "podcast", "--out-dir", dir, "a.wav"},
		{"transcode", "--bitrate", "fast", "--out-dir", dir, "a.wav"},
		{"transcode", "--sample-rate", "44100", "--out-dir", dir, "a.wav"},
		{"transcode", "--split", "--allow-oversize", "--out-dir", dir, "a.wav"},
		{"transcode", "--jobs", "-1", "--out-dir", dir, "a.wav"},
		{"transcode", "--packing", "triple", "--out-dir", dir, "a.wav"},
		{"transcode", "--out-dir", dir, "x/memo.wav", "y/memo.m4a"},
	}
	for _, c := range cases {
		_, _, code := runCLI(t, nil, c...)
		assert.Equal(t, exitUsage, code, "%v", c)
	}
}

func TestParseBitrate(t *testing.T) {
	for in, want := range map[string]int{"24000": 24000, "24k": 24000, "24kbps": 24000, "6.4k": 6400} {
		got, err := parseBitrate(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "k", "-5", "fast", "1e9"} {
		_, err := parseBitrate(bad)
		assert.Error(t, err, bad)
	}
}

// TestTranscodeCLI runs prep transcode over a compliant note named .mp3,
// a WAV and a non-audio file, with --json and a terminal stderr: stdout
// must hold exactly one JSON object per input, in input order.
func TestTranscodeCLI(t *testing.T) {
	testdeps.Tool(t, "ffmpeg", "make deps")
	src := t.TempDir()
	note, err := os.ReadFile("../../testdata/ogg-opus-mono-48k-2s.ogg")
	require.NoError(t, err)
	mislabeled := filepath.Join(src, "note.mp3")
	require.NoError(t, os.WriteFile(mislabeled, note, 0o644))
	wav := filepath.Join(src, "memo.wav")
	b, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "sine=f=440:r=16000:d=2", "-ac", "2", wav).CombinedOutput()
	require.NoError(t, err, string(b))
	bad := filepath.Join(src, "page.ogg")
	require.NoError(t, os.WriteFile(bad, []byte("<html>not audio</html>"), 0o644))

	out := t.TempDir()
	var so, se bytes.Buffer
	e := &env{stdout: &so, stderr: &se, getenv: func(string) string { return "" }, isTerminal: true}
	err = run(context.Background(), e, []string{"transcode", "--json", "--jobs", "2", "--out-dir", out, mislabeled, wav, bad})
	assert.Equal(t, exitFailed, exitCode(err))
	lines := strings.Split(strings.TrimSpace(so.String()), "\n")
	require.Len(t, lines, 3, "stdout: %q", so.String())
	var got []transcodeJSON
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		for _, k := range []string{"input", "action", "attempts", "outputs"} {
			assert.Contains(t, m, k)
		}
		var j transcodeJSON
		require.NoError(t, json.Unmarshal([]byte(l), &j))
		got = append(got, j)
	}
	assert.Equal(t, mislabeled, got[0].Input)
	assert.Equal(t, "passthrough", got[0].Action)
	require.Len(t, got[0].Outputs, 1)
	assert.Equal(t, filepath.Join(out, "note.ogg"), got[0].Outputs[0].Path)
	copied, err := os.ReadFile(got[0].Outputs[0].Path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(note, copied), "passthrough must be byte-identical")

	assert.Equal(t, "transcode", got[1].Action)
	assert.Equal(t, 1, got[1].Attempts)
	require.NotNil(t, got[1].Plan)
	assert.Equal(t, "native", got[1].Plan.Packing)
	require.Len(t, got[1].Outputs, 1)
	o := got[1].Outputs[0]
	assert.Equal(t, filepath.Join(out, "memo.ogg"), o.Path)
	assert.Equal(t, "opus", o.Codec)
	assert.Equal(t, 1, o.Channels)
	assert.InDelta(t, 2.0, o.Duration, 0.05)
	assert.LessOrEqual(t, o.Bytes, rules.VoiceMaxBytes)

	assert.NotEmpty(t, got[2].Error)
	assert.Empty(t, got[2].Outputs)
	assert.Contains(t, got[2].Error, "not audio")
}

// TestTranscodeCLIOutFile: -o writes exactly that file, human output.
func TestTranscodeCLIOutFile(t *testing.T) {
	testdeps.Tool(t, "ffmpeg", "make deps")
	dst := filepath.Join(t.TempDir(), "voice.ogg")
	so, _, code := runCLI(t, nil, "transcode", "../../testdata/ogg-vorbis-stereo-44k-2s.ogg", "-o", dst)
	require.Equal(t, exitOK, code)
	assert.Contains(t, so, "voice.ogg")
	assert.Contains(t, so, "transcode")
	st, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Greater(t, st.Size(), int64(1000))
}

// TestTranscodeCLIPacking: --packing single writes one frame a packet
// (TOC code 0 or libopus's padded code 3 with one frame), native three.
func TestTranscodeCLIPacking(t *testing.T) {
	testdeps.Tool(t, "ffmpeg", "make deps")
	for pk, want := range map[string]string{"single": "\"packing\":\"single\"", "native": "\"packing\":\"native\""} {
		dst := filepath.Join(t.TempDir(), pk+".ogg")
		so, _, code := runCLI(t, nil, "transcode", "--json", "--packing", pk, "../../testdata/ogg-vorbis-stereo-44k-2s.ogg", "-o", dst)
		require.Equal(t, exitOK, code)
		assert.Contains(t, so, want)
		b, err := os.ReadFile(dst)
		require.NoError(t, err)
		// The first audio page's first packet: 3 pages in (OpusHead, OpusTags).
		off := 0
		for i := 0; i < 2; i++ {
			n := 27 + int(b[off+26])
			for _, l := range b[off+27 : off+n] {
				n += int(l)
			}
			off += n
		}
		toc, frames := b[off+27+int(b[off+26])], b[off+28+int(b[off+26])]
		if pk == "native" {
			assert.Equal(t, byte(3), toc&3, "code 3")
			assert.Equal(t, byte(3), frames&0x3f, "3 frames")
		} else {
			assert.True(t, toc&3 == 0 || toc&3 == 3 && frames&0x3f == 1, "one frame a packet: TOC %#x %#x", toc, frames)
		}
	}
}

// TestTranscodeHint: prep names the flags that get past a transcode error
// (the library's messages name none).
func TestTranscodeHint(t *testing.T) {
	tooLong := &transcode.Error{Kind: transcode.KindTooLong, Err: errors.New("1500.0 s cannot fit")}
	for _, c := range []struct {
		err  error
		o    transcode.Options
		want string
	}{
		{tooLong, transcode.Options{}, "use --split to cut it into several voice notes, --allow-oversize"},
		{tooLong, transcode.Options{Bitrate: 24000}, "lower --bitrate"},
		{tooLong, transcode.Options{AllowOversize: true}, "use --split"},
		{tooLong, transcode.Options{Profile: transcode.ProfileAudio}, ""},
		{&transcode.Error{Kind: transcode.KindFFmpegMissing, Err: errors.New("ffmpeg was not found")}, transcode.Options{}, "--ffmpeg or PREP_FFMPEG"},
		{&transcode.Error{Kind: transcode.KindInput, Err: errors.New("not audio")}, transcode.Options{}, ""},
	} {
		got := withTranscodeHint(c.err, c.o)
		if c.want == "" {
			assert.Equal(t, c.err, got)
			continue
		}
		assert.Contains(t, got.Error(), c.want)
		// prep's one hint format, as for upload and send errors: "err (hint)".
		assert.True(t, strings.HasPrefix(got.Error(), c.err.Error()+" ("), got.Error())
		assert.True(t, strings.HasSuffix(got.Error(), ")"), got.Error())
		var te *transcode.Error
		assert.True(t, errors.As(got, &te), "the typed error stays reachable")
	}
	// Exit codes come from cmd/prep, not the library.
	assert.Equal(t, exitUsage, exitCode(&transcode.Error{Kind: transcode.KindOptions}))
	assert.Equal(t, exitSignal, exitCode(&transcode.Error{Kind: transcode.KindCanceled}))
	assert.Equal(t, exitFailed, exitCode(withTranscodeHint(tooLong, transcode.Options{})))
}
