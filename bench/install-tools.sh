#!/usr/bin/env bash
# Installs what the bench scripts need, when it is missing (idempotent: a second run changes nothing):
#   oha 1.16.0          the load generator (cargo install --locked), into ~/.cargo/bin;
#   gpt2giga 0.3.0      Sber's proxy, the peer in bench/throughput.sh, from PyPI into a cached venv
#                       at $BENCH_CACHE/gpt2giga (default ~/.cache/gigachat-adapter-bench/gpt2giga);
#   haproxy             the reference proxy in bench/throughput.sh, from Debian (apt-get; sudo when
#                       not root);
#   cargo-bloat         only with --bloat (what each crate weighs in the binary).
# Run: bench/install-tools.sh [--bloat]
# Prints the gpt2giga venv's path last, so `GPT2GIGA_VENV=$(bench/install-tools.sh | tail -1)` works.
set -euo pipefail

OHA_VERSION=1.16.0
GPT2GIGA_VERSION=0.3.0
BENCH_CACHE=${BENCH_CACHE:-$HOME/.cache/gigachat-adapter-bench}
GPT2GIGA_VENV=$BENCH_CACHE/gpt2giga

bloat=false
for arg in "$@"; do
  case $arg in
    --bloat) bloat=true ;;
    *) echo "usage: $0 [--bloat]" >&2; exit 2 ;;
  esac
done

if [ "$(oha --version 2>/dev/null)" != "oha $OHA_VERSION" ]; then
  echo "installing oha $OHA_VERSION" >&2
  cargo install oha --version "$OHA_VERSION" --locked >&2
fi

if [ "$("$GPT2GIGA_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("gpt2giga"))' 2>/dev/null)" != "$GPT2GIGA_VERSION" ]; then
  echo "installing gpt2giga $GPT2GIGA_VERSION into $GPT2GIGA_VENV" >&2
  mkdir -p "$BENCH_CACHE"
  python3 -m venv "$GPT2GIGA_VENV"
  "$GPT2GIGA_VENV/bin/pip" install --quiet "gpt2giga==$GPT2GIGA_VERSION" >&2
fi

if ! command -v haproxy >/dev/null; then
  echo "installing haproxy" >&2
  sudo_if_needed=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo_if_needed apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_if_needed apt-get install -y -qq --no-install-recommends haproxy >&2
fi

if $bloat && ! cargo bloat --version >/dev/null 2>&1; then
  echo "installing cargo-bloat" >&2
  cargo install cargo-bloat --locked >&2
fi

echo "$GPT2GIGA_VENV"
