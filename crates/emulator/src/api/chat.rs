//! `POST /api/v1/chat/completions`: request model, GigaChat's validations, usage, and the
//! non-streaming answer (streaming lives in `stream.rs`, answer content in `answer.rs`).

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::answer::{self, Answer};
use super::chat_reader::{self, ChatRequestReader};
use super::{legacy_layout_rest, models, now_secs, parse_checked_json, stream};
use crate::auth::{Identity, Scope};
use crate::cache::Prefix;
use crate::log::StreamTally;
use crate::state::AppState;
use crate::sync::lock;
use crate::text::{self, Fnv};
use crate::wire::{self, ApiError, ApiResult};
use crate::{json_check, schema};

/// Built-in functions callable without being declared.
pub(crate) const BUILT_INS: &[&str] = &["text2image", "get_file_content", "text2model3d"];

/// Roles accepted in a request's history.
const ROLES: &[&str] = &[
    "system",
    "user",
    "assistant",
    "function",
    "search_result",
    "function_in_progress",
];

/// Per-message token overhead of the prompt estimate.
const MESSAGE_OVERHEAD_TOKENS: usize = 4;
/// Per-request token overhead of the prompt estimate.
const REQUEST_OVERHEAD_TOKENS: usize = 5;

/// The v1 chat request (unknown fields are ignored, as the real service does).
#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest {
    /// Requested model (required).
    pub(crate) model: Option<String>,
    /// The history (a message shared with earlier requests that sent the same text).
    #[serde(deserialize_with = "shared_messages")]
    pub(crate) messages: Vec<Arc<Message>>,
    /// Sampling temperature, > 0.
    pub(crate) temperature: Option<f64>,
    /// Nucleus sampling, in [0, 1].
    pub(crate) top_p: Option<f64>,
    /// Repetition penalty, > 0.
    pub(crate) repetition_penalty: Option<f64>,
    /// Cap on completion tokens.
    pub(crate) max_tokens: Option<i64>,
    /// Answer as SSE.
    pub(crate) stream: Option<bool>,
    /// Minimum seconds between SSE events.
    pub(crate) update_interval: Option<f64>,
    /// `"none"`, `"auto"` or `{"name": …, "partial_arguments"?: {…}}`.
    pub(crate) function_call: Option<Value>,
    /// Declared functions (shared with earlier requests that sent the same list).
    #[serde(default, deserialize_with = "shared_functions")]
    pub(crate) functions: Option<Arc<Functions>>,
    /// Structured output: `{"type":"json_schema","schema":{…},"strict":…}`.
    pub(crate) response_format: Option<Value>,
    /// Reasoning effort (any string; `none` turns reasoning off).
    pub(crate) reasoning_effort: Option<String>,
    /// Reasoning-token budget before the answer.
    pub(crate) reasoning_max_tokens: Option<i64>,
    /// v2 only: answer with a string matching this regular expression.
    #[serde(skip)]
    pub(crate) regex: Option<String>,
    /// What only a v2 request can ask for (`None` on v1).
    #[serde(skip)]
    pub(crate) v2: Option<V2Extras>,
}

/// `messages` read as owned messages, each then put behind an `Arc` (a helper rather than serde's
/// `rc` feature, which would rebuild every crate of the workspace that uses serde).
fn shared_messages<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Arc<Message>>, D::Error> {
    Vec::<Message>::deserialize(deserializer).map(|all| all.into_iter().map(Arc::new).collect())
}

/// `functions` read as an owned list, then put behind an `Arc` (as [`shared_messages`]).
fn shared_functions<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Arc<Functions>>, D::Error> {
    Option::<Functions>::deserialize(deserializer).map(|list| list.map(Arc::new))
}

/// The parts of a v2 request the v1 model has no field for.
#[derive(Debug, Default)]
pub(crate) struct V2Extras {
    /// The validated `tool_config`.
    pub(crate) mode: Option<CallMode>,
    /// `model_options.parallel_tool_calls`.
    pub(crate) parallel_tool_calls: bool,
    /// Built-in tools offered in `tools`, by v2 name.
    pub(crate) builtins: Vec<String>,
}

/// One history message.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct Message {
    /// `system`, `user`, `assistant` or `function`.
    pub(crate) role: String,
    /// The text (for `function`: a JSON value serialised into a string).
    #[serde(default)]
    pub(crate) content: Option<String>,
    /// An earlier call, on `assistant` messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) function_call: Option<Value>,
    /// Function name, on `function` messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// File ids from `POST /files`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) attachments: Vec<String>,
    /// State id returned with a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) functions_state_id: Option<String>,
    /// What the checks and the prompt estimate derive from the message, worked out once.
    #[serde(skip)]
    pub(crate) memo: MessageMemo,
}

/// What is derived from a [`Message`] alone, kept with it: a message resent in a later request
/// (shared through the fragment cache) is not measured again.
#[derive(Default)]
pub(crate) struct MessageMemo {
    /// Tokens of the text and of the call's JSON.
    tokens: OnceLock<usize>,
    /// Whether the content is JSON text (asked of `function` messages only).
    content_is_json: OnceLock<bool>,
    /// The latest steps of the seed hash over this message (the hash before it, the hash after),
    /// newest first: one for each place the same message takes in the histories being resent.
    seed_steps: Mutex<[Option<(u64, u64)>; SEED_STEPS]>,
}

