#!/usr/bin/env bash
# Compares `prep inspect` processes with ffprobe processes on the same
# files: each tool runs once per file, ROUNDS times over all samples.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
mapfile -t files < <(ls testdata/*.* | grep -v -e '/hostile-' -e '\.sh$')
ns() { date +%s%N; }
t0=$(ns)
for ((r = 0; r < rounds; r++)); do
  for f in "${files[@]}"; do ./bin/prep inspect --json "$f" >/dev/null || true; done
done
t1=$(ns)
for ((r = 0; r < rounds; r++)); do
  for f in "${files[@]}"; do ffprobe -v error -show_format -show_streams -of json "$f" >/dev/null 2>&1 || true; done
done
t2=$(ns)
n=$((rounds * ${#files[@]}))
prep_us=$(((t1 - t0) / 1000 / n))
ffp_us=$(((t2 - t1) / 1000 / n))
echo "files: ${#files[@]} x $rounds rounds"
echo "prep inspect: ${prep_us} µs per process"
echo "ffprobe:      ${ffp_us} µs per process"
awk -v a="$ffp_us" -v b="$prep_us" 'BEGIN { printf "speed-up:     %.1fx\n", a / b }'
# One prep process over all files at once (how a batch uses it).
t3=$(ns); ./bin/prep inspect --json "${files[@]}" >/dev/null || true; t4=$(ns)
echo "prep inspect, one process for all ${#files[@]} files: $(((t4 - t3) / 1000)) µs"
