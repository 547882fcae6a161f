//! `POST /chat/completions` (v1): the request, the answer, and the stream chunks.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::SharedJson;

/// A chat request. `None` fields are not sent, as the SDK does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Model id; required by the server.
    pub model: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Sampling temperature, must be > 0; values up to 0.001 mean greedy decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Number of alternatives (kept for completeness; the service's support is undocumented).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Set by the client for streaming calls only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Cap on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Repetition penalty, > 0 (1.0 is neutral).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f64>,
    /// Minimum seconds between stream events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_interval: Option<f64>,
    /// Censoring switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profanity_check: Option<bool>,
    /// Feature flags passed through as-is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
    /// Whether and which function the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCallMode>,
    /// Functions the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<Vec<FunctionSpec>>,
    /// Structured output: the flat `{type: json_schema, schema, strict}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// `low`, `medium` or `high` on reasoning models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Token budget for the reasoning before the answer (§11.3; v2: `model_options.reasoning.max_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_max_tokens: Option<u32>,
    /// Which wire contract carries this request (internal: the client picks the endpoint by it).
    #[serde(skip)]
    pub contract: Contract,
    /// Several calls in one answer (internal: v2 `model_options.parallel_tool_calls`; v1 has none).
    #[serde(skip)]
    pub parallel_tool_calls: Option<bool>,
    /// GigaChat's built-in tools offered to the model (internal: v2 `tools[]`; v1 has none).
    #[serde(skip)]
    pub builtin_tools: Vec<BuiltinTool>,
    /// Anything else, merged into the top level of the body (e.g. `storage`, `function_ranker`).
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// The two chat contracts GigaChat serves: v1 `/chat/completions` and v2 `/v2/chat/completions`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Contract {
    /// `POST {base}/chat/completions`: one call per answer, no built-in tools but images.
    #[default]
    V1,
    /// `POST /v2/chat/completions`: content parts, parallel calls with ids, built-in tools.
    V2,
}

/// A GigaChat built-in tool (v2 only), as a request offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuiltinTool {
    /// `{"web_search": {"type": kind}}`; `None` sends `{}`.
    WebSearch {
        /// `actual_info_web_search`, `web_search` or `safe_search`.
        kind: Option<String>,
    },
    /// `{"code_interpreter": {}}`: the model runs code it does not show.
    CodeInterpreter,
    /// `{"image_generate": {}}`: the answer carries a generated image file.
    ImageGenerate,
    /// `{"url_content_extraction": {}}`: the model reads pages the prompt links to.
    UrlContentExtraction,
}

impl BuiltinTool {
    /// The tool's key in v2 `tools[]`, `tool_config.tool_name` and `tool_execution.name`.
    pub fn name(&self) -> &'static str {
        match self {
            BuiltinTool::WebSearch { .. } => "web_search",
            BuiltinTool::CodeInterpreter => "code_interpreter",
            BuiltinTool::ImageGenerate => "image_generate",
            BuiltinTool::UrlContentExtraction => "url_content_extraction",
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions; at most one, and first.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
    /// A function result.
    Function,
    /// Output only: search results.
    SearchResult,
    /// Output only: a built-in function still running.
    FunctionInProgress,
    /// A role this client does not know yet (answers only).
    #[serde(other)]
    Unknown,
}

/// A message of the conversation, in requests and in answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// The text; for `function` messages, a JSON value serialized to a string.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        serialize_with = "json_text::serialize"
    )]
    pub content: String,
    /// A function the assistant called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// The function's name on `function` messages (and built-ins in answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Uploaded file ids this message refers to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    /// State id returned with a function call; send it back with that call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions_state_id: Option<String>,
    /// Reasoning text of reasoning models (answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Creation time of built-in function output (answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// Other fields (`id`, `data_for_context`, ...), kept so nothing is lost.
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
    /// The calls after `function_call` in one answer (internal: v2 parallel calls).
    #[serde(skip)]
    pub parallel_calls: Vec<FunctionCall>,
    /// On `function` results: the id of the call answered (internal: v2 `function_result.id`).
    #[serde(skip)]
    pub call_id: Option<String>,
    /// Web-search sources the text's `[sources=[n]]` markers cite (internal: v2 `inline_data`).
    #[serde(skip)]
    pub sources: Vec<Source>,
    /// Files the answer made, such as generated images (internal: v2 `files` parts).
    #[serde(skip)]
    pub files: Vec<GeneratedFile>,
    /// Built-in tools that ran for this answer (internal: v2 `tool_execution` parts and events).
    #[serde(skip)]
    pub tool_executions: Vec<ToolExecution>,
}