/// Steps of the seed hash a message remembers.
const SEED_STEPS: usize = 4;

/// Shown as nothing, so a message shows the same whether or not it was measured yet.
impl fmt::Debug for MessageMemo {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("MessageMemo")
    }
}

impl Message {
    /// A message with nothing derived from it yet.
    pub(crate) fn new(
        role: String,
        content: Option<String>,
        function_call: Option<Value>,
        name: Option<String>,
        attachments: Vec<String>,
        functions_state_id: Option<String>,
    ) -> Self {
        Self {
            role,
            content,
            function_call,
            name,
            attachments,
            functions_state_id,
            memo: MessageMemo::default(),
        }
    }

    /// The text content, empty when absent.
    pub(crate) fn text(&self) -> &str {
        self.content.as_deref().unwrap_or("")
    }

    /// Tokens of the text and of the call's JSON (without the per-message overhead).
    fn tokens(&self) -> usize {
        *self.memo.tokens.get_or_init(|| {
            let mut tokens = text::count_tokens(self.text());
            if let Some(call) = &self.function_call {
                let mut json = Vec::new();
                write_json(&mut json, call);
                tokens += text::count_tokens(std::str::from_utf8(&json).unwrap_or_default());
            }
            tokens
        })
    }

    /// Whether the content is JSON text a `Value` would accept.
    fn content_is_json(&self) -> bool {
        *self
            .memo
            .content_is_json
            .get_or_init(|| json_check::is_json_text(self.text()))
    }

    /// `seed` with this message's JSON and a separator mixed in (FNV-1a, byte by byte, as
    /// [`MeasuredPrompt::seed`] is defined); the latest steps are remembered, as the same history
    /// comes again with the next turn.
    fn seed_after(&self, seed: u64) -> u64 {
        let known = lock(&self.memo.seed_steps)
            .iter()
            .flatten()
            .find(|(before, _)| *before == seed)
            .map(|(_, after)| *after);
        if let Some(after) = known {
            return after;
        }
        let mut json = Vec::new();
        write_json(&mut json, self);
        let after = Fnv::from(seed).write(&json).write(&[0xff]).finish();
        let mut steps = lock(&self.memo.seed_steps);
        steps.rotate_right(1);
        steps[0] = Some((seed, after));
        after
    }
}

/// The declared functions, with what the checks and the prompt estimate derive from them worked
/// out once per list (a list resent in a later request is shared through the fragment cache).
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct Functions {
    /// The functions, in order.
    list: Vec<FunctionSpec>,
    /// The outcome of the checks on names and schemas.
    #[serde(skip)]
    checked: OnceLock<Result<(), ApiError>>,
    /// The FNV hash and the tokens of the list's JSON.
    #[serde(skip)]
    measured: OnceLock<(u64, usize)>,
}

/// Shown as the list alone, whether or not it was checked and measured yet.
impl fmt::Debug for Functions {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.list.fmt(formatter)
    }
}

impl Functions {
    /// A list with nothing derived from it yet.
    pub(crate) fn new(list: Vec<FunctionSpec>) -> Self {
        Self {
            list,
            checked: OnceLock::new(),
            measured: OnceLock::new(),
        }
    }

    /// The functions, in order.
    pub(crate) fn list(&self) -> &[FunctionSpec] {
        &self.list
    }

    /// Every function has a name and schemas GigaChat accepts (the first failure otherwise).
    fn check(&self) -> Result<(), ApiError> {
        self.checked
            .get_or_init(|| {
                for function in &self.list {
                    if function.name.is_empty() {
                        return Err(ApiError::invalid_params("function name must not be empty"));
                    }
                    for schema in [&function.parameters, &function.return_parameters]
                        .into_iter()
                        .flatten()
                    {
                        schema::check_properties(schema).map_err(|message| {
                            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
                        })?;
                    }
                }
                Ok(())
            })
            .clone()
    }

    /// The FNV hash and the tokens of the list's JSON.
    fn measure(&self) -> (u64, usize) {
        *self.measured.get_or_init(|| {
            let mut json = Vec::new();
            write_json(&mut json, &self.list);
            let hash = Fnv::default().write(&json).finish();
            let tokens = text::count_tokens(std::str::from_utf8(&json).unwrap_or_default());
            (hash, tokens)
        })
    }
}

/// A declared function.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct FunctionSpec {
    /// Its name.
    pub(crate) name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// JSON Schema of its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parameters: Option<Value>,
    /// JSON Schema of its result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) return_parameters: Option<Value>,
}

/// How the request wants functions handled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallMode {
    /// Never call.
    None,
    /// The model decides (the emulator: `call:NAME` marker, drawing prompts).
    Auto,
    /// Call this function, merging these partial arguments.
    Forced(String, Option<Value>),
    /// v2 `any`: call one of these functions.
    Any(Vec<String>),
    /// v2 `forced` with `tool_name`: run this built-in tool.
    Builtin(String),
}

