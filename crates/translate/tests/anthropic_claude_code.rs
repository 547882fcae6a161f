//! Requests Claude Code 2.1.197 really sent (`tests/fixtures/claude-code-2.1.197-*.json`: the second
//! request of a `Write` round trip, captured against a stub, long strings trimmed, the key redacted)
//! parse with the `anthropic` wire types and map through the chat path with every block and tool
//! handled: its system blocks, text blocks, `tool_use`, `tool_result` with `cache_control`, 24
//! custom tools, `thinking`, `context_management`, `output_config`, `metadata.user_id`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;

use anthropic::request::{Content, ContentBlock, MessagesRequest, Role, ToolDefinition};
use gigachat_types::Role as GcRole;
use serde_json::{Value, json};
use translate::anthropic::messages_request;
use translate::{ChatDefaults, ResolvedParts, chat_request};

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let capture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(capture["path"], "/v1/messages?beta=true");
    capture["body"].clone()
}

fn defaults() -> ChatDefaults {
    ChatDefaults {
        contract: Default::default(),
        default_model: "GigaChat".into(),
        aliases: HashMap::from([("claude-*".into(), "GigaChat-2-Max".into())]),
        builtin_functions: false,
    }
}

/// The block kinds of each turn, in order (`system` turns as `system:text`).
fn block_kinds(request: &MessagesRequest) -> Vec<(Role, Vec<&'static str>)> {
    request
        .messages
        .iter()
        .map(|turn| {
            let kinds = match &turn.content {
                Content::Text(_) => vec!["string"],
                Content::Blocks(blocks) => blocks
                    .iter()
                    .map(|block| match block {
                        ContentBlock::Text { .. } => "text",
                        ContentBlock::ToolUse { .. } => "tool_use",
                        ContentBlock::ToolResult { .. } => "tool_result",
                        other => panic!("a block kind the fixture does not have: {other:?}"),
                    })
                    .collect(),
            };
            (turn.role, kinds)
        })
        .collect()
}

/// Every tool is a custom tool served as a function, or a server tool left out by its type.
fn assert_every_tool_handled(request: &MessagesRequest, served: &[String], dropped: &[String]) {
    for tool in request.tools.as_deref().unwrap() {
        match tool {
            ToolDefinition::Custom(custom) => {
                assert!(served.contains(&custom.name), "{} not served", custom.name)
            }
            ToolDefinition::Server { kind, .. } => {
                assert!(dropped.contains(kind), "{kind} not left out by name")
            }
        }
    }
}

#[test]
fn claude_code_tool_result_turn_maps_with_every_block_and_tool_handled() {
    let body = fixture("claude-code-2.1.197-claude-model-turn2-tool-result.json");
    // The keys Claude Code sends beside the ones the gateway reads: accepted and ignored.
    for key in [
        "thinking",
        "context_management",
        "output_config",
        "metadata",
    ] {
        assert!(body.get(key).is_some(), "the capture has {key}");
    }
    let request: MessagesRequest = serde_json::from_value(body).unwrap();
    assert_eq!(request.max_tokens, Some(64000));
    assert_eq!(request.stream, Some(true));
    assert_eq!(request.thinking.as_ref().unwrap().kind, "adaptive");
    assert_eq!(
        block_kinds(&request),
        [
            (Role::User, vec!["text", "text", "text", "text"]),
            (Role::Assistant, vec!["tool_use"]),
            (Role::User, vec!["tool_result"]),
        ]
    );
    assert_eq!(request.tools.as_ref().unwrap().len(), 24);

    let plan = messages_request(request.clone()).unwrap();
    assert!(
        plan.dropped_tools.is_empty(),
        "Claude Code's tools are all custom"
    );
    let served: Vec<String> = plan
        .chat
        .tools
        .as_ref()
        .unwrap()
        .iter()
        .map(|tool| tool.function.as_ref().unwrap().name.clone())
        .collect();
    assert_every_tool_handled(&request, &served, &plan.dropped_tools);
    assert!(plan.chat.user.as_deref().unwrap().contains("session_id"));

    let chat = chat_request(&plan.chat, &defaults(), &ResolvedParts::new())
        .map_err(|err| plan.error(err))
        .unwrap();
    assert!(chat.stream && chat.include_usage);
    let upstream = &chat.upstream;
    assert_eq!(upstream.model, "GigaChat-2-Max");
    assert_eq!(upstream.functions.as_ref().unwrap().len(), 24);
    let roles: Vec<_> = upstream.messages.iter().map(|m| m.role.clone()).collect();
    assert_eq!(
        roles,
        [
            GcRole::System,
            GcRole::User,
            GcRole::Assistant,
            GcRole::Function
        ]
    );
    let system = &upstream.messages[0].content;
    assert!(system.contains("x-anthropic-billing-header"), "{system}");
    assert!(system.contains("You are a Claude agent"), "{system}");
    let prompt = &upstream.messages[1].content;
    assert!(
        prompt.contains("<system-reminder>") && prompt.ends_with("Write hi to out.txt"),
        "{prompt}"
    );
    let call = upstream.messages[2].function_call.as_ref().unwrap();
    assert_eq!(call.name, "Write");
    assert_eq!(
        call.arguments,
        json!({"file_path": "/tmp/claude-work/out.txt", "content": "hi"})
    );
    let result = &upstream.messages[3];
    assert_eq!(result.name.as_deref(), Some("Write"));
    // Not JSON, so the chat path wraps it as GigaChat wants a function result.
    let wrapped: Value = serde_json::from_str(&result.content).unwrap();
    assert!(
        wrapped["result"]
            .as_str()
            .unwrap()
            .starts_with("File created successfully"),
        "{wrapped}"
    );
}

/// Given a model name it does not know, Claude Code sends its agent list as a `system` turn after
/// the user's (beta `mid-conversation-system-2026-04-07`): it is read and sent on as text.
#[test]
fn claude_code_mid_conversation_system_turn_is_accepted() {
    let body = fixture("claude-code-2.1.197-gigachat-model-turn2-mid-conversation-system.json");
    assert_eq!(body["messages"][1]["role"], "system");
    let request: MessagesRequest = serde_json::from_value(body).unwrap();
    assert_eq!(
        block_kinds(&request),
        [
            (Role::User, vec!["text", "text"]),
            (Role::System, vec!["string"]),
            (Role::Assistant, vec!["tool_use"]),
            (Role::User, vec!["tool_result"]),
        ]
    );
    let plan = messages_request(request).unwrap();
    let roles: Vec<_> = plan.chat.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "system", "assistant", "tool"]);
    let chat = chat_request(&plan.chat, &defaults(), &ResolvedParts::new())
        .map_err(|err| plan.error(err))
        .unwrap();
    assert_eq!(chat.upstream.model, "GigaChat-2-Max");
    let agents = chat
        .upstream
        .messages
        .iter()
        .find(|m| m.content.starts_with("Available agent types"))
        .expect("the system turn's text goes upstream");
    assert_eq!(agents.role, GcRole::User);
}
