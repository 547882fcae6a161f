//! Chat completions: the tolerant request, the response, and the stream chunk.

use crate::raw_json::RawJson;
use crate::text_or_list::TextOrList;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `POST /v1/chat/completions`. Fields not listed are accepted and ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ChatCompletionRequest {
    /// Model id or alias; the configured default when absent.
    #[serde(default)]
    pub model: Option<String>,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature (0 means greedy).
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Legacy output cap.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Output cap (newer name).
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    /// Number of choices.
    #[serde(default)]
    pub n: Option<u32>,
    /// Stream the answer as SSE.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Stream options (`include_usage`).
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Stop sequences.
    #[serde(default)]
    pub stop: Option<Stop>,
    /// End-user id; also a prompt-cache affinity key.
    #[serde(default)]
    pub user: Option<String>,
    /// Prompt-cache affinity key.
    #[serde(default)]
    pub prompt_cache_key: Option<String>,
    /// `low`/`medium`/`high` (Chat Completions form).
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// `{effort}` (Responses-style form some clients send to chat).
    #[serde(default)]
    pub reasoning: Option<Reasoning>,
    /// Tools the model may call.
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
    /// Which tool to call.
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    /// Legacy functions.
    #[serde(default)]
    pub functions: Option<Vec<FunctionDefinition>>,
    /// Legacy function choice: `"auto"`, `"none"` or `{"name"}`.
    #[serde(default)]
    pub function_call: Option<Value>,
    /// Whether several tool calls may come at once.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// Structured output.
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    /// Adapter extension ([`crate::extensions`]), GigaChat's repetition penalty (> 0).
    #[serde(default)]
    pub repetition_penalty: Option<f64>,
    /// Adapter extension ([`crate::extensions`]), GigaChat's minimum seconds between stream events.
    #[serde(default)]
    pub update_interval: Option<f64>,
    /// Adapter extension ([`crate::extensions`]), GigaChat's censoring switch.
    #[serde(default)]
    pub profanity_check: Option<bool>,
    /// Search the web before answering (GigaChat's built-in `web_search`, v2 contract only).
    #[serde(default)]
    pub web_search_options: Option<WebSearchOptions>,
    /// Built-in tools another front door offered (internal: Responses' and Messages' own tool types).
    #[serde(skip)]
    pub builtin_tools: Vec<HostedTool>,
    /// The built-in tool another front door forces (internal).
    #[serde(skip)]
    pub builtin_tool_choice: Option<HostedTool>,
}

/// A GigaChat built-in tool as a front door offers it (internal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostedTool {
    /// Web search (`web_search_options`, Responses `web_search*`, Messages `web_search_*`).
    WebSearch,
    /// Image generation (Responses `image_generation`).
    ImageGeneration,
    /// Code execution (Responses `code_interpreter`).
    CodeInterpreter,
}

/// `web_search_options`: accepted as a whole; GigaChat's search takes no location or context size.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WebSearchOptions {
    /// `low`, `medium` or `high` (not used by GigaChat).
    #[serde(default)]
    pub search_context_size: Option<String>,
    /// Approximate location of the user (not used by GigaChat).
    #[serde(default)]
    pub user_location: Option<Value>,
}

/// `stream_options`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct StreamOptions {
    /// Send one extra usage chunk before `[DONE]` (and `usage: null` on the others).
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// `reasoning: {effort, max_tokens}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Reasoning {
    /// `low`/`medium`/`high`.
    #[serde(default)]
    pub effort: Option<String>,
    /// Token budget for the reasoning (OpenRouter's spelling; the Messages door's
    /// `thinking.budget_tokens` arrives here).
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

/// `stop`: one sequence or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One sequence.
    One(String),
    /// Several sequences.
    Many(Vec<String>),
}

impl Stop {
    /// The non-empty sequences.
    pub fn sequences(&self) -> Vec<String> {
        match self {
            Stop::One(one) => vec![one.clone()],
            Stop::Many(many) => many.clone(),
        }
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect()
    }
}

/// A message of the conversation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant`, `tool` or `function`.
    pub role: String,
    /// Text, parts, or null (assistant turns with tool calls).
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// Author name, or the function's name on `function` messages.
    #[serde(default)]
    pub name: Option<String>,
    /// Tool calls of an assistant turn.
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a `tool` message answers.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// Legacy function call of an assistant turn.
    #[serde(default)]
    pub function_call: Option<FunctionCall>,
}