/// Usage in recorded key order. As in every recording (`test_chat_simple.yaml`: 17 + 3 = 20 with
/// 2 precached) and the API description, `prompt_tokens` leaves out the cached part and
/// `total_tokens` is the billable prompt + completion (gigachat-api.md §11.7).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Usage {
    /// Prompt tokens not served from the prompt cache.
    pub(crate) prompt_tokens: usize,
    /// Answer tokens.
    pub(crate) completion_tokens: usize,
    /// prompt + completion (cached tokens are not billed).
    pub(crate) total_tokens: usize,
    /// Part of the prompt served from the prompt cache.
    pub(crate) precached_prompt_tokens: usize,
}

impl Usage {
    /// The usage of a prompt of `prompt_tokens` of which `precached` came from the cache.
    pub(crate) fn new(prompt_tokens: usize, precached: usize, completion_tokens: usize) -> Self {
        let uncached = prompt_tokens.saturating_sub(precached);
        Self {
            prompt_tokens: uncached,
            completion_tokens,
            total_tokens: uncached + completion_tokens,
            precached_prompt_tokens: precached,
        }
    }
}

/// Everything needed to write the answer in either form.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The versioned model name.
    pub(crate) model: String,
    /// Unix seconds.
    pub(crate) created: u64,
    /// `chat.completion` (or as configured).
    pub(crate) object: String,
    /// The answer.
    pub(crate) answer: Answer,
    /// Token usage.
    pub(crate) usage: Usage,
}

impl ChatRequest {
    /// The function-call mode, validated against the declared functions.
    pub(crate) fn call_mode(&self) -> Result<CallMode, ApiError> {
        if let Some(mode) = self.v2.as_ref().and_then(|v2| v2.mode.clone()) {
            return Ok(mode);
        }
        let declared = self.declared();
        match &self.function_call {
            None if declared.is_empty() => Ok(CallMode::None),
            None => Ok(CallMode::Auto),
            Some(Value::String(mode)) if mode == "none" => Ok(CallMode::None),
            Some(Value::String(mode)) if mode == "auto" => Ok(CallMode::Auto),
            Some(Value::Object(forced)) => {
                let name = forced
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::invalid_params("function_call.name is required"))?;
                let known = declared.iter().any(|f| f.name == name) || BUILT_INS.contains(&name);
                if !known {
                    return Err(ApiError::invalid_params(format!(
                        "function '{name}' from function_call is not declared in functions"
                    )));
                }
                Ok(CallMode::Forced(
                    name.to_owned(),
                    forced.get("partial_arguments").cloned(),
                ))
            }
            Some(_) => Err(ApiError::invalid_params(
                "function_call must be \"none\", \"auto\" or {\"name\": \"...\"}",
            )),
        }
    }

    /// The schema of structured output, if asked for.
    pub(crate) fn output_schema(&self) -> Result<Option<&Value>, ApiError> {
        let Some(format) = &self.response_format else {
            return Ok(None);
        };
        match format.get("type").and_then(Value::as_str) {
            Some("text") => Ok(None),
            Some("json_schema") => match format.get("schema") {
                Some(schema @ Value::Object(_)) => Ok(Some(schema)),
                _ => Err(ApiError::invalid_params(
                    "response_format.schema is required for type json_schema",
                )),
            },
            _ => Err(ApiError::invalid_params(
                "response_format.type must be one of: text, json_schema",
            )),
        }
    }

    /// The declared function `name`, if any.
    pub(crate) fn function(&self, name: &str) -> Option<&FunctionSpec> {
        self.declared().iter().find(|f| f.name == name)
    }

    /// The declared functions (none when the request has no list).
    pub(crate) fn declared(&self) -> &[FunctionSpec] {
        self.functions.as_deref().map_or(&[], Functions::list)
    }
}

/// GigaChat's 422 checks on parameters, roles, functions and history; `new_host`: the request came
/// in api.giga.chat's layout, whose wording of some errors differs.
fn validate(request: &ChatRequest, new_host: bool) -> Result<(), ApiError> {
    if request.messages.is_empty() {
        return Err(ApiError::invalid_params("messages must not be empty"));
    }
    for (index, message) in request.messages.iter().enumerate() {
        if !ROLES.contains(&message.role.as_str()) {
            return Err(ApiError::invalid_params(format!(
                "unknown role '{}'",
                message.role
            )));
        }
        if message.role == "system" && index != 0 {
            return Err(ApiError::invalid_params(
                "system message must be the first message",
            ));
        }
    }
    if request.temperature.is_some_and(|t| t <= 0.0) {
        return Err(ApiError::invalid_params(
            "temperature must be in range (0, +inf)",
        ));
    }
    if request.top_p.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
        return Err(ApiError::invalid_params("top_p must be in range [0, 1]"));
    }
    if request.repetition_penalty.is_some_and(|p| p <= 0.0) {
        return Err(ApiError::invalid_params(
            "repetition_penalty must be in range (0, +inf)",
        ));
    }
    if request.max_tokens.is_some_and(|m| m < 1) {
        return Err(ApiError::invalid_params(
            "max_tokens must be in range [1, +inf)",
        ));
    }
    if request.reasoning_max_tokens.is_some_and(|m| m < 1) {
        return Err(ApiError::invalid_params(
            "reasoning_max_tokens must be in range [1, +inf)",
        ));
    }
    if request.update_interval.is_some_and(|u| u < 0.0) {
        return Err(ApiError::invalid_params(
            "update_interval must be in range [0, +inf)",
        ));
    }
    if let Some(functions) = &request.functions {
        functions.check()?;
    }
    request.call_mode()?;
    request.output_schema()?;
    validate_history(&request.messages, new_host)
}

