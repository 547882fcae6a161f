//! Slow, silent, abusive and malformed clients over raw sockets: each is answered with the right
//! status and the OpenAI envelope, or closed, within the configured limits; normal requests keep
//! working meanwhile.

use std::time::Duration;

use gigachat_emulator::EmulatorConfig;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Harness, KEY, Options, assert_error, start_with, user};

/// Longest any test waits for the adapter to answer or close.
const PATIENCE: Duration = Duration::from_secs(10);

async fn adapter(limits: &[(&str, &str)], emulator: EmulatorConfig) -> Harness {
    let args = limits
        .iter()
        .flat_map(|(flag, value)| [format!("--{flag}"), (*value).to_owned()])
        .collect();
    start_with(Options {
        emulator,
        args,
        ..Options::default()
    })
    .await
}

async fn connect(harness: &Harness) -> TcpStream {
    TcpStream::connect(harness.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Everything the adapter sends until it closes the connection.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received))
        .await
        .expect("the adapter kept the connection open")
        .unwrap_or_default();
    received
}

/// Status and JSON body of a whole `connection: close` response.
fn parse(response: &[u8]) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {text:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, head.to_ascii_lowercase(), body)
}

/// Sends `request` on a new connection and returns the answer read until the adapter closes.
pub(crate) async fn exchange(harness: &Harness, request: &[u8]) -> (u16, String, Value) {
    let mut stream = connect(harness).await;
    stream.write_all(request).await.unwrap();
    let answer = parse(&until_closed(&mut stream).await);
    assert!(answer.1.contains("connection: close"), "{}", answer.1);
    answer
}

/// The `x-request-id` of a (lower-cased) response head; a generated one is a UUID.
fn request_id(head: &str) -> String {
    head.lines()
        .find_map(|line| line.strip_prefix("x-request-id: "))
        .unwrap_or_else(|| panic!("no x-request-id in {head}"))
        .trim()
        .to_owned()
}

/// Asserts the head carries a generated request id.
fn assert_generated_id(head: &str) {
    let id = request_id(head);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id} in {head}");
}

/// The sum of `requests_total` samples with all of `labels`, as the main port's `/metrics` says.
async fn requests_counted(harness: &Harness, labels: &[(&str, &str)]) -> f64 {
    let text = harness
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with("gigachat_adapter_requests_total{"))
        .filter(|line| {
            labels
                .iter()
                .all(|(name, value)| line.contains(&format!("{name}=\"{value}\"")))
        })
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// The adapter still serves an ordinary call.
async fn still_serves(harness: &Harness) {
    let (status, _, body) = harness.chat(user("hi")).await;
    assert_eq!(status, 200, "{body}");
}

