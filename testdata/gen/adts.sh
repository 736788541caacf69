#!/usr/bin/env bash
# ADTS AAC samples (ISO/IEC 13818-7 / 14496-3 ADTS). Run from testdata/.
# ffmpeg's aac encoder writes 1024-sample frames and one priming frame; the
# duration prep reports is frames × 1024 / rate, so a sine of d seconds gives
# ceil(d·rate/1024)+1 frames (a little over d; ffprobe estimates from the
# bitrate instead, see pkg/inspect/adts.go).
#
#   aac-adts-lc-mono-44100.aac          AAC-LC mono 44.1k 32k, 2 s
#   aac-adts-lc-stereo-48000.aac        AAC-LC stereo 48k 64k, 1 s
#   aac-adts-lc-mono-8000.aac           AAC-LC mono 8k 16k, 2 s (sampling_frequency_index 11)
#   aac-adts-id3v2-prefixed.aac         AAC-LC mono 44.1k, 2 s, with an ID3v2 tag first (-write_id3v2 1)
#   aac-adts-crc-protected-mono-44100.aac  the first sample rewritten with protection_absent=0 and a
#        CRC word after every header (ffmpeg never writes CRC; internal/testgen/adtscrc does)
set -euo pipefail
root=$(cd .. && pwd)
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
bx=(-fflags +bitexact -flags:a +bitexact -map_metadata -1)
sine() { echo "sine=frequency=${1}:sample_rate=${2}:duration=${3}"; }

ff -f lavfi -i "$(sine 440 44100 2)" -ac 1 -c:a aac -b:a 32k "${bx[@]}" -f adts aac-adts-lc-mono-44100.aac
ff -f lavfi -i "$(sine 440 48000 1)" -ac 2 -c:a aac -b:a 64k "${bx[@]}" -f adts aac-adts-lc-stereo-48000.aac
ff -f lavfi -i "$(sine 440 8000 2)" -ac 1 -c:a aac -b:a 16k "${bx[@]}" -f adts aac-adts-lc-mono-8000.aac
ff -f lavfi -i "$(sine 440 44100 2)" -ac 1 -c:a aac -b:a 32k -fflags +bitexact -flags:a +bitexact \
   -metadata title="prep sample" -write_id3v2 1 -f adts aac-adts-id3v2-prefixed.aac
(cd "$root" && go run ./internal/testgen/adtscrc testdata/aac-adts-lc-mono-44100.aac testdata/aac-adts-crc-protected-mono-44100.aac)

for f in aac-adts-lc-mono-44100.aac aac-adts-lc-stereo-48000.aac aac-adts-lc-mono-8000.aac aac-adts-id3v2-prefixed.aac \
         aac-adts-crc-protected-mono-44100.aac; do
  if [ -n "$(ffmpeg -nostdin -v error -i "$f" -f null - 2>&1)" ]; then echo "adts.sh: $f does not decode cleanly" >&2; exit 1; fi
done
