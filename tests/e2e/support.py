"""Helpers shared by the e2e tests: raw SSE parsing, OpenAI error-envelope checks, and small media
files built in code (PNG, WAV, PDF) for the attachment tests."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import socket
import struct
import wave
import zlib
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

API_KEY = "test-key"
SECOND_KEY = "second-key"
MODEL_ALIASES = {"gpt-4o": "GigaChat-2-Max", "gpt-4o-mini": "GigaChat"}

# Things an error message shown to a client must never contain: upstream URLs, hosts, HTML.
LEAK_MARKERS = ("https://", "http://", "localhost", "127.0.0.1", "/api/v1", "/api/v2", "<html", "SynGX")

CYRILLIC = re.compile("[\u0400-\u04ff]")
ESCAPED_CYRILLIC = re.compile(rb"\\u04[0-9a-fA-F]{2}")


def sse_events(raw: bytes) -> list[str]:
    """Splits a raw `text/event-stream` body into the payloads of its `data:` events.

    Enforces the framing real clients rely on: events separated by a blank line, each line either
    `data: <payload>` or a comment (`: ping`); a body that does not end with a complete event fails.
    """
    text = raw.decode("utf-8")
    assert "\r" not in text, "SSE uses \\r; events must be separated by \\n\\n"
    assert text.endswith("\n\n"), f"stream does not end with a complete event: {text[-200:]!r}"
    payloads = []
    for block in text.split("\n\n")[:-1]:
        data_lines = []
        for line in block.split("\n"):
            if line.startswith(":"):
                continue
            assert line.startswith("data: "), f"unexpected SSE line {line!r} in event {block!r}"
            data_lines.append(line[len("data: ") :])
        if data_lines:
            payloads.append("\n".join(data_lines))
    return payloads


def sse_json_chunks(raw: bytes) -> list[dict[str, Any]]:
    """The JSON chunks of a complete stream; asserts it ends with exactly one `data: [DONE]`."""
    payloads = sse_events(raw)
    assert payloads, "empty stream"
    assert payloads[-1] == "[DONE]", f"stream does not end with [DONE]; last event: {payloads[-1]!r}"
    assert payloads.count("[DONE]") == 1, "more than one [DONE]"
    return [json.loads(p) for p in payloads[:-1]]


def error_of(exc_or_response: openai.APIStatusError | httpx.Response) -> tuple[int, httpx.Headers, dict]:
    """Status, headers and parsed JSON body of an SDK status error or a raw httpx response."""
    response = exc_or_response.response if isinstance(exc_or_response, openai.APIStatusError) else exc_or_response
    try:
        body = json.loads(response.content)
    except ValueError as error:  # pragma: no cover - reported as a test failure
        raise AssertionError(f"error body is not JSON ({response.status_code}): {response.content[:300]!r}") from error
    return response.status_code, response.headers, body


def assert_error_envelope(
    validate,
    exc_or_response,
    *,
    status: int,
    code: str | None = None,
    no_leaks: bool = True,
) -> dict:
    """Asserts an OpenAI error envelope with `status` (and `code`), schema-valid; returns `error`."""
    got_status, headers, body = error_of(exc_or_response)
    assert got_status == status, f"expected HTTP {status}, got {got_status}: {body}"
    assert headers.get("content-type", "").startswith("application/json"), headers.get("content-type")
    validate("ErrorResponse", body)
    error = body["error"]
    if code is not None:
        assert error["code"] == code, f"expected code {code!r}, got {error['code']!r}: {error}"
    assert error["message"].strip(), "empty error message"
    if no_leaks:
        lowered = error["message"].lower()
        for marker in LEAK_MARKERS:
            assert marker.lower() not in lowered, f"error message leaks {marker!r}: {error['message']!r}"
    return error


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Media made in code: deterministic for a seed, distinct across seeds (so dedup never meets a
# file another test already uploaded).

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png(seed: str, width: int = 8, height: int = 6) -> bytes:
    """A valid RGB PNG whose pixels derive from `seed`."""
    key = zlib.crc32(seed.encode()).to_bytes(4, "big")
    rows = b"".join(
        b"\x00"  # filter type None, then R, G, B per pixel
        + b"".join(bytes(((x * 31 ^ key[0]) & 255, (y * 47 ^ key[1]) & 255, (x * y ^ key[2] ^ key[3]) & 255)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def wav(seed: str, frames: int = 800) -> bytes:
    """A valid mono 16-bit 8 kHz WAV (a tenth of a second) whose samples derive from `seed`."""
    step = zlib.crc32(seed.encode()) % 97 + 1
    samples = b"".join(struct.pack("<h", (i * step) % 2000 - 1000) for i in range(frames))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples)
    return out.getvalue()


def pdf(text: str) -> bytes:
    """A minimal valid one-page PDF showing `text` (ASCII), with a correct xref table."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def data_url(mime: str, content: bytes) -> str:
    """`data:<mime>;base64,<content>`."""
    return f"data:{mime};base64,{base64.b64encode(content).decode()}"


