//! The access log of the real binary: one line per request (refusals included) with the request id,
//! route, key name (never the key), models, status, error, timings, tokens and bytes; JSON lines in
//! production, where every log line of a request carries its id; none with `ACCESS_LOG=false`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

#[path = "support/process.rs"]
mod process;
use process::{Running, free_port};

const NAMED_KEY: &str = "sk-team-secret-1";
const UNNAMED_KEY: &str = "sk-plain-secret-2";

/// The adapter against its built-in emulator, logging to `<dir>/stdout.log`; `extra` adds settings.
async fn spawn(extra: &[(&str, &str)]) -> (Running, String, PathBuf) {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stdout.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_gigachat-adapter"));
    command
        .arg("--emulator")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("BEARER_TOKEN", format!("team-a:{NAMED_KEY},{UNNAMED_KEY}"))
        .env("MAX_REQUEST_BYTES", "4096")
        .env("RUST_LOG", "info,gigachat=debug")
        .envs(extra.iter().copied())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null());
    let running = Running::new(command.spawn().unwrap(), dir);
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if reqwest::get(format!("{base}/health/live")).await.is_ok() {
            return (running, base, log);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the adapter did not start");
}

/// The ids of [`send_traffic`]'s requests.
const IDS: [&str; 6] = [
    "acc-chat",
    "acc-stream",
    "acc-401",
    "acc-404",
    "acc-413",
    "acc-head",
];

/// Whether each of [`IDS`] has a line in `text` that also holds `marker` (the access lines' target).
fn all_logged(text: &str, marker: &str) -> bool {
    IDS.iter().all(|id| {
        text.lines()
            .any(|line| line.contains(marker) && line.contains(id))
    })
}

/// Sends the requests every test logs: a chat (named key), a stream (unnamed key), a wrong key,
/// an unknown route, a body over `MAX_REQUEST_BYTES` and a HEAD (whose body is never sent); each
/// with its own `x-request-id` (see [`IDS`]).
async fn send_traffic(base: &str) {
    let http = reqwest::Client::new();
    let chat = json!({"model": "GigaChat", "messages": [{"role": "user", "content": "hi"}]});
    let mut stream = chat.clone();
    stream["stream"] = json!(true);
    let big = json!({"messages": [{"role": "user", "content": "x".repeat(8192)}]});
    let calls = [
        (
            "acc-chat",
            "/v1/chat/completions",
            NAMED_KEY,
            Some(&chat),
            200,
        ),
        (
            "acc-stream",
            "/v1/chat/completions",
            UNNAMED_KEY,
            Some(&stream),
            200,
        ),
        ("acc-401", "/v1/models", "sk-wrong", None, 401),
        ("acc-404", "/v1/files/file-1/nothing", NAMED_KEY, None, 404),
        (
            "acc-413",
            "/v1/chat/completions",
            NAMED_KEY,
            Some(&big),
            413,
        ),
        ("acc-head", "/health/ready", NAMED_KEY, None, 200),
    ];
    for (id, path, key, body, status) in calls {
        let request = match body {
            Some(body) => http.post(format!("{base}{path}")).json(body),
            None if id == "acc-head" => http.head(format!("{base}{path}")),
            None => http.get(format!("{base}{path}")),
        };
        let response = request
            .bearer_auth(key)
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{id}");
        assert_eq!(response.headers()["x-request-id"], id);
        response.bytes().await.unwrap();
    }
}

/// The log's lines once `done` holds for them (the line of a request is written when its body is
/// gone, which may be just after the client has read it); at most 30 s.
async fn lines_when(log: &Path, done: impl Fn(&str) -> bool) -> String {
    for _ in 0..300 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if done(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the log never got there:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The log's JSON lines (the demo banner before them is plain text); each must parse.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str::<Value>(line).unwrap_or_else(|_| panic!("{line}")))
        .collect()
}

/// The JSON access lines (target `access`).
fn access_lines(text: &str) -> Vec<Value> {
    json_lines(text)
        .into_iter()
        .filter(|line| line["target"] == "access")
        .collect()
}

fn line_of<'a>(lines: &'a [Value], id: &str) -> &'a Value {
    let found: Vec<&Value> = lines
        .iter()
        .filter(|line| line["fields"]["request_id"] == id)
        .collect();
    assert_eq!(found.len(), 1, "one line for {id}: {lines:#?}");
    found[0]
}

