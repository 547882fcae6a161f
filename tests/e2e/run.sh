#!/usr/bin/env bash
# Real-client end-to-end tests: the official openai SDK, langchain-openai, the OpenAI Agents SDK,
# Codex CLI, the Vercel AI SDK, the Anthropic SDK, Claude Code and raw HTTP against
# target/release/gigachat-adapter in front of target/release/gigachat-emulator (both started by
# tests/e2e/conftest.py on free loopback ports, TLS on).
#
# Usage: tests/e2e/run.sh [pytest args...]     e.g. tests/e2e/run.sh -k stream -x
# Env:   E2E_SKIP_BUILD=1 to reuse the binaries in target/release; E2E_TEST_TIMEOUT (seconds, default 60);
#        E2E_NODE_DIR for the npm install (default ~/.cache/gigachat-adapter-e2e/node-<lockfile hash>);
#        E2E_OPEN_WEBUI_DIR for Open WebUI's venv (default ~/.cache/gigachat-adapter-e2e/open-webui-<requirements hash>).
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

# Node clients (Codex CLI, Claude Code, the Vercel AI SDK), pinned in tests/e2e/node/package-lock.json:
# `npm ci` into a cache dir named after the lockfile, once per machine (Codex's and Claude Code's
# platform binaries are ~315 and ~245 MB), linked as tests/e2e/node/node_modules so the test scripts there resolve them.
node_project=tests/e2e/node
if command -v npm >/dev/null; then
  lock_sum=$(sha256sum "$node_project/package-lock.json" | cut -c1-16)
  node_dir=${E2E_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gigachat-adapter-e2e/node-$lock_sum}
  if [ ! -f "$node_dir/.e2e-installed" ]; then
    echo "==> e2e: npm ci $node_project into $node_dir (first time only; ~700 MB)"
    mkdir -p "$node_dir"
    cp "$node_project/package.json" "$node_project/package-lock.json" "$node_dir/"
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$node_dir/.e2e-installed"
  fi
  if [ -e "$node_project/node_modules" ] && [ ! -L "$node_project/node_modules" ]; then
    echo "error: $node_project/node_modules is a directory; remove it (run.sh links the cached install there)" >&2
    exit 1
  fi
  ln -sfn "$node_dir/node_modules" "$node_project/node_modules"
else
  echo "warning: npm not found: the Codex CLI, Claude Code and Vercel AI SDK tests will fail (Debian: apt-get install nodejs npm)" >&2
fi

# Open WebUI (test_open_webui.py) in a venv of its own, pinned in tests/e2e/open-webui/requirements.txt
# and installed with --no-deps into a cache dir named after that file, once per machine (~2.2 GB).
open_webui_requirements=tests/e2e/open-webui/requirements.txt
open_webui_sum=$(sha256sum "$open_webui_requirements" | cut -c1-16)
open_webui_dir=${E2E_OPEN_WEBUI_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gigachat-adapter-e2e/open-webui-$open_webui_sum}
if [ ! -f "$open_webui_dir/.e2e-installed" ]; then
  echo "==> e2e: pip install open-webui into $open_webui_dir (first time only; ~2.2 GB, ~3 min)"
  rm -rf "$open_webui_dir"
  python3 -m venv "$open_webui_dir"
  "$open_webui_dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$open_webui_requirements"
  touch "$open_webui_dir/.e2e-installed"
fi
export E2E_OPEN_WEBUI_DIR=$open_webui_dir

if [ "${E2E_SKIP_BUILD:-}" != 1 ]; then
  echo "==> e2e: cargo build --release (adapter, emulator)"
  cargo build --release --locked -p gigachat-adapter -p gigachat-emulator
fi

echo "==> e2e: pytest tests/e2e"
exec "$venv/bin/python" -m pytest tests/e2e -q --timeout "${E2E_TEST_TIMEOUT:-60}" "$@"
