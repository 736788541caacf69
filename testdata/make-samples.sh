#!/usr/bin/env bash
# Regenerates the committed samples in testdata/. Each testdata/gen/*.sh
# makes the samples of one family of formats and documents how; run them
# all with `make samples`. Samples are short (1–4 s) to keep the repo small;
# large and hostile inputs are built by the tests themselves.
set -euo pipefail
cd "$(dirname "$0")"
for g in gen/*.sh; do
  echo "== $g"
  bash "$g"
done
