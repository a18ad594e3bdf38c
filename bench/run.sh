#!/bin/sh
# `make bench [QUICK=1]`: builds wslab, the load generator and the tokio
# peer, installs the Node ws peer, and runs every scenario
# (docs/performance.md). The table is printed at the end and kept in
# target/bench/latest.txt. Arguments go to the generator, for example:
#   sh bench/run.sh --quick                  # the same as QUICK=1
#   sh bench/run.sh --client tokio           # fanout and echo with tokio-tungstenite
#                                            # clients instead of the lean ones
#                                            # (the other scenarios are skipped)
#   sh bench/run.sh --only fanout,echo --servers wslab,rust-tokio
set -eu
cd "$(dirname "$0")/.."

echo "== building wslab, the load generator and the tokio peer (release)"
cargo build --release --quiet
cargo build --release --quiet --manifest-path bench/loadgen/Cargo.toml
cargo build --release --quiet --manifest-path bench/peers/rust-tokio/Cargo.toml

servers="wslab,node-ws,rust-tokio"
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  peer=bench/peers/node-ws
  # npm ci only when node_modules is missing or older than the lock file.
  if [ ! -f "$peer/node_modules/.package-lock.json" ] ||
     [ "$peer/package-lock.json" -nt "$peer/node_modules/.package-lock.json" ]; then
    echo "== installing the Node ws peer (npm ci)"
    (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error)
  fi
else
  echo "WARNING: node/npm not found: running wslab and rust-tokio, without the Node ws peer"
  servers="wslab,rust-tokio"
fi

# 10,000 client connections from the generator, as many on the server side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# script-fanout runs a PHP app (Ratchet's MyChat) as a script app: php-cli
# is installed as the tests install it, and `wslab ratchet` sets it up.
sh .ci/install-deps.sh
if command -v php >/dev/null 2>&1; then
  ./target/release/wslab ratchet bench/peers/php-mychat >/dev/null
else
  echo "WARNING: php not found: script-fanout will fail"
fi

mkdir -p target/bench
quick=""
[ -n "${QUICK:-}" ] && [ "${QUICK:-}" != 0 ] && quick="--quick"
mode="${quick:-full}"
case " $* " in *" --quick "*) mode="--quick" ;; esac
echo "== running ($mode; the generator shares this machine's cores with the server)"
# shellcheck disable=SC2086
bench/loadgen/target/release/wslab-loadgen $quick --servers "$servers" "$@" | tee target/bench/latest.txt
