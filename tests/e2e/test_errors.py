"""Errors: each status maps to the exception class the `openai` SDK raises, with a schema-valid
OpenAI envelope that never leaks upstream URLs or HTML. Upstream failures are injected through the
emulator's `/_emulator/faults` API (one-shot, chat calls only; the adapter runs with
GIGACHAT_MAX_RETRIES=0 so the client sees the first upstream answer)."""

from __future__ import annotations

import json
import subprocess

import httpx
import openai
import pytest

from conftest import binary
from support import assert_error_envelope, free_port, sse_events

MODEL = "GigaChat"
MESSAGES = [{"role": "user", "content": "Привет"}]


def chat(client, **kwargs):
    return client.chat.completions.create(model=MODEL, messages=MESSAGES, **kwargs)


@pytest.fixture(scope="module")
def slow_adapter(adapters):
    """An adapter whose GigaChat calls time out after 1 s."""
    return adapters.start(GIGACHAT_TIMEOUT="1")


# ---------------------------------------------------------------------------------------------
# Client mistakes


def test_bad_key_is_authentication_error(adapter, validate):
    with pytest.raises(openai.AuthenticationError) as caught:
        chat(adapter.client(api_key="wrong-key"))
    assert_error_envelope(validate, caught.value, status=401, code="invalid_api_key")


def test_body_too_large_is_413_in_the_sdk(adapters, validate):
    """A body past MAX_REQUEST_BYTES: 413 `request_too_large`, which the SDK raises as APIStatusError."""
    small = adapters.start(MAX_REQUEST_BYTES="2048")
    with pytest.raises(openai.APIStatusError) as caught:
        small.client().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "я" * 4096}])
    assert caught.value.status_code == 413
    assert_error_envelope(validate, caught.value, status=413, code="request_too_large")


def test_no_keys_refuses_to_start_unless_unauthenticated_access_is_allowed(adapters, tmp_path):
    env = adapters.env(free_port(), {"BEARER_TOKEN": "", "DATA_DIR": str(tmp_path / "data")})
    refused = subprocess.run(
        [str(binary("gigachat-adapter"))], env=env, capture_output=True, text=True, timeout=30
    )
    assert refused.returncode != 0
    assert "BEARER_TOKEN" in refused.stderr and "ALLOW_UNAUTHENTICATED" in refused.stderr, refused.stderr
    open_adapter = adapters.start(BEARER_TOKEN="", ALLOW_UNAUTHENTICATED="true")
    with httpx.Client(timeout=30, trust_env=False) as http:
        response = http.get(f"{open_adapter.base_url}/models")
    assert response.status_code == 200, response.text
    open_adapter.process.stop()


def test_missing_key_is_401(http, validate):
    response = http.post("/v1/chat/completions", json={"model": MODEL, "messages": MESSAGES})
    assert_error_envelope(validate, response, status=401, code="invalid_api_key")


def test_bad_x_api_key_is_401(http, validate):
    response = http.post(
        "/v1/chat/completions", headers={"x-api-key": "wrong-key"}, json={"model": MODEL, "messages": MESSAGES}
    )
    assert_error_envelope(validate, response, status=401, code="invalid_api_key")


def test_malformed_json_is_400_naming_the_problem(http, auth, validate):
    response = http.post(
        "/v1/chat/completions",
        headers={**auth, "content-type": "application/json"},
        content=b'{"model": "GigaChat", "messages": [',
    )
    error = assert_error_envelope(validate, response, status=400)
    assert "json" in error["message"].lower(), error
    assert error["type"] == "invalid_request_error", error


def test_missing_messages_is_bad_request(http, auth, validate):
    response = http.post("/v1/chat/completions", headers=auth, json={"model": MODEL})
    error = assert_error_envelope(validate, response, status=400)
    assert "messages" in error["message"], error


def test_unknown_model_is_not_found_model_not_found(client, validate):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert caught.value.code == "model_not_found"
    assert_error_envelope(validate, caught.value, status=404, code="model_not_found")


# ---------------------------------------------------------------------------------------------
# Upstream failures (non-streaming)


