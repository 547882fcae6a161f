//! Per-key limits from `KEYS_FILE`, counted in process (no `REDIS_URL`): N requests then 429
//! with `retry-after` and the `x-ratelimit-*` headers in each envelope, token limits closing after
//! the usage GigaChat reported (whole answers and streams, chat, Responses and Messages),
//! concurrency freed when a request ends or its client goes away, unlimited keys untouched.

use std::time::Duration;

use gigachat_emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::common::{Harness, KEY, Options, start_with};

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
        args: vec!["--keys-file".to_owned(), path.display().to_string()],
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
    let (harness, _dir) = harness(
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
        assert!(reset.ends_with('s') && !reset.contains('m'), "{reset}");
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
