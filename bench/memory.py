#!/usr/bin/env python3
"""Peak memory the adapter adds while handling a chat request that carries a 10 MB image.

Starts the emulator (plain HTTP) and adapter of the shipped build (the `dist` profile, as in the
Docker image; BENCH_PROFILE=release for the lighter one), warms them up, then posts a chat request
whose image is a fresh 10 MB PNG as a base64 data URL, and reads the adapter's peak resident set
(VmHWM in /proc/<pid>/status) before and after. Writes bench/results/memory-<date>.md.

Usage: bench/memory.py [image_megabytes=10]
  (after `cargo build --profile dist -p gigachat-adapter -p gigachat-emulator`)
ADAPTER_BIN / EMULATOR_BIN run other binaries; MEMORY_OUT writes the report there instead.
"""
import base64
import datetime
import json
import os
import pathlib
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROFILE = os.environ.get("BENCH_PROFILE", "dist")
TARGET = ROOT / "target" / PROFILE
KEY = "bench-key"
TOKEN = "bench-static-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def noise_png(megabytes):
    """An RGB PNG of random pixels (incompressible), about `megabytes` MB."""
    side = int((megabytes * 1024 * 1024 / 3) ** 0.5)
    raw = b"".join(b"\x00" + os.urandom(side * 3) for _ in range(side))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b"")


def status_kb(pid, field):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def post(url, body):
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, response.read()


def main():
    megabytes = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    work = pathlib.Path(tempfile.mkdtemp())
    api, oauth, port = free_port(), free_port(), free_port()
    emulator = subprocess.Popen([
        os.environ.get("EMULATOR_BIN", str(TARGET / "gigachat-emulator")), "--api-port", str(api), "--oauth-port", str(oauth), "--no-tls",
        "--static-token", TOKEN], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), BEARER_TOKEN=KEY, RUST_LOG="warn",
               DATA_DIR=str(work / "data"), MAX_REQUEST_BYTES=str(64 * 1024 * 1024),
               GIGACHAT_BASE_URL=f"http://127.0.0.1:{api}/api/v1",
               GIGACHAT_AUTH_URL=f"http://127.0.0.1:{oauth}/api/v2/oauth", GIGACHAT_ACCESS_TOKEN=TOKEN)
    adapter = subprocess.Popen([os.environ.get("ADAPTER_BIN", str(TARGET / "gigachat-adapter"))], env=env, cwd=work,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/health/ready", timeout=1)
                break
            except Exception:
                time.sleep(0.05)
        small = json.dumps({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "warm up"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(noise_png(0.01)).decode()}}]}]}).encode()
        for _ in range(3):
            post(base + "/v1/chat/completions", small)
        image = noise_png(megabytes)
        body = json.dumps({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in the picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(image).decode()}}]}]}).encode()
        rss_before = status_kb(adapter.pid, "VmRSS")
        hwm_before = status_kb(adapter.pid, "VmHWM")
        status, _ = post(base + "/v1/chat/completions", body)
        assert status == 200, status
        hwm_after = status_kb(adapter.pid, "VmHWM")
        rss_after = status_kb(adapter.pid, "VmRSS")
    finally:
        adapter.terminate()
        emulator.terminate()
    extra = (hwm_after - max(rss_before, 0)) * 1024
    lines = [
        f"# Adapter peak memory for one chat request with a {len(image) / 1e6:.1f} MB image",
        "",
        f"{datetime.date.today()}, {os.cpu_count()} cores; `bench/memory.py {megabytes:g}` ({PROFILE} profile, system allocator).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| image (decoded bytes) | {len(image) / 1e6:.1f} MB |",
        f"| request body (base64 data URL in JSON) | {len(body) / 1e6:.1f} MB |",
        f"| adapter RSS before | {rss_before / 1024:.1f} MiB |",
        f"| adapter peak RSS (VmHWM) before / after | {hwm_before / 1024:.1f} / {hwm_after / 1024:.1f} MiB |",
        f"| adapter RSS after | {rss_after / 1024:.1f} MiB |",
        f"| **extra peak while handling it** | **{extra / 1e6:.1f} MB = {extra / len(image):.2f} x the image** |",
    ]
    out = pathlib.Path(os.environ.get("MEMORY_OUT") or ROOT / "bench" / "results" / f"memory-{datetime.datetime.now():%Y%m%d-%H%M%S}.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
