#!/usr/bin/env bash
# Issue 20's table: how many requests and streams per second the adapter serves at most, what it adds
# to p99 at a fixed rate, and the same for the upstream called directly and for gpt2giga 0.3.0, all
# in one run on one machine, against the emulator in its fastest mode. Writes
# bench/results/throughput-<date>-<label>.md (and prints it).
#
# Usage: [ROUNDS=3] [LANES="..."] [UPSTREAMS="plain tls"] [ADAPTER_BIN=...] [BEFORE_BIN=...] [REFERENCE=1]
#        [EMULATOR_BIN=...] [LABEL=name] [DURATION=4s] [P99_DURATION=5s] bench/throughput.sh
# Needs: oha, python3, curl, haproxy, the gpt2giga venv (bench/install-tools.sh installs what is missing;
# GPT2GIGA=0 leaves gpt2giga out; REFERENCE=0 leaves HAProxy out). Without both ADAPTER_BIN and EMULATOR_BIN it builds the
# $BENCH_PROFILE (default dist) binaries of this tree. BEFORE_BIN adds an "adapter before" column:
# both adapters run side by side and every lane measures both, in alternating order.
#
# The emulator (fastest mode): no delays (the defaults), `--oauth-rate-limit 0 --static-token`,
# `--response-headers minimal` (no syngx header set to write), `--log-capacity 16` (no 10,000-entry
# request log to keep), answers of 57 words at 3 words per event. That streams exactly 20 SSE data
# events (19 with 3 words each, then the finishing one with finish_reason and usage), then
# `data: [DONE]`: counted below with curl (`grep -c '^data: '` minus the [DONE] line) before any
# lane runs, and the run stops if the count is not 20. Two emulators: plain HTTP/1.1 (`--no-tls`)
# and TLS, where the adapter speaks HTTP/2 (ALPN).
#
# Lanes (LANES, space-separated; default all):
#   small       max requests/s, a small non-streamed chat call (closed loop: oha -c 64, no rate)
#   stream      max streamed answers/s, chat completions, 20 events each (oha reads every stream to
#               its end)
#   responses   the same through /v1/responses (store: false)
#   messages    the same through /v1/messages
#   agent       max requests/s of the ~116 KB agent request (bench/agent_request.py, non-streamed)
#               through chat completions, /v1/messages and /v1/responses, plus chat-peer.json (one
#               call per turn, JSON tool results: the variant gpt2giga can serve) for the gpt2giga
#               comparison
#   p99         added p99 at 5,000 requests/s, non-streamed (open loop: oha -q 5000
#               --latency-correction, the first 0.5 s of each run left out), adapter minus direct
#   p99-stream  added p99 of a whole 20-event stream at 1,000 streams/s, the same way
# Targets: the emulator directly (plain: HTTP/1.1, 64 connections; tls: HTTP/2, 8 connections x 8
# streams: with 32 streams per connection oha 1.16 gets h2 errors on a third of the streams), the
# adapter over each upstream in UPSTREAMS (oha -> adapter is plain HTTP/1.1, 64 connections), the
# BEFORE_BIN adapter likewise, gpt2giga over the plain emulator (its default: one uvicorn process),
# and in the small, stream and p99 lanes HAProxy relaying to the plain emulator (the reference: a
# proxy that only moves bytes, so its figure is the most any proxy reaches here).
# Responses/Messages streams have no direct twin: their ratio is to the direct chat stream. Closed
# loop runs use oha -w, so requests under way at the deadline count (gpt2giga's take seconds).
# The adapters' CPU per request and the emulator's come from /proc (the upstream's work is in every
# figure: a 116 KB agent request costs the emulator about as much CPU as the adapter). Every round
# runs every lane for every target (the order of the targets reversed on even rounds), so drift
# hits all alike; figures are medians over ROUNDS. Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4s}
P99_DURATION=${P99_DURATION:-5s}
LANES=${LANES:-small stream responses messages agent p99 p99-stream}
UPSTREAMS=${UPSTREAMS:-plain tls}
GPT2GIGA=${GPT2GIGA:-1}
REFERENCE=${REFERENCE:-1}
CONNECTIONS=64
SMALL_RATE=5000
STREAM_RATE=1000
export BENCH_ANSWER_WORDS=57 # 20 SSE events (checked below)
STREAM_EVENTS=20
source bench/lib.sh
prepare_bench
TOKEN=bench-static-token
# The servers and the client hold a few hundred sockets at most; be generous anyway.
ulimit -n 65536 2>/dev/null || true
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