/// Message content: a string or a list of parts.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Typed parts.
    Parts(Vec<ContentPart>),
}

/// Read directly (not as an untagged enum, which would buffer the whole value first and copy
/// large inline files twice).
impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match crate::text_or_list::read(deserializer, "a string or a list of content parts")? {
            TextOrList::Text(text) => Ok(MessageContent::Text(text)),
            // An empty list is not "no content": it was sent as an empty message.
            TextOrList::List(parts) if parts.is_empty() => Err(serde::de::Error::custom(
                "an empty list of content parts; send at least one part, a string or null",
            )),
            TextOrList::List(parts) => Ok(MessageContent::Parts(parts)),
        }
    }
}

impl MessageContent {
    /// The text of the content: the string, or its text parts joined with newlines.
    pub fn text(&self) -> String {
        match self {
            MessageContent::Text(text) => text.clone(),
            MessageContent::Parts(parts) => parts
                .iter()
                .filter_map(|part| match part {
                    ContentPart::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// One content part. A `type` other than these is refused (naming `messages[i].content[j].type`):
/// dropping a part the client sent would change what it asked.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    /// `{"type":"text","text":...}`.
    Text {
        /// The text.
        text: String,
    },
    /// `{"type":"image_url","image_url":{"url","detail"}}`.
    ImageUrl {
        /// A `data:` URL or an http(s) URL.
        url: String,
        /// `auto`, `low` or `high`.
        detail: Option<String>,
    },
    /// `{"type":"input_audio","input_audio":{"data","format"}}`.
    InputAudio {
        /// Base64 audio.
        data: String,
        /// `wav`, `mp3`, ...
        format: String,
    },
    /// `{"type":"file","file":{"file_id"|"file_data","filename"}}`.
    File {
        /// An id from the Files API.
        file_id: Option<String>,
        /// Base64 bytes (or a data URL).
        file_data: Option<String>,
        /// The file name.
        filename: Option<String>,
    },
    /// `{"type":"refusal","refusal":...}` (assistant history).
    Refusal {
        /// The refusal text.
        refusal: String,
    },
    /// A file to fetch from an http(s) URL. Chat requests cannot send it (OpenAI's chat has no such
    /// part): it carries the Responses API's `input_file` by `file_url` to the chat path.
    FileUrl {
        /// The file's URL.
        url: String,
        /// The file name.
        filename: Option<String>,
    },
}

/// The content part kinds there are; reading `type` into this names an unknown one at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PartKind {
    Text,
    ImageUrl,
    InputAudio,
    File,
    Refusal,
}

/// The wire form of a content part: the fields of every kind, read straight into strings (no
/// intermediate JSON tree, so a large base64 payload is copied out of the body only once).
#[derive(Deserialize)]
struct RawPart {
    #[serde(rename = "type")]
    kind: PartKind,
    text: Option<String>,
    refusal: Option<String>,
    image_url: Option<RawImageUrl>,
    input_audio: Option<RawAudio>,
    file: Option<RawFile>,
}

/// `image_url` as `{"url", "detail"}` or as a bare string (read directly, see [`MessageContent`]).
enum RawImageUrl {
    Object { url: String, detail: Option<String> },
    Url(String),
}

impl<'de> Deserialize<'de> for RawImageUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Object {
            url: String,
            detail: Option<String>,
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawImageUrl;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an image URL or {\"url\": ...}")
            }
            fn visit_str<E: serde::de::Error>(self, url: &str) -> Result<Self::Value, E> {
                Ok(RawImageUrl::Url(url.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                let object =
                    Object::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawImageUrl::Object {
                    url: object.url,
                    detail: object.detail,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Deserialize)]
struct RawAudio {
    data: String,
    format: Option<String>,
}

#[derive(Deserialize)]
struct RawFile {
    file_id: Option<String>,
    file_data: Option<String>,
    filename: Option<String>,
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawPart::deserialize(deserializer)?;
        let missing = |what: &str| D::Error::custom(format!("`{what}` part without `{what}`"));
        Ok(match raw.kind {
            PartKind::Text => ContentPart::Text {
                text: raw.text.ok_or_else(|| missing("text"))?,
            },
            PartKind::ImageUrl => match raw.image_url.ok_or_else(|| missing("image_url"))? {
                RawImageUrl::Object { url, detail } => ContentPart::ImageUrl { url, detail },
                RawImageUrl::Url(url) => ContentPart::ImageUrl { url, detail: None },
            },
            PartKind::InputAudio => {
                let audio = raw.input_audio.ok_or_else(|| missing("input_audio"))?;
                ContentPart::InputAudio {
                    data: audio.data,
                    format: audio.format.unwrap_or_default(),
                }
            }
            PartKind::File => {
                let file = raw.file.ok_or_else(|| missing("file"))?;
                ContentPart::File {
                    file_id: file.file_id,
                    file_data: file.file_data,
                    filename: file.filename,
                }
            }
            PartKind::Refusal => ContentPart::Refusal {
                refusal: raw.refusal.unwrap_or_default(),
            },
        })
    }
}

/// A tool definition.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tool {
    /// `function` (other kinds are ignored by the mapping).
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// The function; absent on non-function tools.
    #[serde(default)]
    pub function: Option<FunctionDefinition>,
}

fn function_kind() -> String {
    "function".to_owned()
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FunctionDefinition {
    /// Name as the client knows it.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON Schema of the arguments, as sent (read into a tree only when it is normalised).
    #[serde(default)]
    pub parameters: Option<RawJson>,
    /// Strict schema adherence.
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// `"auto"`.
    Auto,
    /// `"none"`.
    None,
    /// `"required"`.
    Required,
    /// `{"type":"function","function":{"name"}}`.
    Function(String),
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(deserializer)? {
            Value::String(mode) => match mode.as_str() {
                "auto" => Ok(ToolChoice::Auto),
                "none" => Ok(ToolChoice::None),
                "required" => Ok(ToolChoice::Required),
                other => Err(D::Error::custom(format!(
                    "tool_choice must be \"auto\", \"none\", \"required\" or a named function, got {other:?}"
                ))),
            },
            Value::Object(object) => {
                let name = object
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .or_else(|| object.get("name"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| D::Error::custom("tool_choice object without function.name"))?;
                Ok(ToolChoice::Function(name.to_owned()))
            }
            _ => Err(D::Error::custom(
                "tool_choice must be a string or an object",
            )),
        }
    }
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Plain text (the default).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaFormat,
    },
}

/// `response_format.json_schema`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JsonSchemaFormat {
    /// Schema name.
    #[serde(default)]
    pub name: Option<String>,
    /// What the output is.
    #[serde(default)]
    pub description: Option<String>,
    /// The JSON Schema.
    #[serde(default)]
    pub schema: Option<Value>,
    /// Strict adherence.
    #[serde(default)]
    pub strict: Option<bool>,
}

/// A tool call (in assistant history and in answers); `arguments` is always a JSON string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// `call_...`.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// The call.
    pub function: FunctionCall,
}

/// A function name with JSON-string arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Function name.
    pub name: String,
    /// Arguments as a JSON string.
    #[serde(default)]
    pub arguments: String,
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    /// `chatcmpl-...`.
    pub id: String,
    /// Always `chat.completion`.
    pub object: String,
    /// Unix seconds.
    pub created: i64,
    /// The model that served the answer.
    pub model: String,
    /// The choices.
    pub choices: Vec<Choice>,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

/// One choice of a whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Position.
    pub index: u32,
    /// The message.
    pub message: ResponseMessage,
    /// Always `null` here.
    pub logprobs: Option<Value>,
    /// `stop`, `length`, `tool_calls`, `content_filter` or `function_call`.
    pub finish_reason: Option<String>,
}

