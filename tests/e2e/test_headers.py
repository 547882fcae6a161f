"""Ids a client sends for GigaChat (`X-Request-ID`, `X-Session-ID`, `X-Client-ID`) leave the adapter
bounded: a 16 KB id (past GigaChat's ~15.5 KB header limit, which the emulator enforces with 431)
still gets an answer, and GigaChat sees a stable 72-byte digest. An upstream 431 is the client's
400 with `x-should-retry: false`, so the SDK does not retry it."""

from __future__ import annotations

import re

import httpx
import openai
import pytest

from support import assert_error_envelope

MESSAGES = [{"role": "user", "content": "Привет"}]
DIGEST = re.compile(r"^%sha256-[0-9a-f]{64}$")


def long_ids() -> dict[str, str]:
    return {"X-Request-ID": "r" * 16384, "X-Session-ID": "s" * 16384, "X-Client-ID": "c" * 16384}


def upstream_ids(emulator, suffix: str) -> list[dict[str, str]]:
    """The id headers of each logged upstream call to `suffix`."""
    out = []
    for request in emulator.requests():
        if request["listener"] == "api" and request["path"].endswith(suffix):
            headers = {k.lower(): v for k, v in request["headers"]}
            out.append({name: headers.get(name) for name in ("x-request-id", "x-session-id", "x-client-id")})
    return out


def test_the_emulator_refuses_oversized_headers_like_gigachat(emulator):
    """Without bounding, these ids would never get through: the gateway answers 431 first."""
    with httpx.Client(verify=str(emulator.ca_pem), trust_env=False, timeout=30) as http:
        token = http.post(
            emulator.auth_url,
            headers={"Authorization": f"Basic {emulator.credentials}", "RqUID": "6f0b1291-c7f3-43c6-bb2e-9f3efb2dc98e"},
            data={"scope": "GIGACHAT_API_PERS"},
        ).json()["access_token"]
        response = http.post(
            f"{emulator.api_base_url}/chat/completions",
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "r" * 16384},
            json={"model": "GigaChat", "messages": MESSAGES},
        )
    assert response.status_code == 431, response.text


@pytest.mark.parametrize("stream", [False, True])
def test_sixteen_kilobyte_ids_still_get_an_answer(client, emulator, stream):
    raw = client.chat.completions.with_raw_response.create(
        model="GigaChat", messages=MESSAGES, stream=stream, extra_headers=long_ids()
    )
    assert raw.http_response.status_code == 200
    answer = raw.parse()
    if stream:
        assert "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
    else:
        assert answer.choices[0].message.content
    (sent,) = upstream_ids(emulator, "/chat/completions")
    for name, value in sent.items():
        assert value and DIGEST.match(value), f"{name}: {value!r}"
    # The id echoed to the client is the one GigaChat saw.
    assert raw.headers["x-request-id"] == sent["x-request-id"]


def test_long_ids_on_embeddings_and_the_same_digest_every_time(client, emulator):
    for _ in range(2):
        client.embeddings.create(model="Embeddings", input="hello", extra_headers=long_ids())
    first, second = upstream_ids(emulator, "/embeddings")
    assert first == second, "the same ids give the same digests (caches and image downloads rely on it)"
    assert all(DIGEST.match(value) for value in first.values()), first


def test_short_ids_pass_unchanged(client, emulator):
    ids = {"X-Request-ID": "req-42", "X-Session-ID": "chat-7", "X-Client-ID": "open-webui"}
    raw = client.chat.completions.with_raw_response.create(model="GigaChat", messages=MESSAGES, extra_headers=ids)
    assert raw.headers["x-request-id"] == "req-42"
    (sent,) = upstream_ids(emulator, "/chat/completions")
    assert sent == {"x-request-id": "req-42", "x-session-id": "chat-7", "x-client-id": "open-webui"}


def test_an_upstream_431_is_a_400_the_sdk_does_not_retry(adapter, emulator, validate):
    emulator.chat_fault("status", status=431)
    client = adapter.client(max_retries=2)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="GigaChat", messages=MESSAGES)
    error = assert_error_envelope(validate, caught.value, status=400, code="request_too_large")
    assert "431" in error["message"]
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(emulator.chat_requests()) == 1, "the SDK must not retry a request that cannot succeed"