/// A web-search source: the key its `[sources=[key]]` markers use, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The key in `inline_data.sources` (`"1"`, `"2"`, ...).
    pub key: String,
    /// The page.
    pub url: String,
    /// The page's title, when given.
    pub title: Option<String>,
}

/// A file an answer produced (v2 `{"files": [{id, mime, target}]}`), downloadable under the same client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// GigaChat file id (`GET /files/{id}/content`).
    pub id: String,
    /// `image/jpeg`, ...
    pub mime: Option<String>,
    /// `image`, `3dmodel`, ...
    pub target: Option<String>,
}

/// A built-in tool's run as GigaChat reports it (`tool_execution {name, status, censored}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolExecution {
    /// The built-in (`web_search`, `image_generate`, ...).
    pub name: String,
    /// `success`, `fail`, or unset while running.
    pub status: Option<String>,
    /// A content filter fired on the tool's output.
    pub censored: bool,
}

impl Message {
    /// A plain message with text.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            function_call: None,
            name: None,
            attachments: Vec::new(),
            functions_state_id: None,
            reasoning_content: None,
            created: None,
            extra: Map::new(),
            parallel_calls: Vec::new(),
            call_id: None,
            sources: Vec::new(),
            files: Vec::new(),
            tool_executions: Vec::new(),
        }
    }

    /// Every call of the message: `function_call`, then the parallel ones.
    pub fn calls(&self) -> impl Iterator<Item = &FunctionCall> {
        self.function_call.iter().chain(&self.parallel_calls)
    }
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// A function call: GigaChat's `arguments` is a JSON object, not a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The call's id (v2, and newer v1 answers); results echo it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function.
    pub name: String,
    /// The arguments object.
    #[serde(default)]
    pub arguments: Value,
}

/// `function_call` in a request: `"auto"`, `"none"` or `{"name": ..., "partial_arguments"?: ...}`;
/// `Any` and `Builtin` exist only on the v2 contract (`tool_config`) and refuse v1 serialisation.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionCallMode {
    /// The model decides.
    Auto,
    /// Never call.
    None,
    /// Call this function.
    Forced {
        /// The function to call.
        name: String,
        /// Arguments already fixed by the caller.
        partial_arguments: Option<Value>,
    },
    /// Call one of these functions (v2 `{mode: "any", functions_names_any}`).
    Any {
        /// The functions allowed.
        names: Vec<String>,
    },
    /// Use this built-in tool (v2 `{mode: "forced", tool_name}`).
    Builtin {
        /// The built-in, e.g. `web_search`.
        name: String,
    },
}

impl Serialize for FunctionCallMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FunctionCallMode::Auto => serializer.serialize_str("auto"),
            FunctionCallMode::None => serializer.serialize_str("none"),
            FunctionCallMode::Forced {
                name,
                partial_arguments,
            } => {
                let mut object = Map::new();
                object.insert("name".into(), Value::String(name.clone()));
                if let Some(partial) = partial_arguments {
                    object.insert("partial_arguments".into(), partial.clone());
                }
                object.serialize(serializer)
            }
            FunctionCallMode::Any { .. } | FunctionCallMode::Builtin { .. } => Err(
                serde::ser::Error::custom("this function_call mode exists only on the v2 contract"),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for FunctionCallMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Word(String),
            Named {
                name: String,
                partial_arguments: Option<Value>,
            },
        }
        match Wire::deserialize(deserializer)? {
            Wire::Word(word) if word == "auto" => Ok(FunctionCallMode::Auto),
            Wire::Word(word) if word == "none" => Ok(FunctionCallMode::None),
            Wire::Word(other) => Err(serde::de::Error::custom(format!(
                "function_call must be \"auto\", \"none\" or {{\"name\": ...}}, got {other:?}"
            ))),
            Wire::Named {
                name,
                partial_arguments,
            } => Ok(FunctionCallMode::Forced {
                name,
                partial_arguments,
            }),
        }
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionSpec {
    /// Latin letters, digits, `_`, `.`, `-`; not starting with a digit.
    pub name: String,
    /// What the function does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments object (omitted for built-ins such as `text2image`), as
    /// compact text shared by every request that sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<SharedJson>,
    /// Example requests with the arguments they should produce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub few_shot_examples: Option<Vec<FewShotExample>>,
    /// JSON Schema of what the function returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_parameters: Option<Value>,
}

