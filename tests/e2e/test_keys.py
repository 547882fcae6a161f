"""Keys with policy (`KEYS_FILE`), seen from the openai SDK against the release adapter: a file key
works beside `BEARER_TOKEN`, a model outside its globs is the SDK's `PermissionDeniedError`, an
expired key its `AuthenticationError`; the file is read again when it changes and on a real SIGHUP
sent to the adapter process (which keeps serving), a broken file keeps the last good policy and is
counted; the access log names the file key; `/admin/keys` lists keys without secrets."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from pathlib import Path

import httpx
import openai
import pytest

from support import API_KEY

MESSAGES = [{"role": "user", "content": "Привет"}]
ADMIN = "e2e-admin-token"


def entry(name: str, secret: str, extra: str = "") -> str:
    digest = hashlib.sha256(secret.encode()).hexdigest()
    return f'[[keys]]\nname = "{name}"\nsha256 = "{digest}"\n{extra}\n'


FIRST = (
    entry("alice", "sk-e2e-alice", 'models = ["GigaChat-2*", "gpt-4o"]')
    + entry("old", "sk-e2e-old", 'expires = "2020-01-01T00:00:00Z"')
    + entry("limited", "sk-e2e-limited", "[keys.limits]\nrequests_per_minute = 100\nconcurrent = 3")
)


def admitted(adapter, secret: str) -> bool:
    try:
        adapter.client(api_key=secret).chat.completions.create(model="GigaChat-2-Max", messages=MESSAGES)
        return True
    except openai.AuthenticationError:
        return False


def wait_for(condition, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def reload_failures(adapter) -> int:
    text = httpx.get(f"{adapter.root_url}/metrics", headers={"authorization": f"Bearer {API_KEY}"}).text
    for line in text.splitlines():
        if line.startswith("gigachat_adapter_keys_reload_failures_total "):
            return int(line.split()[1])
    raise AssertionError(f"no reload failure counter in:\n{text}")


@pytest.fixture()
def keys_file(tmp_path) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(FIRST)
    return path


def test_file_keys_models_and_expiry_through_the_sdk(adapters, keys_file):
    adapter = adapters.start(KEYS_FILE=str(keys_file), ENVIRONMENT="production")
    since = adapter.process.log_size()
    alice = adapter.client(api_key="sk-e2e-alice")
    answer = alice.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert answer.choices[0].message.content
    chunks = list(alice.chat.completions.create(model="GigaChat-2-Max", messages=MESSAGES, stream=True))
    assert any(chunk.choices and chunk.choices[0].delta.content for chunk in chunks)
    # BEARER_TOKEN keys keep working, unrestricted.
    adapter.client().chat.completions.create(model="GigaChat", messages=MESSAGES)

    with pytest.raises(openai.PermissionDeniedError) as refused:
        alice.chat.completions.create(model="GigaChat", messages=MESSAGES)
    assert refused.value.status_code == 403
    assert refused.value.code == "model_not_allowed"
    assert "'GigaChat'" in refused.value.message
    with pytest.raises(openai.PermissionDeniedError):
        alice.embeddings.create(model="text-embedding-3-small", input="Привет")
    with pytest.raises(openai.PermissionDeniedError):
        alice.responses.create(model="GigaChat-Pro", input="Привет")

    with pytest.raises(openai.AuthenticationError) as expired:
        adapter.client(api_key="sk-e2e-old").chat.completions.create(model="GigaChat", messages=MESSAGES)
    assert "expired" in expired.value.message

    # The access log names the file key, never its secret.
    deadline = time.monotonic() + 10
    while True:
        text = adapter.process.log_text(since)
        keys = [
            json.loads(line)["fields"].get("key")
            for line in text.splitlines()
            if line.startswith("{") and json.loads(line).get("target") == "access"
        ]
        if (keys.count("alice") >= 5 and "old" in keys) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert keys.count("alice") == 5, keys
    assert "old" in keys, keys
    assert "sk-e2e-alice" not in text


def test_a_changed_file_is_read_and_a_broken_one_keeps_the_last_good(adapters, keys_file):
    adapter = adapters.start(KEYS_FILE=str(keys_file), KEYS_RELOAD_SECS="1")
    assert not admitted(adapter, "sk-e2e-bob")
    keys_file.write_text(FIRST + entry("bob", "sk-e2e-bob"))
    wait_for(lambda: admitted(adapter, "sk-e2e-bob"), "bob's key to be read")
    assert reload_failures(adapter) == 0
    keys_file.write_text(FIRST + entry("bob", "sk-e2e-bob") + '[[keys]]\nname = "carol"\n')
    wait_for(lambda: reload_failures(adapter) == 1, "the broken file to be refused")
    assert admitted(adapter, "sk-e2e-bob") and admitted(adapter, "sk-e2e-alice")
    assert "KEYS_FILE refused" in adapter.process.log_text()


def test_sighup_reads_the_file_again(adapters, keys_file):
    adapter = adapters.start(KEYS_FILE=str(keys_file), KEYS_RELOAD_SECS="0")
    keys_file.write_text(FIRST + entry("dave", "sk-e2e-dave"))
    time.sleep(1.5)
    assert not admitted(adapter, "sk-e2e-dave"), "polling is off: only SIGHUP reads the file"
    os.kill(adapter.process.popen.pid, signal.SIGHUP)
    wait_for(lambda: admitted(adapter, "sk-e2e-dave"), "SIGHUP to read the file")
    assert adapter.process.alive()
    assert "KEYS_FILE reloaded" in adapter.process.log_text()


def test_admin_route(adapters, adapter, keys_file):
    plain = adapter
    adapter = adapters.start(KEYS_FILE=str(keys_file), ADMIN_TOKEN=ADMIN)
    adapter.client(api_key="sk-e2e-limited").chat.completions.create(model="GigaChat", messages=MESSAGES)
    url = f"{adapter.root_url}/admin/keys"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": f"Bearer {API_KEY}"}).status_code == 401
    answer = httpx.get(url, headers={"authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 200, answer.text
    for secret in ("sk-e2e-alice", hashlib.sha256(b"sk-e2e-alice").hexdigest(), API_KEY, ADMIN):
        assert secret not in answer.text
    keys = {key["name"]: key for key in answer.json()["data"]}
    assert set(keys) == {"key-1", "key-2", "alice", "old", "limited"}
    assert keys["limited"]["limits"]["requests_per_minute"] == 100
    assert keys["limited"]["usage"]["requests"] == 1
    assert keys["old"]["expired"] is True
    assert keys["alice"]["models"] == ["GigaChat-2*", "gpt-4o"]
    # Without ADMIN_TOKEN (the shared adapter) the route is not served at all.
    assert httpx.get(f"{plain.root_url}/admin/keys", headers={"authorization": f"Bearer {API_KEY}"}).status_code == 404
