//! Embeddings: OpenAI shapes (float and base64), batching and reassembly, token-id inputs, the
//! `dimensions` rules, the default model and aliases, and client mistakes.

use async_openai::types::embeddings::{CreateBase64EmbeddingResponse, CreateEmbeddingResponse};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::{Harness, Options, assert_error, start, start_with};

async fn embed(harness: &Harness, path: &str, body: Value) -> (u16, Value) {
    let response = harness.post(path, body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The float vectors of a successful answer, checked against async-openai's type.
fn vectors(body: &Value) -> Vec<Vec<f32>> {
    let parsed: CreateEmbeddingResponse = serde_json::from_value(body.clone()).unwrap();
    for (i, item) in parsed.data.iter().enumerate() {
        assert_eq!(item.index as usize, i);
        assert_eq!(item.object, "embedding");
    }
    parsed.data.into_iter().map(|item| item.embedding).collect()
}

/// The inputs each upstream `/embeddings` call carried, in call order.
fn upstream_inputs(harness: &Harness) -> Vec<(String, Vec<String>)> {
    harness
        .upstream("/embeddings")
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            let inputs = body["input"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect();
            (body["model"].as_str().unwrap().to_owned(), inputs)
        })
        .collect()
}

#[tokio::test]
async fn float_vectors_in_input_order_with_summed_usage() {
    let harness = start().await;
    let texts = ["Hello, world!", "Привет, мир!", "third"];
    let (status, body) = embed(&harness, "/v1/embeddings", json!({"input": texts})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "Embeddings");
    let together = vectors(&body);
    assert_eq!(together.len(), 3);
    let mut usage = 0;
    for (text, vector) in texts.iter().zip(&together) {
        assert_eq!(vector.len(), 1024);
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "{norm}");
        let (_, alone) = embed(
            &harness,
            "/embeddings",
            json!({"input": text, "model": "Embeddings"}),
        )
        .await;
        assert_eq!(&vectors(&alone)[0], vector, "{text}");
        usage += alone["usage"]["prompt_tokens"].as_u64().unwrap();
    }
    assert_eq!(body["usage"]["prompt_tokens"], usage);
    assert_eq!(body["usage"]["total_tokens"], usage);
    assert_eq!(
        upstream_inputs(&harness)[0],
        ("Embeddings".to_owned(), texts.map(str::to_owned).to_vec())
    );
}

