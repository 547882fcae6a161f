"""Parallel tool calls on GigaChat's v2 contract (`GIGACHAT_API_VERSION=2`) with real clients: the
`openai` SDK's chat (whole and streamed, with the results sent back), `tool_choice="required"`, the
Responses API's parallel `function_call` items (whole and streamed), Anthropic's SDK with parallel
`tool_use` blocks (whole and streamed), and langchain-openai's `bind_tools(..., parallel_tool_calls=True)`.

Every body and event is validated against the OpenAI description (`validate`) or strictly with the
Anthropic SDK's own types; what went upstream is read from the emulator's request log: v2 bodies,
where the calls GigaChat made together go back in one assistant message and each result names the
call it answers (`function_result.id`).

Emulator: with `model_options.parallel_tool_calls: true`, every `call:F args:{…}` marker of the last
user message becomes one `function_call` part of one answer, each with its own id
(crates/emulator/README.md "Parallel calls").
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI

from anthropic_support import assert_message_stream, client as anthropic_client, raw_stream, strict_message, validated_events
from support import API_KEY, assert_response_stream, response_stream_events
from test_tools_sdk import TIME, WEATHER, ToolBox, create_turn, stream_turn_by_hand, stream_turn_with_helper

MODEL = "GigaChat"
TOOLS = [WEATHER, TIME]
BOTH = 'Weather and time in Kazan? call:get_weather args:{"city": "Kazan"} call:get_time args:{"city": "Kazan"}'
BOTH_CALLS = [("get_weather", {"city": "Kazan"}), ("get_time", {"city": "Kazan"})]


@pytest.fixture(scope="module")
def v2(adapters):
    """An adapter speaking GigaChat's v2 contract."""
    return adapters.start(GIGACHAT_API_VERSION="2")


@pytest.fixture(scope="module")
def v2_client(v2):
    client = v2.client()
    yield client
    client.close()


def v2_bodies(emulator) -> list[dict[str, Any]]:
    """The v2 chat bodies the adapter sent, oldest first."""
    return [r["json"] for r in emulator.chat_requests() if r["path"].endswith("/v2/chat/completions")]


def assert_sent_back_together(body: dict[str, Any], results: dict[str, Any]) -> None:
    """The v2 request holds both calls in one assistant message (GigaChat's ids, one state id),
    followed by `tool` messages whose results name those ids; `results` maps name → result object."""
    messages = body["messages"]
    [assistant] = [m for m in messages if m["role"] == "assistant"]
    calls = [part["function_call"] for part in assistant["content"] if "function_call" in part]
    assert [(c["name"], c["arguments"]) for c in calls] == BOTH_CALLS, assistant
    ids = {c["name"]: c["id"] for c in calls}
    assert len(set(ids.values())) == 2 and all(ids.values()), ids
    state = assistant["tools_state_id"]
    assert state, assistant
    answered = {}
    for message in messages[messages.index(assistant) + 1 :]:
        assert message["role"] == "tool" and message["tools_state_id"] == state, message
        for part in message["content"]:
            result = part["function_result"]
            answered[result["name"]] = (result["id"], result["result"])
    assert answered == {name: (ids[name], result) for name, result in results.items()}, body


TURNS = {"create": create_turn, "stream-deltas": stream_turn_by_hand, "stream-helper": stream_turn_with_helper}


@pytest.mark.parametrize("mode", list(TURNS))
def test_chat_two_parallel_calls_and_their_results(v2_client, validate, emulator, mode):
    """One answer with two calls; the client runs both and sends both results; the final answer is
    text. Streamed, each call has its own index (checked by `stream_turn_by_hand`)."""
    turn = TURNS[mode]
    box = ToolBox()
    messages: list[dict[str, Any]] = [{"role": "user", "content": BOTH}]
    message = turn(v2_client, validate, messages, tools=TOOLS)
    assert message.pop("_finish_reason") == "tool_calls", message
    calls = message["tool_calls"]
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == BOTH_CALLS, calls
    assert len({c["id"] for c in calls}) == 2, calls
    assert v2_bodies(emulator)[0]["model_options"]["parallel_tool_calls"] is True, "OpenAI's default is true"
    messages.append(message)
    # Results in reverse order: they are matched by id, not by position.
    for call in reversed(calls):
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": box.run(call["function"]["name"], call["function"]["arguments"])})
    final = turn(v2_client, validate, messages, tools=TOOLS)
    assert final.pop("_finish_reason") == "stop" and final["content"].strip(), final
    assert_sent_back_together(
        v2_bodies(emulator)[-1],
        {
            "get_weather": {"city": "Kazan", "temperature": 5, "unit": "celsius"},
            "get_time": {"city": "Kazan", "time": "12:00"},
        },
    )


@pytest.mark.parametrize("mode", ["create", "stream-deltas"])
def test_chat_tool_choice_required_is_any_of_the_tools(v2_client, validate, emulator, mode):
    message = TURNS[mode](v2_client, validate, [{"role": "user", "content": "Kazan, please."}], tools=TOOLS, tool_choice="required")
    assert message.pop("_finish_reason") == "tool_calls", message
    [call] = message["tool_calls"]
    assert call["function"]["name"] == "get_weather", "the first tool of the any list"
    assert isinstance(json.loads(call["function"]["arguments"]), dict)
    [sent] = v2_bodies(emulator)
    assert sent["tool_config"] == {"mode": "any", "functions_names_any": ["get_weather", "get_time"]}, sent
    names = [f["name"] for f in sent["tools"][0]["functions"]["specifications"]]
    assert names == ["get_weather", "get_time"], "no router function on v2"


