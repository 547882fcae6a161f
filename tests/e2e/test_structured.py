"""Structured outputs with the `openai` SDK: `response_format` json_schema (via `.parse()` and Pydantic)
and json_object.

The adapter normalises the client's schema for GigaChat (inlines `$ref`, simplifies `anyOf`, sends
non-string enums as strings) and restores the values on the way back, so what the client gets must
validate against the schema it sent. The emulator answers a json_schema request with JSON generated
from the (normalised) schema, cut at `max_tokens` with `finish_reason: "length"`; a system message
mentioning JSON gets `{"answer": ...}` (how json_object works through the adapter).
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Optional

import openai
import pytest
from jsonschema import Draft202012Validator
from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel

from support import sse_json_chunks

MODEL = "GigaChat"
PROMPT = [{"role": "user", "content": "Create a ticket for the broken lift in Kazan."}]


class Priority(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3


class Address(BaseModel):
    city: str
    street: Optional[str]


class Ticket(BaseModel):
    title: str
    priority: Priority
    tags: list[str]
    address: Address
    assignee: Optional[str]
    estimate_hours: Optional[int]


def test_parse_pydantic_model_with_optional_nested_enum_and_list(client, emulator):
    raw = client.chat.completions.with_raw_response.parse(model=MODEL, messages=PROMPT, response_format=Ticket)
    completion = raw.parse()
    choice = completion.choices[0]
    assert choice.finish_reason == "stop", choice
    ticket = choice.message.parsed
    assert isinstance(ticket, Ticket), f"parsed is {ticket!r}; content {choice.message.content!r}"
    assert isinstance(ticket.priority, Priority)
    assert isinstance(ticket.address, Address) and isinstance(ticket.address.city, str)
    assert isinstance(ticket.tags, list) and all(isinstance(t, str) for t in ticket.tags)
    assert ticket.assignee is None or isinstance(ticket.assignee, str)
    assert ticket.estimate_hours is None or isinstance(ticket.estimate_hours, int)
    # The text itself satisfies the schema the SDK sent (an int enum comes back as an int, not "2").
    content = json.loads(choice.message.content)
    errors = [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in Draft202012Validator(to_strict_json_schema(Ticket)).iter_errors(content)]
    assert not errors, f"content violates the requested schema: {errors}\n{choice.message.content}"
    assert isinstance(content["priority"], int), content
    # What the SDK sent is what GigaChat got: a json_schema response format, strict, refs inlined.
    sent = emulator.chat_requests()[-1]["json"]["response_format"]
    assert sent["type"] == "json_schema" and "$ref" not in json.dumps(sent["schema"]), sent


def test_parse_is_deterministic_and_message_has_no_refusal(client):
    first = client.chat.completions.parse(model=MODEL, messages=PROMPT, response_format=Ticket)
    second = client.chat.completions.parse(model=MODEL, messages=PROMPT, response_format=Ticket)
    assert first.choices[0].message.refusal is None
    assert first.choices[0].message.parsed == second.choices[0].message.parsed


def test_structured_output_raw_body_is_schema_valid(http, auth, validate):
    schema = to_strict_json_schema(Ticket)
    body = {
        "model": MODEL,
        "messages": PROMPT,
        "response_format": {"type": "json_schema", "json_schema": {"name": "Ticket", "schema": schema, "strict": True}},
    }
    response = http.post("/v1/chat/completions", headers=auth, json=body)
    assert response.status_code == 200, response.text
    validate("CreateChatCompletionResponse", response.json())
    Ticket.model_validate_json(response.json()["choices"][0]["message"]["content"])


def test_parse_cut_by_max_tokens_raises_length_finish_reason_error(client):
    with pytest.raises(openai.LengthFinishReasonError) as caught:
        client.chat.completions.parse(model=MODEL, messages=PROMPT, response_format=Ticket, max_tokens=5)
    completion = caught.value.completion
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage and completion.usage.completion_tokens <= 5, completion.usage


def test_stream_helper_cut_by_max_tokens_raises_length_finish_reason_error(client):
    with pytest.raises(openai.LengthFinishReasonError):
        with client.chat.completions.stream(model=MODEL, messages=PROMPT, response_format=Ticket, max_tokens=5) as stream:
            for _ in stream:
                pass


def test_stream_helper_parses_structured_output(client, validate):
    with client.chat.completions.stream(model=MODEL, messages=PROMPT, response_format=Ticket) as stream:
        for event in stream:
            if event.type == "chunk":
                validate("CreateChatCompletionStreamResponse", event.chunk.to_dict())
        final = stream.get_final_completion()
    assert isinstance(final.choices[0].message.parsed, Ticket), final.choices[0].message.content


JSON_OBJECT = [
    {"role": "system", "content": "Reply in JSON."},
    {"role": "user", "content": "Name a city in Russia."},
]


def test_json_object_mode_returns_a_json_object(client, validate, emulator):
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=JSON_OBJECT, response_format={"type": "json_object"}
    )
    validate("CreateChatCompletionResponse", raw.http_response.json())
    choice = raw.parse().choices[0]
    assert choice.finish_reason == "stop", choice
    value = json.loads(choice.message.content)
    assert isinstance(value, dict) and value, choice.message.content
    sent = emulator.chat_requests()[-1]["json"]
    assert "response_format" not in sent, "GigaChat has no json_object mode; the adapter must instruct instead"
    assert sent["messages"][0]["role"] == "system" and "JSON" in sent["messages"][0]["content"], sent["messages"][0]


def test_json_object_mode_without_a_system_message_still_returns_json(client):
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Name a city."}], response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(completion.choices[0].message.content), dict)


def test_json_object_mode_streamed_concatenates_to_a_json_object(http, auth, validate):
    body = {"model": MODEL, "messages": JSON_OBJECT, "response_format": {"type": "json_object"}, "stream": True}
    with http.stream("POST", "/v1/chat/completions", headers=auth, json=body) as response:
        raw = response.read()
    assert response.status_code == 200, raw[:300]
    chunks = sse_json_chunks(raw)
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert isinstance(json.loads(text), dict), text
