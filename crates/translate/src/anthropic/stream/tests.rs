use openai::chat::{
    ChatCompletion, Choice, ChunkChoice, Delta, FunctionCall, FunctionCallChunk,
    PromptTokensDetails, ResponseMessage, ToolCall, ToolCallChunk,
};
use serde_json::{Value, json};

use super::*;
use crate::anthropic::{messages_request, messages_response};

const MODEL: &str = "GigaChat-2-Max:2.0.28.2";

fn chunk(delta: Delta, finish: Option<&str>) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: "msg_1".into(),
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
                        arguments: Some(arguments.into()),
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

/// 19 prompt tokens of which 4 came from GigaChat's cache, 7 generated.
fn usage() -> ChatUsage {
    ChatUsage {
        prompt_tokens: 19,
        completion_tokens: 7,
        total_tokens: 26,
        prompt_tokens_details: Some(PromptTokensDetails { cached_tokens: 4 }),
        completion_tokens_details: None,
    }
}

/// Every event of a stream made of `chunks`, finished with `usage`.
fn run(chunks: &[ChatCompletionChunk], stop: Option<&str>) -> Vec<Value> {
    let mut converter = MessageEvents::new("msg_1".into());
    let mut events = Vec::new();
    converter.start(MODEL, &mut events);
    for chunk in chunks {
        converter.push(chunk, &mut events);
    }
    if let Some(sequence) = stop {
        converter.stopped_at(sequence);
    }
    converter.finish(Some(&usage()), &mut events);
    events
        .iter()
        .map(|event| serde_json::to_value(event).unwrap())
        .collect()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// The message a client builds from the events (as Anthropic's SDKs accumulate them).
fn accumulated(events: &[Value]) -> Message {
    let mut message = events[0]["message"].clone();
    let mut inputs: Vec<String> = Vec::new();
    for event in &events[1..] {
        let index = event["index"].as_u64().unwrap_or_default() as usize;
        match event["type"].as_str().unwrap() {
            "content_block_start" => {
                assert_eq!(index, inputs.len(), "{event}");
                message["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(event["content_block"].clone());
                inputs.push(String::new());
            }
            "content_block_delta" => {
                let delta = &event["delta"];
                match delta["type"].as_str().unwrap() {
                    "text_delta" => {
                        let block = &mut message["content"][index]["text"];
                        *block = json!(format!(
                            "{}{}",
                            block.as_str().unwrap(),
                            delta["text"].as_str().unwrap()
                        ));
                    }
                    _ => inputs[index].push_str(delta["partial_json"].as_str().unwrap()),
                }
            }
            "content_block_stop" if !inputs[index].is_empty() => {
                message["content"][index]["input"] = serde_json::from_str(&inputs[index]).unwrap();
            }
            "message_delta" => {
                message["stop_reason"] = event["delta"]["stop_reason"].clone();
                message["stop_sequence"] = event["delta"]["stop_sequence"].clone();
                message["usage"] = event["usage"].clone();
            }
            _ => {}
        }
    }
    serde_json::from_value(message).unwrap()
}

/// The whole answer the chat path would give for the same text and calls.
fn whole(content: &str, calls: &[(&str, &str, &str)], finish: &str) -> Message {
    let plan = messages_request(
        serde_json::from_value(
            json!({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .unwrap(),
    )
    .unwrap();
    let calls: Vec<ToolCall> = calls
        .iter()
        .map(|(id, name, arguments)| ToolCall {
            id: (*id).into(),
            kind: "function".into(),
            function: FunctionCall {
                name: (*name).into(),
                arguments: (*arguments).into(),
            },
        })
        .collect();
    let answer = ChatCompletion {
        id: "msg_1".into(),
        object: "chat.completion".into(),
        created: 1_700_000_000,
        model: MODEL.into(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content: Some(content.into()),
                refusal: None,
                tool_calls: (!calls.is_empty()).then_some(calls),
                function_call: None,
                reasoning_content: None,
                annotations: Vec::new(),
                builtin_calls: Vec::new(),
            },
            logprobs: None,
            finish_reason: Some(finish.into()),
        }],
        usage: Some(usage()),
        system_fingerprint: None,
    };
    messages_response(&answer, &plan, "msg_1".into())
}

#[test]
fn text_is_one_block_between_message_start_and_message_stop() {
    let events = run(&[opening(), text("Hel"), text("lo"), finish("stop")], None);
    assert_eq!(
        events,
        [
            json!({"type": "message_start", "message": {
                "id": "msg_1", "type": "message", "role": "assistant", "model": MODEL,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                   "usage": {"input_tokens": 15, "output_tokens": 7,
                             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4}}),
            json!({"type": "message_stop"}),
        ]
    );
    assert_eq!(accumulated(&events), whole("Hello", &[], "stop"));
}

#[test]
fn text_then_two_tool_calls_are_three_blocks_in_order() {
    let [first_head, first_arguments] = call("call_a1", "get_weather", r#"{"city":"Paris"}"#);
    let [second_head, second_arguments] = call("call_b2", "get_time", r#"{"zone":"CET"}"#);
    let events = run(
        &[
            opening(),
            text("Let me look."),
            first_head,
            first_arguments,
            second_head,
            second_arguments,
            finish("tool_calls"),
        ],
        None,
    );
    assert_eq!(
        types(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        events[5],
        json!({"type": "content_block_start", "index": 1, "content_block":
               {"type": "tool_use", "id": "toolu_a1", "name": "get_weather", "input": {}}})
    );
    assert_eq!(
        events[6],
        json!({"type": "content_block_delta", "index": 1, "delta":
               {"type": "input_json_delta", "partial_json": r#"{"city":"Paris"}"#}})
    );
    assert_eq!(events[8]["index"], 2);
    assert_eq!(events[8]["content_block"]["id"], "toolu_b2");
    assert_eq!(events[11]["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        accumulated(&events),
        whole(
            "Let me look.",
            &[
                ("call_a1", "get_weather", r#"{"city":"Paris"}"#),
                ("call_b2", "get_time", r#"{"zone":"CET"}"#)
            ],
            "tool_calls"
        )
    );
}

#[test]
fn a_call_with_arguments_that_are_no_object_gets_the_whole_answers_input() {
    let [head, arguments] = call("call_a1", "f", "[1, 2]");
    let events = run(&[opening(), head, arguments, finish("tool_calls")], None);
    assert_eq!(
        events[3]["delta"]["partial_json"],
        json!({"input": [1, 2]}).to_string()
    );
    assert_eq!(
        accumulated(&events),
        whole("", &[("call_a1", "f", "[1, 2]")], "tool_calls")
    );
}

#[test]
fn finish_reasons_become_stop_reasons() {
    for (finish_reason, stop_reason) in [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
    ] {
        let events = run(&[opening(), text("x"), finish(finish_reason)], None);
        let delta = &events[events.len() - 2];
        assert_eq!(
            delta["delta"]["stop_reason"], stop_reason,
            "{finish_reason}"
        );
        assert_eq!(delta["delta"]["stop_sequence"], Value::Null);
    }
}

#[test]
fn a_stop_sequence_is_the_stop_reason_and_named() {
    let events = run(&[opening(), text("one "), finish("stop")], Some("two"));
    assert_eq!(
        events[events.len() - 2]["delta"],
        json!({"stop_reason": "stop_sequence", "stop_sequence": "two"})
    );
}

#[test]
fn an_empty_answer_still_has_its_empty_text_block() {
    let events = run(&[opening(), finish("stop")], None);
    assert_eq!(
        types(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(accumulated(&events), whole("", &[], "stop"));
}

#[test]
fn a_failure_is_one_error_event_and_nothing_follows() {
    let mut converter = MessageEvents::new("msg_1".into());
    let mut events = Vec::new();
    converter.start(MODEL, &mut events);
    converter.push(&opening(), &mut events);
    converter.push(&text("Hel"), &mut events);
    let error = ErrorEnvelope::new("overloaded_error", "GigaChat is busy", Some("req_1".into()));
    converter.fail(error.clone(), &mut events);
    let failed = events.len();
    converter.push(&text("lo"), &mut events);
    converter.finish(Some(&usage()), &mut events);
    converter.fail(error.clone(), &mut events);
    assert_eq!(events.len(), failed, "nothing after the error");
    assert_eq!(
        serde_json::to_value(events.last().unwrap()).unwrap(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "GigaChat is busy"},
               "request_id": "req_1"})
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, StreamEvent::ContentBlockStop { .. }))
    );
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
fn reasoning_is_a_thinking_block_signed_just_before_it_stops() {
    let events = run(
        &[
            opening(),
            reasoning("Think"),
            reasoning("ing."),
            text("Hi"),
            finish("stop"),
        ],
        None,
    );
    let signature = super::thinking_signature("Thinking.");
    assert_eq!(
        events[1..8],
        [
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Think"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "ing."}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": signature}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        ]
    );
    // Reasoning alone still ends with an (empty) text block, as the whole answer has one.
    let events = run(&[opening(), reasoning("Hm."), finish("stop")], None);
    assert_eq!(
        types(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        events[6]["content_block"],
        json!({"type": "text", "text": ""})
    );
}

#[test]
fn the_signature_is_stable_and_depends_on_the_text() {
    let signature = super::thinking_signature("Thinking.");
    assert_eq!(signature, super::thinking_signature("Thinking."));
    assert_ne!(signature, super::thinking_signature("Thinking!"));
    assert_eq!(signature.len(), 44, "base64 of a SHA-256: {signature}");
}