# --------------------------------------------------------------------------------------------
# Responses API streams


def response_stream_events(raw: bytes) -> list[dict[str, Any]]:
    """The JSON events of a complete Responses stream (`text/event-stream`).

    Each event is one `data:` line, optionally preceded by `event: <type>`, which must then equal the
    data's `type`; there is no `[DONE]` (OpenAI's Responses streams end after the terminal event).
    """
    text = raw.decode("utf-8")
    assert "\r" not in text, "SSE uses \\r; events must be separated by \\n\\n"
    assert text.endswith("\n\n"), f"stream does not end with a complete event: {text[-200:]!r}"
    events = []
    for block in text.split("\n\n")[:-1]:
        name = None
        data_lines = []
        for line in block.split("\n"):
            if line.startswith(":"):
                continue
            if line.startswith("event: "):
                name = line[len("event: ") :]
                continue
            assert line.startswith("data: "), f"unexpected SSE line {line!r} in event {block!r}"
            data_lines.append(line[len("data: ") :])
        if not data_lines:
            continue
        payload = "\n".join(data_lines)
        assert payload != "[DONE]", "a Responses stream has no [DONE] event"
        event = json.loads(payload)
        if name is not None:
            assert name == event.get("type"), f"`event: {name}` line but data type {event.get('type')!r}"
        events.append(event)
    return events


TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


