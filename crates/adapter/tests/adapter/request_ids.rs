//! Every answer carries `x-request-id` (refusals, unknown routes and models, parse errors and
//! streams included): the client's id, bounded, or one the adapter made; and GigaChat gets the
//! same id as `X-Request-ID`, for the Files API too.

use serde_json::json;

use crate::common::{KEY, Options, start, start_with, user};

/// A UUID the adapter generated (36 characters with dashes).
fn is_generated(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok() && id.len() == 36
}

#[tokio::test]
async fn every_answer_has_a_request_id() {
    let harness = start_with(Options {
        args: vec!["--max-request-bytes".into(), "4096".into()],
        ..Options::default()
    })
    .await;
    let url = |path: &str| format!("{}{path}", harness.base);
    let mut streamed = user("hi");
    streamed["stream"] = json!(true);
    let mut unknown_model = user("hi");
    unknown_model["model"] = json!("no-such-model");
    let cases = [
        (
            "chat",
            harness.post("/v1/chat/completions", user("hi")),
            200,
        ),
        (
            "stream",
            harness.post("/v1/chat/completions", streamed),
            200,
        ),
        ("models", harness.get("/v1/models"), 200),
        (
            "no key",
            harness.http.get(url("/v1/models")).bearer_auth("wrong"),
            401,
        ),
        ("unknown route", harness.get("/v1/nothing/here"), 404),
        (
            "unknown model",
            harness.post("/v1/chat/completions", unknown_model),
            404,
        ),
        ("wrong method", harness.get("/v1/chat/completions"), 405),
        (
            "too large",
            harness.post("/v1/chat/completions", user(&"x".repeat(8192))),
            413,
        ),
        (
            "not JSON",
            harness
                .http
                .post(url("/v1/chat/completions"))
                .bearer_auth(KEY)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
        ),
        ("health", harness.http.get(url("/health/live")), 200),
    ];
    for (what, request, status) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
        let id = response
            .headers()
            .get("x-request-id")
            .unwrap_or_else(|| panic!("{what}: no x-request-id"))
            .to_str()
            .unwrap()
            .to_owned();
        assert!(is_generated(&id), "{what}: {id}");
        response.bytes().await.unwrap();
    }
}

#[tokio::test]
async fn the_clients_id_is_echoed_bounded_on_errors_too() {
    let harness = start().await;
    let response = harness
        .http
        .get(format!("{}/v1/nothing", harness.base))
        .bearer_auth(KEY)
        .header("x-request-id", "client-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-request-id"], "client-42");
    let response = harness
        .http
        .get(format!("{}/v1/models", harness.base))
        .bearer_auth("wrong")
        .header("x-request-id", "r".repeat(4096))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let echoed = response.headers()["x-request-id"].to_str().unwrap();
    assert!(
        echoed.starts_with("%sha256-") && echoed.len() == 72,
        "{echoed}"
    );
}

#[tokio::test]
async fn a_generated_id_is_the_one_gigachat_gets() {
    let harness = start().await;
    let mut streamed = user("hi");
    streamed["stream"] = json!(true);
    for (request, upstream_path) in [
        (harness.get("/v1/files"), "/files"),
        (
            harness.post("/v1/chat/completions", streamed),
            "/chat/completions",
        ),
        (
            harness.post("/v1/embeddings", json!({"input": "hi"})),
            "/embeddings",
        ),
    ] {
        harness.emulator.clear_requests();
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{upstream_path}");
        let echoed = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        response.bytes().await.unwrap();
        assert!(is_generated(&echoed), "{echoed}");
        let sent = harness.upstream(upstream_path);
        assert_eq!(
            sent.last().unwrap().header("x-request-id"),
            Some(echoed.as_str()),
            "{upstream_path}"
        );
    }
}
