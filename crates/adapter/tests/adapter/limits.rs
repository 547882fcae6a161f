//! Per-key limits from `KEYS_FILE`, counted in process (no `REDIS_URL`): N requests then 429
//! with `retry-after` and the `x-ratelimit-*` headers in each envelope, token limits closing after
//! the usage GigaChat reported (whole answers and streams, chat, Responses and Messages),
//! concurrency freed when a request ends or its client goes away, unlimited keys untouched.

use std::time::Duration;

use gigachat_emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::common::{Harness, KEY, Options, spawn_adapter, start_with};

/// A key of the keys file: its secret and the TOML of its limits.
struct Key {
    name: &'static str,
    limits: &'static str,
}

fn secret(name: &str) -> String {
    format!("sk-{name}")
}

/// An adapter whose keys file holds `keys` (beside the harness' unlimited `BEARER_TOKEN` key),
/// in front of an emulator configured by `emulator`.
async fn harness(keys: &[Key], emulator: EmulatorConfig) -> (Harness, tempfile::TempDir) {
    harness_with(keys, emulator, Vec::new()).await
}

/// [`harness`] with more command-line `args`; the keys file is `keys.toml` in the returned
/// directory.
async fn harness_with(
    keys: &[Key],
    emulator: EmulatorConfig,
    args: Vec<String>,
) -> (Harness, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut file = String::new();
    for key in keys {
        let digest: String = gigachat_adapter::policy::digest_of(&secret(key.name))
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        file.push_str(&format!(
            "[[keys]]\nname = \"{}\"\nsha256 = \"{digest}\"\n[keys.limits]\n{}\n\n",
            key.name, key.limits
        ));
    }
    let path = dir.path().join("keys.toml");
    std::fs::write(&path, file).unwrap();
    let harness = start_with(Options {
        emulator,
        args: [
            vec!["--keys-file".to_owned(), path.display().to_string()],
            args,
        ]
        .concat(),
        ..Options::default()
    })
    .await;
    (harness, dir)
}

/// Waits for the next minute when this one ends within 10 s, so a test's requests share a window.
async fn within_one_minute() {
    let now = gigachat_adapter::store::unix_now().unsigned_abs();
    let left = 60 - now % 60;
    if left <= 10 {
        tokio::time::sleep(Duration::from_secs(left) + Duration::from_millis(100)).await;
    }
}

fn chat(stream: bool) -> Value {
    json!({
        "model": "GigaChat-2-Max",
        "stream": stream,
        "messages": [{"role": "user", "content": "Hello"}],
    })
}

fn messages(stream: bool) -> Value {
    json!({
        "model": "GigaChat-2-Max",
        "max_tokens": 100,
        "stream": stream,
        "messages": [{"role": "user", "content": "Hello"}],
    })
}

