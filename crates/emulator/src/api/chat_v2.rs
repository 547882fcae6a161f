//! `POST /api/v2/chat/completions`, the "primary" contract: content parts, `model_options`, `tools`
//! and `tool_config` in; `messages`/`created_at`/`usage.input_tokens…` out; named SSE events without
//! `[DONE]`. Requests are translated to the v1 model so both versions share validation and answers.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::chat::{self, ChatRequest, FunctionSpec, Message, Reply};
use super::{parse_json, stream};
use crate::auth::Identity;
use crate::log::StreamTally;
use crate::state::AppState;
use crate::wire::{self, ApiError, ApiResult};

#[derive(Debug, Deserialize)]
struct Request {
    model: Option<String>,
    #[serde(default)]
    messages: Vec<InMessage>,
    #[serde(default)]
    model_options: ModelOptions,
    #[serde(default)]
    tools: Vec<Value>,
    tool_config: Option<ToolConfig>,
    stream: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct ModelOptions {
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<i64>,
    repetition_penalty: Option<f64>,
    update_interval: Option<f64>,
    response_format: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Content,
    #[serde(default, alias = "tool_state_id", alias = "functions_state_id")]
    tools_state_id: Option<String>,
}

/// Content parts, or a bare string (which the SDK would have wrapped as `[{"text": …}]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Parts(Vec<Value>),
    Text(String),
}

impl Default for Content {
    fn default() -> Self {
        Self::Parts(Vec::new())
    }
}

#[derive(Debug, Deserialize)]
struct ToolConfig {
    mode: Option<String>,
    function_name: Option<String>,
    tool_name: Option<String>,
}

/// The v1 form of one v2 message.
fn to_v1_message(message: InMessage) -> Message {
    let parts = match message.content {
        Content::Text(text) => vec![json!({ "text": text })],
        Content::Parts(parts) => parts,
    };
    let text: String = parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    let attachments = parts
        .iter()
        .filter_map(|p| p.get("files").and_then(Value::as_array))
        .flatten()
        .filter_map(|f| f.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let function_call = parts.iter().find_map(|p| p.get("function_call").cloned());
    let result = parts.iter().find_map(|p| p.get("function_result"));
    let (role, name, content) = match (message.role.as_str(), result) {
        ("tool", Some(result)) => (
            "function".to_owned(),
            result
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned),
            result
                .get("result")
                .map_or_else(|| "null".to_owned(), Value::to_string),
        ),
        ("tool", None) => ("function".to_owned(), None, text),
        (role, _) => (role.to_owned(), None, text),
    };
    Message {
        role,
        content: Some(content),
        function_call,
        name,
        attachments,
        functions_state_id: message.tools_state_id,
    }
}

/// The v1 request equivalent to a v2 one.
fn to_v1(request: Request) -> Result<ChatRequest, ApiError> {
    let mut functions = Vec::new();
    for tool in &request.tools {
        let name = match tool {
            Value::String(name) => name.as_str(),
            Value::Object(map) => map.keys().next().map_or("", String::as_str),
            _ => "",
        };
        match name {
            "functions" => {
                let specifications = tool
                    .pointer("/functions/specifications")
                    .cloned()
                    .unwrap_or(Value::Array(Vec::new()));
                let specs: Vec<FunctionSpec> =
                    serde_json::from_value(specifications).map_err(ApiError::invalid_params)?;
                functions.extend(specs);
            }
            "image_generate" => functions.push(FunctionSpec {
                name: "text2image".to_owned(),
                description: None,
                parameters: None,
                return_parameters: None,
            }),
            _ => {}
        }
    }
    let function_call = match &request.tool_config {
        None => None,
        Some(config) => match (
            config.mode.as_deref(),
            &config.function_name,
            &config.tool_name,
        ) {
            (Some("none"), _, _) => Some(json!("none")),
            (Some("forced"), Some(function), _) => Some(json!({ "name": function })),
            (Some("forced"), None, Some(tool)) if tool == "image_generate" => {
                Some(json!({ "name": "text2image" }))
            }
            (Some("forced"), None, Some(_)) => Some(json!("none")),
            (Some("forced"), None, None) => {
                return Err(ApiError::invalid_params(
                    "tool_config.function_name or tool_config.tool_name is required for mode forced",
                ));
            }
            _ => Some(json!("auto")),
        },
    };
    let options = request.model_options;
    let (response_format, regex) = match options.response_format {
        Some(format) if format.get("type") == Some(&json!("regex")) => {
            let regex = format.get("regex").and_then(Value::as_str).ok_or_else(|| {
                ApiError::invalid_params("response_format.regex is required for type regex")
            })?;
            (None, Some(regex.to_owned()))
        }
        other => (other, None),
    };
    Ok(ChatRequest {
        model: request.model,
        messages: request.messages.into_iter().map(to_v1_message).collect(),
        temperature: options.temperature,
        top_p: options.top_p,
        repetition_penalty: options.repetition_penalty,
        max_tokens: options.max_tokens,
        stream: request.stream,
        update_interval: options.update_interval,
        function_call,
        functions: (!functions.is_empty()).then_some(functions),
        response_format,
        regex,
    })
}

