#!/usr/bin/env python3
"""Resource amplification: what a small pathological request costs the adapter.

For each case a fresh adapter of the shipped build (`target/dist`; BENCH_PROFILE=release for the
lighter profile) (against the plain-HTTP emulator) is warmed up with one
ordinary chat request, then sent the case once. Recorded: the client body, the status, the time to
answer, the adapter's peak resident set (VmHWM) and its resident set before and one second after,
and the size of the body the adapter sent GigaChat (from the emulator's request log). Cases:

  self-ref tools        issue 14's 441-byte request: a definition with six properties that are the
                        definition again, as a tool's parameters
  self-ref format       the same schema as `response_format.json_schema.schema`
  fan-out 6^7           no recursion: seven levels, each referencing the next six times
  shared call id        an assistant turn with 1,000 tool calls sharing one id, and one 50 kB result
  ordinary 12 MB ×3     a plain 12 MB user message, sent three times (the upstream/client ratio of
                        an ordinary body, and what the allocator keeps after large bodies)

The adapter inherits the environment, so `MALLOC_MMAP_THRESHOLD_=1048576 bench/amplification.py`
measures it with glibc's large-allocation threshold fixed (see docs/benchmarks.md).
Writes bench/results/amplification-<date>.md and prints it.

Usage: bench/amplification.py   (after `cargo build --profile dist -p gigachat-adapter -p gigachat-emulator`)
       BENCH_PROFILE=release bench/amplification.py   (after `cargo build --release ...`)
       ADAPTER_BIN=/path/to/older/gigachat-adapter bench/amplification.py   (measure another build)
"""
import datetime
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROFILE = os.environ.get("BENCH_PROFILE", "dist")
ADAPTER = os.environ.get("ADAPTER_BIN", str(ROOT / "target" / PROFILE / "gigachat-adapter"))
EMULATOR = os.environ.get("EMULATOR_BIN", str(ROOT / "target" / PROFILE / "gigachat-emulator"))
KEY = "bench-key"
TOKEN = "bench-static-token"
MESSAGES = [{"role": "user", "content": "Build a tree"}]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid, field):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def self_referencing():
    node = {"type": "object", "properties": {f"p{i}": {"$ref": "#/$defs/N"} for i in range(6)}}
    return {"$defs": {"N": node}, "properties": {"root": {"$ref": "#/$defs/N"}}}


def fanning_out(levels, fan_out=6):
    defs = {f"L{level}": {"type": "object", "properties": {f"p{i}": {"$ref": f"#/$defs/L{level + 1}"} for i in range(fan_out)}}
            for level in range(levels)}
    defs[f"L{levels}"] = {"type": "string"}
    return {"$defs": defs, "type": "object", "properties": {"x": {"$ref": "#/$defs/L0"}}}


def tool_body(schema):
    return compact({"model": "GigaChat", "messages": MESSAGES,
                    "tools": [{"type": "function", "function": {"name": "make_tree", "parameters": schema}}]})


CASES = [
    ("self-ref tools", lambda: tool_body(self_referencing()), 1),
    ("self-ref format", lambda: compact({"model": "GigaChat", "messages": MESSAGES, "response_format": {
        "type": "json_schema", "json_schema": {"name": "tree", "schema": self_referencing()}}}), 1),
    ("fan-out 6^7", lambda: tool_body(fanning_out(7)), 1),
    ("shared call id", lambda: compact({"model": "GigaChat", "messages": [
        {"role": "user", "content": "Look it up"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}] * 1000},
        {"role": "tool", "tool_call_id": "call_1", "content": "x" * 50_000}]}), 1),
    ("ordinary 12 MB ×3", lambda: compact({"model": "GigaChat", "messages": [
        {"role": "user", "content": "Сводка: " + "данные, \"цитаты\" и числа 12345. " * 230_000}]}), 3),
]


