use super::*;
use gigachat_types::Role as GcRole;
use proptest::strategy::Strategy;
use serde_json::{Value, json};

fn request(body: Value) -> MessagesRequest {
    serde_json::from_value(body).unwrap()
}

fn plan(body: Value) -> MessagesPlan {
    plan_on(body, Contract::V1).unwrap()
}

fn plan_on(body: Value, contract: Contract) -> Result<MessagesPlan, TranslateError> {
    messages_request(request(body))?.for_contract(contract)
}

fn refused(body: Value) -> TranslateError {
    plan_on(body, Contract::V1).unwrap_err()
}

fn parts(message: &ChatMessage) -> &[ContentPart] {
    match &message.content {
        Some(MessageContent::Parts(parts)) => parts,
        other => panic!("parts expected, got {other:?}"),
    }
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[test]
fn max_tokens_is_required_but_not_to_count_tokens() {
    let body = json!({"messages": [user("hi")]});
    let error = refused(body.clone());
    assert_eq!(error.param.as_deref(), Some("max_tokens"));
    assert!(error.message.contains("required"), "{}", error.message);
    assert!(count_tokens_request(request(body)).is_ok());
    assert_eq!(
        plan(json!({"max_tokens": 7, "messages": [user("hi")]}))
            .chat
            .max_tokens,
        Some(7)
    );
}

#[test]
fn system_as_a_string_or_text_blocks_is_the_system_message() {
    for system in [
        json!("Be brief.\n\nAnswer in French."),
        json!([{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Answer in French."}]),
    ] {
        let chat = plan(json!({"max_tokens": 1, "system": system, "messages": [user("hi")]})).chat;
        assert_eq!(chat.messages[0].role, "system");
        assert_eq!(
            chat.messages[0].content,
            Some(MessageContent::Text(
                "Be brief.\n\nAnswer in French.".into()
            ))
        );
        assert_eq!(chat.messages[1].role, "user");
    }
}

#[test]
fn images_and_documents_become_attachment_parts() {
    let chat = plan(json!({"max_tokens": 1, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}, "title": "a.pdf"},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}, "title": "Notes"},
        {"type": "image", "source": {"type": "file", "file_id": "file-1"}},
        {"type": "search_result", "source": "https://example.com", "title": "Example", "content": [{"type": "text", "text": "found it"}]}
    ]}]}))
    .chat;
    let parts = parts(&chat.messages[0]);
    assert_eq!(
        parts[1],
        ContentPart::ImageUrl {
            url: "data:image/png;base64,iVBORw==".into(),
            detail: None
        }
    );
    assert_eq!(
        parts[2],
        ContentPart::ImageUrl {
            url: "https://example.com/a.png".into(),
            detail: None
        }
    );
    assert_eq!(
        parts[3],
        ContentPart::File {
            file_id: None,
            file_data: Some("JVBERi0=".into()),
            filename: Some("document.pdf".into())
        }
    );
    assert_eq!(
        parts[4],
        ContentPart::FileUrl {
            url: "https://example.com/a.pdf".into(),
            filename: Some("a.pdf".into())
        }
    );
    assert_eq!(
        parts[5],
        ContentPart::Text {
            text: "Notes\n\nplain words".into()
        }
    );
    assert_eq!(parts[6], file_part("file-1".to_owned()));
    assert_eq!(
        parts[7],
        ContentPart::Text {
            text: "Search result: Example (https://example.com)\nfound it".into()
        }
    );
}

