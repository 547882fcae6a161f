use std::collections::HashMap;

use gigachat_types::{FunctionCallMode, Role as GcRole};
use serde_json::json;

use super::*;
use crate::attachments::ResolvedParts;
use crate::request::chat_request;

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
        id: "resp_abc".into(),
        created: 7,
    }
}

fn plan_with(
    body: serde_json::Value,
    history: &[InputItem],
) -> Result<ResponsesPlan, TranslateError> {
    let request: CreateResponse = serde_json::from_value(body).unwrap();
    responses_request(&request, history, &defaults(), &ids())
}

fn plan(body: serde_json::Value) -> ResponsesPlan {
    plan_with(body, &[]).unwrap()
}

fn refused(body: serde_json::Value) -> TranslateError {
    plan_with(body, &[]).unwrap_err()
}

/// The GigaChat request the chat path makes of the plan (errors renamed as the handler does).
fn upstream(plan: &ResponsesPlan) -> Result<gigachat_types::ChatRequest, TranslateError> {
    chat_request(&plan.chat, &defaults(), &ResolvedParts::new())
        .map(|chat| chat.upstream)
        .map_err(|err| plan.error(err))
}

#[test]
fn text_input_and_instructions_become_system_and_user() {
    let plan = plan(json!({"model": "gpt-5.5", "instructions": "Be terse.", "input": "Hi"}));
    let upstream = upstream(&plan).unwrap();
    assert_eq!(upstream.model, "GigaChat-2-Max");
    assert_eq!(upstream.messages.len(), 2);
    assert_eq!(upstream.messages[0].role, GcRole::System);
    assert_eq!(upstream.messages[0].content, "Be terse.");
    assert_eq!(upstream.messages[1].role, GcRole::User);
    assert_eq!(upstream.messages[1].content, "Hi");
    assert_eq!(plan.answer.template.model, "GigaChat-2-Max");
    assert_eq!(
        plan.answer.template.instructions.as_deref(),
        Some("Be terse.")
    );
}

#[test]
fn developer_and_system_messages_join_the_system_text_in_order() {
    let plan = plan(json!({"instructions": "I", "input": [
        {"type": "message", "id": "msg_1", "role": "developer",
         "content": [{"type": "input_text", "text": "D1"}, {"type": "input_text", "text": "D2"}]},
        {"role": "system", "content": "S"},
        {"role": "user", "content": [{"type": "input_text", "text": "U"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "A", "annotations": []}]},
        {"role": "user", "content": "U2"}
    ]}));
    let upstream = upstream(&plan).unwrap();
    let roles: Vec<_> = upstream.messages.iter().map(|m| m.role.clone()).collect();
    assert_eq!(
        roles,
        [
            GcRole::System,
            GcRole::User,
            GcRole::Assistant,
            GcRole::User
        ]
    );
    assert_eq!(upstream.messages[0].content, "I\n\nD1\nD2\n\nS");
    assert_eq!(upstream.messages[2].content, "A");
}

#[test]
fn parts_become_chat_parts() {
    let plan = plan(json!({"input": [{"role": "user", "content": [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": "data:image/png;base64,AA==", "detail": "low"},
        {"type": "input_image", "file_id": "file-1"},
        {"type": "input_file", "file_id": "file-2", "filename": "a.pdf"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,AA==", "filename": "b.pdf"}
    ]}, {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]}]}));
    let Some(MessageContent::Parts(parts)) = &plan.chat.messages[0].content else {
        panic!("parts expected")
    };
    assert_eq!(
        parts,
        &[
            ContentPart::Text {
                text: "look".into()
            },
            ContentPart::ImageUrl {
                url: "data:image/png;base64,AA==".into(),
                detail: Some("low".into())
            },
            ContentPart::File {
                file_id: Some("file-1".into()),
                file_data: None,
                filename: None
            },
            ContentPart::File {
                file_id: Some("file-2".into()),
                file_data: None,
                filename: Some("a.pdf".into())
            },
            ContentPart::File {
                file_id: None,
                file_data: Some("data:application/pdf;base64,AA==".into()),
                filename: Some("b.pdf".into())
            },
        ]
    );
    assert_eq!(
        plan.chat.messages[1].content,
        Some(MessageContent::Parts(vec![ContentPart::Refusal {
            refusal: "no".into()
        }]))
    );
    let by_url = self::plan(json!({"input": [{"role": "user", "content": [
        {"type": "input_file", "file_url": "https://example.com/a.pdf", "filename": "a.pdf"}]}]}));
    assert_eq!(
        by_url.chat.messages[0].content,
        Some(MessageContent::Parts(vec![ContentPart::FileUrl {
            url: "https://example.com/a.pdf".into(),
            filename: Some("a.pdf".into())
        }]))
    );
}

