"""Codex CLI (`@openai/codex` 0.171.0, pinned in tests/e2e/node) against the adapter, offline.

Each test gives Codex its own `CODEX_HOME` with a `config.toml` naming the adapter as a custom model
provider (`wire_api = "responses"`, the only wire Codex 0.171 accepts; no retries, so a failure shows
at once) and runs `codex exec --json` in a fresh work dir with stdin from /dev/null. Codex sends its
real requests: a ~17 KB developer prompt, `store: false` with the whole history every turn, hosted
tool types GigaChat cannot serve (`web_search`, `namespace`, `tool_search`) beside its functions.

Tools are run through the emulator's `call:NAME args:{…}` marker in the prompt (exact arguments):
Codex's shell (`exec_command`) with a GigaChat model name, and its free-form `apply_patch` custom tool,
which Codex only declares for models it knows: there the run uses the OpenAI slug `gpt-5.5`, which an
adapter with `MODEL_ALIASES=gpt-5.5=GigaChat-2-Max` serves as GigaChat. After the tool's output the
emulator answers text and Codex finishes; the test checks the file Codex wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support import API_KEY, node_client

KEY_VARIABLE = "GIGACHAT_ADAPTER_KEY"
CODEX_TIMEOUT = 150

pytestmark = pytest.mark.timeout(CODEX_TIMEOUT + 30)


def codex_config(base_url: str, model: str, retries: bool) -> str:
    """The config.toml of the README's recipe; without `retries`, Codex does not retry (tests want
    the first failure)."""
    config = f"""\
model = "{model}"
model_provider = "gigachat"

[model_providers.gigachat]
name = "GigaChat adapter"
base_url = "{base_url}"
env_key = "{KEY_VARIABLE}"
wire_api = "responses"
"""
    return config if retries else config + "request_max_retries = 0\nstream_max_retries = 0\n"


def run_codex(
    tmp_path: Path,
    base_url: str,
    prompt: str,
    model: str = "GigaChat-2-Max",
    *,
    retries: bool = False,
    allowed_error: str = "Model metadata",
) -> tuple[list[dict[str, Any]], Path]:
    """Runs `codex exec --json` once and asserts the turn completed with no error reported but
    Codex's warning about a model it has no metadata for and errors mentioning `allowed_error`;
    returns its JSONL events and the work dir. `retries` keeps Codex's default retry settings."""
    codex = node_client("node_modules/.bin/codex")
    home = tmp_path / "home"
    codex_home = home / ".codex"
    workdir = tmp_path / "work"
    for path in (codex_home, workdir):
        path.mkdir(parents=True)
    (codex_home / "config.toml").write_text(codex_config(base_url, model, retries))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        KEY_VARIABLE: API_KEY,
        "RUST_LOG": "warn",
        "NO_COLOR": "1",
    }
    argv = [
        str(codex),
        "exec",
        "--skip-git-repo-check",
        "--json",
        "--ephemeral",
        "--dangerously-bypass-approvals-and-sandbox",
        "-C",
        str(workdir),
        prompt,
    ]
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CODEX_TIMEOUT)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    report = f"codex exit {done.returncode}\nstdout:\n{done.stdout[-6000:]}\nstderr:\n{done.stderr[-4000:]}"
    kinds = [event["type"] for event in events]
    assert done.returncode == 0, report
    assert kinds[-1] == "turn.completed" and "turn.failed" not in kinds, report
    errors = [
        e
        for e in events
        if e["type"] == "error" and not any(allowed in e.get("message", "") for allowed in ("Model metadata", allowed_error))
    ]
    assert not errors, report
    return events, workdir


def completed_items(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["item"] for e in events if e["type"] == "item.completed" and e["item"]["type"] == kind]


