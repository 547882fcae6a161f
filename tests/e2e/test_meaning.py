"""Requests whose meaning the adapter used to change silently (answered 200 after ignoring part of
what the client sent) are refused with a 400 naming the parameter, through the `openai` SDK and raw
HTTP against the release binaries; unknown *fields* are still ignored. GigaChat is never called for
a refused request."""

from __future__ import annotations

import openai
import pytest

from support import assert_error_envelope

MODEL = "GigaChat"
MESSAGES = [{"role": "user", "content": "Привет"}]


def upstream_calls(emulator) -> int:
    """How many calls reached GigaChat's API listener (chat, embeddings, token counting)."""
    return sum(1 for request in emulator.requests() if request["listener"] == "api")


def bad_request(call) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    return caught.value


def error_param(error: openai.BadRequestError) -> str | None:
    return error.body.get("param") if isinstance(error.body, dict) else None


def tool(name: str, parameters) -> dict:
    return {"type": "function", "function": {"name": name, "description": "A tool", "parameters": parameters}}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/tokens/count"])
@pytest.mark.parametrize("garbage", [b" x", b"{}", b"]", b'{"model": "other"}'])
def test_trailing_bytes_after_the_body_are_refused_on_every_route(http, auth, validate, emulator, path, garbage):
    body = {
        "/v1/chat/completions": b'{"model": "GigaChat", "messages": [{"role": "user", "content": "hi"}]}',
        "/v1/completions": b'{"model": "GigaChat", "prompt": "hi"}',
        "/v1/embeddings": b'{"model": "Embeddings", "input": "hi"}',
        "/v1/tokens/count": b'{"model": "GigaChat", "input": "hi"}',
    }[path]
    before = upstream_calls(emulator)
    response = http.post(path, headers={**auth, "content-type": "application/json"}, content=body + garbage)
    error = assert_error_envelope(validate, response, status=400)
    assert upstream_calls(emulator) == before, "GigaChat was called for a refused request"
    assert "trailing" in error["message"], error
    assert error["type"] == "invalid_request_error", error
    # Whitespace after the body is still fine.
    ok = http.post(path, headers={**auth, "content-type": "application/json"}, content=body + b"\r\n\t ")
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    "parameters",
    ['{"type": "object", "properties": {"city": {"type": "string"}}}', [{"type": "object"}], {"type": "string"}, {"type": "array", "items": {"type": "object"}}, 7],
    ids=["string", "array", "string-schema", "array-schema", "number"],
)
def test_tool_parameters_that_are_not_an_object_schema_are_refused(client, emulator, parameters):
    before = len(emulator.chat_requests())
    error = bad_request(lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=[tool("first", {"type": "object", "properties": {}}), tool("second", parameters)]))
    assert error_param(error) == "tools[1].function.parameters", error.body
    assert len(emulator.chat_requests()) == before, "GigaChat was called for a refused request"


def test_legacy_function_parameters_are_named_too(client, emulator):
    before = upstream_calls(emulator)
    error = bad_request(lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES, functions=[{"name": "f", "parameters": "object"}]))
    assert error_param(error) == "functions[0].parameters", error.body
    assert upstream_calls(emulator) == before, "GigaChat was called for a refused request"


@pytest.mark.parametrize("schema", [{"type": "string"}, {"type": "array", "items": {"type": "string"}}, "object"], ids=["string-schema", "array-schema", "string"])
def test_response_format_schema_that_is_not_an_object_schema_is_refused(client, emulator, schema):
    before = upstream_calls(emulator)
    error = bad_request(
        lambda: client.chat.completions.create(
            model=MODEL, messages=MESSAGES, response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
        )
    )
    assert error_param(error) == "response_format.json_schema.schema", error.body
    assert upstream_calls(emulator) == before, "GigaChat was called for a refused request"


def test_unknown_content_part_type_is_refused(client, emulator):
    content = [{"type": "text", "text": "Describe this"}, {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}}]
    before = upstream_calls(emulator)
    error = bad_request(lambda: client.chat.completions.create(model=MODEL, messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}]))
    assert error_param(error) == "messages[1].content[1].type", error.body
    assert "video_url" in error.message, error.message
    assert upstream_calls(emulator) == before, "GigaChat was called for a refused request"


def test_empty_content_parts_list_is_refused(client, emulator):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": []}]
    before = upstream_calls(emulator)
    error = bad_request(lambda: client.chat.completions.create(model=MODEL, messages=messages))
    assert error_param(error) == "messages[2].content", error.body
    assert upstream_calls(emulator) == before, "GigaChat was called for a refused request"


def test_unknown_fields_are_still_ignored(client):
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}], "x_note": 1}],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}, "x_extra": True}}],
        extra_body={"brand_new_option": {"a": 1}},
    )
    assert completion.choices[0].message.role == "assistant"
