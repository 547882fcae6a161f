//! OpenAI chat request → GigaChat chat request: roles, content, parameters, model, and what the
//! adapter must emulate itself (`n`, `stop`, stream usage).

use std::borrow::Cow;
use std::collections::HashMap;

use gigachat_types::{
    ChatRequest, Contract, FunctionCallMode, Message, ResponseFormat as GcResponseFormat, Role,
};
use openai::chat::{ChatCompletionRequest, ChatMessage};

use crate::TranslateError;
use crate::attachments::{ResolvedParts, images_to_drop, pieces, split, text_of};
use crate::schema::{ExpansionBudget, Restore, normalize};
use crate::tools::{CallRef, Toolset};

/// GigaChat's greedy decoding: temperatures in (0, 0.001] reset sampling to deterministic.
pub const GREEDY_TEMPERATURE: f64 = 0.001;
/// Most choices one request may ask for (each is one upstream call).
pub const MAX_CHOICES: u32 = 16;
/// Most stop sequences one request may give.
pub const MAX_STOP_SEQUENCES: usize = 16;

/// Server-side defaults a request is completed with.
#[derive(Debug, Clone, Default)]
pub struct ChatDefaults {
    /// Model used when the request names none (`GIGACHAT_MODEL`).
    pub default_model: String,
    /// Client model name → GigaChat model (e.g. `gpt-4o` → `GigaChat-2-Max`). A name with `*`
    /// is a pattern (`claude-*`), each `*` standing for any run of characters: see
    /// [`ChatDefaults::alias_of`].
    pub aliases: HashMap<String, String>,
    /// Let GigaChat use its built-in functions (drawing pictures) when the client sends no tools:
    /// GigaChat enables them only with `function_call: "auto"`.
    pub builtin_functions: bool,
    /// The chat contract upstream calls use (`GIGACHAT_API_VERSION`): what a request may ask for.
    pub contract: gigachat_types::Contract,
}

impl ChatDefaults {
    /// The GigaChat model for what the client asked (an alias, a GigaChat id, or nothing).
    pub fn resolve_model(&self, requested: Option<&str>) -> String {
        let requested = requested
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or(&self.default_model);
        self.alias_of(requested)
            .cloned()
            .unwrap_or_else(|| requested.to_owned())
    }

    /// The GigaChat model `name` is an alias of: an exact alias wins; else the longest pattern
    /// matching it (`claude-sonnet-*` before `claude-*`; equal lengths: the first in name order).
    pub fn alias_of(&self, name: &str) -> Option<&String> {
        if let Some(model) = self.aliases.get(name) {
            return Some(model);
        }
        self.aliases
            .iter()
            .filter(|(pattern, _)| pattern.contains('*') && wildcard_match(pattern, name))
            .max_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| b.cmp(a)))
            .map(|(_, model)| model)
    }
}

/// Whether `name` matches `pattern`, each `*` of which stands for any run of characters.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let mut pieces: Vec<&str> = pieces.collect();
    let Some(last) = pieces.pop() else {
        // No `*`: the whole name must be the pattern.
        return rest.is_empty();
    };
    for piece in pieces {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Everything needed to serve one chat request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatPlan {
    /// The request to send upstream (once per choice).
    pub upstream: ChatRequest,
    /// The client's tools as GigaChat functions, for mapping calls back.
    pub tools: Option<Toolset>,
    /// What the answer's text must be.
    pub output: OutputFormat,
    /// How many choices to produce.
    pub n: u32,
    /// Stop sequences to emulate.
    pub stop: Vec<String>,
    /// Whether the client wants SSE.
    pub stream: bool,
    /// Whether the client asked for the usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
}

/// What the client asked the answer's text to be.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum OutputFormat {
    /// Free text.
    #[default]
    Text,
    /// Any JSON object (`json_object`): GigaChat has no such mode, so it is asked to and checked.
    JsonObject,
    /// JSON for a schema (GigaChat's native structured output); values re-typed as the schema was.
    JsonSchema(Restore),
}

/// The instruction that gives `json_object` its meaning on GigaChat.
pub const JSON_OBJECT_INSTRUCTION: &str = "Answer with one valid JSON object and nothing else: no prose before or after it, no Markdown code fences.";

/// OpenAI `response_format` → GigaChat's flat `{type: json_schema, schema, strict}`; the schema is
/// normalised with the request's expansion `budget`.
fn output_format(
    format: Option<&openai::chat::ResponseFormat>,
    budget: &mut ExpansionBudget,
) -> Result<(Option<GcResponseFormat>, OutputFormat), TranslateError> {
    use openai::chat::ResponseFormat;
    match format {
        None | Some(ResponseFormat::Text) => Ok((None, OutputFormat::Text)),
        Some(ResponseFormat::JsonObject) => Ok((None, OutputFormat::JsonObject)),
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            let Some(schema) = &json_schema.schema else {
                return Err(TranslateError::invalid(
                    "response_format.json_schema.schema",
                    "a json_schema response format needs a schema",
                ));
            };
            let normalized = normalize(schema, "response_format.json_schema.schema", budget)?;
            Ok((
                Some(GcResponseFormat {
                    kind: "json_schema".into(),
                    schema: Some(normalized.schema),
                    strict: json_schema.strict,
                }),
                OutputFormat::JsonSchema(normalized.restore),
            ))
        }
    }
}

/// Adds the JSON-object instruction to the leading system message (creating one if needed).
fn instruct_json(messages: &mut Vec<Message>) {
    match messages.first_mut().filter(|m| m.role == Role::System) {
        Some(system) => {
            system.content.push_str("\n\n");
            system.content.push_str(JSON_OBJECT_INSTRUCTION);
        }
        None => messages.insert(0, Message::new(Role::System, JSON_OBJECT_INSTRUCTION)),
    }
}

