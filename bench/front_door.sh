#!/usr/bin/env bash
# Shared by bench/responses.sh and bench/messages.sh (sourced after they set the lane): what a
# streamed answer of another front door costs beside a streamed chat answer. The same open-loop load
# (oha, fixed rate, coordinated-omission correction) on `POST /v1/chat/completions` and on the lane's
# route, both through one adapter in front of one TLS emulator, plus the emulator's own streamed chat
# answer (HTTPS, HTTP/2) as the baseline each adapter lane is compared with. The other front doors
# are served as chat requests whose chunks are reshaped into their events, so the difference between
# the two adapter lanes is that reshaping (more events, bigger frames) and the request mapping.
#
# Runs are interleaved over ROUNDS rounds; figures are medians across rounds. Latency is the whole
# streamed answer (oha reads the body to its end), from each request's scheduled start, leaving out
# the first 0.5 s of every run. The adapter's CPU time per request is read from /proc.
#
# The caller sets: LANE (short name: files and labels), LANE_TITLE (the report's heading), LANE_PATH
# (route), LANE_BODY (JSON, `stream: true`), LANE_DONE (text a complete stream contains), LANE_HEADERS
# (array of extra `-H` values), LANE_NOTE (one line about the lane's requests), RATE, DURATION, ROUNDS.
# Needs: oha (`cargo install oha --locked`), python3, curl. Writes bench/results/$LANE-<date>.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
prepare_bench
API_PORT=$(free_port); OAUTH_PORT=$(free_port); ADAPTER_PORT=$(free_port)
TOKEN=bench-static-token

start_emulator "$API_PORT" "$OAUTH_PORT" emulator.log --ca-pem "$WORK/ca.pem"
wait_for --cacert "$WORK/ca.pem" "https://localhost:$API_PORT/"
export GIGACHAT_CA_BUNDLE_FILE="$WORK/ca.pem"
start_adapter "$ADAPTER_PORT" "https://localhost:$API_PORT/api/v1" "$OAUTH_PORT"

# The same question as the lanes' bodies (bench/responses.sh, bench/messages.sh) ask.
PROMPT='Привет! Как дела?'
CHAT_BODY='{"model":"GigaChat","messages":[{"role":"user","content":"'"$PROMPT"'"}],"stream":true}'
DIRECT="https://localhost:$API_PORT/api/v1/chat/completions"
CHAT="http://127.0.0.1:$ADAPTER_PORT/v1/chat/completions"
LANE_URL="http://127.0.0.1:$ADAPTER_PORT$LANE_PATH"

# Both adapter lanes must stream a whole answer before anything is timed.
EXTRA=()
for header in "${LANE_HEADERS[@]}"; do EXTRA+=(-H "$header"); done
for lane in "$CHAT|$CHAT_BODY|data: [DONE]" "$LANE_URL|$LANE_BODY|$LANE_DONE"; do
  IFS='|' read -r url body expected <<<"$lane"
  answer=$(curl -sf -H "Authorization: Bearer bench-key" "${EXTRA[@]}" -H 'Content-Type: application/json' -d "$body" "$url" || true)
  if ! grep -qF "$expected" <<<"$answer"; then
    echo "no complete stream from $url (expected '$expected'); adapter log:" >&2
    cat "$WORK/adapter.log" >&2
    exit 1
  fi
done

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

H1=(-c 64)
H2=(--http2 -c 2 -p 32 --cacert "$WORK/ca.pem")
run warm "$LANE_URL" bench-key "$LANE_BODY" "${H1[@]}" "${EXTRA[@]}" >/dev/null 2>&1 || true
for round in $(seq "$ROUNDS"); do
  run "direct-$round" "$DIRECT" "$TOKEN" "$CHAT_BODY" "${H2[@]}"
  run "chat-$round" "$CHAT" bench-key "$CHAT_BODY" "${H1[@]}"
  run "lane-$round" "$LANE_URL" bench-key "$LANE_BODY" "${H1[@]}" "${EXTRA[@]}"
  echo "round $round of $ROUNDS done" >&2
