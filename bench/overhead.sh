#!/usr/bin/env bash
# Measures what the adapter adds to GigaChat's latency: the same open-loop load (oha, fixed rate,
# coordinated-omission correction) against the emulator directly and through the adapter, for
# non-streaming and streaming chat, in one run. Writes bench/results/overhead-<date>.md.
# oha talks plain HTTP/1.1 to both. The adapter reaches its upstream as it reaches GigaChat: HTTPS
# with HTTP/2 by ALPN, to a second emulator serving TLS (set UPSTREAM=plain for plain HTTP/1.1 to
# the same emulator oha uses). The TLS emulator's encryption is counted against the adapter, so
# the difference (the adapter's own work plus one loopback hop) is if anything overstated.
#
# The four runs (direct and adapted, non-streaming and streaming) are interleaved over ROUNDS
# rounds and each figure is the median across rounds, so a burst of noise from the shared machine
# moves one round, not the result. The adapter's CPU time per request is read from /proc.
#
# Usage: [UPSTREAM=tls|plain] [ROUNDS=3] bench/overhead.sh [rate=1000] [duration=10s]
# Needs: oha (`cargo install oha --locked`), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-1000}
DURATION=${2:-10s}
ROUNDS=${ROUNDS:-3}
source bench/lib.sh
prepare_bench
API_PORT=$(free_port); OAUTH_PORT=$(free_port); ADAPTER_PORT=$(free_port)
TLS_API_PORT=$(free_port); TLS_OAUTH_PORT=$(free_port)
TOKEN=bench-static-token
UPSTREAM=${UPSTREAM:-tls}

start_emulator "$API_PORT" "$OAUTH_PORT" emulator.log --no-tls
wait_for "http://127.0.0.1:$API_PORT/"
case $UPSTREAM in
  tls)
    start_emulator "$TLS_API_PORT" "$TLS_OAUTH_PORT" emulator-tls.log --ca-pem "$WORK/ca.pem"
    wait_for --cacert "$WORK/ca.pem" "https://localhost:$TLS_API_PORT/"
    UPSTREAM_URL="https://localhost:$TLS_API_PORT/api/v1"
    export GIGACHAT_CA_BUNDLE_FILE="$WORK/ca.pem" ;;
  plain) UPSTREAM_URL="http://127.0.0.1:$API_PORT/api/v1" ;;
  *) echo "UPSTREAM must be tls or plain" >&2; exit 2 ;;
esac
start_adapter "$ADAPTER_PORT" "$UPSTREAM_URL" "$OAUTH_PORT"

BODY='{"model":"GigaChat","messages":[{"role":"user","content":"Привет! Как дела?"}]}'
STREAM_BODY='{"model":"GigaChat","messages":[{"role":"user","content":"Привет! Как дела?"}],"stream":true}'

cpu_ticks() { awk '{print $14 + $15}' "/proc/$ADAPTER_PID/stat"; }

run() { # name url auth body
  local name=$1 url=$2 auth=$3 body=$4 before
  before=$(cpu_ticks)
  oha --no-tui --output-format json -z "$DURATION" -q "$RATE" --latency-correction -c 64 \
    -m POST -H "Authorization: Bearer $auth" -H 'Content-Type: application/json' -d "$body" "$url" \
    > "$WORK/$name.json"
  echo $(( $(cpu_ticks) - before )) > "$WORK/$name.ticks"
}

DIRECT="http://127.0.0.1:$API_PORT/api/v1/chat/completions"
ADAPTED="http://127.0.0.1:$ADAPTER_PORT/v1/chat/completions"
# Warm up connections and the token cache.
run warm "$ADAPTED" bench-key "$BODY" >/dev/null 2>&1 || true
for round in $(seq "$ROUNDS"); do
  run "direct-$round" "$DIRECT" "$TOKEN" "$BODY"
  run "adapter-$round" "$ADAPTED" bench-key "$BODY"
  run "direct_stream-$round" "$DIRECT" "$TOKEN" "$STREAM_BODY"
  run "adapter_stream-$round" "$ADAPTED" bench-key "$STREAM_BODY"
  echo "round $round of $ROUNDS done" >&2
done

mkdir -p bench/results
OUT="bench/results/overhead-$(date +%Y%m%d-%H%M%S)-$UPSTREAM.md"
python3 - "$WORK" "$RATE" "$DURATION" "$UPSTREAM" "$ROUNDS" "$(getconf CLK_TCK)" > "$OUT" <<'PY'
import json, os, platform, statistics, sys
work, rate, duration, upstream, rounds, tick = sys.argv[1:7]
rounds, tick = int(rounds), int(tick)

def load(name):
    with open(os.path.join(work, name + ".json")) as f:
        data = json.load(f)
    with open(os.path.join(work, name + ".ticks")) as f:
        ticks = int(f.read())
    p = data["latencyPercentiles"]
    done = sum(data.get("statusCodeDistribution", {}).values())
    ok = data.get("statusCodeDistribution", {}).get("200", 0)
    cpu_us = ticks / tick * 1e6 / done if done else 0.0
    return p["p50"] * 1000, p["p99"] * 1000, done, ok, cpu_us

def rows(name):
    return [load(f"{name}-{r}") for r in range(1, rounds + 1)]

def med(values):
    return statistics.median(values)

transport = "HTTPS, HTTP/2 by ALPN (a second emulator)" if upstream == "tls" else "plain HTTP/1.1"
print(f"# Adapter overhead, {rate} req/s, {rounds} interleaved rounds of {duration}, oha --latency-correction\n")
print(f"Adapter to upstream: {transport}. Machine: {os.cpu_count()} cores, {platform.platform()}.")
print("Figures are medians across rounds; the p99 of every round is listed beside them.\n")
print("| mode | path | p50 ms | p99 ms | p99 per round | non-200 | adapter CPU per request |")
print("|---|---|---|---|---|---|---|")
for mode, direct, adapter in [("non-streaming", "direct", "adapter"), ("streaming", "direct_stream", "adapter_stream")]:
    d, a = rows(direct), rows(adapter)
    dp50, dp99 = med(x[0] for x in d), med(x[1] for x in d)
    ap50, ap99 = med(x[0] for x in a), med(x[1] for x in a)
    bad_d = sum(x[2] - x[3] for x in d)
    bad_a = sum(x[2] - x[3] for x in a)
    per_round = lambda rs: ", ".join(f"{x[1]:.2f}" for x in rs)
    print(f"| {mode} | emulator directly | {dp50:.3f} | {dp99:.3f} | {per_round(d)} | {bad_d} | |")
    print(f"| {mode} | through the adapter | {ap50:.3f} | {ap99:.3f} | {per_round(a)} | {bad_a} | {med(x[4] for x in a):.0f} µs |")
    added = [x[1] - y[1] for x, y in zip(a, d)]
    print(f"| {mode} | **added by the adapter** | **{ap50 - dp50:.3f}** | **{ap99 - dp99:.3f}** | {', '.join(f'{v:.2f}' for v in added)} | | |")
PY
cat "$OUT"
echo "written to $OUT" >&2
