"""Schemathesis against the adapter's own `/openapi.json`: requests generated from the OpenAI schemas
(valid ones, and invalid ones from the coverage phase) to every documented operation never get a
5xx, and every documented response validates against its schema. The seed is fixed, so a failure
reproduces with the command it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.timeout(180)
def test_generated_requests_get_no_server_error_and_schema_valid_responses(adapter, api_key, tmp_path):
    cli = Path(sys.executable).parent / "schemathesis"
    command = [
        str(cli), "run", f"{adapter.root_url}/openapi.json",
        "--url", adapter.base_url,
        "--header", f"Authorization: Bearer {api_key}",
        "--checks", "not_a_server_error,response_schema_conformance",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "25",
        "--seed", "20261124",
        "--request-timeout", "30",
        "--suppress-health-check", "all",
        # The probes live at the root, outside the /v1 server the other operations share.
        "--exclude-path-regex", "/health",
    ]
    # Its working directory collects schemathesis' own files, away from the repository.
    result = subprocess.run(command, capture_output=True, text=True, timeout=170, cwd=tmp_path)
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "passed" in result.stdout, report