/// POSTs `body` to `path` with `key` (as an Anthropic client when `path` is `/v1/messages`) and
/// returns the status, headers and the whole body's text.
async fn call(harness: &Harness, key: &str, path: &str, body: &Value) -> (u16, Headers, String) {
    let response = request(harness, key, path, body).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = Headers(response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

fn request(harness: &Harness, key: &str, path: &str, body: &Value) -> reqwest::RequestBuilder {
    let request = harness
        .http
        .post(format!("{}{path}", harness.base))
        .bearer_auth(key)
        .json(body);
    if path == "/v1/messages" {
        request.header("anthropic-version", "2023-06-01")
    } else {
        request
    }
}

struct Headers(reqwest::header::HeaderMap);

impl Headers {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|value| value.to_str().unwrap())
    }

    fn number(&self, name: &str) -> u64 {
        self.get(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .parse()
            .unwrap()
    }
}

/// The error of a 429 body in OpenAI's envelope, checked.
fn openai_rate_limited(body: &str) -> String {
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn requests_per_minute_admit_n_then_429_with_headers_in_each_envelope() {
    let (harness, _dir) = harness_with(
        &[
            Key {
                name: "alice",
                limits: "requests_per_minute = 3",
            },
            Key {
                name: "claude",
                limits: "requests_per_minute = 1",
            },
        ],
        EmulatorConfig::default(),
        vec![
            "--cors-allowed-hosts".to_owned(),
            "https://webui.example".to_owned(),
        ],
    )
    .await;
    within_one_minute().await;
    let alice = secret("alice");
    for remaining in [2, 1, 0] {
        let (status, headers, _) =
            call(&harness, &alice, "/v1/chat/completions", &chat(false)).await;
        assert_eq!(status, 200);
        assert_eq!(headers.number("x-ratelimit-limit-requests"), 3);
        assert_eq!(headers.number("x-ratelimit-remaining-requests"), remaining);
        let reset = headers.get("x-ratelimit-reset-requests").unwrap();
        // Within the minute: `1s` to `59s`, or `1m0s` at its very start.
        let within_minute = reset == "1m0s"
            || reset
                .strip_suffix('s')
                .and_then(|secs| secs.parse::<u64>().ok())
                .is_some_and(|secs| (1..60).contains(&secs));
        assert!(within_minute, "{reset}");
        assert_eq!(headers.get("x-ratelimit-limit-tokens"), None);
    }
    // The fourth, a stream too, is refused before reaching GigaChat.
    let upstream_before = harness.upstream("/chat/completions").len();
    let (status, headers, body) = call(&harness, &alice, "/v1/chat/completions", &chat(true)).await;
    assert_eq!(status, 429, "{body}");
    let message = openai_rate_limited(&body);
    assert!(message.contains("requests_per_minute"), "{message}");
    let retry_after = headers.number("retry-after");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(headers.get("x-should-retry"), Some("true"));
    assert_eq!(headers.number("x-ratelimit-remaining-requests"), 0);
    assert_eq!(harness.upstream("/chat/completions").len(), upstream_before);
    // Any API route counts; service routes do not.
    let (status, _, _) = call(&harness, &alice, "/v1/embeddings", &json!({"input": "x"})).await;
    assert_eq!(status, 429);
    let health = harness
        .http
        .get(format!("{}/health/live", harness.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(!health.headers().contains_key("x-ratelimit-limit-requests"));

    // Anthropic's envelope for an Anthropic client.
    let claude = secret("claude");
    let (status, headers, _) = call(&harness, &claude, "/v1/messages", &messages(false)).await;
    assert_eq!(status, 200);
    assert_eq!(headers.number("x-ratelimit-remaining-requests"), 0);
    let (status, headers, body) = call(&harness, &claude, "/v1/messages", &messages(false)).await;
    assert_eq!(status, 429, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert!(body["request_id"].is_string(), "{body}");
    assert!(headers.number("retry-after") >= 1);
    assert_eq!(headers.number("x-ratelimit-limit-requests"), 1);

    // Browser clients may read the headers (CORS exposes them).
    let response = request(&harness, &alice, "/v1/chat/completions", &chat(false))
        .header("origin", "https://webui.example")
        .send()
        .await
        .unwrap();
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    for name in ["x-ratelimit-remaining-requests", "x-ratelimit-reset-tokens"] {
        assert!(exposed.contains(name), "{exposed}");
    }

    // The unlimited key is untouched and gets no limit headers.
    for _ in 0..5 {
        let (status, headers, _) = call(&harness, KEY, "/v1/chat/completions", &chat(false)).await;
        assert_eq!(status, 200);
        assert_eq!(headers.get("x-ratelimit-limit-requests"), None);
    }
}

/// Sends requests of `key` until one is refused (at most `most`), returning how many passed and
/// the refusal's message; the usage of an answer is counted when its request is over, a moment
/// after the client has read it, so a request may still pass right after the one that used up
/// the limit.
async fn until_refused(harness: &Harness, key: &str, most: usize) -> (usize, String) {
    for passed in 0..most {
        let (status, headers, body) =
            call(harness, key, "/v1/chat/completions", &chat(false)).await;
        if status == 429 {
            assert_eq!(headers.number("x-ratelimit-remaining-tokens"), 0);
            return (passed, openai_rate_limited(&body));
        }
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{most} requests passed a token limit")
}

#[tokio::test]
async fn token_limits_close_after_the_usage_of_answers_and_streams_on_every_surface() {
    let names = [
        "chat",
        "chat-stream",
        "responses",
        "responses-stream",
        "messages",
        "messages-stream",
    ];
    let keys: Vec<Key> = names
        .iter()
        .map(|name| Key {
            name,
            limits: "tokens_per_minute = 20\ntokens_per_day = 1000000",
        })
        .collect();
    let (harness, _dir) = harness(&keys, EmulatorConfig::default()).await;
    within_one_minute().await;
    let bodies = [
        ("/v1/chat/completions", chat(false)),
        ("/v1/chat/completions", chat(true)),
        (
            "/v1/responses",
            json!({"model": "GigaChat-2-Max", "input": "Hello"}),
        ),
        (
            "/v1/responses",
            json!({"model": "GigaChat-2-Max", "input": "Hello", "stream": true}),
        ),
        ("/v1/messages", messages(false)),
        ("/v1/messages", messages(true)),
    ];
    for (name, (path, body)) in names.iter().zip(bodies) {
        let key = secret(name);
        let (status, headers, text) = call(&harness, &key, path, &body).await;
        assert_eq!(status, 200, "{name}: {text}");
        // Headers go out before the body, streams included: nothing is spent yet.
        assert_eq!(headers.number("x-ratelimit-limit-tokens"), 20, "{name}");
        assert_eq!(headers.number("x-ratelimit-remaining-tokens"), 20, "{name}");
        // The emulator's answer uses more than 20 tokens: the next request is refused.
        let (passed, message) = until_refused(&harness, &key, 3).await;
        assert!(passed <= 1, "{name}: {passed} more passed");
        assert!(message.contains("tokens_per_minute"), "{name}: {message}");
    }
}

#[tokio::test]
async fn concurrency_is_freed_when_a_request_ends_or_its_client_leaves() {
    let (harness, _dir) = harness(
        &[Key {
            name: "solo",
            limits: "concurrent = 1",
        }],
        EmulatorConfig {
            answer_words: 40,
            words_per_event: 1,
            event_gap: Duration::from_millis(25),
            ..EmulatorConfig::default()
        },
    )
    .await;
    let solo = secret("solo");
    for client_leaves in [false, true] {
        let running = request(&harness, &solo, "/v1/chat/completions", &chat(true))
            .send()
            .await
            .unwrap();
        assert_eq!(running.status(), 200);
        let (status, headers, body) =
            call(&harness, &solo, "/v1/chat/completions", &chat(false)).await;
        assert_eq!(status, 429, "{body}");
        assert!(openai_rate_limited(&body).contains("concurrent"));
        assert_eq!(headers.get("retry-after"), Some("1"));
        if client_leaves {
            drop(running);
        } else {
            let events = running.text().await.unwrap();
            assert!(events.ends_with("data: [DONE]\n\n"));
        }
        // The slot frees when the request is over on the adapter's side, a moment later.
        let mut status = 0;
        for _ in 0..40 {
            (status, _, _) = call(&harness, &solo, "/v1/chat/completions", &chat(false)).await;
            if status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status, 200, "client_leaves: {client_leaves}");
    }
}

/// Two adapters sharing a real Redis (as replicas): a key's requests per minute are counted once
/// for both; with Redis gone, `allow` serves unchecked (and counts the failure) while `refuse`
/// answers 503 in the caller's envelope.
#[tokio::test]
async fn replicas_share_limits_through_redis_and_redis_down_follows_the_setting() {
    let mut redis = crate::redis_server::RedisServer::start().await;
    let redis_url = vec!["--redis-url".to_owned(), redis.url.clone()];
    let (harness, dir) = harness_with(
        &[Key {
            name: "shared",
            limits: "requests_per_minute = 4",
        }],
        EmulatorConfig::default(),
        redis_url.clone(),
    )
    .await;
    let second_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        harness._dir.path().join("ca.pem"),
        second_dir.path().join("ca.pem"),
    )
    .unwrap();
    let args = [
        redis_url,
        vec![
            "--keys-file".to_owned(),
            dir.path().join("keys.toml").display().to_string(),
            "--limits-redis-failure".to_owned(),
            "refuse".to_owned(),
        ],
    ]
    .concat();
    let (second, _server) = spawn_adapter(
        &harness.emulator,
        second_dir.path(),
        args,
        Box::new(|_| {}),
        KEY,
    )
    .await;
    let on = |base: &str| {
        harness
            .http
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(secret("shared"))
            .json(&chat(false))
    };
    within_one_minute().await;
    let mut passed = 0;
    for round in 0..8 {
        let base = if round % 2 == 0 {
            &harness.base
        } else {
            &second
        };
        let response = on(base).send().await.unwrap();
        match response.status().as_u16() {
            200 => passed += 1,
            429 => {
                assert_eq!(response.headers()["x-ratelimit-remaining-requests"], "0");
                assert!(response.headers().contains_key("retry-after"));
            }
            other => panic!("status {other}"),
        }
    }
    assert_eq!(passed, 4);

    redis.stop();
    let allowed = on(&harness.base).send().await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(!allowed.headers().contains_key("x-ratelimit-limit-requests"));
    let refused = on(&second).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "limits_unavailable", "{body}");
    assert_eq!(body["error"]["type"], "server_error", "{body}");
    let metrics = harness
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let errors: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("gigachat_adapter_limits_redis_errors_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(errors >= 1, "{metrics}");
}
