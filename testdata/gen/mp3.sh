#!/usr/bin/env bash
# MPEG audio samples (ISO/IEC 11172-3, 13818-3, MPEG 2.5). Run from testdata/.
# Sine sources, so the nominal durations below are exact; LAME adds its
# encoder delay/padding, which the Xing/LAME tag accounts for.
#
#   mp3-cbr-128k-stereo-44100-info-tag.mp3   MPEG-1 L3 CBR 128k stereo, 1 s, "Info" tag (ffmpeg default)
#   mp3-cbr-64k-mono-44100-noxing.mp3        MPEG-1 L3 CBR 64k mono, 2 s, no Xing/Info: size/bitrate estimate
#   mp3-vbr-q4-mono-44100-xing.mp3           MPEG-1 L3 VBR (-q:a 4) mono, 2 s, "Xing" tag with frame count
#   mp3-vbr-q2-stereo-48000-noxing-framewalk.mp3  VBR stereo 48k, 1 s, no Xing: needs a frame walk
#   mp3-mpeg2-lsf-24000-mono.mp3             MPEG-2 L3 (LSF) 24 kHz mono 32k, 2 s
#   mp3-mpeg25-8000-mono.mp3                 MPEG-2.5 L3 8 kHz mono 16k, 2 s
#   mp3-id3v2-cover-id3v1.mp3                64k stereo, 1 s, ID3v2.3 tag with a PNG cover + ID3v1 at the end
#   mp3-trap-layer2-is-mp2-48000.mp3         MPEG-1 Layer II (codec mp2) 64k stereo, 1 s, named .mp3: WhatsApp refuses it
# VBRI (Fraunhofer), junk before the first frame, APE tags and multi-MB ID3
# tags are built by pkg/inspect/mp3_test.go at run time.
set -euo pipefail
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
bx=(-fflags +bitexact -flags:a +bitexact -map_metadata -1)
sine() { echo "sine=frequency=${1}:sample_rate=${2}:duration=${3}"; }

ff -f lavfi -i "$(sine 440 44100 1)" -ac 2 -c:a libmp3lame -b:a 128k "${bx[@]}" mp3-cbr-128k-stereo-44100-info-tag.mp3
ff -f lavfi -i "$(sine 440 44100 2)" -ac 1 -c:a libmp3lame -b:a 64k -write_xing 0 "${bx[@]}" mp3-cbr-64k-mono-44100-noxing.mp3
ff -f lavfi -i "anoisesrc=seed=7:sample_rate=44100:duration=2:amplitude=0.05" -ac 1 -c:a libmp3lame -q:a 4 "${bx[@]}" mp3-vbr-q4-mono-44100-xing.mp3
ff -f lavfi -i "anoisesrc=seed=8:sample_rate=48000:duration=1:amplitude=0.05" -ac 2 -c:a libmp3lame -q:a 2 -write_xing 0 "${bx[@]}" \
   mp3-vbr-q2-stereo-48000-noxing-framewalk.mp3
ff -f lavfi -i "$(sine 440 24000 2)" -ac 1 -c:a libmp3lame -b:a 32k "${bx[@]}" mp3-mpeg2-lsf-24000-mono.mp3
ff -f lavfi -i "$(sine 440 8000 2)" -ac 1 -c:a libmp3lame -b:a 16k "${bx[@]}" mp3-mpeg25-8000-mono.mp3
ff -f lavfi -i "$(sine 440 44100 1)" -f lavfi -i "color=c=blue:size=32x32:duration=1,format=rgb24" -frames:v 1 \
   -map 0:a -map 1:v -ac 2 -c:a libmp3lame -b:a 64k -c:v png -disposition:v attached_pic \
   -id3v2_version 3 -write_id3v1 1 -metadata title="prep sample" -metadata artist="prep" \
   -fflags +bitexact -flags:a +bitexact mp3-id3v2-cover-id3v1.mp3
ff -f lavfi -i "$(sine 440 48000 1)" -ac 2 -c:a mp2 -b:a 64k "${bx[@]}" -f mp2 mp3-trap-layer2-is-mp2-48000.mp3

for f in mp3-cbr-128k-stereo-44100-info-tag.mp3 mp3-cbr-64k-mono-44100-noxing.mp3 mp3-vbr-q4-mono-44100-xing.mp3 \
         mp3-vbr-q2-stereo-48000-noxing-framewalk.mp3 mp3-mpeg2-lsf-24000-mono.mp3 mp3-mpeg25-8000-mono.mp3 \
         mp3-id3v2-cover-id3v1.mp3 mp3-trap-layer2-is-mp2-48000.mp3; do
  if [ -n "$(ffmpeg -nostdin -v error -i "$f" -f null - 2>&1)" ]; then echo "mp3.sh: $f does not decode cleanly" >&2; exit 1; fi
done
