//! Requests Codex CLI 0.171.0 really sent (the four `tests/fixtures/codex-0.171.0-*.json`,
//! captured against a stub, long strings trimmed, the key redacted) parse, map to a chat request the
//! chat path accepts, with every item and tool type handled; and the answers made for them validate
//! against the OpenAI description's `Response` schema (`../shared/openai-spec`, loaded at test time).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;

use gigachat_types::Role as GcRole;
use openai::chat::{
    ChatCompletion, Choice, FunctionCall, PromptTokensDetails, ResponseMessage, ToolCall, Usage,
};
use openai::responses::{CreateResponse, Input, InputItem};
use serde_json::{Value, json};
use translate::responses::{responses_request, responses_response};
use translate::{ChatDefaults, ResolvedParts, ResponseIds, chat_request};

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let capture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(capture["path"], "/v1/responses");
    capture["body"].clone()
}

fn defaults() -> ChatDefaults {
    ChatDefaults {
        contract: Default::default(),
        default_model: "GigaChat".into(),
        aliases: HashMap::from([("gpt-5.5".into(), "GigaChat-2-Max".into())]),
        builtin_functions: false,
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
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("the OpenAI description {}: {err}", path.display())),
    )
    .unwrap();
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

fn assert_valid(validator: &jsonschema::Validator, value: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|err| format!("{err} at {}", err.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{value:#}");
}

fn answer(model: &str, content: Option<&str>, calls: Vec<ToolCall>) -> ChatCompletion {
    ChatCompletion {
        id: "chatcmpl-1".into(),
        object: "chat.completion".into(),
        created: 1,
        model: model.into(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content: content.map(str::to_owned),
                refusal: None,
                tool_calls: Some(calls).filter(|c| !c.is_empty()),
                function_call: None,
                reasoning_content: None,
                annotations: Vec::new(),
                builtin_calls: Vec::new(),
            },
            logprobs: None,
            finish_reason: Some("stop".into()),
        }],
        usage: Some(Usage {
            prompt_tokens: 9000,
            completion_tokens: 20,
            total_tokens: 9020,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: 8000,
            }),
            completion_tokens_details: None,
        }),
        system_fingerprint: None,
    }
}

fn call(id: &str, name: &str, arguments: Value) -> ToolCall {
    ToolCall {
        id: id.into(),
        kind: "function".into(),
        function: FunctionCall {
            name: name.into(),
            arguments: arguments.to_string(),
        },
    }
}

/// A catalog model: `custom` apply_patch (Lark grammar), `tool_search`, `web_search`, a
/// `custom_tool_call` and its output in history, `text.verbosity`, `client_metadata`.
#[test]
fn codex_custom_tool_turn_maps_and_answers_within_the_spec() {
    let body = fixture("codex-0.171.0-gpt55-turn2-custom-tool-call-output.json");
    let request: CreateResponse = serde_json::from_value(body).unwrap();
    let Some(Input::Items(items)) = &request.input else {
        panic!("items expected")
    };
    let kinds: Vec<&str> = items
        .iter()
        .map(|item| match item {
            InputItem::Message(_) => "message",
            InputItem::CustomToolCall(_) => "custom_tool_call",
            InputItem::CustomToolCallOutput(_) => "custom_tool_call_output",
            other => panic!("unexpected item {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "message",
            "message",
            "message",
            "message",
            "custom_tool_call",
            "custom_tool_call_output"
        ]
    );
    let plan = responses_request(&request, &[], &defaults(), &ids()).unwrap();
    assert_eq!(plan.dropped_tools, ["tool_search", "web_search"]);
    assert!(plan.answer.custom_tools.contains("apply_patch"));
    let names: Vec<_> = plan
        .chat
        .tools
        .as_ref()
        .unwrap()
        .iter()
        .map(|tool| tool.function.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "exec_command",
            "write_stdin",
            "request_user_input",
            "apply_patch",
            "view_image",
            "get_goal",
            "create_goal",
            "update_goal"
        ]
    );
    assert_eq!(plan.chat.prompt_cache_key, request.prompt_cache_key);
    let chat = chat_request(&plan.chat, &defaults(), &ResolvedParts::new())
        .map_err(|err| plan.error(err))
        .unwrap();
    let upstream = &chat.upstream;
    assert_eq!(upstream.model, "GigaChat-2-Max");
    let roles: Vec<_> = upstream.messages.iter().map(|m| m.role.clone()).collect();
    assert_eq!(
        roles,
        [
            GcRole::System,
            GcRole::User,
            GcRole::User,
            GcRole::Assistant,
            GcRole::Function
        ]
    );
    assert!(upstream.messages[0].content.starts_with("You are Codex"));
    assert!(
        upstream.messages[0]
            .content
            .contains("<permissions instructions>")
    );
    let patch = upstream.messages[3].function_call.as_ref().unwrap();
    assert_eq!(patch.name, "apply_patch");
    assert!(
        patch.arguments["input"]
            .as_str()
            .unwrap()
            .starts_with("*** Begin Patch")
    );
    assert!(upstream.messages[4].content.contains("Success"));

    // The answer: text and an apply_patch call, as Codex reads it.
    let response = responses_response(
        &answer(
            "GigaChat-2-Max:2.0",
            Some("Patching."),
            vec![call(
                "call_n1",
                "apply_patch",
                json!({"input": "*** Begin Patch\n*** Add File: a.txt\n+a\n*** End Patch\n"}),
            )],
        ),
        &plan.answer,
        1_796_553_714,
    );
    let value = serde_json::to_value(&response).unwrap();
    assert_valid(&response_schema(), &value);
    assert_eq!(value["output"][1]["type"], "custom_tool_call");
    assert_eq!(
        value["output"][1]["input"],
        "*** Begin Patch\n*** Add File: a.txt\n+a\n*** End Patch\n"
    );
    assert_eq!(value["text"]["verbosity"], "low");
    assert_eq!(value["store"], false);
    assert_eq!(
        value["usage"]["input_tokens_details"]["cached_tokens"],
        8000
    );
}