#[test]
fn a_tool_round_trip_becomes_tool_calls_and_tool_messages() {
    let plan = plan(json!({"max_tokens": 100,
    "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
    "messages": [
        user("Weather in Paris and Rome?"),
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should call the tool", "signature": "s"},
            {"type": "redacted_thinking", "data": "x"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_0123456789abcdef0123456789abcdef", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {"city": "Rome"}}
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_0123456789abcdef0123456789abcdef", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_b", "content": [{"type": "text", "text": "no data"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}}], "is_error": true},
            {"type": "text", "text": "Thanks"}
        ]}
    ]}));
    let chat = &plan.chat;
    let tools = chat.tools.as_ref().unwrap();
    assert_eq!(tools[0].function.as_ref().unwrap().name, "get_weather");
    let assistant = &chat.messages[1];
    assert_eq!(
        assistant.content,
        Some(MessageContent::Text("Checking.".into()))
    );
    let calls = assistant.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].id, "call_0123456789abcdef0123456789abcdef");
    assert_eq!(calls[0].function.arguments, r#"{"city":"Paris"}"#);
    assert_eq!(calls[1].id, "call_b");
    assert_eq!(chat.messages[2].role, "tool");
    assert_eq!(
        chat.messages[2].tool_call_id.as_deref(),
        Some(calls[0].id.as_str())
    );
    assert_eq!(
        chat.messages[3].content,
        Some(MessageContent::Text("The tool call failed: no data".into()))
    );
    // The tool's image and the turn's text follow the results, in a user message.
    assert_eq!(chat.messages[4].role, "user");
    let user_parts = parts(&chat.messages[4]);
    assert!(matches!(user_parts[0], ContentPart::ImageUrl { .. }));
    assert_eq!(
        plan.param("messages[4].content[0]"),
        "messages[2].content[1].content[1]"
    );
    assert_eq!(
        plan.param("messages[4].content[1]"),
        "messages[2].content[2]"
    );
    assert_eq!(
        plan.param("messages[1].tool_calls[1]"),
        "messages[1].content[4]"
    );

    // The chat path serves it: GigaChat gets call/result pairs, the state id carried over.
    let defaults = ChatDefaults {
        default_model: "GigaChat-2-Max".into(),
        ..ChatDefaults::default()
    };
    let text_only = ChatCompletionRequest {
        messages: chat.messages[..4].to_vec(),
        ..chat.clone()
    };
    let upstream = crate::chat_request(&text_only, &defaults, &crate::ResolvedParts::new())
        .unwrap()
        .upstream;
    let roles: Vec<GcRole> = upstream.messages.iter().map(|m| m.role.clone()).collect();
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
    assert_eq!(
        upstream.messages[1].functions_state_id.as_deref(),
        Some("01234567-89ab-cdef-0123-456789abcdef")
    );
}

/// On v2, `tool_use` blocks GigaChat made at once keep their ids through the `toolu_` rewrite:
/// they go back as one assistant message with both calls, each result naming its call; `any`
/// is v2's `any` and `disable_parallel_tool_use` turns parallel calls off.
#[test]
fn v2_parallel_tool_use_blocks_go_back_together() {
    let state = "0199e210-2f13-744c-8fe5-c9a19fe27db7";
    let tool_use = |call: &str, position| {
        crate::anthropic::tool_use_id(&crate::tools::call_id(
            Some(state),
            Some(call),
            position,
            "x",
        ))
    };
    let (first, second) = (tool_use("call_a", 0), tool_use("call_b", 1));
    let body = |choice: Value| {
        json!({"max_tokens": 100, "tool_choice": choice,
        "tools": [
            {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
            {"name": "get_rate", "input_schema": {"type": "object", "properties": {}}}
        ],
        "messages": [
            user("Weather and rate?"),
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": first, "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": second, "name": "get_rate", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": second, "content": "90"},
                {"type": "tool_result", "tool_use_id": first, "content": "sunny"}
            ]}
        ]})
    };
    let v2 = crate::ChatDefaults {
        contract: gigachat_types::Contract::V2,
        ..crate::ChatDefaults::default()
    };
    let upstream = |body| {
        crate::chat_request(&plan(body).chat, &v2, &crate::ResolvedParts::new())
            .unwrap()
            .upstream
    };
    let request = upstream(body(json!({"type": "any"})));
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
    assert_eq!(request.messages[2].call_id.as_deref(), Some("call_a"));
    assert_eq!(request.messages[2].content, r#"{"result":"sunny"}"#);
    assert_eq!(request.messages[3].call_id.as_deref(), Some("call_b"));
    assert_eq!(
        request.function_call,
        Some(gigachat_types::FunctionCallMode::Any {
            names: vec!["get_weather".into(), "get_rate".into()]
        })
    );
    assert_eq!(request.parallel_tool_calls, Some(true));
    let single = upstream(body(
        json!({"type": "auto", "disable_parallel_tool_use": true}),
    ));
    assert_eq!(single.parallel_tool_calls, Some(false));
}

