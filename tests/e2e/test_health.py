"""Health, readiness, the adapter's own API description (none needs a key), and how the process is run:
the healthcheck subcommand, `.env`, logging."""

from __future__ import annotations

import json
import subprocess
import time

import httpx

from conftest import binary, clean_env
from support import API_KEY, free_port


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


def test_healthcheck_subcommand_probes_the_adapter(adapter):
    """Docker's HEALTHCHECK runs `gigachat-adapter healthcheck`: by default it probes
    http://127.0.0.1:$PORT/health/live, exits 0 when the adapter is alive and non-zero otherwise."""

    def probe(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary("gigachat-adapter")), "healthcheck", *args],
            env={**clean_env(), **env},
            capture_output=True,
            text=True,
            timeout=30,
        )

    healthy = probe(PORT=str(adapter.port))
    assert healthy.returncode == 0, healthy.stderr
    explicit = probe("--url", f"{adapter.root_url}/health/live")
    assert explicit.returncode == 0, explicit.stderr
    dead = probe(PORT=str(free_port()))
    assert dead.returncode != 0
    assert "health/live" in dead.stderr, dead.stderr
    refused = probe("--url", f"{adapter.root_url}/v1/models")  # 401 without a key
    assert refused.returncode != 0
    assert "401" in refused.stderr, refused.stderr


def test_a_dotenv_file_in_the_working_directory_configures_the_adapter(adapters, tmp_path):
    """Settings missing from the environment are read from `.env` in the working directory."""
    port = free_port()
    env = adapters.env(port, {"DATA_DIR": str(tmp_path / "data")})
    del env["BEARER_TOKEN"], env["PORT"]
    (tmp_path / ".env").write_text(f"BEARER_TOKEN=dotenv-key\nPORT={port}\n")
    with open(tmp_path / "adapter.log", "wb") as log:
        process = subprocess.Popen(
            [str(binary("gigachat-adapter"))], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    root = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=5, trust_env=False) as http:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, (tmp_path / "adapter.log").read_text()
                assert time.monotonic() < deadline, "the adapter never listened on the .env PORT"
                try:
                    if http.get(f"{root}/health/live").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            accepted = http.get(f"{root}/v1/models", headers={"Authorization": "Bearer dotenv-key"})
            assert accepted.status_code == 200, accepted.text
            other = http.get(f"{root}/v1/models", headers={"Authorization": f"Bearer {API_KEY}"})
            assert other.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_environment_production_logs_json_and_debug_logs_more(adapters):
    """ENVIRONMENT=production writes one JSON object per log line; DEBUG=true adds debug records
    (each GigaChat call is logged at debug level)."""
    production = adapters.start(ENVIRONMENT="production")
    production.client().models.list()
    lines = [line for line in production.process.log_text().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert records and all("level" in record for record in records), lines
    assert not any(record["level"] == "DEBUG" for record in records)
    production.process.stop()

    debugging = adapters.start(ENVIRONMENT="development", DEBUG="true")
    debugging.client().models.list()
    text = debugging.process.log_text()
    assert "DEBUG" in text and "GigaChat call" in text, text[-2000:]
    assert not any(line.startswith("{") for line in text.splitlines())
    debugging.process.stop()