/// The assistant message of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseMessage {
    /// Always `assistant`.
    pub role: String,
    /// The text; `null` when the answer is only tool calls.
    pub content: Option<String>,
    /// Always present, `null` unless the model refused.
    pub refusal: Option<String>,
    /// Tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Legacy function call (for clients that sent `functions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// Reasoning text of reasoning models (read by Open WebUI, LiteLLM, LangChain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Web-search citations of the text (left out when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
    /// Built-in tools that ran for this answer (internal: Responses and Messages show them as
    /// their own items and blocks).
    #[serde(skip)]
    pub builtin_calls: Vec<BuiltinCall>,
}

/// A citation of the answer's text: OAS `{type: "url_citation", url_citation: {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Annotation {
    /// Always `url_citation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What is cited and where.
    pub url_citation: UrlCitation,
}

/// A cited web page and the span of the message text that cites it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlCitation {
    /// First character (Unicode code point) of the citation mark in the text.
    pub start_index: u32,
    /// One past its last character, so that `text[start_index:end_index]` is the mark.
    pub end_index: u32,
    /// The page.
    pub url: String,
    /// The page's title (the URL when GigaChat gives none).
    pub title: String,
}

impl Annotation {
    /// Moves the citation `chars` characters on (text was put before the span it points at).
    pub fn shift(&mut self, chars: u32) {
        let citation = &mut self.url_citation;
        citation.start_index = citation.start_index.saturating_add(chars);
        citation.end_index = citation.end_index.saturating_add(chars);
    }

