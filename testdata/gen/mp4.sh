#!/usr/bin/env bash
# ISO BMFF samples (MP4 / M4A / 3GP / QuickTime). Run from testdata/.
# Every audio source is a lavfi sine, so durations are exact: the expected
# values in pkg/inspect/mp4_test.go come from the arguments below.
#
#   m4a-aac-mono-44100-trap-channelcount2.m4a  AAC-LC mono 44.1k 32k, 2 s. Trap:
#        ffmpeg writes channelcount=2 in the mp4a sample entry; the truth is
#        in the esds AudioSpecificConfig (1 channel). moov after mdat
#        (ffmpeg's default).
#   m4a-aac-stereo-48000-faststart.m4a         AAC-LC stereo 48k 64k, 1 s, moov first.
#   mp4-aac-fragmented-mediarecorder.mp4       AAC mono 48k 32k, 2 s, fragmented like
#        a browser MediaRecorder: empty moov + mvex, moof/traf/trun every
#        0.5 s, no duration in mvhd/mdhd.
#   mp4-opus-fragmented-mediarecorder.mp4      Opus mono 48k, 2 s, fragmented (dOps).
#   mp4-opus-mono.mp4                          Opus mono 48k, 1 s, not fragmented.
#   mp4-mp3-in-mp4-oti6b.mp4                   MP3 stereo 44.1k, 2 s (esds OTI 0x6B).
#   m4a-alac-stereo-16000.m4a                  ALAC stereo 16k, 1 s (ALACSpecificConfig).
#   mp4-flac-mono-16000.mp4                    FLAC mono 16k, 1 s (dfLa).
#   mp4-video-mpeg4-with-aac.mp4               64x64 mpeg4 video + AAC mono, 1 s: has_video.
#   m4a-aac-with-cover-art.m4a                 AAC mono, 2 s, with a PNG cover in
#        covr metadata: not a video track.
#   mp4-quicktime-aac-mono.mov                 QuickTime (.mov) AAC mono 44.1k, 2 s.
#   3gp-aac-mono-16000.3gp                     3GP (brand 3gp…) AAC mono 16k, 2 s.
# (AMR-in-3GP samples are made by amr.sh.)
set -euo pipefail
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
bx=(-fflags +bitexact -flags:a +bitexact -flags:v +bitexact -map_metadata -1)
sine() { echo "sine=frequency=${1}:sample_rate=${2}:duration=${3}"; }

ff -f lavfi -i "$(sine 440 44100 2)" -ac 1 -c:a aac -b:a 32k "${bx[@]}" m4a-aac-mono-44100-trap-channelcount2.m4a
ff -f lavfi -i "$(sine 440 48000 1)" -ac 2 -c:a aac -b:a 64k -movflags +faststart "${bx[@]}" m4a-aac-stereo-48000-faststart.m4a
ff -f lavfi -i "$(sine 330 48000 2)" -ac 1 -c:a aac -b:a 32k -movflags +frag_keyframe+empty_moov+default_base_moof \
   -frag_duration 500000 "${bx[@]}" mp4-aac-fragmented-mediarecorder.mp4
ff -f lavfi -i "$(sine 330 48000 2)" -ac 1 -c:a libopus -b:a 32k -movflags +frag_keyframe+empty_moov+default_base_moof \
   -frag_duration 500000 "${bx[@]}" mp4-opus-fragmented-mediarecorder.mp4
ff -f lavfi -i "$(sine 550 48000 1)" -ac 1 -c:a libopus -b:a 24k "${bx[@]}" mp4-opus-mono.mp4
ff -f lavfi -i "$(sine 440 44100 2)" -ac 2 -c:a libmp3lame -b:a 64k "${bx[@]}" mp4-mp3-in-mp4-oti6b.mp4
ff -f lavfi -i "$(sine 440 16000 1)" -ac 2 -c:a alac "${bx[@]}" m4a-alac-stereo-16000.m4a
ff -f lavfi -i "$(sine 440 16000 1)" -ac 1 -c:a flac -strict experimental "${bx[@]}" mp4-flac-mono-16000.mp4
ff -f lavfi -i "testsrc=size=64x64:rate=10:duration=1" -f lavfi -i "$(sine 440 44100 1)" -ac 1 \
   -c:v mpeg4 -q:v 20 -c:a aac -b:a 32k "${bx[@]}" mp4-video-mpeg4-with-aac.mp4
ff -f lavfi -i "$(sine 440 44100 2)" -f lavfi -i "color=c=red:size=32x32:duration=1,format=rgb24" -frames:v 1 \
   -map 0:a -map 1:v -ac 1 -c:a aac -b:a 32k -c:v png -disposition:v attached_pic "${bx[@]}" m4a-aac-with-cover-art.m4a
ff -f lavfi -i "$(sine 440 44100 2)" -ac 1 -c:a aac -b:a 32k "${bx[@]}" -f mov mp4-quicktime-aac-mono.mov
ff -f lavfi -i "$(sine 440 16000 2)" -ac 1 -c:a aac -b:a 24k "${bx[@]}" -f 3gp 3gp-aac-mono-16000.3gp

for f in m4a-aac-mono-44100-trap-channelcount2.m4a m4a-aac-stereo-48000-faststart.m4a mp4-aac-fragmented-mediarecorder.mp4 \
         mp4-opus-fragmented-mediarecorder.mp4 mp4-opus-mono.mp4 mp4-mp3-in-mp4-oti6b.mp4 m4a-alac-stereo-16000.m4a \
         mp4-flac-mono-16000.mp4 mp4-video-mpeg4-with-aac.mp4 m4a-aac-with-cover-art.m4a mp4-quicktime-aac-mono.mov \
         3gp-aac-mono-16000.3gp; do
  if [ -n "$(ffmpeg -nostdin -v error -i "$f" -f null - 2>&1)" ]; then echo "mp4.sh: $f does not decode cleanly" >&2; exit 1; fi
done

# hostile-mp4-fragmented-trun-count-ffffffff.mp4: the fragmented sample with
# its first trun's sample_count (offset 784) set to 0xFFFFFFFF (issue 13,
# finding 5): it must be corrupt, not 91,625,970 s of audio.
cp mp4-aac-fragmented-mediarecorder.mp4 hostile-mp4-fragmented-trun-count-ffffffff.mp4
printf '\xff\xff\xff\xff' | dd of=hostile-mp4-fragmented-trun-count-ffffffff.mp4 bs=1 seek=784 conv=notrunc status=none
