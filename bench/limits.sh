#!/usr/bin/env bash
# What a key's limits cost per request: the same open-loop load (oha, fixed rate, coordinated-
# omission correction, 32 connections) of non-streamed chat through one adapter with REDIS_URL,
# sent with an unlimited key (BEARER_TOKEN: no limit check at all); with a KEYS_FILE key that has
# every limit (requests and tokens per minute, tokens per day, concurrent: one Redis round trip to
# admit, one at the end to add its tokens and end its lease), all set high enough never to refuse;
# with a key that has only requests_per_minute (the admitting round trip alone); and with the
# fully limited key on a second adapter without REDIS_URL (the counters in process). The lanes
# alternate over ROUNDS rounds; each figure is the median across rounds. CPU per request is read
# from /proc for the adapter and for redis-server.
#
# Usage: [ROUNDS=3] [BENCH_PROFILE=dist|release] bench/limits.sh [rate=500] [duration=5s]
# Needs: oha (`cargo install oha --locked`), redis-server and redis-cli, python3, curl, sha256sum.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-500}
DURATION=${2:-5s}
ROUNDS=${ROUNDS:-3}
source bench/lib.sh
prepare_bench
TOKEN=bench-static-token
API_PORT=$(free_port); OAUTH_PORT=$(free_port); REDIS_PORT=$(free_port)
REDIS_ADAPTER_PORT=$(free_port); LOCAL_ADAPTER_PORT=$(free_port)

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
  > "$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
start_emulator "$API_PORT" "$OAUTH_PORT" emulator.log --no-tls
wait_for "http://127.0.0.1:$API_PORT/"

LIMITED_KEY=bench-limited
RPM_KEY=bench-requests-only
cat > "$WORK/keys.toml" <<EOF
[[keys]]
name = "limited"
sha256 = "$(printf %s "$LIMITED_KEY" | sha256sum | cut -d' ' -f1)"
[keys.limits]
requests_per_minute = 100000000
tokens_per_minute = 100000000000
tokens_per_day = 100000000000
concurrent = 100000

[[keys]]
name = "requests-only"
sha256 = "$(printf %s "$RPM_KEY" | sha256sum | cut -d' ' -f1)"
[keys.limits]
requests_per_minute = 100000000
EOF
UPSTREAM_URL="http://127.0.0.1:$API_PORT/api/v1"
start_adapter "$REDIS_ADAPTER_PORT" "$UPSTREAM_URL" "$OAUTH_PORT" \
  KEYS_FILE="$WORK/keys.toml" REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
REDIS_ADAPTER_PID=$ADAPTER_PID
mkdir -p "$WORK/local"
start_adapter "$LOCAL_ADAPTER_PORT" "$UPSTREAM_URL" "$OAUTH_PORT" \
  KEYS_FILE="$WORK/keys.toml" DATA_DIR="$WORK/local"
LOCAL_ADAPTER_PID=$ADAPTER_PID

BODY='{"model":"GigaChat","messages":[{"role":"user","content":"Привет! Как дела?"}]}'
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # name port key adapter-pid
  local name=$1 port=$2 key=$3 pid=$4 adapter redis
  adapter=$(ticks "$pid"); redis=$(ticks "$REDIS_PID")
  oha --no-tui --output-format json -z "$DURATION" -q "$RATE" --latency-correction -c 32 -m POST \
    -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$BODY" \
    "http://127.0.0.1:$port/v1/chat/completions" > "$WORK/$name.json"
  echo "$(( $(ticks "$pid") - adapter )) $(( $(ticks "$REDIS_PID") - redis ))" > "$WORK/$name.ticks"
}

# Warm up: connections, the GigaChat token, the scripts loaded into Redis.
run warm-redis "$REDIS_ADAPTER_PORT" "$LIMITED_KEY" "$REDIS_ADAPTER_PID"
run warm-local "$LOCAL_ADAPTER_PORT" "$LIMITED_KEY" "$LOCAL_ADAPTER_PID"
for round in $(seq "$ROUNDS"); do
  run "unlimited-$round" "$REDIS_ADAPTER_PORT" bench-key "$REDIS_ADAPTER_PID"
  run "redis-$round" "$REDIS_ADAPTER_PORT" "$LIMITED_KEY" "$REDIS_ADAPTER_PID"
  run "rpm-$round" "$REDIS_ADAPTER_PORT" "$RPM_KEY" "$REDIS_ADAPTER_PID"
  run "local-$round" "$LOCAL_ADAPTER_PORT" "$LIMITED_KEY" "$LOCAL_ADAPTER_PID"
  echo "round $round of $ROUNDS done" >&2
done

python3 - "$WORK" "$ROUNDS" "$(getconf CLK_TCK)" "$RATE" "$DURATION" <<'PY'
import json, os, statistics, sys
work, rounds, tick, rate, duration = sys.argv[1:6]
rounds, tick = int(rounds), int(tick)
lanes = (
    ("unlimited", "unlimited key (no check)"),
    ("redis", "every limit, Redis"),
    ("rpm", "requests_per_minute only, Redis"),
    ("local", "every limit, in process"),
)
print(f"# non-streamed chat, {rate} req/s for {duration}, {rounds} rounds (medians)\n")
print("| lane | requests | non-2xx | adapter CPU per request | redis-server CPU per request | p50 ms | p99 ms |")
print("|---|---|---|---|---|---|---|")
for lane, title in lanes:
    rows = []
    for r in range(1, rounds + 1):
        with open(os.path.join(work, f"{lane}-{r}.json")) as f:
            data = json.load(f)
        with open(os.path.join(work, f"{lane}-{r}.ticks")) as f:
            adapter, redis = (int(t) for t in f.read().split())
        codes = data.get("statusCodeDistribution", {})
        done = sum(codes.values()) or 1
        failed = done - codes.get("200", 0)
        p = data["latencyPercentiles"]
        rows.append((done, failed, adapter / tick / done * 1e6, redis / tick / done * 1e6,
                     p["p50"] * 1000, p["p99"] * 1000))
    done, failed, cpu, redis_cpu, p50, p99 = (statistics.median(c) for c in zip(*rows))
    print(f"| {title} | {done:.0f} | {failed:.0f} | {cpu:.0f} µs | {redis_cpu:.0f} µs | {p50:.2f} | {p99:.2f} |")
PY
