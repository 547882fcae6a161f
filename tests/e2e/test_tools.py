"""Tool calls through the `openai` SDK: OpenAI `tools` become GigaChat functions and back.

The emulator calls function `X` when the last user message contains the marker `call:X` and `X` is
among the request's functions, or when the call is forced; arguments come from the parameters schema.
"""

from __future__ import annotations

import json

from support import sse_json_chunks

MODEL = "GigaChat"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
]
CALLING = [{"role": "user", "content": "Какая погода в Москве? call:get_weather"}]


def test_tool_call_non_stream(contract_client, contract_http, auth, validate):
    completion = contract_client.chat.completions.create(model=MODEL, messages=CALLING, tools=TOOLS)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    assert choice.message.content is None, "content must be null when the answer is only tool calls"
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather"
    assert isinstance(call.function.arguments, str), "arguments must be a JSON string"
    assert "city" in json.loads(call.function.arguments)
    raw = contract_http.post(
        "/v1/chat/completions", headers=auth, json={"model": MODEL, "messages": CALLING, "tools": TOOLS}
    )
    validate("CreateChatCompletionResponse", raw.json())


def test_tool_call_stream_first_delta_has_id_and_name(contract_http, auth, validate):
    with contract_http.stream(
        "POST",
        "/v1/chat/completions",
        headers=auth,
        json={"model": MODEL, "messages": CALLING, "tools": TOOLS, "stream": True},
    ) as response:
        raw = response.read()
    assert response.status_code == 200, raw[:300]
    chunks = sse_json_chunks(raw)
    deltas = []
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
        for choice in chunk["choices"]:
            deltas.extend(choice["delta"].get("tool_calls") or [])
    assert deltas, "no tool_calls deltas"
    first = deltas[0]
    assert first["index"] == 0 and first["id"].startswith("call_") and first["type"] == "function"
    assert first["function"]["name"] == "get_weather"
    arguments = "".join(d.get("function", {}).get("arguments", "") for d in deltas if d["index"] == 0)
    assert "city" in json.loads(arguments)
    reasons = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert reasons[-1] == "tool_calls" and all(r is None for r in reasons[:-1]), reasons


def test_tool_call_stream_sdk_accumulator(contract_client):
    with contract_client.chat.completions.stream(model=MODEL, messages=CALLING, tools=TOOLS) as stream:
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)
    assert final.choices[0].finish_reason == "tool_calls"


def test_tool_choice_named_forces_the_call(contract_client):
    completion = contract_client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Погода в Казани?"}],
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert completion.choices[0].message.tool_calls, completion
    assert completion.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_tool_result_round_trip_reaches_gigachat_as_function_message(contract_client, contract, emulator):
    client = contract_client
    first = client.chat.completions.create(model=MODEL, messages=CALLING, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    messages = [
        *CALLING,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 5})},
    ]
    answer = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content
    last = emulator.chat_requests()[-1]
    sent = last["json"]["messages"]
    if contract == "1":
        assert sent[-1]["role"] == "function", f"tool result not sent as a function message: {sent[-1]}"
        assert sent[-2]["role"] == "assistant" and sent[-2].get("function_call", {}).get("name") == "get_weather", sent[-2]
        return
    # v2: the result is a `tool` message with a `function_result` object answering the call's
    # state, after the assistant's `function_call` part.
    assert last["path"].endswith("/v2/chat/completions"), last["path"]
    (result,) = sent[-1]["content"]
    assert sent[-1]["role"] == "tool", sent[-1]
    answered = {key: value for key, value in result["function_result"].items() if key != "id"}
    assert answered == {"name": "get_weather", "result": {"temperature": 5}}, result
    assert sent[-1]["tools_state_id"] == sent[-2]["tools_state_id"], sent[-2:]
    assert sent[-2]["role"] == "assistant", sent[-2]
    assert [part["function_call"]["name"] for part in sent[-2]["content"] if "function_call" in part] == ["get_weather"]
