//! GigaChat's built-in tools through the Responses and Messages doors: hosted tool types map to
//! built-ins under the v2 contract (left out under v1), and a chat answer that searched, drew and
//! ran code becomes `web_search_call` / `image_generation_call` / `code_interpreter_call` items
//! valid against the OpenAI description's `Response` schema (`../shared/openai-spec`), or Anthropic's
//! `server_tool_use` + `web_search_tool_result` blocks with text citations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use gigachat_types::{BuiltinTool, Contract, FunctionCallMode};
use openai::chat::{
    Annotation, BuiltinCall, ChatCompletion, ChatCompletionChunk, Choice, ChunkChoice, Delta,
    HostedTool, ResponseMessage, Usage, WebSource,
};
use openai::responses::CreateResponse;
use openai::responses::events::EventKind;
use serde_json::{Value, json};
use translate::anthropic::stream::MessageEvents;
use translate::anthropic::{messages_request, messages_response};
use translate::responses::stream::ResponseEvents;
use translate::responses::{responses_request, responses_response};
use translate::{ChatDefaults, ResolvedParts, ResponseIds, chat_request};

fn defaults(contract: Contract) -> ChatDefaults {
    ChatDefaults {
        contract,
        default_model: "GigaChat".into(),
        ..ChatDefaults::default()
    }
}

fn ids() -> ResponseIds {
    ResponseIds {
        id: "resp_0123".into(),
        created: 1_796_553_713,
    }
}

/// The `Response` schema of the OpenAI description (`E2E_OPENAI_SPEC` overrides its path).
fn response_schema() -> jsonschema::Validator {
    let path = std::env::var_os("E2E_OPENAI_SPEC").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/openai-spec/openapi-subset.json")
        },
        Into::into,
    );
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": "#/components/schemas/Response",
        "components": document["components"],
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .unwrap()
}

fn sources() -> Vec<WebSource> {
    vec![
        WebSource {
            url: "https://docs.python.org/3.14/whatsnew/".into(),
            title: "What's new".into(),
        },
        WebSource {
            url: "https://peps.python.org/pep-0745/".into(),
            title: "PEP 745".into(),
        },
    ]
}

/// A chat answer that searched the web, ran code and drew a picture.
fn searched_answer() -> ChatCompletion {
    ChatCompletion {
        id: "chatcmpl-1".into(),
        object: "chat.completion".into(),
        created: 1,
        model: "GigaChat-3-Ultra".into(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content: Some("Вышел Python 3.14 [2].\nПодробнее [1].".into()),
                refusal: None,
                tool_calls: None,
                function_call: None,
                reasoning_content: None,
                annotations: vec![
                    Annotation::url_citation(18, 21, sources()[1].url.clone(), "PEP 745".into()),
                    Annotation::url_citation(33, 36, sources()[0].url.clone(), "What's new".into()),
                ],
                builtin_calls: vec![
                    BuiltinCall::WebSearch { sources: sources() },
                    BuiltinCall::CodeInterpreter,
                    BuiltinCall::ImageGeneration {
                        file_id: "f1".into(),
                        mime: Some("image/jpeg".into()),
                        result: Some("/9j/AA==".into()),
                    },
                ],
            },
            logprobs: None,
            finish_reason: Some("stop".into()),
        }],
        usage: Some(Usage {
            prompt_tokens: 23767,
            completion_tokens: 20,
            total_tokens: 23787,
            prompt_tokens_details: None,
            completion_tokens_details: None,
        }),
        system_fingerprint: None,
    }
}

fn responses_body() -> Value {
    json!({"model": "GigaChat-3-Ultra", "input": "search: Python 3.14", "tools": [
        {"type": "web_search"},
        {"type": "web_search_preview_2025_03_11"},
        {"type": "image_generation", "size": "1024x1024"},
        {"type": "code_interpreter", "container": {"type": "auto"}},
        {"type": "mcp", "server_label": "x"}
    ]})
}

