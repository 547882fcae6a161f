"""Claude Code (`@anthropic-ai/claude-code` 2.1.197, pinned in tests/e2e/node) against the adapter, offline.

Each run is `claude -p PROMPT --output-format json` in print mode with a fresh HOME and work dir, stdin
from /dev/null, and the README's environment: `ANTHROPIC_BASE_URL` at the adapter's root (Claude Code
appends `/v1/messages?beta=true`), a key as `ANTHROPIC_AUTH_TOKEN` (Bearer) or `ANTHROPIC_API_KEY`
(`x-api-key`), a `claude-*` model served by the adapter's wildcard alias, no telemetry or other
traffic. Claude Code first sends `HEAD /`, then streamed requests with its ~27 KB system prompt, 24
tools, `thinking`, `context_management`, `output_config` and a list of betas.

The npm package's `postinstall` (which would put the native binary in place of `bin/claude.exe`) may be
blocked by npm's install-scripts policy, so the platform package's binary is run directly.

The tool run steers the emulator with `call:Write args:{…}` in the prompt (exact arguments); Claude
Code writes the file, sends the result back, the emulator answers text and the run finishes. It runs
with `--permission-mode acceptEdits` (edits inside the work dir need no approval), since
`--dangerously-skip-permissions` is refused to root, which CI is.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import pytest

from anthropic_support import ALIASES, FAST_MODEL, MODEL, MODEL_UPSTREAM
from support import API_KEY, node_client

CLAUDE_TIMEOUT = 120

pytestmark = pytest.mark.timeout(CLAUDE_TIMEOUT + 30)


def claude_binary() -> Path:
    """The native binary of the platform package npm installed (`@anthropic-ai/claude-code-<os>-<arch>`)."""
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower(), platform.machine())
    system = platform.system().lower()
    musl = system == "linux" and not platform.libc_ver()[0]
    package = f"@anthropic-ai/claude-code-{system}-{arch}{'-musl' if musl else ''}"
    return node_client(f"node_modules/{package}/claude")


@pytest.fixture(scope="module")
def claude_adapter(adapters):
    return adapters.start(MODEL_ALIASES=ALIASES)


def run_claude(tmp_path: Path, adapter, prompt: str, *args: str, model: str = MODEL, key_variable: str = "ANTHROPIC_AUTH_TOKEN") -> tuple[dict[str, Any], Path]:
    """Runs `claude -p` once; returns its JSON result and the work dir."""
    home = tmp_path / "home"
    workdir = tmp_path / "work"
    for path in (home, workdir):
        path.mkdir(parents=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": adapter.root_url,
        key_variable: API_KEY,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": FAST_MODEL,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "NO_COLOR": "1",
    }
    argv = [str(claude_binary()), "-p", prompt, "--output-format", "json", *args]
    done = subprocess.run(argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLAUDE_TIMEOUT)
    report = f"claude exit {done.returncode}\nstdout:\n{done.stdout[-6000:]}\nstderr:\n{done.stderr[-4000:]}"
    assert done.returncode == 0, report
    result = json.loads(done.stdout)
    assert result["type"] == "result" and result["subtype"] == "success" and not result["is_error"], report
    return result, workdir


def messages_calls(emulator) -> list[dict[str, Any]]:
    return [call["json"] for call in emulator.chat_requests()]


def test_claude_code_answers_a_prompt(tmp_path, claude_adapter, emulator):
    result, _ = run_claude(tmp_path, claude_adapter, "Say hi")
    assert result["result"].strip() and result["stop_reason"] == "end_turn", result
    assert result["num_turns"] == 1, result
    assert result["usage"]["input_tokens"] > 1000 and result["usage"]["output_tokens"] > 0, result["usage"]

    [body] = messages_calls(emulator)
    assert body["model"] == MODEL_UPSTREAM and body["stream"] is True
    system = body["messages"][0]
    assert system["role"] == "system" and "Claude" in system["content"], system["content"][:300]
    assert "Say hi" in body["messages"][-1]["content"], body["messages"][-1]
    names = {f["name"] for f in body["functions"]}
    assert {"Bash", "Read", "Write", "Edit"} <= names, names


def test_claude_code_writes_a_file_with_its_tool_then_finishes(tmp_path, claude_adapter, emulator):
    target = tmp_path / "work" / "out.txt"
    prompt = f"Write hi to out.txt. call:Write args:{json.dumps({'file_path': str(target), 'content': 'hi'})}"
    result, _ = run_claude(tmp_path, claude_adapter, prompt, "--permission-mode", "acceptEdits", key_variable="ANTHROPIC_API_KEY")
    assert target.read_text() == "hi"
    assert result["num_turns"] == 2 and result["result"].strip(), result
    assert not result["permission_denials"], result

    first, second = messages_calls(emulator)
    assert "call:Write" in first["messages"][-1]["content"]
    call, answer = second["messages"][-2:]
    assert call["role"] == "assistant" and call["function_call"] == {"name": "Write", "arguments": {"file_path": str(target), "content": "hi"}}, call
    assert answer["role"] == "function" and "out.txt" in answer["content"], answer


def test_claude_code_with_a_gigachat_model_name(tmp_path, claude_adapter, emulator):
    """Given a model name it does not know, Claude Code sends its agent list as a `system` turn in the
    middle of `messages` (beta `mid-conversation-system-2026-04-07`): that turn must be accepted."""
    result, _ = run_claude(tmp_path, claude_adapter, "Say hi", model=MODEL_UPSTREAM)
    assert result["result"].strip(), result
    [body] = messages_calls(emulator)
    assert body["model"] == MODEL_UPSTREAM
    assert any("agent" in m["content"].lower() for m in body["messages"] if m["role"] == "system"), body["messages"]
