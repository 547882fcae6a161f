#!/usr/bin/env bash
# Measures what a streamed Anthropic Messages answer costs beside a streamed chat answer
# (bench/front_door.sh has the method): `POST /v1/messages` with `stream: true`, `max_tokens` and
# `anthropic-version` as the Anthropic SDKs send them; the answer is Anthropic's named events
# (message_start, content_block_*, message_delta, message_stop) instead of chat chunks.
#
# Usage: [ROUNDS=3] [BENCH_PROFILE=dist|release] bench/messages.sh [rate=500] [duration=10s]
# Writes bench/results/messages-<date>.md.
set -euo pipefail
RATE=${1:-500}
DURATION=${2:-10s}
ROUNDS=${ROUNDS:-3}
LANE=messages
LANE_TITLE="A streamed Anthropic Messages answer"
LANE_PATH=/v1/messages
LANE_BODY='{"model":"GigaChat","max_tokens":1024,"messages":[{"role":"user","content":"Привет! Как дела?"}],"stream":true}'
LANE_DONE="event: message_stop"
LANE_HEADERS=("anthropic-version: 2023-06-01")
LANE_NOTE="Messages requests with \`anthropic-version: 2023-06-01\` and the key as a Bearer token"
source "$(dirname "$0")/front_door.sh"
