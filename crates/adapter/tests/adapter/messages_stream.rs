//! Streamed Anthropic Messages (`POST /v1/messages` with `stream: true`): the event order for
//! text and tool calls (every block started before its deltas and stopped before the next
//! starts), the same stop reason and usage as the whole answer, stop sequences, `ping` while
//! GigaChat is silent, failures before the first byte (an HTTP error in Anthropic's envelope) and
//! after it (an `error` event, then the end), and a client that leaves cancelling GigaChat.

use std::time::Duration;

use futures_util::StreamExt;
use gigachat_emulator::{EmulatorConfig, Fault};
use serde_json::{Value, json};

use crate::common::{Harness, KEY, Options, start, start_with};

/// A Messages request as Anthropic's SDKs send it (`x-api-key`, `anthropic-version`).
fn post(harness: &Harness, body: &Value) -> reqwest::RequestBuilder {
    harness
        .http
        .post(format!("{}/v1/messages?beta=true", harness.base))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body)
}

/// POSTs a streamed Messages request; the status, the content type and the events (each checked:
/// an `event:` line naming the `type` of its `data:` JSON), or the JSON body of an HTTP error.
pub(crate) async fn stream(harness: &Harness, body: &Value) -> (u16, String, Vec<Value>) {
    let response = post(harness, body).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = response.text().await.unwrap();
    if status != 200 {
        return (
            status,
            content_type,
            vec![serde_json::from_str(&text).unwrap()],
        );
    }
    (status, content_type, events_of(&text))
}

/// The events of a whole SSE body.
fn events_of(text: &str) -> Vec<Value> {
    assert!(text.ends_with("\n\n"), "the stream ends cleanly: {text}");
    assert!(!text.contains("[DONE]"), "no [DONE] in an Anthropic stream");
    text.split_terminator("\n\n")
        .map(|frame| {
            let (name, data) = frame
                .strip_prefix("event: ")
                .and_then(|rest| rest.split_once("\ndata: "))
                .unwrap_or_else(|| panic!("not an `event:` + `data:` frame: {frame:?}"));
            let event: Value = serde_json::from_str(data).unwrap();
            assert_eq!(event["type"], name, "{frame}");
            event
        })
        .collect()
}

pub(crate) fn request(text: &str) -> Value {
    json!({
        "model": "GigaChat-2-Max",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": text}],
        "stream": true
    })
}

pub(crate) fn whole(mut body: Value) -> Value {
    body["stream"] = json!(false);
    body
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect()
}

