"""The OpenAI Agents SDK (`openai-agents`) on the Chat Completions model against the adapter.

The agent loop is the SDK's own: it sends the tools (strict JSON schemas), runs the `@function_tool`
the model calls, sends the result back as a `tool` message and stops at the final text. The emulator
calls `get_weather` because the user message contains `call:get_weather`, and answers text after the
function result. Tracing is off (it would try to export to OpenAI).
"""

from __future__ import annotations

from typing import Optional

import pytest
from openai import AsyncOpenAI
from pydantic import BaseModel

from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled

set_tracing_disabled(True)


@pytest.fixture
def chat_model(base_url, api_key):
    # A client per test: Runner.run_sync runs each test in a new event loop.
    client = AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=30)
    return OpenAIChatCompletionsModel(model="GigaChat", openai_client=client)


def weather_agent(chat_model, calls: list[str], **settings) -> Agent:
    @function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        calls.append(city)
        return f"+5°C and cloudy in {city}"

    return Agent(
        name="Weather",
        instructions="Answer weather questions with the tool.",
        tools=[get_weather],
        model=chat_model,
        model_settings=ModelSettings(**settings),
    )


def test_runner_runs_the_function_tool_and_returns_final_text(chat_model, emulator):
    calls: list[str] = []
    result = Runner.run_sync(weather_agent(chat_model, calls), "call:get_weather what's the weather in Moscow?")
    assert len(calls) == 1 and isinstance(calls[0], str), f"tool calls: {calls}"
    assert isinstance(result.final_output, str) and result.final_output.strip(), result.final_output
    sent = emulator.chat_requests()
    assert len(sent) == 2, f"expected call turn + answer turn, got {len(sent)} upstream calls"
    assert sent[0]["json"]["functions"][0]["name"] == "get_weather"
    assert [m["role"] for m in sent[1]["json"]["messages"][-2:]] == ["assistant", "function"]
    assert "+5°C" in sent[1]["json"]["messages"][-1]["content"]


def test_runner_streamed_runs_the_tool(chat_model):
    import asyncio

    calls: list[str] = []

    async def run() -> str:
        result = Runner.run_streamed(weather_agent(chat_model, calls), "call:get_weather in Kazan?")
        async for _ in result.stream_events():
            pass
        return result.final_output

    final = asyncio.run(run())
    assert len(calls) == 1, calls
    assert isinstance(final, str) and final.strip(), final


def test_runner_with_forcing_model_settings(chat_model, emulator):
    # No marker: only tool_choice makes the call; the SDK resets it to auto after the tool ran.
    calls: list[str] = []
    agent = weather_agent(chat_model, calls, tool_choice="required", parallel_tool_calls=False, temperature=0, max_tokens=300)
    result = Runner.run_sync(agent, "What's the weather in Moscow?")
    assert len(calls) == 1, calls
    assert isinstance(result.final_output, str) and result.final_output.strip()
    first = emulator.chat_requests()[0]["json"]
    assert first["function_call"] == {"name": "get_weather"}, first.get("function_call")


def test_runner_without_marker_answers_without_tools(chat_model):
    calls: list[str] = []
    result = Runner.run_sync(weather_agent(chat_model, calls), "Hello!")
    assert calls == []
    assert isinstance(result.final_output, str) and result.final_output.strip()


class Forecast(BaseModel):
    city: str
    temperature: int
    summary: Optional[str]


def test_agent_output_type_uses_structured_output(chat_model, emulator):
    agent = Agent(name="Forecaster", instructions="Give a forecast.", output_type=Forecast, model=chat_model)
    result = Runner.run_sync(agent, "Forecast for Moscow")
    assert isinstance(result.final_output, Forecast), result.final_output
    sent = emulator.chat_requests()[-1]["json"]
    assert sent["response_format"]["type"] == "json_schema", sent.get("response_format")
