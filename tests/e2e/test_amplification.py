"""Resource amplification: a few hundred bytes of self-referencing or fanning-out `$ref`s used to
make the adapter expand them for seconds into gigabytes and send GigaChat a body of tens of
megabytes. Recursion is now cut at its first recurrence (the request is served, small), and an
expansion past the budget (8 × the request's schemas + 64 KiB) is a 400 naming the parameter. The
adapter stays responsive either way. Time and memory figures: bench/amplification.py."""

from __future__ import annotations

import json

import openai
import pytest

MODEL = "GigaChat"
MESSAGES = [{"role": "user", "content": "Build a tree"}]


def self_referencing(fan_out: int = 6) -> dict:
    """Issue 14's schema: a node with `fan_out` properties, each the node again."""
    node = {"type": "object", "properties": {f"p{i}": {"$ref": "#/$defs/N"} for i in range(fan_out)}}
    return {"$defs": {"N": node}, "properties": {"root": {"$ref": "#/$defs/N"}}}


def fanning_out(levels: int, fan_out: int = 6) -> dict:
    """No recursion: each level references the next one `fan_out` times (fan_out ** levels leaves)."""
    defs = {f"L{level}": {"type": "object", "properties": {f"p{i}": {"$ref": f"#/$defs/L{level + 1}"} for i in range(fan_out)}} for level in range(levels)}
    defs[f"L{levels}"] = {"type": "string"}
    return {"$defs": defs, "type": "object", "properties": {"x": {"$ref": "#/$defs/L0"}}}


def assert_responsive(client) -> None:
    """The adapter still answers an ordinary call (it used to be busy expanding for 15 s): the call
    must complete at all within the SDK's timeout, with no retry; this is liveness, not a timing."""
    patient_once = client.with_options(timeout=30, max_retries=0)
    completion = patient_once.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "ping"}])
    assert completion.choices[0].message.content


def test_self_referencing_tool_schema_is_cut_and_small(client, emulator):
    schema = self_referencing()
    assert len(json.dumps(schema, separators=(",", ":"))) < 300
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=[{"type": "function", "function": {"name": "make_tree", "parameters": schema}}])
    assert completion.choices[0].finish_reason in ("stop", "tool_calls")
    sent = emulator.chat_requests()[-1]
    assert len(sent["body"]) < 8_000, f"{len(sent['body'])} bytes sent upstream"
    parameters = sent["json"]["functions"][0]["parameters"]
    root = parameters["properties"]["root"]
    # Expanded once; the recursive occurrences are plain objects that say what they stand for.
    assert root["properties"]["p0"]["type"] == "object" and root["properties"]["p0"]["properties"] == {}
    assert "N" in root["properties"]["p0"]["description"]
    assert "$ref" not in json.dumps(parameters)
    assert_responsive(client)


def test_self_referencing_response_format_schema_is_cut_and_small(client, emulator):
    completion = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, response_format={"type": "json_schema", "json_schema": {"name": "tree", "schema": self_referencing()}}
    )
    assert json.loads(completion.choices[0].message.content) is not None
    sent = emulator.chat_requests()[-1]
    assert len(sent["body"]) < 8_000, f"{len(sent['body'])} bytes sent upstream"
    # The schema went upstream, expanded once, with the recursion cut (not dropped).
    schema = sent["json"]["response_format"]["schema"]
    p0 = schema["properties"]["root"]["properties"]["p0"]
    assert p0["type"] == "object" and p0["properties"] == {}
    assert "N" in p0["description"]
    assert "$ref" not in json.dumps(schema)
    assert_responsive(client)


def test_fan_out_past_the_budget_is_refused_naming_the_parameter(client, emulator):
    before = len(emulator.chat_requests())
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=[{"type": "function", "function": {"name": "grow", "parameters": fanning_out(10)}}])
    assert caught.value.body["param"] == "tools[0].function.parameters", caught.value.body
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, response_format={"type": "json_schema", "json_schema": {"name": "grow", "schema": fanning_out(10)}}
        )
    assert caught.value.body["param"] == "response_format.json_schema.schema", caught.value.body
    assert len(emulator.chat_requests()) == before, "GigaChat was called for a refused request"
    assert_responsive(client)


def test_modest_sharing_of_definitions_is_still_inlined(client, emulator):
    client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=[{"type": "function", "function": {"name": "grow", "parameters": fanning_out(3)}}])
    parameters = emulator.chat_requests()[-1]["json"]["functions"][0]["parameters"]
    assert parameters["properties"]["x"]["properties"]["p5"]["properties"]["p5"]["properties"]["p5"] == {"type": "string"}