/// Calls in the history must be objects with a following result; results must be JSON (api.giga.chat
/// words that error `INVALID_PARAMS: invalid function result for function json string `…``).
fn validate_history(messages: &[Arc<Message>], new_host: bool) -> Result<(), ApiError> {
    for (index, message) in messages.iter().enumerate() {
        if let Some(call) = &message.function_call {
            if message.role != "assistant" {
                return Err(ApiError::invalid_params(
                    "function_call is allowed on assistant messages only",
                ));
            }
            if !call.get("arguments").is_none_or(Value::is_object) {
                return Err(ApiError::invalid_params(
                    "function_call.arguments must be a JSON object",
                ));
            }
            let answered = messages
                .get(index + 1)
                .is_some_and(|next| next.role == "function");
            if !answered {
                return Err(ApiError::invalid_params(
                    "every assistant function call must have a result in history",
                ));
            }
        }
        if message.role == "function" {
            if message.name.as_deref().is_none_or(str::is_empty) {
                return Err(ApiError::invalid_params(
                    "function message must have a name",
                ));
            }
            if !message.content_is_json() {
                if new_host {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!(
                            "INVALID_PARAMS: invalid function result for function json string `{}`",
                            message.text()
                        ),
                    ));
                }
                return Err(ApiError::invalid_params(
                    "function message content must be a valid JSON",
                ));
            }
        }
    }
    Ok(())
}

/// Attachments must be the caller's files; one image per message, ten per request. Returns the
/// prompt tokens the attachments add.
fn check_attachments(
    state: &AppState,
    identity: &Identity,
    messages: &[Arc<Message>],
) -> Result<Vec<usize>, ApiError> {
    let mut images_total = 0;
    let mut tokens = Vec::with_capacity(messages.len());
    for message in messages {
        let mut images = 0;
        let mut message_tokens = 0;
        for id in &message.attachments {
            let file = state
                .files
                .get(&identity.key, id)
                .ok_or_else(|| ApiError::invalid_params(format!("file '{id}' not found")))?;
            if file.content_type.starts_with("image/") {
                images += 1;
                message_tokens += 256;
            } else if file.content_type.starts_with("text/") {
                message_tokens += text::count_tokens(&String::from_utf8_lossy(&file.content));
            } else {
                message_tokens += file.content.len() / 8;
            }
        }
        if images > 1 {
            return Err(ApiError::invalid_params(
                "only one image per message is allowed",
            ));
        }
        images_total += images;
        tokens.push(message_tokens);
    }
    if images_total > 10 {
        return Err(ApiError::invalid_params(
            "no more than 10 images per request are allowed",
        ));
    }
    Ok(tokens)
}

/// A prompt measured in one pass: what the prompt cache and the answer generator need.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MeasuredPrompt {
    /// Hash and token count of every prompt prefix (model and functions, then messages one by one).
    pub(crate) prefixes: Vec<Prefix>,
    /// Hash of the messages alone, each serialised: the seed of the answer.
    pub(crate) seed: u64,
}

/// Measures the prompt: each message's JSON feeds the message hash (the answer's seed, and with
/// the hash of model and functions the prefix hashes); tokens come from the texts, the functions'
/// JSON and each call's JSON. What depends on a message or the function list alone is worked out
/// once for each (see [`MessageMemo`], [`Functions`]).
fn measure(model: &str, request: &ChatRequest, attachment_tokens: &[usize]) -> MeasuredPrompt {
    let mut head = Fnv::default();
    head.write_str(model);
    let mut tokens = REQUEST_OVERHEAD_TOKENS;
    if let Some(functions) = &request.functions {
        let (hash, function_tokens) = functions.measure();
        head.write(&hash.to_le_bytes()).write(&[0xff]);
        tokens += function_tokens;
    }
    let head = head.finish().to_le_bytes();
    let mut seed = Fnv::default().finish();
    let prefixes = request
        .messages
        .iter()
        .enumerate()
        .map(|(index, message)| {
            seed = message.seed_after(seed);
            tokens += MESSAGE_OVERHEAD_TOKENS
                + message.tokens()
                + attachment_tokens.get(index).copied().unwrap_or(0);
            let hash = Fnv::default()
                .write(&head)
                .write(&seed.to_le_bytes())
                .finish();
            Prefix { hash, tokens }
        })
        .collect();
    MeasuredPrompt { prefixes, seed }
}

/// Replaces `buffer` with the compact JSON of `value` (empty if it cannot be serialised).
fn write_json(buffer: &mut Vec<u8>, value: &impl Serialize) {
    buffer.clear();
    if serde_json::to_writer(&mut *buffer, value).is_err() {
        buffer.clear();
    }
}

