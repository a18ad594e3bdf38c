#!/bin/sh
# End-to-end tests: start wslab on a free port with a temporary data
# directory, run every tests/e2e/*.test.js with node's test runner against
# it, and stop the server at the end, also when a test fails or the run is
# interrupted. `make e2e` builds the server and installs what is missing
# first; this script expects target/release/wslab and node_modules.
#
#   sh tests/e2e/run.sh [FILE.test.js ...]     (default: every scenario)
set -eu
E2E=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$E2E/../.." && pwd)
BIN=${WSLAB_BIN:-$ROOT/target/release/wslab}
RESULTS=$E2E/test-results
LOG=$RESULTS/server.log

if [ ! -x "$BIN" ]; then
  echo "run.sh: $BIN is missing: build it first (make e2e does)" >&2
  exit 1
fi
if [ ! -d "$E2E/node_modules/playwright-core" ]; then
  echo "run.sh: playwright-core is missing: run npm ci in tests/e2e (make e2e does)" >&2
  exit 1
fi

mkdir -p "$RESULTS"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/wslab-e2e.XXXXXX")
SERVER_PID=

cleanup() {
  status=$?
  trap - EXIT INT TERM
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
  if [ "$status" != 0 ]; then
    echo "run.sh: failed (exit $status); the server's log is in $LOG" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --port 0: the kernel picks a free port; wslab prints it in its log as
# "open http://127.0.0.1:PORT/" (with " (this machine)" after it when it
# listens on every address). The log is emptied first: the redirection below
# happens in the background, and the loop must not read an old run's port.
: >"$LOG"
"$BIN" --host 127.0.0.1 --port 0 --data "$TMP/data" --www "$ROOT/www" \
  --workshops "$E2E/workshops.json" 2>"$LOG" &
SERVER_PID=$!

PORT=
tries=0
while [ -z "$PORT" ]; do
  PORT=$(sed -n 's|.*open http://127\.0\.0\.1:\([0-9][0-9]*\)/.*|\1|p' "$LOG" | head -n 1)
  [ -n "$PORT" ] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "run.sh: wslab exited before it printed its URL:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  tries=$((tries + 1))
  if [ "$tries" -gt 300 ]; then
    echo "run.sh: wslab printed no URL within 30 s:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  sleep 0.1
done
echo "run.sh: wslab is on http://127.0.0.1:$PORT/ (pid $SERVER_PID, log $LOG)"

export WSLAB_URL="http://127.0.0.1:$PORT"
export WSLAB_PORT="$PORT"
export WSLAB_BIN="$BIN"
export WSLAB_WWW="$ROOT/www"
export WSLAB_WORKSHOPS="$E2E/workshops.json"
export WSLAB_ROOT="$ROOT"
export WSLAB_E2E_TMP="$TMP"

cd "$E2E"
if [ "$#" -eq 0 ]; then
  set -- *.test.js
fi
# One file at a time (the machine has two cores, and every file starts its
# own Chromium). No exec: the EXIT trap must still stop the server.
node --test --test-concurrency=1 --test-timeout=180000 "$@"
