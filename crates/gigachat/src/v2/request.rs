//! A neutral chat request as a v2 body: sampling into `model_options`, attachments as `files`
//! parts, calls as `function_call` parts (all of one answer in one message), results as
//! `role: tool` messages with object results, the tool mode as `tool_config`.

use serde_json::{Map, Value};

use crate::types::v2::{
    ChatV2Request, ContentPart, FileRef, FunctionCallPart, FunctionResult, ModelOptions, Reasoning,
    RequestMessage, ResponseFormatV2, Tool, ToolConfig,
};
use crate::types::{BuiltinTool, ChatRequest, FunctionCallMode, Message, Role};

/// The v2 body for `request` (whose defaults — model, flags, filter, stream — are already set).
pub(crate) fn body(request: &ChatRequest) -> ChatV2Request {
    let options = ModelOptions {
        temperature: request.temperature,
        top_p: request.top_p,
        max_tokens: request.max_tokens,
        repetition_penalty: request.repetition_penalty,
        update_interval: request.update_interval,
        parallel_tool_calls: request.parallel_tool_calls,
        reasoning: (request.reasoning_effort.is_some() || request.reasoning_max_tokens.is_some())
            .then(|| Reasoning {
                effort: request.reasoning_effort.clone(),
                max_tokens: request.reasoning_max_tokens,
            }),
        response_format: request
            .response_format
            .as_ref()
            .map(|format| ResponseFormatV2 {
                kind: format.kind.clone(),
                schema: format.schema.clone(),
                strict: format.strict,
                regex: None,
            }),
        extra: Map::new(),
    };
    let mut extra = request.extra.clone();
    let storage = extra.remove("storage");
    ChatV2Request {
        model: request.model.clone(),
        messages: messages(&request.messages),
        model_options: (!options.is_empty()).then_some(options),
        tool_config: request.function_call.as_ref().map(tool_config),
        tools: tools(request),
        tools_state_id: None,
        disable_filter: request.profanity_check.map(|check| !check),
        flags: request.flags.clone(),
        stream: request.stream,
        storage,
        extra,
    }
}

/// The offered tools: the client's functions, then the built-ins. v1's `function_call: "auto"`
/// without functions lets GigaChat use its built-in functions (it draws pictures); on v2 that is
/// the `image_generate` tool.
fn tools(request: &ChatRequest) -> Vec<Tool> {
    let mut tools = Vec::new();
    if let Some(specifications) = request.functions.as_ref().filter(|f| !f.is_empty()) {
        tools.push(Tool::Functions {
            specifications: specifications.clone(),
        });
    }
    tools.extend(request.builtin_tools.iter().map(|tool| match tool {
        BuiltinTool::WebSearch { kind } => Tool::WebSearch { kind: kind.clone() },
        BuiltinTool::CodeInterpreter => Tool::CodeInterpreter {},
        BuiltinTool::ImageGenerate => Tool::ImageGenerate {},
        BuiltinTool::UrlContentExtraction => Tool::UrlContentExtraction {},
    }));
    if tools.is_empty() && request.function_call == Some(FunctionCallMode::Auto) {
        tools.push(Tool::ImageGenerate {});
    }
    tools
}

/// `function_call` → `tool_config` (v2 has no partial arguments: they are not sent).
fn tool_config(mode: &FunctionCallMode) -> ToolConfig {
    let config = |mode: &str| ToolConfig {
        mode: mode.into(),
        function_name: None,
        tool_name: None,
        functions_names_any: None,
    };
    match mode {
        FunctionCallMode::Auto => config("auto"),
        FunctionCallMode::None => config("none"),
        FunctionCallMode::Forced { name, .. } => ToolConfig {
            function_name: Some(name.clone()),
            ..config("forced")
        },
        FunctionCallMode::Any { names } => ToolConfig {
            functions_names_any: Some(names.clone()),
            ..config("any")
        },
        FunctionCallMode::Builtin { name } => ToolConfig {
            tool_name: Some(name.clone()),
            ..config("forced")
        },
    }
}

/// The conversation as v2 messages. A result with no state id of its own answers the state of
/// the calls before it (v1 sends the state with the calls only; v2 wants it on both, as recorded).
fn messages(messages: &[Message]) -> Vec<RequestMessage> {
    let mut calls_state: Option<&String> = None;
    messages
        .iter()
        .map(|neutral| {
            let mut v2 = message(neutral);
            match neutral.role {
                Role::Assistant => calls_state = neutral.functions_state_id.as_ref(),
                Role::Function if v2.tools_state_id.is_none() => {
                    v2.tools_state_id = calls_state.cloned();
                }
                _ => {}
            }
            v2
        })
        .collect()
}

