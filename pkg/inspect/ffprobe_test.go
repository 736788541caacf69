package inspect

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prep-audio/prep/internal/testdeps"
)

// ffprobeCorrections lists where prep deliberately disagrees with ffprobe,
// keyed by a substring of the sample's name, with the field and the reason.
// Every entry is a known ffprobe error (or a difference of definition) that
// prep corrects; the test fails on an entry no sample needs any more (prep
// within ffprobeOff of ffprobe on every sample it covers), so a stale entry
// cannot hide a plain comparison.
var ffprobeCorrections = map[string]map[string]string{
	// A MediaRecorder-style WebM has no Duration element: ffprobe reports
	// N/A; prep walks the clusters to the last block.
	"webm-mediarecorder": {"duration": "ffprobe reports no duration for WebM without a Duration element"},
	// AMR with DTX: ffprobe estimates the duration from the bitrate of the
	// first frames, so SID/NO_DATA frames make it wrong; prep counts frames
	// (20 ms each, RFC 4867 §5.3).
	"dtx": {"duration": "ffprobe estimates AMR duration from bitrate; DTX frames are smaller"},
	// ADTS has no index: ffprobe estimates duration from the bitrate; prep
	// walks the frame headers (1024 samples a frame).
	"aac-": {"duration": "ffprobe estimates ADTS duration from the bitrate of the first frames"},
	// FLAC whose STREAMINFO total is 0 (written to a pipe): ffprobe reports
	// N/A; prep takes the end of the last frame header.
	"flac-pipe": {"duration": "ffprobe reports no duration for FLAC with total samples 0"},
	// Chained Ogg (one logical stream after another): ffprobe reports the
	// last link's end granule only; prep adds the links up.
	"chained": {"duration": "ffprobe reports only the last link of a chained Ogg"},
	// Truncated files: ffprobe reports what the header promised or what it
	// could estimate; prep reports truncation and what is really there.
	"truncated": {"duration": "ffprobe reports the header's promise for truncated files"},
}

// ffprobeOff is how far prep's duration must be from ffprobe's for a
// correction to count as needed.
const ffprobeOff = 0.010

