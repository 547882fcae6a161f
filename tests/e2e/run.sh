#!/usr/bin/env bash
# Real-client end-to-end tests: the official openai SDK, langchain-openai and raw HTTP against
# target/release/gigachat-adapter in front of target/release/gigachat-emulator (both started by
# tests/e2e/conftest.py on free loopback ports, TLS on).
#
# Usage: tests/e2e/run.sh [pytest args...]     e.g. tests/e2e/run.sh -k stream -x
# Env:   E2E_SKIP_BUILD=1 to reuse the binaries in target/release; E2E_TEST_TIMEOUT (seconds, default 60).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.venv
requirements=tests/e2e/requirements.txt

if [ ! -x "$venv/bin/python" ]; then
  echo "==> e2e: creating $venv"
  python3 -m venv "$venv" || {
    echo "error: 'python3 -m venv' failed; install python3-venv (Debian) or use a Python with ensurepip" >&2
    exit 1
  }
fi

# Reinstall only when requirements.txt changed since the last successful install.
stamp="$venv/.e2e-requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
  echo "==> e2e: pip install -r $requirements"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$wanted" >"$stamp"
fi

if [ "${E2E_SKIP_BUILD:-}" != 1 ]; then
  echo "==> e2e: cargo build --release (adapter, emulator)"
  cargo build --release --locked -p gigachat-adapter -p gigachat-emulator
fi

echo "==> e2e: pytest tests/e2e"
exec "$venv/bin/python" -m pytest tests/e2e -q --timeout "${E2E_TEST_TIMEOUT:-60}" "$@"
