#!/usr/bin/env python3
"""Writes crates/adapter/openapi.json: the official OpenAI API description (../shared/openai-spec)
cut to the routes this gateway serves, with every schema they reference, plus the health probes.
Each route is described as this gateway serves it (OpenAI's own texts point readers to its
platform and its Responses API); links into OpenAI's site, which would resolve against the
adapter in Swagger UI and 404 there, are removed from the schema descriptions.
Run it again when the served routes change."""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "openai-spec" / "openapi-subset.json"
TARGET = ROOT / "crates" / "adapter" / "openapi.json"
SERVED = {
    "/chat/completions": ["post"],
    "/completions": ["post"],
    "/responses": ["post"],
    "/responses/{response_id}": ["get", "delete"],
    "/embeddings": ["post"],
    "/models": ["get"],
    "/models/{model}": ["get"],
    "/files": ["get", "post"],
    "/files/{file_id}": ["get", "delete"],
    "/files/{file_id}/content": ["get"],
}

# What each route does here, replacing OpenAI's summaries: (summary, description).
ROUTES = {
    ("/chat/completions", "post"): (
        "Chat completion, answered by GigaChat",
        "The request is translated into a GigaChat chat call and the answer back into OpenAI's shape, "
        "streamed (SSE) or not. System and developer messages at the start become GigaChat's one system "
        "message; text, image, file and audio parts are uploaded to GigaChat and attached; tools become "
        "GigaChat functions (at most one tool call per answer); `response_format` `json_schema` is native, "
        "`json_object` is checked; `stop` is applied by the adapter; `n` > 1 makes that many calls. "
        "Fields GigaChat has no counterpart for are accepted and ignored. Pictures GigaChat draws come "
        "back as Markdown images.",
    ),
    ("/completions", "post"): (
        "Legacy text completion, answered by GigaChat's chat",
        "Each prompt is sent as one user message through the chat route, so `stop`, `n`, `max_tokens`, "
        "`temperature`, `top_p` and `user` behave as in chat. Token-id prompts are decoded with the "
        "tokenizer of the model name sent. `echo: true`, a non-empty `suffix`, `logprobs` and `best_of` > 1 "
        "are refused with a 400.",
    ),
    ("/responses", "post"): (
        "Responses API, answered by GigaChat's chat",
        "The request is reshaped into a chat request and served by the chat route (aliases, tools, "
        "schemas, attachments, sessions, usage), and the answer into a `response` object. `instructions` "
        "and leading system/developer messages become GigaChat's system message; function and custom-tool "
        "calls and their outputs are matched by `call_id`; `custom` tools are functions with one string "
        "argument `input`; tool types GigaChat cannot serve are left out and named in the "
        "`x-gigachat-adapter-dropped-tools` header. `background`, `conversation` and `prompt` are refused "
        "with a 400.",
    ),
    ("/responses/{response_id}", "get"): (
        "A stored response",
        "A response kept because its request did not say `store: false`, for `RESPONSES_TTL_SECS` "
        "(30 days by default), readable only with the client key that created it. `include[]` is "
        "accepted; `stream=true` is refused with a 400. Its input items are at "
        "`GET /v1/responses/{response_id}/input_items`, paged as OpenAI pages them.",
    ),
    ("/responses/{response_id}", "delete"): (
        "Delete a stored response",
        "Forgets a stored response of the calling client key: `{\"id\", \"object\": \"response\", "
        "\"deleted\": true}`; an unknown, expired or other key's id is a 404.",
    ),
    ("/embeddings", "post"): (
        "Embeddings from a GigaChat embedder",
        "Calls GigaChat's embeddings with the model named (aliases apply) or the configured default "
        "(`EMBEDDINGS_MODEL`, `Embeddings`). Inputs go upstream in batches and come back in input order; "
        "token-id inputs are decoded first. `dimensions` must equal the model's own vector size: GigaChat "
        "cannot shorten vectors.",
    ),
    ("/models", "get"): (
        "GigaChat's models and the configured aliases",
        "GigaChat's model list (cached for `MODELS_CACHE_SECS`), then each `MODEL_ALIASES` alias.",
    ),
    ("/models/{model}", "get"): (
        "One GigaChat model or alias",
        "A model from GigaChat's list, or a configured alias (its `owned_by` names the model it maps to).",
    ),
    ("/files", "get"): (
        "Files uploaded to GigaChat",
        "GigaChat's files, each with the purpose recorded when it was uploaded through this adapter "
        "(`user_data` otherwise); `purpose`, `order`, `limit` and `after` filter and paginate. Files past "
        "their `expires_after` are left out.",
    ),
    ("/files", "post"): (
        "Upload a file to GigaChat",
        "The file is checked against GigaChat's limits (images 15 MB, audio 35 MB, documents 40 MB, and its "
        "list of accepted types; WebP and GIF pictures are converted to PNG) and uploaded to GigaChat; the "
        "id returned is GigaChat's and works in `file_id` message parts. `purpose` is required and, with "
        "`expires_after`, remembered by the adapter (GigaChat has neither).",
    ),
    ("/files/{file_id}", "get"): (
        "A file's description",
        "GigaChat's description of the file, with the purpose and expiry this adapter recorded.",
    ),
    ("/files/{file_id}", "delete"): (
        "Delete a file from GigaChat",
        "Deletes the file at GigaChat and forgets its recorded purpose.",
    ),
    ("/files/{file_id}/content", "get"): (
        "A file's bytes",
        "The file's content from GigaChat, such as a picture GigaChat drew (`GENERATED_IMAGES=link`).",
    ),
}

