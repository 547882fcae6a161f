#!/usr/bin/env python3
"""Holds N streamed chat answers open at once against a server and samples its memory.

Used by bench/streams_rss.sh (which starts the servers); runnable alone against any adapter:
  python3 bench/streams_rss.py --port PORT --pid ADAPTER_PID [--streams 10000] [--ramp 5]
First opens N plain HTTP/1.1 connections (asyncio streams, ramped over --ramp seconds so the
listen backlog keeps up); when all are open it sends one `stream: true` chat completion on each,
spread over --spread seconds (so all N streams run at once even when opening the connections is
slow), reads every answer to its end, and counts an answer complete when its status is 200 and it
ends with `data: [DONE]`. Meanwhile it samples /proc/<pid>/status (VmRSS, and VmHWM, the kernel's
peak) every 100 ms. Prints one JSON object: streams, complete, errors (first few reasons), most
streams under way at once, idle RSS before the load, peak VmHWM, and the seconds the run took.
"""

import argparse
import asyncio
import json
import resource
import time

BODY = json.dumps({"model": "GigaChat", "messages": [{"role": "user", "content": "Привет! Как дела?"}],
                   "stream": True}, ensure_ascii=False).encode()


def memory_kb(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields


class Counts:
    def __init__(self, streams):
        self.streams = streams
        self.attempts = 0
        self.all_attempted = asyncio.Event()
        self.go = asyncio.Event()
        self.active = 0
        self.most_active = 0
        self.complete = 0
        self.errors = {}

    def attempted(self):
        self.attempts += 1
        if self.attempts == self.streams:
            self.all_attempted.set()

    def error(self, reason):
        self.errors[reason] = self.errors.get(reason, 0) + 1


async def one_stream(host, port, key, counts, timeout, send_delay):
    request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\nConnection: close\r\n\r\n").encode() + BODY
    writer = None
    try:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        finally:
            counts.attempted()
        await counts.go.wait()
        await asyncio.sleep(send_delay)
        counts.active += 1
        counts.most_active = max(counts.most_active, counts.active)
        try:
            writer.write(request)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            tail = b""
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), timeout)
                if not chunk:
                    break
                tail = (tail + chunk)[-64:]
        finally:
            counts.active -= 1
        status = head.split(b" ", 2)[1]
        if status != b"200":
            counts.error(f"HTTP {status.decode()}")
        elif b"data: [DONE]" not in tail:
            counts.error("stream ended without data: [DONE]")
        else:
            counts.complete += 1
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, IndexError) as error:
        counts.error(type(error).__name__ + (f": {error.strerror}" if isinstance(error, OSError) and error.strerror else ""))
    finally:
        if writer is not None:
            writer.close()


async def sample(pid, samples, stop):
    while not stop.is_set():
        try:
            samples.append(memory_kb(pid))
        except OSError:
            return
        await asyncio.sleep(0.1)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True, help="the server process to sample")
    parser.add_argument("--key", default="bench-key")
    parser.add_argument("--streams", type=int, default=10000)
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which the connections open")
    parser.add_argument("--spread", type=float, default=2.0, help="seconds over which the requests are sent")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds any one read may take")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.streams + 64:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} is too low for {args.streams} streams")

    idle = memory_kb(args.pid)
    counts, samples, stop = Counts(args.streams), [], asyncio.Event()
    sampler = asyncio.create_task(sample(args.pid, samples, stop))
    started = time.monotonic()
    tasks = []
    for index in range(args.streams):
        due = started + args.ramp * index / args.streams
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        send_delay = args.spread * index / args.streams
        tasks.append(asyncio.create_task(one_stream(args.host, args.port, args.key, counts, args.timeout, send_delay)))
    await counts.all_attempted.wait()
    counts.go.set()
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    stop.set()
    await sampler
    final = memory_kb(args.pid)
    print(json.dumps({
        "streams": args.streams,
        "complete": counts.complete,
        "errors": dict(sorted(counts.errors.items(), key=lambda item: -item[1])[:5]),
        "most_active": counts.most_active,
        "idle_rss_kb": idle["VmRSS"],
        "peak_rss_kb": max([final["VmHWM"]] + [s["VmHWM"] for s in samples]),
        "peak_sampled_rss_kb": max([s["VmRSS"] for s in samples] or [0]),
        "seconds": round(elapsed, 1),
    }))


if __name__ == "__main__":
    asyncio.run(main())