/// One example for a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FewShotExample {
    /// A user request.
    pub request: String,
    /// The arguments it should produce.
    pub params: Value,
}

/// Structured output, GigaChat's flat form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseFormat {
    /// `json_schema` (or `text`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The JSON Schema the answer must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// Why generation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A normal end (also after image generation).
    Stop,
    /// The token limit was hit.
    Length,
    /// A function was called.
    FunctionCall,
    /// The request hit topic restrictions.
    Blacklist,
    /// The model produced invalid function arguments.
    Error,
    /// A value this client does not know yet.
    #[serde(other)]
    Unknown,
}

/// Token usage of a call. Every recording has `total = prompt + completion` while
/// `precached_prompt_tokens > 0`, and the API description says cached tokens are subtracted from
/// the billable total: `prompt_tokens` is the uncached part only (see
/// [`CachedPromptTokens`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens not served from the prompt cache (by default; see the type's note).
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub completion_tokens: u32,
    /// Billed tokens: prompt + completion, the cached tokens subtracted.
    pub total_tokens: u32,
    /// Prompt tokens served from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precached_prompt_tokens: Option<u32>,
    /// Tokens of system overhead (older deployments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_tokens: Option<u32>,
}

/// How GigaChat's `prompt_tokens` relates to its `precached_prompt_tokens`
/// (`GIGACHAT_PROMPT_TOKENS_INCLUDE_CACHED`). OpenAI's `prompt_tokens` always counts cached tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CachedPromptTokens {
    /// `prompt_tokens` leaves the cached part out, so the cached tokens are added to it (the
    /// default). Every recorded answer has `total = prompt + completion` while cached > 0, and
    /// the API description says cached tokens are subtracted from the billable total.
    #[default]
    Excluded,
    /// `prompt_tokens` already counts the cached part; it is passed through unchanged.
    Included,
}

/// A non-streaming answer. There is no `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    /// Usually one choice.
    pub choices: Vec<Choice>,
    /// Unix seconds.
    pub created: i64,
    /// Versioned model name, e.g. `GigaChat:2.0.28.2`.
    pub model: String,
    /// `chat.completion` (or `chat.completions` on newer models).
    pub object: String,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Server-side thread, in storage mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// Stored message id, in storage mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// One alternative of an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The generated message.
    pub message: Message,
    /// Position, from 0.
    pub index: u32,
    /// Why generation ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
}

/// One SSE event of a streamed answer (`object` is `chat.completion` here too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    /// Deltas, usually one.
    pub choices: Vec<ChunkChoice>,
    /// Unix seconds, repeated in every chunk.
    pub created: i64,
    /// Versioned model name, repeated in every chunk.
    pub model: String,
    /// `chat.completion` (read without allocating a copy per event when it is that).
    #[serde(deserialize_with = "chunk_object")]
    pub object: std::borrow::Cow<'static, str>,
    /// Present only in the event that carries `finish_reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Server-side thread, in storage mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// Stored message id, in storage mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// The `object` of a stream event, borrowed from a constant when it is the usual
/// `chat.completion`.
fn chunk_object<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<std::borrow::Cow<'static, str>, D::Error> {
    struct Object;
    impl serde::de::Visitor<'_> for Object {
        type Value = std::borrow::Cow<'static, str>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(chunk_object_of(std::borrow::Cow::Borrowed(text)))
        }

        fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Self::Value, E> {
            Ok(chunk_object_of(std::borrow::Cow::Owned(text)))
        }
    }
    deserializer.deserialize_str(Object)
}

