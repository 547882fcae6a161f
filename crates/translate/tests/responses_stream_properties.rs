//! Property tests of the streamed Response over generated GigaChat streams, through the whole
//! pure pipeline (Responses request → chat plan → chat stream translator → Responses events):
//! every event matches its `ResponseStreamEvent` schema of the OpenAI description in
//! `../shared/openai-spec` (a missing description fails the tests), events are numbered 0, 1, 2, …,
//! every event about an item comes while that item is open, the stream ends with exactly one
//! terminal event, and a completed Response is the non-streamed mapping of the same answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../../adapter/tests/support/openai_spec.rs"]
mod openai_spec;

use gigachat_types as gc;
use openai::chat::{ChatCompletion, ChatCompletionChunk};
use openai::responses::CreateResponse;
use proptest::prelude::*;
use serde_json::{Value, json};
use translate::responses::stream::ResponseEvents;
use translate::responses::{ResponsesPlan, responses_request, responses_response};
use translate::{
    ChatDefaults, ResolvedParts, ResponseIds, StreamTranslator, chat_request, chat_response,
};

use openai_spec::spec;

const CASES: u32 = 96;
const MODEL: &str = "GigaChat-2-Max:2.0.28.2";
const COMPLETED_AT: i64 = 1_800_000_000;
const CACHED: gc::CachedPromptTokens = gc::CachedPromptTokens::Excluded;

fn ids() -> ResponseIds {
    ResponseIds {
        id: "resp_0123".into(),
        created: 1_799_999_999,
    }
}

/// A request declaring a function and a custom tool.
fn plan() -> ResponsesPlan {
    let request: CreateResponse = serde_json::from_value(json!({
        "model": "GigaChat-2-Max",
        "input": "hi",
        "tools": [
            {"type": "function", "name": "exec_command", "strict": false,
             "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
            {"type": "custom", "name": "apply_patch", "description": "Edits files.",
             "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}}
        ]
    }))
    .unwrap();
    responses_request(&request, &[], &ChatDefaults::default(), &ids()).unwrap()
}

/// Text pieces, Cyrillic, emoji and JSON-looking bits included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 ,.]{1,8}",
        2 => "[а-яА-ЯёЁ ]{1,6}",
        1 => Just("\u{1F600}\n".to_owned()),
        1 => Just("{\"input\": \"x\"}".to_owned()),
        1 => Just("\u{0}\"\\".to_owned()),
    ]
}

