//! Every fault kind, through the library handle and through the `/_emulator/` control API.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use gigachat_emulator::Fault;
use serde_json::{Value, json};

use crate::common::{self, Env, hello, status_text};

#[tokio::test]
async fn status_faults_use_documented_bodies_and_retry_after() {
    let env = Env::start().await;
    env.emu.faults().push(Fault::Status {
        status: 429,
        retry_after: Some(Duration::from_millis(1500)),
        times: 2,
    });
    for _ in 0..2 {
        let response = env.post("/chat/completions", &hello()).await;
        assert_eq!(response.headers()["retry-after"], "2");
        assert!(response.headers().get("x-request-id").is_some());
        assert_eq!(
            status_text(response).await,
            (
                429,
                "{\"status\":429,\"message\":\"Too many requests\"}\n".to_owned()
            )
        );
    }
    assert_eq!(env.post("/chat/completions", &hello()).await.status(), 200);
    for (status, message) in [
        (500, "Internal Server Error"),
        (503, "Service Unavailable"),
        (402, "Payment Required"),
    ] {
        env.emu.faults().push(Fault::Status {
            status,
            retry_after: None,
            times: 1,
        });
        let (got, text) = status_text(env.post("/chat/completions", &hello()).await).await;
        assert_eq!(got, status);
        assert_eq!(
            text,
            format!("{{\"status\":{status},\"message\":\"{message}\"}}\n")
        );
    }
    assert!(env.emu.faults().pending().is_empty());
}

#[tokio::test]
async fn path_targeted_faults_skip_other_paths() {
    let env = Env::start().await;
    env.emu.faults().push_for(
        "/chat/completions",
        Fault::Status {
            status: 503,
            retry_after: None,
            times: 1,
        },
    );
    assert_eq!(env.get("/models").await.status(), 200);
    assert_eq!(env.post("/chat/completions", &hello()).await.status(), 503);
    assert_eq!(env.post("/chat/completions", &hello()).await.status(), 200);
}

#[tokio::test]
async fn bad_gateway_is_an_html_page() {
    let env = Env::start().await;
    env.emu.faults().push(Fault::BadGatewayHtml { times: 1 });
    let response = env.post("/chat/completions", &hello()).await;
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert!(response.headers().get("x-request-id").is_none());
    let text = response.text().await.unwrap();
    assert!(text.contains("<center><h1>502 Bad Gateway</h1></center>"));
    assert!(text.contains("<hr><center>SynGX</center>"));
    env.emu
        .faults()
        .push(Fault::GatewayTimeoutHtml { times: 1 });
    assert_eq!(env.post("/chat/completions", &hello()).await.status(), 504);
}

#[tokio::test]
async fn slow_first_byte_delays_the_answer() {
    let env = Env::start().await;
    env.emu.faults().push(Fault::SlowFirstByte {
        delay: Duration::from_millis(300),
        times: 1,
    });
    let started = Instant::now();
    assert_eq!(env.get("/models").await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let client = common::client(
        &env.emu,
        reqwest::Client::builder().timeout(Duration::from_millis(100)),
    );
    env.emu.faults().push(Fault::SlowFirstByte {
        delay: Duration::from_millis(500),
        times: 1,
    });
    let result = client
        .get(env.url("/models"))
        .bearer_auth(&env.token)
        .send()
        .await;
    assert!(result.unwrap_err().is_timeout());
}

#[tokio::test]
async fn cut_stream_aborts_after_k_events() {
    let env = Env::start().await;
    env.emu.faults().push(Fault::CutStreamAfter {
        events: 2,
        times: 1,
    });
    // A non-streaming request does not consume the stream fault.
    assert_eq!(env.post("/chat/completions", &hello()).await.status(), 200);
    let mut body = hello();
    body["stream"] = json!(true);
    for http in [
        env.http.clone(),
        common::client(&env.emu, reqwest::Client::builder().http1_only()),
    ] {
        env.emu.faults().push(Fault::CutStreamAfter {
            events: 2,
            times: 1,
        });
        let response = http
            .post(env.url("/chat/completions"))
            .bearer_auth(&env.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut stream = response.bytes_stream();
        let mut received = Vec::new();
        let mut failed = false;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => received.extend_from_slice(&bytes),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed, "the body ends with an error, not cleanly");
        let text = String::from_utf8(received).unwrap();
        assert_eq!(text.matches("data: ").count(), 2);
        assert!(!text.contains("[DONE]"));
        assert!(!text.contains("finish_reason"));
        assert_eq!(
            env.emu.requests().pop().unwrap().stream_events_sent,
            Some(2)
        );
    }
    env.emu.faults().clear();
}

#[tokio::test]
async fn wrong_content_type_on_a_stream() {
    let env = Env::start().await;
    env.emu.faults().push(Fault::WrongContentType { times: 1 });
    let mut body = hello();
    body["stream"] = json!(true);
    let response = env.post("/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html");
}

#[tokio::test]
async fn oauth_status_fault() {
    let env = Env::start().await;
    env.emu.faults().push(Fault::OauthStatus {
        status: 503,
        times: 1,
    });
    // API requests are unaffected.
    assert_eq!(env.get("/models").await.status(), 200);
    let response = common::oauth(&env.emu, &env.http, "scope=GIGACHAT_API_PERS").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 503);
    let again = common::oauth(&env.emu, &env.http, "scope=GIGACHAT_API_PERS").await;
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn control_api_drives_faults_tokens_and_the_log() {
    let env = Env::start().await;
    let control = |path: &str| format!("{}{path}", env.emu.control_url());
    let pushed = env
        .http
        .post(control("/faults"))
        .json(&json!({"kind":"status","status":500,"times":1,"path_suffix":"/models"}))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 204);
    assert_eq!(env.get("/models").await.status(), 500);
    let bad = env
        .http
        .post(control("/faults"))
        .json(&json!({"kind":"nonsense"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    env.http
        .post(control("/tokens/expire"))
        .send()
        .await
        .unwrap();
    let (status, text) = status_text(env.get("/models").await).await;
    assert_eq!(status, 401);
    assert!(text.contains("Token has expired"));
    env.http
        .post(control("/tokens/revoke"))
        .send()
        .await
        .unwrap();
    let (_, text) = status_text(env.get("/models").await).await;
    assert!(text.contains("Unauthorized"));

    let log: Value = env
        .http
        .get(control("/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let log = log.as_array().unwrap();
    assert!(
        log.iter()
            .all(|r| !r["path"].as_str().unwrap().starts_with("/_emulator"))
    );
    assert_eq!(log.last().unwrap()["status"], 401);
    assert_eq!(log[0]["listener"], "oauth");
    assert_eq!(log[0]["body"], "scope=GIGACHAT_API_PERS");

    env.http.delete(control("/requests")).send().await.unwrap();
    assert!(env.emu.requests().is_empty());
    let ca = env
        .http
        .get(control("/ca.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(Some(ca.as_str()), env.emu.ca_pem());
}
