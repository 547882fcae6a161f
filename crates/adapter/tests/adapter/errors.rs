//! Every failure gets the OpenAI envelope and the right status, through the emulator's fault injection.

use std::time::Duration;

use gigachat_emulator::{EmulatorConfig, Fault};
use secrecy::SecretString;
use serde_json::json;

use crate::common::{Options, assert_error, start, start_with, user};

async fn with_fault(fault: Fault) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let harness = start().await;
    harness.emulator.faults().push(fault);
    harness.chat(user("x")).await
}

fn status(status: u16) -> Fault {
    Fault::Status {
        status,
        retry_after: None,
        times: 1,
    }
}

#[tokio::test]
async fn upstream_rate_limit_is_429_with_retry_after() {
    let (code, headers, body) = with_fault(Fault::Status {
        status: 429,
        retry_after: Some(Duration::from_secs(3)),
        times: 1,
    })
    .await;
    assert_error(code, &body, 429, Some("rate_limit_exceeded"));
    assert_eq!(headers["retry-after"], "3");
    assert_eq!(headers["x-should-retry"], "true");
}

#[tokio::test]
async fn exhausted_package_is_insufficient_quota() {
    let (code, headers, body) = with_fault(status(402)).await;
    assert_error(code, &body, 429, Some("insufficient_quota"));
    assert_eq!(headers["x-should-retry"], "false");
}

#[tokio::test]
async fn upstream_server_errors_are_502_without_leaks() {
    for fault in [status(500), status(503), Fault::BadGatewayHtml { times: 1 }] {
        let (code, _, body) = with_fault(fault).await;
        let message = assert_error(code, &body, 502, Some("upstream_error"));
        assert!(
            !message.contains("SynGX") && !message.contains("localhost"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let harness = start_with(Options {
        settings: Box::new(|s| s.timeout = Duration::from_millis(400)),
        ..Options::default()
    })
    .await;
    // Warm the token so the slowness hits the chat call.
    assert_eq!(harness.chat(user("warm")).await.0, 200);
    harness.emulator.faults().push(Fault::SlowFirstByte {
        delay: Duration::from_secs(2),
        times: 1,
    });
    let (code, _, body) = harness.chat(user("x")).await;
    assert_error(code, &body, 504, Some("upstream_timeout"));
}

#[tokio::test]
async fn context_overflow_is_context_length_exceeded() {
    let harness = start_with(Options {
        emulator: EmulatorConfig {
            context_window_tokens: 20,
            ..EmulatorConfig::default()
        },
        ..Options::default()
    })
    .await;
    let (code, _, body) = harness.chat(user(&"слово ".repeat(200))).await;
    assert_error(code, &body, 400, Some("context_length_exceeded"));
}

#[tokio::test]
async fn upstream_credential_failure_is_502_never_401() {
    let harness = start_with(Options {
        settings: Box::new(|s| s.credentials = Some(SecretString::from("d3Jvbmc6a2V5"))),
        ..Options::default()
    })
    .await;
    let (code, _, body) = harness.chat(user("x")).await;
    let message = assert_error(code, &body, 502, Some("upstream_auth_failed"));
    assert!(message.contains("GIGACHAT_CREDENTIALS"), "{message}");
}

#[tokio::test]
async fn expired_upstream_token_is_refreshed_invisibly() {
    let harness = start().await;
    assert_eq!(harness.chat(user("x")).await.0, 200);
    harness.emulator.expire_all_tokens();
    assert_eq!(harness.chat(user("x")).await.0, 200);
}

#[tokio::test]
async fn upstream_validation_errors_are_400() {
    let harness = start().await;
    // A GigaChat 422 the adapter does not pre-check: an assistant function call without its result.
    harness.emulator.faults().push(status(422));
    let (code, _, body) = harness.chat(user("x")).await;
    assert_error(code, &body, 400, None);
}

#[tokio::test]
async fn client_mistakes() {
    let harness = start().await;
    let raw = |body: &'static str| {
        harness
            .http
            .post(format!("{}/v1/chat/completions", harness.base))
            .bearer_auth(crate::common::KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let response = raw("{\"messages\": [").await.unwrap();
    let code = response.status().as_u16();
    let body = response.json().await.unwrap();
    let message = assert_error(code, &body, 400, None);
    assert!(message.contains("not valid JSON"), "{message}");

    let response = raw(r#"{"messages": [{"role": "user", "content": 7}]}"#)
        .await
        .unwrap();
    let code = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_error(code, &body, 400, None);
    assert_eq!(body["error"]["param"], "messages[0].content");

    let (code, _, body) = harness
        .chat(json!({"messages": [{"role": "user", "content": "x"}], "temperature": 5}))
        .await;
    assert_error(code, &body, 400, None);
    assert_eq!(body["error"]["param"], "temperature");

    let (code, _, body) = harness
        .chat(json!({"model": "NoSuchModel", "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_error(code, &body, 404, Some("model_not_found"));

    let response = harness
        .http
        .post(format!("{}/v1/chat/completions", harness.base))
        .bearer_auth("wrong")
        .json(&user("x"))
        .send()
        .await
        .unwrap();
    let code = response.status().as_u16();
    let body = response.json().await.unwrap();
    assert_error(code, &body, 401, Some("invalid_api_key"));
    assert_eq!(
        harness.upstream("/chat/completions").len(),
        1,
        "only the unknown-model request reaches GigaChat; malformed, invalid and unauthenticated ones never do"
    );
}

#[tokio::test]
async fn oversized_body_is_413() {
    let harness = start_with(Options {
        args: vec!["--max-request-bytes".into(), "1024".into()],
        ..Options::default()
    })
    .await;
    let (code, _, body) = harness.chat(user(&"x".repeat(4096))).await;
    assert_error(code, &body, 413, Some("request_too_large"));
}

#[tokio::test]
async fn a_file_of_another_client_id_says_which_header_to_send() {
    let harness = start_with(Options {
        args: vec![
            "--generated-images".into(),
            "link".into(),
            "--public-base-url".into(),
            "https://gw.example".into(),
        ],
        ..Options::default()
    })
    .await;
    let answer: serde_json::Value = harness
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "нарисуй кота"}]}),
        )
        .header("x-client-id", "painter")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    let path = content
        .split_once("https://gw.example")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(path, _)| path.to_owned())
        .unwrap();
    // GigaChat answers 403 `Access to file` without the generating X-Client-ID: a 404 that says so.
    let refused = harness.get(&path).send().await.unwrap();
    let code = refused.status().as_u16();
    let body: serde_json::Value = refused.json().await.unwrap();
    let message = assert_error(code, &body, 404, Some("file_not_found"));
    assert!(message.contains("X-Client-ID"), "{message}");
    let served = harness
        .get(&path)
        .header("x-client-id", "painter")
        .send()
        .await
        .unwrap();
    assert_eq!(served.status().as_u16(), 200);
}