#[test]
fn responses_hosted_tools_are_built_ins_on_v2_and_left_out_on_v1() {
    let request: CreateResponse = serde_json::from_value(responses_body()).unwrap();
    let v2 = responses_request(&request, &[], &defaults(Contract::V2), &ids()).unwrap();
    assert_eq!(v2.dropped_tools, ["mcp"]);
    let chat = chat_request(&v2.chat, &defaults(Contract::V2), &ResolvedParts::default()).unwrap();
    assert_eq!(
        chat.upstream.builtin_tools,
        [
            BuiltinTool::WebSearch {
                kind: Some("actual_info_web_search".into())
            },
            BuiltinTool::ImageGenerate,
            BuiltinTool::CodeInterpreter
        ]
    );
    assert_eq!(chat.upstream.function_call, Some(FunctionCallMode::Auto));
    let v1 = responses_request(&request, &[], &defaults(Contract::V1), &ids()).unwrap();
    assert_eq!(
        v1.dropped_tools,
        [
            "web_search",
            "web_search_preview_2025_03_11",
            "image_generation",
            "code_interpreter",
            "mcp"
        ]
    );
    assert!(v1.chat.builtin_tools.is_empty());
}

#[test]
fn forcing_a_hosted_tool_forces_the_built_in() {
    let mut body = responses_body();
    body["tool_choice"] = json!({"type": "image_generation"});
    let request: CreateResponse = serde_json::from_value(body).unwrap();
    let plan = responses_request(&request, &[], &defaults(Contract::V2), &ids()).unwrap();
    let chat = chat_request(
        &plan.chat,
        &defaults(Contract::V2),
        &ResolvedParts::default(),
    )
    .unwrap();
    assert_eq!(
        chat.upstream.function_call,
        Some(FunctionCallMode::Builtin {
            name: "image_generate".into()
        })
    );
    // Under v1 forcing it is refused, as before.
    let refused = responses_request(&request, &[], &defaults(Contract::V1), &ids()).unwrap_err();
    assert_eq!(refused.param.as_deref(), Some("tool_choice"));
}

#[test]
fn chat_web_search_options_on_v1_is_a_400_naming_it() {
    let request = serde_json::from_value(json!({
        "messages": [{"role": "user", "content": "hi"}],
        "web_search_options": {"search_context_size": "low"}
    }))
    .unwrap();
    let err =
        chat_request(&request, &defaults(Contract::V1), &ResolvedParts::default()).unwrap_err();
    assert_eq!(err.param.as_deref(), Some("web_search_options"));
    assert!(err.message.contains("GIGACHAT_API_VERSION=2"));
}

#[test]
fn built_in_runs_are_response_items_within_the_spec() {
    let request: CreateResponse = serde_json::from_value(responses_body()).unwrap();
    let plan = responses_request(&request, &[], &defaults(Contract::V2), &ids()).unwrap();
    let value =
        serde_json::to_value(responses_response(&searched_answer(), &plan.answer, 2)).unwrap();
    let validator = response_schema();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|err| format!("{err} at {}", err.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{value:#}");
    let kinds: Vec<&str> = value["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "web_search_call",
            "code_interpreter_call",
            "image_generation_call",
            "message"
        ]
    );
    let output = &value["output"];
    assert_eq!(
        output[0]["action"]["sources"][1]["url"],
        "https://peps.python.org/pep-0745/"
    );
    assert_eq!(output[1]["code"], Value::Null);
    assert_eq!(output[1]["outputs"], Value::Null);
    assert_eq!(output[2]["result"], "/9j/AA==");
    assert_eq!(
        output[3]["content"][0]["annotations"][0],
        json!({"type": "url_citation", "url": "https://peps.python.org/pep-0745/", "title": "PEP 745", "start_index": 18, "end_index": 21})
    );
    // The check can fail: a web search call without its action is not a valid item.
    let mut broken = value.clone();
    broken["output"][0]
        .as_object_mut()
        .unwrap()
        .remove("action");
    assert!(!validator.is_valid(&broken));
}

fn chunk(delta: Delta, finish: Option<&str>) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: "resp_0123".into(),
        object: "chat.completion.chunk".into(),
        created: 1,
        model: "GigaChat-3-Ultra".into(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason: finish.map(str::to_owned),
        }],
        usage: None,
    }
}

