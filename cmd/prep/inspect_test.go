package main

import (
	"encoding/json"
	"strings"
	"testing"

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
