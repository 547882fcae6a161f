//! Streamed Responses (`POST /v1/responses` with `stream: true`): event order for text and tool
//! calls, numbering, every event valid against the spec's `ResponseStreamEvent`, the completed
//! Response equal to the non-streamed one, and failures before and after the first byte.

use std::time::Duration;

use async_openai::types::responses::ResponseStreamEvent;
use futures_util::StreamExt;
use gigachat_emulator::{EmulatorConfig, Fault};
use serde_json::{Value, json};

use crate::common::{Harness, Options, assert_error, start, start_with};
use crate::openai_spec::spec;

/// POSTs a streamed Responses request; the status, the content type and the events (each
/// checked: `event:` names its `type`, valid against the spec and readable by async-openai).
pub(crate) async fn stream(harness: &Harness, body: Value) -> (u16, String, Vec<Value>) {
    let response = harness.post("/v1/responses", body).send().await.unwrap();
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
    assert!(text.ends_with("\n\n"), "the stream ends cleanly: {text}");
    assert!(!text.contains("[DONE]"), "no [DONE] in a Responses stream");
    let events = text
        .split_terminator("\n\n")
        .map(|frame| {
            let (name, data) = frame
                .strip_prefix("event: ")
                .and_then(|rest| rest.split_once("\ndata: "))
                .unwrap_or_else(|| panic!("not an `event:` + `data:` frame: {frame:?}"));
            let event: Value = serde_json::from_str(data).unwrap();
            assert_eq!(event["type"], name, "{frame}");
            spec().assert_stream_event(&event);
            let _: ResponseStreamEvent = serde_json::from_value(event.clone())
                .unwrap_or_else(|err| panic!("async-openai cannot read {event}: {err}"));
            event
        })
        .collect();
    (status, content_type, events)
}

fn request(input: &str) -> Value {
    json!({"model": "GigaChat-2-Max", "input": input, "stream": true})
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect()
}

/// Numbered 0, 1, 2, … and every event about an item comes while that item is open.
pub(crate) fn assert_numbered_with_active_items(events: &[Value]) {
    let mut open: Option<(String, u64)> = None;
    for (expected, event) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], expected as u64, "{event}");
        match event["type"].as_str().unwrap() {
            "response.output_item.added" => {
                assert!(open.is_none(), "{event}");
                open = Some((
                    event["item"]["id"].as_str().unwrap().to_owned(),
                    event["output_index"].as_u64().unwrap(),
                ));
            }
            "response.output_item.done" => {
                let (id, index) = open.take().expect("an item was open");
                assert_eq!(event["item"]["id"], id.as_str());
                assert_eq!(event["output_index"], index);
            }
            _ if event.get("item_id").is_some() => {
                let (id, index) = open.as_ref().expect("an item is open");
                assert_eq!(event["item_id"], id.as_str(), "{event}");
                assert_eq!(event["output_index"], *index, "{event}");
            }
            _ => {}
        }
    }
}

