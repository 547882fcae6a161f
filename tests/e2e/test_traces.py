"""Traces, as an OTLP collector sees them: an adapter started with `OTEL_EXPORTER_OTLP_ENDPOINT`
exports to a small OTLP/HTTP receiver run by the test (protobuf decoded with `opentelemetry-proto`)
while the openai SDK sends a chat call with an image and a streamed call, each under a client
`traceparent`. The span tree, the trace id, the attributes, the first-token event and the
`traceparent` GigaChat (the emulator) received must all agree."""

from __future__ import annotations

import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from support import data_url, free_port, png

MODEL = "gpt-4o"
SERVED = "GigaChat-2-Max"
COLLECTOR_KEY = "collector-secret-1"


class Collector:
    """An OTLP/HTTP receiver: `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict[str, Any], Span]] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with collector.lock:
                    collector.headers.append({k.lower(): v for k, v in self.headers.items()})
                    for resource_spans in request.resource_spans:
                        resource = {kv.key: value(kv.value) for kv in resource_spans.resource.attributes}
                        for scope_spans in resource_spans.scope_spans:
                            collector.spans.extend((resource, span) for span in scope_spans.spans)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def trace(self, trace_id: str, until: Any, timeout: float = 20.0) -> list[Span]:
        """The spans of `trace_id` once `until(spans)` holds (the export is batched), or fails."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                spans = [span for _, span in self.spans if span.trace_id.hex() == trace_id]
            if until(spans):
                return spans
            if time.monotonic() > deadline:
                pytest.fail(f"trace {trace_id} incomplete after {timeout}s: {[s.name for s in spans]}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def attrs(span: Span) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in span.attributes}


def traceparent() -> tuple[str, str, str]:
    """A fresh sampled client context: (header, trace id, span id)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def children(spans: list[Span], parent: Span) -> list[Span]:
    return [span for span in spans if span.parent_span_id == parent.span_id]


def one(spans: list[Span], name: str) -> Span:
    named = [span for span in spans if span.name == name]
    assert len(named) == 1, f"expected one {name!r} span, got {[s.name for s in spans]}"
    return named[0]


def upstream_header(emulator, path_end: str, name: str) -> list[str | None]:
    """Header `name` of each logged GigaChat call whose path ends with `path_end`."""
    found = []
    for request in emulator.requests():
        if request["listener"] == "api" and request["path"].endswith(path_end):
            headers = {k.lower(): v for k, v in request["headers"]}
            found.append(headers.get(name))
    return found


def upstream_traceparent(emulator, path_end: str) -> list[str | None]:
    return upstream_header(emulator, path_end, "traceparent")


@pytest.fixture
def traced(adapters):
    """An adapter exporting traces to a collector run by the test."""
    collector = Collector()
    adapter = adapters.start(
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_EXPORTER_OTLP_HEADERS=f"x-collector-key={COLLECTOR_KEY}",
        # Send batches every 100 ms rather than every 5 s.
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    try:
        yield adapter, collector
    finally:
        adapter.process.stop()
        collector.stop()


def test_a_chat_with_an_image_is_one_trace_from_client_to_gigachat(traced, emulator):
    adapter, collector = traced
    header, trace_id, client_span = traceparent()
    image = {"type": "image_url", "image_url": {"url": data_url("image/png", png(secrets.token_hex(4)))}}
    raw = adapter.client().chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[{"role": "user", "content": [{"type": "text", "text": "Что здесь?"}, image]}],
        extra_headers={"traceparent": header, "tracestate": "client=1"},
    )
    answer = raw.parse()
    request_id = raw.headers["x-request-id"]

    def complete(spans: list[Span]) -> bool:
        names = [span.name for span in spans]
        return "POST /v1/chat/completions" in names and f"chat {SERVED}" in names and "POST /files" in names

    spans = collector.trace(trace_id, complete)
    request = one(spans, "POST /v1/chat/completions")
    # The request span continues the client's trace, under the client's span.
    assert request.parent_span_id.hex() == client_span
    assert request.kind == Span.SPAN_KIND_SERVER
    request_attrs = attrs(request)
    assert request_attrs["request_id"] == request_id
    assert request_attrs["http.request.method"] == "POST"
    assert request_attrs["http.route"] == "/v1/chat/completions"
    assert request_attrs["http.response.status_code"] == 200
    assert request_attrs["gen_ai.request.model"] == MODEL
    assert request_attrs["gen_ai.usage.input_tokens"] == answer.usage.prompt_tokens
    assert request_attrs["gen_ai.usage.output_tokens"] == answer.usage.completion_tokens
    assert "error.type" not in request_attrs
    assert request.status.code != Status.STATUS_CODE_ERROR

    # request → attachments → the upload; request → the chat call.
    attachments = one(children(spans, request), "attachments")
    assert attrs(attachments)["attachments.count"] == 1
    upload = one(children(spans, attachments), "POST /files")
    assert upload.kind == Span.SPAN_KIND_CLIENT
    assert attrs(upload)["http.response.status_code"] == 200
    assert attrs(upload)["url.template"] == "/files"
    chat = one(children(spans, request), f"chat {SERVED}")
    assert chat.kind == Span.SPAN_KIND_CLIENT
    chat_attrs = attrs(chat)
    assert chat_attrs["gen_ai.operation.name"] == "chat"
    assert chat_attrs["gen_ai.provider.name"] == "gigachat"
    assert chat_attrs["gen_ai.request.model"] == SERVED
    assert chat_attrs["gen_ai.response.model"].startswith("GigaChat")
    assert chat_attrs["http.response.status_code"] == 200
    assert chat_attrs["gen_ai.usage.output_tokens"] == answer.usage.completion_tokens
    for span in (attachments, upload, chat):
        assert request.start_time_unix_nano <= span.start_time_unix_nano <= span.end_time_unix_nano
        assert span.end_time_unix_nano <= request.end_time_unix_nano

    # GigaChat got the same trace, each request under the span of its call, and the client's state.
    for path, call in (("/chat/completions", chat), ("/files", upload)):
        sent = upstream_traceparent(emulator, path)
        assert sent, path
        for parent in sent:
            assert parent.split("-") == ["00", trace_id, call.span_id.hex(), "01"], (path, sent)
        assert upstream_header(emulator, path, "tracestate") == ["client=1"] * len(sent)

    # The standard variables: the service name defaults to ours, the OTLP headers are sent.
    resources = [resource for resource, span in collector.spans if span.trace_id.hex() == trace_id]
    assert {resource.get("service.name") for resource in resources} == {"gigachat-adapter"}
    assert all(headers.get("x-collector-key") == COLLECTOR_KEY for headers in collector.headers)
    assert all(headers.get("content-type") == "application/x-protobuf" for headers in collector.headers)


def test_a_stream_has_a_first_token_event_and_its_usage(traced, emulator):
    adapter, collector = traced
    header, trace_id, client_span = traceparent()
    stream = adapter.client().chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Расскажи сказку"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"traceparent": header},
    )
    chunks = list(stream)
    usage = [chunk.usage for chunk in chunks if chunk.usage]
    assert len(usage) == 1 and len(chunks) > 2

    def complete(spans: list[Span]) -> bool:
        names = [span.name for span in spans]
        return "POST /v1/chat/completions" in names and f"chat {SERVED}" in names

    spans = collector.trace(trace_id, complete)
    request = one(spans, "POST /v1/chat/completions")
    assert request.parent_span_id.hex() == client_span
    assert attrs(request)["http.response.status_code"] == 200
    assert attrs(request)["gen_ai.usage.output_tokens"] == usage[0].completion_tokens
    chat = one(children(spans, request), f"chat {SERVED}")
    # The call's span lasts as long as the stream, and marks its first token.
    first = [event for event in chat.events if event.name == "first token"]
    assert len(first) == 1, [event.name for event in chat.events]
    assert chat.start_time_unix_nano < first[0].time_unix_nano < chat.end_time_unix_nano
    chat_attrs = attrs(chat)
    assert chat_attrs["gen_ai.usage.output_tokens"] == usage[0].completion_tokens
    assert chat_attrs["http.response.status_code"] == 200
    sent = upstream_traceparent(emulator, "/chat/completions")
    assert sent and all(parent.split("-")[1:3] == [trace_id, chat.span_id.hex()] for parent in sent), sent


def test_a_failed_call_marks_its_spans(traced, emulator):
    adapter, collector = traced
    header, trace_id, _ = traceparent()
    emulator.chat_fault("status", status=500)
    with pytest.raises(Exception):
        adapter.client(max_retries=0).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Привет"}], extra_headers={"traceparent": header}
        )

    def complete(spans: list[Span]) -> bool:
        return {"POST /v1/chat/completions", f"chat {SERVED}"} <= {span.name for span in spans}

    spans = collector.trace(trace_id, complete)
    request = one(spans, "POST /v1/chat/completions")
    assert attrs(request)["http.response.status_code"] == 502
    assert attrs(request)["error.type"]  # the verdict's label
    assert request.status.code == Status.STATUS_CODE_ERROR
    chat = one(spans, f"chat {SERVED}")
    assert attrs(chat)["error.type"] == "500"
    assert chat.status.code == Status.STATUS_CODE_ERROR


def test_spans_still_queued_are_sent_at_shutdown(adapters):
    """With batches due only once a minute, the spans of a request reach the collector because the
    adapter sends what is queued when it stops (SIGTERM), after draining."""
    collector = Collector()
    try:
        adapter = adapters.start(OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, OTEL_BSP_SCHEDULE_DELAY="60000")
        header, trace_id, _ = traceparent()
        adapter.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Привет"}], extra_headers={"traceparent": header}
        )
        time.sleep(0.5)
        with collector.lock:
            assert not [span for _, span in collector.spans if span.trace_id.hex() == trace_id]
        adapter.process.stop()
        assert adapter.process.popen.returncode == 0, adapter.process.log_text()
        spans = collector.trace(trace_id, lambda spans: len(spans) >= 2, timeout=1.0)
        assert {"POST /v1/chat/completions", f"chat {SERVED}"} <= {span.name for span in spans}
    finally:
        collector.stop()


def test_an_unsupported_protocol_stops_the_start_with_a_reason(adapters):
    with pytest.raises(pytest.fail.Exception) as failed:
        adapters.start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported" in str(failed.value)


def test_without_export_the_clients_trace_context_is_passed_on(client, emulator):
    header, _, _ = traceparent()
    client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Привет"}],
        extra_headers={"traceparent": header, "tracestate": "client=1"},
    )
    calls = [
        {k.lower(): v for k, v in request["headers"]}
        for request in emulator.requests()
        if request["listener"] == "api" and request["path"].endswith("/chat/completions")
    ]
    # (More than one call when the adapter's token had to be renewed: each carries the context.)
    assert calls
    assert all(call.get("traceparent") == header and call.get("tracestate") == "client=1" for call in calls), calls
    # A malformed one is not passed on.
    emulator.clear_requests()
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Привет"}], extra_headers={"traceparent": "00-nonsense-01"}
    )
    sent = upstream_traceparent(emulator, "/chat/completions")
    assert sent and all(parent is None for parent in sent), sent
