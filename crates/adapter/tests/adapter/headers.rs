//! Ids a client sends for GigaChat (`X-Request-ID`, `X-Session-ID`, `X-Client-ID`, `user`) leave
//! bounded, so oversized ones cannot make GigaChat's gateway answer 431; and an upstream 431 is the
//! client's 400, not a retryable 502.

use gigachat_emulator::Fault;
use serde_json::{Value, json};

use crate::common::{Harness, assert_error, start, user};

/// Over GigaChat's ~15.5 KB header limit on its own.
fn oversized(letter: char) -> String {
    letter.to_string().repeat(16 * 1024)
}

fn is_digest(value: &str) -> bool {
    value.len() == 72
        && value.starts_with("%sha256-")
        && value[8..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Sends `body` to `path` with all three ids oversized; returns the status, the echoed request
/// id and the JSON body.
async fn send_with_long_ids(harness: &Harness, path: &str, body: Value) -> (u16, String, Value) {
    let response = harness
        .post(path, body)
        .header("X-Request-ID", oversized('r'))
        .header("X-Session-ID", oversized('s'))
        .header("X-Client-ID", oversized('c'))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let echoed = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, echoed, body)
}

#[tokio::test]
async fn oversized_ids_are_sent_upstream_as_digests() {
    let harness = start().await;
    let mut streamed = user("hi");
    streamed["stream"] = json!(true);
    for (path, body, upstream_path) in [
        ("/v1/chat/completions", user("hi"), "/chat/completions"),
        ("/v1/chat/completions", streamed, "/chat/completions"),
        (
            "/v1/completions",
            json!({"prompt": "hi"}),
            "/chat/completions",
        ),
        ("/v1/embeddings", json!({"input": "hi"}), "/embeddings"),
        (
            "/v1/tokens/count",
            json!({"model": "GigaChat", "input": "hi"}),
            "/tokens/count",
        ),
    ] {
        harness.emulator.clear_requests();
        let (status, echoed, answer) = send_with_long_ids(&harness, path, body).await;
        assert_eq!(status, 200, "{path}: {answer}");
        let sent = harness.upstream(upstream_path);
        let sent = sent.last().unwrap();
        assert_eq!(sent.status, 200, "{path}");
        for name in ["x-request-id", "x-session-id", "x-client-id"] {
            let value = sent.header(name).unwrap();
            assert!(is_digest(value), "{path} {name}: {value}");
        }
        // The client gets back the id GigaChat saw, so the two logs can be matched.
        assert_eq!(echoed, sent.header("x-request-id").unwrap(), "{path}");
    }
}

#[tokio::test]
async fn ids_are_digested_the_same_way_every_time() {
    let harness = start().await;
    for _ in 0..2 {
        let (status, _, _) = send_with_long_ids(&harness, "/v1/chat/completions", user("hi")).await;
        assert_eq!(status, 200);
    }
    let sent = harness.upstream("/chat/completions");
    for name in ["x-request-id", "x-session-id", "x-client-id"] {
        assert_eq!(sent[0].header(name), sent[1].header(name), "{name}");
    }
    assert_ne!(
        sent[0].header("x-session-id"),
        sent[0].header("x-client-id")
    );
}

#[tokio::test]
async fn short_ids_and_user_pass_as_sent() {
    let harness = start().await;
    let response = harness
        .post("/v1/chat/completions", user("hi"))
        .header("X-Request-ID", "req-1")
        .header("X-Client-ID", "open-webui")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req-1");
    let mut with_user = user("hi");
    with_user["user"] = json!(oversized('u'));
    assert_eq!(harness.chat(with_user).await.0, 200);
    let sent = harness.upstream("/chat/completions");
    assert_eq!(sent[0].header("x-request-id"), Some("req-1"));
    assert_eq!(sent[0].header("x-client-id"), Some("open-webui"));
    assert!(is_digest(sent[1].header("x-session-id").unwrap()));
}

#[tokio::test]
async fn an_upstream_431_is_the_clients_400_and_not_retried() {
    let harness = start().await;
    harness.emulator.faults().push(Fault::Status {
        status: 431,
        retry_after: None,
        times: 1,
    });
    let (status, headers, body) = harness.chat(user("x")).await;
    let message = assert_error(status, &body, 400, Some("request_too_large"));
    assert!(message.contains("431"), "{message}");
    assert_eq!(headers["x-should-retry"], "false");
    assert_eq!(body["error"]["type"], "invalid_request_error");
}