# A Markdown link into OpenAI's site: relative (Swagger UI resolves it against the adapter) or absolute.
OPENAI_LINK = re.compile(r"\[([^\]]+)\]\((/[^)]*|https?://(?:[a-z0-9-]+\.)*openai\.com[^)]*)\)")
# A sentence that only sends the reader to OpenAI's pages ("Learn more", "See the guide", ...).
POINTER = re.compile(r"\[?(learn|see|read|refer|please|to learn|example python code)\b", re.IGNORECASE)
SENTENCE_END = re.compile(r"(?<=[.!?])(\s+)")


def unlink(text):
    """`text` without links into OpenAI's site: sentences that only point there are dropped, other
    links keep their words."""
    if not OPENAI_LINK.search(text):
        return text
    parts = SENTENCE_END.split(text)
    kept = []
    for index in range(0, len(parts), 2):
        sentence = parts[index]
        separator = parts[index + 1] if index + 1 < len(parts) else ""
        if OPENAI_LINK.search(sentence) and POINTER.match(sentence.strip()):
            continue
        kept.append(OPENAI_LINK.sub(r"\1", sentence) + separator)
    result = "".join(kept).strip()
    if not result:
        # The whole text was a pointer ("Learn about [image inputs](...)."): keep what it names.
        result = OPENAI_LINK.sub(r"\1", text).strip()
        result = re.sub(r"^Learn about ", "", result)
        result = result[:1].upper() + result[1:]
    return result


def unlinked(node):
    """`node` with every string passed through `unlink`."""
    if isinstance(node, dict):
        return {key: unlinked(value) for key, value in node.items()}
    if isinstance(node, list):
        return [unlinked(value) for value in node]
    if isinstance(node, str):
        return unlink(node)
    return node


def described(path, method, operation):
    """OpenAI's operation with this gateway's summary and description, without OpenAI's doc-site
    metadata (`x-oaiMeta`: examples calling api.openai.com)."""
    summary, description = ROUTES[(path, method)]
    operation = {key: value for key, value in operation.items() if key != "x-oaiMeta"}
    # A few error answers are described as a bare `Error`; every error here comes in the envelope
    # the SDKs read (`ErrorResponse`: `{"error": {...}}`), so say that.
    for answer in operation.get("responses", {}).values():
        schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
        if schema.get("$ref") == "#/components/schemas/Error":
            schema["$ref"] = "#/components/schemas/ErrorResponse"
    return {**operation, "summary": summary, "description": description}


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
        paths[path] = {m: described(path, m, spec["paths"][path][m]) for m in methods}
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
    probes = {
        "/health/live": "Liveness: the process serves HTTP (no key needed)",
        "/health/ready": "Readiness: a GigaChat token can be had and GigaChat answers (no key needed)",
    }
    health_responses = {
        "200": {"description": "healthy", "content": {"application/json": {"schema": {"type": "object", "properties": {"status": {"type": "string"}}}}}},
        "503": {"description": "not ready (readiness only)"},
    }
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "gigachat-adapter",
            "version": "0.1.0",
            "description": "An OpenAI-compatible gateway to Sber's GigaChat: applications written for the OpenAI "
            "API call these routes, and the adapter turns each call into GigaChat calls (its OAuth tokens, "
            "functions, file uploads and stream format) and the answers back into OpenAI's shapes. Every "
            "answer comes from GigaChat (or the built-in emulator in `--emulator` mode); model names are "
            "GigaChat's (`GigaChat`, `GigaChat-2-Max`, ...) or aliases set with `MODEL_ALIASES`.\n\n"
            "Routes are served under /v1 and at the root. Authenticate with `Authorization: Bearer <key>` "
            "(or `x-api-key`/`api-key`), a key from the adapter's `BEARER_TOKEN`. Errors use OpenAI's "
            "envelope `{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`.\n\n"
            "Request and response schemas, and the field descriptions, come from the official OpenAI API "
            "description (MIT); fields GigaChat has no counterpart for are accepted and ignored unless a "
            "route says otherwise. The project's README describes every translation.",
        },
        "servers": [{"url": "/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "responses": unlinked(responses),
            "schemas": unlinked({name: schemas[name] for name in sorted(needed)}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    # The adapter's own helper (not an OpenAI route): GigaChat's /tokens/count as a list.
    document["paths"]["/tokens/count"] = {"post": TOKENS_COUNT}
    for probe, summary in probes.items():
        document["paths"][probe] = {
            "get": {"summary": summary, "tags": ["Health"], "responses": health_responses, "security": []},
            "servers": [{"url": "/"}],
        }
    document["paths"] = unlinked(document["paths"])
    TARGET.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")))
    print(f"wrote {TARGET.relative_to(ROOT)} ({TARGET.stat().st_size} bytes, {len(needed)} schemas)", file=sys.stderr)


if __name__ == "__main__":
    main()
