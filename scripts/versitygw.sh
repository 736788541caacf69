#!/usr/bin/env bash
# Sourced by scripts/test.sh (and usable by hand): s3_start runs versitygw
# (posix backend, a temp dir) on 127.0.0.1 and exports S3_ENDPOINT,
# S3_BUCKET and AWS credentials for the S3 tests; s3_stop stops it.
# The credentials are throwaway values for this loopback server only.

s3_start() {
  local bin="${HOME}/.cache/prep-tools/bin/versitygw"
  if [[ ! -x $bin ]]; then
    echo "versitygw missing: run 'make deps'" >&2
    return 1
  fi
  S3_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/prep-s3.XXXXXX")
  mkdir -p "$S3_ROOT/data" "$S3_ROOT/meta" "$S3_ROOT/data/prep-test"
  export ROOT_ACCESS_KEY="prep-test-access" ROOT_SECRET_KEY="prep-test-secret-key"
  # Several test runs may start servers at once on a shared machine: start
  # from a random port, and make sure the server answering is ours (a
  # process that lost the race for its port exits; then try another).
  local port=$((17070 + RANDOM % 2000)) try i
  for try in 1 2 3 4 5; do
    while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    "$bin" --access "$ROOT_ACCESS_KEY" --secret "$ROOT_SECRET_KEY" --port "127.0.0.1:$port" \
      --health /healthz --quiet posix --sidecar "$S3_ROOT/meta" "$S3_ROOT/data" >"$S3_ROOT/versitygw.log" 2>&1 &
    S3_PID=$!
    for i in $(seq 1 100); do
      kill -0 "$S3_PID" 2>/dev/null || break
      if _s3_healthy "$port"; then
        sleep 0.1
        kill -0 "$S3_PID" 2>/dev/null || break
        export S3_ENDPOINT="http://127.0.0.1:$port" S3_BUCKET="prep-test" S3_REGION="us-east-1"
        export AWS_ACCESS_KEY_ID="$ROOT_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$ROOT_SECRET_KEY" AWS_REGION="us-east-1"
        echo "versitygw listening on $S3_ENDPOINT (bucket $S3_BUCKET)"
        return 0
      fi
      sleep 0.1
    done
    kill "$S3_PID" 2>/dev/null || true
    wait "$S3_PID" 2>/dev/null || true
    port=$((port + 1))
  done
  echo "versitygw did not start:" >&2
  cat "$S3_ROOT/versitygw.log" >&2
  return 1
}

# _s3_healthy asks GET /healthz with bash alone (no curl on minimal images).
_s3_healthy() {
  local line
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  IFS= read -r -t 2 line <&3 || line=""
  exec 3<&- 3>&-
  [[ $line == *" 200"* ]]
}

s3_stop() {
  if [[ -n ${S3_PID:-} ]]; then
    kill "$S3_PID" 2>/dev/null || true
    wait "$S3_PID" 2>/dev/null || true
  fi
  [[ -n ${S3_ROOT:-} ]] && rm -rf "$S3_ROOT"
  unset S3_PID S3_ROOT
}
