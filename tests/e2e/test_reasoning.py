"""Reasoning with the real SDKs, on both GigaChat contracts (`GIGACHAT_API_VERSION` 1 and 2): the openai
SDK's chat with `reasoning_content` (streamed before the answer, `<think>` tags split out), Responses with a
`reasoning` item (valid against the spec, streamed as summary events, stored and continued), and the
Anthropic SDK with `thinking` blocks (whole, streamed, accumulated by `messages.stream`, sent back).

Emulator conventions (crates/emulator/README.md): reasoning is answered when asked for (v1
`reasoning_effort`/`reasoning_max_tokens`, v2 `model_options.reasoning`); a last user message with
`think-tags:` answers text that starts with `<think>…</think>`. GigaChat reports no reasoning token count,
so none is reported (0).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from anthropic_support import assert_message_stream, client as anthropic_client, raw_stream, strict_message, validated_events
from support import assert_response_stream, response_stream_events

MODEL = "GigaChat-2-Max"


@pytest.fixture(scope="module", params=["1", "2"], ids=["v1", "v2"])
def contract(request, adapters):
    """(contract, adapter): an adapter speaking GigaChat contract 1 or 2 to the emulator."""
    return request.param, adapters.start(GIGACHAT_API_VERSION=request.param)


def upstream_reasoning(emulator, version: str) -> list[Any]:
    """What each chat call asked GigaChat for, from v1 `reasoning_effort`/`reasoning_max_tokens` or v2
    `model_options.reasoning` (None when nothing was asked); every call went to contract `version`."""
    asked = []
    for call in emulator.chat_requests():
        body = call["json"]
        assert f"/v{version}/" in call["path"], f"contract {version} expected: {call['path']}"
        if version == "2":
            reasoning = (body.get("model_options") or {}).get("reasoning") or {}
            effort, budget = reasoning.get("effort"), reasoning.get("max_tokens")
        else:
            effort, budget = body.get("reasoning_effort"), body.get("reasoning_max_tokens")
        asked.append(None if effort is None and budget is None else {"effort": effort, "max_tokens": budget})
    return asked


def test_chat_streams_reasoning_content_before_the_answer(contract, emulator):
    version, adapter = contract
    sdk = adapter.client()
    stream = sdk.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Привет"}],
        reasoning_effort="medium",
        stream=True,
        stream_options={"include_usage": True},
    )
    order, reasoning, text, usage = [], "", "", None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            piece = (choice.delta.model_extra or {}).get("reasoning_content")
            if piece:
                reasoning += piece
                order.append("reasoning")
            if choice.delta.content:
                text += choice.delta.content
                order.append("content")
    assert reasoning.split() and text, (reasoning, text)
    assert order.index("content") > max(i for i, kind in enumerate(order) if kind == "reasoning"), order
    assert usage is not None and usage.completion_tokens_details.reasoning_tokens == 0
    assert upstream_reasoning(emulator, version) == [{"effort": "medium", "max_tokens": None}]


def test_chat_think_tags_become_reasoning_content(contract, validate):
    _, adapter = contract
    raw = adapter.client().chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "think-tags: сколько будет 2+2?"}]
    )
    body = json.loads(raw.text)
    validate("CreateChatCompletionResponse", body)
    message = body["choices"][0]["message"]
    assert "think>" not in message["content"] and message["content"].strip(), message
    assert message["reasoning_content"].split() and "think>" not in message["reasoning_content"], message

    streamed = adapter.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "think-tags: сколько будет 2+2?"}], stream=True
    )
    text = reasoning = ""
    for chunk in streamed:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
    assert (text, reasoning) == (message["content"], message["reasoning_content"])


def test_responses_answer_a_reasoning_item_streamed_and_stored(contract, emulator, validate):
    version, adapter = contract
    sdk = adapter.client()
    raw = sdk.responses.with_raw_response.create(model=MODEL, input="Привет", reasoning={"effort": "high"})
    body = json.loads(raw.text)
    validate("Response", body)
    response = raw.parse()
    reasoning, message = response.output[0], response.output[1]
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_"), response.output
    assert reasoning.summary[0].type == "summary_text" and reasoning.summary[0].text.split()
    assert message.type == "message" and response.output_text
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    assert upstream_reasoning(emulator, version) == [{"effort": "high", "max_tokens": None}]

    # Stored with its reasoning item; continuing it works (the reasoning is not sent back upstream).
    assert sdk.responses.retrieve(response.id).output[0].model_dump() == reasoning.model_dump()
    follow = sdk.responses.create(model=MODEL, previous_response_id=response.id, input="Ещё раз")
    assert follow.status == "completed" and follow.output[-1].type == "message"

    with sdk.responses.with_streaming_response.create(
        model=MODEL, input="Привет", reasoning={"effort": "high"}, stream=True
    ) as streamed:
        events = response_stream_events(b"".join(streamed.iter_bytes()))
    final = assert_response_stream(events, validate)
    kinds = [event["type"] for event in events]
    assert kinds[2:5] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
    ], kinds
    assert [item["type"] for item in final["output"]] == ["reasoning", "message"]

    # The SDK's own stream reader accumulates the same reasoning item.
    with sdk.responses.stream(model=MODEL, input="Привет", reasoning={"effort": "high"}) as stream:
        accumulated = stream.get_final_response()
    assert accumulated.output[0].type == "reasoning"
    assert accumulated.output[0].summary[0].text == final["output"][0]["summary"][0]["text"]


def test_anthropic_thinking_blocks_whole_streamed_and_sent_back(contract, emulator):
    version, adapter = contract
    sdk = anthropic_client(adapter)
    params: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "Привет"}],
    }
    raw = sdk.messages.with_raw_response.create(**params)
    message = strict_message(raw.http_response.content)
    thinking, text = message.content[0], message.content[1]
    assert thinking.type == "thinking" and thinking.thinking.split() and thinking.signature, message
    assert text.type == "text" and text.text, message
    assert upstream_reasoning(emulator, version)[0] == {"effort": "low", "max_tokens": 1024}

    _, body = raw_stream(sdk, **params)
    summary = assert_message_stream(validated_events(body))
    assert [block["type"] for block in summary["blocks"]] == ["thinking", "text"]
    assert summary["blocks"][0]["thinking"] == thinking.thinking
    assert summary["blocks"][0]["signature"] == thinking.signature

    with sdk.messages.stream(**params) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].thinking == thinking.thinking
    assert final.content[0].signature == thinking.signature

    # The thinking block (and a redacted one) sent back, as the SDK's docs tell clients to, is accepted.
    again = sdk.messages.create(
        model=MODEL,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[
            {"role": "user", "content": "Привет"},
            {"role": "assistant", "content": [thinking.model_dump(), {"type": "redacted_thinking", "data": "opaque"}, text.model_dump()]},
            {"role": "user", "content": "Ещё раз"},
        ],
    )
    assert again.content[0].type == "thinking" and again.stop_reason == "end_turn"

    disabled = sdk.messages.create(**{**params, "thinking": {"type": "disabled"}})
    assert [block.type for block in disabled.content] == ["text"]
