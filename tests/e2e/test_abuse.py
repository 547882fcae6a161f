"""Slow, silent and abusive clients against the release binary over raw sockets: each gets the
right status with the OpenAI error envelope (or is closed) within the configured limits, and the
adapter keeps serving ordinary requests during and after the abuse."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

import httpx
import pytest

from support import API_KEY

# Short limits, so the tests see them act; a cap of 30 connections for the flood test.
LIMITS = {
    "HEADER_READ_TIMEOUT_SECS": "2",
    "BODY_READ_TIMEOUT_SECS": "2",
    "IDLE_TIMEOUT_SECS": "2",
    "SEND_TIMEOUT_SECS": "2",
    "MAX_CONNECTIONS": "30",
    "MAX_HEADER_BYTES": "16384",
    "HTTP2_MAX_CONCURRENT_STREAMS": "9",
}
PATIENCE = 10.0


@pytest.fixture(scope="module")
def guarded(adapters):
    """An adapter with short connection limits."""
    return adapters.start(**LIMITS)


def connect(adapter) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", adapter.port), timeout=PATIENCE)
    return sock


def until_closed(sock: socket.socket) -> bytes:
    """Everything received until the adapter closes the connection (fails if it does not)."""
    received = b""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            return received
        received += chunk
    pytest.fail(f"the adapter kept the connection open; received {received[:200]!r}")


def parse(response: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, json.loads(body)


def assert_envelope(response: bytes, validate, status: int, code: str | None = None) -> dict:
    got, headers, body = parse(response)
    assert got == status, f"expected {status}, got {got}: {body}"
    assert headers.get("content-type", "").startswith("application/json"), headers
    assert headers.get("connection") == "close", headers
    validate("ErrorResponse", body)
    if code is not None:
        assert body["error"]["code"] == code, body
    assert body["error"]["message"].strip()
    return body["error"]


def exchange(adapter, request: bytes) -> bytes:
    with connect(adapter) as sock:
        sock.sendall(request)
        return until_closed(sock)


def assert_serves(adapter) -> None:
    """An ordinary chat call succeeds."""
    client = adapter.client()
    answer = client.chat.completions.create(model="GigaChat", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content


def test_slow_headers_get_408_and_the_adapter_keeps_serving(guarded, validate):
    with connect(guarded) as sock:
        started = time.monotonic()
        for byte in b"GET /health/live HTTP/1.1\r\nhost: x\r\nx-slow: ":
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            if time.monotonic() - started > 1:
                assert_serves(guarded)  # served while the slow client trickles
                started = float("inf")
            time.sleep(0.05)
        assert started == float("inf"), "the adapter cut the head before serving was checked mid-trickle"
        assert_envelope(until_closed(sock), validate, 408, "request_timeout")
    assert_serves(guarded)


def test_a_silent_connection_is_closed(guarded):
    with connect(guarded) as sock:
        assert until_closed(sock) == b""


def test_a_short_body_gets_408(guarded, validate):
    request = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
        f"authorization: Bearer {API_KEY}\r\ncontent-type: application/json\r\n"
        'content-length: 500\r\n\r\n{"messages":'
    ).encode()
    assert_envelope(exchange(guarded, request), validate, 408, "request_timeout")
    assert_serves(guarded)


def test_an_idle_keep_alive_connection_is_closed(guarded):
    with connect(guarded) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        received = until_closed(sock)
    assert received.startswith(b"HTTP/1.1 200"), received[:100]


@pytest.mark.parametrize(
    "request_bytes,status",
    [
        (b"\x16\x03\x01 not http at all\r\n\r\n", 400),
        (b"GET /v1/models HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\ncontent-length: 0\r\n\r\n", 400),
        (b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-bad: a\x07b\r\n\r\n", 400),
        (b"GET /v1/models HTTP/1.1\r\n" + b"".join(b"x-h%d: v\r\n" % i for i in range(1000)) + b"\r\n", 431),
        (b"GET /v1/models HTTP/1.1\r\nx-big: " + b"a" * (1 << 20) + b"\r\n\r\n", 431),
    ],
    ids=["garbage", "duplicate-content-length", "control-character", "1000-headers", "1mb-header"],
)
def test_protocol_errors_get_the_envelope(guarded, validate, request_bytes, status):
    assert_envelope(exchange(guarded, request_bytes), validate, status)
    assert_serves(guarded)


def test_connections_over_the_cap_get_503_and_the_adapter_recovers(guarded, validate):
    held = [connect(guarded) for _ in range(int(LIMITS["MAX_CONNECTIONS"]))]
    try:
        time.sleep(0.3)
        error = assert_envelope(
            exchange(guarded, b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n"), validate, 503, "too_many_connections"
        )
        assert "30" in error["message"]
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert_serves(guarded)


def test_a_client_that_reads_nothing_is_dropped(guarded):
    """Forty pipelined requests for a large asset, never read: far more than the socket buffers
    hold, so the adapter's writes stall and it drops the connection after SEND_TIMEOUT_SECS."""
    size = len(httpx.get(f"{guarded.root_url}/docs/swagger-ui-bundle.js", trust_env=False).content)
    assert size > 100_000
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(PATIENCE)
    sock.connect(("127.0.0.1", guarded.port))
    with sock:
        sock.sendall(b"GET /docs/swagger-ui-bundle.js HTTP/1.1\r\nhost: x\r\n\r\n" * 40)
        time.sleep(5)
        received = until_closed(sock)
    assert len(received) < 40 * size
    assert_serves(guarded)


def test_http2_advertises_its_limits(guarded):
    with connect(guarded) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + struct.pack(">I", 0)[1:] + b"\x04\x00" + struct.pack(">I", 0))
        header = b""
        while len(header) < 9:
            header += sock.recv(9 - len(header))
        length = int.from_bytes(header[:3], "big")
        assert header[3] == 4, "the first frame is not SETTINGS"
        payload = b""
        while len(payload) < length:
            payload += sock.recv(length - len(payload))
    settings = dict(struct.unpack(">HI", payload[i : i + 6]) for i in range(0, length, 6))
    assert settings.get(0x3) == 9, settings
    assert settings.get(0x6) == 16384, settings


def test_many_slow_clients_at_once_leave_the_adapter_responsive(guarded):
    """Twenty slow-header clients hold connections; ordinary calls are still answered, and every
    slow connection is closed once its header timeout passes."""
    closed = []

    def slowloris():
        with connect(guarded) as sock:
            try:
                sock.sendall(b"GET / HTTP/1.1\r\n")
                while True:
                    sock.sendall(b"x")
                    time.sleep(0.3)
            except OSError:
                closed.append(True)

    threads = [threading.Thread(target=slowloris, daemon=True) for _ in range(20)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    assert_serves(guarded)
    for thread in threads:
        thread.join(PATIENCE)
    assert len(closed) == 20
    assert_serves(guarded)