/// Sends the start of a head a byte every 100 ms, then nothing; returns only if the adapter closed.
async fn trickle_head(writer: &mut (impl AsyncWriteExt + Unpin)) {
    for byte in b"GET /health/live HTTP/1.1\r\nhost: x\r\nx-slow: " {
        if writer.write_all(&[*byte]).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn headers_sent_a_byte_at_a_time_are_cut_off_with_408() {
    let harness = adapter(
        &[("header-read-timeout-secs", "1")],
        EmulatorConfig::default(),
    )
    .await;
    let mut stream = connect(&harness).await;
    let (mut reader, mut writer) = stream.split();
    let trickle = trickle_head(&mut writer);
    let mut received = Vec::new();
    tokio::select! {
        () = trickle => unreachable!(),
        read = tokio::time::timeout(PATIENCE, reader.read_to_end(&mut received)) => {
            read.expect("the slow head was never cut off").unwrap();
        }
    }
    let (status, head, body) = parse(&received);
    assert_error(status, &body, 408, Some("request_timeout"));
    assert_generated_id(&head);
    still_serves(&harness).await;
}

#[tokio::test]
async fn a_slow_second_head_on_a_keep_alive_connection_is_closed() {
    let harness = adapter(
        &[("header-read-timeout-secs", "1")],
        EmulatorConfig::default(),
    )
    .await;
    let mut stream = connect(&harness).await;
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    // The first answer keeps the connection open: what closes it is the slow second head.
    let first = String::from_utf8_lossy(&one_response(&mut stream).await).to_ascii_lowercase();
    assert!(first.starts_with("http/1.1 200"), "{first}");
    assert!(!first.contains("connection: close"), "{first}");
    let (mut reader, mut writer) = stream.split();
    let trickle = trickle_head(&mut writer);
    let mut rest = Vec::new();
    tokio::select! {
        () = trickle => {}
        read = tokio::time::timeout(PATIENCE, reader.read_to_end(&mut rest)) => {
            read.expect("the slow second head was never cut off").unwrap_or_default();
        }
    }
    // Either way the adapter has closed the connection, answering nothing but a 408 if anything.
    let mut after = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, reader.read_to_end(&mut after))
        .await
        .expect("the connection stayed open");
    rest.extend_from_slice(&after);
    if !rest.is_empty() {
        let (status, _, body) = parse(&rest);
        assert_error(status, &body, 408, Some("request_timeout"));
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let harness = adapter(
        &[("header-read-timeout-secs", "1")],
        EmulatorConfig::default(),
    )
    .await;
    let mut stream = connect(&harness).await;
    assert!(until_closed(&mut stream).await.is_empty());
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_gets_408() {
    let harness = adapter(
        &[("body-read-timeout-secs", "1")],
        EmulatorConfig::default(),
    )
    .await;
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"messages\":"
    );
    let mut stream = connect(&harness).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    let (status, head, body) = parse(&until_closed(&mut stream).await);
    assert_error(status, &body, 408, Some("request_timeout"));
    assert!(head.contains("connection: close"), "{head}");
    assert_generated_id(&head);
    assert!(harness.upstream("/chat/completions").is_empty());
    still_serves(&harness).await;
}

#[tokio::test]
async fn a_multipart_upload_that_stalls_gets_408() {
    let harness = adapter(
        &[("body-read-timeout-secs", "1")],
        EmulatorConfig::default(),
    )
    .await;
    let part =
        "--b\r\ncontent-disposition: form-data; name=\"purpose\"\r\n\r\nuser_data\r\n--b\r\n";
    let request = format!(
        "POST /v1/files HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\n\
         content-type: multipart/form-data; boundary=b\r\ncontent-length: 1000\r\n\r\n{part}"
    );
    let mut stream = connect(&harness).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    let (status, head, body) = parse(&until_closed(&mut stream).await);
    assert_error(status, &body, 408, Some("request_timeout"));
    assert_generated_id(&head);
}

#[tokio::test]
async fn idle_keep_alive_connections_close_but_silent_streams_do_not() {
    // Every stream event comes 1.5 s after the last: longer than the idle timeout.
    let harness = adapter(
        &[("idle-timeout-secs", "1")],
        EmulatorConfig {
            answer_words: 6,
            words_per_event: 3,
            event_gap: Duration::from_millis(1500),
            ..EmulatorConfig::default()
        },
    )
    .await;
    let mut stream = connect(&harness).await;
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let received = until_closed(&mut stream).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let mut body = user("hi");
    body["stream"] = true.into();
    let (status, events) = harness.stream(body).await;
    assert_eq!(status, 200);
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
}

#[tokio::test]
async fn connections_over_the_limit_get_503_until_one_closes() {
    let harness = adapter(&[("max-connections", "2")], EmulatorConfig::default()).await;
    let first = connect(&harness).await;
    let _second = connect(&harness).await;
    // Both are accepted (and hold their permits) before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, head, body) =
        exchange(&harness, b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_error(status, &body, 503, Some("too_many_connections"));
    assert!(head.contains("retry-after: 1"), "{head}");
    assert!(head.contains("x-should-retry: true"), "{head}");
    assert_generated_id(&head);
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut stream = connect(&harness).await;
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&until_closed(&mut stream).await).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test]
async fn protocol_errors_get_the_envelope_and_the_right_status() {
    let harness = adapter(&[], EmulatorConfig::default()).await;
    let many: String = (0..1000).map(|i| format!("x-h{i}: v\r\n")).collect();
    let huge = format!(
        "GET /v1/models HTTP/1.1\r\nx-big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let cases: [(&str, Vec<u8>, u16); 6] = [
        ("garbage", b"HELLO THERE\r\n\r\n".to_vec(), 400),
        (
            "duplicate content-length",
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\n{}"
                .to_vec(),
            400,
        ),
        (
            "control character",
            b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-bad: a\x01b\r\n\r\n".to_vec(),
            400,
        ),
        (
            "length and chunked",
            b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n"
                .to_vec(),
            400,
        ),
        (
            "1000 headers",
            format!("GET /v1/models HTTP/1.1\r\n{many}\r\n").into_bytes(),
            431,
        ),
        ("1 MB header", huge.into_bytes(), 431),
    ];
    for (what, request, expected) in cases {
        let (status, head, body) = exchange(&harness, &request).await;
        assert!(
            head.contains("content-type: application/json"),
            "{what}: {head}"
        );
        let message = assert_error(status, &body, expected, None);
        assert!(!message.is_empty(), "{what}");
        assert_generated_id(&head);
    }
    // A whole head refused for its framing keeps the client's id.
    let (status, head, _) = exchange(
        &harness,
        b"POST /v1/chat/completions HTTP/1.1\r\nx-request-id: client-7\r\n\
          content-length: 2\r\ncontent-length: 2\r\n\r\n{}",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(request_id(&head), "client-7");
    still_serves(&harness).await;
}

/// One whole response with a `content-length` body, read off a connection that stays open.
async fn one_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .map_or(0, |length| length.trim().parse().unwrap());
            if received.len() >= end + 4 + length {
                return received;
            }
        }
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed after {received:?}");
        received.extend_from_slice(&chunk[..n]);
    }
}

