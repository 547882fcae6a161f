#!/usr/bin/env bash
# Measures what the adapter adds to GigaChat's latency: the same open-loop load (oha, fixed rate,
# coordinated-omission correction) against the emulator directly and through the adapter, for
# non-streaming and streaming chat, in one run. Writes bench/results/overhead-<date>.md.
# The emulator serves plain HTTP here so both paths use the same transport and the difference is
# the adapter's own work plus one loopback hop (with TLS, oha's handshakes would dominate the direct path).
#
# Usage: bench/overhead.sh [rate=1000] [duration=20s]
# Needs: oha (`cargo install oha --locked`), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-1000}
DURATION=${2:-20s}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v oha >/dev/null || { echo "oha not found: cargo install oha --locked" >&2; exit 1; }
cargo build --release --locked -p gigachat-adapter -p gigachat-emulator >&2

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API_PORT=$(free_port); OAUTH_PORT=$(free_port); ADAPTER_PORT=$(free_port)
TOKEN=bench-static-token

target/release/gigachat-emulator --api-port "$API_PORT" --oauth-port "$OAUTH_PORT" --no-tls \
  --static-token "$TOKEN" --answer-words 24 --oauth-rate-limit 0 \
  > "$WORK/emulator.log" 2>&1 &
for _ in $(seq 100); do curl -s "http://127.0.0.1:$API_PORT/" >/dev/null && break; sleep 0.05; done

HOST=127.0.0.1 PORT=$ADAPTER_PORT BEARER_TOKEN=bench-key ENVIRONMENT=production RUST_LOG=warn \
GIGACHAT_BASE_URL="http://127.0.0.1:$API_PORT/api/v1" \
GIGACHAT_AUTH_URL="http://127.0.0.1:$OAUTH_PORT/api/v2/oauth" \
GIGACHAT_ACCESS_TOKEN="$TOKEN" \
  target/release/gigachat-adapter > "$WORK/adapter.log" 2>&1 &
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ADAPTER_PORT/health/ready" >/dev/null && break; sleep 0.1; done

BODY='{"model":"GigaChat","messages":[{"role":"user","content":"Привет! Как дела?"}]}'
STREAM_BODY='{"model":"GigaChat","messages":[{"role":"user","content":"Привет! Как дела?"}],"stream":true}'

run() { # name url auth body extra...
  local name=$1 url=$2 auth=$3 body=$4; shift 4
  oha --no-tui --output-format json -z "$DURATION" -q "$RATE" --latency-correction -c 64 \
    -m POST -H "Authorization: Bearer $auth" -H 'Content-Type: application/json' -d "$body" "$@" "$url" \
    > "$WORK/$name.json"
}

DIRECT="http://127.0.0.1:$API_PORT/api/v1/chat/completions"
ADAPTED="http://127.0.0.1:$ADAPTER_PORT/v1/chat/completions"
# Warm up connections and the token cache.
run warm "$ADAPTED" bench-key "$BODY" >/dev/null 2>&1 || true
run direct "$DIRECT" "$TOKEN" "$BODY"
run adapter "$ADAPTED" bench-key "$BODY"
run direct_stream "$DIRECT" "$TOKEN" "$STREAM_BODY"
run adapter_stream "$ADAPTED" bench-key "$STREAM_BODY"

mkdir -p bench/results
OUT="bench/results/overhead-$(date +%Y%m%d-%H%M%S).md"
python3 - "$WORK" "$RATE" "$DURATION" > "$OUT" <<'PY'
import json, sys, os, platform
work, rate, duration = sys.argv[1], sys.argv[2], sys.argv[3]
def load(name):
    with open(os.path.join(work, name + ".json")) as f:
        data = json.load(f)
    p = data["latencyPercentiles"]
    summary = data["summary"]
    codes = data.get("statusCodeDistribution", {})
    return p["p50"] * 1000, p["p99"] * 1000, summary.get("requestsPerSec", 0), codes
print(f"# Adapter overhead, {rate} req/s for {duration}, oha --latency-correction\n")
print(f"Machine: {os.cpu_count()} cores, {platform.platform()}\n")
print("| mode | path | p50 ms | p99 ms | req/s | statuses |")
print("|---|---|---|---|---|---|")
for mode, direct, adapter in [("non-streaming", "direct", "adapter"), ("streaming", "direct_stream", "adapter_stream")]:
    d, a = load(direct), load(adapter)
    print(f"| {mode} | emulator directly | {d[0]:.3f} | {d[1]:.3f} | {d[2]:.0f} | {d[3]} |")
    print(f"| {mode} | through the adapter | {a[0]:.3f} | {a[1]:.3f} | {a[2]:.0f} | {a[3]} |")
    print(f"| {mode} | **added by the adapter** | **{a[0]-d[0]:.3f}** | **{a[1]-d[1]:.3f}** | | |")
PY
cat "$OUT"
echo "written to $OUT" >&2
