#!/usr/bin/env bash
# CAF samples (Apple Core Audio Format) for pkg/inspect/caf.go. Run from
# testdata/:  bash gen/caf.sh
# Expected values in pkg/inspect/caf_test.go come from the arguments below.
set -euo pipefail
FF=(ffmpeg -nostdin -hide_banner -loglevel error -y)
BX=(-fflags +bitexact -flags:a +bitexact)
sine() { echo "sine=frequency=440:sample_rate=$1:duration=$2"; }

"${FF[@]}" -f lavfi -i "$(sine 16000 0.25)" -ac 1 -c:a pcm_s16le "${BX[@]}" caf-pcm-s16le-mono-16k-0.25s.caf
"${FF[@]}" -f lavfi -i "$(sine 8000 0.25)" -ac 2 -c:a pcm_s16be "${BX[@]}" caf-pcm-s16be-stereo-8k-0.25s.caf
"${FF[@]}" -f lavfi -i "$(sine 8000 0.25)" -ac 1 -c:a pcm_f32le "${BX[@]}" caf-pcm-f32le-mono-8k-0.25s.caf
"${FF[@]}" -f lavfi -i "$(sine 8000 0.5)" -ac 1 -c:a pcm_mulaw "${BX[@]}" caf-mulaw-mono-8k-0.5s.caf
# Packetized (pakt chunk): ALAC, Opus. (ffmpeg 5.1 cannot mux AAC into CAF;
# caf_test.go builds an AAC variant at run time from the ALAC sample.)
"${FF[@]}" -f lavfi -i "$(sine 44100 0.5)" -ac 2 -c:a alac "${BX[@]}" caf-alac-stereo-44k-0.5s.caf
"${FF[@]}" -f lavfi -i "$(sine 48000 2)" -ac 1 -c:a libopus -b:a 24k "${BX[@]}" caf-opus-mono-48k-2s.caf
# Written to a pipe: the data chunk size stays -1 ("to the end of the file").
"${FF[@]}" -f lavfi -i "$(sine 8000 0.5)" -ac 1 -c:a pcm_s16le "${BX[@]}" -f caf pipe:1 > caf-pipe-datasize-minus1-mono-8k-0.5s.caf
