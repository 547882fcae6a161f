//! v2 SSE events in order (reasoning, tool events, calls, text, done) and their configured variants.

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use super::answer::{self, OutMessage, Usage};
use crate::api::chat::Reply;
use crate::api::stream::Pacing;
use crate::config::EmulatorConfig;

/// Pieces a call's arguments are cut into when they are streamed as fragments.
const ARGUMENT_FRAGMENTS: usize = 3;

/// The event of answer text, reasoning, calls and files.
const DELTA: &str = "response.message.delta";

/// Seconds a running built-in tool reports left in `response.tool.in_progress`.
const TOOL_SECONDS_LEFT: u64 = 1;

#[derive(Serialize)]
struct Delta<'a> {
    model: &'a str,
    created_at: &'a Value,
    messages: [OutMessage<'a>; 1],
}

#[derive(Serialize)]
struct Done<'a> {
    model: &'a str,
    created_at: &'a Value,
    finish_reason: &'a str,
    usage: Usage,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_details: Option<&'a Value>,
}

#[derive(Serialize)]
struct ErrorEvent<'a> {
    model: &'a str,
    created_at: &'a Value,
    error: &'a Value,
}

/// `event: NAME\ndata: JSON\n\n`, or only the data line when events are unnamed.
fn sse(name: &str, payload: &impl Serialize, unnamed: bool) -> Bytes {
    let mut out = if unnamed {
        b"data: ".to_vec()
    } else {
        format!("event: {name}\ndata: ").into_bytes()
    };
    if serde_json::to_writer(&mut out, payload).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// `text` cut into `pieces` parts at character boundaries (fewer when it is shorter).
fn fragments(text: &str, pieces: usize) -> Vec<&str> {
    let chars: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let step = chars.len().div_ceil(pieces.max(1)).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    for boundary in chars.iter().skip(step).step_by(step) {
        out.push(text.get(start..*boundary).unwrap_or(""));
        start = *boundary;
    }
    out.push(text.get(start..).unwrap_or(""));
    out
}

/// The `function_call` parts a call is streamed as: whole, or its compact arguments in string
/// fragments keyed by its id (the first fragment also has the name).
fn call_parts(call: &Value, config: &EmulatorConfig) -> Vec<Value> {
    if !config.v2_call_argument_fragments {
        return vec![json!({ "function_call": call })];
    }
    let arguments = call
        .get("arguments")
        .map(Value::to_string)
        .unwrap_or_default();
    fragments(&arguments, ARGUMENT_FRAGMENTS)
        .into_iter()
        .enumerate()
        .map(|(index, piece)| {
            let mut fragment = serde_json::Map::new();
            if let Some(id) = call.get("id") {
                fragment.insert("id".to_owned(), id.clone());
            }
            if index == 0
                && let Some(name) = call.get("name")
            {
                fragment.insert("name".to_owned(), name.clone());
            }
            fragment.insert("arguments".to_owned(), json!(piece));
            json!({ "function_call": fragment })
        })
        .collect()
}

/// The v2 events of a reply, in order, each with the delay before it.
pub(super) fn events(
    reply: &Reply,
    state_id: Option<&str>,
    pacing: &Pacing,
    config: &EmulatorConfig,
) -> Vec<(Duration, Bytes)> {
    let unnamed = config.v2_stream_unnamed_events;
    let created_at = answer::created_at(reply, config);
    let mut out: Vec<(Duration, Bytes)> = Vec::new();
    let mut state_sent = false;
    let mut push = |name: &str, role: &'static str, content: Vec<Value>| {
        let tool_state_id = if role == "assistant" && !state_sent {
            state_sent = true;
            state_id
        } else {
            None
        };
        let delta = Delta {
            model: &reply.model,
            created_at: &created_at,
            messages: [OutMessage {
                role,
                tool_state_id,
                content,
            }],
        };
        let delay = if out.is_empty() {
            pacing.first_delay
        } else {
            pacing.gap
        };
        out.push((delay, sse(name, &delta, unnamed)));
    };
    let answer = &reply.answer;
    if let Some(reasoning) = &answer.reasoning {
        for group in pacing.groups(reasoning) {
            push(DELTA, "reasoning", vec![json!({ "text": group })]);
        }
    }
    if let Some(run) = &answer.tool {
        let running = json!({"name": run.name, "seconds_left": TOOL_SECONDS_LEFT});
        push(
            "response.tool.in_progress",
            "reasoning",
            vec![json!({ "tool_execution": running })],
        );
        let done = json!({"name": run.name, "status": "success", "censored": false});
        push(
            "response.tool.completed",
            "reasoning",
            vec![json!({ "tool_execution": done })],
        );
    }
    for call in &answer.calls {
        for part in call_parts(call, config) {
            push(DELTA, "assistant", vec![part]);
        }
    }
    if answer.calls.is_empty() {
        if let Some(part) = answer::file_part(reply) {
            push(DELTA, "assistant", vec![part]);
        }
        let mut inline_data = answer::inline_data(reply);
        for group in pacing.groups(answer::text_of(reply)) {
            push(
                DELTA,
                "assistant",
                vec![answer::text_part(&group, inline_data.take())],
            );
        }
    }
    if let Some(details) = &answer.error_details
        && config.v2_stream_error_event
    {
        let error = ErrorEvent {
            model: &reply.model,
            created_at: &created_at,
            error: details,
        };
        out.push((pacing.gap, sse("response.error", &error, unnamed)));
    }
    let done = Done {
        model: &reply.model,
        created_at: &created_at,
        finish_reason: answer.finish_reason,
        usage: answer::usage(reply),
        error_details: answer.error_details.as_ref(),
    };
    out.push((pacing.gap, sse("response.message.done", &done, unnamed)));
    if config.v2_stream_done_marker {
        out.push((Duration::ZERO, Bytes::from_static(b"data: [DONE]\n\n")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_rebuild_the_text() {
        let text = r#"{"city":"Казань","n":1}"#;
        let pieces = fragments(text, 3);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.concat(), text);
        assert_eq!(fragments("{}", 3).concat(), "{}");
        assert_eq!(fragments("", 3), [""]);
    }
}
