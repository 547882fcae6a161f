//! The token-counting helper route: GigaChat's `/tokens/count` as an indexed list, default model
//! and aliases, both paths, client mistakes.

use serde_json::{Value, json};

use crate::common::{Harness, Options, assert_error, start_with};

async fn count(harness: &Harness, path: &str, body: Value) -> (u16, Value) {
    let response = harness.post(path, body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn aliased() -> Options {
    Options {
        args: vec!["--model-aliases".into(), "gpt-4o=GigaChat-2-Max".into()],
        ..Options::default()
    }
}

#[tokio::test]
async fn counts_each_input_with_the_default_chat_model() {
    let harness = start_with(aliased()).await;
    let (status, body) = count(
        &harness,
        "/v1/tokens/count",
        json!({"input": ["Hello, world!", "Привет"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "GigaChat-2");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["object"], "tokens");
        assert_eq!(item["index"], i);
        assert!(item["tokens"].as_u64().unwrap() > 0);
    }
    assert_eq!(data[0]["characters"], 13);
    assert_eq!(data[1]["characters"], 6);
    let sent: Value = serde_json::from_slice(&harness.upstream("/tokens/count")[0].body).unwrap();
    assert_eq!(
        sent,
        json!({"model": "GigaChat-2", "input": ["Hello, world!", "Привет"]})
    );
}

#[tokio::test]
async fn one_string_aliases_and_the_root_path() {
    let harness = start_with(aliased()).await;
    let (status, body) = count(
        &harness,
        "/tokens/count",
        json!({"model": "gpt-4o", "input": "Hello, world!"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "GigaChat-2-Max");
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let sent: Value = serde_json::from_slice(&harness.upstream("/tokens/count")[0].body).unwrap();
    assert_eq!(sent["model"], "GigaChat-2-Max");
    assert_eq!(sent["input"], json!(["Hello, world!"]));
}

#[tokio::test]
async fn mistakes_are_client_errors() {
    let harness = start_with(aliased()).await;
    for (body, status, param) in [
        (json!({"input": []}), 400, Some("input")),
        (json!({"input": [1, 2]}), 400, Some("input")),
        (json!({}), 400, None),
    ] {
        let (got, answer) = count(&harness, "/v1/tokens/count", body).await;
        assert_error(got, &answer, status, None);
        assert_eq!(answer["error"]["param"].as_str(), param, "{answer}");
    }
    assert!(harness.upstream("/tokens/count").is_empty());
    let (status, body) = count(
        &harness,
        "/v1/tokens/count",
        json!({"model": "NoSuchModel", "input": "x"}),
    )
    .await;
    assert_error(status, &body, 404, Some("model_not_found"));
}
