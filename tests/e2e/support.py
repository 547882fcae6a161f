"""Helpers shared by the e2e tests: raw SSE parsing and OpenAI error-envelope checks."""

from __future__ import annotations

import json
import re
import socket
from typing import Any

import httpx
import openai

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
