"""LangChain's `ChatOpenAI(use_responses_api=True)`: invoke, stream, `bind_tools` round trip.

The client records the paths it calls, so each test proves the Responses API (not Chat Completions)
carried it.
"""

from __future__ import annotations

import httpx
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

PROMPT = "Привет! Что ты умеешь?"


@pytest.fixture
def paths() -> list[str]:
    return []


@pytest.fixture
def llm(base_url, api_key, paths):
    def record(request: httpx.Request) -> None:
        paths.append(f"{request.method} {request.url.path}")

    http_client = httpx.Client(event_hooks={"request": [record]}, timeout=30, trust_env=False)
    yield ChatOpenAI(
        base_url=base_url,
        api_key=api_key,
        model="GigaChat",
        use_responses_api=True,
        max_retries=0,
        timeout=30,
        http_client=http_client,
    )
    http_client.close()


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"+5°C in {city}"


def test_invoke_returns_text_and_usage(llm, paths):
    message = llm.invoke(PROMPT)
    assert message.text.strip(), message
    assert message.response_metadata.get("id", "").startswith("resp_"), message.response_metadata
    assert message.response_metadata.get("status") == "completed", message.response_metadata
    usage = message.usage_metadata
    assert usage and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0, usage
    assert paths == ["POST /v1/responses"], paths


def test_stream_concatenates_to_the_invoked_text(llm, paths):
    chunks = list(llm.stream(PROMPT))
    assert len(chunks) > 1, "stream arrived as one chunk"
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert merged.text.strip() and merged.text == llm.invoke(PROMPT).text
    assert merged.usage_metadata and merged.usage_metadata["output_tokens"] > 0
    assert paths == ["POST /v1/responses", "POST /v1/responses"], paths


def test_bind_tools_round_trip(llm, paths, emulator):
    bound = llm.bind_tools([get_weather])
    question = HumanMessage('Weather in Paris? call:get_weather args:{"city": "Paris"}')
    call_message = bound.invoke([question])
    [call] = call_message.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Paris"}, call_message.tool_calls
    result = ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])
    answer = bound.invoke([question, call_message, result])
    assert answer.text.strip() and not answer.tool_calls, answer
    assert paths == ["POST /v1/responses", "POST /v1/responses"], paths
    sent = emulator.chat_requests()[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "function"], sent
    assert "+5°C in Paris" in sent[-1]["content"]


def test_streamed_tool_call_chunks_merge_to_the_call(llm):
    bound = llm.bind_tools([get_weather])
    chunks = list(bound.stream('call:get_weather args:{"city": "Oslo"}'))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [("get_weather", {"city": "Oslo"})], merged
