#!/usr/bin/env bash
# Runs the whole test suite with a real S3 server (versitygw on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/versitygw.sh
s3_start
trap s3_stop EXIT
go test -count=1 -timeout 40m ./...