/// Codex groups parallel calls and then their outputs: one assistant turn with both calls.
/// On v2, `function_call` items GigaChat made at once (their `call_id`s carry its state and
/// call ids) go back as one assistant message with both calls, and each output names its call;
/// `parallel_tool_calls` and `required` reach v2 as `parallel_tool_calls` and `any`.
#[test]
fn v2_parallel_call_items_go_back_together() {
    let state = "0199e210-2f13-744c-8fe5-c9a19fe27db7";
    let first = crate::tools::call_id(Some(state), Some("call_a"), 0, "x");
    let second = crate::tools::call_id(Some(state), Some("call_b"), 1, "x");
    let body = |parallel: serde_json::Value| {
        json!({"input": [
            {"role": "user", "content": "go"},
            {"type": "function_call", "id": "fc_1", "call_id": first, "name": "a", "arguments": "{\"x\":1}"},
            {"type": "function_call", "id": "fc_2", "call_id": second, "name": "b", "arguments": "{}"},
            {"type": "function_call_output", "call_id": second, "output": "two"},
            {"type": "function_call_output", "call_id": first, "output": "one"}
        ], "tools": [
            {"type": "function", "name": "a", "parameters": {"type": "object"}},
            {"type": "function", "name": "b", "parameters": {"type": "object"}}
        ], "tool_choice": "required", "parallel_tool_calls": parallel})
    };
    let v2 = ChatDefaults {
        contract: gigachat_types::Contract::V2,
        ..defaults()
    };
    let upstream = |body| {
        let plan = plan(body);
        chat_request(&plan.chat, &v2, &ResolvedParts::new())
            .unwrap()
            .upstream
    };
    let request = upstream(body(json!(null)));
    let roles: Vec<_> = request.messages.iter().map(|m| m.role.clone()).collect();
    assert_eq!(
        roles,
        [
            GcRole::User,
            GcRole::Assistant,
            GcRole::Function,
            GcRole::Function
        ]
    );
    let ids: Vec<Option<&str>> = request.messages[1]
        .calls()
        .map(|c| c.id.as_deref())
        .collect();
    assert_eq!(ids, [Some("call_a"), Some("call_b")]);
    assert_eq!(
        request.messages[1].functions_state_id.as_deref(),
        Some(state)
    );
    let answered: Vec<(Option<&str>, &str)> = request.messages[2..]
        .iter()
        .map(|m| (m.call_id.as_deref(), m.content.as_str()))
        .collect();
    assert_eq!(
        answered,
        [
            (Some("call_a"), r#"{"result":"one"}"#),
            (Some("call_b"), r#"{"result":"two"}"#)
        ]
    );
    assert_eq!(
        request.function_call,
        Some(FunctionCallMode::Any {
            names: vec!["a".into(), "b".into()]
        })
    );
    assert_eq!(request.parallel_tool_calls, Some(true));
    assert_eq!(
        upstream(body(json!(false))).parallel_tool_calls,
        Some(false)
    );
}

#[test]
fn grouped_calls_make_one_assistant_message_with_several_tool_calls() {
    let plan = plan(json!({"input": [
        {"role": "user", "content": "go"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "content": null, "encrypted_content": "E"},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "a", "arguments": "{\"x\":1}"},
        {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "b", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_2", "output": "two"},
        {"type": "function_call_output", "call_id": "call_1", "output": "one"}
    ], "tools": [
        {"type": "function", "name": "a", "parameters": {"type": "object"}, "strict": false},
        {"type": "function", "name": "b", "parameters": {"type": "object"}, "strict": null}
    ]}));
    let roles: Vec<_> = plan.chat.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "tool"]);
    let calls = plan.chat.messages[1].tool_calls.as_ref().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (
            calls[0].id.as_str(),
            calls[0].function.name.as_str(),
            calls[0].function.arguments.as_str()
        ),
        ("call_1", "a", "{\"x\":1}")
    );
    // Outputs follow in call order.
    assert_eq!(
        plan.chat.messages[2].tool_call_id.as_deref(),
        Some("call_1")
    );
    assert_eq!(
        plan.chat.messages[3].tool_call_id.as_deref(),
        Some("call_2")
    );
    let upstream = upstream(&plan).unwrap();
    let roles: Vec<_> = upstream.messages.iter().map(|m| m.role.clone()).collect();
    assert_eq!(
        roles,
        [
            GcRole::User,
            GcRole::Assistant,
            GcRole::Function,
            GcRole::Assistant,
            GcRole::Function
        ]
    );
    assert_eq!(upstream.messages[2].content, r#"{"result":"one"}"#);
}

