//! The v2 answer's parts and non-streaming body (reasoning message, calls, files, cited text, usage).

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::api::chat::Reply;
use crate::config::EmulatorConfig;

#[derive(Serialize)]
struct Details {
    prompt_tokens: usize,
    cached_tokens: usize,
}

/// v2 usage, keys in recorded order.
#[derive(Serialize)]
pub(super) struct Usage {
    input_tokens: usize,
    input_tokens_details: Details,
    output_tokens: usize,
    total_tokens: usize,
}

/// The reply's usage in v2 form (`input_tokens` leaves the cached part out, as v1's prompt tokens).
pub(super) fn usage(reply: &Reply) -> Usage {
    Usage {
        input_tokens: reply.usage.prompt_tokens,
        input_tokens_details: Details {
            prompt_tokens: reply.usage.prompt_tokens,
            cached_tokens: reply.usage.precached_prompt_tokens,
        },
        output_tokens: reply.usage.completion_tokens,
        total_tokens: reply.usage.total_tokens,
    }
}

/// `created_at`: Unix seconds, as a number (recorded) or a numeric string (`v2_created_at_string`).
pub(super) fn created_at(reply: &Reply, config: &EmulatorConfig) -> Value {
    if config.v2_created_at_string {
        json!(reply.created.to_string())
    } else {
        json!(reply.created)
    }
}

/// One message of `messages[]`.
#[derive(Serialize)]
pub(super) struct OutMessage<'a> {
    /// `assistant` or `reasoning`.
    pub(super) role: &'static str,
    /// The state id of calls and tool output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_state_id: Option<&'a str>,
    /// The parts.
    pub(super) content: Vec<Value>,
}

/// A `{"text": …}` part, with the tool's `inline_data` in the same part (as recorded for web search).
pub(super) fn text_part(text: &str, inline_data: Option<&Value>) -> Value {
    let mut part = Map::new();
    part.insert("text".to_owned(), json!(text));
    if let Some(inline_data) = inline_data {
        part.insert("inline_data".to_owned(), inline_data.clone());
    }
    Value::Object(part)
}

/// The `files` part of a generated file.
pub(super) fn file_part(reply: &Reply) -> Option<Value> {
    reply
        .answer
        .file
        .as_ref()
        .map(|file| json!({"files": [{"id": file.id, "mime": file.mime, "target": file.target}]}))
}

/// The answer's text without the v1 image tag.
pub(super) fn text_of(reply: &Reply) -> &str {
    reply
        .answer
        .content
        .get(reply.answer.caption_start..)
        .unwrap_or("")
}

/// The `inline_data` of the tool that ran, if it shows any.
pub(super) fn inline_data(reply: &Reply) -> Option<&Value> {
    reply
        .answer
        .tool
        .as_ref()
        .and_then(|run| run.inline_data.as_ref())
}

/// The assistant's parts: one `function_call` per call, or the file then the text.
fn assistant_parts(reply: &Reply) -> Vec<Value> {
    let calls = &reply.answer.calls;
    if !calls.is_empty() {
        return calls
            .iter()
            .map(|c| json!({ "function_call": c }))
            .collect();
    }
    let mut parts: Vec<Value> = file_part(reply).into_iter().collect();
    parts.push(text_part(text_of(reply), inline_data(reply)));
    parts
}

/// The non-streaming body, keys in recorded order (`error_details` after an in-band failure).
#[derive(Serialize)]
pub(super) struct Response<'a> {
    model: &'a str,
    created_at: Value,
    messages: Vec<OutMessage<'a>>,
    finish_reason: &'a str,
    usage: Usage,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_details: Option<&'a Value>,
}

/// The non-streaming answer: the reasoning message (if any) before the assistant's.
pub(super) fn body<'a>(
    reply: &'a Reply,
    state_id: Option<&'a str>,
    config: &EmulatorConfig,
) -> Response<'a> {
    let mut messages = Vec::with_capacity(2);
    if let Some(reasoning) = &reply.answer.reasoning {
        messages.push(OutMessage {
            role: "reasoning",
            tool_state_id: None,
            content: vec![text_part(reasoning, None)],
        });
    }
    messages.push(OutMessage {
        role: "assistant",
        tool_state_id: state_id,
        content: assistant_parts(reply),
    });
    Response {
        model: &reply.model,
        created_at: created_at(reply, config),
        messages,
        finish_reason: reply.answer.finish_reason,
        usage: usage(reply),
        error_details: reply.answer.error_details.as_ref(),
    }
}