GPT2GIGA_VENV=
if [ "$GPT2GIGA" = 1 ]; then GPT2GIGA_VENV=$(bench/install-tools.sh | tail -1); fi

# --- servers ---------------------------------------------------------------------------------
EMULATOR_FLAGS=(--response-headers minimal --log-capacity 16)
API=$(free_port); OAUTH=$(free_port); TLS_API=$(free_port); TLS_OAUTH=$(free_port)
start_emulator "$API" "$OAUTH" emulator.log --no-tls "${EMULATOR_FLAGS[@]}"
EMULATOR_PLAIN_PID=$EMULATOR_PID
start_emulator "$TLS_API" "$TLS_OAUTH" emulator-tls.log --ca-pem "$WORK/ca.pem" "${EMULATOR_FLAGS[@]}"
EMULATOR_TLS_PID=$EMULATOR_PID
wait_for "http://127.0.0.1:$API/"
wait_for --cacert "$WORK/ca.pem" "https://localhost:$TLS_API/"
export GIGACHAT_CA_BUNDLE_FILE="$WORK/ca.pem"

declare -A URL AUTH FLAGS PID CURL_FLAGS
URL[direct-plain]="http://127.0.0.1:$API/api/v1"; AUTH[direct-plain]=$TOKEN
FLAGS[direct-plain]="-c $CONNECTIONS"; PID[direct-plain]=$EMULATOR_PLAIN_PID
URL[direct-tls]="https://localhost:$TLS_API/api/v1"; AUTH[direct-tls]=$TOKEN
FLAGS[direct-tls]="--http2 -c 8 -p $((CONNECTIONS / 8)) --cacert $WORK/ca.pem"; PID[direct-tls]=$EMULATOR_TLS_PID
CURL_FLAGS[direct-tls]="--http2 --cacert $WORK/ca.pem"

ADAPTERS=()
add_adapter() { # name binary upstream-url oauth-port
  local port
  port=$(free_port)
  ADAPTER_BIN=$2 ADAPTER_LOG=$1.log start_adapter "$port" "$3" "$4" DATA_DIR="$WORK/data-$1"
  URL[$1]="http://127.0.0.1:$port/v1"; AUTH[$1]=bench-key; FLAGS[$1]="-c $CONNECTIONS"; PID[$1]=$ADAPTER_PID
  ADAPTERS+=("$1")
}
for upstream in $UPSTREAMS; do
  case $upstream in
    plain) upstream_url="http://127.0.0.1:$API/api/v1"; oauth=$OAUTH ;;
    tls) upstream_url="https://localhost:$TLS_API/api/v1"; oauth=$TLS_OAUTH ;;
    *) echo "UPSTREAMS: plain and/or tls" >&2; exit 2 ;;
  esac
  [ -n "${BEFORE_BIN:-}" ] && add_adapter "before-$upstream" "$BEFORE_BIN" "$upstream_url" "$oauth"
  add_adapter "after-$upstream" "$AFTER_BIN" "$upstream_url" "$oauth"
done

# The reference proxy: HAProxy (Debian's, two threads like the adapter's two cores, keep-alive on
# both sides) relaying the same calls to the plain emulator byte for byte, with no JSON work: what
# any proxy can reach on this machine, beside what the adapter reaches.
if [ "$REFERENCE" = 1 ]; then
  command -v haproxy >/dev/null || { echo "haproxy not found: bench/install-tools.sh" >&2; exit 1; }
  HAPROXY_PORT=$(free_port)
  cat > "$WORK/haproxy.cfg" <<EOF
global
  nbthread 2
  maxconn 8000
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend adapter_like
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend emulator
backend emulator
  server plain 127.0.0.1:$API
EOF
  haproxy -db -f "$WORK/haproxy.cfg" > "$WORK/haproxy.log" 2>&1 &
  PID[haproxy]=$!
  URL[haproxy]="http://127.0.0.1:$HAPROXY_PORT/api/v1"; AUTH[haproxy]=$TOKEN; FLAGS[haproxy]="-c $CONNECTIONS"
  wait_for "${URL[haproxy]}/models"
fi