/// The first head of a connection is checked before hyper sees it; a later head on the same
/// kept-alive connection is parsed by hyper, whose bare answer is given the envelope too.
#[tokio::test]
async fn later_heads_on_a_kept_alive_connection_get_the_envelope_too() {
    let harness = adapter(&[], EmulatorConfig::default()).await;
    let many: String = (0..1000).map(|i| format!("x-h{i}: v\r\n")).collect();
    let huge = format!(
        "GET /v1/models HTTP/1.1\r\nx-big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let cases: [(&str, Vec<u8>, u16); 4] = [
        ("garbage", b"HELLO THERE\r\n\r\n".to_vec(), 400),
        (
            "control character",
            b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-bad: a\x01b\r\n\r\n".to_vec(),
            400,
        ),
        (
            "1000 headers",
            format!("GET /v1/models HTTP/1.1\r\n{many}\r\n").into_bytes(),
            431,
        ),
        ("1 MB header", huge.into_bytes(), 431),
    ];
    for (what, request, expected) in cases {
        let mut stream = connect(&harness).await;
        stream
            .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let first = one_response(&mut stream).await;
        assert!(first.starts_with(b"HTTP/1.1 200"), "{what}: {first:?}");
        let _ = stream.write_all(&request).await;
        let (status, head, body) = parse(&until_closed(&mut stream).await);
        assert!(
            head.contains("content-type: application/json") && head.contains("connection: close"),
            "{what}: {head}"
        );
        let message = assert_error(status, &body, expected, None);
        assert!(!message.is_empty(), "{what}");
        assert_generated_id(&head);
    }
    still_serves(&harness).await;
}

