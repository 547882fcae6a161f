"""The Vercel AI SDK (`ai` + `@ai-sdk/openai`, pinned in tests/e2e/node) from node.

`tests/e2e/node/vercel_ai.mjs` uses the default provider, `createOpenAI({baseURL})(model)`, which
talks to the Responses API: `generateText`, `streamText`, and a tool the SDK runs itself across
steps (`stopWhen: stepCountIs(3)`). The script reports what the SDK returned and every request path.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from support import API_KEY, node_client


def run_script(base_url: str, mode: str) -> dict[str, Any]:
    script = node_client("vercel_ai.mjs")
    node_client("node_modules/ai/package.json")
    done = subprocess.run(
        ["node", str(script), mode],
        env={"PATH": os.environ["PATH"], "BASE_URL": base_url, "API_KEY": API_KEY, "MODEL": "GigaChat"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"node {script.name} {mode} failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout)


def test_generate_text(base_url, emulator):
    out = run_script(base_url, "generate")
    assert out["text"].strip() and out["finishReason"] == "stop", out
    assert out["usage"]["inputTokens"] > 0 and out["usage"]["outputTokens"] > 0, out["usage"]
    assert out["responseId"].startswith("resp_"), out
    assert out["requests"] == ["POST /v1/responses"], out["requests"]
    [sent] = emulator.chat_requests()
    assert sent["json"]["messages"][-1]["content"] == "Привет! Как дела?"


def test_stream_text(base_url):
    out = run_script(base_url, "stream")
    assert len(out["deltas"]) > 1, out
    assert "".join(out["deltas"]) == out["text"] and out["text"].strip()
    assert out["finishReason"] == "stop" and out["usage"]["outputTokens"] > 0, out
    assert out["responseId"].startswith("resp_")
    assert out["requests"] == ["POST /v1/responses"], out["requests"]


def test_tool_call_runs_and_finishes(base_url, emulator):
    out = run_script(base_url, "tool")
    assert out["toolRuns"] == ["Paris"], out
    first, second = out["steps"]
    assert first["finishReason"] == "tool-calls"
    assert first["toolCalls"] == [{"toolName": "get_weather", "input": {"city": "Paris"}}]
    assert first["toolResults"] == [{"toolName": "get_weather", "output": "+5°C in Paris"}]
    assert second["finishReason"] == "stop" and second["text"].strip() and out["text"] == second["text"]
    assert out["requests"] == ["POST /v1/responses", "POST /v1/responses"], out["requests"]
    messages = emulator.chat_requests()[-1]["json"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "function"], messages
    assert "+5°C in Paris" in messages[-1]["content"]


def test_tool_call_streamed(base_url):
    out = run_script(base_url, "tool-stream")
    assert out["toolRuns"] == ["Paris"], out
    parts = out["parts"]
    assert "tool-call" in parts and "tool-result" in parts and "text-delta" in parts, parts
    assert parts.index("tool-result") < parts.index("text-delta"), parts
    assert out["text"].strip() and out["finishReason"] == "stop", out
    assert out["requests"] == ["POST /v1/responses", "POST /v1/responses"], out["requests"]
