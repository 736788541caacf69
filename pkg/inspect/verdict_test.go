package inspect

import (
	"math"
	"testing"

	"github.com/prep-audio/prep/pkg/rules"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVerdict judges hand-built parser results: readiness and problem codes
// follow rules, not the parsers.
func TestVerdict(t *testing.T) {
	opusMono := Info{Container: rules.ContainerOgg, Codec: "opus", Channels: 1, SampleRate: 48000, Duration: 10}
	cases := []struct {
		name         string
		info         Info
		size         int64
		file         string
		voice, audio bool
		codes        []Code
	}{
		{"mono opus voice note", opusMono, 40_000, "memo.ogg", true, true, nil},
		{"mono opus at the budget", opusMono, rules.VoiceMaxBytes, "memo.ogg", true, true, nil},
		{"mono opus one byte over", opusMono, rules.VoiceMaxBytes + 1, "memo.ogg", false, true, []Code{CodeTooLargeForVoice}},
		{"mislabeled opus is still ready", opusMono, 40_000, "memo.mp3", true, true, []Code{CodeExtMismatch}},
		{"opus named .opus is not a mismatch", opusMono, 40_000, "memo.opus", true, true, nil},
		// A name whose extension claims no type (.bin is application/octet-stream
		// in the system table, .xyz is unknown) is not a mismatch.
		{"opus named .bin is not a mismatch", opusMono, 40_000, "memo.bin", true, true, nil},
		{"opus named .xyz is not a mismatch", opusMono, 40_000, "memo.xyz", true, true, nil},
		{"stereo opus: no voice, no audio", Info{Container: "ogg", Codec: "opus", Channels: 2}, 40_000, "a.ogg", false, false, []Code{CodeNotMono}},
		// OpusHead channel count 0 (invalid, RFC 7845 §5.1): not ready, and a problem says why.
		{"opus with no channel count", Info{Container: "ogg", Codec: "opus", Channels: 0}, 40_000, "a.ogg", false, false, []Code{CodeNotMono}},
		{"vorbis in ogg", Info{Container: "ogg", Codec: "vorbis", Channels: 1}, 40_000, "a.ogg", false, false, []Code{CodeUnsupportedCodec}},
		{"stereo mp3 is basic audio", Info{Container: "mp3", Codec: "mp3", Channels: 2}, 1_000_000, "a.mp3", false, true, []Code{CodeNotMono}},
		{"mono aac m4a is basic audio", Info{Container: "mp4", Codec: "aac", Channels: 1}, 100_000, "a.m4a", false, true, nil},
		{"mp4 with video", Info{Container: "mp4", Codec: "aac", Channels: 1, HasVideo: true}, 100_000, "a.mp4", false, false, []Code{CodeHasVideo}},
		{"amr-wb is not accepted", Info{Container: "amr", Codec: "amr_wb", Channels: 1}, 10_000, "a.amr", false, false, []Code{CodeUnsupportedCodec, CodeExtMismatch}},
		{"wav container", Info{Container: "wav", Codec: "pcm_s16le", Channels: 1}, 10_000, "a.wav", false, false, []Code{CodeUnsupportedContainer}},
		{"over 16 MB", Info{Container: "mp3", Codec: "mp3", Channels: 1}, rules.AudioMaxBytes + 1, "a.mp3", false, false, []Code{CodeTooLarge}},
		{"chained ogg", Info{Container: "ogg", Codec: "opus", Channels: 1, Chained: true}, 10_000, "a.ogg", false, false, []Code{CodeChainedStream}},
		{"multiplexed ogg", Info{Container: "ogg", Codec: "opus", Channels: 1, Streams: 2}, 10_000, "a.ogg", false, false, []Code{CodeChainedStream}},
		{"truncated", Info{Container: "ogg", Codec: "opus", Channels: 1, Truncated: true}, 10_000, "a.ogg", false, false, []Code{CodeTruncated}},
		{"mp2 in an mp3 name", Info{Container: "mp3", Codec: "mp2", Channels: 1}, 10_000, "a.mp3", false, false, []Code{CodeUnsupportedCodec}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &Report{Path: c.file, Size: c.size, ExtMIME: extMIME(c.file), Problems: []Problem{}}
			info := c.info
			r.fill(&info)
			r.judge(buildOptions(nil))
			assert.Equal(t, c.voice, r.VoiceReady, "voice_ready")
			assert.Equal(t, c.audio, r.AudioReady, "audio_ready")
			var got []Code
			for _, p := range r.Problems {
				got = append(got, p.Code)
				assert.NotEmpty(t, p.Message)
			}
			assert.ElementsMatch(t, c.codes, got)
		})
	}
}

func TestVoiceBudgetOption(t *testing.T) {
	r := &Report{Path: "a.ogg", Size: 300_000, ExtMIME: "audio/ogg", Problems: []Problem{}}
	r.fill(&Info{Container: "ogg", Codec: "opus", Channels: 1})
	r.judge(buildOptions([]Option{WithVoiceMaxBytes(256_000)}))
	assert.False(t, r.VoiceReady)
	assert.True(t, r.Has(CodeTooLargeForVoice))
}

func TestReportType(t *testing.T) {
	r := &Report{Container: "mp4", Codec: "aac"}
	typ, ok := r.Type()
	assert.True(t, ok)
	assert.Equal(t, "audio/mp4", typ.MIME)
	assert.Equal(t, ".m4a", typ.Ext)
}

// TestFillHugeDuration: rounding to µs (×1e6) must not turn a huge but
// finite parser duration into +Inf (which JSON cannot encode).
func TestFillHugeDuration(t *testing.T) {
	r := &Report{Size: 1000}
	r.fill(&Info{Container: rules.ContainerCAF, Codec: "pcm_s16le", Duration: 1e305})
	assert.False(t, math.IsInf(r.Duration, 0), "duration %v", r.Duration)
	assert.Equal(t, 1e305, r.Duration)
}

// TestUnsupportedContainerNamesTheTable: the list of accepted types in the
// message comes from the rules table, not a second copy of it.
func TestUnsupportedContainerNamesTheTable(t *testing.T) {
	r := &Report{Path: "a.wav", Size: 1000, Problems: []Problem{}}
	r.fill(&Info{Container: rules.ContainerWAV, Codec: "pcm_s16le", Channels: 1})
	r.judge(buildOptions(nil))
	require.True(t, r.Has(CodeUnsupportedContainer))
	for _, p := range r.Problems {
		if p.Code == CodeUnsupportedContainer {
			for _, typ := range rules.AudioTypes() {
				assert.Contains(t, p.Message, typ.Name)
			}
		}
	}
}
