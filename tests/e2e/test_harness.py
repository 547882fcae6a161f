"""The harness itself: the emulator's control API does what the error tests rely on.

These talk to the emulator directly (no adapter), so a failure here points at the harness or the
emulator, not at the adapter.
"""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def upstream_token(emulator) -> str:
    response = emulator.http.post(
        emulator.auth_url,
        headers={"Authorization": f"Basic {emulator.credentials}", "RqUID": str(uuid.uuid4())},
        data={"scope": "GIGACHAT_API_PERS"},
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def chat(emulator, token: str):
    return emulator.http.post(
        f"{emulator.api_base_url}/chat/completions",
        headers={"Authorization": f"Bearer {token}"},
        json={"model": "GigaChat", "messages": [{"role": "user", "content": "Привет"}]},
    )


def test_emulator_answers_chat_and_logs_it(emulator, upstream_token):
    response = chat(emulator, upstream_token)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"]
    logged = emulator.chat_requests()
    assert len(logged) == 1 and logged[0]["json"]["messages"][0]["content"] == "Привет"


def test_emulator_status_fault_hits_only_the_next_chat_call(emulator, upstream_token):
    emulator.chat_fault("status", status=429, retry_after_ms=1500)
    models = emulator.http.get(f"{emulator.api_base_url}/models", headers={"Authorization": f"Bearer {upstream_token}"})
    assert models.status_code == 200, "a chat-only fault must not hit /models"
    first = chat(emulator, upstream_token)
    assert first.status_code == 429 and first.headers["retry-after"] == "2"
    assert chat(emulator, upstream_token).status_code == 200


def test_emulator_faults_are_cleared_between_tests(emulator, upstream_token):
    emulator.chat_fault("bad_gateway_html")
    emulator.clear_faults()
    assert chat(emulator, upstream_token).status_code == 200