#[test]
fn server_tools_are_left_out_and_listed() {
    let plan = plan(json!({"max_tokens": 1, "messages": [user("hi")], "tools": [
        {"type": "web_search_20250305", "name": "web_search"},
        {"name": "Read", "input_schema": {"type": "object"}},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "web_search_20250305", "name": "web_search_2"},
        {"type": "custom", "name": "Write", "input_schema": {"type": "object"}}
    ]}));
    assert_eq!(plan.dropped_tools, ["web_search_20250305", "bash_20250124"]);
    let names: Vec<&str> = plan
        .chat
        .tools
        .iter()
        .flatten()
        .filter_map(|tool| tool.function.as_ref().map(|f| f.name.as_str()))
        .collect();
    assert_eq!(names, ["Read", "Write"]);
    assert_eq!(
        plan.param("tools[1].function.parameters.properties"),
        "tools[4].input_schema.properties"
    );
}

#[test]
fn tool_choice_forms() {
    let with = |choice: Value| {
        plan(
            json!({"max_tokens": 1, "messages": [user("hi")], "tool_choice": choice,
            "tools": [{"name": "Read", "input_schema": {"type": "object"}}]}),
        )
        .chat
    };
    assert_eq!(
        with(json!({"type": "auto"})).tool_choice,
        Some(ToolChoice::Auto)
    );
    assert_eq!(
        with(json!({"type": "any"})).tool_choice,
        Some(ToolChoice::Required)
    );
    assert_eq!(
        with(json!({"type": "none"})).tool_choice,
        Some(ToolChoice::None)
    );
    let forced = with(json!({"type": "tool", "name": "Read", "disable_parallel_tool_use": true}));
    assert_eq!(
        forced.tool_choice,
        Some(ToolChoice::Function("Read".into()))
    );
    assert_eq!(forced.parallel_tool_calls, Some(false));
    assert_eq!(with(json!({"type": "auto"})).parallel_tool_calls, None);
}

#[test]
fn forcing_a_tool_that_is_not_served_is_refused_naming_tool_choice() {
    let body = |choice: Value| {
        json!({"max_tokens": 1, "messages": [user("hi")], "tool_choice": choice, "tools": [
            {"type": "web_search_20250305", "name": "web_search"}
        ]})
    };
    let server = refused(body(json!({"type": "tool", "name": "web_search"})));
    assert_eq!(server.param.as_deref(), Some("tool_choice"));
    assert!(
        server.message.contains("GIGACHAT_API_VERSION=2"),
        "{}",
        server.message
    );
    let unknown = refused(body(json!({"type": "tool", "name": "nope"})));
    assert_eq!(unknown.param.as_deref(), Some("tool_choice"));
    let any = refused(body(json!({"type": "any"})));
    assert_eq!(any.param.as_deref(), Some("tool_choice"));
    let nameless = refused(body(json!({"type": "tool"})));
    assert_eq!(nameless.param.as_deref(), Some("tool_choice.name"));
}

#[test]
fn sampling_stop_and_user_settings() {
    let plan = plan(
        json!({"max_tokens": 1, "messages": [user("hi")], "temperature": 0.3,
        "top_p": 0.9, "top_k": 4, "metadata": {"user_id": "user_abc"}, "stream": true,
        "stop_sequences": ["END"], "thinking": {"type": "adaptive"}, "service_tier": "auto"}),
    );
    let chat = &plan.chat;
    assert_eq!(chat.temperature, Some(0.3));
    assert_eq!(chat.top_p, Some(0.9));
    assert_eq!(chat.user.as_deref(), Some("user_abc"));
    assert_eq!(chat.stream, Some(true));
    assert_eq!(chat.stream_options.unwrap().include_usage, Some(true));
    // A stream is cut (and GigaChat cancelled) by the chat stream.
    assert_eq!(chat.stop, Some(Stop::Many(vec!["END".into()])));
    assert_eq!(plan.param("stop"), "stop_sequences");
    let request = request(json!({"messages": [], "metadata": {"user_id": "user_abc"}}));
    assert_eq!(session_id(&request, None).as_deref(), Some("user_abc"));
    assert_eq!(session_id(&request, Some("s-1")).as_deref(), Some("s-1"));
}

#[test]
fn chat_errors_are_renamed_to_the_blocks_they_came_from() {
    let plan = plan(json!({"max_tokens": 1, "system": "s", "messages": [
        user("a"),
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": [{"type": "text", "text": "c"}, {"type": "image", "source": {"type": "url", "url": "http://10.0.0.1/x.png"}}]}
    ]}));
    assert_eq!(
        plan.param("messages[3].content[1]"),
        "messages[2].content[1]"
    );
    assert_eq!(plan.param("messages[1]"), "messages[0]");
    assert_eq!(plan.param("messages[0]"), "system");
    assert_eq!(plan.param("max_completion_tokens"), "max_tokens");
    assert_eq!(
        plan.error(TranslateError::invalid("messages[2].content", "x"))
            .param
            .as_deref(),
        Some("messages[1]")
    );
}

