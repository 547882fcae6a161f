"""Request ids and the access log, seen from the openai SDK: the SDK's `_request_id` is the id the
adapter answered with (its own or the client's), also on errors; GigaChat received the same id; and
the adapter's log (JSON lines, `ENVIRONMENT=production`) has one access line per call with the key's
name, never the key."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from support import API_KEY, SECOND_KEY

MESSAGES = [{"role": "user", "content": "Привет"}]


@pytest.fixture(scope="module")
def logged(adapters):
    """An adapter logging JSON lines, with one named key and one unnamed."""
    return adapters.start(ENVIRONMENT="production", BEARER_TOKEN=f"team-a:{API_KEY},{SECOND_KEY}")


def access_lines(adapter, since: int, count: int) -> list[dict]:
    """The access lines written after `since`, once there are `count` (each is written when its
    response body is gone, which may be just after the client read it)."""
    deadline = time.monotonic() + 10
    while True:
        lines = []
        for line in adapter.process.log_text(since).splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("target") == "access" and record["fields"].get("route") != "/health/ready":
                    lines.append(record["fields"])
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def upstream_request_ids(emulator) -> list[str]:
    return [
        dict((k.lower(), v) for k, v in request["headers"]).get("x-request-id")
        for request in emulator.requests()
        if request["listener"] == "api" and request["path"].endswith("/chat/completions")
    ]


def test_request_ids_and_access_lines(logged, emulator):
    since = logged.process.log_size()
    named = logged.client(api_key=API_KEY)
    unnamed = logged.client(api_key=SECOND_KEY)

    answer = named.chat.completions.create(model="GigaChat", messages=MESSAGES)
    generated = answer._request_id
    assert generated and len(generated) == 36, generated
    assert upstream_request_ids(emulator)[-1] == generated

    raw = unnamed.chat.completions.with_raw_response.create(
        model="GigaChat", messages=MESSAGES, stream=True, extra_headers={"X-Request-ID": "e2e-stream"}
    )
    assert raw.headers["x-request-id"] == "e2e-stream"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)

    with pytest.raises(openai.AuthenticationError) as refused:
        logged.client(api_key="sk-wrong").models.list()
    refused_id = refused.value.request_id
    assert refused_id and len(refused_id) == 36, refused_id

    with pytest.raises(openai.NotFoundError) as unknown:
        named.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert unknown.value.request_id

    found = access_lines(logged, since, 4)
    ids = [line["request_id"] for line in found]
    assert all(ids.count(request_id) == 1 for request_id in ids), ids  # one line per call
    lines = {line["request_id"]: line for line in found}
    assert set(lines) >= {generated, "e2e-stream", refused_id, unknown.value.request_id}, lines
    chat = lines[generated]
    assert chat["key"] == "team-a" and chat["status"] == 200 and chat["stream"] is False
    assert chat["model"] == "GigaChat" and chat["completion_tokens"] > 0
    stream = lines["e2e-stream"]
    assert stream["key"] == "key-2" and stream["stream"] is True and "ttft_ms" in stream
    assert lines[refused_id]["status"] == 401 and lines[refused_id]["error"] == "unauthorized"
    assert "key" not in lines[refused_id]
    missing = lines[unknown.value.request_id]
    assert missing["status"] == 404 and missing["error"] == "model_not_found"
    assert missing["model"] == "no-such-model"

    log = logged.process.log_text(since)
    assert API_KEY not in log and SECOND_KEY not in log


def test_an_unknown_route_has_an_id_and_a_line(logged):
    since = logged.process.log_size()
    with httpx.Client(base_url=logged.root_url, timeout=30, trust_env=False) as http:
        response = http.get("/v1/nowhere", headers={"Authorization": f"Bearer {API_KEY}", "X-Request-ID": "e2e-404"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "e2e-404"
    (line,) = [line for line in access_lines(logged, since, 1) if line["request_id"] == "e2e-404"]
    assert line["route"] == "other" and line["error"] == "route_not_found" and line["key"] == "team-a"
