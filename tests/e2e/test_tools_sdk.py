"""Tool calling end to end with the `openai` SDK: the client runs the tools the model asks for.

test_tools.py proves the wire mapping of one call; this file drives whole agent loops (model calls a
tool → the client runs it → `tool` message → final text) non-streamed, streamed with the deltas
accumulated by hand as the SDK docs show, and with the SDK's stream helper; `tool_choice="required"`
over several tools (the adapter's router function must never reach the client); parallel calls in
the history; strict Pydantic tools through `.parse()`; and histories that break the call/result pairing.

Emulator: under `auto` it calls F only when the last user message contains `call:F`; forced calls are
always made; after a function result it answers text (crates/emulator/README.md "Prompt conventions").
"""

from __future__ import annotations

import json
import re
from enum import IntEnum
from typing import Any, Callable, Optional

import openai
import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field

from support import assert_error_envelope, sse_json_chunks

MODEL = "GigaChat"
ROUTER = "choose_and_call_tool"  # the adapter's synthetic function for tool_choice "required"


def tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


WEATHER = tool(
    "get_weather",
    "Current weather in a city",
    {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    ["city"],
)
TIME = tool("get_time", "Local time in a city", {"city": {"type": "string"}}, ["city"])
TOOLS = [WEATHER, TIME]


class ToolBox:
    """The client side of the loop: local implementations that record how they were called."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.impl: dict[str, Callable[..., dict[str, Any]]] = {
            "get_weather": lambda city, unit="celsius", **_: {"city": city, "temperature": 5, "unit": unit},
            "get_time": lambda city, **_: {"city": city, "time": "12:00"},
        }

    def run(self, name: str, arguments: str) -> str:
        assert name in self.impl, f"the model called an unknown tool {name!r}"
        args = json.loads(arguments)
        assert isinstance(args, dict), f"arguments of {name} are not a JSON object: {arguments!r}"
        self.calls.append((name, args))
        return json.dumps(self.impl[name](**args), ensure_ascii=False)


def create_turn(client, validate, messages, **kwargs) -> dict[str, Any]:
    """One non-streamed turn; the raw body is schema-checked; returns the assistant message as a dict."""
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages, **kwargs)
    validate("CreateChatCompletionResponse", raw.http_response.json())
    choice = raw.parse().choices[0]
    message = choice.message.model_dump(exclude_none=True)
    message["_finish_reason"] = choice.finish_reason
    return message


def stream_turn_by_hand(client, validate, messages, **kwargs) -> dict[str, Any]:
    """One streamed turn, tool-call deltas merged by `index` (the pattern of the SDK docs)."""
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True, **kwargs)
    for chunk in stream:
        validate("CreateChatCompletionStreamResponse", chunk.to_dict())
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                content.append(delta.content)
            for part in delta.tool_calls or []:
                call = calls.setdefault(part.index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                if part.id:
                    assert call["id"] in (None, part.id), f"tool call {part.index} changed its id mid-stream"
                    call["id"] = part.id
                if part.function and part.function.name:
                    call["function"]["name"] += part.function.name
                if part.function and part.function.arguments:
                    call["function"]["arguments"] += part.function.arguments
            if choice.finish_reason:
                assert finish is None, "more than one finish_reason in one choice"
                finish = choice.finish_reason
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if calls:
        assert sorted(calls) == list(range(len(calls))), f"tool-call indexes are not 0..n-1: {sorted(calls)}"
        for index, call in calls.items():
            assert call["id"], f"tool call {index} never got an id"
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    message["_finish_reason"] = finish
    return message


def stream_turn_with_helper(client, validate, messages, **kwargs) -> dict[str, Any]:
    """One streamed turn through `client.chat.completions.stream(...)` and `get_final_completion()`."""
    with client.chat.completions.stream(model=MODEL, messages=messages, **kwargs) as stream:
        for event in stream:
            if event.type == "chunk":
                validate("CreateChatCompletionStreamResponse", event.chunk.to_dict())
        final = stream.get_final_completion()
    choice = final.choices[0]
    message = choice.message.model_dump(exclude_none=True, exclude={"parsed"})
    for call in message.get("tool_calls", []):
        call["function"].pop("parsed_arguments", None)
    message["_finish_reason"] = choice.finish_reason
    return message


TURNS = {"create": create_turn, "stream-deltas": stream_turn_by_hand, "stream-helper": stream_turn_with_helper}


@pytest.mark.parametrize("mode", list(TURNS))
def test_full_tool_round_trip(client, validate, emulator, mode):
    turn = TURNS[mode]
    box = ToolBox()
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a weather assistant. Use the tools."},
        {"role": "user", "content": "What's the weather in Moscow? call:get_weather"},
    ]
    final_text = None
    for _ in range(3):
        message = turn(client, validate, messages, tools=TOOLS)
        finish = message.pop("_finish_reason")
        messages.append(message)
        if not message.get("tool_calls"):
            assert finish == "stop", f"turn ended with {finish!r} and no tool calls: {message}"
            final_text = message.get("content")
            break
        assert finish == "tool_calls", f"a turn with tool calls must finish with tool_calls, got {finish!r}"
        for call in message["tool_calls"]:
            assert call["id"].startswith("call_") and call["type"] == "function", call
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": box.run(call["function"]["name"], call["function"]["arguments"])})
    assert [name for name, _ in box.calls] == ["get_weather"], f"tools run: {box.calls}"
    assert isinstance(box.calls[0][1]["city"], str)
    assert isinstance(final_text, str) and final_text.strip(), f"no final text; history: {messages}"
    # The second upstream call carried the call and its result as GigaChat's function pair.
    sent = emulator.chat_requests()[-1]["json"]["messages"]
    assert [m["role"] for m in sent[-2:]] == ["assistant", "function"], sent
    assert sent[-2]["function_call"]["name"] == "get_weather"
    assert json.loads(sent[-1]["content"])["temperature"] == 5, sent[-1]


@pytest.mark.parametrize("mode", ["create", "stream-deltas"])
def test_tool_choice_required_with_two_tools_calls_one_of_them(client, validate, emulator, mode):
    message = TURNS[mode](
        client,
        validate,
        [{"role": "user", "content": "Moscow, please."}],  # no call: marker: only the forcing makes a call
        tools=TOOLS,
        tool_choice="required",
    )
    assert message.pop("_finish_reason") == "tool_calls", message
    (call,) = message["tool_calls"]
    assert call["function"]["name"] in {"get_weather", "get_time"}, f"router not unwrapped: {call}"
    arguments = json.loads(call["function"]["arguments"])
    assert isinstance(arguments, dict), f"arguments are not a JSON object: {call}"
    assert ROUTER not in json.dumps(message), f"the synthetic router leaked to the client: {message}"
    upstream = emulator.chat_requests()[-1]["json"]
    assert upstream["function_call"] == {"name": ROUTER}, upstream.get("function_call")


def test_tool_choice_required_arguments_satisfy_the_chosen_tools_schema(client):
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Moscow, please."}], tools=TOOLS, tool_choice="required"
    )
    (call,) = completion.choices[0].message.tool_calls
    schema = next(t["function"]["parameters"] for t in TOOLS if t["function"]["name"] == call.function.name)
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(json.loads(call.function.arguments))]
    assert not errors, f"{call.function.name}({call.function.arguments}) violates its parameters schema: {errors}"


def test_tool_choice_none_answers_text_even_with_marker(client, validate):
    message = create_turn(
        client, validate, [{"role": "user", "content": "Weather? call:get_weather"}], tools=TOOLS, tool_choice="none"
    )
    assert message["_finish_reason"] == "stop" and "tool_calls" not in message, message
    assert message["content"].strip()


@pytest.mark.parametrize("order", ["in-order", "reversed"])
def test_parallel_tool_calls_in_history_are_accepted(client, validate, emulator, order):
    calls = [
        {"id": "call_moscow", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Moscow"}'}},
        {"id": "call_kazan", "type": "function", "function": {"name": "get_time", "arguments": '{"city": "Kazan"}'}},
    ]
    results = [
        {"role": "tool", "tool_call_id": "call_moscow", "content": '{"temperature": 5}'},
        {"role": "tool", "tool_call_id": "call_kazan", "content": '{"time": "12:00"}'},
    ]
    if order == "reversed":
        results.reverse()
    messages = [
        {"role": "user", "content": "Weather in Moscow and time in Kazan?"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        *results,
    ]
    message = create_turn(client, validate, messages, tools=TOOLS, parallel_tool_calls=True)
    assert message["_finish_reason"] == "stop" and message["content"].strip(), message
    sent = emulator.chat_requests()[-1]["json"]["messages"]
    pairs = [(m["role"], (m.get("function_call") or {}).get("name") or m.get("name")) for m in sent[1:]]
    assert [role for role, _ in pairs] == ["assistant", "function", "assistant", "function"], sent
    assert pairs[0][1] == "get_weather" and pairs[2][1] == "get_time", f"calls reordered or renamed: {sent}"
    # Each result follows its own call, whatever order the client sent the results in.
    assert json.loads(sent[2]["content"]) == {"temperature": 5} and json.loads(sent[4]["content"]) == {"time": "12:00"}, sent


ORPHANS = {
    "tool-without-any-call": [
        {"role": "user", "content": "Weather?"},
        {"role": "tool", "tool_call_id": "call_nowhere", "content": "5"},
    ],
    "tool-id-not-in-preceding-call": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_b", "content": "5"},
    ],
    "call-without-its-result": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "user", "content": "And?"},
    ],
}


@pytest.mark.parametrize("case", list(ORPHANS))
def test_broken_call_result_pairing_is_a_bad_request(client, validate, emulator, case):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=ORPHANS[case], tools=TOOLS)
    error = assert_error_envelope(validate, caught.value, status=400)
    assert error["param"] and error["param"].startswith("messages["), error
    assert emulator.chat_requests() == [], "a malformed history must not reach GigaChat"


class Detail(IntEnum):
    BRIEF = 1
    FULL = 2


class GetWeather(BaseModel):
    """Current weather in a city."""

    city: str = Field(description="City name")
    days: int = Field(description="Forecast length in days")
    detail: Detail
    country: Optional[str]


def test_parse_with_strict_pydantic_tool_gives_parsed_arguments(client):
    completion = client.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Moscow for 3 days? call:GetWeather"}],
        tools=[openai.pydantic_function_tool(GetWeather)],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    (call,) = choice.message.tool_calls
    assert call.function.name == "GetWeather"
    assert isinstance(call.function.parsed_arguments, GetWeather), call
    assert isinstance(call.function.parsed_arguments.days, int)
    assert isinstance(call.function.parsed_arguments.detail, Detail), call.function.arguments
    assert isinstance(json.loads(call.function.arguments)["detail"], int), "int enum not restored to an int"


def test_names_gigachat_rejects_round_trip_under_their_original_name(client, emulator):
    # Cyrillic and slashes are not valid GigaChat function names: the adapter aliases them and back.
    name = "погода/сейчас"
    tools = [tool(name, "Weather now", {"city": {"type": "string"}}, ["city"]), WEATHER]
    first = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Погода?"}],
        tools=tools,
        tool_choice={"type": "function", "function": {"name": name}},
    )
    (call,) = first.choices[0].message.tool_calls
    assert call.function.name == name, f"client got the alias {call.function.name!r}"
    alias = emulator.chat_requests()[-1]["json"]["function_call"]["name"]
    assert alias != name and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", alias), alias
    messages = [
        {"role": "user", "content": "Погода?"},
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "+5"},
    ]
    answer = client.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].message.content
    sent = emulator.chat_requests()[-1]["json"]["messages"]
    assert sent[-2]["function_call"]["name"] == alias, "the history must use the same alias as the functions"


def test_streamed_required_call_raw_chunks(http, auth, validate):
    with http.stream(
        "POST",
        "/v1/chat/completions",
        headers=auth,
        json={"model": MODEL, "messages": [{"role": "user", "content": "Moscow"}], "tools": TOOLS, "tool_choice": "required", "stream": True},
    ) as response:
        raw = response.read()
    assert response.status_code == 200, raw[:300]
    chunks = sse_json_chunks(raw)
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    assert ROUTER.encode() not in raw, f"router name in the stream: {raw[:500]!r}"
