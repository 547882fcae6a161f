#!/usr/bin/env bash
# How much large inline files hold up other requests on the same event loop: one loop
# (WORKER_THREADS=1), oha at a fixed rate of small chat calls, and meanwhile a series of chat
# requests each carrying a 14 MB base64 data URL (random bytes: decoded, then refused as not an
# image, so only the adapter's own work is measured). Prints the small calls' latency percentiles.
#
# Usage: [BENCH_PROFILE=dist|release] bench/stall.sh [rate=200] [duration=8s] [big-requests=12]
# Needs: oha (`cargo install oha --locked`), python3, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-200}
DURATION=${2:-8s}
BIG=${3:-12}
source bench/lib.sh
prepare_bench
API_PORT=$(free_port); OAUTH_PORT=$(free_port); ADAPTER_PORT=$(free_port)
TOKEN=bench-static-token
start_emulator "$API_PORT" "$OAUTH_PORT" emulator.log --no-tls
wait_for "http://127.0.0.1:$API_PORT/"
start_adapter "$ADAPTER_PORT" "http://127.0.0.1:$API_PORT/api/v1" "$OAUTH_PORT" WORKER_THREADS=1

python3 - > "$WORK/big.json" <<'PY'
import base64, json, os
url = "data:image/png;base64," + base64.b64encode(os.urandom(10_500_000)).decode()
print(json.dumps({"messages": [{"role": "user", "content": [
    {"type": "text", "text": "What is it?"}, {"type": "image_url", "image_url": {"url": url}}]}]}))
PY
URL="http://127.0.0.1:$ADAPTER_PORT/v1/chat/completions"
oha --no-tui --output-format json -z "$DURATION" -q "$RATE" --latency-correction -c 16 -m POST \
  -H "Authorization: Bearer bench-key" -H 'Content-Type: application/json' \
  -d '{"messages":[{"role":"user","content":"Привет! Как дела?"}]}' "$URL" > "$WORK/small.json" &
OHA=$!
sleep 1
for _ in $(seq "$BIG"); do
  curl -s -o /dev/null -w '%{http_code} ' -H "Authorization: Bearer bench-key" \
    -H 'Content-Type: application/json' --data-binary "@$WORK/big.json" "$URL" >&2
  sleep 0.3
done
echo >&2
wait "$OHA"
python3 - "$WORK/small.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
p = data["latencyPercentiles"]
print("small calls: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, slowest %.2f ms" % (
    p["p50"] * 1000, p["p99"] * 1000, p["p99.9"] * 1000, data["summary"]["slowest"] * 1000))
PY
