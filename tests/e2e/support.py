"""Helpers shared by the e2e tests: raw SSE parsing, OpenAI error-envelope checks, and small media
files built in code (PNG, WAV, PDF) for the attachment tests."""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import struct
import wave
import zlib
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
