"""LangChain's ChatOpenAI with tools and structured output against the adapter.

`bind_tools` with a `@tool` function and a Pydantic tool, the tool-result turn with `ToolMessage`,
streamed tool-call chunks, and `with_structured_output` by json_schema (the langchain-openai 1.x
default), function calling and json mode. Emulator conventions: see test_tools_sdk.py.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Optional

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

CALLING = "What's the weather in Moscow? call:get_weather"


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"+5°C and cloudy in {city}"


class GetTime(BaseModel):
    """Local time in a city."""

    city: str = Field(description="City name")


class Priority(IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    city: str
    street: Optional[str]


class Ticket(BaseModel):
    """A support ticket."""

    title: str
    priority: Priority
    tags: list[str]
    address: Address
    assignee: Optional[str]


@pytest.fixture(scope="module")
def llm(base_url, api_key):
    return ChatOpenAI(base_url=base_url, api_key=api_key, model="GigaChat", max_retries=0, timeout=30)


def test_bind_tools_invoke_returns_tool_calls_then_text_after_tool_message(llm, emulator):
    bound = llm.bind_tools([get_weather, GetTime])
    history = [HumanMessage(CALLING)]
    ai = bound.invoke(history)
    assert isinstance(ai, AIMessage)
    assert ai.response_metadata.get("finish_reason") == "tool_calls", ai.response_metadata
    assert not ai.invalid_tool_calls, ai.invalid_tool_calls
    (call,) = ai.tool_calls
    assert call["name"] == "get_weather" and isinstance(call["args"], dict), call
    assert isinstance(call["args"].get("city"), str), call
    assert call["id"] and call["id"].startswith("call_"), call
    result = get_weather.invoke(call)  # a ToolCall in → a ToolMessage out, with the call's id
    assert isinstance(result, ToolMessage) and result.tool_call_id == call["id"]
    answer = bound.invoke([*history, ai, result])
    assert isinstance(answer.content, str) and answer.content.strip(), answer
    assert not answer.tool_calls
    assert answer.response_metadata.get("finish_reason") == "stop"
    sent = emulator.chat_requests()[-1]["json"]["messages"]
    assert [m["role"] for m in sent[-2:]] == ["assistant", "function"], sent


def test_bind_tools_with_pydantic_tool(llm):
    ai = llm.bind_tools([get_weather, GetTime]).invoke("Time in Kazan? call:GetTime")
    (call,) = ai.tool_calls
    assert call["name"] == "GetTime"
    assert GetTime.model_validate(call["args"]).city


def test_bind_tools_stream_aggregates_tool_call_chunks(llm):
    bound = llm.bind_tools([get_weather])
    total = None
    for chunk in bound.stream(CALLING):
        total = chunk if total is None else total + chunk
    assert total is not None and not total.invalid_tool_calls, total
    (call,) = total.tool_calls
    assert call["name"] == "get_weather" and isinstance(call["args"].get("city"), str), call
    assert total.response_metadata.get("finish_reason") == "tool_calls", total.response_metadata


def test_bind_tools_tool_choice_forces_the_named_tool(llm):
    ai = llm.bind_tools([get_weather, GetTime], tool_choice="GetTime").invoke("Hello")
    (call,) = ai.tool_calls
    assert call["name"] == "GetTime" and isinstance(call["args"]["city"], str), call


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_with_structured_output_returns_a_model_instance(llm, method):
    structured = llm.with_structured_output(Ticket) if method == "json_schema" else llm.with_structured_output(Ticket, method=method)
    ticket = structured.invoke("Create a ticket for the broken lift in Kazan.")
    assert isinstance(ticket, Ticket), ticket
    assert isinstance(ticket.priority, Priority) and isinstance(ticket.address, Address)


def test_with_structured_output_include_raw_has_no_parsing_error(llm):
    out = llm.with_structured_output(Ticket, include_raw=True).invoke("Create a ticket.")
    assert out["parsing_error"] is None, out["parsing_error"]
    assert isinstance(out["parsed"], Ticket)


class Answer(BaseModel):
    answer: str


def test_with_structured_output_json_mode(llm):
    # json_mode sends response_format json_object; the prompt must ask for JSON (OpenAI's rule too).
    structured = llm.with_structured_output(Answer, method="json_mode")
    out = structured.invoke([("system", "Reply in JSON with an `answer` key."), ("user", "Name a city.")])
    assert isinstance(out, Answer) and out.answer, out
