"""The Anthropic Messages API with Anthropic's own Python SDK: `messages.create` (system as a string and
as blocks, multi-turn), streams (raw events in order, the SDK's `messages.stream` helper), tool round
trips streamed and not, two tool calls in one turn, an image uploaded once and reused, a PDF document,
`count_tokens`, usage with cache reads, the models list, and errors (unknown model, bad key, GigaChat's
429, a stream cut after its first byte, malformed blocks).

Every body and event is validated with the SDK's pydantic types in strict mode, and no field the SDK
does not declare may appear (`anthropic_support.strict`). What went upstream is read from the emulator's
request log. The adapter serves `claude-*` through a wildcard alias (`anthropic_support.ALIASES`).
"""

from __future__ import annotations

import base64
import json
import uuid

import anthropic
import httpx
import pytest
from anthropic.types import MessageTokensCount, ModelInfo

from anthropic_support import (
    ALIASES,
    FAST_MODEL,
    FAST_MODEL_UPSTREAM,
    MODEL,
    MODEL_UPSTREAM,
    assert_message_stream,
    client,
    raw_stream,
    sse_events,
    strict,
    strict_error,
    strict_message,
    validated_events,
)
from support import API_KEY, pdf, png

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"],
    },
}
TIME = {
    "name": "get_time",
    "description": "Local time in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def claude_adapter(adapters):
    """An adapter serving `claude-*` as GigaChat-2-Max and `claude-haiku-4-5` (exact) as GigaChat."""
    return adapters.start(MODEL_ALIASES=ALIASES)


@pytest.fixture(scope="module")
def sdk(claude_adapter):
    sdk = client(claude_adapter)
    yield sdk
    sdk.close()


def create(sdk, **params):
    """`messages.create` through the SDK: the message it parsed (equal to the raw body validated
    strictly) and the HTTP response."""
    params.setdefault("model", MODEL)
    params.setdefault("max_tokens", 512)
    raw = sdk.messages.with_raw_response.create(**params)
    message = raw.parse()
    assert strict_message(raw.http_response.content).model_dump() == message.model_dump()
    return message, raw.http_response


def upstream(emulator) -> list[dict]:
    """The bodies of the chat calls the adapter made, oldest first."""
    return [call["json"] for call in emulator.chat_requests()]


def text_of(message) -> str:
    [block] = message.content
    assert block.type == "text", message
    return block.text


# --------------------------------------------------------------------------------------------
# Text


def test_create_with_a_system_string(sdk, emulator):
    message, response = create(sdk, system="Answer briefly.", messages=[{"role": "user", "content": "Привет!"}])
    assert text_of(message).strip(), message
    # Like every answer of the adapter, it names the GigaChat model (and version) that served it.
    assert message.id.startswith("msg_") and message.model.startswith(MODEL_UPSTREAM), message
    assert message.stop_reason == "end_turn" and message.stop_sequence is None, message
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0, message.usage
    # One request id, under Anthropic's header and the adapter's own, and the SDK reads it.
    assert response.headers["request-id"] == response.headers["x-request-id"] == message._request_id
    [body] = upstream(emulator)
    assert body["model"] == MODEL_UPSTREAM
    assert body["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Привет!"},
    ], body["messages"]


def test_system_blocks_and_a_multi_turn_history(sdk, emulator):
    system = [
        {"type": "text", "text": "You are a travel agent.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Answer in Russian."},
    ]
    messages = [
        {"role": "user", "content": "Куда поехать летом?"},
        {"role": "assistant", "content": [{"type": "text", "text": "В Казань."}]},
        {"role": "user", "content": [{"type": "text", "text": "А зимой?"}, {"type": "text", "text": "Коротко."}]},
    ]
    message, _ = create(sdk, system=system, messages=messages, model=FAST_MODEL)
    assert text_of(message).strip() and message.model.split(":")[0] == FAST_MODEL_UPSTREAM, message
    [body] = upstream(emulator)
    assert body["model"] == FAST_MODEL_UPSTREAM, "the exact alias wins over the wildcard"
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "user"], body["messages"]
    system_text = body["messages"][0]["content"]
    assert "You are a travel agent." in system_text and "Answer in Russian." in system_text, system_text
    assert body["messages"][2]["content"] == "В Казань."
    assert "А зимой?" in body["messages"][3]["content"] and "Коротко." in body["messages"][3]["content"]


