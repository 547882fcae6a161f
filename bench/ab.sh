#!/usr/bin/env bash
# Compares two adapter builds under the same load: the same open-loop rate through each (oha,
# --latency-correction, 64 connections) in front of one TLS emulator, alternating A and B for
# PAIRS pairs so a drift of the shared machine hits both alike. Prints each run's adapter CPU per
# request (from /proc) and latency, then the medians per build.
#
# Usage: bench/ab.sh <adapter-binary-a> <adapter-binary-b> [pairs=5] [duration=6s] [stream|plain] [rate=1000]
#   e.g. keep a copy of an older build (cp target/dist/gigachat-adapter /tmp/before), change the
#   code, then: bench/ab.sh /tmp/before target/dist/gigachat-adapter
#   The two profiles: cargo build --release -p gigachat-adapter, then
#   bench/ab.sh target/release/gigachat-adapter target/dist/gigachat-adapter
# The adapters log as users run them: RUST_LOG=info (BENCH_RUST_LOG overrides), so the request span
# and one JSON access line per request (to a file in $WORK) are part of what is measured.
# Needs: oha (`cargo install oha --locked`), python3, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1
B=$2
PAIRS=${3:-5}
DURATION=${4:-6s}
MODE=${5:-stream}
RATE=${6:-1000}
BENCH_RUST_LOG=${BENCH_RUST_LOG:-info}
source bench/lib.sh
prepare_bench
TOKEN=bench-static-token
API_PORT=$(free_port); OAUTH_PORT=$(free_port); ADAPTER_PORT=$(free_port)
start_emulator "$API_PORT" "$OAUTH_PORT" emulator.log --ca-pem "$WORK/ca.pem"
wait_for --cacert "$WORK/ca.pem" "https://localhost:$API_PORT/"
export GIGACHAT_CA_BUNDLE_FILE="$WORK/ca.pem"
case $MODE in
  stream) STREAM=',"stream":true' ;;
  plain) STREAM='' ;;
  *) echo "mode must be stream or plain" >&2; exit 2 ;;
esac
BODY='{"model":"GigaChat","messages":[{"role":"user","content":"Привет! Как дела?"}]'$STREAM'}'
URL="http://127.0.0.1:$ADAPTER_PORT/v1/chat/completions"
load() { # rate duration output
  oha --no-tui --output-format json -z "$2" -q "$1" --latency-correction -c 64 -m POST \
    -H "Authorization: Bearer bench-key" -H 'Content-Type: application/json' -d "$BODY" "$URL" > "$3"
}
ticks() { awk '{print $14 + $15}' "/proc/$ADAPTER_PID/stat"; }

for pair in $(seq "$PAIRS"); do
  for side in a b; do
    if [ "$side" = a ]; then bin=$A; else bin=$B; fi
    ADAPTER_BIN=$bin start_adapter "$ADAPTER_PORT" "https://localhost:$API_PORT/api/v1" "$OAUTH_PORT"
    load 500 2s /dev/null  # warm up: connections, token
    before=$(ticks)
    load "$RATE" "$DURATION" "$WORK/$side-$pair.json"
    echo $(( $(ticks) - before )) > "$WORK/$side-$pair.ticks"
    kill "$ADAPTER_PID"; wait "$ADAPTER_PID" 2>/dev/null || true
  done
  echo "pair $pair of $PAIRS done" >&2
done

python3 - "$WORK" "$PAIRS" "$(getconf CLK_TCK)" "$A" "$B" "$MODE" "$RATE" <<'PY'
import json, os, statistics, sys
work, pairs, tick, a, b, mode, rate = sys.argv[1:8]
pairs, tick = int(pairs), int(tick)
print(f"# {mode}, {rate} req/s, {pairs} interleaved pairs\n")
print("| build | pair | adapter CPU per request | p50 ms | p99 ms |")
print("|---|---|---|---|---|")
summary = {}
for side, name in (("a", a), ("b", b)):
    rows = []
    for pair in range(1, pairs + 1):
        with open(os.path.join(work, f"{side}-{pair}.json")) as f:
            data = json.load(f)
        with open(os.path.join(work, f"{side}-{pair}.ticks")) as f:
            ticks = int(f.read())
        done = sum(data.get("statusCodeDistribution", {}).values()) or 1
        cpu = ticks / tick / done * 1e6
        p = data["latencyPercentiles"]
        rows.append((cpu, p["p50"] * 1000, p["p99"] * 1000))
        print(f"| {side}: {name} | {pair} | {cpu:.0f} µs | {p['p50'] * 1000:.3f} | {p['p99'] * 1000:.3f} |")
    summary[side] = [statistics.median(column) for column in zip(*rows)]
print("\n| build | median CPU per request | median p50 ms | median p99 ms |")
print("|---|---|---|---|")
for side, name in (("a", a), ("b", b)):
    cpu, p50, p99 = summary[side]
    print(f"| {side}: {name} | {cpu:.0f} µs | {p50:.3f} | {p99:.3f} |")
PY
