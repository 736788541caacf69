#!/usr/bin/env bash
# Hostile inputs that must give a clear per-file error, never a panic:
#   hostile-empty.mp3      0 bytes, named like audio
#   hostile-html.mp3       an HTML error page saved as .mp3 (what a failed download leaves)
#   hostile-text.ogg       plain text named .ogg
# Random bytes, truncations and multi-megabyte ID3 tags are built by the
# tests at run time (pkg/inspect/hostile_test.go) to keep the repo small.
set -euo pipefail
: > hostile-empty.mp3
cat > hostile-html.mp3 <<'HTML'
<!DOCTYPE html>
<html><head><title>403 Forbidden</title></head>
<body><h1>403 Forbidden</h1><p>Request has expired. The signed URL is no longer valid.</p></body></html>
HTML
printf 'This is not audio. It is a note someone renamed to .ogg.\n' > hostile-text.ogg