#[derive(Serialize)]
struct Details {
    prompt_tokens: usize,
    cached_tokens: usize,
}

/// v2 usage, keys in recorded order.
#[derive(Serialize)]
struct Usage {
    input_tokens: usize,
    input_tokens_details: Details,
    output_tokens: usize,
    total_tokens: usize,
}

fn usage(reply: &Reply) -> Usage {
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

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_state_id: Option<&'a str>,
    content: Vec<Value>,
}

#[derive(Serialize)]
struct Response<'a> {
    model: &'a str,
    created_at: u64,
    messages: [OutMessage<'a>; 1],
    finish_reason: &'a str,
    usage: Usage,
}

#[derive(Serialize)]
struct Delta<'a> {
    model: &'a str,
    created_at: u64,
    messages: [OutMessage<'a>; 1],
}

#[derive(Serialize)]
struct Done<'a> {
    model: &'a str,
    created_at: u64,
    finish_reason: &'a str,
    usage: Usage,
}

/// The parts before the answer's text: a function call or a generated image.
fn lead_part(reply: &Reply) -> Option<Value> {
    let answer = &reply.answer;
    if let Some(call) = &answer.function_call {
        return Some(json!({ "function_call": call }));
    }
    answer
        .image_id
        .as_ref()
        .map(|id| json!({"files": [{"id": id, "mime": "image/jpeg", "target": "image"}]}))
}

/// The answer's text without the v1 image tag.
fn text_of(reply: &Reply) -> &str {
    reply
        .answer
        .content
        .get(reply.answer.caption_start..)
        .unwrap_or("")
}

fn sse(name: &str, payload: &impl Serialize) -> Bytes {
    let mut out = format!("event: {name}\ndata: ").into_bytes();
    if serde_json::to_writer(&mut out, payload).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

fn events(
    reply: &Reply,
    state_id: Option<&str>,
    pacing: &stream::Pacing,
) -> Vec<(Duration, Bytes)> {
    let delta = |content: Vec<Value>, first: bool| {
        sse(
            "response.message.delta",
            &Delta {
                model: &reply.model,
                created_at: reply.created,
                messages: [OutMessage {
                    role: "assistant",
                    tool_state_id: if first { state_id } else { None },
                    content,
                }],
            },
        )
    };
    let mut out = Vec::new();
    let lead = lead_part(reply);
    let text = text_of(reply);
    if let Some(part) = lead {
        out.push((pacing.first_delay, delta(vec![part], true)));
    }
    if reply.answer.function_call.is_none() {
        for group in pacing.groups(text) {
            let delay = if out.is_empty() {
                pacing.first_delay
            } else {
                pacing.gap
            };
            let first = out.is_empty();
            out.push((delay, delta(vec![json!({ "text": group })], first)));
        }
    }
    let done = sse(
        "response.message.done",
        &Done {
            model: &reply.model,
            created_at: reply.created,
            finish_reason: reply.answer.finish_reason,
            usage: usage(reply),
        },
    );
    out.push((pacing.gap, done));
    out
}

/// `POST /api/v2/chat/completions`.
pub(crate) async fn completions(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    tally: Option<Extension<Arc<StreamTally>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let request: Request = parse_json(&body)?;
    let had_state = request.messages.iter().any(|m| m.tools_state_id.is_some());
    let request = to_v1(request)?;
    let reply = chat::prepare(&state, &identity, &headers, uri.path(), &request)?;
    // v2 answers carry a fresh state id whenever tools are in play.
    let state_id = reply
        .answer
        .functions_state_id
        .clone()
        .or_else(|| had_state.then(|| uuid::Uuid::now_v7().to_string()));
    if request.stream == Some(true) {
        let pacing = stream::Pacing::new(&state.config, request.update_interval);
        let events = events(&reply, state_id.as_deref(), &pacing);
        let tally = tally.map(|Extension(t)| t);
        return Ok(stream::write(&state, events, tally, uri.path()));
    }
    let mut content: Vec<Value> = lead_part(&reply).into_iter().collect();
    if reply.answer.function_call.is_none() {
        content.push(json!({ "text": text_of(&reply) }));
    }
    wire::ok(&Response {
        model: &reply.model,
        created_at: reply.created,
        messages: [OutMessage {
            role: "assistant",
            tool_state_id: state_id.as_deref(),
            content,
        }],
        finish_reason: reply.answer.finish_reason,
        usage: usage(&reply),
    })
}
