#!/usr/bin/env bash
# FLAC samples (native fLaC stream) for pkg/inspect/flac.go. Run from testdata/:
#   bash gen/flac.sh
# Expected values in pkg/inspect/flac_test.go come from the arguments below.
set -euo pipefail
FF=(ffmpeg -nostdin -hide_banner -loglevel error -y)
BX=(-fflags +bitexact -flags:a +bitexact)

"${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=16000:duration=0.5" \
  -ac 1 -c:a flac "${BX[@]}" flac-mono-16k-0.5s.flac
"${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=8000:duration=1" \
  -ac 2 -c:a flac -sample_fmt s32 "${BX[@]}" flac-stereo-8k-s24-1s.flac
# Written to a pipe: the muxer cannot rewrite STREAMINFO, so total samples
# is 0 ("unknown", FLAC format §STREAMINFO): duration must be left unknown.
"${FF[@]}" -f lavfi -i "sine=frequency=440:sample_rate=8000:duration=0.5" \
  -ac 1 -c:a flac "${BX[@]}" -f flac pipe:1 > flac-pipe-totalsamples0-mono-8k-0.5s.flac
# ID3v2-prefixed FLAC (taggers do this): a 10-byte ID3v2.4 header with a
# 1000-byte body of padding, then the FLAC stream.
{ printf 'ID3\x04\x00\x00\x00\x00\x07\x68'; head -c 1000 /dev/zero; cat flac-mono-16k-0.5s.flac; } > flac-id3-prefixed-mono-16k-0.5s.flac