if [ -n "$GPT2GIGA_VENV" ]; then
  GPT2GIGA_PORT=$(free_port)
  # In $WORK: it writes its log file (gpt2giga.log) into its working directory.
  (cd "$WORK" && exec "$GPT2GIGA_VENV/bin/gpt2giga" --proxy.host 127.0.0.1 --proxy.port "$GPT2GIGA_PORT" \
    --proxy.log-level WARNING --gigachat.base-url "http://127.0.0.1:$API/api/v1" \
    --gigachat.access-token "$TOKEN" --gigachat.verify-ssl-certs false > "$WORK/gpt2giga.out" 2>&1) &
  PID[gpt2giga]=$!
  URL[gpt2giga]="http://127.0.0.1:$GPT2GIGA_PORT/v1"; AUTH[gpt2giga]=none; FLAGS[gpt2giga]="-c $CONNECTIONS"
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$GPT2GIGA_PORT/health" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$GPT2GIGA_PORT/health" >/dev/null || { cat "$WORK/gpt2giga.out" >&2; exit 1; }
fi

# --- request bodies --------------------------------------------------------------------------
PROMPT='Привет! Как дела?'
B=$WORK/bodies; mkdir -p "$B"
echo '{"model":"GigaChat","messages":[{"role":"user","content":"'"$PROMPT"'"}]}' > "$B/small.json"
echo '{"model":"GigaChat","messages":[{"role":"user","content":"'"$PROMPT"'"}],"stream":true}' > "$B/stream.json"
echo '{"model":"GigaChat","input":"'"$PROMPT"'","stream":true,"store":false}' > "$B/responses.json"
echo '{"model":"GigaChat","max_tokens":1024,"messages":[{"role":"user","content":"'"$PROMPT"'"}],"stream":true}' > "$B/messages.json"
python3 bench/agent_request.py --out "$B/agent" >&2

# The upstream's stream is exactly STREAM_EVENTS data events plus [DONE].
events=$(curl -sN -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data-binary @"$B/stream.json" "${URL[direct-plain]}/chat/completions" | grep -c '^data: ')
if [ $((events - 1)) != "$STREAM_EVENTS" ]; then
  echo "the emulator streamed $((events - 1)) events (+[DONE]), not $STREAM_EVENTS" >&2; exit 1
fi

# lane -> "path body done-marker kind", kind: max | open:<rate>
declare -A LANE
LANE[small]="chat/completions small.json - max"
LANE[stream]="chat/completions stream.json [DONE] max"
LANE[responses]="responses responses.json response.completed max"
LANE[messages]="messages messages.json message_stop max"
LANE[agent-chat]="chat/completions agent/chat.json - max"
LANE[agent-messages]="messages agent/messages.json - max"
LANE[agent-responses]="responses agent/responses.json - max"
LANE[agent-peer]="chat/completions agent/chat-peer.json - max"
LANE[p99]="chat/completions small.json - open:$SMALL_RATE"
LANE[p99-stream]="chat/completions stream.json [DONE] open:$STREAM_RATE"

has() { [ -n "${URL[$1]:-}" ]; }
targets_of() { # lane -> targets, in the order of a round
  local lane=$1 t
  case $lane in
    small|stream|p99|p99-stream) for t in direct-plain direct-tls; do
        [[ " $UPSTREAMS " == *" ${t#direct-} "* ]] && echo "$t"; done
      has haproxy && echo haproxy ;;
  esac
  for t in "${ADAPTERS[@]}"; do
    [ "$lane" = agent-peer ] && [ "${t##*-}" != plain ] && continue
    echo "$t"
  done
  case $lane in small|stream|p99|agent-peer) has gpt2giga && echo gpt2giga ;; esac
  return 0
}

RUN_LANES=()
for lane in $LANES; do
  case $lane in
    agent) RUN_LANES+=(agent-chat agent-messages agent-responses agent-peer) ;;
    *) [ -n "${LANE[$lane]:-}" ] || { echo "unknown lane $lane" >&2; exit 2; }; RUN_LANES+=("$lane") ;;
  esac
done