def request(url, body=None, method="POST", timeout=300):
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def last_chat_body_size(control):
    status, raw = request(control + "/requests", method="GET")
    chats = [r for r in json.loads(raw) if r["listener"] == "api" and r["path"].endswith("/chat/completions")]
    return len(chats[-1]["body"].encode()) if chats else 0


def run(name, body, times, work):
    """Sends `body` `times` times to a fresh adapter; the time is the last request's."""
    api, oauth, port = free_port(), free_port(), free_port()
    # A context window large enough for the ordinary case (the emulator answers 413 past it).
    emulator = subprocess.Popen([EMULATOR, "--api-port", str(api), "--oauth-port", str(oauth), "--no-tls",
                                 "--static-token", TOKEN], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, GIGACHAT_EMULATOR_CONTEXT_WINDOW="100000000"))
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), BEARER_TOKEN=KEY, RUST_LOG="warn",
               DATA_DIR=str(work / f"data-{port}"), MAX_REQUEST_BYTES=str(64 * 1024 * 1024),
               GIGACHAT_BASE_URL=f"http://127.0.0.1:{api}/api/v1", GIGACHAT_TIMEOUT="120",
               GIGACHAT_AUTH_URL=f"http://127.0.0.1:{oauth}/api/v2/oauth", GIGACHAT_ACCESS_TOKEN=TOKEN)
    adapter = subprocess.Popen([ADAPTER], env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    control = f"http://127.0.0.1:{api}/_emulator"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/health/ready", timeout=1)
                break
            except Exception:
                time.sleep(0.05)
        request(base + "/v1/chat/completions", compact({"model": "GigaChat", "messages": MESSAGES}))
        request(control + "/requests", method="DELETE")
        rss_before = status_kb(adapter.pid, "VmRSS")
        for _ in range(times):
            started = time.monotonic()
            status, answer = request(base + "/v1/chat/completions", body)
            elapsed = time.monotonic() - started
        peak = status_kb(adapter.pid, "VmHWM")
        time.sleep(1)
        rss_after = status_kb(adapter.pid, "VmRSS")
        upstream = last_chat_body_size(control)
        param = json.loads(answer).get("error", {}).get("param") if status >= 400 else None
    finally:
        adapter.terminate()
        emulator.terminate()
        adapter.wait()
        emulator.wait()
    return {"name": name, "body": len(body), "status": status, "param": param, "seconds": elapsed,
            "rss_before": rss_before, "peak": peak, "rss_after": rss_after, "upstream": upstream}


def size(n):
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB" if n >= 1e3 else f"{n} B"


def main():
    work = pathlib.Path(tempfile.mkdtemp())
    rows = [run(name, make(), times, work) for name, make, times in CASES]
    lines = [
        f"# Resource amplification, `{ADAPTER}`",
        "",
        f"{datetime.date.today()}, {os.cpu_count()} cores; `bench/amplification.py` (fresh adapter per case)"
        + (f", MALLOC_MMAP_THRESHOLD_={os.environ['MALLOC_MMAP_THRESHOLD_']}" if "MALLOC_MMAP_THRESHOLD_" in os.environ else "") + ".",
        "",
        "| case | client body | status | time | RSS before | peak RSS | RSS 1 s after | upstream body | upstream / client |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        status = f"{r['status']}" + (f" `{r['param']}`" if r["param"] else "")
        ratio = f"{r['upstream'] / r['body']:.2f}x" if r["upstream"] else "not sent"
        lines.append(
            f"| {r['name']} | {size(r['body'])} | {status} | {r['seconds'] * 1000:.0f} ms | {r['rss_before'] / 1024:.1f} MiB"
            f" | {r['peak'] / 1024:.1f} MiB | {r['rss_after'] / 1024:.1f} MiB | {size(r['upstream']) if r['upstream'] else '—'} | {ratio} |")
    out = ROOT / "bench" / "results" / f"amplification-{datetime.datetime.now():%Y%m%d-%H%M%S}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written to {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