def test_max_tokens_and_stop_sequences(sdk):
    messages = [{"role": "user", "content": "Расскажи о Волге"}]
    cut, _ = create(sdk, messages=messages, max_tokens=3)
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens <= 3, cut

    whole = text_of(create(sdk, messages=messages)[0])
    words = whole.split()
    assert len(words) > 3, whole
    stop = words[2]
    stopped, _ = create(sdk, messages=messages, stop_sequences=[stop])
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == stop, stopped
    assert stop not in text_of(stopped) and whole.startswith(text_of(stopped)), (text_of(stopped), whole)


def test_usage_reports_cache_reads_apart_from_input(sdk):
    """Anthropic counts `input_tokens` without the cache reads: a warm repeat (same `metadata.user_id`,
    GigaChat's session) reports the cached part as `cache_read_input_tokens`, and input + cache reads
    equal a cold call's input."""
    first = [{"role": "user", "content": "Say 'Hello' and nothing else"}]
    follow_up = first + [{"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Again"}]
    session = f"usage-{uuid.uuid4()}"
    create(sdk, messages=first, metadata={"user_id": session})
    warm, _ = create(sdk, messages=follow_up, metadata={"user_id": session})
    cold, _ = create(sdk, messages=follow_up, metadata={"user_id": f"other-{uuid.uuid4()}"})
    assert cold.usage.cache_read_input_tokens == 0, cold.usage
    assert warm.usage.cache_read_input_tokens > 0, warm.usage
    assert warm.usage.input_tokens + warm.usage.cache_read_input_tokens == cold.usage.input_tokens, (warm.usage, cold.usage)
    assert warm.usage.cache_creation_input_tokens == 0


# --------------------------------------------------------------------------------------------
# Streams


def test_stream_events_in_order_and_the_sdk_helper(sdk, emulator):
    params = dict(model=MODEL, max_tokens=512, system="Be brief.", messages=[{"role": "user", "content": "Как дела?"}])
    response, body = raw_stream(sdk, **params)
    assert response.headers["content-type"].startswith("text/event-stream"), response.headers
    assert response.headers["request-id"] == response.headers["x-request-id"]
    streamed = assert_message_stream(validated_events(body))
    [block] = streamed["blocks"]
    assert block["type"] == "text" and block["text"].strip(), streamed
    assert streamed["stop_reason"] == "end_turn" and streamed["output_tokens"] > 0, streamed
    # GigaChat counts the input at the end of its stream, so message_delta carries it.
    assert streamed["message"].model.startswith(MODEL_UPSTREAM) and streamed["usage"].input_tokens > 0, streamed
    [sent] = upstream(emulator)
    assert sent["stream"] is True and sent["model"] == MODEL_UPSTREAM

    # The SDK's own accumulator gets the same message from the same (deterministic) answer.
    with sdk.messages.stream(**params) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(deltas) == block["text"] == text_of(final)
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == streamed["output_tokens"]
    # The repeat may be served from GigaChat's prompt cache: reads move out of input_tokens.
    whole_input = final.usage.input_tokens + final.usage.cache_read_input_tokens
    assert whole_input == streamed["usage"].input_tokens + streamed["usage"].cache_read_input_tokens, final.usage
    strict_message(final.model_dump_json(exclude_unset=True))


def test_stream_stop_sequence_in_message_delta(sdk):
    messages = [{"role": "user", "content": "Расскажи о Волге"}]
    whole = text_of(create(sdk, messages=messages)[0])
    stop = whole.split()[2]
    _, body = raw_stream(sdk, model=MODEL, max_tokens=512, messages=messages, stop_sequences=[stop])
    streamed = assert_message_stream(validated_events(body))
    assert streamed["stop_reason"] == "stop_sequence" and streamed["stop_sequence"] == stop, streamed
    assert stop not in streamed["blocks"][0]["text"], streamed


# --------------------------------------------------------------------------------------------
# Tools


def tool_call_turn(prompt: str) -> list[dict]:
    return [{"role": "user", "content": prompt}]


