#!/usr/bin/env bash
# Issue 20's "10,000 concurrent streams of ~10 s": are they all served, and what is the adapter's peak
# RSS (VmHWM) and RSS per stream, over a plain-HTTP/1.1 upstream and over a TLS upstream (HTTP/2).
# Writes bench/results/streams-rss-<date>-<label>.md (and prints it).
#
# Usage: [STREAMS=10000] [UPSTREAMS="plain tls"] [ADAPTER_BIN=...] [BEFORE_BIN=...] [EMULATOR_BIN=...]
#        [LABEL=name] bench/streams_rss.sh
# Needs: python3, curl (and oha for lib.sh's check). Without both ADAPTER_BIN and EMULATOR_BIN it
# builds the $BENCH_PROFILE (default dist) binaries of this tree.
#
# The emulator streams 57-word answers as 20 SSE events 500 ms apart (`--event-gap-ms 500`): ~9.5 s
# per stream. bench/streams_rss.py first opens STREAMS connections to the adapter (over 5 s or as
# fast as the machine allows), then sends the requests over 2 s, so all streams run together for
# ~7 s; it reads every stream to `data: [DONE]` and samples the adapter's /proc/<pid>/status every
# 100 ms. Each (binary, upstream) pair gets a fresh adapter, so VmHWM is
# that run's peak; RSS per stream = (peak - idle RSS before the load) / STREAMS. The adapter runs
# with its defaults: MAX_CONNECTIONS is 10,000 (not below the 10,000 streams), GIGACHAT_MAX_CONNECTIONS
# unset (no cap on upstream connections), no account concurrency limit. The emulator has no
# concurrency limit by default.
#
# Open files: over a plain upstream the adapter holds two sockets per stream (client and upstream).
# The script raises `ulimit -n` to the hard limit; where that is below 2 x STREAMS + 64 (this
# machine's hard limit is 20,000 and cannot be raised) the plain lane runs (hard - 64) / 2 streams
# instead, and the report says so.
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMS=${STREAMS:-10000}
UPSTREAMS=${UPSTREAMS:-plain tls}
export BENCH_ANSWER_WORDS=57
source bench/lib.sh
prepare_bench
TOKEN=bench-static-token
ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

EMULATOR_FLAGS=(--event-gap-ms 500 --response-headers minimal --log-capacity 16)
API=$(free_port); OAUTH=$(free_port); TLS_API=$(free_port); TLS_OAUTH=$(free_port)
start_emulator "$API" "$OAUTH" emulator.log --no-tls "${EMULATOR_FLAGS[@]}"
start_emulator "$TLS_API" "$TLS_OAUTH" emulator-tls.log --ca-pem "$WORK/ca.pem" "${EMULATOR_FLAGS[@]}"
wait_for "http://127.0.0.1:$API/"
wait_for --cacert "$WORK/ca.pem" "https://localhost:$TLS_API/"
export GIGACHAT_CA_BUNDLE_FILE="$WORK/ca.pem"

BINS=("after|$AFTER_BIN")
[ -n "${BEFORE_BIN:-}" ] && BINS=("before|$BEFORE_BIN" "${BINS[@]}")
: > "$WORK/results"
for upstream in $UPSTREAMS; do
  case $upstream in
    plain) url="http://127.0.0.1:$API/api/v1"; oauth=$OAUTH
      streams=$(( STREAMS * 2 + 64 > NOFILE ? (NOFILE - 64) / 2 : STREAMS )) ;;
    tls) url="https://localhost:$TLS_API/api/v1"; oauth=$TLS_OAUTH; streams=$STREAMS ;;
    *) echo "UPSTREAMS: plain and/or tls" >&2; exit 2 ;;
  esac
  for entry in "${BINS[@]}"; do
    name=${entry%%|*}; bin=${entry#*|}
    port=$(free_port)
    ADAPTER_BIN=$bin ADAPTER_LOG="adapter-$name-$upstream.log" start_adapter "$port" "$url" "$oauth" \
      DATA_DIR="$WORK/data-$name-$upstream"
    curl -sf -H 'Authorization: Bearer bench-key' -H 'Content-Type: application/json' \
      -d '{"model":"GigaChat","messages":[{"role":"user","content":"hi"}]}' \
      "http://127.0.0.1:$port/v1/chat/completions" >/dev/null
    say "$name over $upstream: $streams streams"
    result=$(python3 bench/streams_rss.py --port "$port" --pid "$ADAPTER_PID" --streams "$streams")
    echo "$name $upstream $result" >> "$WORK/results"
    kill "$ADAPTER_PID"; wait "$ADAPTER_PID" 2>/dev/null || true
    say "$result"
    if ! grep -q "\"complete\": $streams," <<<"$result"; then
      say "not all served; the adapter's log ends:"; tail -n 5 "$WORK/adapter-$name-$upstream.log" | cut -c1-400 >&2
    fi
  done
done

mkdir -p bench/results
OUT="bench/results/streams-rss-$(date +%Y%m%d-%H%M%S)-$LABEL.md"
python3 - "$WORK/results" "$STREAMS" "$NOFILE" "$AFTER_BIN" "${BEFORE_BIN:-}" "$LABEL" > "$OUT" <<'PY'
import json, os, platform, subprocess, sys
results, wanted, nofile, after, before, label = sys.argv[1:7]
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(f"# {int(wanted):,} concurrent streams of ~10 s: {label}\n")
print(f"- adapter: `{after}`" + (f"; before: `{before}`" if before else ""))
print(f"- tree {commit}, {os.cpu_count()} cores, kernel {platform.release()}, open files limit {int(nofile):,}")
print("- emulator: 20 SSE events 500 ms apart per stream; plain = HTTP/1.1 upstream, tls = HTTPS with HTTP/2 (ALPN)")
print("- client: bench/streams_rss.py, one HTTP/1.1 connection per stream, all opened first, requests sent over 2 s; peak = VmHWM\n")
print("| adapter | upstream | streams | complete | most under way at once | errors | idle RSS | peak RSS | RSS per stream | seconds |")
print("|---|---|---|---|---|---|---|---|---|---|")
for line in open(results):
    name, upstream, data = line.split(" ", 2)
    r = json.loads(data)
    per_stream = (r["peak_rss_kb"] - r["idle_rss_kb"]) / r["streams"]
    errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0"
    print(f"| {name} | {upstream} | {r['streams']:,} | {r['complete']:,} | {r['most_active']:,} | {errors} | "
          f"{r['idle_rss_kb'] / 1024:.1f} MiB | {r['peak_rss_kb'] / 1024:.1f} MiB | {per_stream:.1f} KiB | {r['seconds']} |")
PY
cat "$OUT"
say "written to $OUT"