def test_chat_parallel_tool_calls_false_gives_one_call(v2_client, validate, emulator):
    message = create_turn(v2_client, validate, [{"role": "user", "content": BOTH}], tools=TOOLS, parallel_tool_calls=False)
    [call] = message["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert v2_bodies(emulator)[0]["model_options"]["parallel_tool_calls"] is False


RESPONSE_TOOLS = [{"type": "function", **tool["function"]} for tool in TOOLS]


def test_responses_parallel_function_call_items(v2_client, validate, emulator):
    raw = v2_client.responses.with_raw_response.create(model=MODEL, input=BOTH, tools=RESPONSE_TOOLS)
    validate("Response", raw.http_response.json())
    first = raw.parse()
    calls = [item for item in first.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == BOTH_CALLS, first.output
    assert len({c.call_id for c in calls}) == 2
    history = [
        {"role": "user", "content": BOTH},
        *[item.model_dump(exclude_none=True) for item in first.output],
        *[{"type": "function_call_output", "call_id": c.call_id, "output": f"done {c.name}"} for c in reversed(calls)],
    ]
    raw = v2_client.responses.with_raw_response.create(model=MODEL, input=history, tools=RESPONSE_TOOLS)
    validate("Response", raw.http_response.json())
    assert raw.parse().output_text.strip()
    assert_sent_back_together(
        v2_bodies(emulator)[-1], {"get_weather": {"result": "done get_weather"}, "get_time": {"result": "done get_time"}}
    )


def test_responses_parallel_function_calls_streamed(v2_client, validate):
    with v2_client.responses.with_streaming_response.create(model=MODEL, input=BOTH, tools=RESPONSE_TOOLS, stream=True) as response:
        assert response.status_code == 200
        raw = b"".join(response.iter_bytes())
    events = response_stream_events(raw)
    final = assert_response_stream(events, validate)
    calls = [item for item in final["output"] if item["type"] == "function_call"]
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == BOTH_CALLS, final["output"]
    added = [e for e in events if e["type"] == "response.output_item.added" and e["item"]["type"] == "function_call"]
    assert [e["output_index"] for e in added] == [final["output"].index(c) for c in calls], added


@pytest.fixture(scope="module")
def anthropic_sdk(v2):
    sdk = anthropic_client(v2)
    yield sdk
    sdk.close()


def test_anthropic_parallel_tool_use_blocks(anthropic_sdk, emulator):
    anthropic_tools = [{"name": t["function"]["name"], "input_schema": t["function"]["parameters"]} for t in TOOLS]
    messages = [{"role": "user", "content": BOTH}]
    raw = anthropic_sdk.messages.with_raw_response.create(model=MODEL, max_tokens=512, messages=messages, tools=anthropic_tools)
    called = strict_message(raw.http_response.content)
    assert called.stop_reason == "tool_use", called
    uses = [block for block in called.content if block.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == BOTH_CALLS, called
    assert all(u.id.startswith("toolu_") for u in uses) and uses[0].id != uses[1].id

    _, body = raw_stream(anthropic_sdk, model=MODEL, max_tokens=512, messages=messages, tools=anthropic_tools)
    streamed = assert_message_stream(validated_events(body))
    assert streamed["stop_reason"] == "tool_use", streamed
    assert [(b["name"], b["input"]) for b in streamed["blocks"] if b["type"] == "tool_use"] == BOTH_CALLS, streamed

    history = messages + [
        {"role": "assistant", "content": [block.model_dump(exclude_unset=True) for block in called.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": u.id, "content": f"done {u.name}"} for u in reversed(uses)]},
    ]
    emulator.clear_requests()
    raw = anthropic_sdk.messages.with_raw_response.create(model=MODEL, max_tokens=512, messages=history, tools=anthropic_tools)
    answered = strict_message(raw.http_response.content)
    assert answered.stop_reason == "end_turn", answered
    assert_sent_back_together(
        v2_bodies(emulator)[-1], {"get_weather": {"result": "done get_weather"}, "get_time": {"result": "done get_time"}}
    )


def test_langchain_bind_tools_parallel_receives_two_calls_in_one_message(v2, emulator):
    llm = ChatOpenAI(base_url=v2.base_url, api_key=API_KEY, model=MODEL, max_retries=0, timeout=30)
    bound = llm.bind_tools(TOOLS, parallel_tool_calls=True)
    question = HumanMessage(BOTH)
    answer = bound.invoke([question])
    assert [(c["name"], c["args"]) for c in answer.tool_calls] == BOTH_CALLS, answer
    assert v2_bodies(emulator)[0]["model_options"]["parallel_tool_calls"] is True
    results = [ToolMessage(content=f"done {c['name']}", tool_call_id=c["id"]) for c in answer.tool_calls]
    final = bound.invoke([question, answer, *results])
    assert final.content.strip() and not final.tool_calls, final
    assert_sent_back_together(
        v2_bodies(emulator)[-1], {"get_weather": {"result": "done get_weather"}, "get_time": {"result": "done get_time"}}
    )
