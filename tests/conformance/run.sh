#!/usr/bin/env bash
# make conformance: the Autobahn|Testsuite fuzzing client against /ws/echo of
# a freshly started release server, every case but 12.* and 13.*
# (permessage-deflate, which wslab does not offer), compared with the
# committed results in tests/conformance/expected.json.
#
#   tests/conformance/run.sh            # full run (301 cases)
#   tests/conformance/run.sh --update   # also rewrite expected.json from this run
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$(pwd)
SHARED=${WSLAB_SHARED:-$TOP/../shared}
HARNESS=$SHARED/autobahn
export AUTOBAHN_VENV=$TOP/target/autobahn-venv
export AUTOBAHN_BUILD=$TOP/target/autobahn-build
REPORTS=$TOP/target/autobahn-reports

[ -x "$HARNESS/run.sh" ] || { echo "conformance: no harness at $HARNESS (set WSLAB_SHARED)" >&2; exit 2; }
if [ ! -x "$AUTOBAHN_VENV/bin/wstest" ]; then
  echo "conformance: setting up the Autobahn harness in $AUTOBAHN_VENV"
  "$HARNESS/setup.sh"
fi

cargo build --release --quiet
log=$(mktemp)
# The 9.* cases send messages of up to 16 MiB: run with a limit above that.
./target/release/wslab --host 127.0.0.1 --port 0 --max-message-size 32MiB \
  --data "$(mktemp -d)" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's#.*open http://127\.0\.0\.1:\([0-9]*\)/.*#\1#p' "$log" | head -n 1)
  [ -n "$port" ] && break
  kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 2; }
  # The server prints its port within milliseconds; re-read the log until it has.
  sleep 0.1
done
[ -n "$port" ] || { echo "conformance: server did not start" >&2; cat "$log" >&2; exit 2; }

rc=0
"$HARNESS/run.sh" -o "$REPORTS" "ws://127.0.0.1:$port/ws/echo" || rc=$?
[ -f "$REPORTS/index.json" ] || { echo "conformance: no report" >&2; exit 2; }

python3 - "$REPORTS/index.json" tests/conformance/expected.json "${1:-}" <<'PY'
import json, sys
report, expected_path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
agents = json.load(open(report))
results = next(iter(agents.values()))
got = {case: r["behavior"] for case, r in results.items()}
def key(case):
    return [int(p) for p in case.split(".")]
if mode == "--update":
    json.dump({c: got[c] for c in sorted(got, key=key)}, open(expected_path, "w"), indent=1)
    print(f"conformance: wrote {expected_path} ({len(got)} cases)")
expected = json.load(open(expected_path))
rank = {"OK": 0, "INFORMATIONAL": 0, "NON-STRICT": 1}
counts = {}
for b in got.values():
    counts[b] = counts.get(b, 0) + 1
print("conformance: " + ", ".join(f"{n} {b}" for b, n in sorted(counts.items())))
bad = [c for c, b in got.items() if b not in rank]
worse = [c for c, b in expected.items() if c not in got or (got[c] in rank and rank[got[c]] > rank.get(b, 0))]
better = [c for c, b in expected.items() if c in got and got[c] in rank and rank[got[c]] < rank.get(b, 0)]
for c in sorted(bad, key=key):
    print(f"  FAILED {c}: {got[c]}")
for c in sorted(worse, key=key):
    print(f"  worse than expected {c}: {expected[c]} -> {got.get(c, 'NOT RUN')}")
for c in sorted(better, key=key):
    print(f"  better than expected {c}: {expected[c]} -> {got[c]} (run with --update)")
if bad or worse:
    sys.exit(1)
print(f"conformance: {len(got)} cases, none failed, none worse than tests/conformance/expected.json")
PY
exit $rc
