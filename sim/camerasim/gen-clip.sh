#!/usr/bin/env bash
# gen-clip.sh regenerates the simulator's embedded clips (testdata/*.h264) with ffmpeg, reproducibly:
# lavfi sources only, single-threaded x264 with fixed parameters, no timestamps or metadata in the output.
#
#   clip.h264    normal scene: testsrc2 pattern (a small animated area, the rest static)
#   black.h264   lens covered / video loss: all black
#   motion.h264  the normal scene with a large box moving across it (motion burst)
#   clip.h265    the normal scene in H.265 (2 s), for cameras configured as H.265
#
# All three share resolution, frame rate, profile and GOP so the simulator can switch between them at a
# keyframe. Every access unit starts with an AUD; every keyframe repeats SPS/PPS in band.
set -euo pipefail
cd "$(dirname "$0")"

W=640 H=360 FPS=12 SECS=4
mkdir -p testdata

enc=(
  -an -c:v libx264 -profile:v baseline -level 3.0 -pix_fmt yuv420p -threads 1
  -g "$FPS" -keyint_min "$FPS" -sc_threshold 0 -bf 0 -crf 32 -maxrate 400k -bufsize 400k
  -x264-params "repeat-headers=1:aud=1:threads=1:sliced-threads=0"
  -bsf:v h264_metadata=aud=insert -map_metadata -1 -fflags +bitexact -flags:v +bitexact -f h264
)

ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=${W}x${H}:rate=${FPS}:duration=${SECS}" \
  "${enc[@]}" testdata/clip.h264

ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "color=c=black:size=${W}x${H}:rate=${FPS}:duration=${SECS}" \
  "${enc[@]}" testdata/black.h264

ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=${W}x${H}:rate=${FPS}:duration=${SECS}" \
  -f lavfi -i "color=c=white:size=160x160:rate=${FPS}:duration=${SECS}" \
  -filter_complex "[0:v][1:v]overlay=x='mod(t*240\,${W}-160)':y=100:shortest=1" \
  "${enc[@]}" testdata/motion.h264

ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=${W}x${H}:rate=${FPS}:duration=2" \
  -an -c:v libx265 -pix_fmt yuv420p -g "$FPS" -keyint_min "$FPS" -sc_threshold 0 -bf 0 -crf 38 \
  -x265-params "repeat-headers=1:aud=1:pools=1:frame-threads=1:log-level=error:info=0:bframes=0:no-open-gop=1" \
  -map_metadata -1 -fflags +bitexact -flags:v +bitexact -f hevc testdata/clip.h265

ls -l testdata/*.h264 testdata/*.h265