#[test]
fn interleaved_calls_and_text_before_calls() {
    let plan = plan(json!({"input": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]},
        {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "r1"},
        {"type": "function_call", "call_id": "c2", "name": "a", "arguments": ""},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "r2"}]}
    ]}));
    let roles: Vec<_> = plan.chat.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant", "tool"]);
    assert!(plan.chat.messages[1].tool_calls.is_some());
    assert_eq!(
        plan.chat.messages[4].content,
        Some(MessageContent::Text("r2".into()))
    );
    let upstream = upstream(&plan).unwrap();
    assert_eq!(upstream.messages[1].content, "Let me look.");
}

#[test]
fn custom_tool_calls_and_outputs_become_tool_calls_of_a_string_function() {
    let plan = plan(json!({"input": [
        {"role": "user", "content": "patch it"},
        {"type": "custom_tool_call", "id": "ctc_1", "status": "completed", "call_id": "call_p1",
         "name": "apply_patch", "input": "*** Begin Patch\n*** End Patch\n"},
        {"type": "custom_tool_call_output", "id": "ctco_1", "call_id": "call_p1", "output": "Done"}
    ], "tools": [{"type": "custom", "name": "apply_patch", "description": "Edit files.",
        "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"}}]}));
    assert!(plan.answer.custom_tools.contains("apply_patch"));
    let call = &plan.chat.messages[1].tool_calls.as_ref().unwrap()[0];
    assert_eq!(
        serde_json::from_str::<Value>(&call.function.arguments).unwrap(),
        json!({"input": "*** Begin Patch\n*** End Patch\n"})
    );
    let function = plan.chat.tools.as_ref().unwrap()[0]
        .function
        .as_ref()
        .unwrap();
    assert_eq!(function.name, "apply_patch");
    let description = function.description.as_deref().unwrap();
    assert!(description.starts_with("Edit files."), "{description}");
    assert!(
        description.contains("lark grammar:\nstart: begin_patch"),
        "{description}"
    );
    assert_eq!(
        function.parameters.as_ref().unwrap().to_value().unwrap()["required"],
        json!(["input"])
    );
    let upstream = upstream(&plan).unwrap();
    assert_eq!(
        upstream.messages[1]
            .function_call
            .as_ref()
            .unwrap()
            .arguments,
        json!({"input": "*** Begin Patch\n*** End Patch\n"})
    );
}

#[test]
fn images_in_tool_outputs_follow_in_a_user_message() {
    let plan = plan(json!({"input": [
        {"role": "user", "content": "look at it"},
        {"type": "function_call", "call_id": "c1", "name": "view_image", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": [
            {"type": "input_image", "image_url": "data:image/png;base64,AA=="}]}
    ]}));
    let roles: Vec<_> = plan.chat.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "user"]);
    assert_eq!(
        plan.chat.messages[2].content,
        Some(MessageContent::Text(FILE_IN_NEXT_MESSAGE.into()))
    );
    let Some(MessageContent::Parts(parts)) = &plan.chat.messages[3].content else {
        panic!()
    };
    assert!(matches!(&parts[1], ContentPart::ImageUrl { url, .. } if url.starts_with("data:")));
    assert_eq!(plan.param("messages[3].content[1]"), "input[2]");
}

