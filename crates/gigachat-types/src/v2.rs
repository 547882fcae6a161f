//! Bodies of the v2 "primary" chat contract (`POST /v2/chat/completions`): the request with
//! typed content parts and `model_options`, and tolerant answer/event types that accept every
//! variant the SDKs and recordings show (string `created_at`, each state-id spelling and place,
//! `additional_data` as an object or a list, v1-style `choices` on v2 streams).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::chat::{ChunkChoice, FinishReason, FunctionSpec};

/// A v2 chat request. `None` fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatV2Request {
    /// Model id.
    pub model: String,
    /// The conversation.
    pub messages: Vec<RequestMessage>,
    /// Sampling, limits, reasoning and output format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_options: Option<ModelOptions>,
    /// Whether and which tool the model may or must use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Functions and built-in tools offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// The state id of the tool round being answered (also sent per message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools_state_id: Option<String>,
    /// Turns the content filter off (v1's `profanity_check: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_filter: Option<bool>,
    /// Feature flags passed through as-is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
    /// Set for streaming calls only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Server-side threads (`{limit?, thread_id?, metadata?}`), passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Value>,
    /// Anything else, merged into the top level of the body.
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// A message of a v2 request: a role, content parts and the tool state it continues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Typed parts (`text`, `files`, `function_call`, `function_result`).
    pub content: Vec<ContentPart>,
    /// The state id of the calls this message holds or answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools_state_id: Option<String>,
}

/// `model_options`: what v1 had at the top level, plus parallel calls and a reasoning budget.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelOptions {
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Cap on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Repetition penalty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f64>,
    /// Minimum seconds between stream events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_interval: Option<f64>,
    /// Several calls in one answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Reasoning effort and budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Reasoning>,
    /// Structured output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormatV2>,
    /// Untyped options (`preset`, `top_logprobs`, ...).
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl ModelOptions {
    /// Whether no option is set (then `model_options` is left out).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// `model_options.reasoning`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reasoning {
    /// `low`, `medium`, `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    /// Reasoning-token budget before the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// `model_options.response_format`: `text`, `json_schema` (with `schema`, `strict`) or `regex`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseFormatV2 {
    /// `text`, `json_schema` or `regex`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The JSON Schema of a `json_schema` answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// The pattern of a `regex` answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// `tool_config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolConfig {
    /// `auto`, `none`, `forced` or `any`.
    pub mode: String,
    /// The client function a `forced` mode calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    /// The built-in a `forced` mode uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// The functions an `any` mode chooses from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions_names_any: Option<Vec<String>>,
}

/// One entry of `tools[]`: a one-key object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    /// `{"functions": {"specifications": [...]}}`.
    Functions {
        /// The client's functions.
        specifications: Vec<FunctionSpec>,
    },
    /// `{"web_search": {"type"?: ...}}`.
    WebSearch {
        /// `actual_info_web_search`, `web_search` or `safe_search`.
        #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
    },
    /// `{"code_interpreter": {}}`.
    CodeInterpreter {},
    /// `{"image_generate": {}}`.
    ImageGenerate {},
    /// `{"url_content_extraction": {}}`.
    UrlContentExtraction {},
}

/// A content part. One part may hold several keys (the web-search answer has `text` and
/// `inline_data` together), so every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    /// Text (or a text fragment in stream deltas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Files: attachments in requests, generated files in answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileRef>>,
    /// A call the assistant made (in streams possibly a fragment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCallPart>,
    /// A function's result, answering a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_result: Option<FunctionResult>,
    /// A built-in tool's run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_execution: Option<ToolExecutionPart>,
    /// Web-search sources, images and widgets for the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<InlineData>,
    /// Token log-probabilities (with permission), kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
}

impl ContentPart {
    /// A part holding only `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }
}

/// A file in a `files` part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// GigaChat file id.
    pub id: String,
    /// `image`, `3dmodel`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
}