def test_tool_round_trip(sdk, emulator):
    messages = tool_call_turn('Погода в Париже? call:get_weather args:{"city": "Paris"}')
    called, _ = create(sdk, messages=messages, tools=[WEATHER, TIME])
    assert called.stop_reason == "tool_use", called
    [use] = [block for block in called.content if block.type == "tool_use"]
    assert use.id.startswith("toolu_") and use.name == "get_weather" and use.input == {"city": "Paris"}, use
    [first] = upstream(emulator)
    assert [f["name"] for f in first["functions"]] == ["get_weather", "get_time"], first["functions"]

    emulator.clear_requests()
    history = messages + [
        {"role": "assistant", "content": [block.model_dump(exclude_unset=True) for block in called.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": '{"temperature": 21}'}]},
    ]
    answered, _ = create(sdk, messages=history, tools=[WEATHER, TIME])
    assert answered.stop_reason == "end_turn" and text_of(answered).strip(), answered
    [second] = upstream(emulator)
    call, result = second["messages"][-2:]
    assert call["role"] == "assistant" and call["function_call"] == {"name": "get_weather", "arguments": {"city": "Paris"}}, call
    assert result["role"] == "function" and result["name"] == "get_weather", result
    assert json.loads(result["content"]) == {"temperature": 21}, result


def test_tool_round_trip_streamed(sdk, emulator):
    messages = tool_call_turn('Время в Казани? call:get_time args:{"city": "Казань"}')
    _, body = raw_stream(sdk, model=MODEL, max_tokens=512, messages=messages, tools=[WEATHER, TIME])
    streamed = assert_message_stream(validated_events(body))
    assert streamed["stop_reason"] == "tool_use", streamed
    uses = [block for block in streamed["blocks"] if block["type"] == "tool_use"]
    assert [(u["name"], u["input"]) for u in uses] == [("get_time", {"city": "Казань"})], streamed

    with sdk.messages.stream(model=MODEL, max_tokens=512, messages=messages, tools=[WEATHER, TIME]) as stream:
        called = stream.get_final_message()
    [use] = [block for block in called.content if block.type == "tool_use"]
    assert use.name == "get_time" and use.input == {"city": "Казань"}, called

    history = messages + [
        {"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": [{"type": "text", "text": "12:00"}]}]},
    ]
    emulator.clear_requests()
    _, body = raw_stream(sdk, model=MODEL, max_tokens=512, messages=history, tools=[WEATHER, TIME])
    answered = assert_message_stream(validated_events(body))
    assert answered["stop_reason"] == "end_turn" and answered["blocks"][0]["text"].strip(), answered
    [sent] = upstream(emulator)
    result = sent["messages"][-1]
    assert result["role"] == "function" and result["name"] == "get_time", result
    assert json.loads(result["content"]) == {"result": "12:00"}, "a text result is wrapped as GigaChat wants"


def test_two_tool_calls_in_one_turn(sdk, emulator):
    """History with two tool_use blocks in one assistant turn and both results in the next user turn:
    each result follows its own call upstream, whatever order the results came in."""
    history = [
        {"role": "user", "content": "Погода в Москве и время в Казани?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Сейчас узнаю."},
                {"type": "tool_use", "id": "toolu_moscow", "name": "get_weather", "input": {"city": "Moscow"}},
                {"type": "tool_use", "id": "toolu_kazan", "name": "get_time", "input": {"city": "Kazan"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_kazan", "content": '{"time": "12:00"}'},
                {"type": "tool_result", "tool_use_id": "toolu_moscow", "content": '{"temperature": 5}', "is_error": False},
            ],
        },
    ]
    message, _ = create(sdk, messages=history, tools=[WEATHER, TIME])
    assert message.stop_reason == "end_turn" and text_of(message).strip(), message
    [body] = upstream(emulator)
    sent = body["messages"][1:]
    pairs = [(m["role"], (m.get("function_call") or {}).get("name") or m.get("name")) for m in sent]
    assert pairs == [
        ("assistant", "get_weather"),
        ("function", "get_weather"),
        ("assistant", "get_time"),
        ("function", "get_time"),
    ], sent
    assert json.loads(sent[1]["content"]) == {"temperature": 5} and json.loads(sent[3]["content"]) == {"time": "12:00"}, sent


