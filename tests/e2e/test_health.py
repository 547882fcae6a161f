"""Health, readiness and the adapter's own API description; none of them needs a key."""

from __future__ import annotations

import httpx

from support import free_port


def test_health_live_needs_no_key(http):
    response = http.get("/health/live")
    assert response.status_code == 200, response.text


def test_health_ready_needs_no_key(http):
    response = http.get("/health/ready")
    assert response.status_code == 200, response.text


def test_openapi_json_describes_the_chat_route(http):
    response = http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert "paths" in document and document["paths"]
    assert any(path.endswith("/chat/completions") for path in document["paths"]), sorted(document["paths"])


def test_docs_serve_html(http):
    response = http.get("/docs", follow_redirects=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()


def test_ready_is_503_when_gigachat_is_unreachable(adapters):
    """An adapter pointed at a closed port is alive but not ready."""
    dead = f"https://127.0.0.1:{free_port()}"
    adapter = adapters.start(
        ready_path="/health/live",
        GIGACHAT_BASE_URL=f"{dead}/api/v1",
        GIGACHAT_AUTH_URL=f"{dead}/api/v2/oauth",
        GIGACHAT_TIMEOUT="2",
    )
    with httpx.Client(timeout=10, trust_env=False) as http:
        response = http.get(f"{adapter.root_url}/health/ready")
    assert response.status_code == 503, response.text
    adapter.process.stop()