    /// A `url_citation` annotation.
    pub fn url_citation(start_index: u32, end_index: u32, url: String, title: String) -> Self {
        Self {
            kind: "url_citation".into(),
            url_citation: UrlCitation {
                start_index,
                end_index,
                url,
                title,
            },
        }
    }
}

/// A built-in tool's run behind an answer (internal, never on the chat wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuiltinCall {
    /// GigaChat searched the web; the pages it found (in the order of their keys).
    WebSearch {
        /// The pages the answer may cite.
        sources: Vec<WebSource>,
    },
    /// GigaChat drew a picture (a file downloadable under the request's client id).
    ImageGeneration {
        /// GigaChat's file id.
        file_id: String,
        /// The file's type, e.g. `image/jpeg`.
        mime: Option<String>,
        /// The picture in base64, once downloaded (Responses' `result`).
        result: Option<String>,
    },
    /// GigaChat ran code it does not show.
    CodeInterpreter,
}

/// A web page a search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSource {
    /// The page.
    pub url: String,
    /// Its title (the URL when GigaChat gives none).
    pub title: String,
}

/// Token usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub completion_tokens: u32,
    /// Their sum.
    pub total_tokens: u32,
    /// Prompt breakdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Completion breakdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

/// `prompt_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Prompt tokens served from cache.
    pub cached_tokens: u32,
}

/// `completion_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    /// Tokens spent on reasoning.
    pub reasoning_tokens: u32,
}

/// One stream chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    /// The same `chatcmpl-...` in every chunk (shared, not copied, between them).
    pub id: SharedStr,
    /// Always `chat.completion.chunk` (borrowed, not allocated, when made here).
    pub object: std::borrow::Cow<'static, str>,
    /// The same in every chunk.
    pub created: i64,
    /// The same in every chunk (shared, not copied, between them).
    pub model: SharedStr,
    /// Deltas (empty in the usage chunk).
    pub choices: Vec<ChunkChoice>,
    /// Absent unless usage was asked for: then `null` on every chunk but the usage chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<Usage>>,
}

/// A string every chunk of one answer repeats (its id, its model): a clone shares it instead of
/// allocating a copy; it reads, compares and (de)serialises as the plain string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SharedStr(std::sync::Arc<str>);

impl std::ops::Deref for SharedStr {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SharedStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SharedStr {
    fn from(text: &str) -> Self {
        Self(text.into())
    }
}

impl From<String> for SharedStr {
    fn from(text: String) -> Self {
        Self(text.into())
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl Serialize for SharedStr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SharedStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

/// One delta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Position.
    pub index: u32,
    /// What is new.
    pub delta: Delta,
    /// Always `null` here.
    pub logprobs: Option<Value>,
    /// `null` until the last chunk of this choice.
    pub finish_reason: Option<String>,
}

/// New parts of the message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Only in the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// New text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// New reasoning text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Tool call fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallChunk>>,
    /// Legacy function call (for clients that sent `functions`), whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// Web-search citations of the whole text, on the choice's last chunk (not in OpenAI's
    /// stream schema; LiteLLM-style clients read it there).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
    /// Built-in tools that ran (internal, see [`ResponseMessage::builtin_calls`]).
    #[serde(skip)]
    pub builtin_calls: Vec<BuiltinCall>,
}

/// A tool call fragment: `id`, `type` and `name` on the first fragment of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallChunk {
    /// Which call.
    pub index: u32,
    /// `call_...` (first fragment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function` (first fragment).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name and/or an arguments fragment.
    pub function: FunctionCallChunk,
}

