#!/usr/bin/env bash
# Measures what a streamed Responses answer costs beside a streamed chat answer (bench/front_door.sh
# has the method): `POST /v1/responses` with `stream: true`, `store: false` as Codex sends it; STORE=true
# keeps each response in the embedded store instead.
#
# Usage: [ROUNDS=3] [STORE=false|true] [BENCH_PROFILE=dist|release] bench/responses.sh [rate=500] [duration=10s]
# Writes bench/results/responses-<date>.md.
set -euo pipefail
RATE=${1:-500}
DURATION=${2:-10s}
ROUNDS=${ROUNDS:-3}
STORE=${STORE:-false}
LANE=responses
LANE_TITLE="A streamed Responses answer"
LANE_PATH=/v1/responses
LANE_BODY='{"model":"GigaChat","input":"Привет! Как дела?","stream":true,"store":'"$STORE"'}'
LANE_DONE=response.completed
LANE_HEADERS=()
LANE_NOTE="Responses requests with \`store: $STORE\`"
source "$(dirname "$0")/front_door.sh"
