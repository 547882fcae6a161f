//! Model names clients use by default: OpenAI's embedding names reach `EMBEDDINGS_MODEL` with no
//! configuration (aliases still win), and an unknown model's 404 lists what is served and names
//! `MODEL_ALIASES`.

use async_openai::types::models::ListModelResponse;
use serde_json::{Value, json};

use crate::common::{Harness, Options, assert_error, start, start_with, user};

async fn call(harness: &Harness, path: &str, body: Value) -> (u16, Value) {
    let response = harness.post(path, body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The models the upstream `/embeddings` calls named, in call order.
fn upstream_embedders(harness: &Harness) -> Vec<String> {
    harness
        .upstream("/embeddings")
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["model"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn openai_embedding_names_use_the_default_embedder_without_aliases() {
    let harness = start_with(Options {
        args: vec!["--embeddings-model".into(), "EmbeddingsGigaR".into()],
        ..Options::default()
    })
    .await;
    for name in [
        "text-embedding-ada-002",
        "text-embedding-3-small",
        "text-embedding-3-large",
    ] {
        let (status, body) = call(
            &harness,
            "/v1/embeddings",
            json!({"input": ["a", "b"], "model": name}),
        )
        .await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["model"], "EmbeddingsGigaR", "{name}");
        assert_eq!(body["data"].as_array().unwrap().len(), 2);
    }
    assert_eq!(upstream_embedders(&harness), ["EmbeddingsGigaR"; 3]);
    // They are listed, as aliases of the default embedder, and can be fetched one by one.
    let list: ListModelResponse = harness
        .get("/v1/models")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = list
        .data
        .iter()
        .find(|m| m.id == "text-embedding-3-small")
        .unwrap();
    assert_eq!(
        listed.owned_by,
        "gigachat-adapter (alias of EmbeddingsGigaR)"
    );
    let one = harness
        .get("/v1/models/text-embedding-ada-002")
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
}

#[tokio::test]
async fn model_aliases_override_the_openai_embedding_names() {
    let harness = start_with(Options {
        args: vec![
            "--model-aliases".into(),
            "text-embedding-3-large=Embeddings-2".into(),
        ],
        ..Options::default()
    })
    .await;
    for name in ["text-embedding-3-large", "text-embedding-3-small"] {
        let (status, body) = call(
            &harness,
            "/v1/embeddings",
            json!({"input": "a", "model": name}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(upstream_embedders(&harness), ["Embeddings-2", "Embeddings"]);
    let list: Value = harness
        .get("/v1/models")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let large: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["id"] == "text-embedding-3-large")
        .collect();
    assert_eq!(large.len(), 1, "listed once");
    assert_eq!(
        large[0]["owned_by"],
        "gigachat-adapter (alias of Embeddings-2)"
    );
}

/// The served models and `MODEL_ALIASES` in a 404's message.
fn assert_lists_served_models(message: &str, model: &str) {
    assert!(message.contains(&format!("`{model}`")), "{message}");
    for served in ["GigaChat-2-Max", "GigaChat-2-Pro", "Embeddings"] {
        assert!(message.contains(served), "{served} missing: {message}");
    }
    assert!(message.contains("MODEL_ALIASES"), "{message}");
}

#[tokio::test]
async fn unknown_models_get_a_404_listing_the_served_models_and_model_aliases() {
    let harness = start_with(Options {
        args: vec!["--model-aliases".into(), "gpt-4o=GigaChat-2-Max".into()],
        ..Options::default()
    })
    .await;
    let mut request = user("hi");
    request["model"] = json!("gpt-5-turbo");
    let (status, _, body) = harness.chat(request.clone()).await;
    let message = assert_error(status, &body, 404, Some("model_not_found"));
    assert_lists_served_models(&message, "gpt-5-turbo");
    assert!(
        message.contains("gpt-4o"),
        "the configured alias: {message}"
    );
    assert_eq!(body["error"]["param"], "model");
    // Streaming, legacy completions, embeddings and the model lookup say the same.
    request["stream"] = json!(true);
    let (status, body) = call(&harness, "/v1/chat/completions", request).await;
    assert_lists_served_models(
        &assert_error(status, &body, 404, Some("model_not_found")),
        "gpt-5-turbo",
    );
    let (status, body) = call(
        &harness,
        "/v1/completions",
        json!({"model": "davinci-002", "prompt": "x"}),
    )
    .await;
    assert_lists_served_models(
        &assert_error(status, &body, 404, Some("model_not_found")),
        "davinci-002",
    );
    let (status, body) = call(
        &harness,
        "/v1/embeddings",
        json!({"model": "no-such-embedder", "input": "x"}),
    )
    .await;
    assert_lists_served_models(
        &assert_error(status, &body, 404, Some("model_not_found")),
        "no-such-embedder",
    );
    let response = harness.get("/v1/models/nope").send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap();
    assert_lists_served_models(
        &assert_error(status, &body, 404, Some("model_not_found")),
        "nope",
    );
    // The list comes from the cache: one upstream `/models` call for all of these.
    assert_eq!(harness.upstream("/models").len(), 1);
}

#[tokio::test]
async fn without_aliases_the_404_says_none_are_configured() {
    let harness = start().await;
    let mut request = user("hi");
    request["model"] = json!("gpt-4o");
    let (status, _, body) = harness.chat(request).await;
    let message = assert_error(status, &body, 404, Some("model_not_found"));
    assert_lists_served_models(&message, "gpt-4o");
    assert!(
        message.contains("No MODEL_ALIASES are configured"),
        "{message}"
    );
    assert!(message.contains("MODEL_ALIASES=gpt-4o="), "{message}");
}
