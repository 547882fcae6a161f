#!/usr/bin/env bash
# Measures what the adapter adds to GigaChat's latency: the same open-loop load (oha, fixed rate,
# coordinated-omission correction) against the emulator directly and through the adapter, for
# non-streaming and streaming chat, in one run. Writes bench/results/overhead-<date>.md.
#
# The adapter reaches its upstream as it reaches GigaChat: HTTPS with HTTP/2 by ALPN, to an
# emulator serving TLS. oha talks plain HTTP/1.1 to the adapter (64 connections) and reaches the
# emulator directly in two ways, both measured in every round:
# - like for like: HTTPS with HTTP/2 to that same TLS emulator, as a client calling GigaChat
#   without the adapter must (2 connections of 32 streams, the adapter's two upstream connections);
#   the difference is the adapter's own work plus one plain loopback hop;
# - plain HTTP/1.1 to a second emulator without TLS (64 connections): nobody can call GigaChat so,
#   but it is the cheapest path there is, so the difference also charges the upstream's encryption,
#   on both sides, to the adapter.
# UPSTREAM=plain points the adapter at the plain emulator instead (no TLS anywhere; only the
# plain baseline then).
#
# The runs are interleaved over ROUNDS rounds and each figure is the median across rounds, so a
# burst of noise from the shared machine moves one round, not the result. The adapter's CPU time
# per request is read from /proc.
#
# Usage: [UPSTREAM=tls|plain] [ROUNDS=3] [BENCH_PROFILE=dist|release] bench/overhead.sh [rate=1000] [duration=10s]
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

run() { # name url auth body [oha flags...]
  local name=$1 url=$2 auth=$3 body=$4 before
  shift 4
  before=$(cpu_ticks)
  oha --no-tui --output-format json -z "$DURATION" -q "$RATE" --latency-correction "$@" \
    --db-url "$WORK/$name.db" -m POST -H "Authorization: Bearer $auth" \
    -H 'Content-Type: application/json' -d "$body" "$url" > "$WORK/$name.json" \
    2> >(grep -v '^Storing results' >&2)
  echo $(( $(cpu_ticks) - before )) > "$WORK/$name.ticks"
}

DIRECT="http://127.0.0.1:$API_PORT/api/v1/chat/completions"
ADAPTED="http://127.0.0.1:$ADAPTER_PORT/v1/chat/completions"
TLS_DIRECT="https://localhost:$TLS_API_PORT/api/v1/chat/completions"
H1=(-c 64)
H2=(--http2 -c 2 -p 32 --cacert "$WORK/ca.pem")
# Warm up connections and the token cache.
run warm "$ADAPTED" bench-key "$BODY" "${H1[@]}" >/dev/null 2>&1 || true
for round in $(seq "$ROUNDS"); do
  for mode in "" _stream; do
    if [ -z "$mode" ]; then body=$BODY; else body=$STREAM_BODY; fi
    run "direct$mode-$round" "$DIRECT" "$TOKEN" "$body" "${H1[@]}"
    if [ "$UPSTREAM" = tls ]; then
      run "direct_tls$mode-$round" "$TLS_DIRECT" "$TOKEN" "$body" "${H2[@]}"
    fi
    run "adapter$mode-$round" "$ADAPTED" bench-key "$body" "${H1[@]}"
  done
  echo "round $round of $ROUNDS done" >&2
done

mkdir -p bench/results
OUT="bench/results/overhead-$(date +%Y%m%d-%H%M%S)-$UPSTREAM.md"
python3 - "$WORK" "$RATE" "$DURATION" "$UPSTREAM" "$ROUNDS" "$(getconf CLK_TCK)" \
  "${ADAPTER_BIN:-$BENCH_TARGET/gigachat-adapter ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))}" \
  > "$OUT" <<'PY'
import json, os, platform, sqlite3, statistics, sys
work, rate, duration, upstream, rounds, tick, binary = sys.argv[1:8]
rounds, tick = int(rounds), int(tick)
WARMUP = 0.5

def load(name):
    with open(os.path.join(work, name + ".json")) as f:
        data = json.load(f)
    with open(os.path.join(work, name + ".ticks")) as f:
        ticks = int(f.read())
    done = sum(data.get("statusCodeDistribution", {}).values())
    ok = data.get("statusCodeDistribution", {}).get("200", 0)
    cpu_us = ticks / tick * 1e6 / done if done else 0.0
    p50, p99 = steady_percentiles(os.path.join(work, name + ".db"))
    return p50, p99, done, ok, cpu_us

def steady_percentiles(db):
    """p50 and p99 in ms of the successful requests, from their scheduled start (coordinated
    omission corrected), leaving out the first WARMUP seconds of the run: connection set-up and
    TLS handshakes, which a long-running client pays once."""
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT start_latency_correction, end, status FROM oha").fetchall()
    if not rows:
        sys.exit(f"{db}: no answers recorded")
    first = min(row[0] for row in rows)
    latencies = sorted(end - start for start, end, status in rows
                       if status == 200 and start - first >= WARMUP)
    if not latencies:
        sys.exit(f"{db}: no successful answers after the first {WARMUP} s")
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    return pick(0.50), pick(0.99)

def rows(name):
    return [load(f"{name}-{r}") for r in range(1, rounds + 1)]

def med(values):
    return statistics.median(values)

def per_round(rs):
    return ", ".join(f"{x[1]:.2f}" for x in rs)

print(f"# Adapter overhead, {rate} req/s, {rounds} interleaved rounds of {duration}, oha --latency-correction\n")
transport = "HTTPS, HTTP/2 by ALPN" if upstream == "tls" else "plain HTTP/1.1"
print(f"Adapter: {binary}, to the emulator over {transport}. Machine: {os.cpu_count()} cores, {platform.platform()}.")
print(f"Latency from each request's scheduled start, leaving out the first {WARMUP} s of every run (connection set-up).")
print("Figures are medians across rounds; the p99 of every round is listed beside them.\n")
print("| mode | path | p50 ms | p99 ms | p99 per round | non-200 | adapter CPU per request |")
print("|---|---|---|---|---|---|---|")
baselines = [("direct_tls", "HTTPS, HTTP/2", "like for like"), ("direct", "plain HTTP/1.1", "against plain HTTP")]
if upstream != "tls":
    baselines = baselines[1:]
for mode, suffix in [("non-streaming", ""), ("streaming", "_stream")]:
    a = rows("adapter" + suffix)
    lines = []
    for name, label, kind in baselines:
        d = rows(name + suffix)
        dp50, dp99 = med(x[0] for x in d), med(x[1] for x in d)
        bad = sum(x[2] - x[3] for x in d)
        print(f"| {mode} | emulator directly, {label} | {dp50:.3f} | {dp99:.3f} | {per_round(d)} | {bad} | |")
        added = ", ".join(f"{x[1] - y[1]:.2f}" for x, y in zip(a, d))
        lines.append((kind, dp50, dp99, added))
    ap50, ap99 = med(x[0] for x in a), med(x[1] for x in a)
    bad = sum(x[2] - x[3] for x in a)
    print(f"| {mode} | through the adapter | {ap50:.3f} | {ap99:.3f} | {per_round(a)} | {bad} | {med(x[4] for x in a):.0f} µs |")
    for kind, dp50, dp99, added in lines:
        print(f"| {mode} | **added by the adapter, {kind}** | **{ap50 - dp50:.3f}** | **{ap99 - dp99:.3f}** | {added} | | |")
PY
cat "$OUT"
echo "written to $OUT" >&2
