# Shared by the bench scripts (sourced): the common set-up, free loopback ports, and the emulator
# and adapter of the shipped build (the `dist` profile: fat LTO, one codegen unit, as in the Docker
# image) started in the background with their logs in $WORK (start_* need TOKEN set).
# BENCH_PROFILE=release measures the lighter profile of `cargo run --release` instead.
# BENCH_RUST_LOG sets the adapters' RUST_LOG (default warn: no access log line, no request span).
# ADAPTER_BIN / EMULATOR_BIN run other binaries; with both given, or BENCH_NO_BUILD=1, nothing is built.

BENCH_PROFILE=${BENCH_PROFILE:-dist}
BENCH_TARGET=target/$BENCH_PROFILE

# Makes $WORK (removed on exit, with every background job killed), checks for oha, sets AFTER_BIN
# (the adapter measured) and LABEL (default: the short commit), builds the binaries with
# $BENCH_PROFILE unless both are given.
prepare_bench() {
  WORK=$(mktemp -d)
  trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
  command -v oha >/dev/null || { echo "oha not found: bench/install-tools.sh" >&2; exit 1; }
  AFTER_BIN=${ADAPTER_BIN:-$BENCH_TARGET/gigachat-adapter}
  LABEL=${LABEL:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
  if [ -n "${ADAPTER_BIN:-}" ] && [ -n "${EMULATOR_BIN:-}" ]; then BENCH_NO_BUILD=1; fi
  [ "${BENCH_NO_BUILD:-0}" = 1 ] && return 0
  cargo build --profile "$BENCH_PROFILE" --locked -p gigachat-adapter -p gigachat-emulator >&2
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until `curl -s <args>` succeeds (up to 10 s); pass -f to also require a 2xx.
wait_for() {
  for _ in $(seq 100); do curl -s "$@" >/dev/null && return 0; sleep 0.1; done
  echo "not answering: $*" >&2; return 1
}

# start_emulator <api-port> <oauth-port> <log> [flags...]: answers of BENCH_ANSWER_WORDS words
# (default 24), static token; sets EMULATOR_PID.
start_emulator() {
  local api=$1 oauth=$2 log=$3; shift 3
  "${EMULATOR_BIN:-$BENCH_TARGET/gigachat-emulator}" --api-port "$api" --oauth-port "$oauth" "$@" \
    --static-token "$TOKEN" --answer-words "${BENCH_ANSWER_WORDS:-24}" --oauth-rate-limit 0 > "$WORK/$log" 2>&1 &
  EMULATOR_PID=$!
}

# start_adapter <port> <upstream-url> <oauth-port> [VAR=value...]: key `bench-key`, the VARs last
# (so they override); sets ADAPTER_PID. ADAPTER_BIN picks another binary (default: this build),
# ADAPTER_LOG another log file in $WORK (default adapter.log).
start_adapter() {
  local port=$1 upstream=$2 oauth=$3; shift 3
  env HOST=127.0.0.1 PORT="$port" BEARER_TOKEN=bench-key ENVIRONMENT=production RUST_LOG="${BENCH_RUST_LOG:-warn}" \
    DATA_DIR="$WORK/data" GIGACHAT_BASE_URL="$upstream" \
    GIGACHAT_AUTH_URL="http://127.0.0.1:$oauth/api/v2/oauth" GIGACHAT_ACCESS_TOKEN="$TOKEN" "$@" \
    "${ADAPTER_BIN:-$BENCH_TARGET/gigachat-adapter}" > "$WORK/${ADAPTER_LOG:-adapter.log}" 2>&1 &
  ADAPTER_PID=$!
  wait_for -f "http://127.0.0.1:$port/health/ready" || true
  kill -0 "$ADAPTER_PID" 2>/dev/null || { cat "$WORK/${ADAPTER_LOG:-adapter.log}" >&2; return 1; }
}