/// `object` as a stream event keeps it: the usual `chat.completion` borrowed from a constant.
pub(crate) fn chunk_object_of(text: std::borrow::Cow<'_, str>) -> std::borrow::Cow<'static, str> {
    const USUAL: &str = "chat.completion";
    if text == USUAL {
        std::borrow::Cow::Borrowed(USUAL)
    } else {
        std::borrow::Cow::Owned(text.into_owned())
    }
}

/// One delta of a stream event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// What is new.
    pub delta: Delta,
    /// Position, from 0.
    pub index: u32,
    /// Set on the last content event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
}

/// New parts of the message: the role only in the first delta, a function call whole in one delta.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// Only in the first delta (or `function_in_progress` for built-ins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// New text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// New reasoning text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// A complete function call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// State id accompanying a function call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions_state_id: Option<String>,
    /// Built-in function name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Built-in function output time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// Web-search sources cited by the text (internal: v2 `inline_data`).
    #[serde(skip)]
    pub sources: Vec<Source>,
    /// Files the answer made (internal: v2 `files` parts).
    #[serde(skip)]
    pub files: Vec<GeneratedFile>,
    /// Built-in tools running or done (internal: v2 `tool_execution` parts, `response.tool.*` events).
    #[serde(skip)]
    pub tool_executions: Vec<ToolExecution>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_omits_unset_fields_and_keeps_extra() {
        let mut request = ChatRequest {
            model: "GigaChat".into(),
            messages: vec![Message::new(Role::User, "Привет")],
            function_call: Some(FunctionCallMode::Forced {
                name: "f".into(),
                partial_arguments: None,
            }),
            ..ChatRequest::default()
        };
        request
            .extra
            .insert("storage".into(), json!({"is_stateful": true}));
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(
            text,
            r#"{"model":"GigaChat","messages":[{"role":"user","content":"Привет"}],"function_call":{"name":"f"},"storage":{"is_stateful":true}}"#
        );
    }

    #[test]
    fn function_call_modes_round_trip() {
        for text in [
            r#""auto""#,
            r#""none""#,
            r#"{"name":"f","partial_arguments":{"a":1}}"#,
        ] {
            let mode: FunctionCallMode = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&mode).unwrap(), text);
        }
        assert!(serde_json::from_str::<FunctionCallMode>(r#""sometimes""#).is_err());
    }

    #[test]
    fn unknown_finish_reason_is_tolerated() {
        let choice: ChunkChoice =
            serde_json::from_str(r#"{"delta":{},"index":0,"finish_reason":"brand_new"}"#).unwrap();
        assert_eq!(choice.finish_reason, Some(FinishReason::Unknown));
    }

    #[test]
    fn a_chunks_object_is_read_as_written_whether_or_not_it_is_the_usual_one() {
        for object in ["chat.completion", "chat.completion.chunk", "", "чат"] {
            let text = json!({"choices": [], "created": 1, "model": "GigaChat", "object": object})
                .to_string();
            let from_str: ChatChunk = serde_json::from_str(&text).unwrap();
            let from_value: ChatChunk =
                serde_json::from_value(serde_json::from_str(&text).unwrap()).unwrap();
            assert_eq!(from_str.object, object);
            assert_eq!(from_value, from_str);
            assert_eq!(serde_json::to_string(&from_str).unwrap(), text);
        }
        let usual: ChatChunk = serde_json::from_str(
            r#"{"choices":[],"created":1,"model":"GigaChat","object":"chat.completion"}"#,
        )
        .unwrap();
        assert!(matches!(usual.object, std::borrow::Cow::Borrowed(_)));
        let escaped: ChatChunk = serde_json::from_str(
            r#"{"choices":[],"created":1,"model":"GigaChat","object":"chat.completio\u006e"}"#,
        )
        .unwrap();
        assert_eq!(escaped.object, "chat.completion");
        assert!(
            serde_json::from_str::<ChatChunk>(
                r#"{"choices":[],"created":1,"model":"m","object":1}"#
            )
            .is_err()
        );
    }
}