/// Builds the plan for `request`; errors are the client's mistakes, named by JSON path.
pub fn chat_request(
    request: &ChatCompletionRequest,
    defaults: &ChatDefaults,
    resolved: &ResolvedParts,
) -> Result<ChatPlan, TranslateError> {
    // One budget for all the request's schemas: many small ones cannot each expand to the allowance.
    let mut budget = ExpansionBudget::default();
    let mut tools = Toolset::from_request_cached(request, defaults.contract, &mut budget)?;
    let function_call = match tools.as_mut() {
        Some(tools) => Some(tools.choose(request, defaults.contract)?),
        // Drawing on request, but never in place of a structured answer.
        None if defaults.builtin_functions && request.response_format.is_none() => {
            Some(FunctionCallMode::Auto)
        }
        None => None,
    };
    let (builtin_tools, forced_builtin) = crate::builtins::offered(request, defaults.contract)?;
    let function_call = forced_builtin.or(function_call).or_else(|| {
        // Built-ins are offered with the model choosing, as functions are.
        (!builtin_tools.is_empty()).then_some(FunctionCallMode::Auto)
    });
    let functions = tools.as_ref().map(Toolset::specs);
    let mut messages = messages(
        &request.messages,
        resolved,
        tools.as_ref().unwrap_or(&Toolset::default()),
        defaults.contract,
    )?;
    let (response_format, output) = output_format(request.response_format.as_ref(), &mut budget)?;
    if output == OutputFormat::JsonObject {
        instruct_json(&mut messages);
    }
    let temperature = match request.temperature {
        Some(t) if !(0.0..=2.0).contains(&t) => {
            return Err(TranslateError::invalid(
                "temperature",
                format!("temperature must be between 0 and 2, got {t}"),
            ));
        }
        Some(t) if t <= GREEDY_TEMPERATURE => Some(GREEDY_TEMPERATURE),
        other => other,
    };
    if let Some(top_p) = request.top_p.filter(|p| !(0.0..=1.0).contains(p)) {
        return Err(TranslateError::invalid(
            "top_p",
            format!("top_p must be between 0 and 1, got {top_p}"),
        ));
    }
    if let Some(penalty) = request.repetition_penalty.filter(|p| *p <= 0.0) {
        return Err(TranslateError::invalid(
            "repetition_penalty",
            format!("repetition_penalty must be greater than 0, got {penalty}"),
        ));
    }
    let max_tokens = request.max_completion_tokens.or(request.max_tokens);
    if max_tokens == Some(0) {
        let param = if request.max_completion_tokens.is_some() {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        return Err(TranslateError::invalid(param, "must be at least 1"));
    }
    let n = request.n.unwrap_or(1);
    if !(1..=MAX_CHOICES).contains(&n) {
        return Err(TranslateError::invalid(
            "n",
            format!("n must be between 1 and {MAX_CHOICES}, got {n}"),
        ));
    }
    let stop = request
        .stop
        .as_ref()
        .map(|s| s.sequences())
        .unwrap_or_default();
    if stop.len() > MAX_STOP_SEQUENCES {
        return Err(TranslateError::invalid(
            "stop",
            format!("at most {MAX_STOP_SEQUENCES} stop sequences are supported"),
        ));
    }
    let reasoning = reasoning(request)?;
    let upstream = ChatRequest {
        model: defaults.resolve_model(request.model.as_deref()),
        messages,
        temperature,
        top_p: request.top_p,
        max_tokens,
        repetition_penalty: request.repetition_penalty,
        update_interval: request.update_interval,
        profanity_check: request.profanity_check,
        reasoning_effort: reasoning.effort,
        reasoning_max_tokens: reasoning.max_tokens,
        parallel_tool_calls: parallel_tool_calls(request, tools.as_ref(), defaults.contract),
        function_call,
        functions,
        response_format,
        builtin_tools,
        contract: defaults.contract,
        ..ChatRequest::default()
    };
    crate::contract::check(&upstream)?;
    let stream = request.stream.unwrap_or(false);
    Ok(ChatPlan {
        upstream,
        tools,
        output,
        n,
        stop,
        stream,
        include_usage: stream
            && request
                .stream_options
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
    })
}

/// Whether GigaChat may answer with several calls at once: only v2 can, and only for `tools`
/// (legacy `functions` answers hold one `function_call`). Unset means yes, as OpenAI's default
/// (`parallel_tool_calls` defaults to true); v1 answers one call per turn whatever the client asks.
fn parallel_tool_calls(
    request: &ChatCompletionRequest,
    tools: Option<&Toolset>,
    contract: Contract,
) -> Option<bool> {
    let tools = tools.filter(|_| contract == Contract::V2)?;
    Some(!tools.legacy && request.parallel_tool_calls.unwrap_or(true))
}

/// The reasoning asked of GigaChat: an effort, and a token budget only together with one.
#[derive(Debug, Default)]
struct ReasoningAsked {
    effort: Option<String>,
    max_tokens: Option<u32>,
}

/// `reasoning_effort` / `reasoning.effort` and `reasoning.max_tokens`. A budget without an effort
/// asks for `medium`; effort `none` asks for no reasoning, budget or not.
fn reasoning(request: &ChatCompletionRequest) -> Result<ReasoningAsked, TranslateError> {
    let max_tokens = request.reasoning.as_ref().and_then(|r| r.max_tokens);
    if max_tokens == Some(0) {
        return Err(TranslateError::invalid(
            "reasoning.max_tokens",
            "must be at least 1",
        ));
    }
    let explicit = request.reasoning_effort.is_some()
        || request
            .reasoning
            .as_ref()
            .is_some_and(|r| r.effort.is_some());
    let effort = match reasoning_effort(request)? {
        None if !explicit && max_tokens.is_some() => Some("medium".to_owned()),
        effort => effort,
    };
    Ok(ReasoningAsked {
        max_tokens: max_tokens.filter(|_| effort.is_some()),
        effort,
    })
}

/// `reasoning_effort` or `reasoning.effort`, in GigaChat's three levels.
fn reasoning_effort(request: &ChatCompletionRequest) -> Result<Option<String>, TranslateError> {
    let (param, effort) = match (&request.reasoning_effort, &request.reasoning) {
        (Some(effort), _) => ("reasoning_effort", Some(effort.as_str())),
        (None, Some(reasoning)) => ("reasoning.effort", reasoning.effort.as_deref()),
        (None, None) => return Ok(None),
    };
    match effort {
        None | Some("none") => Ok(None),
        Some("minimal" | "low") => Ok(Some("low".into())),
        Some("medium") => Ok(Some("medium".into())),
        Some("high" | "xhigh") => Ok(Some("high".into())),
        Some(other) => Err(TranslateError::invalid(
            param,
            format!("unknown reasoning effort {other:?}; use low, medium or high"),
        )),
    }
}

/// The session id for GigaChat's prompt cache: the client's header, else `prompt_cache_key`, else
/// `user`, made safe to send as a header.
pub fn session_id(request: &ChatCompletionRequest, header: Option<&str>) -> Option<String> {
    header
        .or(request.prompt_cache_key.as_deref())
        .or(request.user.as_deref())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(header_id)
}

/// A client's id as GigaChat receives it in an `X-Request-ID`, `X-Session-ID` or `X-Client-ID`
/// header: percent-encoded to visible ASCII when that fits in 128 bytes, else its digest
/// (`%sha256-` and 64 hex digits). The same id always gives the same value, distinct ids distinct values.
pub fn header_id(id: &str) -> String {
    if encoded_len(id) <= MAX_HEADER_ID {
        header_safe(id)
    } else {
        digest_id(id)
    }
}

/// Longer ids are replaced by their digest: a free-form `user` or header of any length must not
/// become an upstream header that GigaChat's gateway refuses (431 from about 15.5 KB of headers).
const MAX_HEADER_ID: usize = 128;

/// `%sha256-` and the hex SHA-256 of `id`: stable (the same user keeps hitting the same cache),
/// distinct for distinct ids, 72 bytes whatever the input, and never equal to an id sent as it is
/// (in those, `%` only starts an escape with upper-case hex digits).
fn digest_id(id: &str) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    let digest = sha2::Sha256::digest(id.as_bytes());
    let mut out = String::with_capacity(8 + 64);
    out.push_str("%sha256-");
    for byte in digest {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The length of [`header_safe`]`(id)`, without building it.
fn encoded_len(id: &str) -> usize {
    id.bytes()
        .map(|byte| {
            if byte.is_ascii_graphic() && byte != b'%' {
                1
            } else {
                3
            }
        })
        .sum()
}

/// `id` as a header value: visible ASCII stays as it is; anything else (spaces, control characters,
/// Cyrillic user names) and `%` itself are percent-encoded, so distinct ids stay distinct and a
/// client's free-form `user` can never make the upstream request unsendable.
fn header_safe(id: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_graphic() && byte != b'%' {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Maps the history. `system`/`developer` messages before the first other message become one
/// leading system message; later ones become user messages (GigaChat allows one system message, first).
/// An assistant turn with tool calls becomes its calls and their results (see [`tool_turn`]).
fn messages(
    history: &[ChatMessage],
    resolved: &ResolvedParts,
    tools: &Toolset,
    contract: Contract,
) -> Result<Vec<Message>, TranslateError> {
    if history.is_empty() {
        return Err(TranslateError::invalid(
            "messages",
            "messages must contain at least one message",
        ));
    }
    let mut out: Vec<Message> = Vec::with_capacity(history.len());
    let mut leading_system: Vec<Cow<'_, str>> = Vec::new();
    let mut in_leading_block = true;
    let dropped = images_to_drop(history, resolved);
    let mut index = 0;
    while index < history.len() {
        let message = &history[index];
        let is_system = matches!(message.role.as_str(), "system" | "developer");
        if !is_system {
            in_leading_block = false;
        }
        let pieces = pieces(message, index, resolved, &dropped)?;
        let role = match message.role.as_str() {
            "system" | "developer" if in_leading_block => {
                leading_system.push(text_of(&pieces));
                index += 1;
                continue;
            }
            "system" | "developer" | "user" => Role::User,
            "assistant" => {
                if let Some(calls) = message.tool_calls.as_ref().filter(|c| !c.is_empty()) {
                    index = tool_turn(
                        history,
                        index,
                        calls,
                        text_of(&pieces).into_owned(),
                        tools,
                        contract,
                        &mut out,
                    )?;
                    continue;
                }
                if let Some(call) = &message.function_call {
                    index = legacy_function_turn(
                        history,
                        index,
                        call,
                        text_of(&pieces).into_owned(),
                        tools,
                        contract,
                        &mut out,
                    )?;
                    continue;
                }
                Role::Assistant
            }
            "tool" | "function" => {
                return Err(TranslateError::invalid(
                    format!("messages[{index}]"),
                    "a tool result must directly follow the assistant message with its tool call",
                ));
            }
            other => {
                return Err(TranslateError::invalid(
                    format!("messages[{index}].role"),
                    format!(
                        "unknown role {other:?}; expected system, developer, user, assistant or tool"
                    ),
                ));
            }
        };
        out.extend(split(role, pieces));
        index += 1;
    }
    if !leading_system.is_empty() {
        out.insert(0, Message::new(Role::System, leading_system.join("\n\n")));
    }
    Ok(out)
}

/// An assistant turn with `tool_calls` and the `tool` messages after it → the calls and their
/// results as [`push_turn`] sends them. Returns the index after the consumed messages.
fn tool_turn(
    history: &[ChatMessage],
    index: usize,
    calls: &[openai::chat::ToolCall],
    text: String,
    tools: &Toolset,
    contract: Contract,
    out: &mut Vec<Message>,
) -> Result<usize, TranslateError> {
    // Each result is sent once per call that names it: calls sharing an id would repeat it.
    let mut call_ids: HashMap<&str, usize> = HashMap::with_capacity(calls.len());
    for (position, call) in calls.iter().enumerate() {
        if call_ids.insert(call.id.as_str(), position).is_some() {
            return Err(TranslateError::invalid(
                format!("messages[{index}].tool_calls[{position}].id"),
                format!("tool call id {:?} is used twice in this message", call.id),
            ));
        }
    }
    // The first result for each call, by its id.
    let mut results: HashMap<&str, (usize, &ChatMessage)> = HashMap::new();
    let mut next = index + 1;
    while let Some(message) = history.get(next).filter(|m| m.role == "tool") {
        let Some(call_id) = message.tool_call_id.as_deref() else {
            return Err(TranslateError::invalid(
                format!("messages[{next}].tool_call_id"),
                "a tool message needs the tool_call_id it answers",
            ));
        };
        if !call_ids.contains_key(call_id) {
            return Err(TranslateError::invalid(
                format!("messages[{next}].tool_call_id"),
                format!("no tool call with id {call_id:?} in the preceding assistant message"),
            ));
        }
        results.entry(call_id).or_insert((next, message));
        next += 1;
    }
    // Tool results carry no files: their parts are read as text.
    let no_files = ResolvedParts::new();
    let mut answered = Vec::with_capacity(calls.len());
    for (position, call) in calls.iter().enumerate() {
        let Some(&(result_index, result)) = results.get(call.id.as_str()) else {
            return Err(TranslateError::invalid(
                format!("messages[{index}].tool_calls[{position}]"),
                format!(
                    "tool call {:?} has no tool result; add a tool message with this tool_call_id",
                    call.id
                ),
            ));
        };
        let arguments = parse_arguments(&call.function.arguments, || {
            format!("messages[{index}].tool_calls[{position}].function.arguments")
        })?;
        let result_text = text_of(&pieces(
            result,
            result_index,
            &no_files,
            &Default::default(),
        )?);
        answered.push(AnsweredCall {
            name: tools.alias(&call.function.name),
            arguments,
            reference: crate::tools::decode_call_id(&call.id),
            result: result_text,
        });
    }
    push_turn(out, text, answered, contract);
    Ok(next)
}

/// A legacy assistant `function_call` and the `function` message after it.
fn legacy_function_turn(
    history: &[ChatMessage],
    index: usize,
    call: &openai::chat::FunctionCall,
    text: String,
    tools: &Toolset,
    contract: Contract,
    out: &mut Vec<Message>,
) -> Result<usize, TranslateError> {
    let Some(result) = history.get(index + 1).filter(|m| m.role == "function") else {
        return Err(TranslateError::invalid(
            format!("messages[{index}].function_call"),
            "a function call needs a function message with its result right after it",
        ));
    };
    let arguments = parse_arguments(&call.arguments, || {
        format!("messages[{index}].function_call.arguments")
    })?;
    let no_files = ResolvedParts::new();
    let result_text = text_of(&pieces(result, index + 1, &no_files, &Default::default())?);
    let answered = AnsweredCall {
        name: tools.alias(&call.name),
        arguments,
        reference: CallRef::default(),
        result: result_text,
    };
    push_turn(out, text, vec![answered], contract);
    Ok(index + 2)
}

/// A call from the history with its result, ready to send upstream.
struct AnsweredCall<'a> {
    /// The function's GigaChat name.
    name: String,
    arguments: serde_json::Value,
    /// The state id and GigaChat call id the client's call id carries.
    reference: CallRef,
    /// The result's text (borrowed from the request when it is one string).
    result: Cow<'a, str>,
}

/// Sends a turn's calls and results. On v2 a turn GigaChat made at once (every call has its
/// GigaChat id, all share one state id) goes back as it came: one assistant message with all
/// the calls (`function_call`, then `parallel_calls`), then one `function` message per result,
/// each with the id of the call it answers and the state id. Otherwise (v1, which answers one
/// call per message, or calls GigaChat did not make together) each call is an assistant message
/// of its own with its state id, followed by its result; v1 gets no call ids, as before.
fn push_turn(
    out: &mut Vec<Message>,
    text: String,
    calls: Vec<AnsweredCall<'_>>,
    contract: Contract,
) {
    let v2 = contract == Contract::V2;
    let together = v2
        && calls.len() > 1
        && calls.iter().all(|call| {
            call.reference.call_id.is_some()
                && call.reference.state_id == calls[0].reference.state_id
        });
    if together {
        let state_id = calls[0].reference.state_id.clone();
        let mut message = Message::new(Role::Assistant, text);
        let mut made = calls.iter().map(|call| gigachat_types::FunctionCall {
            id: call.reference.call_id.clone(),
            name: call.name.clone(),
            arguments: call.arguments.clone(),
        });
        message.function_call = made.next();
        message.parallel_calls = made.collect();
        message.functions_state_id = state_id.clone();
        out.push(message);
        out.extend(
            calls
                .into_iter()
                .map(|call| result_message(call, state_id.clone())),
        );
        return;
    }
    let mut text = Some(text);
    for mut call in calls {
        if !v2 {
            call.reference.call_id = None;
        }
        let mut message = Message::new(Role::Assistant, text.take().unwrap_or_default());
        message.function_call = Some(gigachat_types::FunctionCall {
            id: call.reference.call_id.clone(),
            name: call.name.clone(),
            arguments: std::mem::take(&mut call.arguments),
        });
        message.functions_state_id = call.reference.state_id.clone();
        out.push(message);
        let state_id = call.reference.state_id.clone().filter(|_| v2);
        out.push(result_message(call, state_id));
    }
}

/// The `function` message with a call's result (a JSON object, as GigaChat requires), naming the
/// call it answers by GigaChat id (v2) and carrying `state_id` when given (v2).
fn result_message(call: AnsweredCall<'_>, state_id: Option<String>) -> Message {
    let mut result = Message::new(Role::Function, crate::tools::result_content(&call.result));
    result.name = Some(call.name);
    result.call_id = call.reference.call_id;
    result.functions_state_id = state_id;
    result
}

/// Tool-call arguments from history: a JSON object in a string (empty means `{}`); `param` names
/// them, written out only for an error.
fn parse_arguments(
    text: &str,
    param: impl FnOnce() -> String,
) -> Result<serde_json::Value, TranslateError> {
    if text.trim().is_empty() {
        return Ok(serde_json::json!({}));
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value),
        _ => Err(TranslateError::invalid(
            param(),
            "tool call arguments must be a JSON object encoded as a string",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(body: serde_json::Value) -> Result<ChatPlan, TranslateError> {
        let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
        let defaults = ChatDefaults {
            contract: Default::default(),
            default_model: "GigaChat".into(),
            aliases: HashMap::from([("gpt-4o".into(), "GigaChat-2-Max".into())]),
            builtin_functions: false,
        };
        chat_request(&request, &defaults, &ResolvedParts::new())
    }

    #[test]
    fn roles_merge_into_one_leading_system_message() {
        let plan = plan(json!({"messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in Russian."}]},
            {"role": "user", "content": "Hi", "name": "bob"},
            {"role": "assistant", "content": null},
            {"role": "system", "content": "Now be verbose."},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
        ]}))
        .unwrap();
        let roles: Vec<_> = plan
            .upstream
            .messages
            .iter()
            .map(|m| m.role.clone())
            .collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::Assistant,
                Role::User,
                Role::User
            ]
        );
        assert_eq!(
            plan.upstream.messages[0].content,
            "You are terse.\n\nAnswer in Russian."
        );
        assert_eq!(plan.upstream.messages[2].content, "");
        assert_eq!(plan.upstream.messages[3].content, "Now be verbose.");
        assert_eq!(plan.upstream.messages[4].content, "a\nb");
        assert_eq!(plan.upstream.model, "GigaChat");
    }

    #[test]
    fn parameters_map_and_validate() {
        let plan = plan(json!({
            "model": "gpt-4o", "messages": [{"role": "user", "content": "x"}],
            "temperature": 0, "top_p": 0.5, "max_tokens": 10, "max_completion_tokens": 20,
            "reasoning": {"effort": "minimal"}, "repetition_penalty": 1.1, "update_interval": 0.2,
            "profanity_check": false, "n": 2, "stop": "END", "stream": true,
            "stream_options": {"include_usage": true}
        }))
        .unwrap();
        assert_eq!(plan.upstream.model, "GigaChat-2-Max");
        assert_eq!(plan.upstream.temperature, Some(GREEDY_TEMPERATURE));
        assert_eq!(plan.upstream.max_tokens, Some(20));
        assert_eq!(plan.upstream.reasoning_effort.as_deref(), Some("low"));
        assert_eq!(plan.upstream.repetition_penalty, Some(1.1));
        assert_eq!(plan.upstream.update_interval, Some(0.2));
        assert_eq!(plan.upstream.profanity_check, Some(false));
        assert_eq!((plan.n, plan.stream, plan.include_usage), (2, true, true));
        assert_eq!(plan.stop, ["END"]);
    }

    #[test]
    fn a_reasoning_budget_goes_with_an_effort() {
        let asked = |extra: serde_json::Value| {
            let mut body = json!({"messages": [{"role": "user", "content": "x"}]});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let upstream = plan(body).unwrap().upstream;
            (upstream.reasoning_effort, upstream.reasoning_max_tokens)
        };
        assert_eq!(
            asked(json!({"reasoning": {"effort": "high", "max_tokens": 500}})),
            (Some("high".into()), Some(500))
        );
        assert_eq!(
            asked(json!({"reasoning": {"max_tokens": 500}})),
            (Some("medium".into()), Some(500))
        );
        assert_eq!(
            asked(json!({"reasoning_effort": "none", "reasoning": {"max_tokens": 500}})),
            (None, None)
        );
        assert_eq!(asked(json!({"reasoning_effort": "none"})), (None, None));
        let err = plan(json!({"messages": [{"role": "user", "content": "x"}],
            "reasoning": {"max_tokens": 0}}))
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("reasoning.max_tokens"));
    }

    #[test]
    fn client_mistakes_name_the_field() {
        for (body, param) in [
            (json!({"messages": []}), "messages"),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "temperature": 3}),
                "temperature",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "top_p": -1}),
                "top_p",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "n": 0}),
                "n",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}),
                "max_tokens",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "repetition_penalty": 0}),
                "repetition_penalty",
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "max"}),
                "reasoning_effort",
            ),
            (
                json!({"messages": [{"role": "wizard", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]}),
                "messages[0].content[0]",
            ),
        ] {
            let err = plan(body).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{}", err.message);
        }
    }

    /// Calls sharing an id would each carry the one result: a small body could repeat a large
    /// result thousands of times upstream.
    #[test]
    fn tool_call_ids_are_unique_within_a_turn() {
        let call =
            json!({"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}});
        let err = plan(json!({"messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": null, "tool_calls": [call, call]},
            {"role": "tool", "tool_call_id": "a", "content": "result"}
        ]}))
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("messages[1].tool_calls[1].id"));
    }

    fn plan_on(contract: Contract, body: serde_json::Value) -> ChatPlan {
        let request: ChatCompletionRequest = serde_json::from_value(body).unwrap();
        let defaults = ChatDefaults {
            contract,
            default_model: "GigaChat".into(),
            ..ChatDefaults::default()
        };
        chat_request(&request, &defaults, &ResolvedParts::new()).unwrap()
    }

    const STATE: &str = "0199e210-2f13-744c-8fe5-c9a19fe27db7";

    fn two_tools() -> serde_json::Value {
        json!([
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "get rate", "parameters": {"type": "object", "properties": {"currency": {"type": "string"}}}}}
        ])
    }

    /// Two calls GigaChat made at once (ids from its answer), answered out of order.
    fn parallel_history(first_id: &str, second_id: &str) -> serde_json::Value {
        json!({"tools": two_tools(), "messages": [
            {"role": "user", "content": "weather and rate"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": first_id, "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Kazan\"}"}},
                {"id": second_id, "type": "function", "function": {"name": "get rate", "arguments": "{\"currency\":\"USD\"}"}}
            ]},
            {"role": "tool", "tool_call_id": second_id, "content": "90.5"},
            {"role": "tool", "tool_call_id": first_id, "content": "{\"temp_c\": 8}"}
        ]})
    }

    fn gigachat_ids() -> (String, String) {
        (
            crate::tools::call_id(Some(STATE), Some("call_a"), 0, "x"),
            crate::tools::call_id(Some(STATE), Some("call_b"), 1, "x"),
        )
    }

    /// v2: the turn goes back as GigaChat made it: one assistant message holding both calls
    /// with their ids and the state id, then one result per call naming the call it answers.
    #[test]
    fn v2_sends_parallel_calls_as_one_message_and_results_by_id() {
        let (first, second) = gigachat_ids();
        let plan = plan_on(Contract::V2, parallel_history(&first, &second));
        let messages = &plan.upstream.messages;
        assert_eq!(messages.len(), 4, "{messages:#?}");
        let call = &messages[1];
        assert_eq!(call.role, Role::Assistant);
        assert_eq!(call.content, "Checking.");
        assert_eq!(call.functions_state_id.as_deref(), Some(STATE));
        let calls: Vec<(Option<&str>, &str, &serde_json::Value)> = call
            .calls()
            .map(|c| (c.id.as_deref(), c.name.as_str(), &c.arguments))
            .collect();
        let rate = crate::tools::sanitize_name("get rate");
        assert_eq!(
            calls,
            [
                (Some("call_a"), "get_weather", &json!({"city": "Kazan"})),
                (Some("call_b"), rate.as_str(), &json!({"currency": "USD"}))
            ]
        );
        for (result, (call_id, name, content)) in messages[2..].iter().zip([
            ("call_a", "get_weather", r#"{"temp_c":8}"#),
            ("call_b", rate.as_str(), r#"{"result":90.5}"#),
        ]) {
            assert_eq!(result.role, Role::Function);
            assert_eq!(result.call_id.as_deref(), Some(call_id));
            assert_eq!(result.name.as_deref(), Some(name));
            assert_eq!(result.functions_state_id.as_deref(), Some(STATE));
            assert_eq!(result.content, content);
        }
        assert_eq!(
            plan.upstream.parallel_tool_calls,
            Some(true),
            "OpenAI's default"
        );
    }

    /// v1 answers one call per message: the same turn is split into (call, result) pairs, each
    /// with the state id, and no v2-only fields are set.
    #[test]
    fn v1_splits_parallel_calls_into_pairs() {
        let (first, second) = gigachat_ids();
        let plan = plan_on(Contract::V1, parallel_history(&first, &second));
        let messages = &plan.upstream.messages;
        let roles: Vec<&Role> = messages.iter().map(|m| &m.role).collect();
        assert_eq!(
            roles,
            [
                &Role::User,
                &Role::Assistant,
                &Role::Function,
                &Role::Assistant,
                &Role::Function
            ]
        );
        assert_eq!(messages[1].content, "Checking.");
        assert_eq!(messages[3].content, "");
        for (call, result) in [(&messages[1], &messages[2]), (&messages[3], &messages[4])] {
            assert_eq!(call.functions_state_id.as_deref(), Some(STATE));
            assert!(call.parallel_calls.is_empty());
            assert_eq!(call.function_call.as_ref().unwrap().id, None);
            assert_eq!(result.call_id, None);
            assert_eq!(result.functions_state_id, None);
        }
        assert_eq!(messages[2].content, r#"{"temp_c":8}"#);
        assert_eq!(plan.upstream.parallel_tool_calls, None);
        let body = serde_json::to_value(&plan.upstream).unwrap();
        assert!(body["messages"][1]["function_call"].get("id").is_none());
    }

    /// Calls GigaChat did not make together (no GigaChat ids: old ids, the client's own, or
    /// different states) are sent one per message on v2 too, each with its own state and id.
    #[test]
    fn v2_sends_calls_without_shared_ids_as_pairs() {
        let other_state = "11111111-2f13-744c-8fe5-c9a19fe27db7";
        for (first, second) in [
            (
                crate::tools::call_id(Some(STATE), None, 0, "x"),
                crate::tools::call_id(Some(STATE), None, 1, "x"),
            ),
            ("call_client_1".to_owned(), "call_client_2".to_owned()),
            (
                crate::tools::call_id(Some(STATE), Some("call_a"), 0, "x"),
                crate::tools::call_id(Some(other_state), Some("call_b"), 0, "x"),
            ),
        ] {
            let plan = plan_on(Contract::V2, parallel_history(&first, &second));
            let messages = &plan.upstream.messages;
            assert_eq!(messages.len(), 5, "{first} {second}: {messages:#?}");
            for (call_id, pair) in [(&first, &messages[1..3]), (&second, &messages[3..5])] {
                let reference = crate::tools::decode_call_id(call_id);
                assert!(pair[0].parallel_calls.is_empty());
                assert_eq!(pair[0].functions_state_id, reference.state_id);
                assert_eq!(
                    pair[0].function_call.as_ref().unwrap().id,
                    reference.call_id
                );
                assert_eq!(pair[1].call_id, reference.call_id);
                assert_eq!(pair[1].functions_state_id, reference.state_id);
            }
        }
    }

    /// `parallel_tool_calls` reaches v2 as the client set it (unset: true); legacy `functions`
    /// answers hold one call, so they ask for one; v1 gets nothing.
    #[test]
    fn parallel_tool_calls_on_each_contract() {
        let body = |extra: serde_json::Value| {
            let mut body =
                json!({"messages": [{"role": "user", "content": "x"}], "tools": two_tools()});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        let parallel =
            |contract, extra| plan_on(contract, body(extra)).upstream.parallel_tool_calls;
        assert_eq!(parallel(Contract::V2, json!({})), Some(true));
        assert_eq!(
            parallel(Contract::V2, json!({"parallel_tool_calls": false})),
            Some(false)
        );
        assert_eq!(
            parallel(Contract::V2, json!({"parallel_tool_calls": true})),
            Some(true)
        );
        assert_eq!(
            parallel(Contract::V1, json!({"parallel_tool_calls": true})),
            None
        );
        let legacy =
            json!({"messages": [{"role": "user", "content": "x"}], "functions": [{"name": "f"}]});
        assert_eq!(
            plan_on(Contract::V2, legacy).upstream.parallel_tool_calls,
            Some(false)
        );
        let no_tools =
            json!({"messages": [{"role": "user", "content": "x"}], "parallel_tool_calls": true});
        assert_eq!(
            plan_on(Contract::V2, no_tools).upstream.parallel_tool_calls,
            None
        );
    }

    /// `required`: v2's `any` of every tool; v1 keeps the router function.
    #[test]
    fn required_tool_choice_on_each_contract() {
        let body = json!({"messages": [{"role": "user", "content": "x"}], "tools": two_tools(), "tool_choice": "required"});
        let v2 = plan_on(Contract::V2, body.clone()).upstream;
        assert_eq!(
            v2.function_call,
            Some(FunctionCallMode::Any {
                names: vec![
                    "get_weather".into(),
                    crate::tools::sanitize_name("get rate")
                ]
            })
        );
        assert_eq!(v2.functions.map(|f| f.len()), Some(2));
        let v1 = plan_on(Contract::V1, body).upstream;
        assert!(
            matches!(&v1.function_call, Some(FunctionCallMode::Forced { name, .. }) if name.starts_with("choose_and_call_tool"))
        );
        assert_eq!(v1.functions.map(|f| f.len()), Some(3));
    }

    #[test]
    fn response_format_schemas_must_be_object_schemas() {
        for schema in [
            json!("object"),
            json!({"type": "array", "items": {}}),
            json!([]),
        ] {
            let err = plan(json!({
                "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
            }))
            .unwrap_err();
            assert_eq!(
                err.param.as_deref(),
                Some("response_format.json_schema.schema"),
                "{}",
                err.message
            );
        }
    }

    /// Tools and the response format draw on one expansion budget.
    #[test]
    fn schemas_of_one_request_share_the_budget() {
        let schema = crate::schema::fan_out(4);
        let tools: Vec<_> = (0..40)
            .map(|i| json!({"type": "function", "function": {"name": format!("f{i}"), "parameters": schema}}))
            .collect();
        let one =
            plan(json!({"messages": [{"role": "user", "content": "x"}], "tools": [tools[0]]}));
        assert!(one.is_ok(), "one such schema fits: {one:?}");
        let err = plan(json!({"messages": [{"role": "user", "content": "x"}], "tools": tools}))
            .unwrap_err();
        assert!(
            err.param
                .as_deref()
                .is_some_and(|p| p.ends_with(".function.parameters")),
            "{err:?}"
        );
    }

    /// Tools served from the tool-list cache charge the budget as normalising them did: a
    /// response format that does not fit after the tools still does not fit when they are a hit.
    #[test]
    fn cached_tools_still_charge_the_budget() {
        let schema = crate::schema::fan_out(4);
        let request = |count: usize, with_format: bool| {
            let tools: Vec<_> = (0..count)
                .map(|i| json!({"type": "function", "function": {"name": format!("charged_{i}"), "parameters": schema}}))
                .collect();
            let mut body = json!({"messages": [{"role": "user", "content": "x"}], "tools": tools});
            if with_format {
                body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "out", "schema": schema}});
            }
            body
        };
        // Each list is planned alone first, so later plans of it are cache hits.
        let fitting: Vec<usize> = (1..40)
            .take_while(|&count| plan(request(count, false)).is_ok())
            .collect();
        let count = fitting
            .into_iter()
            .find(|&count| plan(request(count, true)).is_err())
            .expect("some tools that fit leave too little for the response format");
        for _ in 0..2 {
            let err = plan(request(count, true)).unwrap_err();
            assert_eq!(
                err.param.as_deref(),
                Some("response_format.json_schema.schema"),
                "{err:?}"
            );
        }
    }

    /// A plan whose tools come from the cache is the plan normalising them afresh gives.
    #[test]
    fn cached_tools_plan_alike() {
        let body = json!({"messages": [{"role": "user", "content": "x"}], "tools": [
            {"type": "function", "function": {"name": "alike_a", "description": "A", "parameters": crate::schema::fan_out(2)}},
            {"type": "function", "function": {"name": "alike b", "parameters": {"properties": {"n": {"enum": [1, 2]}}}}}
        ], "tool_choice": "required"});
        let request: ChatCompletionRequest = serde_json::from_value(body.clone()).unwrap();
        let first = plan(body.clone()).unwrap();
        let second = plan(body).unwrap();
        assert_eq!(first, second);
        let mut fresh = Toolset::from_request(&request, &mut ExpansionBudget::default())
            .unwrap()
            .unwrap();
        fresh.choose(&request, Contract::default()).unwrap();
        assert_eq!(second.tools, Some(fresh.clone()));
        assert_eq!(second.upstream.functions, Some(fresh.specs()));
    }

    #[test]
    fn at_most_ten_images_the_newest_kept_one_per_message() {
        let parts: Vec<_> = (0..12)
            .map(|_| json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}))
            .collect();
        let request: ChatCompletionRequest = serde_json::from_value(json!({
            "messages": [{"role": "user", "content": parts}]
        }))
        .unwrap();
        let resolved: ResolvedParts = (0..12)
            .map(|i| {
                let file = crate::ResolvedFile {
                    file_id: format!("f{i}"),
                    kind: crate::FileKind::Image,
                };
                ((0, i), file)
            })
            .collect();
        let plan = chat_request(&request, &ChatDefaults::default(), &resolved).unwrap();
        let messages = &plan.upstream.messages;
        let attached: Vec<&str> = messages
            .iter()
            .flat_map(|m| m.attachments.iter().map(String::as_str))
            .collect();
        assert_eq!(
            attached,
            (2..12).map(|i| format!("f{i}")).collect::<Vec<_>>()
        );
        assert!(messages.iter().all(|m| m.attachments.len() <= 1));
        assert!(messages[0].content.contains("omitted"));
    }

    #[test]
    fn wildcard_aliases_exact_first_then_the_longest_pattern() {
        let defaults = ChatDefaults {
            contract: Default::default(),
            default_model: "GigaChat".into(),
            aliases: [
                ("claude-*", "GigaChat-2-Max"),
                ("claude-haiku-*", "GigaChat-2"),
                ("claude-haiku-4-5", "GigaChat-2-Pro"),
                ("*-mini", "GigaChat-2"),
                ("gpt-*-x*z", "GigaChat-2-Pro"),
            ]
            .into_iter()
            .map(|(a, m)| (a.to_owned(), m.to_owned()))
            .collect(),
            builtin_functions: false,
        };
        let resolve = |name: &str| defaults.resolve_model(Some(name));
        assert_eq!(resolve("claude-sonnet-4-5-20250929"), "GigaChat-2-Max");
        assert_eq!(resolve("claude-haiku-3"), "GigaChat-2");
        assert_eq!(resolve("claude-haiku-4-5"), "GigaChat-2-Pro");
        assert_eq!(resolve("o4-mini"), "GigaChat-2");
        assert_eq!(resolve("gpt-4-xyz"), "GigaChat-2-Pro");
        assert_eq!(resolve("gpt-4-xy"), "gpt-4-xy");
        assert_eq!(resolve("claude"), "claude");
        assert_eq!(resolve("GigaChat-2"), "GigaChat-2");
        assert!(wildcard_match("a*a", "aa") && !wildcard_match("a*a", "a"));
    }

    #[test]
    fn session_id_priority() {
        let request: ChatCompletionRequest = serde_json::from_value(json!({
            "messages": [{"role": "user", "content": "x"}], "user": "u", "prompt_cache_key": "k"
        }))
        .unwrap();
        assert_eq!(session_id(&request, Some("h")).as_deref(), Some("h"));
        assert_eq!(session_id(&request, None).as_deref(), Some("k"));
    }

    #[test]
    fn session_ids_are_always_valid_header_values() {
        let with_user = |user: &str| -> ChatCompletionRequest {
            serde_json::from_value(json!({"messages": [], "user": user})).unwrap()
        };
        let cases = [
            ("user-42:team/a", "user-42:team/a"),
            ("Иван", "%D0%98%D0%B2%D0%B0%D0%BD"),
            ("a\u{12}b c", "a%12b%20c"),
            ("50%", "50%25"),
        ];
        for (user, sent) in cases {
            let id = session_id(&with_user(user), None).unwrap();
            assert_eq!(id, sent);
            assert!(id.bytes().all(|b| b.is_ascii_graphic()), "{id:?}");
        }
        // Distinct ids stay distinct.
        assert_ne!(
            session_id(&with_user("a b"), None),
            session_id(&with_user("a%20b"), None)
        );
    }

    #[test]
    fn long_session_ids_are_sent_as_their_digest() {
        let with_user = |user: &str| -> ChatCompletionRequest {
            serde_json::from_value(json!({"messages": [], "user": user})).unwrap()
        };
        let fits = "u".repeat(MAX_HEADER_ID);
        assert_eq!(session_id(&with_user(&fits), None), Some(fits));
        // 43 Cyrillic letters encode to 258 bytes: over the limit once encoded.
        for long in ["u".repeat(100_000), "Ж".repeat(43)] {
            let id = session_id(&with_user(&long), None).unwrap();
            assert!(id.starts_with("%sha256-") && id.len() == 72, "{id}");
            assert_eq!(session_id(&with_user(&long), None).unwrap(), id, "stable");
        }
        assert_ne!(
            session_id(&with_user(&"a".repeat(200)), None),
            session_id(&with_user(&"b".repeat(200)), None)
        );
        assert_eq!(
            digest_id("abc"),
            "%sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // A client cannot send a digest of someone else's id as its own: `%` is escaped.
        let forged = digest_id(&"a".repeat(200));
        assert_ne!(session_id(&with_user(&forged), None), Some(forged));
    }
}