/// `response` without what differs between two answers to the same request: ids, times, and the
/// cached prompt tokens (GigaChat serves the second of two equal prompts from its cache).
pub(crate) fn comparable(response: &Value) -> Value {
    let mut response = response.clone();
    let id = response["id"].as_str().unwrap().to_owned();
    let suffix = id.strip_prefix("resp_").unwrap().to_owned();
    for field in ["id", "created_at", "completed_at"] {
        response[field] = Value::Null;
    }
    response["usage"]["input_tokens_details"]["cached_tokens"] = Value::Null;
    let text = response.to_string().replace(&suffix, "<id>");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn text_streams_as_one_message_and_completes_like_the_whole_answer() {
    let harness = start().await;
    let (status, content_type, events) = stream(&harness, request("Привет")).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/event-stream");
    assert_numbered_with_active_items(&events);
    let kinds = types(&events);
    assert_eq!(
        kinds[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(
        kinds[kinds.len() - 4..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let deltas: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .collect();
    assert_eq!(deltas.len(), kinds.len() - 8, "{kinds:?}");
    let text: String = deltas
        .iter()
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert!(!text.is_empty());
    let completed = &events.last().unwrap()["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["output"][0]["content"][0]["text"], text.as_str());
    assert!(completed["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(completed["id"], events[0]["response"]["id"]);

    let mut whole = request("Привет");
    whole["stream"] = json!(false);
    let answer = harness.post("/v1/responses", whole).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(comparable(completed), comparable(&answer));
}

#[tokio::test]
async fn a_function_call_streams_as_an_item_with_its_arguments() {
    let harness = start().await;
    let body = json!({
        "model": "GigaChat-2-Max",
        "input": "Weather in Moscow?",
        "stream": true,
        "tools": [{"type": "function", "name": "get_weather", "strict": false,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}}],
        "tool_choice": {"type": "function", "name": "get_weather"}
    });
    let (status, _, events) = stream(&harness, body).await;
    assert_eq!(status, 200);
    assert_numbered_with_active_items(&events);
    let kinds = types(&events);
    let first_call = kinds
        .iter()
        .position(|kind| *kind == "response.function_call_arguments.delta")
        .expect("argument deltas");
    assert_eq!(
        kinds[first_call - 1],
        "response.output_item.added",
        "{kinds:?}"
    );
    assert_eq!(
        kinds[kinds.len() - 3..],
        [
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let added = &events[first_call - 1]["item"];
    assert_eq!(added["type"], "function_call");
    assert_eq!(added["arguments"], "");
    assert_eq!(added["status"], "in_progress");
    let done = &events[events.len() - 3];
    assert_eq!(done["name"], "get_weather");
    let arguments: Value = serde_json::from_str(done["arguments"].as_str().unwrap()).unwrap();
    assert!(arguments["city"].is_string(), "{arguments}");
    let completed = &events.last().unwrap()["response"];
    let call = completed["output"].as_array().unwrap().last().unwrap();
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["arguments"], done["arguments"]);
    assert_eq!(call["call_id"], added["call_id"]);
}

#[tokio::test]
async fn a_failure_after_the_first_byte_is_response_failed_then_the_end() {
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
    let (status, _, events) = stream(&harness, request("x")).await;
    assert_eq!(status, 200);
    assert_numbered_with_active_items(&events);
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "response.output_text.delta"),
        "the failure came after text was sent"
    );
    let (last, before) = events.split_last().unwrap();
    assert_eq!(last["type"], "response.failed", "{last}");
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(last["response"]["error"]["code"], "server_error");
    assert!(last["response"]["error"]["message"].is_string());
    assert!(before.iter().all(|e| {
        !["response.completed", "response.failed", "error"].contains(&e["type"].as_str().unwrap())
    }));
    assert_eq!(
        harness.upstream("/chat/completions").len(),
        1,
        "never replayed"
    );
}

#[tokio::test]
async fn a_failure_before_the_first_byte_is_an_http_error() {
    let harness = start().await;
    harness.emulator.faults().push(Fault::Status {
        status: 503,
        retry_after: None,
        times: 1,
    });
    let (status, content_type, body) = stream(&harness, request("x")).await;
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_error(status, &body[0], 502, None);
}

#[tokio::test]
async fn a_custom_tool_call_streams_its_input_not_its_arguments() {
    let harness = start().await;
    let body = json!({
        "model": "GigaChat-2-Max",
        "input": "Add a file hello.txt",
        "stream": true,
        "tools": [{"type": "custom", "name": "apply_patch", "description": "Edit files with a patch.",
                   "format": {"type": "grammar", "syntax": "lark",
                              "definition": "start: \"*** Begin Patch\" LF"}}],
        "tool_choice": {"type": "custom", "name": "apply_patch"}
    });
    let (status, _, events) = stream(&harness, body).await;
    assert_eq!(status, 200);
    assert_numbered_with_active_items(&events);
    let kinds = types(&events);
    assert!(
        !kinds
            .iter()
            .any(|kind| kind.starts_with("response.function_call_arguments")),
        "{kinds:?}"
    );
    let done = events
        .iter()
        .find(|e| e["type"] == "response.custom_tool_call_input.done")
        .unwrap_or_else(|| panic!("no custom input: {kinds:?}"));
    let input = done["input"].as_str().unwrap();
    let deltas: String = events
        .iter()
        .filter(|e| e["type"] == "response.custom_tool_call_input.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, input);
    let call = &events.last().unwrap()["response"]["output"][0];
    assert_eq!(call["type"], "custom_tool_call");
    assert_eq!(call["name"], "apply_patch");
    assert_eq!(call["input"], input);
    assert!(call.get("arguments").is_none() && call.get("status").is_none());
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
    let response = harness
        .post("/v1/responses", request("long"))
        .send()
        .await
        .unwrap();
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