/// `function_call` part. In a stream the first fragment names the call and later ones carry
/// argument pieces (strings) under the same `id`; whole calls carry an `arguments` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallPart {
    /// The call's id (distinct per call when an answer holds several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function (absent on later fragments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The arguments object, or a piece of its JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
}

/// `function_result` part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionResult {
    /// The id of the call answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function.
    pub name: String,
    /// The result: an object (other values are sent wrapped as `{"result": v}`).
    pub result: Value,
}

/// `tool_execution` part: a built-in tool's progress or outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolExecutionPart {
    /// The built-in (`web_search`, `image_generate`, ...).
    #[serde(default)]
    pub name: String,
    /// `success`, `fail`, or absent while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A content filter fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub censored: Option<bool>,
    /// Progress: seconds left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_left: Option<f64>,
}

/// `inline_data`: what the text's `[sources=[n]]` markers cite, and images or widgets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InlineData {
    /// Images found (kept as sent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Value>,
    /// Sources by key (`"1"`, `"2"`, ...); a list is read as keys `1`, `2`, ...
    #[serde(
        default,
        deserialize_with = "keyed_sources",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub sources: BTreeMap<String, SourceRef>,
    /// Widgets (kept as sent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub widgets: Vec<Value>,
}

/// A web-search source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    /// The page.
    #[serde(default)]
    pub url: String,
    /// Its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

fn keyed_sources<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, SourceRef>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Sources {
        Keyed(BTreeMap<String, SourceRef>),
        Listed(Vec<SourceRef>),
        Null(()),
    }
    Ok(match Sources::deserialize(deserializer)? {
        Sources::Keyed(keyed) => keyed,
        Sources::Listed(list) => list
            .into_iter()
            .enumerate()
            .map(|(index, source)| ((index + 1).to_string(), source))
            .collect(),
        Sources::Null(()) => BTreeMap::new(),
    })
}

/// A non-streaming v2 answer, and the payload of every v2 stream event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatV2Response {
    /// Versioned model.
    #[serde(default)]
    pub model: String,
    /// Unix seconds (a number, or a numeric string).
    #[serde(alias = "created", default, deserialize_with = "seconds")]
    pub created_at: i64,
    /// Messages (or message fragments in `response.message.delta` events).
    #[serde(default)]
    pub messages: Vec<MessageV2>,
    /// Why generation ended (done events and full answers).
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Token usage (done events and full answers).
    #[serde(default)]
    pub usage: Option<UsageV2>,
    /// Server-side thread.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// Stored message id.
    #[serde(default)]
    pub message_id: Option<String>,
    /// The state id, when given at the top level (done events use the plural).
    #[serde(
        default,
        alias = "tools_state_id",
        alias = "functions_state_id",
        alias = "function_state_id"
    )]
    pub tool_state_id: Option<String>,
    /// What went wrong, on in-band errors (fields undocumented).
    #[serde(default)]
    pub error_details: Option<Value>,
    /// The error of a `response.error` event.
    #[serde(default)]
    pub error: Option<Value>,
    /// `{execution_steps: [...]}` or a legacy list.
    #[serde(default)]
    pub additional_data: Option<Value>,
    /// A built-in tool's run, at the top level.
    #[serde(default)]
    pub tool_execution: Option<ToolExecutionPart>,
    /// Token log-probabilities (with permission).
    #[serde(default)]
    pub logprobs: Option<Value>,
    /// v1-style deltas, which some v2 deployments stream.
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
}

/// A message of a v2 answer: a role and typed content parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageV2 {
    /// `assistant`, `reasoning`, `tool`, ...
    #[serde(default)]
    pub role: String,
    /// Content parts.
    #[serde(default)]
    pub content: Vec<ContentPart>,
    /// Tool state id (answers use the singular; every spelling is read).
    #[serde(
        default,
        alias = "tools_state_id",
        alias = "functions_state_id",
        alias = "function_state_id"
    )]
    pub tool_state_id: Option<String>,
    /// Why this message ended, when messages carry their own.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
}

