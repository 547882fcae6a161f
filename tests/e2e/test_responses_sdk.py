"""`/v1/responses` with the official openai SDK (`client.responses.*`) and raw HTTP.

Every JSON body is validated against `Response` and every stream event against its
`ResponseStreamEvent` variant (`validate.stream_event`); stream order is checked by
`support.assert_response_stream`. What reached GigaChat is read from the emulator's request log:
a Responses request is served as a chat request, so upstream it is an ordinary chat call.

Emulator conventions (crates/emulator/README.md): `call:F args:{…}` in the last user message makes it
call F with exactly those arguments; after a function result it answers text.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from support import API_KEY, assert_error_envelope, assert_response_stream, response_stream_events

MODEL = "GigaChat"

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
CLOCK = {
    "type": "function",
    "name": "get_time",
    "description": "Local time in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


def create(client: openai.OpenAI, validate, **params: Any):
    """`responses.create` whose raw JSON body is validated; returns the SDK object."""
    raw = client.responses.with_raw_response.create(**params)
    body = raw.http_response.json()
    validate("Response", body)
    response = raw.parse()
    assert response.id.startswith("resp_") and response.object == "response", body
    return response


def stream_raw(http: httpx.Client, validate, **body: Any) -> dict[str, Any]:
    """A streamed `POST /v1/responses` read as raw SSE; checks every event and returns the final
    response."""
    with http.stream("POST", "/v1/responses", json={**body, "stream": True}, headers={"Authorization": f"Bearer {API_KEY}"}) as r:
        raw = r.read()
        assert r.status_code == 200, raw[:500]
        assert r.headers["content-type"].startswith("text/event-stream"), r.headers
    return assert_response_stream(response_stream_events(raw), validate)


def upstream_messages(emulator, turn: int = -1) -> list[dict[str, Any]]:
    return emulator.chat_requests()[turn]["json"]["messages"]


# --------------------------------------------------------------------------------------------
# Text


def test_create_with_a_string_input(client, validate, emulator):
    response = create(client, validate, model=MODEL, input="Привет! Как дела?")
    assert response.status == "completed" and response.error is None and response.incomplete_details is None
    assert response.model.startswith("GigaChat"), response.model
    assert response.output_text.strip(), response.output
    [message] = response.output
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    usage = response.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0, usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens, usage
    # Served as one chat call with one user message.
    [sent] = emulator.chat_requests()
    assert sent["json"]["messages"] == [{"role": "user", "content": "Привет! Как дела?"}], sent["json"]
    assert sent["json"].get("stream") in (None, False)


def test_item_input_with_instructions_and_history(client, validate, emulator):
    response = create(
        client,
        validate,
        model=MODEL,
        instructions="You are terse.",
        input=[
            {"role": "developer", "content": "Answer in English."},
            {"role": "user", "content": [{"type": "input_text", "text": "Hi, I am Ada."}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello, Ada!", "annotations": []}],
            },
            {"type": "message", "role": "user", "content": "What is my name?"},
        ],
        max_output_tokens=200,
        temperature=0.5,
        metadata={"case": "history"},
    )
    assert response.output_text.strip()
    assert response.instructions == "You are terse."
    assert response.temperature == 0.5 and response.metadata == {"case": "history"}
    messages = upstream_messages(emulator)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"], messages
    system = messages[0]["content"]
    assert system.index("You are terse.") < system.index("Answer in English."), system
    assert messages[1]["content"] == "Hi, I am Ada." and messages[2]["content"] == "Hello, Ada!"
    assert messages[3]["content"] == "What is my name?"


def test_max_output_tokens_gives_an_incomplete_response(client, validate):
    response = create(client, validate, model=MODEL, input="Tell me a long story", max_output_tokens=2)
    assert response.status == "incomplete", response
    assert response.incomplete_details.reason == "max_output_tokens"


def test_raw_stream_events_are_valid_and_ordered(http, validate, emulator):
    final = stream_raw(http, validate, model=MODEL, input="Привет! Как дела?")
    [message] = final["output"]
    assert message["type"] == "message" and message["content"][0]["text"].strip()
    assert final["usage"]["output_tokens"] > 0
    assert emulator.chat_requests()[-1]["json"]["stream"] is True


def test_sdk_stream_helper_gives_the_events_in_order(client, validate):
    with client.responses.stream(model=MODEL, input="Привет! Как дела?") as stream:
        events = [event for event in stream]
        final = stream.get_final_response()
    kinds = [event.type for event in events]
    for event in events:
        validate.stream_event(event.model_dump(mode="json", exclude_unset=True, exclude={"snapshot"}, warnings=False))
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ], kinds
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ], kinds
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert text.strip() and final.output_text == text
    assert final.usage.total_tokens > 0


def test_create_stream_true_matches_the_non_streamed_answer(client):
    plain = client.responses.create(model=MODEL, input="Одинаковый вопрос")
    events = list(client.responses.create(model=MODEL, input="Одинаковый вопрос", stream=True))
    numbers = [event.sequence_number for event in events]
    assert numbers == sorted(set(numbers)), numbers
    completed = events[-1]
    assert completed.type == "response.completed"
    # The emulator's text depends only on the messages: streamed and not, the same answer.
    assert completed.response.output_text == plain.output_text
    assert completed.response.id != plain.id


def test_stream_cut_by_upstream_ends_with_response_failed(http, validate, emulator):
    emulator.chat_fault("cut_stream_after", events=2)
    with http.stream(
        "POST", "/v1/responses", json={"model": MODEL, "input": "Hi", "stream": True}, headers={"Authorization": f"Bearer {API_KEY}"}
    ) as r:
        raw = r.read()
    assert r.status_code == 200
    events = response_stream_events(raw)
    for event in events:
        validate.stream_event(event)
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.failed", [e["type"] for e in events]
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error", failed


# --------------------------------------------------------------------------------------------
# Structured output


class CityWeather(BaseModel):
    city: str
    temperature: int
    sunny: bool


def test_parse_with_a_pydantic_model(client, emulator):
    response = client.responses.parse(model=MODEL, input="Weather in Moscow as JSON", text_format=CityWeather)
    parsed = response.output_parsed
    assert isinstance(parsed, CityWeather), response
    sent = emulator.chat_requests()[-1]["json"]
    assert sent["response_format"]["type"] == "json_schema", sent
    assert set(sent["response_format"]["schema"]["properties"]) == {"city", "temperature", "sunny"}


# --------------------------------------------------------------------------------------------
# Function tools


def test_function_tool_round_trip(client, validate, emulator):
    question = 'Weather in Moscow? call:get_weather args:{"city": "Moscow"}'
    first = create(client, validate, model=MODEL, input=question, tools=[WEATHER, CLOCK])
    [call] = first.output
    assert call.type == "function_call" and call.name == "get_weather", first.output
    assert json.loads(call.arguments) == {"city": "Moscow"}
    assert call.call_id
    functions = emulator.chat_requests()[0]["json"]["functions"]
    assert sorted(f["name"] for f in functions) == ["get_time", "get_weather"]

    history = [
        {"role": "user", "content": question},
        *[item.model_dump(exclude_none=True) for item in first.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": '{"temperature": 5}'},
    ]
    second = create(client, validate, model=MODEL, input=history, tools=[WEATHER, CLOCK])
    assert second.output_text.strip() and second.output[0].type == "message", second.output
    sent = upstream_messages(emulator)
    assert [m["role"] for m in sent] == ["user", "assistant", "function"], sent
    assert sent[1]["function_call"]["name"] == "get_weather"
    assert sent[1]["function_call"]["arguments"] == {"city": "Moscow"}
    assert json.loads(sent[2]["content"]) == {"temperature": 5}


def test_function_tool_round_trip_streamed(client, http, validate, emulator):
    question = 'call:get_weather args:{"city": "Kazan"}'
    final = stream_raw(http, validate, model=MODEL, input=question, tools=[WEATHER])
    [call] = final["output"]
    assert call["type"] == "function_call" and json.loads(call["arguments"]) == {"city": "Kazan"}, call

    history = [
        {"role": "user", "content": question},
        call,
        {"type": "function_call_output", "call_id": call["call_id"], "output": "+3°C"},
    ]
    with client.responses.stream(model=MODEL, input=history, tools=[WEATHER]) as stream:
        answer = stream.get_final_response()
    assert answer.output_text.strip()
    result = upstream_messages(emulator)[-1]
    # Text that is not a JSON object reaches GigaChat wrapped as one, as chat tool results do.
    assert result["role"] == "function" and json.loads(result["content"]) == {"result": "+3°C"}, result


SQL = {
    "type": "custom",
    "name": "run_sql",
    "description": "Runs one SQL query, given as plain text.",
    "format": {"type": "grammar", "syntax": "lark", "definition": 'start: "SELECT " /[^;]+/'},
}


def test_custom_tool_round_trip_streamed_and_not(client, http, validate, emulator):
    question = 'call:run_sql args:{"input": "SELECT name FROM cities"}'
    plain = create(client, validate, model=MODEL, input=question, tools=[SQL])
    [call] = plain.output
    assert call.type == "custom_tool_call" and call.name == "run_sql" and call.input == "SELECT name FROM cities", call
    # Upstream a function with one string argument, the grammar in its description.
    [function] = emulator.chat_requests()[-1]["json"]["functions"]
    assert function["name"] == "run_sql" and function["parameters"]["required"] == ["input"], function
    assert 'start: "SELECT "' in function["description"], function["description"]

    streamed = stream_raw(http, validate, model=MODEL, input=question, tools=[SQL])
    [item] = streamed["output"]
    assert item["type"] == "custom_tool_call" and item["input"] == call.input, item

    history = [
        {"role": "user", "content": question},
        item,
        {"type": "custom_tool_call_output", "call_id": item["call_id"], "output": "Moscow, Kazan"},
    ]
    answer = create(client, validate, model=MODEL, input=history, tools=[SQL])
    assert answer.output_text.strip()
    sent = upstream_messages(emulator)
    assert [m["role"] for m in sent] == ["user", "assistant", "function"], sent
    called = sent[1]["function_call"]
    assert (called["name"], called["arguments"]) == ("run_sql", {"input": "SELECT name FROM cities"}), called
    assert json.loads(sent[2]["content"]) == {"result": "Moscow, Kazan"}


@pytest.mark.parametrize("order", ["grouped", "interleaved"])
def test_two_function_calls_in_one_turn(client, validate, emulator, order):
    calls = [
        {"type": "function_call", "call_id": "call_w", "name": "get_weather", "arguments": '{"city": "Moscow"}'},
        {"type": "function_call", "call_id": "call_t", "name": "get_time", "arguments": '{"city": "Kazan"}'},
    ]
    outputs = [
        {"type": "function_call_output", "call_id": "call_w", "output": '{"temperature": 5}'},
        {"type": "function_call_output", "call_id": "call_t", "output": '{"time": "12:00"}'},
    ]
    turn = [*calls, *outputs] if order == "grouped" else [calls[0], outputs[0], calls[1], outputs[1]]
    response = create(
        client,
        validate,
        model=MODEL,
        input=[{"role": "user", "content": "Weather in Moscow and time in Kazan?"}, *turn],
        tools=[WEATHER, CLOCK],
        parallel_tool_calls=True,
    )
    assert response.output_text.strip()
    sent = upstream_messages(emulator)[1:]
    pairs = [(m["role"], (m.get("function_call") or {}).get("name") or m.get("name")) for m in sent]
    assert [role for role, _ in pairs] == ["assistant", "function", "assistant", "function"], sent
    assert pairs[0][1] == "get_weather" and pairs[2][1] == "get_time", sent
    assert json.loads(sent[1]["content"]) == {"temperature": 5} and json.loads(sent[3]["content"]) == {"time": "12:00"}


def test_tool_choice_forces_a_call_without_marker(client, validate):
    response = create(
        client, validate, model=MODEL, input="Weather?", tools=[WEATHER], tool_choice={"type": "function", "name": "get_weather"}
    )
    [call] = response.output
    assert call.type == "function_call" and "city" in json.loads(call.arguments)


def test_input_tokens_counts_through_gigachat(client, emulator):
    short = client.responses.input_tokens.count(model=MODEL, input="Привет")
    longer = client.responses.input_tokens.count(
        model=MODEL, instructions="You are terse.", input="Привет! Расскажи длинную историю про город.", tools=[WEATHER]
    )
    assert short.object == "response.input_tokens" and 0 < short.input_tokens < longer.input_tokens, (short, longer)
    assert emulator.chat_requests() == [], "counting must not ask the model"
    assert any(r["path"].endswith("/tokens/count") for r in emulator.requests())


# --------------------------------------------------------------------------------------------
# Errors


def test_unknown_model_is_404(client, validate, emulator):
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="no-such-model", input="Hi")
    assert_error_envelope(validate, caught.value, status=404, code="model_not_found")


def test_unknown_model_streamed_is_404_before_the_stream(http, validate):
    response = http.post(
        "/v1/responses", json={"model": "no-such-model", "input": "Hi", "stream": True}, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert_error_envelope(validate, response, status=404, code="model_not_found")


def test_bad_key_is_401(adapter, validate):
    client = adapter.client(api_key="wrong-key")
    with pytest.raises(openai.AuthenticationError) as caught:
        client.responses.create(model=MODEL, input="Hi")
    assert_error_envelope(validate, caught.value, status=401)


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"background": True}, "background"),
        ({"conversation": "conv_123"}, "conversation"),
    ],
)
def test_unserved_modes_are_400_naming_the_parameter(client, validate, emulator, extra, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input="Hi", **extra)
    error = assert_error_envelope(validate, caught.value, status=400)
    assert error["param"] == param, error
    assert emulator.chat_requests() == []