/// Validates a request and computes the answer and usage, for either API version. `path` tells
/// which host's layout it came in (GigaChat-3 models answer only on api.giga.chat, to PERS keys).
pub(crate) fn prepare(
    state: &AppState,
    identity: &Identity,
    headers: &HeaderMap,
    path: &str,
    request: &ChatRequest,
) -> Result<Reply, ApiError> {
    let model = request
        .model
        .as_deref()
        .ok_or_else(|| ApiError::invalid_params("model is required"))?;
    let base = model.split_once(':').map_or(model, |(base, _)| base);
    let model = models::versioned_chat_model(model).ok_or_else(ApiError::no_such_model)?;
    let on_legacy_host = legacy_layout_rest(path).is_some();
    if models::new_host_pers_only(base) && (on_legacy_host || identity.scope != Scope::Pers) {
        return Err(ApiError::no_such_model());
    }
    let sends_functions = !request.declared().is_empty();
    if sends_functions && state.config.no_function_models.iter().any(|m| m == base) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Requested model does not support functions",
        ));
    }
    validate(request, !on_legacy_host)?;
    let attachment_tokens = check_attachments(state, identity, &request.messages)?;
    let prompt = measure(base, request, &attachment_tokens);
    let prompt_tokens = prompt.prefixes.last().map_or(0, |p| p.tokens);
    if prompt_tokens > state.config.context_window_tokens {
        return Err(ApiError::status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    let client_id = wire::header(headers, "x-client-id").map(str::to_owned);
    let answer = answer::compose(state, identity, client_id, request, prompt.seed)?;
    let session = wire::header(headers, "x-session-id")
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let precached = state
        .prompt_cache
        .hit(&identity.key, session, &prompt.prefixes);
    let usage = if answer.error_details.is_some() {
        Usage::new(0, 0, 0)
    } else {
        Usage::new(
            prompt_tokens + answer.extra_prompt_tokens,
            precached,
            answer.completion_tokens,
        )
    };
    Ok(Reply {
        model,
        created: now_secs(),
        object: state.config.response_object.clone(),
        answer,
        usage,
    })
}

/// `POST /api/v1/chat/completions`.
pub(crate) async fn completions(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    tally: Option<Extension<Arc<StreamTally>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let fragments = &state.chat_fragments;
    let request = match chat_reader::read_reusing_fragments(fragments, &body) {
        Some(request) => request,
        None => parse_checked_json(ChatRequestReader(fragments), &body)?,
    };
    let reply = prepare(&state, &identity, &headers, uri.path(), &request)?;
    if request.stream == Some(true) {
        let pacing = stream::Pacing::new(&state.config, request.update_interval);
        let events = stream::events(&reply, &pacing, stream::Framing::new(&state.config));
        let tally = tally.map(|Extension(t)| t);
        return Ok(stream::write(&state, events, tally, uri.path()));
    }
    wire::ok(&completion(&reply))
}

#[derive(Serialize)]
struct OutMessage<'a> {
    content: &'a str,
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    functions_state_id: Option<&'a str>,
}

#[derive(Serialize)]
struct Choice<'a> {
    message: OutMessage<'a>,
    index: u32,
    finish_reason: &'a str,
}

/// The non-streaming body, keys in recorded order: `choices, created, model, object, usage`.
#[derive(Serialize)]
struct Completion<'a> {
    choices: [Choice<'a>; 1],
    created: u64,
    model: &'a str,
    object: &'a str,
    usage: Usage,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_details: Option<&'a Value>,
}

