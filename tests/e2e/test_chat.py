"""Chat completions through the official `openai` SDK and raw HTTP, checked against the OpenAI wire rules.

The emulator's answers are deterministic for a given message list, so the same prompt gives the same
text streamed or not, which lets `stop` be checked against a reference answer.
"""

from __future__ import annotations

import json

import pytest

from support import CYRILLIC, ESCAPED_CYRILLIC, sse_json_chunks

MODEL = "GigaChat"
MESSAGES = [{"role": "user", "content": "Привет! Расскажи коротко о себе."}]


def post_stream(http, auth, body: dict) -> tuple[object, bytes]:
    """POSTs a streaming chat request and returns (response, raw body bytes)."""
    with http.stream("POST", "/v1/chat/completions", headers=auth, json={"stream": True, **body}) as response:
        raw = response.read()
    assert response.status_code == 200, raw[:500]
    return response, raw


def content_chunks(chunks: list[dict]) -> list[dict]:
    return [c for c in chunks if c["choices"]]


def streamed_text(chunks: list[dict], index: int = 0) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for chunk in chunks
        for choice in chunk["choices"]
        if choice["index"] == index
    )


@pytest.fixture(scope="module")
def reference_text(client) -> str:
    """The non-streamed answer to MESSAGES (deterministic)."""
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    text = completion.choices[0].message.content
    assert text and " " in text
    return text


@pytest.fixture(scope="module")
def usage_stream(http, auth):
    """One stream with `stream_options.include_usage`, as Open WebUI always sends it."""
    response, raw = post_stream(
        http, auth, {"model": MODEL, "messages": MESSAGES, "stream_options": {"include_usage": True}}
    )
    return response, raw, sse_json_chunks(raw)


# ---------------------------------------------------------------------------------------------
# Non-streaming


def test_non_stream_returns_string_content_stop_and_usage(contract_client):
    completion = contract_client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-"), completion.id
    assert isinstance(completion.created, int) and completion.created > 0
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content.strip()
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_non_stream_raw_json_is_schema_valid(http, auth, validate):
    response = http.post("/v1/chat/completions", headers=auth, json={"model": MODEL, "messages": MESSAGES})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    validate("CreateChatCompletionResponse", body)
    assert body["choices"][0]["message"]["refusal"] is None
    assert body["choices"][0]["logprobs"] is None


def test_non_stream_sends_cyrillic_as_raw_utf8(http, auth):
    response = http.post("/v1/chat/completions", headers=auth, json={"model": MODEL, "messages": MESSAGES})
    assert response.status_code == 200
    assert CYRILLIC.search(response.content.decode("utf-8")), "answer has no Cyrillic to check"
    assert not ESCAPED_CYRILLIC.search(response.content), "Cyrillic sent as \\u escapes"


def test_openai_only_fields_are_accepted_and_ignored(contract_client):
    """What Open WebUI, LangChain and agents send besides messages must not cause a 4xx."""
    completion = contract_client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "developer", "content": "Be brief."}, *MESSAGES],
        max_completion_tokens=512,
        user="user-1",
        metadata={"k": "v"},
        store=False,
        seed=7,
        parallel_tool_calls=True,
        reasoning_effort="low",
        extra_body={"some_future_field": {"x": 1}, "prompt_cache_key": "k"},
    )
    assert completion.choices[0].message.content


# ---------------------------------------------------------------------------------------------
# Streaming with include_usage


def test_stream_headers(usage_stream):
    response, _, _ = usage_stream
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "no-cache" in response.headers.get("cache-control", "")
    assert response.headers.get("x-accel-buffering") == "no"


def test_stream_every_raw_chunk_is_schema_valid(usage_stream, validate):
    _, _, chunks = usage_stream
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
        assert chunk["object"] == "chat.completion.chunk"


def test_stream_has_exactly_one_role_chunk_and_it_is_first(usage_stream):
    _, _, chunks = usage_stream
    first = chunks[0]["choices"][0]
    assert first["index"] == 0
    assert first["delta"].get("role") == "assistant", chunks[0]
    roles = [c for c in chunks for ch in c["choices"] if "role" in ch["delta"]]
    assert len(roles) == 1, f"{len(roles)} chunks carry a role"


def test_stream_chunks_share_id_created_and_model(usage_stream):
    _, _, chunks = usage_stream
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    assert {c["created"] for c in chunks} == {chunks[0]["created"]}
    assert {c["model"] for c in chunks} == {chunks[0]["model"]}
    assert chunks[0]["id"].startswith("chatcmpl-")


def test_stream_finish_reason_only_on_last_choice_chunk(usage_stream):
    _, _, chunks = usage_stream
    with_choices = content_chunks(chunks)
    reasons = [c["choices"][0]["finish_reason"] for c in with_choices]
    assert reasons[-1] == "stop", reasons
    assert all(r is None for r in reasons[:-1]), reasons


