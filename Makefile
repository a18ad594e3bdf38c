# wslab: the two commands a user needs are `make run PORT=...` and `make test`.
# `make e2e` runs the pages in a real browser (headless Chromium).
PORT ?= 8080
ARGS ?=
CARGO ?= cargo

.PHONY: ratchet run build test test-deps e2e e2e-deps e2e-img conformance cert run-tls test-tls fmt lint clean help bench bench-tls soak

help:
	@echo "make run PORT=8123 [ARGS='--root-app relay']   build (release) and start the server"
	@echo "make test                                      install test tools if missing, run every test"
	@echo "make e2e                                       every page in headless Chromium (installs it if missing)"
	@echo "make e2e-img                                   after make e2e: refresh docs/img/chat.png"
	@echo "make ratchet DIR=myproject                     set up a Ratchet server for --app (docs/scripts.md)"
	@echo "make bench [QUICK=1] | make bench-tls          benchmarks against the peers (docs/performance.md)"
	@echo "make soak [SOAK_S=600]                         every app at once with churn, stalls and a kill -9 (not in CI)"
	@echo "make build | fmt | lint | clean"

## Set up a Ratchet project for wslab (what `composer require cboden/ratchet`
## does): make ratchet DIR=myproject, then make run ARGS="--app /='php myproject/server.php'".
DIR ?=
ratchet:
	$(CARGO) build --release
	./target/release/wslab ratchet $(DIR)

## Build in release mode and run on PORT (default 8080).
run:
	$(CARGO) build --release
	./target/release/wslab --port $(PORT) $(ARGS)

build:
	$(CARGO) build --release

## A self-signed certificate for this machine's name and addresses, in certs/.
cert:
	sh .ci/make-cert.sh certs

## Like run, with TLS: https and wss on PORT, with the certificate of `make cert`.
run-tls:
	$(CARGO) build --release --features tls
	./target/release/wslab --port $(PORT) --tls-cert certs/cert.pem --tls-key certs/key.pem $(ARGS)

## The TLS tests (and every other test) with the tls feature on.
test-tls: test-deps
	$(CARGO) test --features tls --all-targets

## Every test: unit, integration (real sockets on 127.0.0.1), property tests.
test: test-deps
	$(CARGO) test --all-targets

## Tools the tests need, installed where missing (apt as root).
test-deps:
	@sh .ci/install-deps.sh

## End-to-end tests (tests/e2e): installs Chromium (apt, as root) and the npm
## packages where missing, builds, starts the server on a free port with a
## temporary data directory, runs every scenario, stops the server.
e2e: e2e-deps test-deps
	$(CARGO) build --release --features tls
	sh tests/e2e/run.sh

e2e-deps:
	@sh tests/e2e/install-deps.sh

## After `make e2e`: refresh the README's picture from its screenshot.
e2e-img:
	mkdir -p docs/img
	cp tests/e2e/screenshots/chat-two-windows.png docs/img/chat.png
	cp tests/e2e/screenshots/inspector.png docs/img/inspector.png

fmt:
	$(CARGO) fmt

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

clean:
	$(CARGO) clean

## Autobahn|Testsuite against /ws/echo, compared with tests/conformance/expected.json.
conformance:
	tests/conformance/run.sh

## Benchmarks: every scenario against wslab and a Node ws peer, interleaved
## (docs/performance.md). QUICK=1: a short run, under a minute.
QUICK ?=
bench:
	QUICK=$(QUICK) sh bench/run.sh $(ARGS)

## Fan-out over wss: the server's CPU per delivery with TLS (bench/tls_fanout.py).
bench-tls:
	$(CARGO) build --release --features tls
	sh .ci/make-cert.sh target/bench/cert >/dev/null
	python3 bench/tls_fanout.py --cert target/bench/cert/cert.pem --key target/bench/cert/key.pem $(ARGS) target/release/wslab

## Soak (issue 16; not in CI): every app at once for SOAK_S seconds on
## loopback, connection churn, a stalled client a minute, kill -9 and a
## restart half way; asserts and writes target/soak/report.md (tests/soak/).
SOAK_S ?= 600
soak: test-deps
	$(CARGO) build --release
	python3 tests/soak/soak.py --seconds $(SOAK_S)