#[tokio::test]
async fn production_writes_one_json_line_per_request() {
    let (_adapter, base, log) = spawn(&[("ENVIRONMENT", "production")]).await;
    send_traffic(&base).await;
    let text = lines_when(&log, |text| all_logged(text, "\"target\":\"access\"")).await;
    assert!(
        !text.contains(NAMED_KEY) && !text.contains(UNNAMED_KEY),
        "a key was logged"
    );
    let lines = access_lines(&text);
    // The traffic's, and the health probes that waited for the start.
    assert!(
        lines
            .iter()
            .filter(|line| line["fields"]["route"] != "/health/live")
            .count()
            == IDS.len(),
        "{lines:#?}"
    );

    let chat = &line_of(&lines, "acc-chat")["fields"];
    assert_eq!(chat["method"], "POST");
    assert_eq!(chat["route"], "/v1/chat/completions");
    assert_eq!(chat["key"], "team-a");
    assert_eq!(chat["model"], "GigaChat");
    assert!(chat["model_served"].is_string(), "{chat}");
    assert_eq!(chat["stream"], false);
    assert_eq!(chat["status"], 200);
    assert!(chat.get("error").is_none(), "{chat}");
    assert!(chat["prompt_tokens"].as_u64().unwrap() > 0, "{chat}");
    assert!(chat["completion_tokens"].as_u64().unwrap() > 0, "{chat}");
    assert!(chat["cached_tokens"].is_u64(), "{chat}");
    assert!(chat["bytes_in"].as_u64().unwrap() > 0, "{chat}");
    assert!(chat["bytes_out"].as_u64().unwrap() > 0, "{chat}");
    assert!(
        chat["latency_ms"].is_u64() && chat["upstream_ms"].is_u64(),
        "{chat}"
    );
    assert!(chat.get("ttft_ms").is_none(), "{chat}");

    let stream = &line_of(&lines, "acc-stream")["fields"];
    assert_eq!(stream["key"], "key-2");
    assert_eq!(stream["stream"], true);
    assert_eq!(stream["status"], 200);
    assert!(stream["ttft_ms"].is_u64(), "{stream}");
    assert!(stream["upstream_ms"].is_u64(), "{stream}");
    assert!(
        stream["completion_tokens"].as_u64().unwrap() > 0,
        "{stream}"
    );
    assert!(stream["model_served"].is_string(), "{stream}");
    assert!(stream.get("error").is_none(), "{stream}");

    for (id, status, error, route) in [
        ("acc-401", 401, "unauthorized", "/v1/models"),
        ("acc-404", 404, "route_not_found", "other"),
        ("acc-413", 413, "payload_too_large", "/v1/chat/completions"),
    ] {
        let fields = &line_of(&lines, id)["fields"];
        assert_eq!(fields["status"], status, "{fields}");
        assert_eq!(fields["error"], error, "{fields}");
        assert_eq!(fields["route"], route, "{fields}");
    }
    assert!(line_of(&lines, "acc-401")["fields"].get("key").is_none());
    let head = &line_of(&lines, "acc-head")["fields"];
    assert_eq!(head["method"], "HEAD");
    assert_eq!(head["status"], 200);
    assert!(head.get("error").is_none(), "{head}");

    // Other lines of a request carry its id as their span object: GigaChat's call (in JSON
    // there is no span per request; the polling thread's mark gives the same `span` object).
    let call = json_lines(&text).into_iter().find(|line| {
        line["fields"]["message"] == "GigaChat call" && line["span"]["request_id"] == "acc-chat"
    });
    assert!(call.is_some(), "no GigaChat call line with the id:\n{text}");
}