def test_a_failed_tool_result_says_so(sdk, emulator):
    history = [
        {"role": "user", "content": "Погода?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "service down", "is_error": True}]},
    ]
    create(sdk, messages=history, tools=[WEATHER])
    [body] = upstream(emulator)
    result = body["messages"][-1]
    assert result["role"] == "function" and "service down" in result["content"], result
    assert "failed" in result["content"].lower(), result


def test_tool_choice_forces_or_forbids(sdk, emulator):
    messages = [{"role": "user", "content": "Что-нибудь"}]
    forced, _ = create(sdk, messages=messages, tools=[WEATHER, TIME], tool_choice={"type": "tool", "name": "get_time"})
    assert [b.name for b in forced.content if b.type == "tool_use"] == ["get_time"], forced
    assert forced.stop_reason == "tool_use"
    none, _ = create(sdk, messages=[{"role": "user", "content": "call:get_time"}], tools=[WEATHER, TIME], tool_choice={"type": "none"})
    assert none.stop_reason == "end_turn" and all(b.type == "text" for b in none.content), none
    forced_body, none_body = upstream(emulator)
    assert forced_body["function_call"] == {"name": "get_time"}, forced_body
    assert none_body.get("function_call") == "none" or not none_body.get("functions"), none_body


def test_server_tools_are_left_out_not_refused(sdk, emulator):
    tools = [WEATHER, {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]
    message, response = create(sdk, messages=[{"role": "user", "content": "Новости?"}], tools=tools)
    assert text_of(message).strip(), message
    assert "web_search" in response.headers.get("x-gigachat-adapter-dropped-tools", ""), dict(response.headers)
    [body] = upstream(emulator)
    assert [f["name"] for f in body["functions"]] == ["get_weather"], body["functions"]


# --------------------------------------------------------------------------------------------
# Images and documents


def image_block(content: bytes) -> dict:
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(content).decode()}}


def test_an_image_is_uploaded_once_and_reused(sdk, emulator):
    image = png(uuid.uuid4().hex)
    turn = [{"role": "user", "content": [image_block(image), {"type": "text", "text": "Что на картинке?"}]}]
    assert text_of(create(sdk, messages=turn)[0]).strip()
    uploads = emulator.file_uploads()
    assert len(uploads) == 1 and uploads[0]["content_type"] == "image/png" and uploads[0]["content"] == image, uploads
    [first] = upstream(emulator)
    attached = [m["attachments"] for m in first["messages"] if m.get("attachments")]
    assert len(attached) == 1 and len(attached[0]) == 1, first["messages"]

    emulator.clear_requests()
    repeat = turn + [{"role": "assistant", "content": "Узор."}, {"role": "user", "content": [image_block(image), {"type": "text", "text": "А цвет?"}]}]
    assert text_of(create(sdk, messages=repeat)[0]).strip()
    assert emulator.file_uploads() == [], "the same image was uploaded again"
    [second] = upstream(emulator)
    again = [m["attachments"] for m in second["messages"] if m.get("attachments")]
    assert again and all(ids == attached[0] for ids in again), f"the uploaded file id was not reused: {again} vs {attached}"


def test_a_pdf_document_is_uploaded_as_pdf(sdk, emulator):
    document = pdf(f"Quarterly report {uuid.uuid4().hex}")
    block = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(document).decode()},
        "title": "report",
    }
    message, _ = create(sdk, messages=[{"role": "user", "content": [block, {"type": "text", "text": "Перескажи"}]}])
    assert text_of(message).strip()
    [upload] = emulator.file_uploads()
    assert upload["content_type"] == "application/pdf" and upload["content"] == document, upload
    [body] = upstream(emulator)
    assert [len(m["attachments"]) for m in body["messages"] if m.get("attachments")] == [1], body["messages"]


def test_a_plain_text_document_becomes_text(sdk, emulator):
    block = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Пароль дня: сирень."}}
    create(sdk, messages=[{"role": "user", "content": [block, {"type": "text", "text": "Какой пароль?"}]}])
    [body] = upstream(emulator)
    assert "Пароль дня: сирень." in body["messages"][-1]["content"] and not emulator.file_uploads(), body["messages"]


# --------------------------------------------------------------------------------------------
# count_tokens and models


def test_count_tokens(sdk, emulator):
    raw = sdk.messages.with_raw_response.count_tokens(
        model=MODEL, system="Be brief.", messages=[{"role": "user", "content": "Hello, world!"}], tools=[WEATHER]
    )
    counted = strict(MessageTokensCount, raw.http_response.content)
    assert counted.input_tokens > 4, counted
    longer = sdk.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Hello, world! " * 20}])
    assert longer.input_tokens > sdk.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Hello, world!"}]).input_tokens
    assert emulator.chat_requests() == [], "count_tokens must not run a chat"
    counted_upstream = [r for r in emulator.requests() if r["path"].endswith("/tokens/count")]
    assert counted_upstream, "count_tokens went through GigaChat's token counter"


