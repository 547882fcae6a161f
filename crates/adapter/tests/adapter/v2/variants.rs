//! v2 only: what the adapter answers does not depend on the form of GigaChat's v2 stream (named or
//! unnamed events, a trailing `[DONE]`, `created_at` as a string, call arguments whole or in
//! fragments keyed by id), and v2 reasoning reaches chat as `reasoning_content`.

use gigachat_emulator::EmulatorConfig;
use serde_json::{Value, json};

use super::common::{Harness, Options, start_with};

/// An adapter whose emulator streams in every variant at once (`variants`) or as recorded.
async fn harness(variants: bool) -> Harness {
    start_with(Options {
        emulator: EmulatorConfig {
            v2_stream_unnamed_events: variants,
            v2_stream_done_marker: variants,
            v2_created_at_string: variants,
            v2_call_argument_fragments: variants,
            ..EmulatorConfig::default()
        },
        ..Options::default()
    })
    .await
}

/// The JSON chunks of a streamed chat answer (the final `[DONE]` checked and left out).
async fn chunks(harness: &Harness, mut request: Value) -> Vec<Value> {
    request["stream"] = json!(true);
    let (status, events) = harness.stream(request).await;
    assert_eq!(status, 200, "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    events[..events.len() - 1]
        .iter()
        .map(|event| serde_json::from_str(event).unwrap())
        .collect()
}

/// What a client makes of a stream: text, reasoning, each tool call's name and arguments, finishes.
fn read(chunks: &[Value]) -> (String, String, Vec<(String, Value)>, Vec<String>) {
    let (mut text, mut reasoning, mut calls, mut finishes) =
        (String::new(), String::new(), Vec::new(), Vec::new());
    let mut arguments = String::new();
    for choice in chunks.iter().flat_map(|c| c["choices"].as_array().unwrap()) {
        let delta = &choice["delta"];
        text.push_str(delta["content"].as_str().unwrap_or(""));
        reasoning.push_str(delta["reasoning_content"].as_str().unwrap_or(""));
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            if let Some(name) = call["function"]["name"].as_str() {
                calls.push((name.to_owned(), Value::Null));
                arguments.clear();
            }
            arguments.push_str(call["function"]["arguments"].as_str().unwrap_or(""));
            if let Some(last) = calls.last_mut()
                && let Ok(parsed) = serde_json::from_str(&arguments)
            {
                last.1 = parsed;
            }
        }
        if let Some(finish) = choice["finish_reason"].as_str() {
            finishes.push(finish.to_owned());
        }
    }
    (text, reasoning, calls, finishes)
}

/// A request the emulator answers with a call of `get_weather` for Omsk.
fn calling() -> Value {
    json!({"messages": [{"role": "user", "content": r#"call:get_weather args:{"city":"Omsk"}"#}],
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]})
}

#[tokio::test]
async fn every_stream_form_reads_the_same() {
    let text = json!({"messages": [{"role": "user", "content": "Tell me about Omsk"}]});
    let recorded = harness(false).await;
    let varied = harness(true).await;
    for request in [calling(), text] {
        let (expected, got) = (
            read(&chunks(&recorded, request.clone()).await),
            read(&chunks(&varied, request.clone()).await),
        );
        assert_eq!(got, expected, "{request}");
        assert_eq!(got.3.len(), 1, "one finish: {got:?}");
    }
    let (_, _, calls, finishes) = read(&chunks(&varied, calling()).await);
    assert_eq!(calls, [("get_weather".to_owned(), json!({"city": "Omsk"}))]);
    assert_eq!(finishes, ["tool_calls"]);
}

#[tokio::test]
async fn v2_reasoning_reaches_chat_as_reasoning_content() {
    let harness = harness(false).await;
    let request = json!({"messages": [{"role": "user", "content": "Why is the sky blue?"}],
        "reasoning_effort": "high"});
    let (status, _, body) = harness.chat(request.clone()).await;
    assert_eq!(status, 200, "{body}");
    let message = &body["choices"][0]["message"];
    assert!(
        message["reasoning_content"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    assert!(
        message["content"].as_str().is_some_and(|c| !c.is_empty()),
        "{body}"
    );
    let sent = &harness.upstream_chat_bodies()[0];
    assert_eq!(
        sent["reasoning_effort"], "high",
        "sent as model_options.reasoning.effort"
    );
    let (text, reasoning, _, finishes) = read(&chunks(&harness, request).await);
    assert_eq!(reasoning, message["reasoning_content"].as_str().unwrap());
    assert_eq!(text, message["content"].as_str().unwrap());
    assert_eq!(finishes, ["stop"]);
}