/// Answers the connection layer gives before a request exists are counted in `requests_total`
/// with their status and error (by the path when the request line arrived, else as `other`).
#[tokio::test]
async fn connection_layer_answers_are_counted() {
    let harness = adapter(
        &[("header-read-timeout-secs", "1"), ("max-connections", "3")],
        EmulatorConfig::default(),
    )
    .await;
    let counted = |status: &'static str, error: &'static str, route: &'static str| {
        let harness = &harness;
        async move {
            requests_counted(
                harness,
                &[("route", route), ("status", status), ("error", error)],
            )
            .await
        }
    };
    assert_eq!(counted("400", "invalid_request", "other").await, 0.0);
    let (status, _, _) = exchange(&harness, b"HELLO THERE\r\n\r\n").await;
    assert_eq!(status, 400);
    let many: String = (0..1000).map(|i| format!("x-h{i}: v\r\n")).collect();
    let (status, _, _) = exchange(
        &harness,
        format!("GET /v1/models HTTP/1.1\r\n{many}\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status, 431);
    let (status, _, _) =
        exchange(&harness, b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-slow: ").await;
    assert_eq!(status, 408);
    // Three connections held (the metrics client's pool may hold one): the next is refused.
    let held = [
        connect(&harness).await,
        connect(&harness).await,
        connect(&harness).await,
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _, _) = exchange(&harness, b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_eq!(status, 503);
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(counted("400", "invalid_request", "other").await, 1.0);
    assert_eq!(counted("431", "headers_too_large", "/v1/models").await, 1.0);
    assert_eq!(counted("408", "request_timeout", "/v1/models").await, 1.0);
    assert!(counted("503", "too_many_connections", "other").await >= 1.0);
}

/// The SETTINGS an HTTP/2 client with prior knowledge is sent first, as (identifier, value).
async fn http2_settings(harness: &Harness) -> Vec<(u16, u32)> {
    let mut stream = connect(harness).await;
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut header = [0u8; 9];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut header))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(header[3], 4, "the first frame is not SETTINGS: {header:?}");
    let length = usize::from(header[1]) << 8 | usize::from(header[2]);
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await.unwrap();
    payload
        .chunks_exact(6)
        .map(|s| {
            (
                u16::from_be_bytes([s[0], s[1]]),
                u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
            )
        })
        .collect()
}

#[tokio::test]
async fn http2_advertises_the_stream_and_header_list_limits() {
    let harness = adapter(
        &[
            ("http2-max-concurrent-streams", "7"),
            ("max-header-bytes", "20000"),
        ],
        EmulatorConfig::default(),
    )
    .await;
    let settings = http2_settings(&harness).await;
    assert!(settings.contains(&(0x3, 7)), "{settings:?}");
    assert!(settings.contains(&(0x6, 20000)), "{settings:?}");
}

#[tokio::test]
async fn uploads_that_are_not_multipart_get_the_envelope() {
    let harness = adapter(&[], EmulatorConfig::default()).await;
    for content_type in ["application/json", "multipart/form-data"] {
        let response = harness
            .http
            .post(format!("{}/v1/files", harness.base))
            .bearer_auth(KEY)
            .header("content-type", content_type)
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{content_type}"
        );
        let body = response.json().await.unwrap();
        assert_error(status, &body, 400, None);
    }
}

#[tokio::test]
async fn an_upload_over_the_body_limit_gets_413_with_the_envelope() {
    let harness = adapter(&[("max-request-bytes", "1000")], EmulatorConfig::default()).await;
    let form = reqwest::multipart::Form::new()
        .text("purpose", "user_data")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![b'a'; 5000]).file_name("a.txt"),
        );
    let response = harness
        .http
        .post(format!("{}/v1/files", harness.base))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap();
    assert_error(status, &body, 413, Some("request_too_large"));
}

#[tokio::test]
async fn a_client_that_reads_nothing_of_its_answers_is_dropped() {
    let harness = adapter(&[("send-timeout-secs", "1")], EmulatorConfig::default()).await;
    let asset = format!("{}/docs/swagger-ui-bundle.js", harness.base);
    let size = harness
        .http
        .get(&asset)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    assert!(size > 100_000, "{size}");
    // Far more than the socket buffers on both sides hold, asked for at once and never read.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket
        .connect(harness.base.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    let pipelined = "GET /docs/swagger-ui-bundle.js HTTP/1.1\r\nhost: x\r\n\r\n".repeat(40);
    stream.write_all(pipelined.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the connection was never dropped");
    assert!(
        received.len() < 40 * size,
        "{} bytes arrived",
        received.len()
    );
    still_serves(&harness).await;
}

#[tokio::test]
async fn http2_clients_with_prior_knowledge_are_served() {
    let harness = adapter(&[], EmulatorConfig::default()).await;
    let http2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut body = user("hi");
    body["stream"] = true.into();
    let response = http2
        .post(format!("{}/v1/chat/completions", harness.base))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
}