def test_models_in_anthropic_shape(sdk):
    raw = sdk.models.with_raw_response.list()
    page = json.loads(raw.http_response.content)
    assert page["data"] and isinstance(page["has_more"], bool), page
    assert page["first_id"] == page["data"][0]["id"] and page["last_id"] == page["data"][-1]["id"], page
    for item in page["data"]:
        strict(ModelInfo, json.dumps(item))
    ids = [model.id for model in sdk.models.list()]
    assert "GigaChat-2-Max" in ids, ids
    one = sdk.models.with_raw_response.retrieve("GigaChat-2-Max")
    assert strict(ModelInfo, one.http_response.content).id == "GigaChat-2-Max"


def test_head_and_get_root_answer_without_a_key(claude_adapter):
    with httpx.Client(base_url=claude_adapter.root_url, timeout=10, trust_env=False) as http:
        assert http.head("/").status_code == 200
        assert http.get("/").status_code == 200


# --------------------------------------------------------------------------------------------
# Errors


def test_unknown_model_is_not_found(sdk):
    with pytest.raises(anthropic.NotFoundError) as caught:
        sdk.messages.create(model="no-such-model", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    strict_error(caught.value.response.content, "not_found_error")
    assert "no-such-model" in caught.value.message


@pytest.mark.parametrize("credential", ["api_key", "auth_token"])
def test_a_bad_key_is_an_authentication_error(claude_adapter, credential):
    """`x-api-key` (what `ANTHROPIC_API_KEY` sends) and `Authorization: Bearer` (`ANTHROPIC_AUTH_TOKEN`)."""
    bad = anthropic.Anthropic(base_url=claude_adapter.root_url, max_retries=0, timeout=30, **{credential: "wrong-key"})
    with pytest.raises(anthropic.AuthenticationError) as caught:
        bad.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    strict_error(caught.value.response.content, "authentication_error")
    good = anthropic.Anthropic(base_url=claude_adapter.root_url, max_retries=0, timeout=30, **{credential: API_KEY})
    assert good.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}]).content


def test_gigachat_429_is_a_rate_limit_error(sdk, emulator):
    emulator.chat_fault("status", status=429, retry_after_ms=3000)
    with pytest.raises(anthropic.RateLimitError) as caught:
        sdk.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    strict_error(caught.value.response.content, "rate_limit_error")
    assert int(caught.value.response.headers["retry-after"]) >= 1, dict(caught.value.response.headers)


def test_gigachat_5xx_is_an_api_error(sdk, emulator):
    emulator.chat_fault("status", status=500)
    with pytest.raises(anthropic.InternalServerError) as caught:
        sdk.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    envelope = json.loads(caught.value.response.content)
    strict_error(caught.value.response.content, envelope["error"]["type"])
    assert envelope["error"]["type"] in ("api_error", "overloaded_error"), envelope


def test_a_stream_cut_after_its_first_byte_ends_with_an_error_event(sdk, emulator):
    emulator.chat_fault("cut_stream_after", events=2)
    _, body = raw_stream(sdk, model=MODEL, max_tokens=512, messages=[{"role": "user", "content": "Расскажи о Волге"}])
    events = [(name, json.loads(data)) for name, data in sse_events(body)]
    assert events[0][0] == "message_start", events
    name, last = events[-1]
    assert name == "error" and last["type"] == "error" and last["error"]["message"].strip(), events[-1]
    assert "message_stop" not in [n for n, _ in events], events
    # The SDK raises it rather than ending the message quietly.
    emulator.chat_fault("cut_stream_after", events=2)
    with pytest.raises(anthropic.APIStatusError):
        with sdk.messages.stream(model=MODEL, max_tokens=512, messages=[{"role": "user", "content": "Расскажи о Волге"}]) as stream:
            stream.until_done()


def test_missing_max_tokens_and_a_malformed_block_are_400_naming_the_path(claude_adapter, emulator):
    headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=claude_adapter.root_url, timeout=10, trust_env=False) as http:
        missing = http.post("/v1/messages", headers=headers, json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
        assert missing.status_code == 400, missing.text
        assert "max_tokens" in strict_error(missing.content, "invalid_request_error").error.message
        broken = http.post(
            "/v1/messages?beta=true",
            headers={**headers, "anthropic-beta": "no-such-beta-2099-01-01"},
            json={"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64"}}]}]},
        )
        assert broken.status_code == 400, broken.text
        assert "messages[0].content[0]" in strict_error(broken.content, "invalid_request_error").error.message
    assert emulator.chat_requests() == [], "GigaChat was called for a bad request"