/// The fallback model metadata: functions, a `namespace` of sub-agent functions, `web_search`, a
/// `function_call` and its output in history.
#[test]
fn codex_function_call_turn_maps_and_answers_within_the_spec() {
    let body = fixture("codex-0.171.0-fallback-model-turn2-function-call-output.json");
    let request: CreateResponse = serde_json::from_value(body).unwrap();
    let plan = responses_request(&request, &[], &defaults(), &ids()).unwrap();
    assert_eq!(plan.dropped_tools, ["namespace", "web_search"]);
    assert!(plan.answer.custom_tools.is_empty());
    assert_eq!(plan.chat.tools.as_ref().unwrap().len(), 7);
    let roles: Vec<_> = plan.chat.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(
        roles,
        [
            "developer",
            "developer",
            "user",
            "user",
            "assistant",
            "tool"
        ]
    );
    let chat = chat_request(&plan.chat, &defaults(), &ResolvedParts::new())
        .map_err(|err| plan.error(err))
        .unwrap();
    let history_call = chat.upstream.messages[3].function_call.as_ref().unwrap();
    assert_eq!(history_call.name, "exec_command");
    assert_eq!(history_call.arguments["cmd"], "echo hello > out.txt");

    // Two calls in one answer come out as two function_call items.
    let response = responses_response(
        &answer(
            "GigaChat-2-Max:2.0",
            None,
            vec![
                call("call_a", "exec_command", json!({"cmd": "ls"})),
                call("call_b", "exec_command", json!({"cmd": "pwd"})),
            ],
        ),
        &plan.answer,
        1_796_553_714,
    );
    let value = serde_json::to_value(&response).unwrap();
    assert_valid(&response_schema(), &value);
    assert_eq!(value["output"].as_array().unwrap().len(), 2);
    assert_eq!(value["output"][0]["type"], "function_call");
    assert_eq!(value["output"][1]["call_id"], "call_b");
    // The tools are echoed as sent, the left-out ones included.
    assert_eq!(value["tools"].as_array().unwrap().len(), 9);
}

/// Every captured request (first turns too) maps through the chat path; what is left out is
/// exactly the tool types Codex adds besides its functions.
#[test]
fn every_codex_capture_maps() {
    for (name, dropped, custom) in [
        (
            "codex-0.171.0-fallback-model-turn1.json",
            &["namespace", "web_search"][..],
            false,
        ),
        (
            "codex-0.171.0-fallback-model-turn2-function-call-output.json",
            &["namespace", "web_search"],
            false,
        ),
        (
            "codex-0.171.0-gpt55-turn1-custom-apply_patch.json",
            &["tool_search", "web_search"],
            true,
        ),
        (
            "codex-0.171.0-gpt55-turn2-custom-tool-call-output.json",
            &["tool_search", "web_search"],
            true,
        ),
    ] {
        let request: CreateResponse = serde_json::from_value(fixture(name)).unwrap();
        assert_eq!(request.store, Some(false), "{name}");
        assert_eq!(request.stream, Some(true), "{name}");
        let plan = responses_request(&request, &[], &defaults(), &ids()).unwrap();
        assert_eq!(plan.dropped_tools, dropped, "{name}");
        assert_eq!(
            plan.answer.custom_tools.contains("apply_patch"),
            custom,
            "{name}"
        );
        assert!(plan.dropped_items.is_empty(), "{name}");
        let chat = chat_request(&plan.chat, &defaults(), &ResolvedParts::new())
            .map_err(|err| plan.error(err))
            .unwrap_or_else(|err| panic!("{name}: {err:?}"));
        assert!(chat.stream && chat.include_usage, "{name}");
        assert_eq!(chat.upstream.messages[0].role, GcRole::System, "{name}");
        let user = chat
            .upstream
            .messages
            .iter()
            .rev()
            .find(|m| m.role == GcRole::User);
        assert!(user.is_some(), "{name}");
    }
}

/// Incomplete answers validate too.
#[test]
fn incomplete_answers_validate() {
    let request: CreateResponse =
        serde_json::from_value(json!({"input": "hi", "max_output_tokens": 5})).unwrap();
    let plan = responses_request(&request, &[], &defaults(), &ids()).unwrap();
    let mut cut = answer("GigaChat", Some("Hel"), vec![]);
    cut.choices[0].finish_reason = Some("length".into());
    let value = serde_json::to_value(responses_response(&cut, &plan.answer, 2)).unwrap();
    assert_valid(&response_schema(), &value);
    assert_eq!(value["status"], "incomplete");
    assert_eq!(value["incomplete_details"]["reason"], "max_output_tokens");
    // The check can fail: without `cache_write_tokens` or with `usage: null` it does.
    let validator = response_schema();
    let mut broken = value.clone();
    broken["usage"]["input_tokens_details"]
        .as_object_mut()
        .unwrap()
        .remove("cache_write_tokens");
    assert!(!validator.is_valid(&broken));
    broken["usage"] = Value::Null;
    assert!(!validator.is_valid(&broken));
}
