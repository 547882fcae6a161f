"""Helpers of the Anthropic Messages API e2e tests (test_anthropic_*.py): the Anthropic SDK client on an
adapter, strict validation of bodies and stream events with the SDK's own pydantic types (no field the
SDK does not know, nothing missing it requires), and the event-order rules of a Messages stream."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pydantic
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse

from support import API_KEY

# Claude Code asks for `claude-*` names; the adapter of these tests serves them through a wildcard
# alias, with one exact alias beside it (exact aliases win over wildcards).
ALIASES = "claude-*=GigaChat-2-Max,claude-haiku-4-5=GigaChat"
MODEL = "claude-sonnet-4-5"
MODEL_UPSTREAM = "GigaChat-2-Max"
FAST_MODEL = "claude-haiku-4-5"
FAST_MODEL_UPSTREAM = "GigaChat"

_EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)


def client(adapter, api_key: str = API_KEY, **kwargs: Any) -> anthropic.Anthropic:
    """The Anthropic SDK on `adapter` (base URL without /v1, as the SDK appends it), no retries."""
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 30)
    return anthropic.Anthropic(base_url=adapter.root_url, api_key=api_key, **kwargs)


def assert_no_extras(model: pydantic.BaseModel, where: str = "") -> None:
    """No field anywhere in `model` that the SDK's types do not declare (they allow extras silently)."""
    extra = model.model_extra or {}
    assert not extra, f"fields the SDK does not know at {where or '/'}: {sorted(extra)}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for position, item in enumerate(items):
            if isinstance(item, pydantic.BaseModel):
                suffix = f"[{position}]" if isinstance(value, list) else ""
                assert_no_extras(item, f"{where}/{name}{suffix}")


def strict(model_type: type[pydantic.BaseModel], raw: str | bytes) -> Any:
    """`raw` (JSON text) validated strictly as `model_type`, with no unknown fields."""
    parsed = model_type.model_validate_json(raw, strict=True)
    assert_no_extras(parsed)
    return parsed


def strict_message(raw: str | bytes) -> Message:
    return strict(Message, raw)


def strict_error(raw: str | bytes, error_type: str) -> ErrorResponse:
    """An Anthropic error envelope of `error_type` with a `request_id` and a message."""
    envelope = strict(ErrorResponse, raw)
    assert envelope.error.type == error_type, envelope
    assert envelope.error.message.strip(), envelope
    assert envelope.request_id, f"no request_id in {raw!r}"
    return envelope


def sse_events(raw: bytes) -> list[tuple[str, str]]:
    """The `(event name, data)` pairs of a complete `text/event-stream` body, as Anthropic frames
    them: every event has an `event:` line and one `data:` JSON line whose `type` equals the name
    (the SDK skips events without a name)."""
    text = raw.decode("utf-8")
    assert "\r" not in text, "SSE uses \\r; events must be separated by \\n\\n"
    assert text.endswith("\n\n"), f"stream does not end with a complete event: {text[-200:]!r}"
    events = []
    for block in text.split("\n\n")[:-1]:
        lines = [line for line in block.split("\n") if not line.startswith(":")]
        if not lines:
            continue
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), (
            f"not an `event:` + `data:` pair: {block!r}"
        )
        name, data = lines[0][len("event: ") :], lines[1][len("data: ") :]
        assert json.loads(data).get("type") == name, f"`event: {name}` but data {data!r}"
        events.append((name, data))
    return events


def validated_events(raw: bytes) -> list[Any]:
    """The stream's events, each validated strictly with the SDK's `RawMessageStreamEvent` union
    (`ping` checked as `{"type":"ping"}`); pings are left out of the returned list."""
    out = []
    for name, data in sse_events(raw):
        if name == "ping":
            assert json.loads(data) == {"type": "ping"}, data
            continue
        assert name != "error", f"the stream failed: {data}"
        event = _EVENT.validate_json(data, strict=True)
        assert_no_extras(event, name)
        out.append(event)
    return out


