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
    "/models": ["get"],
    "/models/{model}": ["get"],
}


def refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def main():
    spec = json.loads(SOURCE.read_text())
    paths = {}
    for path, methods in SERVED.items():
        paths[path] = {m: spec["paths"][path][m] for m in methods}
    schemas = spec["components"]["schemas"]
    needed, queue = set(), set()
    refs(paths, queue)
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
            "schemas": {name: schemas[name] for name in sorted(needed)},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    for probe in ["/health/live", "/health/ready"]:
        document["paths"][probe] = {**health, "servers": [{"url": "/"}]}
        document["paths"][probe]["get"] = dict(health["get"], security=[])
    TARGET.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")))
    print(f"wrote {TARGET.relative_to(ROOT)} ({TARGET.stat().st_size} bytes, {len(needed)} schemas)", file=sys.stderr)


if __name__ == "__main__":
    main()