/// Sends a chat request with a chunked body (no `Content-Length`) over a raw socket, under
/// `x-request-id: acc-chunked`; returns the body's length.
async fn send_chunked(base: &str) -> usize {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let body =
        json!({"model": "GigaChat", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let (first, second) = body.split_at(body.len() / 2);
    let address = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {NAMED_KEY}\r\n\
         content-type: application/json\r\nx-request-id: acc-chunked\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    for chunk in [first, second] {
        let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
        socket.write_all(framed.as_bytes()).await.unwrap();
        socket.flush().await.unwrap();
    }
    socket.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    body.len()
}

#[tokio::test]
async fn bytes_in_counts_a_chunked_body() {
    let (_adapter, base, log) = spawn(&[("ENVIRONMENT", "production")]).await;
    let sent = send_chunked(&base).await;
    let text = lines_when(&log, |text| {
        text.lines()
            .any(|line| line.contains("\"target\":\"access\"") && line.contains("acc-chunked"))
    })
    .await;
    let lines = access_lines(&text);
    let fields = &line_of(&lines, "acc-chunked")["fields"];
    assert_eq!(fields["bytes_in"], sent, "{fields}");
    assert_eq!(fields["status"], 200, "{fields}");
}

#[tokio::test]
async fn access_log_false_writes_no_access_lines() {
    let (_adapter, base, log) = spawn(&[("ACCESS_LOG", "false")]).await;
    send_traffic(&base).await;
    // A last request the log is waited for: the debug line of GigaChat's call of the stream.
    let text = lines_when(&log, |text| text.matches("GigaChat call").count() >= 2).await;
    assert!(
        !text.lines().any(|line| line.contains(" access: ")),
        "{text}"
    );
    assert!(!text.contains(NAMED_KEY) && !text.contains(UNNAMED_KEY));
}

#[tokio::test]
async fn a_filter_turning_access_lines_off_holds_in_production() {
    // JSON access lines skip `tracing`'s event path: the filter must still be obeyed.
    let (_adapter, base, log) = spawn(&[
        ("ENVIRONMENT", "production"),
        ("RUST_LOG", "info,gigachat=debug,access=off"),
    ])
    .await;
    send_traffic(&base).await;
    let text = lines_when(&log, |text| text.matches("GigaChat call").count() >= 2).await;
    assert!(
        !text
            .lines()
            .any(|line| line.contains(r#""target":"access""#)),
        "{text}"
    );
}

#[tokio::test]
async fn development_writes_readable_lines_with_the_fields() {
    let (_adapter, base, log) = spawn(&[]).await;
    send_traffic(&base).await;
    let text = lines_when(&log, |text| all_logged(text, " access: ")).await;
    let chat = text
        .lines()
        .find(|line| line.contains(" access: ") && line.contains("request_id=acc-chat"))
        .unwrap();
    for field in [
        "route=\"/v1/chat/completions\"",
        "key=\"team-a\"",
        "status=200",
        "prompt_tokens=",
    ] {
        assert!(chat.contains(field), "{field} in {chat}");
    }
    // Text logs show the request's span, with its id, before the lines written inside it.
    assert!(
        text.lines()
            .any(|line| line.contains("request{request_id=acc-chat}")
                && line.contains("GigaChat call")),
        "{text}"
    );
    assert!(!text.contains(NAMED_KEY) && !text.contains(UNNAMED_KEY));
}

/// The answer to `request` sent on a new raw connection, read until the adapter closes it.
async fn raw_answer(base: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the adapter kept the connection open")
        .unwrap();
    String::from_utf8(answer).unwrap()
}

/// The `x-request-id` of a raw answer.
fn answer_id(answer: &str) -> String {
    answer
        .lines()
        .find_map(|line| line.strip_prefix("x-request-id: "))
        .unwrap_or_else(|| panic!("no x-request-id in {answer}"))
        .trim()
        .to_owned()
}

/// Heads the connection layer refuses before any request exists get an access line too, under
/// the id their answer carries: the request line's method and route when it arrived, else `-` and
/// `other`.
#[tokio::test]
async fn connection_layer_answers_are_logged() {
    let (_adapter, base, log) = spawn(&[("ENVIRONMENT", "production")]).await;
    let garbage = raw_answer(&base, b"HELLO THERE\r\n\r\n").await;
    assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
    let garbage_id = answer_id(&garbage);
    let framing = raw_answer(
        &base,
        b"POST /v1/chat/completions HTTP/1.1\r\nx-request-id: acc-framing\r\n\
          content-length: 2\r\ncontent-length: 2\r\n\r\n{}",
    )
    .await;
    assert!(framing.starts_with("HTTP/1.1 400 "), "{framing}");
    assert_eq!(answer_id(&framing), "acc-framing");
    let text = lines_when(&log, |text| {
        text.contains(&garbage_id) && text.contains("\"request_id\":\"acc-framing\"")
    })
    .await;
    let lines = access_lines(&text);
    for (id, method, route) in [
        (garbage_id.as_str(), "-", "other"),
        ("acc-framing", "POST", "/v1/chat/completions"),
    ] {
        let fields = &line_of(&lines, id)["fields"];
        assert_eq!(fields["method"], method, "{fields}");
        assert_eq!(fields["route"], route, "{fields}");
        assert_eq!(fields["status"], 400, "{fields}");
        assert_eq!(fields["error"], "invalid_request", "{fields}");
        assert!(fields["bytes_out"].as_u64().unwrap() > 0, "{fields}");
        assert!(fields["latency_ms"].is_u64(), "{fields}");
    }
}
