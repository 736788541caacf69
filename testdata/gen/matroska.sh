#!/usr/bin/env bash
# Matroska / WebM samples for pkg/inspect/matroska.go. Run from testdata/:
#   bash gen/matroska.sh
# Expected values in pkg/inspect/matroska_test.go come from the arguments
# below, not from the parser. Traps are named in the file names.
set -euo pipefail
FF=(ffmpeg -nostdin -hide_banner -loglevel error -y)
BX=(-fflags +bitexact -flags:a +bitexact)

# WebM Opus mono 48 kHz, 2 s, written to a seekable file: Info/Duration present.
"${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=2" \
  -ac 1 -c:a libopus -b:a 24k "${BX[@]}" webm-opus-mono-2s.webm

# MediaRecorder-like: the same, written to a pipe. The muxer cannot seek
# back, so the Segment has an unknown size and Info has no Duration
# (ffprobe reports duration N/A); the parser must take it from the clusters.
"${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=3" \
  -ac 1 -c:a libopus -b:a 24k "${BX[@]}" -f webm pipe:1 > webm-mediarecorder-opus-mono-pipe-noduration-3s.webm

# WebM Vorbis stereo 44.1 kHz, 2 s.
"${FF[@]}" -f lavfi -i "sine=frequency=330:sample_rate=44100:duration=2" \
  -ac 2 -c:a libvorbis -q:a 2 "${BX[@]}" webm-vorbis-stereo-44k-2s.webm

# WebM with a VP8 video track and Opus audio, 1 s: HasVideo.
"${FF[@]}" -f lavfi -i "testsrc=size=64x48:rate=10:duration=1" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=1" \
  -map 0:v -map 1:a -c:v libvpx -b:v 50k -ac 1 -c:a libopus -b:a 24k "${BX[@]}" -flags:v +bitexact webm-vp8-opus-video-1s.webm

# Matroska (DocType "matroska") with other codecs.
"${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=0.5" \
  -ac 2 -c:a flac "${BX[@]}" mka-flac-stereo-44k-0.5s.mka
"${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=22050:duration=2" \
  -ac 1 -c:a aac -b:a 32k "${BX[@]}" mka-aac-mono-22k-2s.mka
"${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=2" \
  -ac 1 -c:a libmp3lame -b:a 32k "${BX[@]}" mka-mp3-mono-44k-2s.mka
"${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=8000:duration=0.5" \
  -ac 1 -c:a pcm_s16le "${BX[@]}" mka-pcm-s16le-mono-8k-0.5s.mka

# Truncated: the 2 s WebM cut in the middle of its clusters; the Segment
# declares more bytes than the file has.
head -c 5000 webm-opus-mono-2s.webm > webm-opus-truncated.webm
