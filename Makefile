# prep — see README.md. Two commands set up a fresh machine:
#   make demo   the whole job, offline, on the built-in sandbox
#   make test   everything the tests need, then the tests
SHELL := /bin/bash
GO ?= go
BIN := bin/prep
TOOLS := $(HOME)/.cache/prep-tools/bin
export PATH := $(TOOLS):$(PATH)

.PHONY: all build deps test-deps test-long test test-fast vet bench bench-queue bench-inspect fuzz demo samples clean chromium

all: build

build:
	$(GO) build -o $(BIN) ./cmd/prep

# deps installs what prep needs when it is missing: ffmpeg (with libopus).
deps:
	@bash scripts/deps.sh

# test-deps adds what the tests need: versitygw (a real S3 server on
# loopback), nats-server (JetStream, for the queue tests) and Debian's
# chromium (the sandbox page test).
test-deps:
	@bash scripts/deps.sh test

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd pkg internal)" || { echo "gofmt needed:"; gofmt -l cmd pkg internal; exit 1; }

# test: install what is missing, start a loopback S3 (versitygw), run vet and
# every test (fuzz targets run their seed corpus only).
test: test-deps vet
	@bash scripts/test.sh

# test-fast: no installs, no S3 server (the S3 tests skip).
test-fast:
	$(GO) test ./...

# test-long: the 25-minute transcodes alone (make test runs them too).
test-long: deps
	$(GO) test -count=1 -timeout 20m -run Long ./pkg/transcode -long

# bench runs every benchmark (one iteration of the long ones); the queue's
# need nats-server, so the test tools are installed first (not chromium).
bench:
	@PREP_NO_CHROMIUM=1 bash scripts/deps.sh test
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/... ./cmd/...

# bench-queue: issue 12's side by side, 3 iterations each — the real
# processes (`prep batch` against `prep worker` + `prep batch --queue`),
# then the same in one process (pkg/queue).
bench-queue:
	@PREP_NO_CHROMIUM=1 bash scripts/deps.sh test
	$(GO) test -run '^$$' -bench 'QueueCLIVsLocal' -benchtime 3x ./cmd/prep
	$(GO) test -run '^$$' -bench 'QueueVsLocal' -benchtime 3x ./pkg/queue

bench-inspect: deps build
	@bash scripts/bench-inspect.sh

# fuzz runs every fuzz target for FUZZTIME each (default 30s).
FUZZTIME ?= 30s
fuzz:
	@bash scripts/fuzz.sh $(FUZZTIME)

# samples regenerates testdata/ with ffmpeg (see testdata/gen/*.sh).
samples: deps
	@bash testdata/make-samples.sh

demo: deps build
	./$(BIN) demo

clean:
	rm -rf bin
