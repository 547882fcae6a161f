#!/usr/bin/env bash
# Issue 20's footprint figures: the size of the binary the Docker image ships, idle RSS after ready,
# startup time to the first 200 from /health/ready (median of STARTS starts), and the 10 MB image's
# peak-RSS ratio (bench/memory.py). Writes bench/results/footprint-<date>-<label>.md (and prints it).
#
# Usage: [ADAPTER_BIN=...] [EMULATOR_BIN=...] [STARTS=10] [LABEL=name] bench/footprint.sh
# Without ADAPTER_BIN it builds the binary exactly as deploy/Dockerfile's build stage does: the
# stage's ENV lines and its `RUN cargo build ...` command are read from the Dockerfile (so a change
# of flags or features there is measured here without editing this script), then a copy is stripped
# (the image strips its binary). With ADAPTER_BIN that binary is measured (a stripped copy of it).
# Needs: python3, curl, strip; an emulator binary (EMULATOR_BIN or this tree's $BENCH_PROFILE one).
set -euo pipefail
cd "$(dirname "$0")/.."
STARTS=${STARTS:-10}
LABEL=${LABEL:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
say() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# The build stage of deploy/Dockerfile: ENV lines and the cargo build command (continuation lines
# joined, up to the first `&&`), and where it leaves the binary (target/<profile>/gigachat-adapter).
read_dockerfile() {
  python3 - deploy/Dockerfile <<'PY'
import re, shlex, sys
text = re.sub(r"\\\n", " ", open(sys.argv[1]).read())
stage = re.split(r"^FROM ", text, flags=re.M)[1]  # [0] is what comes before the first FROM
envs, build = [], None
for line in stage.splitlines():
    line = line.strip()
    if line.startswith("ENV "):
        envs.append(line[4:].strip())
    elif line.startswith("RUN ") and "cargo build" in line:
        build = line[4:].split("&&")[0].strip()
if build is None:
    sys.exit("no `RUN cargo build` in deploy/Dockerfile's build stage")
words = shlex.split(build)
profile = words[words.index("--profile") + 1] if "--profile" in words else ("release" if "--release" in words else "debug")
print("ENVS=" + shlex.quote(" ".join(envs)))
print("BUILD=" + shlex.quote(build))
print("PROFILE=" + shlex.quote(profile))
PY
}

if [ -n "${ADAPTER_BIN:-}" ]; then
  SHIPPED=$ADAPTER_BIN
  HOW="\`$ADAPTER_BIN\` as given, stripped"
else
  eval "$(read_dockerfile)"
  say "building as deploy/Dockerfile does: ${ENVS:+$ENVS }$BUILD"
  # shellcheck disable=SC2086 # ENVS and BUILD are the Dockerfile's words
  env $ENVS $BUILD >&2
  SHIPPED=target/$PROFILE/gigachat-adapter
  HOW="deploy/Dockerfile's build: \`${ENVS:+$ENVS }$BUILD\`, then stripped"
fi
cp "$SHIPPED" "$WORK/gigachat-adapter"
strip "$WORK/gigachat-adapter"
SIZE=$(stat -c %s "$WORK/gigachat-adapter")
say "shipped binary: $SIZE bytes stripped"
EMULATOR=${EMULATOR_BIN:-target/${BENCH_PROFILE:-dist}/gigachat-emulator}
[ -x "$EMULATOR" ] || { echo "no emulator at $EMULATOR: set EMULATOR_BIN or build it" >&2; exit 1; }

# Startup and idle RSS: the stripped binary against a plain emulator, STARTS times.
python3 - "$WORK/gigachat-adapter" "$EMULATOR" "$STARTS" "$WORK" > "$WORK/starts.json" <<'PY'
import json, os, socket, statistics, subprocess, sys, time
adapter, emulator, starts, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
def ready(port):
    """True when GET /health/ready answers 200 (one raw HTTP/1.1 request)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
api, oauth = free_port(), free_port()
emu = subprocess.Popen([emulator, "--api-port", str(api), "--oauth-port", str(oauth), "--no-tls",
                        "--static-token", "bench-static-token"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.5)
millis, idle = [], []
try:
    for run in range(starts):
        port = free_port()
        env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), BEARER_TOKEN="bench-key", RUST_LOG="warn",
                   ENVIRONMENT="production", DATA_DIR=f"{work}/data-{run}",
                   GIGACHAT_BASE_URL=f"http://127.0.0.1:{api}/api/v1",
                   GIGACHAT_AUTH_URL=f"http://127.0.0.1:{oauth}/api/v2/oauth",
                   GIGACHAT_ACCESS_TOKEN="bench-static-token")
        started = time.monotonic()
        proc = subprocess.Popen([adapter], env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not ready(port):
                if proc.poll() is not None or time.monotonic() - started > 20:
                    sys.exit(f"the adapter did not get ready (exit {proc.poll()})")
                time.sleep(0.001)
            millis.append((time.monotonic() - started) * 1000)
            time.sleep(1.0)
            idle.append(rss_kb(proc.pid))
        finally:
            proc.terminate()
            proc.wait()
finally:
    emu.terminate()
print(json.dumps({"startup_ms": statistics.median(millis), "startup_all": [round(m, 1) for m in millis],
                  "idle_rss_kb": statistics.median(idle)}))
PY
say "starts: $(cat "$WORK/starts.json")"

# The 10 MB image figure, with the same (unstripped: RSS does not page symbols in) binary.
ADAPTER_BIN=$SHIPPED EMULATOR_BIN=$EMULATOR MEMORY_OUT=$WORK/memory.md python3 bench/memory.py 10 > /dev/null
RATIO=$(grep -o '[0-9.]* x the image' "$WORK/memory.md")

mkdir -p bench/results
OUT="bench/results/footprint-$(date +%Y%m%d-%H%M%S)-$LABEL.md"
python3 - "$WORK/starts.json" "$SIZE" "$HOW" "$RATIO" "$LABEL" "$STARTS" > "$OUT" <<'PY'
import json, os, platform, subprocess, sys
starts, size, how, ratio, label, count = sys.argv[1:7]
data = json.load(open(starts))
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(f"# Footprint: {label}\n")
print(f"- binary: {how}")
print(f"- tree {commit}, {os.cpu_count()} cores, kernel {platform.release()}\n")
print("| figure | value |")
print("|---|---|")
print(f"| binary the image ships (stripped) | {int(size) / 1e6:.1f} MB = {int(size) / 2**20:.1f} MiB ({int(size):,} bytes) |")
print(f"| idle RSS 1 s after ready (median of {count}) | {data['idle_rss_kb'] / 1024:.1f} MiB |")
print(f"| startup: exec to the first 200 from /health/ready (median of {count}) | {data['startup_ms']:.0f} ms "
      f"(all: {', '.join(str(m) for m in data['startup_all'])}) |")
print(f"| extra peak RSS for one chat request with a 10 MB image (bench/memory.py 10) | {ratio} |")
PY
cat "$OUT"
say "written to $OUT"
