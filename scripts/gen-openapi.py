#!/usr/bin/env python3
"""Writes crates/adapter/openapi.json: the official OpenAI API description (../shared/openai-spec)
cut to the routes this gateway serves, with every schema they reference, plus the health probes.
Run it again when the served routes change."""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "openai-spec" / "openapi-subset.json"
TARGET = ROOT / "crates" / "adapter" / "openapi.json"
SERVED = {
    "/chat/completions": ["post"],
    "/completions": ["post"],
    "/embeddings": ["post"],
    "/models": ["get"],
    "/models/{model}": ["get"],
    "/files": ["get", "post"],
    "/files/{file_id}": ["get", "delete"],
    "/files/{file_id}/content": ["get"],
}


TOKENS_COUNT = {
    "summary": "Count tokens with a GigaChat model's tokenizer (adapter extension)",
    "description": "GigaChat's /tokens/count: one count per input. `model` defaults to the default chat model; aliases apply.",
    "tags": ["Tokens"],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["input"],
            "properties": {
                "model": {"type": "string"},
                "input": {"oneOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"type": "string"}}]},
            },
        }}},
    },
    "responses": {
        "200": {"description": "one count per input, in input order", "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["object", "model", "data"],
            "properties": {
                "object": {"type": "string", "enum": ["list"]},
                "model": {"type": "string"},
                "data": {"type": "array", "items": {
                    "type": "object",
                    "required": ["object", "index", "tokens", "characters"],
                    "properties": {
                        "object": {"type": "string", "enum": ["tokens"]},
                        "index": {"type": "integer"},
                        "tokens": {"type": "integer"},
                        "characters": {"type": "integer"},
                    },
                }},
            },
        }}}},
        "400": {"description": "invalid input", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}},
    },
}


def refs(node, found, kind="schemas"):
    """Adds to `found` the names of the `#/components/<kind>/...` entries `node` refers to."""
    prefix = f"#/components/{kind}/"
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(prefix):
            found.add(ref[len(prefix):])
        for value in node.values():
            refs(value, found, kind)
    elif isinstance(node, list):
        for value in node:
            refs(value, found, kind)


def main():
    spec = json.loads(SOURCE.read_text())
    paths = {}
    for path, methods in SERVED.items():
        paths[path] = {m: spec["paths"][path][m] for m in methods}
    schemas = spec["components"]["schemas"]
    # Shared responses (e.g. TooManyRequests) the paths use, and the schemas those refer to.
    response_names = set()
    refs(paths, response_names, "responses")
    responses = {name: spec["components"]["responses"][name] for name in sorted(response_names)}
    needed, queue = set(), set()
    refs(paths, queue)
    refs(responses, queue)
    queue.add("ErrorResponse")
    while queue:
        name = queue.pop()
        if name in needed:
            continue
        needed.add(name)
        more = set()
        refs(schemas[name], more)
        queue |= more - needed
    health = {
        "get": {
            "summary": "Health probe (no key needed)",
            "tags": ["Health"],
            "responses": {
                "200": {"description": "healthy", "content": {"application/json": {"schema": {"type": "object", "properties": {"status": {"type": "string"}}}}}},
                "503": {"description": "not ready (readiness only)"},
            },
        }
    }
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "gigachat-adapter",
            "version": "0.1.0",
            "description": "OpenAI-compatible gateway to Sber's GigaChat. Routes are served under /v1 and at the root. "
            "Authenticate with `Authorization: Bearer <key>` (or `x-api-key`/`api-key`). "
            "Schemas come from the official OpenAI API description (MIT).",
        },
        "servers": [{"url": "/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "responses": responses,
            "schemas": {name: schemas[name] for name in sorted(needed)},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    # The adapter's own helper (not an OpenAI route): GigaChat's /tokens/count as a list.
    document["paths"]["/tokens/count"] = {"post": TOKENS_COUNT}
    for probe in ["/health/live", "/health/ready"]:
        document["paths"][probe] = {**health, "servers": [{"url": "/"}]}
        document["paths"][probe]["get"] = dict(health["get"], security=[])
    TARGET.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")))
    print(f"wrote {TARGET.relative_to(ROOT)} ({TARGET.stat().st_size} bytes, {len(needed)} schemas)", file=sys.stderr)


if __name__ == "__main__":
    main()
