#!/usr/bin/env bash
# Ogg samples (RFC 3533) for pkg/inspect/ogg.go. Run from testdata/:
#   bash gen/ogg.sh
# Every sample is 1–3 s of a sine or seeded noise; the expected values in
# pkg/inspect/ogg_test.go come from the arguments below (codec, -ac, -ar,
# -t), not from the parser. Traps are named in the file names.
set -euo pipefail
FF=(ffmpeg -nostdin -hide_banner -loglevel error -y)
BX=(-fflags +bitexact -flags:a +bitexact)

# Opus, mono, 48 kHz, 2 s: the WhatsApp voice-note shape.
"${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=2" \
  -ac 1 -c:a libopus -b:a 24k "${BX[@]}" ogg-opus-mono-48k-2s.ogg

# Opus, stereo, from a 44.1 kHz input, 3 s. OpusHead carries input_sample_rate
# 44100 but Opus always decodes at 48000 (RFC 7845 §5.1) and ffprobe says
# 48000, so the parser must report 48000 (trap: "input44100").
"${FF[@]}" -f lavfi -i "sine=frequency=660:sample_rate=44100:duration=3" \
  -ac 2 -c:a libopus -b:a 16k "${BX[@]}" ogg-opus-stereo-input44100-3s.opus

# Vorbis, stereo, 44.1 kHz, 2 s.
"${FF[@]}" -f lavfi -i "sine=frequency=330:sample_rate=44100:duration=2" \
  -ac 2 -c:a libvorbis -q:a 2 "${BX[@]}" ogg-vorbis-stereo-44k-2s.ogg

# FLAC in Ogg (the Ogg FLAC mapping: 0x7F "FLAC" 1 0 + STREAMINFO), mono 16 kHz, 1.5 s.
"${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=16000:duration=1.5" \
  -ac 1 -c:a flac "${BX[@]}" -f oga ogg-flac-mono-16k-1.5s.oga

# Speex in Ogg, mono, 16 kHz (wideband), 2 s.
"${FF[@]}" -f lavfi -i "sine=frequency=500:sample_rate=16000:duration=2" \
  -ac 1 -c:a libspeex "${BX[@]}" ogg-speex-mono-16k-2s.spx

# Chained: two complete Opus streams one after the other (BOS after EOS),
# 1 s + 2 s. ffprobe only sees the first link; the parser reports Chained.
"${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=1" \
  -ac 1 -c:a libopus -b:a 24k "${BX[@]}" /tmp/prep-ogg-link1.$$.ogg
"${FF[@]}" -f lavfi -i "sine=frequency=880:sample_rate=48000:duration=2" \
  -ac 1 -c:a libopus -b:a 24k "${BX[@]}" /tmp/prep-ogg-link2.$$.ogg
cat /tmp/prep-ogg-link1.$$.ogg /tmp/prep-ogg-link2.$$.ogg > ogg-opus-chained-1s+2s.ogg
rm -f /tmp/prep-ogg-link1.$$.ogg /tmp/prep-ogg-link2.$$.ogg

# Multiplexed: two Opus logical streams interleaved (two BOS pages at the
# start), mono 48 kHz, 1 s each.
"${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=1" \
  -f lavfi -i "sine=frequency=880:sample_rate=48000:duration=1" \
  -map 0:a -map 1:a -ac 1 -c:a libopus -b:a 24k "${BX[@]}" ogg-opus-multiplexed-2streams-1s.ogg

# Video: Theora + Vorbis (mono 22.05 kHz), 1 s. HasVideo must be set.
"${FF[@]}" -f lavfi -i "testsrc=size=64x48:rate=10:duration=1" \
  -f lavfi -i "sine=frequency=440:sample_rate=22050:duration=1" \
  -map 0:v -map 1:a -c:v libtheora -q:v 1 -ac 1 -c:a libvorbis "${BX[@]}" -flags:v +bitexact ogg-theora-vorbis-video-1s.ogv

# Truncated: the 2 s mono Opus cut in the middle of a page (no EOS page).
head -c 5000 ogg-opus-mono-48k-2s.ogg > ogg-opus-truncated-midpage.ogg
