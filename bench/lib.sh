# Shared by the bench scripts (sourced): free loopback ports, and the release emulator and adapter
# started in the background with their logs in $WORK. Needs WORK and TOKEN set.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until `curl -s <args>` succeeds (up to 10 s); pass -f to also require a 2xx.
wait_for() {
  for _ in $(seq 100); do curl -s "$@" >/dev/null && return 0; sleep 0.1; done
  echo "not answering: $*" >&2; return 1
}

# start_emulator <api-port> <oauth-port> <log> [flags...]: 24-word answers, static token.
start_emulator() {
  local api=$1 oauth=$2 log=$3; shift 3
  target/release/gigachat-emulator --api-port "$api" --oauth-port "$oauth" "$@" \
    --static-token "$TOKEN" --answer-words 24 --oauth-rate-limit 0 > "$WORK/$log" 2>&1 &
}

# start_adapter <port> <upstream-url> <oauth-port> [VAR=value...]: key `bench-key`, the VARs last
# (so they override); sets ADAPTER_PID.
start_adapter() {
  local port=$1 upstream=$2 oauth=$3; shift 3
  env HOST=127.0.0.1 PORT="$port" BEARER_TOKEN=bench-key ENVIRONMENT=production RUST_LOG=warn \
    DATA_DIR="$WORK/data" GIGACHAT_BASE_URL="$upstream" \
    GIGACHAT_AUTH_URL="http://127.0.0.1:$oauth/api/v2/oauth" GIGACHAT_ACCESS_TOKEN="$TOKEN" "$@" \
    target/release/gigachat-adapter > "$WORK/adapter.log" 2>&1 &
  ADAPTER_PID=$!
  wait_for -f "http://127.0.0.1:$port/health/ready" || true
  kill -0 "$ADAPTER_PID" 2>/dev/null || { cat "$WORK/adapter.log" >&2; return 1; }
}
