//! SSE streaming: framing identical in form to `test_stream_simple.yaml`, HTTP/1.1 and HTTP/2,
//! delays, `update_interval`, disconnects.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use gigachat_emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::common::{self, Env, keys};

fn streaming(content: &str) -> Value {
    json!({"model":"GigaChat","messages":[{"role":"user","content":content}],"stream":true})
}

/// The `data:` payloads of an SSE body, checking the framing on the way.
fn events(body: &str) -> Vec<&str> {
    assert!(body.ends_with("\n\n"));
    body.strip_suffix("\n\n")
        .unwrap()
        .split("\n\n")
        .map(|event| {
            assert!(!event.contains('\n'), "one line per event: {event:?}");
            event.strip_prefix("data: ").unwrap()
        })
        .collect()
}

fn check_framing(body: &str, words: usize) {
    let events = events(body);
    assert_eq!(*events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(chunks.len() >= 2);
    let mut text = String::new();
    for (index, chunk) in chunks.iter().enumerate() {
        let last = index == chunks.len() - 1;
        assert_eq!(
            &serde_json::to_string(chunk).unwrap(),
            events[index],
            "compact JSON"
        );
        if last {
            assert_eq!(
                keys(chunk),
                ["choices", "created", "model", "object", "usage"]
            );
            assert_eq!(
                keys(&chunk["choices"][0]),
                ["delta", "index", "finish_reason"]
            );
            assert_eq!(chunk["choices"][0]["delta"], json!({"content": ""}));
            assert_eq!(chunk["choices"][0]["finish_reason"], "stop");
            assert_eq!(
                keys(&chunk["usage"]),
                [
                    "prompt_tokens",
                    "completion_tokens",
                    "total_tokens",
                    "precached_prompt_tokens"
                ]
            );
        } else {
            assert_eq!(keys(chunk), ["choices", "created", "model", "object"]);
            assert_eq!(keys(&chunk["choices"][0]), ["delta", "index"]);
            let delta = &chunk["choices"][0]["delta"];
            if index == 0 {
                assert_eq!(keys(delta), ["content", "role"]);
                assert_eq!(delta["role"], "assistant");
            } else {
                assert_eq!(keys(delta), ["content"]);
            }
            text.push_str(delta["content"].as_str().unwrap());
        }
        assert_eq!(chunk["object"], "chat.completion");
        assert_eq!(chunk["model"], "GigaChat:2.0.28.2");
        assert!(chunk.get("id").is_none());
    }
    assert_eq!(text.split(' ').count(), words);
}

#[tokio::test]
async fn stream_framing_matches_the_recording_over_http2() {
    let env = Env::start().await;
    let response = env
        .post("/chat/completions", &streaming("Count from 1 to 3"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().get("content-length").is_none());
    assert!(response.headers().get("x-request-id").is_some());
    let body = response.text().await.unwrap();
    check_framing(&body, 24);
    let logged = env.emu.requests().pop().unwrap();
    assert_eq!(logged.stream_events_sent, Some(events(&body).len()));
}

#[tokio::test]
async fn stream_over_http1_is_chunked() {
    let env = Env::start().await;
    let http = common::client(&env.emu, reqwest::Client::builder().http1_only());
    let response = http
        .post(env.url("/chat/completions"))
        .bearer_auth(&env.token)
        .json(&streaming("Count from 1 to 3"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    check_framing(&response.text().await.unwrap(), 24);
    assert_eq!(env.emu.requests().pop().unwrap().http_version, "HTTP/1.1");
}

#[tokio::test]
async fn stream_text_equals_the_non_stream_text() {
    let env = Env::start().await;
    let full: Value = env
        .post("/chat/completions", &common::hello())
        .await
        .json()
        .await
        .unwrap();
    let mut body = common::hello();
    body["stream"] = json!(true);
    let sse = env
        .post("/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    let text: String = events(&sse)
        .iter()
        .filter(|e| **e != "[DONE]")
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(full["choices"][0]["message"]["content"], text);
}

#[tokio::test]
async fn events_are_flushed_one_by_one_with_delays() {
    let env = Env::with(EmulatorConfig {
        first_event_delay: Duration::from_millis(150),
        event_gap: Duration::from_millis(60),
        answer_words: 9,
        ..EmulatorConfig::default()
    })
    .await;
    let started = Instant::now();
    let response = env.post("/chat/completions", &streaming("hi")).await;
    let headers_after = started.elapsed();
    assert!(
        headers_after < Duration::from_millis(140),
        "headers before the first event: {headers_after:?}"
    );
    let mut stream = response.bytes_stream();
    let mut arrivals = Vec::new();
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.next().await {
        buffer.extend_from_slice(&chunk.unwrap());
        arrivals.push(started.elapsed());
    }
    assert!(arrivals[0] >= Duration::from_millis(150));
    // 3 text events + final + [DONE]; at least the gaps between text events are observable.
    assert!(
        arrivals.len() >= 3,
        "events arrive separately: {arrivals:?}"
    );
    check_framing(std::str::from_utf8(&buffer).unwrap(), 9);
}

#[tokio::test]
async fn update_interval_merges_events() {
    let env = Env::with(EmulatorConfig {
        answer_words: 30,
        ..EmulatorConfig::default()
    })
    .await;
    let plain = env
        .post("/chat/completions", &streaming("x"))
        .await
        .text()
        .await
        .unwrap();
    let mut body = streaming("x");
    body["update_interval"] = json!(0.2);
    let merged = env
        .post("/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(events(&plain).len(), 10 + 2);
    assert_eq!(events(&merged).len(), 5 + 2, "6 words per event at 0.2 s");
}

#[tokio::test]
async fn streamed_function_call_arrives_whole() {
    let env = Env::start().await;
    let body = json!({"model":"GigaChat","stream":true,
        "messages":[{"role":"user","content":"weather"}],
        "functions":[{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}],
        "function_call":{"name":"get_weather"}});
    let sse = env
        .post("/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    let events = events(&sse);
    assert_eq!(events.len(), 2);
    let chunk: Value = serde_json::from_str(events[0]).unwrap();
    let delta = &chunk["choices"][0]["delta"];
    assert_eq!(
        keys(delta),
        ["content", "role", "function_call", "functions_state_id"]
    );
    assert!(delta["function_call"]["arguments"]["city"].is_string());
    assert_eq!(chunk["choices"][0]["finish_reason"], "function_call");
    assert!(chunk["usage"].is_object());
}

#[tokio::test]
async fn client_disconnect_stops_the_stream() {
    let env = Env::with(EmulatorConfig {
        answer_words: 400,
        words_per_event: 1,
        event_gap: Duration::from_millis(10),
        ..EmulatorConfig::default()
    })
    .await;
    let response = env.post("/chat/completions", &streaming("long")).await;
    let mut stream = response.bytes_stream();
    let mut received = 0;
    while received < 3 {
        let chunk = stream.next().await.unwrap().unwrap();
        received += chunk.windows(6).filter(|w| w == b"data: ").count();
    }
    drop(stream);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = env
        .emu
        .requests()
        .pop()
        .unwrap()
        .stream_events_sent
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let later = env
        .emu
        .requests()
        .pop()
        .unwrap()
        .stream_events_sent
        .unwrap();
    assert_eq!(sent, later, "generation stopped");
    assert!(sent < 50, "stopped early, sent {sent} of 402");
}

#[tokio::test]
async fn generated_image_tag_is_never_split() {
    let env = Env::with(EmulatorConfig {
        words_per_event: 1,
        ..EmulatorConfig::default()
    })
    .await;
    let body = json!({"model":"GigaChat","stream":true,"function_call":"auto",
        "messages":[{"role":"user","content":"Нарисуй кота"}]});
    let sse = env
        .post("/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    let first: Value = serde_json::from_str(events(&sse)[0]).unwrap();
    let delta = &first["choices"][0]["delta"];
    let content = delta["content"].as_str().unwrap();
    assert!(content.starts_with("<img src=\""), "{content}");
    assert!(content.contains("fuse=\"true\"/>"), "{content}");
    assert!(delta["functions_state_id"].is_string());
}
