use std::collections::HashMap;

use openai::chat::{ChunkChoice, Delta, FunctionCallChunk, ToolCallChunk};
use serde_json::{Value, json};

use super::*;
use crate::ChatDefaults;
use crate::ResponseIds;
use crate::responses::request::{ResponsesPlan, responses_request};

const MODEL: &str = "GigaChat-2-Max:2.0.28.2";
const COMPLETED_AT: i64 = 1_700_000_100;

fn plan() -> ResponsesPlan {
    let request = serde_json::from_value(json!({
        "model": "GigaChat-2-Max",
        "input": "hi",
        "tools": [
            {"type": "function", "name": "exec_command", "strict": false,
             "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
            {"type": "custom", "name": "apply_patch", "description": "Edits files."}
        ]
    }))
    .unwrap();
    let ids = ResponseIds {
        id: "resp_abc".into(),
        created: 1_700_000_000,
    };
    responses_request(&request, &[], &ChatDefaults::default(), &ids).unwrap()
}

fn chunk(delta: Delta, finish: Option<&str>) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: "resp_abc".into(),
        object: "chat.completion.chunk".into(),
        created: 1_700_000_000,
        model: MODEL.into(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason: finish.map(str::to_owned),
        }],
        usage: None,
    }
}

/// The chat stream's opening chunk: role and empty content.
fn opening() -> ChatCompletionChunk {
    chunk(
        Delta {
            role: Some("assistant".into()),
            content: Some(String::new()),
            ..Delta::default()
        },
        None,
    )
}

fn text(piece: &str) -> ChatCompletionChunk {
    chunk(
        Delta {
            content: Some(piece.into()),
            ..Delta::default()
        },
        None,
    )
}

fn finish(reason: &str) -> ChatCompletionChunk {
    chunk(Delta::default(), Some(reason))
}

/// A tool call as the chat stream sends it: id, type and name first, then the arguments.
fn call(id: &str, name: &str, arguments: &str) -> [ChatCompletionChunk; 2] {
    let fragment = |id: Option<&str>, name: Option<&str>, arguments: &str| {
        chunk(
            Delta {
                tool_calls: Some(vec![ToolCallChunk {
                    index: 0,
                    id: id.map(str::to_owned),
                    kind: id.map(|_| "function".to_owned()),
                    function: FunctionCallChunk {
                        name: name.map(str::to_owned),
                        arguments: Some(arguments.to_owned()),
                    },
                }]),
                ..Delta::default()
            },
            None,
        )
    };
    [
        fragment(Some(id), Some(name), ""),
        fragment(None, None, arguments),
    ]
}

fn usage() -> Usage {
    Usage {
        prompt_tokens: 12,
        completion_tokens: 5,
        total_tokens: 17,
        prompt_tokens_details: None,
        completion_tokens_details: None,
    }
}

/// Runs `chunks` through a converter and finishes the stream normally; the events as JSON.
fn stream(chunks: &[ChatCompletionChunk]) -> Vec<Value> {
    let mut converter = ResponseEvents::new(plan().answer);
    let mut events = Vec::new();
    converter.start(MODEL, &mut events);
    for chunk in chunks {
        push(&mut converter, chunk, &mut events);
    }
    converter.finish(Some(usage()), COMPLETED_AT, &mut events);
    let ended = events.len();
    converter.push(&text("more"), &mut events);
    converter.finish(Some(usage()), COMPLETED_AT, &mut events);
    assert_eq!(events.len(), ended, "nothing after the terminal event");
    as_json(&events)
}

/// Pushes `chunk` as the adapter does: more text for the open message through `push_text` (its
/// event made here from the place given); whether it went that way.
fn push(
    converter: &mut ResponseEvents,
    chunk: &ChatCompletionChunk,
    events: &mut Vec<StreamEvent>,
) -> bool {
    let Some((text, place)) = converter.push_text(chunk) else {
        converter.push(chunk, events);
        return false;
    };
    events.push(place.event(text));
    true
}