/// Function part of a tool call fragment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCallChunk {
    /// Name (first fragment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Arguments fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tolerant_request_with_every_content_kind() {
        let request: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA==", "detail": "low"}},
                    {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}},
                    {"type": "file", "file": {"file_data": "AA==", "filename": "a.pdf"}},
                    {"type": "refusal", "refusal": "no", "x": 1}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"}
            ],
            "stream": true,
            "stream_options": {"include_usage": true},
            "stop": ["\n\n", "END"],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": true}},
            "logit_bias": {"1": 2}, "seed": 7, "metadata": {"a": "b"}, "modalities": ["text"]
        }))
        .unwrap();
        assert_eq!(request.messages.len(), 4);
        let Some(MessageContent::Parts(parts)) = &request.messages[1].content else {
            panic!("parts expected")
        };
        assert_eq!(parts.len(), 5);
        assert_eq!(
            parts[4],
            ContentPart::Refusal {
                refusal: "no".into()
            }
        );
        assert_eq!(request.messages[2].content, None);
        assert_eq!(request.tool_choice, Some(ToolChoice::Function("f".into())));
        assert_eq!(request.stop.unwrap().sequences(), ["\n\n", "END"]);
    }

    /// Parts the gateway cannot carry, and empty part lists, used to be dropped silently.
    #[test]
    fn unknown_part_kinds_and_empty_part_lists_are_refused() {
        let parse = |content: serde_json::Value| {
            serde_json::from_value::<ChatCompletionRequest>(
                json!({"messages": [{"role": "user", "content": content}]}),
            )
        };
        let unknown = parse(json!([{"type": "text", "text": "a"}, {"type": "video_url"}]))
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("video_url") && unknown.contains("image_url"),
            "{unknown}"
        );
        let empty = parse(json!([])).unwrap_err().to_string();
        assert!(empty.contains("empty list of content parts"), "{empty}");
        assert!(parse(json!(null)).is_ok() && parse(json!("")).is_ok());
    }

    #[test]
    fn answer_serializes_required_nulls() {
        let answer = ChatCompletion {
            id: "chatcmpl-1".into(),
            object: "chat.completion".into(),
            created: 1,
            model: "GigaChat".into(),
            choices: vec![Choice {
                index: 0,
                message: ResponseMessage {
                    role: "assistant".into(),
                    content: Some("Привет".into()),
                    refusal: None,
                    tool_calls: None,
                    function_call: None,
                    reasoning_content: None,
                    annotations: Vec::new(),
                    builtin_calls: Vec::new(),
                },
                logprobs: None,
                finish_reason: Some("stop".into()),
            }],
            usage: None,
            system_fingerprint: None,
        };
        assert_eq!(
            serde_json::to_string(&answer).unwrap(),
            r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"GigaChat","choices":[{"index":0,"message":{"role":"assistant","content":"Привет","refusal":null},"logprobs":null,"finish_reason":"stop"}]}"#
        );
    }

    #[test]
    fn chunk_usage_is_absent_null_or_present() {
        let mut chunk = ChatCompletionChunk {
            id: "c".into(),
            object: "chat.completion.chunk".into(),
            created: 1,
            model: "m".into(),
            choices: vec![],
            usage: None,
        };
        assert!(!serde_json::to_string(&chunk).unwrap().contains("usage"));
        chunk.usage = Some(None);
        assert!(
            serde_json::to_string(&chunk)
                .unwrap()
                .contains("\"usage\":null")
        );
    }

    #[test]
    fn a_shared_string_reads_compares_and_writes_as_the_plain_string() {
        let shared = SharedStr::from("chatcmpl-Привет \"1\"");
        let plain = "chatcmpl-Привет \"1\"".to_owned();
        assert_eq!(
            serde_json::to_string(&shared).unwrap(),
            serde_json::to_string(&plain).unwrap()
        );
        let read: SharedStr =
            serde_json::from_str(&serde_json::to_string(&plain).unwrap()).unwrap();
        assert_eq!(read, shared);
        assert_eq!(read, plain);
        assert_eq!(read, plain.as_str());
        assert_eq!(&*read, plain.as_str());
        assert_eq!(read.to_string(), plain);
        let copy = shared.clone();
        assert!(std::sync::Arc::ptr_eq(&copy.0, &shared.0), "a clone shares");
    }
}
