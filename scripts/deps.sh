#!/usr/bin/env bash
# Installs what prep's tests and demo need, when it is missing.
set -euo pipefail
tools="${HOME}/.cache/prep-tools/bin"
mkdir -p "$tools"

apt_install() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "deps: $* missing; install it (sudo apt-get install -y $*) and run again" >&2
    exit 1
  fi
  if [[ ! -f /tmp/.prep-apt-updated ]]; then
    apt-get update -qq && touch /tmp/.prep-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

has_libopus() {
  local encoders
  encoders=$(ffmpeg -hide_banner -encoders 2>/dev/null) || return 1
  [[ $encoders == *libopus* ]]
}

if ! command -v ffmpeg >/dev/null || ! has_libopus; then
  echo "deps: installing ffmpeg (with libopus)"
  apt_install ffmpeg
fi

# The rest is for the tests only: `scripts/deps.sh test`.
[[ ${1:-} == test ]] || exit 0

if [[ ! -x "$tools/versitygw" ]]; then
  echo "deps: building versitygw v1.8.0 into $tools"
  GOBIN="$tools" go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi

# opus-tools' opusinfo validates every voice note the transcode tests write.
if ! command -v opusinfo >/dev/null; then
  echo "deps: installing opus-tools (opusinfo)"
  apt_install opus-tools
fi

# NATS JetStream for the queue tests (pkg/queue, prep worker).
if [[ ! -x "$tools/nats-server" ]]; then
  echo "deps: building nats-server v2.15.2 into $tools"
  GOBIN="$tools" go install github.com/nats-io/nats-server/v2@v2.15.2
fi

# Headless Chromium checks the sandbox's page (pkg/sandbox). Skip with
# PREP_NO_CHROMIUM=1 (that test then skips itself).
if [[ -z "${PREP_NO_CHROMIUM:-}" ]] && ! command -v chromium >/dev/null; then
  echo "deps: installing chromium (sandbox page test)"
  apt_install chromium
fi