mkdir -p "$WORK/runs" "$WORK/fails"
# One request per lane and target first: an adapter that fails is a bug and stops the run; gpt2giga
# failing a lane is a finding, recorded with its answer and left out of that lane.
probe() { # lane target -> 0 if a 200 with the lane's done marker
  local lane=$1 target=$2 path body done kind answer code
  read -r path body done kind <<<"${LANE[$lane]}"
  # shellcheck disable=SC2086 # CURL_FLAGS holds several words
  answer=$(curl ${CURL_FLAGS[$target]:-} -sN -m 30 -w '\n%{http_code}' -H "Authorization: Bearer ${AUTH[$target]}" \
    -H 'anthropic-version: 2023-06-01' -H 'Content-Type: application/json' \
    --data-binary @"$B/$body" "${URL[$target]}/$path" || true)
  code=${answer##*$'\n'}
  if [ "$code" = 200 ] && { [ "$done" = - ] || grep -qF "$done" <<<"$answer"; }; then return 0; fi
  echo "HTTP $code: $(head -c 300 <<<"${answer%$'\n'*}" | tr '\n' ' ')" > "$WORK/fails/$lane.$target"
  return 1
}
for lane in "${RUN_LANES[@]}"; do
  for target in $(targets_of "$lane"); do
    if ! probe "$lane" "$target"; then
      if [ "$target" = gpt2giga ]; then say "gpt2giga fails $lane: $(cat "$WORK/fails/$lane.gpt2giga")"
      else cat "$WORK/fails/$lane.$target" "$WORK/$target.log" >&2; exit 1; fi
    fi
  done
done
# gpt2giga on the agent request as agents send it (parallel calls, text tool results): the reason
# the table's gpt2giga figure uses chat-peer.json.
if has gpt2giga && [[ " ${RUN_LANES[*]} " == *" agent-chat "* ]]; then probe agent-chat gpt2giga || true; fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
upstream_pid() { # the emulator a target's requests end at
  case $1 in *-tls) echo "$EMULATOR_TLS_PID" ;; *) echo "$EMULATOR_PLAIN_PID" ;; esac
}

run() { # lane target round
  local lane=$1 target=$2 round=$3 path body done kind out before upstream_before
  read -r path body done kind <<<"${LANE[$lane]}"
  out="$WORK/runs/$lane.$target.$round"
  local load=(-z "$DURATION" -w)
  if [[ $kind == open:* ]]; then
    load=(-z "$P99_DURATION" -q "${kind#open:}" --latency-correction --db-url "$out.db")
  fi
  before=$(cpu_ticks "${PID[$target]}")
  upstream_before=$(cpu_ticks "$(upstream_pid "$target")")
  # shellcheck disable=SC2086 # FLAGS holds several words
  oha --no-tui --output-format json "${load[@]}" ${FLAGS[$target]} -m POST \
    -H "Authorization: Bearer ${AUTH[$target]}" -H 'anthropic-version: 2023-06-01' \
    -H 'Content-Type: application/json' -D "$B/$body" "${URL[$target]}/$path" > "$out.json" \
    2> >(grep -v '^Storing results' >&2)
  echo $(( $(cpu_ticks "${PID[$target]}") - before )) > "$out.ticks"
  echo $(( $(cpu_ticks "$(upstream_pid "$target")") - upstream_before )) > "$out.upstream-ticks"
}

say "warming up"
for lane in "${RUN_LANES[@]}"; do
  for target in $(targets_of "$lane"); do
    [ -e "$WORK/fails/$lane.$target" ] && continue
    DURATION=1s P99_DURATION=1s run "$lane" "$target" warm
  done
done
for round in $(seq "$ROUNDS"); do
  for lane in "${RUN_LANES[@]}"; do
    order=$(targets_of "$lane")
    [ $((round % 2)) = 0 ] && order=$(tac <<<"$order")
    for target in $order; do
      [ -e "$WORK/fails/$lane.$target" ] && continue
      run "$lane" "$target" "$round"
    done
    say "round $round/$ROUNDS: $lane done"
  done
done

mkdir -p bench/results
OUT="bench/results/throughput-$(date +%Y%m%d-%H%M%S)-$LABEL.md"
describe() { echo "$1 ($(stat -c %s "$1") bytes, $(sha256sum "$1" | cut -c1-12))"; }
python3 bench/throughput_report.py "$WORK" "$ROUNDS" "$(getconf CLK_TCK)" "$DURATION" "$P99_DURATION" \
  "$SMALL_RATE" "$STREAM_RATE" "$UPSTREAMS" "$(describe "$AFTER_BIN")" \
  "$( [ -n "${BEFORE_BIN:-}" ] && describe "$BEFORE_BIN")" "$LABEL" "${RUN_LANES[*]}" > "$OUT"
cat "$OUT"
say "written to $OUT"
