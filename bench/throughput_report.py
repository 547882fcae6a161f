#!/usr/bin/env python3
"""Turns bench/throughput.sh's oha reports into issue 20's table (markdown on stdout).

Called by bench/throughput.sh with its work directory: runs/<lane>.<target>.<round>.{json,ticks,db}
(db only for the open-loop lanes) and fails/<lane>.<target> (the answer of a target that failed a
lane's probe).
"""

import glob
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys

WARMUP_S = 0.5

(work, rounds, tick, duration, p99_duration, small_rate, stream_rate, upstreams, after_bin, before_bin,
 label, lanes) = sys.argv[1:13]
rounds, tick = int(rounds), int(tick)
upstreams, lanes = upstreams.split(), lanes.split()
OPEN_RATE = {"p99": int(small_rate), "p99-stream": int(stream_rate)}


def load(lane, target, round_):
    base = os.path.join(work, "runs", f"{lane}.{target}.{round_}")
    if not os.path.exists(base + ".json"):
        return None
    with open(base + ".json") as f:
        report = json.load(f)
    with open(base + ".ticks") as f:
        ticks = int(f.read())
    with open(base + ".upstream-ticks") as f:
        upstream_ticks = int(f.read())
    codes = report.get("statusCodeDistribution", {})
    errors = {k: v for k, v in report.get("errorDistribution", {}).items() if "deadline" not in k}
    ok = codes.get("200", 0)
    run = {
        "ok_per_s": ok / report["summary"]["total"],
        "bad": sum(codes.values()) - ok + sum(errors.values()),
        "errors": errors,
        "cpu_us": ticks / tick * 1e6 / ok if ok else float("nan"),
        "upstream_cpu_us": upstream_ticks / tick * 1e6 / ok if ok else float("nan"),
    }
    if lane in OPEN_RATE:
        with sqlite3.connect(base + ".db") as con:
            rows = con.execute("SELECT start_latency_correction, end, status FROM oha").fetchall()
        first = min((row[0] for row in rows), default=0)
        latencies = sorted(end - start for start, end, status in rows if status == 200 and start - first >= WARMUP_S)
        run["p99_ms"] = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000 if latencies else float("nan")
    return run


def runs(lane, target):
    found = [load(lane, target, r) for r in range(1, rounds + 1)]
    return [r for r in found if r is not None]


def median(lane, target, key):
    values = [r[key] for r in runs(lane, target)]
    return statistics.median(values) if values else None


def failure(lane, target):
    path = os.path.join(work, "fails", f"{lane}.{target}")
    if os.path.exists(path):
        with open(path) as f:
            return f.read().strip()
    return None


def rate_cell(lane, target):
    reason = failure(lane, target)
    if reason:
        return "fails"
    value = median(lane, target, "ok_per_s")
    return "—" if value is None else f"{value:,.0f}"


def open_fails(lane, target):
    """An open-loop run fails when it serves under 95% of the rate or more than 1% errors."""
    for r in runs(lane, target):
        if r["ok_per_s"] < 0.95 * OPEN_RATE[lane] or r["bad"] > 0.01 * OPEN_RATE[lane]:
            return f"served {r['ok_per_s']:,.0f}/s of {OPEN_RATE[lane]:,}, {r['bad']} errors"
    return None


def added_cell(lane, target, direct):
    if failure(lane, target):
        return "fails"
    if not runs(lane, target):
        return "—"
    reason = open_fails(lane, target)
    if reason:
        return f"fails ({reason})"
    p99, base = median(lane, target, "p99_ms"), median(lane, direct, "p99_ms")
    return f"{p99 - base:+.2f} ms" if base is not None else f"{p99:.2f} ms p99"


def ratio(numerator, denominator):
    return f"{numerator / denominator:.2f}" if numerator and denominator else ""


def git(*args):
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


have_before = bool(before_bin)
have_reference = bool(glob.glob(os.path.join(work, "runs", "*.haproxy.*.json")))
print(f"# Throughput, issue 20's table: {label}\n")
print(f"- adapter: `{after_bin}`")
if have_before:
    print(f"- adapter before: `{before_bin}`")
print(f"- tree: {git('rev-parse', '--short', 'HEAD')} ({git('log', '-1', '--format=%cd', '--date=iso')}), "
      f"machine: {os.cpu_count()} cores, kernel {platform.release()}, {platform.machine()}")
print(f"- {rounds} interleaved rounds; max/s lanes: oha closed loop, 64 connections, {duration} each; "
      f"p99 lanes: oha open loop with --latency-correction, {p99_duration} each, first {WARMUP_S} s left out; "
      "medians over rounds")
print("- emulator: no delays, static token, `--response-headers minimal --log-capacity 16`, 57-word answers = "
      "20 SSE events per stream; plain = HTTP/1.1, tls = HTTPS with HTTP/2 (ALPN) from the adapter, "
      "8 connections x 8 streams from oha to the emulator directly")
if have_reference:
    print("- HAProxy (Debian's, `nbthread 2`, keep-alive both sides) relaying the same calls to the plain emulator: "
          "what a proxy that does no JSON work reaches on this machine")
print("- gpt2giga 0.3.0 (PyPI, one uvicorn process, its default) over the plain emulator\n")

header = ("| figure | upstream directly | " + ("HAProxy | " if have_reference else "") + ("adapter before | " if have_before else "")
          + "adapter | gpt2giga | adapter / direct |" + (" adapter / HAProxy |" if have_reference else ""))
