#!/usr/bin/env bash
# AMR samples (RFC 4867 §5 storage format) and AMR-in-3GP. Run from testdata/.
#
# Debian's ffmpeg has no AMR encoder. sox (libsox-fmt-all, opencore-amrnb)
# encodes AMR-NB, so the NB speech samples are real encodes of a sine; sox
# has no AMR-WB encoder and no DTX switch, so the WB and DTX samples come
# from prep's deterministic frame generator (internal/testgen/amr): valid
# frame structures with pseudo-random speech bits from a fixed seed, and
# runs of SID/NO_DATA frames as a phone writes during silence (DTX).
#
# Every frame is 20 ms, so the expected durations are frames × 0.02 s:
#   amr-nb-mr122-sox-2s.amr              sox, MR122 (-C 7), 2 s  -> 100 frames
#   amr-nb-mr475-sox-1s.amr              sox, MR475 (-C 0), 1 s  ->  50 frames
#   amr-nb-dtx-sid-nodata-3s.amr         gen, MR122 + DTX, 150 frames = 3.0 s
#                                        (trap: ffprobe estimates 2.82 s from
#                                        the bitrate; and ffmpeg's amrnb decoder
#                                        rejects SID/NO_DATA frames, see below)
#   awb-wb-mode8-2s.awb                  gen, WB 23.85k, 100 frames = 2.0 s
#   awb-wb-mode2-dtx-4s.awb              gen, WB 12.65k + DTX, 200 frames = 4.0 s
#   3gp-amr-nb-samr.3gp                  ffmpeg -c copy of amr-nb-mr122-sox-2s.amr
#   3gp-amr-wb-sawb.3gp                  ffmpeg -c copy of awb-wb-mode8-2s.awb
#
# Checks: every speech-only file must decode with `ffmpeg -v error` silently.
# The DTX files decode with sox (opencore) to exactly frames × 20 ms; ffmpeg's
# native AMR decoders log "dtx mode not implemented"/"Corrupt bitstream" on
# SID and NO_DATA frames (a limitation of ffmpeg, the same on real phone
# recordings), so for them we check sox's decoded length instead.
set -euo pipefail
root=$(cd .. && pwd)
amrgen() { (cd "$root" && go run ./internal/testgen/amr "$@"); }
out=$(pwd)

sox -n -r 8000 -c 1 -t amr-nb -C 7 amr-nb-mr122-sox-2s.amr synth 2 sine 440 vol 0.5
sox -n -r 8000 -c 1 -t amr-nb -C 0 amr-nb-mr475-sox-1s.amr synth 1 sine 300 vol 0.5
amrgen -mode 7 -frames 150 -dtx -seed 1 -o "$out/amr-nb-dtx-sid-nodata-3s.amr"
amrgen -wb -mode 8 -frames 100 -seed 2 -o "$out/awb-wb-mode8-2s.awb"
amrgen -wb -mode 2 -frames 200 -dtx -seed 3 -o "$out/awb-wb-mode2-dtx-4s.awb"

ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
ff -i amr-nb-mr122-sox-2s.amr -c copy -fflags +bitexact -f 3gp 3gp-amr-nb-samr.3gp
ff -i awb-wb-mode8-2s.awb -c copy -fflags +bitexact -f 3gp 3gp-amr-wb-sawb.3gp

for f in amr-nb-mr122-sox-2s.amr amr-nb-mr475-sox-1s.amr awb-wb-mode8-2s.awb 3gp-amr-nb-samr.3gp 3gp-amr-wb-sawb.3gp; do
  if [ -n "$(ffmpeg -nostdin -v error -i "$f" -f null - 2>&1)" ]; then echo "amr.sh: $f does not decode cleanly" >&2; exit 1; fi
done
check_sox_len() { # file expected-samples
  local n; n=$(sox "$1" -n stat 2>&1 | awk '/Samples read/{print $3}')
  [ "$n" = "$2" ] || { echo "amr.sh: $1 decodes to $n samples, want $2" >&2; exit 1; }
}
check_sox_len amr-nb-dtx-sid-nodata-3s.amr 24000
check_sox_len awb-wb-mode2-dtx-4s.awb 64000
