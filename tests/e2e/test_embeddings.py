"""Embeddings and the token-count helper with real clients: the openai SDK (base64 by default, and
float), raw HTTP against the OpenAI schema, and langchain-openai's OpenAIEmbeddings with raw text
and with its default token-id input (cl100k_base arrays decoded back to text by the adapter)."""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import math
import os
import struct
import subprocess
from pathlib import Path

import httpx
import pytest
from langchain_openai import OpenAIEmbeddings

from support import API_KEY, assert_error_envelope

TEXTS = ["Привет, мир!", "hello world", "Третий документ о погоде."]

# tiktoken downloads its vocabularies on first use; this machine is offline, so its cache is filled
# with the identical file the adapter's tokenizer crate (tiktoken-rs) ships.
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def _tiktoken_rs_asset(name: str) -> Path:
    cargo_home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    found = sorted(glob.glob(f"{cargo_home}/registry/src/*/tiktoken-rs-*/assets/{name}"))
    if not found:
        root = Path(__file__).resolve().parents[2]
        metadata = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--offline"],
            cwd=root, capture_output=True, text=True, check=True,
        )
        for package in json.loads(metadata.stdout)["packages"]:
            if package["name"] == "tiktoken-rs":
                found.append(str(Path(package["manifest_path"]).parent / "assets" / name))
    assert found, f"tiktoken-rs sources with assets/{name} not found (build the workspace first)"
    return Path(found[-1])


@pytest.fixture(scope="module")
def tiktoken_offline(tmp_path_factory):
    cache = tmp_path_factory.mktemp("tiktoken-cache")
    data = _tiktoken_rs_asset("cl100k_base.tiktoken").read_bytes()
    assert hashlib.sha256(data).hexdigest() == CL100K_SHA256
    (cache / hashlib.sha1(CL100K_URL.encode()).hexdigest()).write_bytes(data)
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    yield
    if previous is None:
        os.environ.pop("TIKTOKEN_CACHE_DIR", None)
    else:
        os.environ["TIKTOKEN_CACHE_DIR"] = previous


@pytest.fixture(scope="module")
def embedding_adapter(adapters):
    """An adapter where OpenAI's embedding model names are aliases of GigaChat's embedders."""
    return adapters.start(
        MODEL_ALIASES="text-embedding-3-small=Embeddings,text-embedding-3-large=EmbeddingsGigaR",
    )


@pytest.fixture(scope="module")
def bare_adapter(adapters):
    """An adapter with no MODEL_ALIASES at all."""
    return adapters.start(MODEL_ALIASES="")


def _unit(vector: list[float]) -> None:
    assert len(vector) == 1024
    assert all(isinstance(x, float) for x in vector)
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-3)


def _f32(vectors) -> list[list[float]]:
    """Vectors as exact f32 values (JSON carries the shortest decimal that rounds to each f32)."""
    return [list(struct.unpack(f"<{len(v)}f", struct.pack(f"<{len(v)}f", *v))) for v in vectors]


def _upstream_inputs(emulator) -> list[list[str]]:
    return [
        json.loads(r["body"])["input"]
        for r in emulator.requests()
        if r["listener"] == "api" and r["path"].endswith("/embeddings")
    ]


def test_sdk_base64_by_default_and_float_on_request(adapter, emulator):
    sent: list[dict] = []
    hooks = {"request": [lambda request: sent.append(json.loads(request.content))]}
    with httpx.Client(event_hooks=hooks, trust_env=False) as http_client:
        client = adapter.client(http_client=http_client)
        decoded = client.embeddings.create(model="Embeddings", input=TEXTS)
        floats = client.embeddings.create(model="Embeddings", input=TEXTS, encoding_format="float")
    assert sent[0]["encoding_format"] == "base64", "the SDK asks for base64 and decodes it itself"
    assert sent[1]["encoding_format"] == "float"
    for response in (decoded, floats):
        assert response.object == "list" and response.model == "Embeddings"
        assert [item.index for item in response.data] == [0, 1, 2]
        for item in response.data:
            _unit(list(item.embedding))
        assert response.usage.prompt_tokens == response.usage.total_tokens > 0
    assert _f32(d.embedding for d in decoded.data) == _f32(f.embedding for f in floats.data)
    assert _upstream_inputs(emulator) == [TEXTS, TEXTS]