/// One neutral message as a v2 message.
fn message(message: &Message) -> RequestMessage {
    let mut content = Vec::new();
    let role = match message.role {
        Role::System => "system",
        Role::Assistant => "assistant",
        Role::Function => "tool",
        Role::User | Role::SearchResult | Role::FunctionInProgress | Role::Unknown => "user",
    };
    if message.role == Role::Function {
        content.push(ContentPart {
            function_result: Some(FunctionResult {
                id: message.call_id.clone(),
                name: message.name.clone().unwrap_or_default(),
                result: result_object(&message.content),
            }),
            ..ContentPart::default()
        });
    } else {
        if !message.content.is_empty() {
            content.push(ContentPart::text(message.content.clone()));
        }
        if !message.attachments.is_empty() {
            content.push(ContentPart {
                files: Some(
                    message
                        .attachments
                        .iter()
                        .map(|id| FileRef {
                            id: id.clone(),
                            target: None,
                            mime: None,
                        })
                        .collect(),
                ),
                ..ContentPart::default()
            });
        }
        content.extend(message.calls().map(|call| ContentPart {
            function_call: Some(FunctionCallPart {
                id: call.id.clone(),
                name: Some(call.name.clone()),
                arguments: Some(call.arguments.clone()),
            }),
            ..ContentPart::default()
        }));
        if content.is_empty() {
            content.push(ContentPart::text(""));
        }
    }
    RequestMessage {
        role: role.into(),
        content,
        tools_state_id: message.functions_state_id.clone(),
    }
}