#[test]
fn unmatched_calls_and_outputs_name_their_items() {
    let err = refused(json!({"input": [
        {"role": "user", "content": "x"},
        {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{}"}
    ]}));
    assert_eq!(err.param.as_deref(), Some("input[1]"));
    assert!(err.message.contains("c1"), "{}", err.message);
    let err = refused(json!({"input": [
        {"role": "user", "content": "x"},
        {"type": "function_call_output", "call_id": "c9", "output": "?"}
    ]}));
    assert_eq!(err.param.as_deref(), Some("input[1].call_id"));
    let err = refused(json!({"input": [
        {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "[1]"},
        {"type": "function_call_output", "call_id": "c1", "output": "?"}
    ]}));
    assert_eq!(err.param.as_deref(), Some("input[0].arguments"));
    // Checked without a tree: what is not JSON is refused as well, an object after whitespace
    // (or no arguments at all) is taken.
    let err = refused(json!({"input": [
        {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{\"a\": oops}"},
        {"type": "function_call_output", "call_id": "c1", "output": "?"}
    ]}));
    assert_eq!(err.param.as_deref(), Some("input[0].arguments"));
    for arguments in [" \n{\"a\": [1, {}]}", "  "] {
        plan(json!({"input": [
            {"type": "function_call", "call_id": "c1", "name": "a", "arguments": arguments},
            {"type": "function_call_output", "call_id": "c1", "output": "?"}
        ]}));
    }
}

#[test]
fn item_references_resolve_to_history_or_earlier_items() {
    let history: Vec<InputItem> = serde_json::from_value(json!([
        {"type": "message", "id": "msg_old", "role": "user", "content": "remember 42"}
    ]))
    .unwrap();
    let plan = plan_with(
        json!({"input": [{"type": "item_reference", "id": "msg_old"}, {"role": "user", "content": "now?"}]}),
        &history,
    )
    .unwrap();
    let texts: Vec<_> = plan
        .chat
        .messages
        .iter()
        .map(|m| m.content.clone())
        .collect();
    assert_eq!(
        texts,
        [
            Some(MessageContent::Text("remember 42".into())),
            Some(MessageContent::Text("remember 42".into())),
            Some(MessageContent::Text("now?".into()))
        ]
    );
    assert_eq!(plan.param("messages[0]"), "previous_response_id");
    let err = refused(json!({"input": [{"id": "msg_nowhere"}]}));
    assert_eq!(err.param.as_deref(), Some("input[0].id"));
}

/// History from `previous_response_id` comes after the instructions and before the input.
#[test]
fn history_comes_first_and_text_input_last() {
    let history: Vec<InputItem> = serde_json::from_value(json!([
        {"role": "user", "content": "Q1"},
        {"type": "message", "id": "msg_1", "role": "assistant",
         "content": [{"type": "output_text", "text": "A1", "annotations": [], "logprobs": []}],
         "status": "completed"}
    ]))
    .unwrap();
    let plan = plan_with(json!({"instructions": "I", "input": "Q2"}), &history).unwrap();
    let upstream = upstream(&plan).unwrap();
    let texts: Vec<_> = upstream
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(texts, ["I", "Q1", "A1", "Q2"]);
}

#[test]
fn hosted_tools_are_left_out_and_named() {
    let plan = plan(json!({"input": "x", "tools": [
        {"type": "function", "name": "exec_command", "parameters": {"type": "object"}, "strict": false},
        {"type": "namespace", "name": "multi_agent_v1", "description": "d", "tools": [
            {"type": "function", "name": "spawn_agent"}]},
        {"type": "web_search", "external_web_access": true},
        {"type": "tool_search", "execution": "client"},
        {"type": "web_search", "external_web_access": false},
        {"type": "brand_new_tool"}
    ]}));
    assert_eq!(
        plan.dropped_tools,
        ["namespace", "web_search", "tool_search", "brand_new_tool"]
    );
    assert_eq!(plan.chat.tools.as_ref().unwrap().len(), 1);
    // Echoed as sent.
    assert_eq!(plan.answer.template.tools.len(), 6);
    assert!(LEFT_OUT_TOOL_TYPES.contains(&"namespace"));
}

#[test]
fn hosted_history_items_are_left_out() {
    let plan = plan(json!({"input": [
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
        {"role": "user", "content": "x"}
    ]}));
    assert_eq!(plan.dropped_items, ["web_search_call"]);
    assert_eq!(plan.chat.messages.len(), 1);
}

#[test]
fn tool_choice_forms_map() {
    let tools = json!([
        {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": true},
        {"type": "custom", "name": "g"},
        {"type": "web_search"}
    ]);
    let choice = |choice: serde_json::Value| {
        plan_with(
            json!({"input": "x", "tools": tools, "tool_choice": choice}),
            &[],
        )
    };
    assert_eq!(
        choice(json!("auto")).unwrap().chat.tool_choice,
        Some(ToolChoice::Auto)
    );
    assert_eq!(
        choice(json!("none")).unwrap().chat.tool_choice,
        Some(ToolChoice::None)
    );
    assert_eq!(
        choice(json!("required")).unwrap().chat.tool_choice,
        Some(ToolChoice::Required)
    );
    assert_eq!(
        choice(json!({"type": "function", "name": "f"}))
            .unwrap()
            .chat
            .tool_choice,
        Some(ToolChoice::Function("f".into()))
    );
    let custom = choice(json!({"type": "custom", "name": "g"})).unwrap();
    assert_eq!(
        custom.chat.tool_choice,
        Some(ToolChoice::Function("g".into()))
    );
    assert!(matches!(
        upstream(&custom).unwrap().function_call,
        Some(FunctionCallMode::Forced { name, .. }) if name == "g"
    ));
    let allowed = choice(json!({"type": "allowed_tools", "mode": "required",
        "tools": [{"type": "custom", "name": "g"}, {"type": "web_search"}]}))
    .unwrap();
    assert_eq!(allowed.chat.tool_choice, Some(ToolChoice::Required));
    let names: Vec<_> = allowed
        .chat
        .tools
        .as_ref()
        .unwrap()
        .iter()
        .map(|t| t.function.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["g"]);
    assert_eq!(allowed.param("tools[0].function.name"), "tools[1].name");
    // The echo keeps what was sent.
    assert_eq!(allowed.answer.template.tools.len(), 3);
    for forced_left_out in [
        json!({"type": "web_search_preview"}),
        json!({"type": "function", "name": "web_search"}),
        json!({"type": "allowed_tools", "mode": "required", "tools": [{"type": "web_search"}]}),
    ] {
        let err = choice(forced_left_out.clone()).unwrap_err();
        assert_eq!(
            err.param.as_deref(),
            Some("tool_choice"),
            "{forced_left_out}"
        );
    }
    let only_hosted = plan_with(
        json!({"input": "x", "tools": [{"type": "web_search"}], "tool_choice": "required"}),
        &[],
    )
    .unwrap_err();
    assert_eq!(only_hosted.param.as_deref(), Some("tool_choice"));
    assert!(
        only_hosted.message.contains("web_search"),
        "{}",
        only_hosted.message
    );
}

#[test]
fn settings_map_to_chat() {
    let plan = plan(json!({
        "input": "x", "max_output_tokens": 50, "temperature": 0.3, "top_p": 0.9,
        "parallel_tool_calls": false, "user": "u1", "prompt_cache_key": "thread-1",
        "reasoning": {"effort": "max", "summary": "auto"}, "stream": true,
        "metadata": {"k": "v"}, "text": {"format": {"type": "json_schema", "name": "out",
            "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}, "strict": true},
            "verbosity": "low"}
    }));
    let chat = &plan.chat;
    assert_eq!(chat.max_tokens, Some(50));
    assert_eq!((chat.temperature, chat.top_p), (Some(0.3), Some(0.9)));
    assert_eq!(chat.parallel_tool_calls, Some(false));
    assert_eq!(chat.user.as_deref(), Some("u1"));
    assert_eq!(chat.prompt_cache_key.as_deref(), Some("thread-1"));
    assert_eq!(
        chat.reasoning.as_ref().unwrap().effort.as_deref(),
        Some("xhigh")
    );
    assert_eq!(chat.stream, Some(true));
    assert_eq!(chat.stream_options.unwrap().include_usage, Some(true));
    assert!(matches!(
        &chat.response_format,
        Some(ResponseFormat::JsonSchema { json_schema }) if json_schema.name.as_deref() == Some("out")
    ));
    let upstream = upstream(&plan).unwrap();
    assert_eq!(upstream.max_tokens, Some(50));
    assert_eq!(upstream.reasoning_effort.as_deref(), Some("high"));
    assert!(upstream.response_format.is_some());
    let echo = &plan.answer.template;
    assert_eq!(echo.metadata.get("k").map(String::as_str), Some("v"));
    assert_eq!(echo.text.verbosity, Some(openai::responses::Verbosity::Low));
    assert!(!echo.parallel_tool_calls);
    let json_object =
        self::plan(json!({"input": "x", "text": {"format": {"type": "json_object"}}}));
    assert_eq!(
        json_object.chat.response_format,
        Some(ResponseFormat::JsonObject)
    );
}

#[test]
fn sessions_follow_the_chat_rules() {
    let request: CreateResponse = serde_json::from_value(
        json!({"input": "x", "prompt_cache_key": "thread-1", "safety_identifier": "s"}),
    )
    .unwrap();
    assert_eq!(session_id(&request, None).as_deref(), Some("thread-1"));
    assert_eq!(session_id(&request, Some("h")).as_deref(), Some("h"));
    let request: CreateResponse =
        serde_json::from_value(json!({"input": "x", "safety_identifier": "s"})).unwrap();
    assert_eq!(session_id(&request, None).as_deref(), Some("s"));
}

#[test]
fn unserved_options_are_refused_by_name() {
    for (body, param) in [
        (json!({"input": "x", "background": true}), "background"),
        (
            json!({"input": "x", "conversation": "conv_1"}),
            "conversation",
        ),
        (
            json!({"input": "x", "conversation": {"id": "conv_1"}}),
            "conversation",
        ),
        (json!({"input": "x", "prompt": {"id": "pmpt_1"}}), "prompt"),
    ] {
        assert_eq!(
            refused(body.clone()).param.as_deref(),
            Some(param),
            "{body}"
        );
    }
    assert!(
        plan_with(
            json!({"input": "x", "background": false, "conversation": null}),
            &[]
        )
        .is_ok()
    );
}

#[test]
fn chat_errors_are_renamed_to_responses_paths() {
    let plan = plan(json!({"input": [
        {"role": "user", "content": "x"},
        {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "a", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "1"},
        {"type": "function_call_output", "call_id": "c2", "output": "2"},
        {"role": "user", "content": [{"type": "input_text", "text": "y"}, {"type": "input_image", "image_url": "https://x/y.png"}]}
    ], "tools": [{"type": "web_search"}, {"type": "function", "name": "a", "parameters": {"type": "object"}, "strict": false}],
       "max_output_tokens": 0, "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "string"}}}}));
    assert_eq!(
        plan.param("messages[1].tool_calls[1].function.arguments"),
        "input[2]"
    );
    assert_eq!(plan.param("messages[3]"), "input[4]");
    assert_eq!(plan.param("messages[4].content[1]"), "input[5].content[1]");
    assert_eq!(plan.param("messages"), "input");
    assert_eq!(
        plan.param("tools[0].function.parameters.type"),
        "tools[1].parameters.type"
    );
    assert_eq!(
        plan.param("response_format.json_schema.schema"),
        "text.format.schema"
    );
    assert_eq!(plan.param("temperature"), "temperature");
    // The chat path's own checks come back with these names: a file part not attached...
    let err = upstream(&plan).unwrap_err();
    assert_eq!(err.param.as_deref(), Some("input[5].content[1]"));
    // ...and an output cap of 0.
    let zero = self::plan(json!({"input": "x", "max_output_tokens": 0}));
    assert_eq!(
        upstream(&zero).unwrap_err().param.as_deref(),
        Some("max_output_tokens")
    );
    let empty = self::plan(json!({"input": []}));
    assert_eq!(
        upstream(&empty).unwrap_err().param.as_deref(),
        Some("input")
    );
}
