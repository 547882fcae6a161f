"""GET /v1/models and /v1/models/{id} through the SDK (Open WebUI verifies a connection this way)."""

from __future__ import annotations

import openai
import pytest

from support import MODEL_ALIASES, assert_error_envelope


def test_models_list_has_complete_model_objects(client):
    models = list(client.models.list())
    assert models, "no models"
    for model in models:
        assert model.id and model.object == "model"
        assert isinstance(model.created, int), model
        assert model.owned_by, model
    assert "GigaChat" in {m.id for m in models}


def test_models_list_includes_aliases(client):
    ids = {m.id for m in client.models.list()}
    missing = set(MODEL_ALIASES) - ids
    assert not missing, f"aliases not listed: {missing}; listed: {sorted(ids)}"


def test_models_list_raw_is_schema_valid(http, auth, validate):
    response = http.get("/v1/models", headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    validate("ListModelsResponse", body)
    assert body["object"] == "list"


def test_models_retrieve_gigachat(client, http, auth, validate):
    model = client.models.retrieve("GigaChat")
    assert model.id == "GigaChat" and model.object == "model" and model.owned_by
    validate("Model", http.get("/v1/models/GigaChat", headers=auth).json())


def test_models_retrieve_alias(client):
    model = client.models.retrieve("gpt-4o")
    assert model.id == "gpt-4o" and model.object == "model"


def test_models_retrieve_unknown_is_not_found(client, validate):
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("no-such-model")
    assert_error_envelope(validate, caught.value, status=404, code="model_not_found")


def test_models_need_a_key(http, validate):
    response = http.get("/v1/models")
    assert_error_envelope(validate, response, status=401, code="invalid_api_key")


def test_unknown_chat_model_lists_the_served_models_and_names_model_aliases(client, validate):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-5-turbo", messages=[{"role": "user", "content": "hi"}])
    error = assert_error_envelope(validate, caught.value, status=404, code="model_not_found")
    assert error["param"] == "model"
    message = error["message"]
    assert "gpt-5-turbo" in message and "MODEL_ALIASES" in message, message
    gigachat_models = [m.id for m in client.models.list() if not m.owned_by.startswith("gigachat-adapter")]
    assert gigachat_models
    missing = [m for m in gigachat_models if m not in message]
    assert not missing, f"{missing} not named in: {message}"
    for alias in MODEL_ALIASES:
        assert alias in message, f"configured alias {alias} not named in: {message}"


def test_openai_embedding_names_are_listed_as_aliases_of_the_default_embedder(client):
    listed = {m.id: m for m in client.models.list()}
    for name in ("text-embedding-ada-002", "text-embedding-3-small", "text-embedding-3-large"):
        assert listed[name].owned_by == "gigachat-adapter (alias of Embeddings)", listed[name]
        assert client.models.retrieve(name).id == name
