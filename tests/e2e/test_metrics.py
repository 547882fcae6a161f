"""Metrics, as a real Prometheus sees them: Debian's `prometheus` scrapes the adapter's
`METRICS_ADDR` every second while the openai SDK sends chat, stream and failing calls; then
Prometheus' HTTP API must report the counts, the histogram buckets and the token totals sent.
Every query of the Grafana dashboard (deploy/grafana/gigachat-adapter.json) must run there
without error, on metrics and labels the adapter exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import openai
import pytest

from support import API_KEY, data_url, free_port, png

MESSAGES = [{"role": "user", "content": "Привет"}]
CHAT = 'route="/v1/chat/completions"'


class Prometheus:
    """A Prometheus server scraping one target, queried over its HTTP API."""

    def __init__(self, binary: str, target: str, workdir: Path):
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: gigachat-adapter\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "prometheus.log", "wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.url, timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.http.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, (workdir / "prometheus.log").read_text()
            time.sleep(0.2)
        pytest.fail("prometheus did not become ready in 30 s", pytrace=False)

    def query(self, expr: str) -> list[dict]:
        response = self.http.get("/api/v1/query", params={"query": expr})
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, expr: str) -> float:
        """The single value `expr` yields (0 when it yields nothing)."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else 0.0

    def wait_for(self, expr: str, expected: float) -> float:
        """`expr`'s value once it equals `expected` (after a few scrapes), or the last one seen."""
        deadline = time.monotonic() + 30
        while True:
            value = self.value(expr)
            if value == expected or time.monotonic() > deadline:
                return value
            time.sleep(0.5)

    def run(self, expr: str) -> dict:
        """Prometheus' whole answer to the instant query `expr` (errors included)."""
        return self.http.get("/api/v1/query", params={"query": expr}).json()

    def names(self) -> set[str]:
        """Every metric name Prometheus holds."""
        return set(self.http.get("/api/v1/label/__name__/values").json()["data"])

    def labels_of(self, name: str) -> set[str]:
        """The label names of the series of metric `name`."""
        series = self.http.get("/api/v1/series", params={"match[]": name}).json()["data"]
        return {label for one in series for label in one}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def scraped(adapters, tmp_path):
    """An adapter serving /metrics on its own address, and a Prometheus scraping it."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(
            "the `prometheus` binary is missing: install Debian's `prometheus` package "
            "(apt-get install prometheus; .ci/run does it)",
            pytrace=False,
        )
    metrics_addr = f"127.0.0.1:{free_port()}"
    adapter = adapters.start(METRICS_ADDR=metrics_addr, BEARER_TOKEN=f"e2e-team:{API_KEY}")
    try:
        prometheus = Prometheus(binary, metrics_addr, tmp_path)
    except BaseException:
        adapter.process.stop()
        raise
    try:
        yield adapter, prometheus
    finally:
        prometheus.stop()
        adapter.process.stop()


def test_prometheus_sees_what_the_sdk_sent(scraped, emulator):
    adapter, prometheus = scraped
    client = adapter.client()
    prompt = completion = 0
    for _ in range(2):
        answer = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        prompt += answer.usage.prompt_tokens
        completion += answer.usage.completion_tokens
    stream = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    usage = [chunk.usage for chunk in stream if chunk.usage]
    assert len(usage) == 1
    prompt += usage[0].prompt_tokens
    completion += usage[0].completion_tokens
    emulator.chat_fault("status", status=500)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)

    total = prometheus.wait_for(f"sum(gigachat_adapter_requests_total{{{CHAT}}})", 5)
    assert total == 5, prometheus.query("gigachat_adapter_requests_total")
    ok = f'gigachat_adapter_requests_total{{{CHAT},surface="openai",model="gpt-4o",status="200",error="none"}}'
    assert prometheus.value(ok) == 3
    assert prometheus.value(f'gigachat_adapter_requests_total{{{CHAT},status="502",error="upstream_server_error"}}') == 1
    assert prometheus.value('gigachat_adapter_upstream_errors_total{verdict="upstream_server_error"}') == 1
    assert prometheus.value(f'sum(gigachat_adapter_requests_total{{{CHAT},model="other",status="404"}})') == 1
    assert not prometheus.query('gigachat_adapter_requests_total{model="no-such-model"}')

    # Histograms: cumulative buckets, +Inf equal to the count of calls.
    for stream_label, count in (("true", 1), ("false", 4)):
        selector = f'{CHAT},stream="{stream_label}"'
        buckets = prometheus.query(f"gigachat_adapter_request_duration_seconds_bucket{{{selector}}}")
        by_bound = sorted(
            (float(series["metric"]["le"]), float(series["value"][1])) for series in buckets
        )
        assert len(by_bound) > 5, buckets
        values = [value for _, value in by_bound]
        assert values == sorted(values), by_bound
        assert by_bound[-1] == (float("inf"), count), by_bound
        assert prometheus.value(f"gigachat_adapter_request_duration_seconds_count{{{selector}}}") == count
        assert prometheus.value(f"gigachat_adapter_request_duration_seconds_sum{{{selector}}}") > 0
    ttft = 'gigachat_adapter_time_to_first_token_seconds_count{surface="openai",model="gpt-4o"}'
    assert prometheus.value(ttft) == 1
    assert prometheus.value('gigachat_adapter_upstream_duration_seconds_count{endpoint="chat"}') >= 4
    assert prometheus.value("sum(gigachat_adapter_overhead_seconds_count)") >= 5

    # Tokens: what the SDK was told, by key name and model.
    tokens = 'gigachat_adapter_tokens_total{{model="gpt-4o",key="e2e-team",kind="{}"}}'
    assert prometheus.value(tokens.format("prompt")) == prompt
    assert prometheus.value(tokens.format("completion")) == completion
    assert prometheus.value("gigachat_adapter_streams_active") == 0
    assert prometheus.value('up{job="gigachat-adapter"}') == 1


# --------------------------------------------------------------------------------------------
# The Grafana dashboard

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "gigachat-adapter.json"

# What Grafana puts in for its own variables, for queries run outside Grafana.
GRAFANA_INTERVALS = {"__rate_interval": "1m", "__interval": "15s", "__range": "10m"}
METRIC = re.compile(r"\bgigachat_adapter_[a-z0-9_]+")
SELECTOR = re.compile(r"\b(gigachat_adapter_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def dashboard_queries(dashboard: dict) -> list[tuple[str, str]]:
    """(where, query) for every target of every panel (rows' nested panels too) and every
    query variable; a variable's `label_values(selector, label)` becomes its selector."""
    queries = []

    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            if "expr" in target:
                queries.append((f"panel {panel['title']!r} target {target['refId']}", target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        query = query["query"] if isinstance(query, dict) else query
        values = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
        queries.append((f"variable {variable['name']!r}", values.group(1) if values else query))
    return queries


def substituted(query: str, variables: list[str]) -> str:
    """`query` as Grafana would send it with every variable at `All` (`.*`)."""
    for name, value in GRAFANA_INTERVALS.items():
        query = query.replace(f"${{{name}}}", value).replace(f"${name}", value)
    for name in sorted(variables, key=len, reverse=True):
        query = re.sub(rf"\$\{{{name}(?::\w+)?\}}|\$\b{name}\b|\[\[{name}\]\]", ".*", query)
    assert "$" not in query, f"a variable the test does not know: {query}"
    return query


def test_the_dashboard_names_only_metrics_the_adapter_exports(scraped, emulator):
    """Every dashboard query runs on the scraped adapter without error, every `gigachat_adapter_*`
    metric it names exists in Prometheus, and every label it filters or groups by is one of the
    metric's labels."""
    adapter, prometheus = scraped
    dashboard = json.loads(DASHBOARD.read_text())
    variables = [variable["name"] for variable in dashboard["templating"]["list"]]
    queries = dashboard_queries(dashboard)
    assert len(queries) > 20, queries

    # Traffic that gives every family a series: calls, a stream, failures, an image attachment.
    client = adapter.client()
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    image = {"type": "image_url", "image_url": {"url": data_url("image/png", png("dashboard"))}}
    client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": [{"type": "text", "text": "?"}, image]}]
    )
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert [chunk for chunk in stream]
    emulator.chat_fault("status", status=500)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert prometheus.wait_for(f"sum(gigachat_adapter_requests_total{{{CHAT}}})", 4) == 4
    time.sleep(3)  # a few more scrapes, so rates have two samples

    failures = []
    for where, query in queries:
        expr = substituted(query, variables)
        answer = prometheus.run(expr)
        if answer.get("status") != "success" or answer.get("warnings"):
            failures.append(f"{where}: {expr}\n  -> {answer.get('error') or answer.get('warnings')}")
    assert not failures, "dashboard queries Prometheus refused:\n" + "\n".join(failures)

    exported = prometheus.names()
    labels = {name: prometheus.labels_of(name) for name in exported if name.startswith("gigachat_adapter_")}
    unknown = []
    for where, query in queries:
        named = [name for name in METRIC.findall(query) if name in labels]
        for name, matchers in SELECTOR.findall(query):
            unknown += [
                f"{where}: {name} has no label {label!r}"
                for label in MATCHER.findall(matchers)
                if name in labels and label not in labels[name]
            ]
        for grouping in GROUPING.findall(query):
            for label in filter(None, (label.strip() for label in grouping.split(","))):
                if named and not any(label in labels[name] for name in named):
                    unknown.append(f"{where}: no metric of the query has label {label!r}")
    assert not unknown, "the dashboard uses labels the adapter's metrics do not have:\n" + "\n".join(unknown)

    missing = {}
    for where, query in queries:
        for name in METRIC.findall(query):
            if name not in exported:
                missing.setdefault(name, where)
    assert not missing, "the dashboard names metrics Prometheus never scraped from the adapter: " + ", ".join(
        f"{name} (first in {where})" for name, where in sorted(missing.items())
    )


def counter(adapter, line_start: str) -> float:
    """A counter's value as the adapter's own `/metrics` renders it now."""
    response = httpx.get(f"{adapter.root_url}/metrics", headers={"Authorization": f"Bearer {API_KEY}"})
    response.raise_for_status()
    for line in response.text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{line_start} not in /metrics:\n{response.text}")


def test_attachments_and_token_refreshes_move_with_traffic(scraped, emulator):
    adapter, prometheus = scraped
    # No retries by the SDK: each failing call reaches GigaChat's OAuth exactly once.
    client = adapter.client(max_retries=0)

    def ask(part: dict) -> None:
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": [{"type": "text", "text": "Что здесь?"}, part]}],
        )

    # The same image twice: uploaded once, then its id reused; a malformed one is refused.
    image = {"type": "image_url", "image_url": {"url": data_url("image/png", png("metrics-attachment"))}}
    ask(image)
    ask(image)
    with pytest.raises(openai.BadRequestError):
        ask({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@not-base64@@"}})
    attachments = 'gigachat_adapter_attachments_total{{result="{}"}}'
    assert prometheus.wait_for(attachments.format("refused"), 1) == 1
    assert prometheus.value(attachments.format("uploaded")) == 1
    assert prometheus.value(attachments.format("reused")) == 1
    assert prometheus.value(attachments.format("fetched")) == 0

    # A token refused by GigaChat's OAuth is a failed refresh; the next one that works is counted ok.
    refreshes = 'gigachat_adapter_token_refreshes_total{{result="{}"}}'
    ok_before = counter(adapter, refreshes.format("ok"))
    assert ok_before >= 1  # the token the readiness check fetched
    assert counter(adapter, refreshes.format("failed")) == 0
    emulator.revoke_tokens()
    emulator.fault("oauth_status", status=401, times=10)
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    emulator.clear_faults()
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert prometheus.wait_for(refreshes.format("failed"), 1) == 1
    assert prometheus.wait_for(refreshes.format("ok"), ok_before + 1) == ok_before + 1
