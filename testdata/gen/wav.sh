#!/usr/bin/env bash
# WAV samples (RIFF/WAVE, RF64) for pkg/inspect/wav.go. Run from testdata/:
#   bash gen/wav.sh
# Expected values in pkg/inspect/wav_test.go come from the arguments below.
set -euo pipefail
FF=(ffmpeg -nostdin -hide_banner -loglevel error -y)
BX=(-fflags +bitexact -flags:a +bitexact)
sine() { echo "sine=frequency=440:sample_rate=$1:duration=$2"; }

# Plain PCM (WAVE_FORMAT_PCM).
"${FF[@]}" -f lavfi -i "$(sine 16000 0.25)" -ac 1 -c:a pcm_s16le "${BX[@]}" wav-pcm-s16le-mono-16k-0.25s.wav
"${FF[@]}" -f lavfi -i "$(sine 8000 1)" -ac 1 -c:a pcm_u8 "${BX[@]}" wav-pcm-u8-mono-8k-1s.wav
# More than 16 bits: ffmpeg writes WAVE_FORMAT_EXTENSIBLE (SubFormat GUID).
"${FF[@]}" -f lavfi -i "$(sine 8000 0.25)" -ac 2 -c:a pcm_s24le "${BX[@]}" wav-pcm-s24le-stereo-8k-extensible-0.25s.wav
"${FF[@]}" -f lavfi -i "$(sine 11025 0.25)" -ac 1 -c:a pcm_f32le "${BX[@]}" wav-pcm-f32le-mono-11k-extensible-0.25s.wav
# G.711 and IMA ADPCM (compressed: duration from the fact chunk / blocks).
"${FF[@]}" -f lavfi -i "$(sine 8000 0.5)" -ac 1 -c:a pcm_mulaw "${BX[@]}" wav-mulaw-mono-8k-0.5s.wav
"${FF[@]}" -f lavfi -i "$(sine 8000 0.5)" -ac 1 -c:a pcm_alaw "${BX[@]}" wav-alaw-mono-8k-0.5s.wav
"${FF[@]}" -f lavfi -i "$(sine 16000 1)" -ac 1 -c:a adpcm_ima_wav "${BX[@]}" wav-adpcm-ima-mono-16k-1s.wav
# RF64 (EBU TECH 3306): RIFF/data sizes 0xFFFFFFFF, real sizes in ds64.
"${FF[@]}" -f lavfi -i "$(sine 8000 0.5)" -ac 1 -c:a pcm_s16le -rf64 always "${BX[@]}" wav-rf64-pcm-s16le-mono-8k-0.5s.wav
# Streaming: written to a pipe, the RIFF and data sizes stay 0xFFFFFFFF.
# (wav_test.go also zeroes both sizes at run time: the "size 0" flavour.)
"${FF[@]}" -f lavfi -i "$(sine 8000 0.5)" -ac 1 -c:a pcm_s16le "${BX[@]}" -f wav pipe:1 > wav-stream-size-ffffffff-mono-8k-0.5s.wav
# Truncated: a 2 s 16 kHz mono file cut to 6,000 bytes (data says 64,000).
"${FF[@]}" -f lavfi -i "$(sine 16000 2)" -ac 1 -c:a pcm_s16le "${BX[@]}" /tmp/prep-wav-full.$$.wav
head -c 6000 /tmp/prep-wav-full.$$.wav > wav-pcm-s16le-mono-16k-truncated-6000b.wav
rm -f /tmp/prep-wav-full.$$.wav