fn completion(reply: &Reply) -> Completion<'_> {
    Completion {
        choices: [Choice {
            message: OutMessage {
                content: &reply.answer.content,
                role: "assistant",
                reasoning_content: reply.answer.reasoning.as_deref(),
                function_call: reply.answer.calls.first(),
                functions_state_id: reply.answer.functions_state_id.as_deref(),
            },
            index: 0,
            finish_reason: reply.answer.finish_reason,
        }],
        created: reply.created,
        model: &reply.model,
        object: &reply.object,
        usage: reply.usage,
        error_details: reply.answer.error_details.as_ref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::chat_reader::ChatFragments;
    use crate::api::parse_json;
    use serde_json::json;

    fn request(body: Value) -> ChatRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn system_must_be_first() {
        let r = request(json!({"model":"GigaChat","messages":[
            {"role":"user","content":"a"},{"role":"system","content":"b"}]}));
        assert_eq!(
            validate(&r, false).unwrap_err().message,
            "Invalid params: system message must be the first message"
        );
    }

    #[test]
    fn call_needs_a_result() {
        let r = request(json!({"model":"GigaChat","messages":[
            {"role":"user","content":"a"},
            {"role":"assistant","content":"","function_call":{"name":"f","arguments":{}}},
            {"role":"user","content":"b"}]}));
        assert_eq!(
            validate(&r, false).unwrap_err().message,
            "Invalid params: every assistant function call must have a result in history"
        );
    }

    #[test]
    fn parameters_are_range_checked() {
        for (field, value) in [
            ("temperature", json!(0)),
            ("top_p", json!(1.5)),
            ("repetition_penalty", json!(0)),
        ] {
            let mut body = json!({"model":"GigaChat","messages":[{"role":"user","content":"a"}]});
            body[field] = value;
            assert_eq!(
                validate(&request(body), false).unwrap_err().status,
                422,
                "{field}"
            );
        }
    }

    /// A GigaChat-shaped agent request like the adapter sends for bench/agent_request.py: 40
    /// functions with nested schemas, 98 messages (system, user turns in English and Russian,
    /// calls with arguments, JSON results with escapes, digits and long words).
    fn agent_body() -> Value {
        let functions: Vec<Value> = (0..40)
            .map(|i| {
                json!({
                    "name": format!("tool_{i}"),
                    "description": format!("Does thing {i}: reads «файл» number {i}, 2,000 lines at most; \"quoted\" words."),
                    "parameters": {"type": "object", "properties": {
                        "path": {"type": "string", "description": "Path relative to the workspace root."},
                        "range": {"type": "object", "properties": {
                            "start_line": {"type": "integer", "minimum": 1},
                            "end_line": {"type": "integer", "minimum": -1}},
                            "required": ["start_line", "end_line"]},
                        "mode": {"type": "string", "enum": ["a", "b", "ccc"]},
                        "items": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "number"}}}}},
                        "required": ["path"]}
                })
            })
            .collect();
        let mut messages = vec![
            json!({"role": "system", "content": "You are a coding agent. Отвечай кратко, JSON when asked."}),
        ];
        for turn in 0..97 {
            let message = match turn % 3 {
                0 => {
                    json!({"role": "user", "content": format!("Turn {turn}: implementation of the normaliser \u{a0}— проверь тест №{turn} и 12345678 строк\tтабуляция.")})
                }
                1 => {
                    json!({"role": "assistant", "content": format!("Calling tool_{}", turn % 40), "function_call": {"name": format!("tool_{}", turn % 40), "arguments": {"path": format!("crates/x/src/{turn}.rs"), "range": {"start_line": 1, "end_line": turn}}}})
                }
                _ => {
                    json!({"role": "function", "name": format!("tool_{}", (turn - 1) % 40), "content": json!({"ok": true, "text": format!("fn main() {{ println!(\"{turn}\"); }} // комментарий"), "n": [1, 2.5, -3]}).to_string()})
                }
            };
            messages.push(message);
        }
        json!({"model": "GigaChat", "function_call": "auto", "functions": functions, "messages": messages})
    }

    /// Prompt tokens of every prefix and the answer seed as computed before `measure` existed:
    /// each message and the functions serialised on their own, `call.to_string()` counted.
    fn reference_tokens_and_seed(request: &ChatRequest) -> (Vec<usize>, u64) {
        let mut tokens = REQUEST_OVERHEAD_TOKENS;
        if let Some(functions) = &request.functions {
            let json = serde_json::to_string(functions.list()).unwrap();
            tokens += text::count_tokens(&json);
        }
        let mut seed = Fnv::default();
        let per_prefix = request
            .messages
            .iter()
            .map(|message| {
                seed.write_str(&serde_json::to_string(&**message).unwrap());
                tokens += MESSAGE_OVERHEAD_TOKENS + text::count_tokens(message.text());
                if let Some(call) = &message.function_call {
                    tokens += text::count_tokens(&call.to_string());
                }
                tokens
            })
            .collect();
        (per_prefix, seed.finish())
    }

    /// Variants of the agent body as an agent's next turns send them: more messages, one changed
    /// in the middle, one inserted near the start (so every later message follows another
    /// history), a message repeated, another function list.
    fn agent_variants() -> Vec<Value> {
        let body = agent_body();
        let mut variants = vec![body.clone()];
        let mut longer = body.clone();
        let messages = longer["messages"].as_array_mut().unwrap();
        messages.push(json!({"role": "assistant", "content": "Done."}));
        messages.push(json!({"role": "user", "content": "И ещё: call:tool_3"}));
        variants.push(longer);
        let mut changed = body.clone();
        changed["messages"][40]["content"] = json!("changed \"text\" here");
        variants.push(changed);
        let mut shifted = body.clone();
        let messages = shifted["messages"].as_array_mut().unwrap();
        messages.insert(1, json!({"role": "user", "content": "first"}));
        variants.push(shifted);
        let mut repeated = body.clone();
        let messages = repeated["messages"].as_array_mut().unwrap();
        let again: Vec<Value> = messages[1..7].to_vec();
        messages.extend(again);
        variants.push(repeated);
        let mut tools = body;
        tools["functions"].as_array_mut().unwrap().truncate(7);
        variants.push(tools);
        variants
    }

    #[test]
    fn shared_messages_and_functions_measure_as_freshly_parsed_ones() {
        let fragments = ChatFragments::default();
        let read = |body: &[u8], fragments: &ChatFragments| -> ChatRequest {
            parse_checked_json(ChatRequestReader(fragments), body).unwrap()
        };
        // Twice over, so the second round reads every message and list from the fragments, and
        // the variants between two reads of a body move each message's remembered seed step.
        for _ in 0..2 {
            for variant in agent_variants() {
                let body = serde_json::to_vec(&variant).unwrap();
                let shared = read(&body, &fragments);
                let fresh = read(&body, &ChatFragments::default());
                let reference: ChatRequest = serde_json::from_value(variant).unwrap();
                let (tokens, seed) = reference_tokens_and_seed(&reference);
                for request in [&shared, &fresh] {
                    assert_eq!(format!("{request:?}"), format!("{reference:?}"));
                    let prompt = measure("GigaChat", request, &[]);
                    let measured: Vec<usize> = prompt.prefixes.iter().map(|p| p.tokens).collect();
                    assert_eq!(measured, tokens);
                    assert_eq!(prompt.seed, seed);
                    assert_eq!(prompt, measure("GigaChat", &reference, &[]));
                    assert_eq!(
                        request.functions.as_ref().map(|f| f.check()),
                        reference.functions.as_ref().map(|f| f.check())
                    );
                }
            }
        }
    }

    #[test]
    fn a_body_read_from_fragments_is_the_body_parsed() {
        let fragments = ChatFragments::default();
        for round in 0..2 {
            for variant in agent_variants() {
                let body = serde_json::to_vec(&variant).unwrap();
                let reused = chat_reader::read_reusing_fragments(&fragments, &body)
                    .unwrap_or_else(|| panic!("round {round}: not read"));
                let parsed: ChatRequest = parse_json(&body).unwrap();
                assert_eq!(format!("{reused:?}"), format!("{parsed:?}"));
            }
        }
    }

    /// Every prefix of a body and single-byte changes at every position, read with fragments
    /// that hold its messages and list: whenever the walk reads one, it is what the body
    /// parses to, and a body the parse rejects is never read.
    #[test]
    fn a_changed_or_cut_body_is_read_from_fragments_only_as_it_parses() {
        let body = concat!(
            r#" { "model" : "GigaChat", "x":[1,{"y":null}], "messages": [ "#,
            r#"{"role":"system","content":"You are a helpful assistant, JSON please."} , "#,
            r#"{"role":"user","content":"Say \"hi\" — \u0416 and call:f"},"#,
            r#"{"role":"assistant","content":"","function_call":{"name":"f","arguments":{"a":1}}},"#,
            r#"{"role":"function","name":"f","content":"{\"ok\":true,\"n\":[1,2.5]}"}],"#,
            "\n\t\"functions\":[{\"name\":\"f\",\"parameters\":{\"type\":\"object\",",
            r#""properties":{"a":{"type":"integer"}}}}], "stream" : false } "#,
        )
        .as_bytes();
        let fragments = ChatFragments::default();
        assert!(chat_reader::read_reusing_fragments(&fragments, body).is_some());
        let check = |changed: &[u8]| {
            if let Some(reused) = chat_reader::read_reusing_fragments(&fragments, changed) {
                let parsed = parse_json::<ChatRequest>(changed);
                assert_eq!(
                    format!("{:?}", Ok::<_, ApiError>(reused)),
                    format!("{parsed:?}"),
                    "{}",
                    String::from_utf8_lossy(changed)
                );
            }
        };
        for end in 0..body.len() {
            check(&body[..end]);
        }
        for index in 0..body.len() {
            for byte in [
                b'"', b'\\', b',', b'}', b']', b'{', b'[', b' ', b'1', b'x', 0xff,
            ] {
                let mut changed = body.to_vec();
                changed[index] = byte;
                check(&changed);
            }
        }
    }

    #[test]
    fn a_shared_function_list_keeps_its_check_failure() {
        let fragments = ChatFragments::default();
        let body = br#"{"model":"GigaChat","messages":[{"role":"user","content":"a"}],"functions":[{"name":"f","parameters":{"type":"object"}}]}"#;
        for _ in 0..2 {
            let request: ChatRequest =
                parse_checked_json(ChatRequestReader(&fragments), body).unwrap();
            let error = validate(&request, false).unwrap_err();
            assert_eq!(error.status, 422);
            assert!(error.message.contains("properties"), "{}", error.message);
        }
    }

    #[test]
    fn measuring_an_agent_request_gives_the_tokens_and_seed_of_the_old_computation() {
        let body = serde_json::to_vec(&agent_body()).unwrap();
        let request: ChatRequest = parse_json(&body).unwrap();
        let prompt = measure("GigaChat", &request, &[]);
        let (tokens, seed) = reference_tokens_and_seed(&request);
        let measured: Vec<usize> = prompt.prefixes.iter().map(|p| p.tokens).collect();
        assert_eq!(measured, tokens);
        assert_eq!(prompt.seed, seed);
        let hashes: std::collections::HashSet<u64> =
            prompt.prefixes.iter().map(|p| p.hash).collect();
        assert_eq!(hashes.len(), prompt.prefixes.len(), "every prefix differs");
    }

    #[test]
    fn prefix_hashes_follow_the_model_the_functions_and_each_message() {
        let body = agent_body();
        let full: ChatRequest = serde_json::from_value(body.clone()).unwrap();
        let hashes = |model: &str, request: &ChatRequest| -> Vec<u64> {
            measure(model, request, &[])
                .prefixes
                .iter()
                .map(|p| p.hash)
                .collect()
        };
        let all = hashes("GigaChat", &full);
        let mut shorter = body.clone();
        shorter["messages"].as_array_mut().unwrap().truncate(50);
        let shorter: ChatRequest = serde_json::from_value(shorter).unwrap();
        assert_eq!(hashes("GigaChat", &shorter), all[..50]);
        let other_model = hashes("GigaChat-Pro", &full);
        assert!(other_model.iter().zip(&all).all(|(a, b)| a != b));
        let mut fewer_tools = body;
        fewer_tools["functions"].as_array_mut().unwrap().pop();
        let fewer_tools: ChatRequest = serde_json::from_value(fewer_tools).unwrap();
        let fewer = hashes("GigaChat", &fewer_tools);
        assert!(fewer.iter().zip(&all).all(|(a, b)| a != b));
    }

    /// A body shortened for a failure message: its start and its end, where the cases differ.
    fn shown(body: &[u8]) -> String {
        let text: Vec<char> = String::from_utf8_lossy(body).chars().collect();
        if text.len() <= 320 {
            return text.into_iter().collect();
        }
        let start: String = text[..80].iter().collect();
        let end: String = text[text.len() - 240..].iter().collect();
        format!("{start}…{end}")
    }

    #[test]
    fn the_direct_parse_answers_as_the_parse_through_value() {
        let agent = serde_json::to_vec(&agent_body()).unwrap();
        let mut bodies: Vec<Vec<u8>> = vec![agent.clone()];
        let deep = format!("{}1{}", "[".repeat(130), "]".repeat(130));
        for tail in [
            r#","extra":{"x":[1,2,{"y":null}]}"#.to_owned(),
            r#","extra":1e400"#.to_owned(),
            format!(r#","extra":{deep}"#),
            r#","extra":"\ud800""#.to_owned(),
            r#","model":"GigaChat-Max""#.to_owned(),
            r#","temperature":"hot""#.to_owned(),
            r#","max_tokens":1.5"#.to_owned(),
            r#","messages":5"#.to_owned(),
            r#","top_p":0.5,"update_interval":2"#.to_owned(),
        ] {
            let mut body = agent[..agent.len() - 1].to_vec();
            body.extend_from_slice(tail.as_bytes());
            body.push(b'}');
            bodies.push(body);
        }
        let mut trailing = agent.clone();
        trailing.extend_from_slice(b" x");
        bodies.push(trailing);
        bodies.push(
            b"{\"model\":\"GigaChat\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}"
                .to_vec(),
        );
        bodies.push(b"{\"model\":\"GigaChat\",\"x\":\"\xff\",\"messages\":[]}".to_vec());
        bodies.push(
            br#"{"model":"GigaChat","messages":[{"role":"user","content":"a","role":"system"}]}"#
                .to_vec(),
        );
        bodies.push(br#"{"messages":[{"role":"user","attachments":["f"],"content":null}],"functions":[{"name":"f","parameters":{"a":1e400}}]}"#.to_vec());
        for extra in [
            r#"{"role":"user","content":"a","extra":[1,{"b":null}]}"#,
            r#"{"role":"user","content":"a","extra":1e400}"#,
            r#"{"role":"user","content":"a","extra":"\udc00"}"#,
            r#"{"role":"user","content":"a","content":"b"}"#,
            r#"{"role":"user","attachments":null}"#,
            r#"{"content":"no role"}"#,
            r#"{"role":"user","content":7}"#,
            r#"["user","array form"]"#,
            r#"{"role":"assistant","function_call":{"name":"f","arguments":{"x":1e400}}}"#,
        ] {
            bodies.push(
                format!(r#"{{"model":"GigaChat","regex":"a+","messages":[{extra}]}}"#).into_bytes(),
            );
        }
        for function in [
            r#"{"name":"f","strict":true,"parameters":{"type":"object","properties":{}}}"#,
            r#"{"name":"f","extra":-1e400}"#,
            r#"{"name":"f","name":"g"}"#,
            r#"{"description":"no name"}"#,
            r#"{"name":"f","return_parameters":null,"description":null}"#,
        ] {
            bodies.push(
                format!(r#"{{"model":"GigaChat","messages":[{{"role":"user","content":"a"}}],"functions":[{function}]}}"#)
                    .into_bytes(),
            );
        }
        bodies.push(br#"["GigaChat",[{"role":"user","content":"a"}]]"#.to_vec());
        bodies.push(br#"{"model":null,"messages":null}"#.to_vec());
        bodies.push(br#"{"model":"GigaChat","messages":[],"functions":null,"max_tokens":9223372036854775808}"#.to_vec());
        bodies.push(b"[]".to_vec());
        bodies.push(b"".to_vec());
        // Nesting around the limit inside a message and inside the functions: read on their own,
        // the fragments must fail where the whole body fails.
        for depth in 118..=127 {
            let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            bodies.push(format!(r#"{{"model":"GigaChat","messages":[{{"role":"user","content":"a","x":{nested}}}]}}"#).into_bytes());
            bodies.push(format!(r#"{{"model":"GigaChat","messages":[{{"role":"user","content":"a"}}],"functions":[{{"name":"f","x":{nested}}}]}}"#).into_bytes());
        }
        let fragments = ChatFragments::default();
        for body in bodies.iter().chain(&bodies) {
            let direct = format!("{:?}", parse_json::<ChatRequest>(body));
            let read = format!(
                "{:?}",
                parse_checked_json(ChatRequestReader(&fragments), body)
            );
            assert_eq!(read, direct, "{}", shown(body));
            if let Some(reused) = chat_reader::read_reusing_fragments(&fragments, body) {
                assert_eq!(
                    format!("{:?}", Ok::<_, ApiError>(reused)),
                    direct,
                    "{}",
                    shown(body)
                );
            }
            let reference = format!(
                "{:?}",
                super::super::parse_json_through_value::<ChatRequest>(body)
            );
            assert_eq!(direct, reference, "{}", shown(body));
        }
    }

    #[test]
    fn prompt_estimate_matches_the_recording() {
        let r = request(json!({"model":"GigaChat","messages":[
            {"role":"user","content":"Say 'Hello' and nothing else"}]}));
        assert_eq!(
            measure("GigaChat", &r, &[0])
                .prefixes
                .last()
                .unwrap()
                .tokens,
            17
        );
    }
}