/// v2 usage. As in v1, the recorded `input_tokens` equal `input_tokens_details.prompt_tokens`
/// even with cached tokens, and `total_tokens = input + output`: the cached part is left out.
/// v1 names (`prompt_tokens`, `completion_tokens`) are read too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageV2 {
    /// Prompt tokens not served from the prompt cache.
    #[serde(default, alias = "prompt_tokens")]
    pub input_tokens: u32,
    /// Breakdown of the prompt tokens.
    #[serde(default)]
    pub input_tokens_details: Option<InputTokensDetails>,
    /// Generated tokens.
    #[serde(default, alias = "completion_tokens")]
    pub output_tokens: u32,
    /// Sum.
    #[serde(default)]
    pub total_tokens: u32,
    /// v1's name for the cached prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precached_prompt_tokens: Option<u32>,
}

/// Prompt token breakdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTokensDetails {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u32,
    /// Served from the prompt cache.
    #[serde(default)]
    pub cached_tokens: u32,
}

/// Unix seconds as a number or a numeric string (`"1780321864"`, `"1780321864.5"`).
fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Number(number) => number
            .as_i64()
            .or_else(|| number.as_f64().map(|f| f as i64))
            .ok_or_else(|| serde::de::Error::custom("created_at out of range")),
        Value::String(text) => {
            let text = text.trim();
            text.parse::<i64>()
                .ok()
                .or_else(|| text.parse::<f64>().ok().map(|f| f as i64))
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("created_at is not a number: {text:?}"))
                })
        }
        Value::Null => Ok(0),
        other => Err(serde::de::Error::custom(format!(
            "created_at is not a number: {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tools_are_one_key_objects() {
        let tools = vec![
            Tool::Functions {
                specifications: vec![],
            },
            Tool::WebSearch {
                kind: Some("actual_info_web_search".into()),
            },
            Tool::WebSearch { kind: None },
            Tool::CodeInterpreter {},
            Tool::ImageGenerate {},
            Tool::UrlContentExtraction {},
        ];
        assert_eq!(
            serde_json::to_value(&tools).unwrap(),
            json!([
                {"functions": {"specifications": []}},
                {"web_search": {"type": "actual_info_web_search"}},
                {"web_search": {}},
                {"code_interpreter": {}},
                {"image_generate": {}},
                {"url_content_extraction": {}}
            ])
        );
    }

    #[test]
    fn answers_accept_every_recorded_and_documented_variant() {
        let answer: ChatV2Response = serde_json::from_value(json!({
            "model": "GigaChat-3-Ultra",
            "created_at": "1780321864",
            "tools_state_id": "s-top",
            "additional_data": [{"x": 1}],
            "error_details": {"code": 7},
            "messages": [{
                "role": "assistant",
                "function_state_id": "s-msg",
                "content": [{
                    "text": "see [sources=[1]]",
                    "inline_data": {"images": [], "sources": [{"url": "https://a", "title": "A"}]},
                    "logprobs": [{"token": "x"}]
                }, {"tool_execution": {"name": "web_search", "status": "success", "censored": false}}]
            }],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
        }))
        .unwrap();
        assert_eq!(answer.created_at, 1780321864);
        assert_eq!(answer.tool_state_id.as_deref(), Some("s-top"));
        assert_eq!(answer.messages[0].tool_state_id.as_deref(), Some("s-msg"));
        let part = &answer.messages[0].content[0];
        let sources = &part.inline_data.as_ref().unwrap().sources;
        assert_eq!(sources["1"].url, "https://a");
        assert_eq!(answer.usage.unwrap().input_tokens, 5);
        assert_eq!(answer.usage.unwrap().output_tokens, 2);
        let keyed: InlineData =
            serde_json::from_value(json!({"sources": {"2": {"url": "https://b"}}})).unwrap();
        assert_eq!(keyed.sources["2"].title, None);
        let float: ChatV2Response = serde_json::from_value(json!({"created": 12.7})).unwrap();
        assert_eq!(float.created_at, 12);
        assert!(serde_json::from_value::<ChatV2Response>(json!({"created_at": "soon"})).is_err());
    }
}