def test_upstream_429_is_rate_limit_error_with_retry_after(client, emulator, validate):
    emulator.chat_fault("status", status=429, retry_after_ms=3000)
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client)
    assert_error_envelope(validate, caught.value, status=429)
    retry_after = caught.value.response.headers.get("retry-after")
    assert retry_after is not None, f"no retry-after; headers: {dict(caught.value.response.headers)}"
    assert int(retry_after) >= 1


def test_upstream_402_is_rate_limit_insufficient_quota(client, emulator, validate):
    emulator.chat_fault("status", status=402)
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client)
    assert caught.value.code == "insufficient_quota"
    assert_error_envelope(validate, caught.value, status=429, code="insufficient_quota")


def test_upstream_500_is_502_without_upstream_details(client, emulator, validate):
    emulator.chat_fault("status", status=500)
    with pytest.raises(openai.InternalServerError) as caught:
        chat(client)
    assert_error_envelope(validate, caught.value, status=502)


def test_upstream_502_html_is_502_without_html(client, emulator, validate):
    emulator.chat_fault("bad_gateway_html")
    with pytest.raises(openai.InternalServerError) as caught:
        chat(client)
    assert_error_envelope(validate, caught.value, status=502)


def test_upstream_503_is_502(client, emulator, validate):
    emulator.chat_fault("status", status=503)
    with pytest.raises(openai.InternalServerError) as caught:
        chat(client)
    assert_error_envelope(validate, caught.value, status=502)


def test_upstream_413_is_400_context_length_exceeded(client, emulator, validate):
    emulator.chat_fault("status", status=413)
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client)
    assert_error_envelope(validate, caught.value, status=400, code="context_length_exceeded")


def test_upstream_slow_first_byte_beyond_timeout_is_504(slow_adapter, emulator, validate):
    emulator.chat_fault("slow_first_byte", delay_ms=4000)
    with pytest.raises(openai.InternalServerError) as caught:
        chat(slow_adapter.client())
    assert_error_envelope(validate, caught.value, status=504)


def test_upstream_auth_failure_is_502_never_401(adapter, emulator, validate):
    """GigaChat rejecting our credentials is not the client's fault."""
    emulator.revoke_tokens()
    emulator.fault("oauth_status", status=401, times=10)
    with pytest.raises(openai.APIStatusError) as caught:
        chat(adapter.client())
    assert not isinstance(caught.value, openai.AuthenticationError), "upstream auth failure surfaced as 401"
    assert_error_envelope(validate, caught.value, status=502)
    emulator.clear_faults()
    assert chat(adapter.client()).choices[0].message.content, "adapter did not recover once OAuth works again"


# ---------------------------------------------------------------------------------------------
# Streams: the status is decided before the first byte; a failure after it is an error event


def test_stream_upstream_429_fails_before_first_byte(client, emulator, validate):
    emulator.chat_fault("status", status=429, retry_after_ms=1000)
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client, stream=True)
    assert_error_envelope(validate, caught.value, status=429)


def test_stream_upstream_500_fails_before_first_byte(http, auth, emulator, validate):
    emulator.chat_fault("status", status=500)
    response = http.post("/v1/chat/completions", headers=auth, json={"model": MODEL, "messages": MESSAGES, "stream": True})
    assert_error_envelope(validate, response, status=502)


def test_stream_slow_first_byte_beyond_timeout_is_504(slow_adapter, emulator, validate):
    emulator.chat_fault("slow_first_byte", delay_ms=4000)
    with pytest.raises(openai.InternalServerError) as caught:
        chat(slow_adapter.client(), stream=True)
    assert_error_envelope(validate, caught.value, status=504)


def test_stream_cut_after_headers_ends_with_error_event(http, auth, emulator, validate):
    emulator.chat_fault("cut_stream_after", events=2)
    with http.stream(
        "POST", "/v1/chat/completions", headers=auth, json={"model": MODEL, "messages": MESSAGES, "stream": True}
    ) as response:
        raw = response.read()
    assert response.status_code == 200
    payloads = sse_events(raw)
    assert "[DONE]" not in payloads, "a cut stream must not look complete"
    last = json.loads(payloads[-1])
    assert "error" in last, f"last event is not an error: {last}"
    validate("ErrorResponse", last)


def test_stream_cut_after_headers_raises_api_error_in_sdk(client, emulator):
    emulator.chat_fault("cut_stream_after", events=2)
    stream = chat(client, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