#[test]
fn text_pushed_alone_gives_the_events_push_gives() {
    let [call_opens, call_arguments] = call("call_1", "exec_command", "{}");
    let chunks = [
        reasoning("think"),
        text("a"),
        text("b"),
        reasoning("late"),
        call_opens,
        call_arguments,
        opening(),
        text("c"),
        text("d"),
        chunk(
            Delta {
                content: Some("e".into()),
                ..Delta::default()
            },
            Some("stop"),
        ),
        text("after the end"),
    ];
    let (mut pushed, mut alone) = (
        ResponseEvents::new(plan().answer),
        ResponseEvents::new(plan().answer),
    );
    let (mut pushed_events, mut alone_events) = (Vec::new(), Vec::new());
    pushed.start(MODEL, &mut pushed_events);
    alone.start(MODEL, &mut alone_events);
    let mut taken = Vec::new();
    for chunk in &chunks {
        pushed.push(chunk, &mut pushed_events);
        taken.push(push(&mut alone, chunk, &mut alone_events));
    }
    pushed.finish(Some(usage()), COMPLETED_AT, &mut pushed_events);
    alone.finish(Some(usage()), COMPLETED_AT, &mut alone_events);
    assert_eq!(as_json(&alone_events), as_json(&pushed_events));
    // Only more text for a message already open: "b" and "d" ("a" and "c" open one).
    assert_eq!(
        taken,
        [
            false, false, true, false, false, false, false, false, true, false, false
        ]
    );
}

fn as_json(events: &[StreamEvent]) -> Vec<Value> {
    events
        .iter()
        .map(|event| serde_json::to_value(event).unwrap())
        .collect()
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect()
}

/// The rules every stream keeps: numbered 0, 1, 2, … in order; created and in_progress first;
/// every item announced (with the next output_index) before any event about it and closed once;
/// one terminal event, last, whose output is the items as `output_item.done` sent them.
fn check_invariants(events: &[Value]) {
    for (expected, event) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], expected as u64, "{event}");
    }
    assert_eq!(
        types(events)[..2],
        ["response.created", "response.in_progress"]
    );
    for event in &events[..2] {
        assert_eq!(event["response"]["status"], "in_progress");
        assert_eq!(event["response"]["output"], json!([]));
        assert!(event["response"].get("usage").is_none(), "{event}");
        assert_eq!(event["response"]["model"], MODEL);
    }
    let (last, body) = events[2..].split_last().unwrap();
    let terminal = [
        "response.completed",
        "response.incomplete",
        "response.failed",
    ];
    assert!(terminal.contains(&last["type"].as_str().unwrap()), "{last}");
    let mut active: HashMap<String, u64> = HashMap::new();
    let mut announced = 0;
    let mut finished = Vec::new();
    for event in body {
        let kind = event["type"].as_str().unwrap();
        assert!(
            !terminal.contains(&kind),
            "terminal event before the end: {event}"
        );
        match kind {
            "response.output_item.added" => {
                assert_eq!(event["output_index"], announced, "{event}");
                announced += 1;
                let id = event["item"]["id"].as_str().unwrap().to_owned();
                assert!(active.is_empty(), "two items open at once: {event}");
                active.insert(id, event["output_index"].as_u64().unwrap());
            }
            "response.output_item.done" => {
                let id = event["item"]["id"].as_str().unwrap();
                assert_eq!(active.remove(id), event["output_index"].as_u64(), "{event}");
                finished.push(event["item"].clone());
            }
            _ => {
                let id = event["item_id"].as_str().unwrap();
                assert_eq!(
                    active.get(id).copied(),
                    event["output_index"].as_u64(),
                    "an event without an active item: {event}"
                );
            }
        }
    }
    if last["type"] != "response.failed" {
        assert!(active.is_empty(), "items left open: {active:?}");
        assert_eq!(last["response"]["output"], Value::Array(finished));
    }
}

