package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInspectJSONHostile(t *testing.T) {
	out, _, code := runCLI(t, nil, "inspect", "--json", "../../testdata/hostile-html.mp3", "../../testdata/hostile-empty.mp3")
	assert.Equal(t, exitFailed, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, "one JSON object per input, even when it fails")
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		for _, k := range []string{"path", "size", "mime", "ext_mime", "container", "codec", "channels", "sample_rate",
			"duration_s", "bitrate_bps", "has_video", "voice_ready", "audio_ready", "problems", "error"} {
			assert.Contains(t, m, k)
		}
		assert.Equal(t, "audio/mpeg", m["ext_mime"])
	}
}

func TestInspectUsage(t *testing.T) {
	_, _, code := runCLI(t, nil, "inspect")
	assert.Equal(t, exitUsage, code)
	_, _, code = runCLI(t, nil, "inspect", "--bogus", "x")
	assert.Equal(t, exitUsage, code)
}

// TestInspectVoiceMaxBytesUsage: a budget of 0 or less is a usage error
// (exit 2), not silently the default.
func TestInspectVoiceMaxBytesUsage(t *testing.T) {
	for _, v := range []string{"0", "-5"} {
		_, _, code := runCLI(t, nil, "inspect", "--voice-max-bytes", v, "../../testdata/ogg-opus-mono-48k-2s.ogg")
		assert.Equal(t, exitUsage, code, "--voice-max-bytes %s", v)
	}
	out, _, code := runCLI(t, nil, "inspect", "--json", "--voice-max-bytes", "1000", "../../testdata/ogg-opus-mono-48k-2s.ogg")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, `"too_large_for_voice"`)
}

// TestInspectNonRegular: a FIFO and /dev/zero are refused at once, each
// named, with what it is (issue 13, finding 1: the FIFO blocked prep
// inspect in openat until killed; /dev/zero was reported "empty").
func TestInspectNonRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.ogg")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	type res struct {
		out  string
		code int
	}
	done := make(chan res, 1)
	go func() {
		out, _, code := runCLI(t, nil, "inspect", "--json", fifo, "/dev/zero")
		done <- res{out, code}
	}()
	var r res
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		t.Fatal("prep inspect of a FIFO did not return within 10 s")
	}
	assert.Equal(t, exitFailed, r.code)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	require.Len(t, lines, 2)
	for i, want := range []string{"named pipe (FIFO)", "character device"} {
		var m struct {
			Path     string `json:"path"`
			Error    string `json:"error"`
			Problems []struct {
				Code string `json:"code"`
			} `json:"problems"`
		}
		require.NoError(t, json.Unmarshal([]byte(lines[i]), &m))
		assert.Contains(t, m.Error, m.Path)
		assert.Contains(t, m.Error, want)
		assert.NotContains(t, m.Error, "empty")
		require.Len(t, m.Problems, 1)
		assert.Equal(t, "not_regular_file", m.Problems[0].Code)
	}
}

// TestInspectTableQuotesNames: a newline in a file name does not break the
// plain table (issue 13, finding 7); ordinary names are printed as they are.
func TestInspectTableQuotesNames(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../testdata/ogg-opus-mono-48k-2s.ogg")
	require.NoError(t, err)
	odd := filepath.Join(dir, "evil\nname\t.ogg")
	plain := filepath.Join(dir, "plain note é.ogg")
	require.NoError(t, os.WriteFile(odd, src, 0o600))
	require.NoError(t, os.WriteFile(plain, src, 0o600))
	out, _, code := runCLI(t, nil, "inspect", odd, plain)
	assert.Equal(t, exitOK, code)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, 3, "a header and one row per file:\n%s", out)
	assert.True(t, strings.HasPrefix(lines[1], strconv.Quote(odd)), lines[1])
	assert.True(t, strings.HasPrefix(lines[2], plain+" "), lines[2])
	for _, name := range []string{"a.ogg", "dir/b c.ogg", "ü.ogg"} {
		assert.Equal(t, name, quoteName(name))
	}
	for _, name := range []string{"a\nb", "a\tb", "\x1b[31mred", " lead", "a\xffb", "\u200bzero-width"} {
		assert.Equal(t, strconv.Quote(name), quoteName(name))
	}
}

// TestInspectPacking: the plain table and --json tell an Opus note's
// packing, and whether it is shaped like WhatsApp's own (issue 13).
func TestInspectPacking(t *testing.T) {
	native := "../../pkg/inspect/testdata/opus-native-silk-wb-3x20ms-16k.ogg"
	single := "../../pkg/inspect/testdata/opus-single-silk-wb-1x20ms-16k.ogg"
	out, _, code := runCLI(t, nil, "inspect", native, single, "../../testdata/mp3-cbr-64k-mono-44100-noxing.mp3")
	assert.Equal(t, exitOK, code)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, 4, out)
	assert.Contains(t, lines[0], "PACKING")
	assert.Regexp(t, `SILK-WB/3x20ms/16k\s+-$`, lines[1])
	assert.Regexp(t, `SILK-WB/1x20ms/16k\s+not_native_packing$`, lines[2])
	assert.Regexp(t, `yes\s+-\s+-$`, lines[3])

	out, _, code = runCLI(t, nil, "inspect", "--json", native)
	assert.Equal(t, exitOK, code)
	var rep struct {
		VoiceReady bool `json:"voice_ready"`
		Opus       struct {
			Config          int  `json:"config"`
			Code            int  `json:"code"`
			FramesPerPacket int  `json:"frames_per_packet"`
			InputSampleRate int  `json:"input_sample_rate"`
			Native          bool `json:"native"`
		} `json:"opus"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.True(t, rep.VoiceReady)
	assert.Equal(t, 9, rep.Opus.Config)
	assert.Equal(t, 3, rep.Opus.Code)
	assert.Equal(t, 3, rep.Opus.FramesPerPacket)
	assert.Equal(t, 16000, rep.Opus.InputSampleRate)
	assert.True(t, rep.Opus.Native)
}