#[test]
fn thinking_asks_for_reasoning_with_its_budget() {
    let reasoning = |thinking: Value| {
        plan(json!({"max_tokens": 30000, "thinking": thinking, "messages": [user("hi")]}))
            .chat
            .reasoning
            .map(|r| (r.effort, r.max_tokens))
    };
    let some = |effort: &str, budget: Option<u32>| Some((Some(effort.to_owned()), budget));
    assert_eq!(
        reasoning(json!({"type": "enabled", "budget_tokens": 1024})),
        some("low", Some(1024))
    );
    assert_eq!(
        reasoning(json!({"type": "enabled", "budget_tokens": 8000})),
        some("medium", Some(8000))
    );
    assert_eq!(
        reasoning(json!({"type": "enabled", "budget_tokens": 16384})),
        some("high", Some(16384))
    );
    assert_eq!(reasoning(json!({"type": "adaptive"})), some("medium", None));
    assert_eq!(reasoning(json!({"type": "disabled"})), None);
    let error = refused(
        json!({"max_tokens": 1, "thinking": {"type": "sometimes"}, "messages": [user("hi")]}),
    );
    assert_eq!(error.param.as_deref(), Some("thinking.type"));
}

#[test]
fn a_zero_budget_is_named_as_thinking_budget_tokens() {
    let plan = plan(
        json!({"max_tokens": 10, "thinking": {"type": "enabled", "budget_tokens": 0},
        "messages": [user("hi")]}),
    );
    let error = crate::chat_request(
        &plan.chat,
        &crate::ChatDefaults::default(),
        &crate::ResolvedParts::new(),
    )
    .unwrap_err();
    assert_eq!(
        plan.error(error).param.as_deref(),
        Some("thinking.budget_tokens")
    );
}

/// Under v2 the web search server tool is GigaChat's built-in web search, and can be forced.
#[test]
fn web_search_server_tools_are_served_on_v2() {
    let body = |choice: Value| {
        json!({"max_tokens": 1, "messages": [user("hi")], "tool_choice": choice, "tools": [
            {"type": "web_search_20250305", "name": "web_search"},
            {"type": "bash_20250124", "name": "bash"},
            {"type": "web_search_20260209", "name": "web_search"}
        ]})
    };
    let plan = plan_on(body(json!({"type": "auto"})), Contract::V2).unwrap();
    assert_eq!(plan.dropped_tools, ["bash_20250124"]);
    assert_eq!(plan.chat.builtin_tools, [HostedTool::WebSearch]);
    assert_eq!(plan.chat.builtin_tool_choice, None);
    let forced = plan_on(
        body(json!({"type": "tool", "name": "web_search"})),
        Contract::V2,
    )
    .unwrap();
    assert_eq!(forced.chat.builtin_tool_choice, Some(HostedTool::WebSearch));
    let v1 = plan_on(body(json!({"type": "auto"})), Contract::V1).unwrap();
    assert_eq!(
        v1.dropped_tools,
        [
            "web_search_20250305",
            "bash_20250124",
            "web_search_20260209"
        ]
    );
    assert!(v1.chat.builtin_tools.is_empty());
}

proptest::proptest! {
    /// The joined text of a block list is chat's text of the same parts (text parts only,
    /// joined with newlines), whether it moves one text out or joins several.
    #[test]
    fn joined_text_is_the_chat_text_of_the_parts(
        parts in proptest::collection::vec(
            proptest::prop_oneof![
                "[a-zж\n ]{0,8}".prop_map(|text| ContentPart::Text { text }),
                "[a-z]{0,8}".prop_map(|refusal| ContentPart::Refusal { refusal }),
                "[a-z]{1,8}".prop_map(file_part),
            ],
            0..5,
        )
    ) {
        let expected = MessageContent::Parts(parts.clone()).text();
        let mut built = Parts::default();
        for part in parts {
            built.push(part, JsonPath::field("p"));
        }
        proptest::prop_assert_eq!(built.joined_text(), expected);
    }
}