#[test]
fn text_is_one_message_with_deltas_then_completed_with_usage() {
    let events = stream(&[opening(), text("Hel"), text("lo"), finish("stop")]);
    check_invariants(&events);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(events[2]["item"]["status"], "in_progress");
    assert_eq!(events[2]["item"]["content"], json!([]));
    assert_eq!(
        events[3]["part"],
        json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []})
    );
    assert_eq!(events[4]["delta"], "Hel");
    assert_eq!(events[4]["logprobs"], json!([]));
    assert_eq!(events[6]["text"], "Hello");
    assert_eq!(events[6]["logprobs"], json!([]));
    assert_eq!(events[7]["part"]["text"], "Hello");
    assert_eq!(events[8]["item"]["status"], "completed");
    let response = &events[9]["response"];
    assert_eq!(response["status"], "completed");
    assert_eq!(response["completed_at"], COMPLETED_AT);
    assert_eq!(response["usage"]["input_tokens"], 12);
    assert_eq!(response["usage"]["output_tokens"], 5);
    assert_eq!(
        response["usage"]["input_tokens_details"]["cache_write_tokens"],
        0
    );
    assert_eq!(response["output"][0]["id"], "msg_abc");
}

#[test]
fn a_function_call_is_an_item_with_argument_deltas_and_done_with_its_name() {
    let mut chunks = vec![opening()];
    chunks.extend(call("call_1", "exec_command", r#"{"cmd":"ls"}"#));
    chunks.push(finish("tool_calls"));
    let events = stream(&chunks);
    check_invariants(&events);
    assert_eq!(
        types(&events)[2..],
        [
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        events[2]["item"],
        json!({"type": "function_call", "id": "fc_abc0", "call_id": "call_1",
               "name": "exec_command", "arguments": "", "status": "in_progress"})
    );
    assert_eq!(events[3]["delta"], r#"{"cmd":"ls"}"#);
    assert_eq!(events[4]["name"], "exec_command");
    assert_eq!(events[4]["arguments"], r#"{"cmd":"ls"}"#);
    assert_eq!(events[5]["item"]["arguments"], r#"{"cmd":"ls"}"#);
    assert_eq!(events[5]["item"]["status"], "completed");
}

#[test]
fn two_calls_are_two_items_with_increasing_indexes() {
    let mut chunks = vec![opening(), text("Running both.")];
    chunks.extend(call("call_1", "exec_command", r#"{"cmd":"ls"}"#));
    chunks.extend(call("call_2", "exec_command", r#"{"cmd":"pwd"}"#));
    chunks.push(finish("tool_calls"));
    let events = stream(&chunks);
    check_invariants(&events);
    let added: Vec<(&Value, &Value)> = events
        .iter()
        .filter(|e| e["type"] == "response.output_item.added")
        .map(|e| (&e["output_index"], &e["item"]["id"]))
        .collect();
    assert_eq!(
        added,
        [
            (&json!(0), &json!("msg_abc")),
            (&json!(1), &json!("fc_abc0")),
            (&json!(2), &json!("fc_abc1"))
        ]
    );
    let output = &events.last().unwrap()["response"]["output"];
    assert_eq!(output[2]["call_id"], "call_2");
    assert_eq!(output[2]["arguments"], r#"{"cmd":"pwd"}"#);
}

#[test]
fn a_custom_tool_call_carries_the_input_out_of_its_arguments() {
    let mut chunks = vec![opening()];
    let patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n";
    let arguments = json!({"input": patch}).to_string();
    chunks.extend(call("call_p", "apply_patch", &arguments));
    chunks.push(finish("tool_calls"));
    let events = stream(&chunks);
    check_invariants(&events);
    assert_eq!(
        types(&events)[2..],
        [
            "response.output_item.added",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        events[2]["item"],
        json!({"type": "custom_tool_call", "id": "ctc_abc0", "call_id": "call_p",
               "name": "apply_patch", "input": ""})
    );
    assert_eq!(events[3]["delta"], patch);
    assert_eq!(events[4]["input"], patch);
    assert_eq!(events[5]["item"]["input"], patch);
    assert!(events[5]["item"].get("status").is_none());
}

#[test]
fn a_length_end_is_incomplete_with_the_reason() {
    let events = stream(&[opening(), text("Once upon"), finish("length")]);
    check_invariants(&events);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(last["response"]["output"][0]["status"], "incomplete");
    assert!(last["response"]["usage"].is_object());
}

#[test]
fn an_empty_answer_is_still_one_empty_message() {
    let events = stream(&[opening(), finish("stop")]);
    check_invariants(&events);
    assert_eq!(
        types(&events)[2..],
        [
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(events[4]["text"], "");
}

#[test]
fn a_failure_mid_stream_is_response_failed_then_nothing() {
    for (retryable, code) in [(true, "server_error"), (false, "invalid_prompt")] {
        let mut converter = ResponseEvents::new(plan().answer);
        let mut events = Vec::new();
        converter.start(MODEL, &mut events);
        converter.push(&opening(), &mut events);
        converter.push(&text("Hel"), &mut events);
        converter.fail(retryable, "GigaChat failed.".into(), &mut events);
        let ended = events.len();
        converter.push(&text("lo"), &mut events);
        converter.finish(Some(usage()), COMPLETED_AT, &mut events);
        converter.fail(true, "again".into(), &mut events);
        assert_eq!(events.len(), ended, "nothing after the terminal event");
        let events = as_json(&events);
        check_invariants(&events);
        let last = events.last().unwrap();
        assert_eq!(last["type"], "response.failed");
        assert_eq!(last["response"]["status"], "failed");
        assert_eq!(
            last["response"]["error"],
            json!({"code": code, "message": "GigaChat failed."})
        );
        assert!(last["response"].get("usage").is_none());
    }
}

/// The Response that completes the stream is the one the non-streamed path maps the same answer
/// to.
#[test]
fn the_completed_response_is_the_non_streamed_mapping_of_the_same_answer() {
    let mut chunks = vec![opening(), text("Let me look.")];
    chunks.extend(call("call_1", "exec_command", r#"{"cmd":"ls"}"#));
    chunks.extend(call(
        "call_p",
        "apply_patch",
        r#"{"input":"*** Begin Patch\n"}"#,
    ));
    chunks.push(finish("tool_calls"));
    let events = stream(&chunks);
    check_invariants(&events);
    let answer: ChatCompletion = serde_json::from_value(json!({
        "id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null, "message": {
            "role": "assistant", "content": "Let me look.", "refusal": null,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}},
                {"id": "call_p", "type": "function", "function": {"name": "apply_patch", "arguments": "{\"input\":\"*** Begin Patch\\n\"}"}}
            ]}}],
        "usage": usage(),
    }))
    .unwrap();
    let whole = responses_response(&answer, &plan().answer, COMPLETED_AT);
    let expected = serde_json::to_value(whole).unwrap();
    assert_eq!(events.last().unwrap()["response"], expected);
}

fn reasoning(piece: &str) -> ChatCompletionChunk {
    chunk(
        Delta {
            reasoning_content: Some(piece.into()),
            ..Delta::default()
        },
        None,
    )
}

#[test]
fn reasoning_is_a_reasoning_item_with_one_summary_part_before_the_message() {
    let events = stream(&[
        opening(),
        reasoning("Think"),
        reasoning("ing."),
        text("Hi"),
        // Reasoning after the answer started is left out: the stream and the Response agree.
        reasoning("Late."),
        finish("stop"),
    ]);
    check_invariants(&events);
    assert_eq!(
        types(&events)[2..10],
        [
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
        ]
    );
    assert_eq!(
        events[2]["item"],
        json!({"type": "reasoning", "id": "rs_abc", "summary": [], "status": "in_progress"})
    );
    assert_eq!(
        events[3]["part"],
        json!({"type": "summary_text", "text": ""})
    );
    assert_eq!(events[6]["text"], "Thinking.");
    let item = json!({"type": "reasoning", "id": "rs_abc",
        "summary": [{"type": "summary_text", "text": "Thinking."}], "status": "completed"});
    assert_eq!(events[8]["item"], item);
    let completed = &events.last().unwrap()["response"];
    assert_eq!(completed["output"][0], item);
    assert_eq!(completed["output"][1]["content"][0]["text"], "Hi");
    assert!(!events.iter().any(|e| e["delta"] == "Late."));
}

#[test]
fn reasoning_alone_still_ends_with_an_empty_message() {
    let events = stream(&[opening(), reasoning("Hm."), finish("stop")]);
    check_invariants(&events);
    let output = &events.last().unwrap()["response"]["output"];
    assert_eq!(output[0]["type"], "reasoning");
    assert_eq!(output[1]["type"], "message");
    assert_eq!(output[1]["content"][0]["text"], "");
}
