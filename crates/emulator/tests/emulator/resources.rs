//! Files, embeddings, tokens count, models, balance.

use gigachat_emulator::{Credential, EmulatorConfig};
use serde_json::{Value, json};

use crate::common::{self, Env, keys, status_text};

const IMAGE: &[u8] = include_bytes!("../../assets/generated.jpg");

fn upload_form(bytes: Vec<u8>, name: &str, mime: &str) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .unwrap();
    reqwest::multipart::Form::new()
        .part("file", part)
        .text("purpose", "general")
}

#[tokio::test]
async fn files_round_trip() {
    let env = Env::start().await;
    let response = env
        .http
        .post(env.url("/files"))
        .bearer_auth(&env.token)
        .multipart(upload_form(IMAGE.to_vec(), "image.jpg", "image/jpeg"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let file: Value = response.json().await.unwrap();
    assert_eq!(
        keys(&file),
        ["id", "object", "bytes", "created_at", "filename", "purpose"]
    );
    assert_eq!(file["bytes"], 42966);
    assert_eq!(file["filename"], "image.jpg");
    assert_eq!(file["object"], "file");
    let id = file["id"].as_str().unwrap();
    uuid::Uuid::parse_str(id).unwrap();
    let logged = env.emu.requests().pop().unwrap();
    assert!(
        logged.body.len() > IMAGE.len(),
        "the multipart body is logged verbatim"
    );

    let list: Value = env.get("/files").await.json().await.unwrap();
    assert_eq!(list["data"][0]["id"], id);
    let one: Value = env.get(&format!("/files/{id}")).await.json().await.unwrap();
    assert_eq!(one["access_policy"], "private");
    let content = env.get(&format!("/files/{id}/content")).await;
    assert_eq!(content.headers()["content-type"], "image/jpeg");
    assert_eq!(content.bytes().await.unwrap().as_ref(), IMAGE);

    let deleted: Value = env
        .post(&format!("/files/{id}/delete"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        deleted,
        json!({"id": id, "object": "file", "deleted": true})
    );
    assert_eq!(env.get(&format!("/files/{id}")).await.status(), 404);
}

#[tokio::test]
async fn files_are_private_to_their_owner() {
    let env = Env::with(EmulatorConfig {
        static_tokens: vec!["someone-else".to_owned()],
        ..EmulatorConfig::default()
    })
    .await;
    let file: Value = env
        .http
        .post(env.url("/files"))
        .bearer_auth(&env.token)
        .multipart(upload_form(b"hello".to_vec(), "a.txt", "text/plain"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = file["id"].as_str().unwrap();
    let foreign = env
        .http
        .get(env.url(&format!("/files/{id}")))
        .bearer_auth("someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
}

#[tokio::test]
async fn files_enforce_type_and_size() {
    let env = Env::start().await;
    let send = |form| {
        env.http
            .post(env.url("/files"))
            .bearer_auth(&env.token)
            .multipart(form)
            .send()
    };
    let (status, text) = status_text(
        send(upload_form(b"GIF89a".to_vec(), "a.gif", "image/gif"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (
            415,
            "{\"status\":415,\"message\":\"Unsupported media type\"}\n"
        )
    );
    let big = vec![0_u8; 15 * 1024 * 1024 + 1];
    let (status, text) = status_text(
        send(upload_form(big, "big.png", "image/png"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (413, "{\"status\":413,\"message\":\"Payload too large\"}\n")
    );
}

#[tokio::test]
async fn embeddings_are_unit_length_with_per_item_usage() {
    let env = Env::start().await;
    let body = json!({"input": ["Hello, world!", "Привет"], "model": "Embeddings"});
    let response: Value = env.post("/embeddings", &body).await.json().await.unwrap();
    assert_eq!(keys(&response), ["object", "model", "data"]);
    assert_eq!(response["model"], "Embeddings");
    let data = response["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (index, item) in data.iter().enumerate() {
        assert_eq!(keys(item), ["object", "index", "embedding", "usage"]);
        assert_eq!(item["index"], index);
        let vector: Vec<f64> = item["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(vector.len(), 1024);
        let norm = vector.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    }
    assert_eq!(
        data[0]["usage"]["prompt_tokens"], 9,
        "recorded value for 'Hello, world!'"
    );
    let again: Value = env.post("/embeddings", &body).await.json().await.unwrap();
    assert_eq!(again, response);
    let unknown = env
        .post("/embeddings", &json!({"input": ["a"], "model": "GigaChat"}))
        .await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn tokens_count_is_a_bare_array() {
    let env = Env::start().await;
    let body = json!({"model": "GigaChat", "input": ["First text", "Second text"]});
    let (status, text) = status_text(env.post("/tokens/count", &body).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        text,
        r#"[{"object":"tokens","tokens":2,"characters":10},{"object":"tokens","tokens":2,"characters":11}]"#
    );
}

#[tokio::test]
async fn models_equal_the_recorded_list() {
    let env = Env::start().await;
    let text = env.get("/models").await.text().await.unwrap();
    let expected = r#"{"object":"list","data":[{"id":"GigaChat","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-2","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-2-Max","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-2-Max-preview","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-2-Pro","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-2-Pro-preview","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-2-preview","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-Max","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-Max-preview","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-Plus","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-Pro","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-Pro-preview","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaChat-preview","object":"model","owned_by":"salutedevices","type":"chat"},{"id":"GigaFilter","object":"model","owned_by":"salutedevices","type":"filter"},{"id":"GigaCheckClassification","object":"model","owned_by":"salutedevices","type":"aicheck"},{"id":"GigaCheckDetection","object":"model","owned_by":"salutedevices","type":"aicheck"},{"id":"Embeddings","object":"model","owned_by":"salutedevices","type":"embedder"},{"id":"Embeddings-2","object":"model","owned_by":"salutedevices","type":"embedder"},{"id":"EmbeddingsGigaR","object":"model","owned_by":"salutedevices","type":"embedder"},{"id":"GigaEmbeddings-3B-2025-09","object":"model","owned_by":"salutedevices","type":"embedder"}]}"#;
    assert_eq!(text, expected);
    assert_eq!(text.len(), 1724, "recorded Content-Length");
    let one = env.get("/models/GigaChat").await.text().await.unwrap();
    assert_eq!(
        one,
        r#"{"id":"GigaChat","object":"model","owned_by":"salutedevices","type":"chat"}"#
    );
    let (status, text) = status_text(env.get("/models/NonExistentModel").await).await;
    assert_eq!(
        (status, text.as_str()),
        (404, "{\"status\":404,\"message\":\"No such model\"}\n")
    );
}

#[tokio::test]
async fn balance_for_prepaid_and_403_for_corp() {
    let env = Env::start().await;
    let balance: Value = env.get("/balance").await.json().await.unwrap();
    assert_eq!(
        balance["balance"][0],
        json!({"usage": "embeddings", "value": 9999967})
    );

    let corp = gigachat_emulator::Emulator::start(EmulatorConfig {
        credentials: vec![Credential::new("corp", "secret", "GIGACHAT_API_CORP")],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let http = common::client(&corp, reqwest::Client::builder());
    let token = {
        let response = common::oauth(&corp, &http, "scope=GIGACHAT_API_CORP").await;
        response.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let response = http
        .get(format!("{}/balance", corp.api_base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_text(response).await,
        (
            403,
            "{\"status\":403,\"message\":\"Permission denied\"}\n".to_owned()
        )
    );
}
