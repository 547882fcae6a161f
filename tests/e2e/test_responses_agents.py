"""The OpenAI Agents SDK (`openai-agents`) with its default model: the Responses API.

An `Agent` built without `model` gets the SDK's default model name and, through the default
`OpenAIProvider`, the `OpenAIResponsesModel`: every call goes to `POST /v1/responses`. An adapter
whose `MODEL_ALIASES` maps that default name to GigaChat serves it unchanged. The SDK runs the
`@function_tool` the model calls (the emulator calls it because the user message carries
`call:get_weather args:{…}`), sends the result back as a `function_call_output` item and stops at the
final text. Tracing is off (it would export to OpenAI).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from openai import AsyncOpenAI

from agents import Agent, Runner, RunConfig, function_tool, set_tracing_disabled
from agents.models.default_models import get_default_model
from agents.models.openai_provider import OpenAIProvider
from agents.models.openai_responses import OpenAIResponsesModel

from support import API_KEY

set_tracing_disabled(True)

DEFAULT_MODEL = get_default_model()


@pytest.fixture(scope="module")
def aliased_adapter(adapters):
    """An adapter serving the SDK's default model name as GigaChat."""
    return adapters.start(MODEL_ALIASES=f"{DEFAULT_MODEL}=GigaChat")


@pytest.fixture
def recorded_paths() -> list[str]:
    return []


@pytest.fixture
def run_config(aliased_adapter, recorded_paths) -> RunConfig:
    """The SDK's default provider on a client that records the paths it calls. A client per test:
    Runner.run_sync runs each test in a new event loop."""

    async def record(request: httpx.Request) -> None:
        recorded_paths.append(f"{request.method} {request.url.path}")

    client = AsyncOpenAI(
        base_url=aliased_adapter.base_url,
        api_key=API_KEY,
        max_retries=0,
        timeout=30,
        http_client=httpx.AsyncClient(event_hooks={"request": [record]}, timeout=30, trust_env=False),
    )
    return RunConfig(model_provider=OpenAIProvider(openai_client=client))


def weather_agent(calls: list[str]) -> Agent:
    @function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        calls.append(city)
        return f"+5°C and cloudy in {city}"

    return Agent(name="Weather", instructions="Answer weather questions with the tool.", tools=[get_weather])


def test_default_model_is_the_responses_model(run_config):
    model = run_config.model_provider.get_model(None)
    assert isinstance(model, OpenAIResponsesModel), type(model)


def test_runner_runs_the_function_tool_to_a_final_output(run_config, recorded_paths, emulator):
    calls: list[str] = []
    result = Runner.run_sync(
        weather_agent(calls), 'Weather in Moscow? call:get_weather args:{"city": "Moscow"}', run_config=run_config
    )
    assert calls == ["Moscow"], calls
    assert isinstance(result.final_output, str) and result.final_output.strip(), result.final_output
    assert recorded_paths == ["POST /v1/responses", "POST /v1/responses"], recorded_paths
    assert all(raw.response_id and raw.response_id.startswith("resp_") for raw in result.raw_responses)
    sent = emulator.chat_requests()
    assert len(sent) == 2, f"expected call turn + answer turn, got {len(sent)} upstream calls"
    assert sent[0]["json"]["functions"][0]["name"] == "get_weather"
    assert sent[0]["json"]["messages"][0]["role"] == "system"
    assert "Answer weather questions" in sent[0]["json"]["messages"][0]["content"]
    assert [m["role"] for m in sent[1]["json"]["messages"][-2:]] == ["assistant", "function"]
    assert "+5°C" in sent[1]["json"]["messages"][-1]["content"]


def test_runner_streamed_runs_the_tool(run_config, recorded_paths):
    calls: list[str] = []

    async def run() -> tuple[str, list[str]]:
        result = Runner.run_streamed(weather_agent(calls), 'call:get_weather args:{"city": "Kazan"}', run_config=run_config)
        kinds = [event.type async for event in result.stream_events()]
        return result.final_output, kinds

    final, kinds = asyncio.run(run())
    assert calls == ["Kazan"], calls
    assert isinstance(final, str) and final.strip(), final
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds, kinds
    assert recorded_paths == ["POST /v1/responses", "POST /v1/responses"], recorded_paths