#[test]
fn a_streamed_search_is_an_item_before_the_message_and_its_citations_are_announced() {
    let request: CreateResponse = serde_json::from_value(responses_body()).unwrap();
    let plan = responses_request(&request, &[], &defaults(Contract::V2), &ids()).unwrap();
    let answer = searched_answer();
    let message = &answer.choices[0].message;
    let mut events = Vec::new();
    let mut converter = ResponseEvents::new(plan.answer);
    converter.start("GigaChat-3-Ultra", &mut events);
    let chunks = [
        chunk(
            Delta {
                builtin_calls: vec![BuiltinCall::WebSearch {
                    sources: Vec::new(),
                }],
                ..Delta::default()
            },
            None,
        ),
        chunk(
            Delta {
                content: message.content.clone(),
                ..Delta::default()
            },
            None,
        ),
        chunk(
            Delta {
                annotations: message.annotations.clone(),
                builtin_calls: vec![BuiltinCall::WebSearch { sources: sources() }],
                ..Delta::default()
            },
            Some("stop"),
        ),
    ];
    for chunk in &chunks {
        converter.push(chunk, &mut events);
    }
    converter.finish(answer.usage, 3, &mut events);
    let names: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.web_search_call.in_progress",
            "response.web_search_call.searching",
            "response.web_search_call.completed",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.annotation.added",
            "response.output_text.annotation.added",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let json = serde_json::to_value(&events[3]).unwrap();
    assert_eq!(
        json,
        json!({"type": "response.web_search_call.in_progress", "output_index": 0, "item_id": "ws_01230", "sequence_number": 3})
    );
    let EventKind::Completed { response } = &events.last().unwrap().kind else {
        panic!("completed expected")
    };
    let value = serde_json::to_value(response).unwrap();
    assert!(response_schema().is_valid(&value), "{value:#}");
    // The sources found after the search was announced are in the finished response.
    assert_eq!(
        value["output"][0]["action"]["sources"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        value["output"][1]["content"][0]["annotations"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_search_is_anthropic_server_tool_blocks_with_cited_text() {
    let request = serde_json::from_value(json!({
        "model": "claude-sonnet-4-5", "max_tokens": 100,
        "messages": [{"role": "user", "content": "What is new in Python 3.14?"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]
    }))
    .unwrap();
    let plan = messages_request(request)
        .unwrap()
        .for_contract(Contract::V2)
        .unwrap();
    assert_eq!(plan.chat.builtin_tools.len(), 1);
    let mut answer = searched_answer();
    answer.choices[0].message.builtin_calls.truncate(1);
    let message = messages_response(&answer, &plan, "msg_01".into());
    let value = serde_json::to_value(&message).unwrap();
    assert_eq!(
        value["content"][0],
        json!({"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "What is new in Python 3.14?"}})
    );
    assert_eq!(value["content"][1]["type"], "web_search_tool_result");
    assert_eq!(value["content"][1]["tool_use_id"], "srvtoolu_01");
    assert_eq!(
        value["content"][1]["content"][0],
        json!({"type": "web_search_result", "url": "https://docs.python.org/3.14/whatsnew/", "title": "What's new",
               "encrypted_content": "aHR0cHM6Ly9kb2NzLnB5dGhvbi5vcmcvMy4xNC93aGF0c25ldy8=", "page_age": null})
    );
    let text = &value["content"][2];
    assert_eq!(text["text"], "Вышел Python 3.14 [2].\nПодробнее [1].");
    assert_eq!(text["citations"][0]["cited_text"], "Вышел Python 3.14");
    assert_eq!(text["citations"][0]["type"], "web_search_result_location");
    assert_eq!(text["citations"][1]["cited_text"], "Подробнее");
    assert_eq!(
        text["citations"][1]["url"],
        "https://docs.python.org/3.14/whatsnew/"
    );
    assert_eq!(
        value["usage"]["server_tool_use"],
        json!({"web_search_requests": 1, "web_fetch_requests": 0})
    );
}

#[test]
fn a_streamed_search_is_anthropic_blocks_then_cited_text() {
    let answer = searched_answer();
    let message = &answer.choices[0].message;
    let mut events = Vec::new();
    let mut converter = MessageEvents::new("msg_01".into()).with_search_query("Python 3.14".into());
    converter.start("GigaChat-3-Ultra", &mut events);
    let chunks = [
        chunk(
            Delta {
                builtin_calls: vec![BuiltinCall::WebSearch {
                    sources: Vec::new(),
                }],
                ..Delta::default()
            },
            None,
        ),
        chunk(
            Delta {
                builtin_calls: vec![BuiltinCall::WebSearch { sources: sources() }],
                content: message.content.clone(),
                ..Delta::default()
            },
            None,
        ),
        chunk(
            Delta {
                annotations: message.annotations.clone(),
                ..Delta::default()
            },
            Some("stop"),
        ),
    ];
    for chunk in &chunks {
        converter.push(chunk, &mut events);
    }
    converter.finish(answer.usage.as_ref(), &mut events);
    let wire: Vec<Value> = events
        .iter()
        .map(|event| serde_json::to_value(event).unwrap())
        .collect();
    let shapes: Vec<String> = wire
        .iter()
        .map(|event| {
            let kind = event["type"].as_str().unwrap();
            let inner = event["content_block"]["type"]
                .as_str()
                .or(event["delta"]["type"].as_str())
                .unwrap_or_default();
            format!("{kind} {inner}").trim().to_owned()
        })
        .collect();
    assert_eq!(
        shapes,
        [
            "message_start",
            "content_block_start server_tool_use",
            "ping",
            "content_block_stop",
            "content_block_start web_search_tool_result",
            "content_block_stop",
            "content_block_start text",
            "content_block_delta text_delta",
            "content_block_delta citations_delta",
            "content_block_delta citations_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        wire[1]["content_block"]["input"],
        json!({"query": "Python 3.14"})
    );
    assert_eq!(
        wire[8]["delta"]["citation"]["cited_text"],
        "Вышел Python 3.14"
    );
    assert_eq!(
        wire[11]["usage"]["server_tool_use"]["web_search_requests"],
        1
    );
}

/// `required` with one built-in as the only tool forces it; with several built-ins and no
/// function, GigaChat has no way to require "one of them": refused naming `tool_choice`.
#[test]
fn requiring_a_tool_when_one_built_in_is_offered_forces_it() {
    let request = |tools: Value| -> CreateResponse {
        serde_json::from_value(json!({"input": "hi", "tool_choice": "required", "tools": tools}))
            .unwrap()
    };
    let one = responses_request(
        &request(json!([{"type": "web_search"}])),
        &[],
        &defaults(Contract::V2),
        &ids(),
    )
    .unwrap();
    assert_eq!(one.chat.builtin_tool_choice, Some(HostedTool::WebSearch));
    let several = responses_request(
        &request(json!([{"type": "web_search"}, {"type": "code_interpreter"}])),
        &[],
        &defaults(Contract::V2),
        &ids(),
    )
    .unwrap_err();
    assert_eq!(several.param.as_deref(), Some("tool_choice"));
    assert!(
        several.message.contains("one built-in at a time"),
        "{}",
        several.message
    );
}