def assert_message_stream(events: list[Any]) -> dict[str, Any]:
    """Checks a Messages stream as the SDK's accumulator reads it and returns what it adds up to:
    `message_start` first, `message_delta` then `message_stop` last; per block `content_block_start`,
    its deltas, `content_block_stop`, blocks in index order and never interleaved; text deltas on text
    blocks, `input_json_delta` on tool_use blocks whose concatenation is a JSON object, thinking deltas
    on thinking blocks then one `signature_delta` just before their `content_block_stop`.

    Returns `{"message": <message_start's message>, "blocks": [{"type", "text" | "id","name","input"}],
    "stop_reason", "stop_sequence", "output_tokens", "usage": message_delta's usage}`.
    """
    kinds = [event.type for event in events]
    assert kinds and kinds[0] == "message_start", kinds
    assert kinds[-2:] == ["message_delta", "message_stop"], kinds
    assert kinds.count("message_start") == kinds.count("message_delta") == kinds.count("message_stop") == 1, kinds
    start = events[0].message
    assert start.content == [] and start.stop_reason is None and start.role == "assistant", start
    assert start.id.startswith("msg_"), start.id

    blocks: list[dict[str, Any]] = []
    open_index: int | None = None
    partial = ""
    for event in events[1:-2]:
        if event.type == "content_block_start":
            assert open_index is None, f"block {event.index} started inside block {open_index}"
            assert event.index == len(blocks), f"block index {event.index}, expected {len(blocks)}"
            block = event.content_block
            if block.type == "text":
                assert block.text == "", block
                blocks.append({"type": "text", "text": ""})
            elif block.type == "tool_use":
                assert block.id.startswith("toolu_") and block.input == {}, block
                blocks.append({"type": "tool_use", "id": block.id, "name": block.name, "input": None})
            elif block.type == "thinking":
                assert block.thinking == "" and block.signature == "", block
                blocks.append({"type": "thinking", "thinking": "", "signature": ""})
            else:
                raise AssertionError(f"unexpected block type {block.type}")
            open_index, partial = event.index, ""
        elif event.type == "content_block_delta":
            assert event.index == open_index, f"delta for block {event.index} while {open_index} is open"
            current = blocks[event.index]
            if event.delta.type == "text_delta":
                assert current["type"] == "text", event
                current["text"] += event.delta.text
            elif event.delta.type == "input_json_delta":
                assert current["type"] == "tool_use", event
                partial += event.delta.partial_json
            elif event.delta.type == "thinking_delta":
                assert current["type"] == "thinking" and not current["signature"], event
                current["thinking"] += event.delta.thinking
            elif event.delta.type == "signature_delta":
                assert current["type"] == "thinking" and not current["signature"], event
                assert event.delta.signature, event
                current["signature"] = event.delta.signature
            else:
                raise AssertionError(f"unexpected delta {event.delta.type}")
        elif event.type == "content_block_stop":
            assert event.index == open_index, f"stop for block {event.index} while {open_index} is open"
            current = blocks[event.index]
            if current["type"] == "tool_use":
                current["input"] = json.loads(partial) if partial else {}
                assert isinstance(current["input"], dict), current
            if current["type"] == "thinking":
                assert current["signature"], f"thinking block {event.index} stopped without a signature"
            open_index = None
        else:
            raise AssertionError(f"{event.type} inside the content of the stream: {kinds}")
    assert open_index is None, f"block {open_index} never stopped"
    delta = events[-2]
    return {
        "message": start,
        "blocks": blocks,
        "stop_reason": delta.delta.stop_reason,
        "stop_sequence": delta.delta.stop_sequence,
        "output_tokens": delta.usage.output_tokens,
        "usage": delta.usage,
    }


def raw_stream(sdk: anthropic.Anthropic, **params: Any) -> tuple[Any, bytes]:
    """`messages.create(stream=True, **params)` through the SDK, read as raw bytes: the response
    (status, headers) and the whole body."""
    with sdk.messages.with_streaming_response.create(stream=True, **params) as response:
        body = b"".join(response.iter_bytes())
        return response, body