/// A function's result as the object v2 expects: its JSON when that is an object, otherwise the
/// value (or the text, when it is not JSON) wrapped as `{"result": ...}`.
fn result_object(content: &str) -> Value {
    match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(object)) => Value::Object(object),
        Ok(other) => serde_json::json!({ "result": other }),
        Err(_) => serde_json::json!({ "result": content }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{FunctionCall, FunctionSpec, ResponseFormat};
    use serde_json::json;

    fn call(id: &str, name: &str, arguments: Value) -> FunctionCall {
        FunctionCall {
            id: Some(id.into()),
            name: name.into(),
            arguments,
        }
    }

    #[test]
    fn parameters_move_into_model_options_and_the_filter_flips() {
        let request = ChatRequest {
            model: "GigaChat-2-Max".into(),
            messages: vec![Message::new(Role::User, "Hi")],
            temperature: Some(0.5),
            top_p: Some(0.9),
            max_tokens: Some(100),
            repetition_penalty: Some(1.1),
            update_interval: Some(0.2),
            profanity_check: Some(true),
            flags: Some(vec!["f".into()]),
            reasoning_effort: Some("high".into()),
            reasoning_max_tokens: Some(512),
            parallel_tool_calls: Some(true),
            response_format: Some(ResponseFormat {
                kind: "json_schema".into(),
                schema: Some(json!({"type": "object"})),
                strict: Some(true),
            }),
            stream: Some(true),
            extra: Map::from_iter([
                ("storage".to_owned(), json!({"thread_id": "t"})),
                ("function_ranker".to_owned(), json!({"enabled": true})),
            ]),
            ..ChatRequest::default()
        };
        assert_eq!(
            serde_json::to_value(body(&request)).unwrap(),
            json!({
                "model": "GigaChat-2-Max",
                "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
                "model_options": {
                    "temperature": 0.5, "top_p": 0.9, "max_tokens": 100,
                    "repetition_penalty": 1.1, "update_interval": 0.2,
                    "parallel_tool_calls": true,
                    "reasoning": {"effort": "high", "max_tokens": 512},
                    "response_format": {"type": "json_schema", "schema": {"type": "object"}, "strict": true}
                },
                "disable_filter": false,
                "flags": ["f"],
                "stream": true,
                "storage": {"thread_id": "t"},
                "function_ranker": {"enabled": true}
            })
        );
        let bare = ChatRequest {
            model: "m".into(),
            profanity_check: Some(false),
            ..ChatRequest::default()
        };
        assert_eq!(
            serde_json::to_value(body(&bare)).unwrap(),
            json!({"model": "m", "messages": [], "disable_filter": true})
        );
    }

    #[test]
    fn history_becomes_parts_with_ids_and_state() {
        let mut user = Message::new(Role::User, "Look");
        user.attachments = vec!["file-1".into(), "file-2".into()];
        let mut assistant = Message::new(Role::Assistant, "");
        assistant.function_call = Some(call("c1", "weather", json!({"city": "Moscow"})));
        assistant.parallel_calls = vec![call("c2", "time", json!({}))];
        assistant.functions_state_id = Some("state-1".into());
        let result = |id: &str, name: &str, content: &str| {
            let mut message = Message::new(Role::Function, content);
            message.name = Some(name.into());
            message.call_id = Some(id.into());
            // The first result carries the state as translate sends it on v1; the rest inherit it.
            if id == "c1" {
                message.functions_state_id = Some("state-1".into());
            }
            message
        };
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![
                Message::new(Role::System, "Be brief"),
                user,
                assistant,
                result("c1", "weather", r#"{"temp": 5}"#),
                result("c2", "time", "[1, 2]"),
                result("c2", "time", "not json"),
            ],
            ..ChatRequest::default()
        };
        assert_eq!(
            serde_json::to_value(body(&request)).unwrap()["messages"],
            json!([
                {"role": "system", "content": [{"text": "Be brief"}]},
                {"role": "user", "content": [
                    {"text": "Look"},
                    {"files": [{"id": "file-1"}, {"id": "file-2"}]}
                ]},
                {"role": "assistant", "tools_state_id": "state-1", "content": [
                    {"function_call": {"id": "c1", "name": "weather", "arguments": {"city": "Moscow"}}},
                    {"function_call": {"id": "c2", "name": "time", "arguments": {}}}
                ]},
                {"role": "tool", "tools_state_id": "state-1", "content": [
                    {"function_result": {"id": "c1", "name": "weather", "result": {"temp": 5}}}
                ]},
                {"role": "tool", "tools_state_id": "state-1", "content": [
                    {"function_result": {"id": "c2", "name": "time", "result": {"result": [1, 2]}}}
                ]},
                {"role": "tool", "tools_state_id": "state-1", "content": [
                    {"function_result": {"id": "c2", "name": "time", "result": {"result": "not json"}}}
                ]}
            ])
        );
    }

    #[test]
    fn tool_modes_and_tools() {
        let spec = FunctionSpec {
            name: "f".into(),
            description: None,
            parameters: Some(json!({"type": "object", "properties": {}}).into()),
            few_shot_examples: None,
            return_parameters: None,
        };
        for (mode, config) in [
            (FunctionCallMode::Auto, json!({"mode": "auto"})),
            (FunctionCallMode::None, json!({"mode": "none"})),
            (
                FunctionCallMode::Forced {
                    name: "f".into(),
                    partial_arguments: Some(json!({"a": 1})),
                },
                json!({"mode": "forced", "function_name": "f"}),
            ),
            (
                FunctionCallMode::Any {
                    names: vec!["f".into(), "g".into()],
                },
                json!({"mode": "any", "functions_names_any": ["f", "g"]}),
            ),
            (
                FunctionCallMode::Builtin {
                    name: "web_search".into(),
                },
                json!({"mode": "forced", "tool_name": "web_search"}),
            ),
        ] {
            let request = ChatRequest {
                function_call: Some(mode),
                functions: Some(vec![spec.clone()]),
                builtin_tools: vec![
                    BuiltinTool::WebSearch { kind: None },
                    BuiltinTool::CodeInterpreter,
                ],
                ..ChatRequest::default()
            };
            let body = serde_json::to_value(body(&request)).unwrap();
            assert_eq!(body["tool_config"], config);
            assert_eq!(
                body["tools"],
                json!([
                    {"functions": {"specifications": [{"name": "f", "parameters": {"type": "object", "properties": {}}}]}},
                    {"web_search": {}},
                    {"code_interpreter": {}}
                ])
            );
        }
        // v1's built-in functions (drawing) under `auto` without functions: v2's image tool.
        let drawing = ChatRequest {
            function_call: Some(FunctionCallMode::Auto),
            ..ChatRequest::default()
        };
        assert_eq!(
            serde_json::to_value(body(&drawing)).unwrap()["tools"],
            json!([{"image_generate": {}}])
        );
    }
}