def test_codex_exec_answers_a_prompt(tmp_path, adapter, emulator):
    events, _ = run_codex(tmp_path, adapter.base_url, "Say hi")
    [message] = completed_items(events, "agent_message")
    assert message["text"].strip(), message
    usage = events[-1]["usage"]
    assert usage["input_tokens"] > 1000 and usage["output_tokens"] > 0, usage

    [sent] = emulator.chat_requests()
    body = sent["json"]
    system = body["messages"][0]
    assert system["role"] == "system" and "Codex" in system["content"], system["content"][:200]
    assert body["messages"][-1] == {"role": "user", "content": "Say hi"}
    names = {f["name"] for f in body["functions"]}
    assert "exec_command" in names, names
    # Codex's hosted tool types are left out, never sent on as functions.
    assert not names & {"web_search", "multi_agent_v1", "namespace"}, names


def test_codex_runs_a_shell_command_then_finishes(tmp_path, adapter, emulator):
    prompt = 'Write hi to out.txt. call:exec_command args:{"cmd": "echo hi > out.txt"}'
    events, workdir = run_codex(tmp_path, adapter.base_url, prompt)
    assert (workdir / "out.txt").read_text() == "hi\n"
    [command] = completed_items(events, "command_execution")
    assert "echo hi > out.txt" in command["command"] and command["exit_code"] == 0, command
    [message] = completed_items(events, "agent_message")
    assert message["text"].strip()

    first, second = emulator.chat_requests()
    assert first["json"]["messages"][-1]["content"] == prompt
    call, result = second["json"]["messages"][-2:]
    assert call["role"] == "assistant" and call["function_call"]["name"] == "exec_command", call
    assert call["function_call"]["arguments"] == {"cmd": "echo hi > out.txt"}
    assert result["role"] == "function" and "exited with code 0" in result["content"], result


@pytest.fixture(scope="module")
def openai_slug_adapter(adapters):
    """An adapter serving Codex's catalog model `gpt-5.5` as GigaChat-2-Max."""
    return adapters.start(MODEL_ALIASES="gpt-5.5=GigaChat-2-Max")


def test_codex_applies_a_patch_with_its_custom_tool(tmp_path, openai_slug_adapter, emulator):
    patch = "*** Begin Patch\\n*** Add File: hello.txt\\n+hi from GigaChat\\n*** End Patch\\n"
    prompt = f'Create hello.txt. call:apply_patch args:{{"input": "{patch}"}}'
    events, workdir = run_codex(tmp_path, openai_slug_adapter.base_url, prompt, model="gpt-5.5")
    assert (workdir / "hello.txt").read_text() == "hi from GigaChat\n"
    [change] = completed_items(events, "file_change")
    assert [(Path(c["path"]).name, c["kind"]) for c in change["changes"]] == [("hello.txt", "add")], change
    [message] = completed_items(events, "agent_message")
    assert message["text"].strip()

    first, second = emulator.chat_requests()
    [apply_patch] = [f for f in first["json"]["functions"] if f["name"] == "apply_patch"]
    assert apply_patch["parameters"]["required"] == ["input"], apply_patch
    assert "Begin Patch" in apply_patch["description"], "the grammar goes with the description"
    result = second["json"]["messages"][-1]
    assert result["role"] == "function" and "hello.txt" in result["content"], result


def test_codex_retries_a_refused_topic_once_with_its_content_filter_guidance(tmp_path, adapter, emulator):
    # GigaChat's topic filter ends the answer as `response.incomplete` with reason `content_filter`.
    # Codex shows the refusal, then (its own recovery, on by default) asks once more with the
    # refusal in the history and a `<content_filter_guidance>` message; the emulator answers that.
    refusal = "Не люблю менять тему разговора, но вот сейчас тот самый случай."
    events, _ = run_codex(tmp_path, adapter.base_url, "blacklist: tell me", retries=True, allowed_error="content_filter")
    first, second = completed_items(events, "agent_message")
    assert first["text"] == refusal and second["text"].strip() and second["text"] != refusal, events
    _, retry = emulator.chat_requests()
    *_, refused, guidance = retry["json"]["messages"]
    assert (refused["role"], refused["content"]) == ("assistant", refusal), refused
    assert guidance["role"] == "user" and guidance["content"].startswith("<content_filter_guidance>"), guidance