/// `message_start` first; blocks indexed 0, 1, 2, … each started before its deltas (of its own
/// kind) and stopped before the next starts; nothing about blocks after `message_delta`.
/// Returns the blocks as the deltas built them (text, or a tool call's input JSON text).
fn assert_well_formed(events: &[Value]) -> Vec<(Value, String)> {
    assert_eq!(events[0]["type"], "message_start", "{events:?}");
    let message = &events[0]["message"];
    assert!(message["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["content"], json!([]));
    assert!(message["stop_reason"].is_null() && message["stop_sequence"].is_null());
    assert!(message["usage"]["input_tokens"].is_u64(), "{message}");
    let mut blocks: Vec<(Value, String)> = Vec::new();
    let mut open = false;
    let mut delta_seen = false;
    for event in &events[1..] {
        assert_ne!(event["type"], "message_start", "{event}");
        match event["type"].as_str().unwrap() {
            "content_block_start" => {
                assert!(!open && !delta_seen, "{event}");
                assert_eq!(event["index"], blocks.len() as u64, "{event}");
                let block = &event["content_block"];
                match block["type"].as_str().unwrap() {
                    "text" => assert_eq!(block["text"], ""),
                    "thinking" => {
                        assert_eq!(block["thinking"], "");
                        assert_eq!(block["signature"], "");
                    }
                    "tool_use" => {
                        assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
                        assert!(block["name"].is_string());
                        assert_eq!(block["input"], json!({}));
                    }
                    other => panic!("unexpected block {other}"),
                }
                blocks.push((block.clone(), String::new()));
                open = true;
            }
            "content_block_delta" => {
                assert!(open, "{event}");
                assert_eq!(event["index"], blocks.len() as u64 - 1, "{event}");
                let (block, built) = blocks.last_mut().unwrap();
                let delta = &event["delta"];
                match (
                    block["type"].as_str().unwrap(),
                    delta["type"].as_str().unwrap(),
                ) {
                    ("text", "text_delta") => built.push_str(delta["text"].as_str().unwrap()),
                    ("thinking", "thinking_delta") => {
                        assert_eq!(block["signature"], "", "no thinking after the signature");
                        built.push_str(delta["thinking"].as_str().unwrap());
                    }
                    ("thinking", "signature_delta") => {
                        assert_eq!(block["signature"], "", "one signature: {event}");
                        block["signature"] = delta["signature"].clone();
                    }
                    ("tool_use", "input_json_delta") => {
                        built.push_str(delta["partial_json"].as_str().unwrap());
                    }
                    other => panic!("a delta of the wrong kind: {other:?}"),
                }
            }
            "content_block_stop" => {
                assert!(open, "{event}");
                assert_eq!(event["index"], blocks.len() as u64 - 1, "{event}");
                let (block, _) = blocks.last().unwrap();
                if block["type"] == "thinking" {
                    assert_ne!(block["signature"], "", "signed before it stops: {event}");
                }
                open = false;
            }
            "message_delta" => {
                assert!(!open && !delta_seen, "{event}");
                delta_seen = true;
            }
            "ping" | "message_stop" | "error" => {}
            other => panic!("unexpected event {other}"),
        }
    }
    blocks
}

/// The answer a stream builds: its blocks, stop reason and sequence, and usage (as an SDK
/// accumulates `message_start` and `message_delta`).
pub(crate) fn accumulated(events: &[Value]) -> Value {
    let blocks = assert_well_formed(events);
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .expect("a message_delta");
    let content: Vec<Value> = blocks
        .into_iter()
        .map(|(mut block, built)| {
            if block["type"] == "text" {
                block["text"] = json!(built);
            } else if block["type"] == "thinking" {
                block["thinking"] = json!(built);
            } else {
                block["input"] = serde_json::from_str(&built).unwrap();
            }
            block
        })
        .collect();
    let mut message = events[0]["message"].clone();
    message["content"] = json!(content);
    message["stop_reason"] = delta["delta"]["stop_reason"].clone();
    message["stop_sequence"] = delta["delta"]["stop_sequence"].clone();
    for (field, value) in delta["usage"].as_object().unwrap() {
        message["usage"][field] = value.clone();
    }
    message
}

/// An answer without what differs between two answers to the same request: its id, its tool
/// call ids and the cached prompt tokens (GigaChat serves a repeated prompt from its cache).
pub(crate) fn comparable(message: &Value) -> Value {
    let mut message = message.clone();
    message["id"] = Value::Null;
    for block in message["content"].as_array_mut().unwrap() {
        if block["type"] == "tool_use" {
            block["id"] = Value::Null;
        }
    }
    let usage = &mut message["usage"];
    let input = usage["input_tokens"].as_u64().unwrap()
        + usage["cache_read_input_tokens"].as_u64().unwrap();
    usage["input_tokens"] = json!(input);
    usage["cache_read_input_tokens"] = Value::Null;
    message
}

#[tokio::test]
async fn text_streams_as_one_block_and_ends_like_the_whole_answer() {
    let harness = start().await;
    let (status, content_type, events) = stream(&harness, &request("Привет")).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/event-stream");
    let kinds = types(&events);
    assert_eq!(
        kinds[..4],
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta"
        ],
        "{kinds:?}"
    );
    assert_eq!(
        kinds[kinds.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"],
        "{kinds:?}"
    );
    assert!(
        kinds[3..kinds.len() - 3]
            .iter()
            .all(|kind| *kind == "content_block_delta"),
        "{kinds:?}"
    );
    let streamed = accumulated(&events);
    assert_eq!(streamed["content"].as_array().unwrap().len(), 1);
    assert!(!streamed["content"][0]["text"].as_str().unwrap().is_empty());
    assert_eq!(streamed["stop_reason"], "end_turn");
    assert!(streamed["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert!(streamed["usage"]["input_tokens"].as_u64().unwrap() > 0);

    let answer = post(&harness, &whole(request("Привет")))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(comparable(&streamed), comparable(&answer));
}

fn weather_request() -> Value {
    json!({
        "model": "GigaChat-2-Max",
        "max_tokens": 1024,
        "stream": true,
        "messages": [{"role": "user", "content": "Weather in Moscow?"}],
        "tools": [{"name": "get_weather", "description": "The weather in a city.",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                    "required": ["city"]}}],
        "tool_choice": {"type": "tool", "name": "get_weather"}
    })
}

#[tokio::test]
async fn a_tool_call_streams_as_a_tool_use_block_with_its_input_in_pieces() {
    let harness = start().await;
    let (status, _, events) = stream(&harness, &weather_request()).await;
    assert_eq!(status, 200);
    let kinds = types(&events);
    assert_eq!(
        kinds[kinds.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"],
        "{kinds:?}"
    );
    let streamed = accumulated(&events);
    let call = streamed["content"].as_array().unwrap().last().unwrap();
    assert_eq!(call["type"], "tool_use", "{streamed}");
    assert_eq!(call["name"], "get_weather");
    assert!(call["input"]["city"].is_string(), "{call}");
    assert_eq!(streamed["stop_reason"], "tool_use");

    let answer = post(&harness, &whole(weather_request()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(comparable(&streamed), comparable(&answer));
}

#[tokio::test]
async fn a_stop_sequence_ends_the_stream_names_itself_and_cancels_gigachat() {
    let harness = start_with(Options {
        emulator: EmulatorConfig {
            answer_words: 60,
            words_per_event: 2,
            event_gap: Duration::from_millis(15),
            ..EmulatorConfig::default()
        },
        ..Options::default()
    })
    .await;
    let (_, _, events) = stream(&harness, &request("stop me")).await;
    let full = accumulated(&events)["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let words: Vec<&str> = full.split(' ').collect();
    let stop = format!("{} {}", words[8], words[9]);
    let expected = &full[..full.find(&stop).unwrap()];

    let mut body = request("stop me");
    body["stop_sequences"] = json!(["never in the answer", stop]);
    let (status, _, events) = stream(&harness, &body).await;
    assert_eq!(status, 200);
    let streamed = accumulated(&events);
    assert_eq!(streamed["content"][0]["text"], expected);
    assert_eq!(streamed["stop_reason"], "stop_sequence");
    assert_eq!(streamed["stop_sequence"], stop.as_str());
    assert_eq!(events.last().unwrap()["type"], "message_stop");
    // 30 events 15 ms apart: uncancelled, all would be out by the time this looks.
    let total = harness.upstream("/chat/completions")[0]
        .stream_events_sent
        .unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    let sent = harness.upstream("/chat/completions")[1]
        .stream_events_sent
        .unwrap();
    assert!(sent < total, "upstream sent {sent} of {total} events");
}

#[tokio::test]
async fn ping_keeps_a_silent_stream_alive() {
    let harness = start_with(Options {
        emulator: EmulatorConfig {
            answer_words: 6,
            words_per_event: 2,
            event_gap: Duration::from_millis(700),
            ..EmulatorConfig::default()
        },
        args: vec!["--stream-ping-ms".into(), "200".into()],
        ..Options::default()
    })
    .await;
    let (status, _, events) = stream(&harness, &request("think")).await;
    assert_eq!(status, 200);
    assert_well_formed(&events);
    let kinds = types(&events);
    // Between two text deltas 700 ms apart, a ping every 200 ms of silence.
    let first_delta = kinds
        .iter()
        .position(|k| *k == "content_block_delta")
        .unwrap();
    let next_delta = first_delta
        + 1
        + kinds[first_delta + 1..]
            .iter()
            .position(|k| *k == "content_block_delta")
            .unwrap();
    let pings = kinds[first_delta..next_delta]
        .iter()
        .filter(|k| **k == "ping")
        .count();
    assert!((2..=4).contains(&pings), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"message_stop"));
}

#[tokio::test]
async fn no_ping_while_gigachat_keeps_talking() {
    let harness = start_with(Options {
        emulator: EmulatorConfig {
            answer_words: 40,
            words_per_event: 2,
            event_gap: Duration::from_millis(20),
            ..EmulatorConfig::default()
        },
        args: vec!["--stream-ping-ms".into(), "1000".into()],
        ..Options::default()
    })
    .await;
    let (status, _, events) = stream(&harness, &request("chatty")).await;
    assert_eq!(status, 200);
    let pings = types(&events).iter().filter(|k| **k == "ping").count();
    assert_eq!(pings, 1, "only the opening ping: {:?}", types(&events));
}

#[tokio::test]
async fn a_failure_after_the_first_byte_is_an_error_event_then_the_end() {
    let harness = start_with(Options {
        emulator: EmulatorConfig {
            answer_words: 60,
            event_gap: Duration::from_millis(20),
            ..EmulatorConfig::default()
        },
        ..Options::default()
    })
    .await;
    harness.emulator.faults().push(Fault::CutStreamAfter {
        events: 3,
        times: 1,
    });
    let (status, _, events) = stream(&harness, &request("x")).await;
    assert_eq!(status, 200);
    assert_well_formed(&events);
    assert!(
        events.iter().any(|e| e["type"] == "content_block_delta"),
        "the failure came after text was sent"
    );
    let (last, before) = events.split_last().unwrap();
    assert_eq!(last["type"], "error", "{last}");
    assert_eq!(last["error"]["type"], "api_error", "{last}");
    assert!(
        last["error"]["message"].as_str().unwrap().len() > 10,
        "{last}"
    );
    assert!(
        before
            .iter()
            .all(|e| !["message_delta", "message_stop", "error"]
                .contains(&e["type"].as_str().unwrap())),
        "{before:?}"
    );
    assert_eq!(
        harness.upstream("/chat/completions").len(),
        1,
        "never replayed"
    );
}

#[tokio::test]
async fn a_failure_before_the_first_byte_is_an_http_error_in_anthropics_envelope() {
    let harness = start().await;
    harness.emulator.faults().push(Fault::Status {
        status: 429,
        retry_after: Some(Duration::from_secs(3)),
        times: 1,
    });
    let response = post(&harness, &request("x")).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_upstream_stream() {
    let harness = start_with(Options {
        emulator: EmulatorConfig {
            answer_words: 200,
            words_per_event: 2,
            event_gap: Duration::from_millis(10),
            ..EmulatorConfig::default()
        },
        ..Options::default()
    })
    .await;
    let response = post(&harness, &request("long")).send().await.unwrap();
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    body.next().await.unwrap().unwrap();
    drop(body);
    // 100 events 10 ms apart: uncancelled, all of them would be out two seconds later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = harness.upstream("/chat/completions")[0]
        .stream_events_sent
        .unwrap();
    assert!(
        sent < 50,
        "upstream kept streaming after the client left: {sent} events"
    );
}