def test_raw_answers_match_the_openai_schema(http, auth, validate):
    for encoding in ("float", "base64"):
        response = http.post(
            "/v1/embeddings", headers=auth, json={"input": TEXTS, "encoding_format": encoding}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        if encoding == "float":
            validate("CreateEmbeddingResponse", body)
            floats = _f32(item["embedding"] for item in body["data"])
        else:
            raw = [base64.b64decode(item["embedding"]) for item in body["data"]]
            assert [list(struct.unpack(f"<{len(b) // 4}f", b)) for b in raw] == floats
    response = http.post("/embeddings", headers=auth, json={"input": "x", "dimensions": 256})
    error = assert_error_envelope(validate, response, status=400)
    assert error["param"] == "dimensions"
    response = http.post("/v1/embeddings", headers=auth, json={"input": ["a", ""]})
    assert assert_error_envelope(validate, response, status=400)["param"] == "input[1]"


def test_langchain_embeddings_with_text_and_with_token_ids(embedding_adapter, emulator, tiktoken_offline):
    common = dict(base_url=embedding_adapter.base_url, api_key=API_KEY, model="text-embedding-3-small", max_retries=0)
    as_text = OpenAIEmbeddings(check_embedding_ctx_length=False, **common).embed_documents(TEXTS)
    texts_sent = _upstream_inputs(emulator)
    emulator.clear_requests()
    # The default: tiktoken turns each text into cl100k_base ids and sends the arrays.
    as_tokens = OpenAIEmbeddings(**common).embed_documents(TEXTS)
    assert _upstream_inputs(emulator) == texts_sent == [TEXTS], "token ids decode to the same texts"
    assert len(as_text) == len(as_tokens) == 3
    for a, b in zip(as_text, as_tokens):
        _unit(a)
        assert all(math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-6) for x, y in zip(a, b))
    query = OpenAIEmbeddings(**common).embed_query(TEXTS[1])
    assert all(math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-6) for x, y in zip(query, as_text[1]))


@pytest.mark.parametrize("name", ["text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"])
def test_openai_default_embedding_names_need_no_aliases(bare_adapter, emulator, name):
    response = bare_adapter.client().embeddings.create(model=name, input=TEXTS)
    assert response.model == "Embeddings"
    assert len(response.data) == 3
    for item in response.data:
        _unit(list(item.embedding))
    models = [json.loads(r["body"])["model"] for r in emulator.requests() if r["path"].endswith("/embeddings")]
    assert models == ["Embeddings"]


def test_langchain_default_embeddings_model_needs_no_aliases(bare_adapter, emulator, tiktoken_offline):
    """OpenAIEmbeddings() with no model names OpenAI's default embedder; EMBEDDINGS_MODEL serves it."""
    vectors = OpenAIEmbeddings(base_url=bare_adapter.base_url, api_key=API_KEY, max_retries=0).embed_documents(TEXTS)
    assert len(vectors) == 3
    for vector in vectors:
        _unit(vector)
    assert _upstream_inputs(emulator) == [TEXTS]


def test_token_count_helper(http, auth):
    response = http.post("/v1/tokens/count", headers=auth, json={"input": ["Hello, world!", "Привет"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list" and body["model"] == "GigaChat-2"  # GIGACHAT_MODEL unset: the default
    assert [(d["object"], d["index"], d["characters"]) for d in body["data"]] == [("tokens", 0, 13), ("tokens", 1, 6)]
    assert all(d["tokens"] > 0 for d in body["data"])
    response = http.post("/tokens/count", headers=auth, json={"model": "gpt-4o", "input": "x"})
    assert response.status_code == 200 and response.json()["model"] == "GigaChat-2-Max"