def test_stream_usage_chunk_comes_last_with_empty_choices(usage_stream):
    _, _, chunks = usage_stream
    *body, last = chunks
    assert last["choices"] == []
    usage = last["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    for chunk in body:
        assert "usage" in chunk and chunk["usage"] is None, f"chunk before the last must have usage: null: {chunk}"
        assert chunk["choices"], "only the usage chunk may have empty choices"


def test_stream_sends_cyrillic_as_raw_utf8(usage_stream):
    _, raw, chunks = usage_stream
    assert CYRILLIC.search(streamed_text(chunks)), "answer has no Cyrillic to check"
    assert not ESCAPED_CYRILLIC.search(raw), "Cyrillic sent as \\u escapes"


def test_stream_text_equals_non_stream_text(usage_stream, reference_text):
    _, _, chunks = usage_stream
    assert streamed_text(chunks) == reference_text


def test_stream_sdk_accumulator_builds_final_completion(contract_client):
    with contract_client.chat.completions.stream(
        model=MODEL, messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None and final.usage.total_tokens > 0


def test_stream_without_include_usage_has_no_usage_key(contract_http, auth, validate):
    _, raw = post_stream(contract_http, auth, {"model": MODEL, "messages": MESSAGES})
    chunks = sse_json_chunks(raw)
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
        assert "usage" not in chunk, f"usage sent without being asked: {chunk}"
        assert chunk["choices"], "empty choices without include_usage"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


# ---------------------------------------------------------------------------------------------
# stop and n


def stop_for(text: str) -> tuple[str, str]:
    """A stop sequence from the middle of `text` (a space plus a word) and the text it must leave."""
    words = text.split(" ")
    stop = " " + words[len(words) // 2]
    return stop, text[: text.index(stop)]


def test_stop_cuts_non_stream_text(client, reference_text):
    stop, expected = stop_for(reference_text)
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES, stop=[stop])
    assert completion.choices[0].message.content == expected, f"stop={stop!r}"
    assert completion.choices[0].finish_reason == "stop"


def test_stop_cuts_stream_text(http, auth, reference_text, validate):
    stop, expected = stop_for(reference_text)
    _, raw = post_stream(http, auth, {"model": MODEL, "messages": MESSAGES, "stop": stop})
    chunks = sse_json_chunks(raw)
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    assert streamed_text(chunks) == expected, f"stop={stop!r}"
    reasons = [c["choices"][0]["finish_reason"] for c in content_chunks(chunks)]
    assert reasons[-1] == "stop" and all(r is None for r in reasons[:-1]), reasons


def test_n2_returns_choices_0_and_1(client):
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES, n=2)
    assert [c.index for c in completion.choices] == [0, 1]
    for choice in completion.choices:
        assert choice.message.content and choice.finish_reason == "stop"


def test_n2_stream_interleaves_both_indexes_each_with_its_own_finish(contract_http, auth, validate):
    _, raw = post_stream(contract_http, auth, {"model": MODEL, "messages": MESSAGES, "n": 2})
    chunks = sse_json_chunks(raw)
    per_index: dict[int, list[dict]] = {}
    order: list[int] = []
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
        for choice in chunk["choices"]:
            per_index.setdefault(choice["index"], []).append(choice)
            order.append(choice["index"])
    assert sorted(per_index) == [0, 1], f"indexes seen: {sorted(per_index)}"
    assert order.index(1) < len(order) - 1 - order[::-1].index(0), f"choices not interleaved: {order}"
    for index, choices in per_index.items():
        assert choices[0]["delta"].get("role") == "assistant", f"choice {index} does not start with its role"
        reasons = [c["finish_reason"] for c in choices]
        assert reasons[-1] == "stop" and all(r is None for r in reasons[:-1]), f"choice {index}: {reasons}"
        assert streamed_text(chunks, index), f"choice {index} has no text"
    assert len({c["id"] for c in chunks}) == 1


# ---------------------------------------------------------------------------------------------
# Headers, aliases, paths, keys


def test_chat_reaches_the_contracts_gigachat_path(contract_client, contract, emulator):
    """`GIGACHAT_API_VERSION` picks the upstream chat path: `/v1/chat/completions` or, on 2,
    `/v2/chat/completions` with v2's content parts."""
    contract_client.chat.completions.create(model=MODEL, messages=MESSAGES)
    (sent,) = emulator.chat_requests()
    if contract == "1":
        assert sent["path"].endswith("/v1/chat/completions"), sent["path"]
        assert sent["json"]["messages"] == MESSAGES
    else:
        assert sent["path"].endswith("/v2/chat/completions"), sent["path"]
        assert sent["json"]["messages"] == [{"role": "user", "content": [{"text": MESSAGES[0]["content"]}]}]


def test_with_raw_response_exposes_x_request_id(client):
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    request_id = raw.headers.get("x-request-id")
    assert request_id, f"no x-request-id; headers: {dict(raw.headers)}"
    completion = raw.parse()
    assert completion._request_id == request_id
    assert completion.choices[0].message.content


def test_alias_gpt_4o_is_served_by_gigachat_2_max(client, emulator):
    completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert completion.choices[0].message.content
    sent = [r["json"]["model"] for r in emulator.chat_requests()]
    assert sent == ["GigaChat-2-Max"], f"models sent upstream: {sent}"


def test_root_path_without_v1_serves_chat_and_models(adapter):
    client = adapter.client(base_url=adapter.root_url)
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert completion.choices[0].message.content
    assert any(m.id == MODEL for m in client.models.list())


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "test-key"},
        {"api-key": "test-key"},
        {"Authorization": "Bearer second-key"},
    ],
    ids=["x-api-key", "api-key", "second-bearer-key"],
)
def test_key_header_variants_authenticate(http, headers):
    response = http.post("/v1/chat/completions", headers=headers, json={"model": MODEL, "messages": MESSAGES})
    assert response.status_code == 200, response.text
    assert json.loads(response.content)["choices"][0]["message"]["content"]