/// How a generated GigaChat stream ends.
#[derive(Debug, Clone)]
enum Ending {
    /// A finish reason on the last event (`function_call` when a call was made).
    Finish(&'static str),
    /// `[DONE]` without a finish reason.
    Done,
    /// The stream fails after its events; retrying may help or not.
    Fails(bool),
}

/// A GigaChat stream: text events, maybe one function call (of the function or the custom tool),
/// and how it ends.
fn upstream() -> impl Strategy<Value = (Vec<String>, Option<(bool, String)>, Ending)> {
    (
        proptest::collection::vec(text(), 0..6),
        proptest::option::of((any::<bool>(), text())),
        prop_oneof![
            3 => prop::sample::select(vec!["stop", "length", "blacklist"]).prop_map(Ending::Finish),
            1 => Just(Ending::Done),
            1 => any::<bool>().prop_map(Ending::Fails),
        ],
    )
}

fn gigachat_chunk(delta: Value, finish: Option<&str>, usage: bool) -> gc::ChatChunk {
    let mut choice = json!({"delta": delta, "index": 0});
    if let Some(finish) = finish {
        choice["finish_reason"] = json!(finish);
    }
    let mut chunk =
        json!({"choices": [choice], "created": 1, "model": MODEL, "object": "chat.completion"});
    if usage {
        chunk["usage"] = json!({"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27});
    }
    serde_json::from_value(chunk).unwrap()
}

/// Runs the generated stream through the pipeline; the events as JSON and, when it completed,
/// the chat answer it assembled (the same chunks, mapped as a whole).
fn run(
    texts: &[String],
    call: &Option<(bool, String)>,
    ending: &Ending,
) -> (Vec<Value>, Option<ChatCompletion>) {
    let responses = plan();
    let chat = chat_request(
        &responses.chat,
        &ChatDefaults::default(),
        &ResolvedParts::new(),
    )
    .unwrap();
    let mut upstream: Vec<gc::ChatChunk> = texts
        .iter()
        .map(|t| gigachat_chunk(json!({"content": t}), None, false))
        .collect();
    let finish = match (ending, call) {
        (Ending::Finish(_), Some(_)) => Some("function_call"),
        (Ending::Finish(reason), None) => Some(*reason),
        _ => None,
    };
    match call {
        Some((custom, input)) => {
            let (name, arguments) = if *custom {
                ("apply_patch", json!({"input": input}))
            } else {
                ("exec_command", json!({"cmd": input}))
            };
            upstream.push(gigachat_chunk(
                json!({"content": "", "function_call": {"name": name, "arguments": arguments},
                       "functions_state_id": "0199e210-2f13-744c-8fe5-c9a19fe27db7"}),
                finish,
                finish.is_some(),
            ));
        }
        None => upstream.push(gigachat_chunk(
            json!({"content": ""}),
            finish,
            finish.is_some(),
        )),
    }

    let mut translator = StreamTranslator::new(ids(), MODEL.into(), 0, &chat);
    let mut chunks: Vec<ChatCompletionChunk> = Vec::new();
    for event in &upstream {
        chunks.extend(translator.push(event.clone()));
    }
    chunks.extend(translator.end());

    let mut converter = ResponseEvents::new(responses.answer.clone());
    let mut events = Vec::new();
    converter.start(MODEL, &mut events);
    for chunk in &chunks {
        converter.push(chunk, &mut events);
    }
    let whole = match ending {
        Ending::Fails(retryable) => {
            converter.fail(*retryable, "GigaChat failed.".into(), &mut events);
            None
        }
        _ => {
            let usage = translate::combined_usage([&translator.final_usage(2)], CACHED);
            converter.finish(usage, COMPLETED_AT, &mut events);
            let answer = gigachat_answer(&upstream, translator.final_usage(2));
            Some(chat_response(&[answer], &ids(), &chat, CACHED).unwrap())
        }
    };
    let events = events
        .iter()
        .map(|event| serde_json::to_value(event).unwrap())
        .collect();
    (events, whole)
}

/// The non-streamed GigaChat answer with what the stream carried, and `usage`.
fn gigachat_answer(stream: &[gc::ChatChunk], usage: gc::Usage) -> gc::ChatCompletion {
    let text: String = stream
        .iter()
        .filter_map(|c| c.choices[0].delta.content.clone())
        .collect();
    let last = stream.last().unwrap();
    let mut message = json!({"role": "assistant", "content": text});
    if let Some(call) = &last.choices[0].delta.function_call {
        message["function_call"] = serde_json::to_value(call).unwrap();
        message["functions_state_id"] = json!("0199e210-2f13-744c-8fe5-c9a19fe27db7");
    }
    let finish = last.choices[0]
        .finish_reason
        .as_ref()
        .map(|r| serde_json::to_value(r).unwrap());
    serde_json::from_value(json!({
        "choices": [{"message": message, "index": 0, "finish_reason": finish.unwrap_or(json!("stop"))}],
        "created": 1, "model": MODEL, "object": "chat.completion",
        "usage": usage,
    }))
    .unwrap()
}

fn check(events: &[Value]) -> Result<(), TestCaseError> {
    let terminal = [
        "response.completed",
        "response.incomplete",
        "response.failed",
    ];
    let mut open: Option<(Value, u64)> = None;
    let mut announced = 0;
    let mut finished = Vec::new();
    for (expected, event) in events.iter().enumerate() {
        spec().assert_stream_event(event);
        prop_assert_eq!(&event["sequence_number"], &json!(expected));
        let kind = event["type"].as_str().unwrap();
        prop_assert_eq!(
            terminal.contains(&kind),
            expected == events.len() - 1,
            "one terminal event, last: {}",
            event
        );
        match kind {
            "response.created" | "response.in_progress" => prop_assert!(expected < 2),
            "response.output_item.added" => {
                prop_assert!(open.is_none(), "two items open: {}", event);
                prop_assert_eq!(&event["output_index"], &json!(announced));
                announced += 1;
                open = Some((event["item"]["id"].clone(), announced - 1));
            }
            "response.output_item.done" => {
                let (id, index) = open.take().expect("an item is open");
                prop_assert_eq!(&event["item"]["id"], &id);
                prop_assert_eq!(&event["output_index"], &json!(index));
                finished.push(event["item"].clone());
            }
            _ if !terminal.contains(&kind) => {
                let (id, index) = open.as_ref().expect("an item is open");
                prop_assert_eq!(&event["item_id"], id, "{}", event);
                prop_assert_eq!(&event["output_index"], &json!(index));
            }
            _ => {}
        }
    }
    let last = events.last().unwrap();
    if last["type"] != "response.failed" {
        prop_assert!(open.is_none());
        prop_assert_eq!(&last["response"]["output"], &Value::Array(finished));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn streamed_responses_match_the_spec_and_the_whole_answer(
        (texts, call, ending) in upstream(),
    ) {
        let (events, whole) = run(&texts, &call, &ending);
        check(&events)?;
        let last = events.last().unwrap();
        match whole {
            Some(answer) => {
                let expected = responses_response(&answer, &plan().answer, COMPLETED_AT);
                prop_assert_eq!(&last["response"], &serde_json::to_value(expected).unwrap());
            }
            None => {
                prop_assert_eq!(&last["type"], "response.failed");
                let retryable = matches!(ending, Ending::Fails(true));
                prop_assert_eq!(
                    &last["response"]["error"]["code"],
                    if retryable { "server_error" } else { "invalid_prompt" }
                );
            }
        }
    }
}