#[tokio::test]
async fn base64_decodes_to_the_float_vectors() {
    let harness = start().await;
    let input = json!(["один", "two"]);
    let (_, floats) = embed(&harness, "/v1/embeddings", json!({"input": input})).await;
    let (status, body) = embed(
        &harness,
        "/v1/embeddings",
        json!({"input": input, "encoding_format": "base64"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let parsed: CreateBase64EmbeddingResponse = serde_json::from_value(body.clone()).unwrap();
    let decoded: Vec<Vec<f32>> = parsed
        .data
        .iter()
        .map(|item| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&item.embedding.0)
                .unwrap();
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect();
    assert_eq!(decoded, vectors(&floats));
    assert_eq!(body["usage"], floats["usage"]);
}

#[tokio::test]
async fn large_inputs_go_up_in_batches_and_come_back_in_order() {
    let harness = start().await;
    let texts: Vec<String> = (0..250).map(|i| format!("text number {i}")).collect();
    let (status, body) = embed(&harness, "/v1/embeddings", json!({"input": texts})).await;
    assert_eq!(status, 200, "{body}");
    let all = vectors(&body);
    assert_eq!(all.len(), 250);
    let mut calls = upstream_inputs(&harness);
    calls.sort_by_key(|(_, inputs)| texts.iter().position(|t| *t == inputs[0]));
    let sizes: Vec<usize> = calls.iter().map(|(_, inputs)| inputs.len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    let sent: Vec<String> = calls.into_iter().flat_map(|(_, inputs)| inputs).collect();
    assert_eq!(sent, texts);
    // The same texts in other batches give the same vectors at the same positions.
    let (_, tail) = embed(&harness, "/v1/embeddings", json!({"input": texts[190..]})).await;
    assert_eq!(vectors(&tail), all[190..]);
    let (_, one) = embed(&harness, "/v1/embeddings", json!({"input": texts[123]})).await;
    assert_eq!(vectors(&one)[0], all[123]);

    // The character budget splits too: two long texts do not share a call.
    harness.emulator.clear_requests();
    let long = "слово ".repeat(10_000);
    let (status, body) = embed(
        &harness,
        "/v1/embeddings",
        json!({"input": [long, long, "short"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sizes: Vec<usize> = upstream_inputs(&harness)
        .iter()
        .map(|(_, inputs)| inputs.len())
        .collect();
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 3);
}

#[tokio::test]
async fn token_ids_are_decoded_with_the_clients_tokenizer() {
    let harness = start_with(Options {
        args: vec![
            "--model-aliases".into(),
            "text-embedding-3-small=Embeddings,gpt-4o=Embeddings-2".into(),
        ],
        ..Options::default()
    })
    .await;
    // cl100k_base (text-embedding-3-*): "hello world" = [15339, 1917].
    let (status, body) = embed(
        &harness,
        "/v1/embeddings",
        json!({"input": [[15339, 1917], [9906]], "model": "text-embedding-3-small"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(vectors(&body).len(), 2);
    assert_eq!(
        upstream_inputs(&harness)[0],
        (
            "Embeddings".to_owned(),
            vec!["hello world".into(), "Hello".into()]
        )
    );
    // One token list is one input; o200k_base for gpt-4o: "hello world" = [24912, 2375].
    harness.emulator.clear_requests();
    let (status, body) = embed(
        &harness,
        "/v1/embeddings",
        json!({"input": [24912, 2375], "model": "gpt-4o"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        upstream_inputs(&harness)[0],
        ("Embeddings-2".to_owned(), vec!["hello world".into()])
    );
    // An id outside the vocabulary is the client's mistake.
    let (status, body) = embed(
        &harness,
        "/v1/embeddings",
        json!({"input": [[1], [4_000_000]]}),
    )
    .await;
    let message = assert_error(status, &body, 400, None);
    assert_eq!(body["error"]["param"], "input[1]");
    assert!(message.contains("cl100k_base"), "{message}");
}

#[tokio::test]
async fn dimensions_only_at_the_native_size() {
    let harness = start().await;
    let (status, body) = embed(
        &harness,
        "/v1/embeddings",
        json!({"input": "x", "dimensions": 1024}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = embed(
        &harness,
        "/v1/embeddings",
        json!({"input": "x", "dimensions": 256, "model": "EmbeddingsGigaR"}),
    )
    .await;
    let message = assert_error(status, &body, 400, None);
    assert_eq!(body["error"]["param"], "dimensions");
    assert!(message.contains("1024"), "{message}");
    assert_eq!(
        harness.upstream("/embeddings").len(),
        1,
        "refused before the call"
    );
    // A model without a known size is held to the size it returns.
    let unknown = "GigaEmbeddings-3B-2025-09";
    let (status, body) = embed(
        &harness,
        "/v1/embeddings",
        json!({"input": "x", "dimensions": 1024, "model": unknown}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = embed(
        &harness,
        "/v1/embeddings",
        json!({"input": "x", "dimensions": 512, "model": unknown}),
    )
    .await;
    assert_error(status, &body, 400, None);
    assert_eq!(body["error"]["param"], "dimensions");
}

#[tokio::test]
async fn default_model_from_config_and_aliases() {
    let harness = start_with(Options {
        args: vec![
            "--embeddings-model".into(),
            "EmbeddingsGigaR".into(),
            "--model-aliases".into(),
            "text-embedding-3-small=Embeddings-2".into(),
        ],
        ..Options::default()
    })
    .await;
    let (_, body) = embed(&harness, "/v1/embeddings", json!({"input": "a"})).await;
    assert_eq!(body["model"], "EmbeddingsGigaR");
    let (_, body) = embed(
        &harness,
        "/v1/embeddings",
        json!({"input": "a", "model": "text-embedding-3-small"}),
    )
    .await;
    assert_eq!(body["model"], "Embeddings-2");
    let models: Vec<String> = upstream_inputs(&harness)
        .into_iter()
        .map(|(model, _)| model)
        .collect();
    assert_eq!(models, ["EmbeddingsGigaR", "Embeddings-2"]);
    let (status, body) = embed(
        &harness,
        "/v1/embeddings",
        json!({"input": "a", "model": "no-such-embedder"}),
    )
    .await;
    let message = assert_error(status, &body, 404, Some("model_not_found"));
    assert!(message.contains("no-such-embedder"), "{message}");
}

#[tokio::test]
async fn empty_and_malformed_inputs_are_refused() {
    let harness = start().await;
    for (input, param) in [
        (json!(""), "input"),
        (json!([]), "input"),
        (json!(["a", ""]), "input[1]"),
        (json!([[1], []]), "input[1]"),
        (json!(["a", 1]), "input"),
        (json!({"text": "a"}), "input"),
    ] {
        let (status, body) = embed(&harness, "/v1/embeddings", json!({"input": input})).await;
        assert_error(status, &body, 400, None);
        assert_eq!(body["error"]["param"], param, "{input}: {body}");
    }
    let (status, body) = embed(
        &harness,
        "/v1/embeddings",
        json!({"input": "a", "encoding_format": "int8"}),
    )
    .await;
    assert_error(status, &body, 400, None);
    assert_eq!(body["error"]["param"], "encoding_format");
    assert!(harness.upstream("/embeddings").is_empty());
}