def assert_response_stream(events: list[dict[str, Any]], validate) -> dict[str, Any]:
    """Checks a Responses event sequence as Codex and the SDKs read it; returns the final response.

    Every event is valid against its `ResponseStreamEvent` variant; `sequence_number`s increase;
    `response.created`, `response.in_progress` first and one terminal event last, all about the same
    response id; per output item: `output_item.added` before any other event of that item,
    `output_item.done` after all of them; text parts opened before their deltas and closed after
    `output_text.done`; deltas add up to the `.done` text / arguments / input and to the item in
    `output_item.done`; the final response's `output` is exactly the `output_item.done` items.
    """
    assert events, "empty stream"
    for event in events:
        validate.stream_event(event)
    numbers = [event["sequence_number"] for event in events]
    assert all(b > a for a, b in zip(numbers, numbers[1:])), f"sequence numbers do not increase: {numbers}"
    kinds = [event["type"] for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"], kinds
    assert kinds[-1] in TERMINAL_EVENTS, f"no terminal event last: {kinds}"
    assert sum(kind in TERMINAL_EVENTS for kind in kinds) == 1, kinds
    response_id = events[0]["response"]["id"]
    for event in (events[0], events[1], events[-1]):
        assert event["response"]["id"] == response_id, "events describe different responses"
        validate("Response", event["response"])
    assert events[0]["response"]["status"] == "in_progress" and "usage" not in events[0]["response"]

    items: dict[int, dict[str, Any]] = {}  # output_index → {"added", "done", "ids", "text"...}
    for position, event in enumerate(events[2:-1], start=2):
        kind = event["type"]
        index = event.get("output_index")
        assert index is not None, f"event without output_index inside the stream: {event}"
        if kind == "response.output_item.added":
            assert index not in items, f"output_item.added twice for index {index}"
            assert index == len(items), f"output indexes not in order: {index} after {sorted(items)}"
            item = event["item"]
            items[index] = {"added": item, "done": None, "parts": {}, "summary": {}, "deltas": "", "done_value": None}
            continue
        state = items.get(index)
        assert state is not None, f"{kind} at #{position} before output_item.added of item {index}"
        assert state["done"] is None, f"{kind} at #{position} after output_item.done of item {index}"
        if "item_id" in event and state["added"].get("id") is not None:
            assert event["item_id"] == state["added"]["id"], f"{kind}: item_id {event['item_id']} is not the added item's"
        if kind == "response.output_item.done":
            state["done"] = event["item"]
        elif kind == "response.content_part.added":
            assert event["content_index"] not in state["parts"], f"part {event['content_index']} added twice"
            state["parts"][event["content_index"]] = {"text": "", "done_text": None, "closed": False}
        elif kind in ("response.output_text.delta", "response.output_text.done", "response.content_part.done"):
            part = state["parts"].get(event["content_index"])
            assert part is not None and not part["closed"], f"{kind} outside an open content part: {event}"
            if kind == "response.output_text.delta":
                assert part["done_text"] is None, "text delta after output_text.done"
                part["text"] += event["delta"]
            elif kind == "response.output_text.done":
                assert event["text"] == part["text"], f"output_text.done {event['text']!r} != deltas {part['text']!r}"
                part["done_text"] = event["text"]
            else:
                part["closed"] = True
                if event["part"]["type"] == "output_text":
                    assert part["done_text"] is not None, "content_part.done before output_text.done"
                    assert event["part"]["text"] == part["done_text"]
        elif kind == "response.reasoning_summary_part.added":
            assert event["summary_index"] not in state["summary"], f"summary part {event['summary_index']} added twice"
            state["summary"][event["summary_index"]] = {"text": "", "done_text": None, "closed": False}
        elif kind in (
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
        ):
            part = state["summary"].get(event["summary_index"])
            assert part is not None and not part["closed"], f"{kind} outside an open summary part: {event}"
            if kind == "response.reasoning_summary_text.delta":
                assert part["done_text"] is None, "summary delta after reasoning_summary_text.done"
                part["text"] += event["delta"]
            elif kind == "response.reasoning_summary_text.done":
                assert event["text"] == part["text"], f"summary_text.done {event['text']!r} != deltas {part['text']!r}"
                part["done_text"] = event["text"]
            else:
                assert part["done_text"] is not None, "summary_part.done before reasoning_summary_text.done"
                assert event["part"]["text"] == part["done_text"]
                part["closed"] = True
        elif kind in ("response.function_call_arguments.delta", "response.custom_tool_call_input.delta"):
            assert state["done_value"] is None, f"{kind} after its .done"
            state["deltas"] += event["delta"]
        elif kind == "response.function_call_arguments.done":
            assert event["arguments"] == state["deltas"], f"arguments.done {event['arguments']!r} != deltas {state['deltas']!r}"
            assert event["name"] == state["added"]["name"]
            state["done_value"] = event["arguments"]
        elif kind == "response.custom_tool_call_input.done":
            assert event["input"] == state["deltas"], f"input.done {event['input']!r} != deltas {state['deltas']!r}"
            state["done_value"] = event["input"]

    finished = []
    for index in range(len(items)):
        state = items[index]
        done = state["done"]
        assert done is not None, f"item {index} has no output_item.done"
        assert done["type"] == state["added"]["type"], f"item {index} changed type"
        if done["type"] == "message":
            assert all(part["closed"] for part in state["parts"].values()), f"item {index}: a content part not closed"
            texts = [part["text"] for _, part in sorted(state["parts"].items())]
            assert [p.get("text") for p in done["content"]] == texts, f"item {index}: {done['content']} != deltas {texts}"
        elif done["type"] == "reasoning":
            assert all(part["closed"] for part in state["summary"].values()), f"item {index}: a summary part not closed"
            texts = [part["text"] for _, part in sorted(state["summary"].items())]
            assert [p["text"] for p in done["summary"]] == texts, f"item {index}: {done['summary']} != deltas {texts}"
        elif done["type"] == "function_call":
            assert state["done_value"] == done["arguments"], f"item {index}: arguments differ from the deltas"
            assert done["call_id"] == state["added"]["call_id"] and done["name"] == state["added"]["name"]
        elif done["type"] == "custom_tool_call":
            assert state["done_value"] == done["input"], f"item {index}: input differs from the deltas"
        finished.append(done)
    final = events[-1]["response"]
    assert final["output"] == finished, f"final output {final['output']} != output_item.done items {finished}"
    if events[-1]["type"] == "response.completed":
        assert final["status"] == "completed" and "usage" in final, final
    return final


# --------------------------------------------------------------------------------------------
# Node clients (tests/e2e/node: Codex CLI, the Vercel AI SDK), installed by tests/e2e/run.sh

NODE_PROJECT = Path(__file__).resolve().parent / "node"


def node_client(relative: str) -> Path:
    """A file of the installed node clients, e.g. `node_modules/.bin/codex`; fails the test naming
    how to install them when missing (they are required, never skipped)."""
    path = NODE_PROJECT / relative
    if shutil.which("node") is None:
        pytest.fail("node is missing: install Debian's nodejs and npm (.ci/run does)", pytrace=False)
    if not path.exists():
        pytest.fail(
            f"{path} is missing: tests/e2e/run.sh installs the pinned node clients "
            "(npm ci of tests/e2e/node/package-lock.json into a cache dir, linked as tests/e2e/node/node_modules)",
            pytrace=False,
        )
    return path
