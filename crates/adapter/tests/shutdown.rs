//! The real binary under SIGTERM: in-flight streams finish (up to the drain deadline, then they
//! end with a shutdown error event) on every event loop, then it exits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "support/process.rs"]
mod process;
use process::{Running, free_port};

use futures_util::StreamExt;
use gigachat_emulator::{Emulator, EmulatorConfig};

struct Adapter {
    process: Running,
    base: String,
}

async fn spawn_adapter(emulator: &Emulator, grace_secs: u64) -> Adapter {
    spawn_adapter_with(emulator, grace_secs, &[]).await
}

async fn spawn_adapter_with(
    emulator: &Emulator,
    grace_secs: u64,
    extra: &[(&str, &str)],
) -> Adapter {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, emulator.ca_pem().unwrap()).unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_gigachat-adapter"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("BEARER_TOKEN", "k")
        .env("SHUTDOWN_GRACE_SECS", grace_secs.to_string())
        .env("WORKER_THREADS", "3")
        .env("GIGACHAT_BASE_URL", emulator.api_base_url())
        .env("GIGACHAT_AUTH_URL", emulator.auth_url())
        .env("GIGACHAT_CREDENTIALS", emulator.credentials_header())
        .env("GIGACHAT_CA_BUNDLE_FILE", &ca)
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let adapter = Adapter {
        process: Running::new(child, dir),
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..200 {
        if let Ok(response) = reqwest::get(format!("{}/health/live", adapter.base)).await
            && response.status().is_success()
        {
            return adapter;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the adapter did not start");
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the adapter did not exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn slow_emulator(answer_words: usize) -> EmulatorConfig {
    EmulatorConfig {
        answer_words,
        words_per_event: 3,
        event_gap: Duration::from_millis(100),
        ..EmulatorConfig::default()
    }
}

async fn open_stream(adapter: &Adapter) -> reqwest::Response {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", adapter.base))
        .bearer_auth("k")
        .json(&serde_json::json!({"messages": [{"role": "user", "content": "x"}], "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
}

#[tokio::test]
async fn sigterm_lets_in_flight_streams_finish() {
    let emulator = Emulator::start(slow_emulator(24)).await.unwrap();
    let mut adapter = spawn_adapter(&emulator, 20).await;
    // Separate connections, so the streams can sit on different event loops.
    let mut bodies = Vec::new();
    for _ in 0..4 {
        let mut body = open_stream(&adapter).await.bytes_stream();
        body.next().await.unwrap().unwrap();
        bodies.push(body);
    }
    sigterm(&adapter.process.child);
    let rests = futures_util::future::join_all(bodies.into_iter().map(|mut body| async move {
        let mut rest = Vec::new();
        while let Some(chunk) = body.next().await {
            rest.extend_from_slice(&chunk.unwrap());
        }
        String::from_utf8(rest).unwrap()
    }))
    .await;
    for rest in rests {
        assert!(rest.ends_with("data: [DONE]\n\n"), "stream cut: {rest}");
    }
    let status = wait_exit(&mut adapter.process.child, Duration::from_secs(10)).await;
    assert!(status.success(), "{status}");
}

/// Streams still open when the drain deadline passes end with one `server_shutting_down` error
/// event and a clean end of body (a cut chunked body would fail to read), then the adapter exits.
#[tokio::test]
async fn drain_deadline_ends_open_streams_with_an_error_event() {
    let emulator = Emulator::start(slow_emulator(600)).await.unwrap();
    let mut adapter = spawn_adapter(&emulator, 1).await;
    let mut bodies = Vec::new();
    for _ in 0..6 {
        let mut body = open_stream(&adapter).await.bytes_stream();
        body.next().await.unwrap().unwrap();
        bodies.push(body);
    }
    sigterm(&adapter.process.child);
    let rests = futures_util::future::join_all(bodies.into_iter().map(|mut body| async move {
        let mut rest = Vec::new();
        while let Some(chunk) = body.next().await {
            rest.extend_from_slice(&chunk.expect("the stream body was cut"));
        }
        String::from_utf8(rest).unwrap()
    }));
    // The answers would take 20 s; the adapter must end them after its 1 s grace period instead.
    let rests = tokio::time::timeout(Duration::from_secs(8), rests)
        .await
        .expect("the streams did not end");
    for rest in rests {
        assert!(!rest.contains("[DONE]"), "{rest}");
        let last = rest.trim_end().rsplit("\n\n").next().unwrap();
        let event: serde_json::Value =
            serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(event["error"]["type"], "server_error", "{event}");
        assert_eq!(event["error"]["code"], "server_shutting_down", "{event}");
        assert!(rest.ends_with("\n\n"), "{rest}");
        assert_eq!(rest.matches("\"error\"").count(), 1, "{rest}");
    }
    let status = wait_exit(&mut adapter.process.child, Duration::from_secs(8)).await;
    assert!(status.success(), "{status}");
}

/// A streamed Anthropic message still open at the drain deadline ends with Anthropic's `error`
/// event (not OpenAI's envelope), then a clean end of body.
#[tokio::test]
async fn drain_deadline_ends_an_anthropic_stream_with_its_error_event() {
    let emulator = Emulator::start(slow_emulator(600)).await.unwrap();
    let mut adapter = spawn_adapter(&emulator, 1).await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/messages", adapter.base))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(
            &serde_json::json!({"model": "GigaChat-2-Max", "max_tokens": 1000, "stream": true,
                                  "messages": [{"role": "user", "content": "x"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    sigterm(&adapter.process.child);
    let rest = tokio::time::timeout(Duration::from_secs(8), async move {
        let mut rest = Vec::new();
        while let Some(chunk) = body.next().await {
            rest.extend_from_slice(&chunk.expect("the stream body was cut"));
        }
        String::from_utf8(rest).unwrap()
    })
    .await
    .expect("the stream did not end");
    let last = rest.trim_end().rsplit("\n\n").next().unwrap();
    let data = last
        .strip_prefix("event: error\ndata: ")
        .unwrap_or_else(|| panic!("not an error event: {rest}"));
    let event: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(event["type"], "error", "{event}");
    assert_eq!(event["error"]["type"], "api_error", "{event}");
    assert!(
        event["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down")
    );
    assert_eq!(event["request_id"], request_id.as_str());
    assert!(!rest.contains("message_stop"), "{rest}");
    let status = wait_exit(&mut adapter.process.child, Duration::from_secs(8)).await;
    assert!(status.success(), "{status}");
}

/// The `METRICS_ADDR` listener stops with the server: on SIGTERM it stops accepting and closes its
/// idle kept-alive scrape connection while the main port is still draining a stream, and the
/// process then exits.
#[tokio::test]
async fn sigterm_stops_the_metrics_listener_with_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let emulator = Emulator::start(slow_emulator(150)).await.unwrap();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut adapter =
        spawn_adapter_with(&emulator, 20, &[("METRICS_ADDR", metrics_addr.as_str())]).await;
    // A scrape on a connection that stays open afterwards, as Prometheus keeps it.
    let mut scrape = tokio::net::TcpStream::connect(&metrics_addr).await.unwrap();
    scrape
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 64];
    let read = scrape.read(&mut first).await.unwrap();
    assert!(first[..read].starts_with(b"HTTP/1.1 200"), "{first:?}");
    // The stream takes about 5 s: the main port drains that long.
    let mut body = open_stream(&adapter).await.bytes_stream();
    body.next().await.unwrap().unwrap();
    sigterm(&adapter.process.child);
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), scrape.read_to_end(&mut rest))
        .await
        .expect("the idle scrape connection stayed open after SIGTERM")
        .unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match tokio::net::TcpStream::connect(&metrics_addr).await {
                Err(_) => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    assert!(
        refused.is_ok(),
        "the metrics port still accepts after SIGTERM"
    );
    let mut tail = Vec::new();
    while let Some(chunk) = body.next().await {
        tail.extend_from_slice(&chunk.unwrap());
    }
    assert!(
        String::from_utf8_lossy(&tail).ends_with("data: [DONE]\n\n"),
        "the stream was cut: {}",
        String::from_utf8_lossy(&tail)
    );
    let status = wait_exit(&mut adapter.process.child, Duration::from_secs(10)).await;
    assert!(status.success(), "{status}");
}