done

mkdir -p bench/results
OUT="bench/results/$LANE-$(date +%Y%m%d-%H%M%S).md"
python3 - "$WORK" "$RATE" "$DURATION" "$ROUNDS" "$(getconf CLK_TCK)" "$LANE_TITLE" "$LANE_NOTE" "$LANE_PATH" \
  "${ADAPTER_BIN:-$BENCH_TARGET/gigachat-adapter ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))}" \
  > "$OUT" <<'PY'
import json, os, platform, sqlite3, statistics, sys
work, rate, duration, rounds, tick, title, note, path, binary = sys.argv[1:10]
rounds, tick = int(rounds), int(tick)
WARMUP = 0.5

def load(name):
    with open(os.path.join(work, name + ".json")) as f:
        codes = json.load(f).get("statusCodeDistribution", {})
    with open(os.path.join(work, name + ".ticks")) as f:
        ticks = int(f.read())
    done, ok = sum(codes.values()), codes.get("200", 0)
    with sqlite3.connect(os.path.join(work, name + ".db")) as con:
        rows = con.execute("SELECT start_latency_correction, end, status FROM oha").fetchall()
    if not rows:
        sys.exit(f"{name}: no answers recorded")
    first = min(row[0] for row in rows)
    latencies = sorted(end - start for start, end, status in rows if status == 200 and start - first >= WARMUP)
    if not latencies:
        sys.exit(f"{name}: no successful answers after the first {WARMUP} s")
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    return {"p50": pick(0.50), "p99": pick(0.99), "bad": done - ok, "cpu_us": ticks / tick * 1e6 / done if done else 0.0}

lanes = {name: [load(f"{name}-{r}") for r in range(1, rounds + 1)] for name in ("direct", "chat", "lane")}
med = lambda name, key: statistics.median(x[key] for x in lanes[name])

print(f"# {title} beside a streamed chat answer, {rate} req/s, {rounds} interleaved rounds of {duration}\n")
print(f"Adapter: {binary}, to one emulator over HTTPS (HTTP/2 by ALPN); {note}.")
print(f"Machine: {os.cpu_count()} cores, {platform.platform()}. oha --latency-correction, whole streamed answer,")
print(f"first {WARMUP} s of every run left out; medians across rounds, p99 of each round beside them.\n")
print("| lane | p50 ms | p99 ms | p99 per round | non-200 | added p50 ms | added p99 ms | adapter CPU per request |")
print("|---|---|---|---|---|---|---|---|")
for name, label in (("direct", "emulator directly (chat stream)"), ("chat", "adapter, `/v1/chat/completions`"), ("lane", f"adapter, `{path}`")):
    p50, p99 = med(name, "p50"), med(name, "p99")
    rounds_p99 = ", ".join(f"{x['p99']:.2f}" for x in lanes[name])
    bad = sum(x["bad"] for x in lanes[name])
    if name == "direct":
        print(f"| {label} | {p50:.3f} | {p99:.3f} | {rounds_p99} | {bad} | | | |")
    else:
        added50, added99 = p50 - med("direct", "p50"), p99 - med("direct", "p99")
        print(f"| {label} | {p50:.3f} | {p99:.3f} | {rounds_p99} | {bad} | {added50:.3f} | {added99:.3f} | {med(name, 'cpu_us'):.0f} µs |")
print(f"\n`{path}` minus chat: p50 {med('lane', 'p50') - med('chat', 'p50'):+.3f} ms, "
      f"p99 {med('lane', 'p99') - med('chat', 'p99'):+.3f} ms, CPU {med('lane', 'cpu_us') - med('chat', 'cpu_us'):+.0f} µs per request.")
PY
cat "$OUT"
echo "written to $OUT" >&2