print(header)
print("|" + "---|" * (header.count("|") - 1))


def row(figure, direct, before, after, peer, ratio_text, reference="—", reference_ratio=""):
    cells = ([figure, direct] + ([reference] if have_reference else []) + ([before] if have_before else [])
             + [after, peer, ratio_text] + ([reference_ratio] if have_reference else []))
    print("| " + " | ".join(cells) + " |")


MAX_FIGURES = [
    ("small", "max requests/s, small chat", "direct"),
    ("stream", "max streamed answers/s, chat (20 events)", "direct"),
    ("responses", "max streamed answers/s, Responses (store: false)", "direct chat stream"),
    ("messages", "max streamed answers/s, Messages", "direct chat stream"),
]
for lane, figure, _ in MAX_FIGURES:
    if lane not in lanes:
        continue
    for up in upstreams:
        direct_lane = lane if lane in ("small", "stream") else "stream"
        direct = median(direct_lane, f"direct-{up}", "ok_per_s")
        after = median(lane, f"after-{up}", "ok_per_s")
        peer = rate_cell(lane, "gpt2giga") if up == "plain" and lane in ("small", "stream") else "—"
        relayed = lane in ("small", "stream") and up == "plain" and runs(lane, "haproxy")
        reference = median(lane, "haproxy", "ok_per_s") if relayed else None
        row(f"{figure}, {up} upstream", f"{direct:,.0f}" if direct else "—", rate_cell(lane, f"before-{up}"),
            rate_cell(lane, f"after-{up}"), peer, ratio(after, direct),
            rate_cell(lane, "haproxy") if relayed else "—", ratio(after, reference))
for lane, figure in (("p99", f"added p99 at {OPEN_RATE['p99']:,} requests/s (non-streamed)"),
                     ("p99-stream", f"added p99 per whole stream at {OPEN_RATE['p99-stream']:,} streams/s")):
    if lane not in lanes:
        continue
    for up in upstreams:
        direct = median(lane, f"direct-{up}", "p99_ms")
        peer = added_cell(lane, "gpt2giga", "direct-plain") if up == "plain" and lane == "p99" else "—"
        reference = added_cell(lane, "haproxy", "direct-plain") if up == "plain" and runs(lane, "haproxy") else "—"
        row(f"{figure}, {up} upstream", f"p99 {direct:.2f} ms" if direct is not None else "—",
            added_cell(lane, f"before-{up}", f"direct-{up}"), added_cell(lane, f"after-{up}", f"direct-{up}"), peer, "",
            reference)
for lane, figure in (("agent-chat", "~116 KB agent request, chat, max requests/s"),
                     ("agent-messages", "~116 KB agent request, Messages, max requests/s"),
                     ("agent-responses", "~116 KB agent request, Responses, max requests/s"),
                     ("agent-peer", "~116 KB agent request, one call per turn + JSON results (chat-peer.json), max requests/s")):
    if lane not in lanes:
        continue
    for up in upstreams:
        if lane == "agent-peer" and up != "plain":
            continue
        peer = rate_cell(lane, "gpt2giga") if up == "plain" and lane in ("agent-chat", "agent-peer") else "—"
        after, gpt = median(lane, f"after-{up}", "ok_per_s"), median(lane, "gpt2giga", "ok_per_s")
        note = f"{after / gpt:.0f}x gpt2giga" if lane == "agent-peer" and after and gpt else ""
        row(f"{figure}, {up} upstream", "—", rate_cell(lane, f"before-{up}"), rate_cell(lane, f"after-{up}"), peer, note)

fails = sorted(glob.glob(os.path.join(work, "fails", "*")))
if fails:
    print("\nFailures (the first answer of each):\n")
    for path in fails:
        lane, target = os.path.basename(path).rsplit(".", 1)
        print(f"- {target} on `{lane}`: {failure(lane, target)}")

print("\n## Every run\n")
print("| lane | target | median ok/s | per round | p99 ms per round | non-200 + errors | adapter (or HAProxy) CPU µs/request | emulator CPU µs/request |")
print("|---|---|---|---|---|---|---|---|")
for lane in lanes:
    targets = sorted({os.path.basename(p).split(".")[1] for p in glob.glob(os.path.join(work, "runs", f"{lane}.*.1.json"))})
    for target in targets:
        rs = runs(lane, target)
        if not rs:
            continue
        per_round = ", ".join(f"{r['ok_per_s']:,.0f}" for r in rs)
        p99s = ", ".join(f"{r['p99_ms']:.2f}" for r in rs) if "p99_ms" in rs[0] else ""
        cpu = f"{median(lane, target, 'cpu_us'):.0f}" if target.startswith(("after", "before", "haproxy")) else ""
        print(f"| {lane} | {target} | {median(lane, target, 'ok_per_s'):,.0f} | {per_round} | {p99s} | "
              f"{sum(r['bad'] for r in rs)} | {cpu} | {median(lane, target, 'upstream_cpu_us'):.0f} |")
if "stream" in lanes:
    print()
    for up in upstreams:
        chat = median("stream", f"after-{up}", "ok_per_s")
        for lane in ("responses", "messages"):
            other = median(lane, f"after-{up}", "ok_per_s") if lane in lanes else None
            if chat and other:
                print(f"- {lane} stream / chat stream through the adapter, {up} upstream: {other / chat:.2f}")
