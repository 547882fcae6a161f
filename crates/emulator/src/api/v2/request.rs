//! The v2 request: wire model, v2 checks (`tool_config`, results matched by id), translation to v1.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::builtins;
use crate::api::chat::{CallMode, ChatRequest, FunctionSpec, Functions, Message, V2Extras};
use crate::wire::ApiError;

/// `POST /v2/chat/completions` as far as the emulator reads it (unknown fields are ignored, as the
/// real service passes extras through).
#[derive(Debug, Deserialize)]
pub(super) struct Request {
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
    parallel_tool_calls: Option<bool>,
    reasoning: Option<Reasoning>,
}

#[derive(Debug, Deserialize)]
struct Reasoning {
    effort: Option<String>,
    max_tokens: Option<i64>,
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

impl Content {
    fn into_parts(self) -> Vec<Value> {
        match self {
            Self::Text(text) => vec![json!({ "text": text })],
            Self::Parts(parts) => parts,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ToolConfig {
    mode: Option<String>,
    function_name: Option<String>,
    tool_name: Option<String>,
    functions_names_any: Option<Vec<String>>,
}

/// A v2 request in the v1 model, and whether its history carried a tool state id.
pub(super) struct Translated {
    /// The v1 request.
    pub(super) request: ChatRequest,
    /// A message had `tools_state_id`.
    pub(super) had_state: bool,
}

/// The text of a message's parts.
fn text_of(parts: &[Value]) -> String {
    parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect()
}

/// One `function_result` part: its id, name and result.
struct ToolResult {
    id: Option<String>,
    name: Option<String>,
    result: String,
    state: Option<String>,
}

fn id_of(part: &Value) -> Option<String> {
    part.get("id").and_then(Value::as_str).map(str::to_owned)
}

/// The results of one `tool` message (a message without `function_result` parts is one result
/// holding its text).
fn results_of(message: InMessage) -> Vec<ToolResult> {
    let state = message.tools_state_id;
    let parts = message.content.into_parts();
    let results: Vec<ToolResult> = parts
        .iter()
        .filter_map(|p| p.get("function_result"))
        .map(|r| ToolResult {
            id: id_of(r),
            name: r.get("name").and_then(Value::as_str).map(str::to_owned),
            result: r
                .get("result")
                .map_or_else(|| "null".to_owned(), Value::to_string),
            state: state.clone(),
        })
        .collect();
    if results.is_empty() {
        return vec![ToolResult {
            id: None,
            name: None,
            result: text_of(&parts),
            state,
        }];
    }
    results
}

/// The v1 `function` message of a result.
fn result_message(result: ToolResult) -> Message {
    Message::new(
        "function".to_owned(),
        Some(result.result),
        None,
        result.name,
        Vec::new(),
        result.state,
    )
}

/// How a call is named in errors: `'get_rate' (id call_b)`.
fn describe(name: Option<&str>, id: Option<&str>) -> String {
    let name = name.unwrap_or("");
    match id {
        Some(id) => format!("'{name}' (id {id})"),
        None => format!("'{name}'"),
    }
}

/// The v1 history of a v2 one. An assistant message with N `function_call` parts and the `tool`
/// messages after it (all results in one message or one per result) become N v1 (call, result)
/// pairs; a result answers the call with its `id` (by name, in order, when either has no id). A
/// call without a result, or a result without a call, is a 422.
fn to_v1_messages(messages: Vec<InMessage>) -> Result<Vec<Message>, ApiError> {
    let mut out = Vec::with_capacity(messages.len());
    let mut messages = messages.into_iter().peekable();
    while let Some(message) = messages.next() {
        if message.role == "tool" {
            out.extend(results_of(message).into_iter().map(result_message));
            continue;
        }
        let state = message.tools_state_id.clone();
        let role = message.role;
        let parts = message.content.into_parts();
        let calls: Vec<Value> = parts
            .iter()
            .filter_map(|p| p.get("function_call").cloned())
            .collect();
        if role != "assistant" || calls.is_empty() {
            out.push(Message::new(
                role,
                Some(text_of(&parts)),
                calls.into_iter().next(),
                None,
                parts
                    .iter()
                    .filter_map(|p| p.get("files").and_then(Value::as_array))
                    .flatten()
                    .filter_map(|f| f.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect(),
                state,
            ));
            continue;
        }
        let mut results: Vec<Option<ToolResult>> = Vec::new();
        while let Some(tool) = messages.next_if(|m| m.role == "tool") {
            results.extend(results_of(tool).into_iter().map(Some));
        }
        for call in calls {
            let name = call.get("name").and_then(Value::as_str);
            let id = id_of(&call);
            let matches = |r: &ToolResult| match (&id, &r.id) {
                (Some(call_id), Some(result_id)) => call_id == result_id,
                _ => r.name.is_none() || r.name.as_deref() == name,
            };
            let result = results
                .iter_mut()
                .find(|slot| slot.as_ref().is_some_and(matches))
                .and_then(Option::take)
                .ok_or_else(|| {
                    ApiError::invalid_params(format!(
                        "function call {} has no function_result in history",
                        describe(name, id.as_deref())
                    ))
                })?;
            out.push(Message::new(
                "assistant".to_owned(),
                Some(String::new()),
                Some(call.clone()),
                None,
                Vec::new(),
                state.clone(),
            ));
            out.push(result_message(result));
        }
        if let Some(extra) = results.into_iter().flatten().next() {
            return Err(ApiError::invalid_params(format!(
                "function_result {} answers no function call",
                describe(extra.name.as_deref(), extra.id.as_deref())
            )));
        }
    }
    Ok(out)
}

/// The name of a `tools[]` entry: a bare string or the one key of an object.
fn tool_name(tool: &Value) -> &str {
    match tool {
        Value::String(name) => name.as_str(),
        Value::Object(map) => map.keys().next().map_or("", String::as_str),
        _ => "",
    }
}

/// The validated `tool_config` (`None`: the v1 defaults, `auto` with functions).
fn call_mode(
    config: Option<&ToolConfig>,
    functions: &[FunctionSpec],
    builtins: &[String],
) -> Result<Option<CallMode>, ApiError> {
    let declared = |name: &str| functions.iter().any(|f| f.name == name);
    let Some(config) = config else {
        return Ok((!builtins.is_empty()).then_some(CallMode::Auto));
    };
    let mode = match config.mode.as_deref() {
        None | Some("auto") => CallMode::Auto,
        Some("none") => CallMode::None,
        Some("forced") => match (&config.function_name, &config.tool_name) {
            (Some(function), _) if declared(function) => CallMode::Forced(function.clone(), None),
            (Some(function), _) => {
                return Err(ApiError::invalid_params(format!(
                    "tool_config.function_name '{function}' is not a function declared in tools"
                )));
            }
            (None, Some(tool)) if !builtins.contains(tool) => {
                return Err(ApiError::invalid_params(format!(
                    "tool_config.tool_name '{tool}' is not a built-in tool offered in tools"
                )));
            }
            (None, Some(tool)) if tool == builtins::IMAGE_GENERATE => {
                CallMode::Forced("text2image".to_owned(), None)
            }
            (None, Some(tool)) => CallMode::Builtin(tool.clone()),
            (None, None) => {
                return Err(ApiError::invalid_params(
                    "tool_config.function_name or tool_config.tool_name is required for mode forced",
                ));
            }
        },
        Some("any") => {
            let names = config.functions_names_any.clone().unwrap_or_else(|| {
                functions
                    .iter()
                    .filter(|f| f.name != "text2image")
                    .map(|f| f.name.clone())
                    .collect()
            });
            if names.is_empty() {
                return Err(ApiError::invalid_params(
                    "tool_config.functions_names_any must name at least one declared function for mode any",
                ));
            }
            if let Some(unknown) = names.iter().find(|name| !declared(name)) {
                return Err(ApiError::invalid_params(format!(
                    "tool_config.functions_names_any names '{unknown}', which is not a function declared in tools"
                )));
            }
            CallMode::Any(names)
        }
        Some(other) => {
            return Err(ApiError::invalid_params(format!(
                "tool_config.mode must be one of: auto, none, forced, any (got '{other}')"
            )));
        }
    };
    Ok(Some(mode))
}

/// The v1 equivalent of a v2 request.
pub(super) fn translate(request: Request) -> Result<Translated, ApiError> {
    let had_state = request.messages.iter().any(|m| m.tools_state_id.is_some());
    let mut functions = Vec::new();
    let mut offered = Vec::new();
    for tool in &request.tools {
        match tool_name(tool) {
            "functions" => {
                let specifications = tool
                    .pointer("/functions/specifications")
                    .cloned()
                    .unwrap_or(Value::Array(Vec::new()));
                let specs: Vec<FunctionSpec> =
                    serde_json::from_value(specifications).map_err(ApiError::invalid_params)?;
                functions.extend(specs);
            }
            name if builtins::NAMES.contains(&name) => {
                if name == builtins::IMAGE_GENERATE {
                    functions.push(FunctionSpec {
                        name: "text2image".to_owned(),
                        description: None,
                        parameters: None,
                        return_parameters: None,
                    });
                }
                offered.push(name.to_owned());
            }
            _ => {}
        }
    }
    let mode = call_mode(request.tool_config.as_ref(), &functions, &offered)?;
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
    let (reasoning_effort, reasoning_max_tokens) = match options.reasoning {
        Some(reasoning) => (
            Some(reasoning.effort.unwrap_or_else(|| "medium".to_owned())),
            reasoning.max_tokens,
        ),
        None => (None, None),
    };
    let request = ChatRequest {
        model: request.model,
        messages: to_v1_messages(request.messages)?
            .into_iter()
            .map(Arc::new)
            .collect(),
        temperature: options.temperature,
        top_p: options.top_p,
        repetition_penalty: options.repetition_penalty,
        max_tokens: options.max_tokens,
        stream: request.stream,
        update_interval: options.update_interval,
        function_call: None,
        functions: (!functions.is_empty()).then(|| Arc::new(Functions::new(functions))),
        response_format,
        reasoning_effort,
        reasoning_max_tokens,
        regex,
        v2: Some(V2Extras {
            mode,
            parallel_tool_calls: options.parallel_tool_calls == Some(true),
            builtins: offered,
        }),
    };
    Ok(Translated { request, had_state })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(value: Value) -> Result<Vec<Message>, ApiError> {
        to_v1_messages(serde_json::from_value(value).unwrap())
    }

    fn calls_and_results() -> Value {
        json!([
            {"role":"user","content":[{"text":"q"}]},
            {"role":"assistant","tools_state_id":"s","content":[
                {"function_call":{"id":"a","name":"f","arguments":{}}},
                {"function_call":{"id":"b","name":"g","arguments":{}}}]}
        ])
    }

    #[test]
    fn results_are_matched_by_id_grouped_or_split() {
        let mut grouped = calls_and_results();
        grouped
            .as_array_mut()
            .unwrap()
            .push(json!({"role":"tool","tools_state_id":"s","content":[
            {"function_result":{"id":"b","name":"g","result":{"v":2}}},
            {"function_result":{"id":"a","name":"f","result":{"v":1}}}]}));
        let mut split = calls_and_results();
        for (id, name, v) in [("b", "g", 2), ("a", "f", 1)] {
            split
                .as_array_mut()
                .unwrap()
                .push(json!({"role":"tool","content":[
                {"function_result":{"id":id,"name":name,"result":{"v":v}}}]}));
        }
        for history in [grouped, split] {
            let v1 = messages(history).unwrap();
            let roles: Vec<&str> = v1.iter().map(|m| m.role.as_str()).collect();
            assert_eq!(
                roles,
                ["user", "assistant", "function", "assistant", "function"]
            );
            assert_eq!(v1[2].text(), r#"{"v":1}"#);
            assert_eq!(v1[4].name.as_deref(), Some("g"));
            assert_eq!(v1[4].text(), r#"{"v":2}"#);
        }
    }

    #[test]
    fn a_call_without_its_result_is_rejected() {
        let mut history = calls_and_results();
        history
            .as_array_mut()
            .unwrap()
            .push(json!({"role":"tool","content":[
            {"function_result":{"id":"a","name":"f","result":{}}}]}));
        let error = messages(history).unwrap_err();
        assert_eq!(error.status, 422);
        assert!(error.message.contains("'g' (id b)"), "{}", error.message);
    }

    #[test]
    fn a_result_for_no_call_is_rejected() {
        let mut history = calls_and_results();
        history
            .as_array_mut()
            .unwrap()
            .push(json!({"role":"tool","content":[
            {"function_result":{"id":"a","name":"f","result":{}}},
            {"function_result":{"id":"b","name":"g","result":{}}},
            {"function_result":{"id":"c","name":"h","result":{}}}]}));
        let error = messages(history).unwrap_err();
        assert!(error.message.contains("'h' (id c)"), "{}", error.message);
    }
}
