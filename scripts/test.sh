#!/usr/bin/env bash
# Runs the whole test suite with a real S3 server (versitygw on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versitygw.sh
s3_start
trap s3_stop EXIT
# The fast suite first; then the 25-minute transcodes (split, oversize,
# audio profile), about a minute of CPU, which a bare `go test` skips.
go test -count=1 -timeout 40m ./...
go test -count=1 -timeout 20m -run Long ./pkg/transcode -long