type ffprobeOut struct {
	Streams []struct {
		CodecType  string `json:"codec_type"`
		CodecName  string `json:"codec_name"`
		Channels   int    `json:"channels"`
		SampleRate string `json:"sample_rate"`
		Duration   string `json:"duration"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) (*ffprobeOut, error) {
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries",
		"stream=codec_type,codec_name,channels,sample_rate,duration:format=duration", "-of", "json", path).Output()
	if err != nil {
		return nil, err
	}
	var o ffprobeOut
	if err := json.Unmarshal(out, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

func correction(name, field string) string {
	for k, m := range ffprobeCorrections {
		// A key ending in "-" is a name prefix (a format family); others
		// match anywhere in the name.
		if (strings.HasSuffix(k, "-") && strings.HasPrefix(name, k)) || (!strings.HasSuffix(k, "-") && strings.Contains(name, k)) {
			if why, ok := m[field]; ok {
				return why
			}
		}
	}
	return ""
}

// TestAgainstFFprobe compares codec, channels, sample rate and duration with
// ffprobe on every committed sample (within 1.5% or 0.25 s).
func TestAgainstFFprobe(t *testing.T) {
	testdeps.Tool(t, "ffprobe", "make test installs it")
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "*.*"))
	require.NoError(t, err)
	// Each correction must still be needed by at least one sample it applies
	// to (prep off ffprobe by more than ffprobeOff), or it is stale
	// and only hides a plain comparison with ffprobe.
	var used, needed sync.Map
	n := 0
	// The group returns when its parallel subtests are done.
	t.Run("samples", func(t *testing.T) { n = ffprobeSamples(t, files, &used, &needed) })
	used.Range(func(why, _ any) bool {
		if _, ok := needed.Load(why); !ok {
			t.Errorf("stale ffprobe correction %q: prep agrees with ffprobe on every sample it covers", why)
		}
		return true
	})
	require.Greater(t, n, 0, "no samples in testdata")
}

func ffprobeSamples(t *testing.T, files []string, used, needed *sync.Map) int {
	n := 0
	for _, p := range files {
		name := filepath.Base(p)
		if strings.HasPrefix(name, "hostile-") || strings.HasSuffix(name, ".sh") || strings.HasSuffix(name, ".md") {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			probe, perr := ffprobe(t, p)
			rep, err := File(context.Background(), p)
			if perr != nil {
				// ffprobe could not read it either: prep must say why.
				require.Error(t, err, "ffprobe failed (%v) but prep accepted it", perr)
				return
			}
			var audio = -1
			for i, s := range probe.Streams {
				if s.CodecType == "audio" {
					audio = i
					break
				}
			}
			if audio < 0 {
				assert.True(t, err != nil || rep.Codec == "", "ffprobe sees no audio stream")
				return
			}
			require.NoError(t, err)
			s := probe.Streams[audio]
			assert.Equal(t, s.CodecName, rep.Codec, "codec")
			assert.Equal(t, s.Channels, rep.Channels, "channels")
			if sr, _ := strconv.Atoi(s.SampleRate); sr > 0 {
				assert.Equal(t, sr, rep.SampleRate, "sample rate")
			}
			want, _ := strconv.ParseFloat(probe.Format.Duration, 64)
			if want == 0 {
				want, _ = strconv.ParseFloat(s.Duration, 64)
			}
			tol := math.Max(0.015*want, 0.25)
			if want > 0 {
				// With samples of 0.25–4 s the 0.25 s floor alone would let
				// a missing duration (0) pass: one must be found.
				assert.Positive(t, rep.Duration, "no duration found")
			}
			if why := correction(name, "duration"); why != "" {
				used.Store(why, true)
				// Where ffprobe's header-based answer is known to be wrong,
				// the reference is the duration the sample was made with
				// (in its name) or else a full decode. The name wins because
				// ffmpeg's own decode is wrong on two of these: its AMR
				// decoder emits nothing for NO_DATA frames, which still last
				// 20 ms each (RFC 4867 §5.3), and ffmpeg 5.1 mistimes the
				// second link of a chained Ogg Opus.
				dec := namedDuration(name)
				if dec == 0 {
					dec = decodedDuration(t, p)
				}
				t.Logf("duration: prep %.3fs, ffprobe %.3fs, reference %.3fs (%s)", rep.Duration, want, dec, why)
				assert.InDelta(t, dec, rep.Duration, math.Max(0.015*dec, 0.25), "duration against the reference")
				if math.Abs(want-rep.Duration) > ffprobeOff { // prep really disagrees with ffprobe
					needed.Store(why, true)
				}
				return
			}
			assert.InDelta(t, want, rep.Duration, tol, "duration")
		})
	}
	return n
}

// decodedDuration decodes the first audio stream fully and returns how much
// audio came out.
func decodedDuration(t *testing.T, path string) float64 {
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "quiet", "-i", path, "-map", "0:a:0",
		"-f", "null", "-progress", "pipe:1", "-").Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("decode %s: %v", path, err)
	}
	var us int64
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "out_time_us="); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				us = n
			}
		}
	}
	return float64(us) / 1e6
}

// namedDuration reads the duration a sample was made with from its name
// ("…-3s.amr" → 3, "…-1.5s.oga" → 1.5); 0 when the name has none.
func namedDuration(name string) float64 {
	base := strings.TrimSuffix(name, filepath.Ext(name))
	parts := strings.Split(base, "-")
	for i := len(parts) - 1; i >= 0; i-- {
		total := 0.0
		for _, link := range strings.Split(parts[i], "+") { // "1s+2s": chained links
			v, ok := strings.CutSuffix(link, "s")
			f, err := strconv.ParseFloat(v, 64)
			if !ok || err != nil {
				total = 0
				break
			}
			total += f
		}
		if total > 0 {
			return total
		}
	}
	return 0
}
