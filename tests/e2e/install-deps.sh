#!/bin/sh
# What the end-to-end tests need, installed where missing: Debian's Chromium
# and curl (which examples/backend/job.sh uses) with apt as root, and
# tests/e2e/node_modules (npm ci, from package-lock.json). Without them the
# tests cannot run, so this fails loudly.
set -eu
E2E=$(cd "$(dirname "$0")" && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

missing=""
# The fonts make the screenshots readable; chromium alone pulls in none.
[ -x "$CHROMIUM" ] || missing="$missing chromium fonts-liberation fonts-dejavu-core"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing (apt):$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
  fi
  if [ ! -x "$CHROMIUM" ] || ! command -v curl >/dev/null 2>&1; then
    echo "e2e: missing:$missing, and it could not be installed (needs root and apt-get)" >&2
    exit 1
  fi
fi

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "e2e: $tool is missing: install Node.js 20 or later with npm" >&2
    exit 1
  fi
done

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f "$E2E/node_modules/.package-lock.json" ] ||
  [ "$E2E/package-lock.json" -nt "$E2E/node_modules/.package-lock.json" ]; then
  echo "installing tests/e2e/node_modules (npm ci)"
  (cd "$E2E" && npm ci --no-audit --no-fund --loglevel=error)
fi
