//! The Responses API (`/v1/responses`): the tolerant request with its input items, tools,
//! `tool_choice` and text format; the answer is in [`response`].
//!
//! Input items are read leniently, as the clients really send them (Codex puts `id`s on every
//! item, sends `reasoning` items with `"content": null`, and adds fields the spec lacks); a
//! malformed item is an error naming its JSON path. Every input type also serializes back to its
//! wire form, so stored input items can be listed and replayed.

pub mod events;
pub mod framer;
pub mod response;

use std::collections::BTreeMap;

use crate::raw_json::RawJson;
use crate::text_or_list::TextOrList;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `POST /v1/responses` (and `POST /v1/responses/input_tokens`, which takes the same fields).
/// Fields not listed (Codex's `client_metadata`, ...) are accepted and ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CreateResponse {
    /// Model id or alias; the configured default when absent.
    #[serde(default)]
    pub model: Option<String>,
    /// The input: text (one user message) or a list of items.
    #[serde(default)]
    pub input: Option<Input>,
    /// A system (developer) message placed before the input.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Tools the model may call.
    #[serde(default)]
    pub tools: Option<Vec<ResponseTool>>,
    /// Which tool to call.
    #[serde(default)]
    pub tool_choice: Option<ResponseToolChoice>,
    /// Whether several tool calls may come at once.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// Cap on built-in tool calls (none are served; accepted).
    #[serde(default)]
    pub max_tool_calls: Option<u32>,
    /// Output format and verbosity.
    #[serde(default)]
    pub text: Option<TextParam>,
    /// Reasoning options (accepted and echoed).
    #[serde(default)]
    pub reasoning: Option<ReasoningParam>,
    /// Output cap.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Log probabilities of the most likely tokens (not served; accepted).
    #[serde(default)]
    pub top_logprobs: Option<u32>,
    /// `auto` or `disabled` (accepted and echoed).
    #[serde(default)]
    pub truncation: Option<Truncation>,
    /// Stream the answer as Server-Sent Events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Stream options (`include_obfuscation`).
    #[serde(default)]
    pub stream_options: Option<ResponseStreamOptions>,
    /// Keep the response for later retrieval (OpenAI's default: true).
    #[serde(default)]
    pub store: Option<bool>,
    /// Continue from a stored response: its input and output come before this input.
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// A stored conversation (not served: refused).
    #[serde(default)]
    pub conversation: Option<Value>,
    /// Run in the background (not served: refused).
    #[serde(default)]
    pub background: Option<bool>,
    /// Extra output to include (`reasoning.encrypted_content`, ...): served where it exists.
    #[serde(default)]
    pub include: Option<Vec<String>>,
    /// Up to 16 string pairs, echoed in the response.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// End-user id (deprecated by OpenAI in favour of the two below).
    #[serde(default)]
    pub user: Option<String>,
    /// End-user id for abuse detection.
    #[serde(default)]
    pub safety_identifier: Option<String>,
    /// Prompt-cache affinity key (Codex sends its thread id).
    #[serde(default)]
    pub prompt_cache_key: Option<String>,
    /// `in_memory` or `24h` (accepted and echoed).
    #[serde(default)]
    pub prompt_cache_retention: Option<PromptCacheRetention>,
    /// Service tier (accepted and echoed).
    #[serde(default)]
    pub service_tier: Option<ServiceTier>,
    /// A stored prompt template (not served: refused).
    #[serde(default)]
    pub prompt: Option<Value>,
    /// Prompt-cache options (`ttl`, `mode`): accepted and ignored (GigaChat's cache has no knobs).
    #[serde(default)]
    pub prompt_cache_options: Option<IgnoredAny>,
    /// Moderation of input and output: accepted and ignored (GigaChat moderates on its own).
    #[serde(default)]
    pub moderation: Option<IgnoredAny>,
    /// Context management (compaction) entries: accepted and ignored.
    #[serde(default)]
    pub context_management: Option<IgnoredAny>,
}

/// `stream_options` of a Responses request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseStreamOptions {
    /// Pad deltas with random characters (accepted; nothing is added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_obfuscation: Option<bool>,
}

/// `reasoning` of a Responses request (and of the answer, echoed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasoningParam {
    /// `none`, `minimal`, `low`, `medium`, `high`, `xhigh` or `max`.
    #[serde(default)]
    pub effort: Option<String>,
    /// Whether and how to summarise the reasoning (accepted: the `reasoning` item's summary is
    /// GigaChat's whole reasoning text, which GigaChat does not summarise).
    #[serde(default)]
    pub summary: Option<ReasoningSummary>,
}

/// `reasoning.summary`: read strictly, since the answer echoes it and the schema allows only these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningSummary {
    /// The model picks.
    Auto,
    /// A short summary.
    Concise,
    /// A detailed summary.
    Detailed,
}

/// `input`: one text (a user message) or a list of items.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Input {
    /// Plain text.
    Text(String),
    /// Items in order.
    Items(Vec<InputItem>),
}

/// Read directly (no intermediate JSON tree), so errors keep their path (`input[3].role`).
impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match crate::text_or_list::read(deserializer, "a string or a list of input items")? {
            TextOrList::Text(text) => Ok(Input::Text(text)),
            TextOrList::List(items) => Ok(Input::Items(items)),
        }
    }
}

/// One input item. Serializes to its wire form (`type` first).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputItem {
    /// A message of any role (`type` may be absent on the wire).
    Message(MessageItem),
    /// A function call the model made (assistant history).
    FunctionCall(FunctionCallItem),
    /// The result of a function call.
    FunctionCallOutput(ToolOutputItem),
    /// A custom-tool call the model made (assistant history).
    CustomToolCall(CustomToolCallItem),
    /// The result of a custom-tool call.
    CustomToolCallOutput(ToolOutputItem),
    /// The model's reasoning (its text is not carried to GigaChat).
    Reasoning(ReasoningItem),
    /// An item of a stored response, by id (`type` may be absent on the wire).
    ItemReference {
        /// The item's id.
        id: String,
    },
    /// An item of a kind the gateway does not serve (hosted-tool history: `web_search_call`,
    /// `local_shell_call`, `compaction`, ...): only its type is kept.
    #[serde(untagged)]
    Other {
        /// The item's `type`.
        #[serde(rename = "type")]
        kind: String,
    },
}

/// A message item: `EasyInputMessage`, `InputMessage` or an assistant `OutputMessage` sent back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageItem {
    /// The client's id for it (Codex sends `msg_...`); kept, never resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Who said it.
    pub role: Role,
    /// Text or parts.
    pub content: ItemContent,
    /// `in_progress`, `completed` or `incomplete`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `commentary` or `final_answer` (assistant messages of some models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

/// The role of a message item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The end user.
    User,
    /// The model (history).
    Assistant,
    /// System instructions.
    System,
    /// Developer instructions (system text for GigaChat).
    Developer,
}

/// A `function_call` item (input history, and an output item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCallItem {
    /// The item id (`fc_...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The id the matching output names.
    pub call_id: String,
    /// The function.
    pub name: String,
    /// Arguments as a JSON string.
    pub arguments: String,
    /// `in_progress`, `completed` or `incomplete`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The namespace of the function, if it was declared in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A `custom_tool_call` item (input history, and an output item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomToolCallItem {
    /// The item id (`ctc_...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The id the matching output names.
    pub call_id: String,
    /// The custom tool.
    pub name: String,
    /// The free-form input the model wrote.
    pub input: String,
    /// The namespace of the tool, if it was declared in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A `function_call_output` or `custom_tool_call_output` item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolOutputItem {
    /// The client's id for it (`fco_...`, `ctco_...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The call it answers.
    pub call_id: String,
    /// What the tool returned.
    pub output: ToolOutput,
    /// `in_progress`, `completed` or `incomplete`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// A `reasoning` item. Its text never reaches GigaChat; it is read so that history with it parses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasoningItem {
    /// The item id (`rs_...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Summary texts.
    pub summary: Vec<SummaryText>,
    /// Another provider's opaque reasoning state (kept, never read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
}

/// `{"type":"summary_text","text"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "summary_text")]
pub struct SummaryText {
    /// The summary.
    pub text: String,
}

/// Message content: a string or a list of parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ItemContent {
    /// Plain text.
    Text(String),
    /// Typed parts.
    Parts(Vec<InputContent>),
}

impl<'de> Deserialize<'de> for ItemContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        text_or_parts(deserializer, "a string or a list of content parts")
    }
}

/// Output of a tool call: a string or a list of parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ToolOutput {
    /// Plain text.
    Text(String),
    /// Typed parts (`input_text`, `input_image`, `input_file`).
    Parts(Vec<InputContent>),
}

impl<'de> Deserialize<'de> for ToolOutput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        text_or_parts(deserializer, "a string or a list of output parts").map(|parts| match parts {
            ItemContent::Text(text) => ToolOutput::Text(text),
            ItemContent::Parts(parts) => ToolOutput::Parts(parts),
        })
    }
}

/// Reads a string or a list of parts (errors keep their path).
fn text_or_parts<'de, D: Deserializer<'de>>(
    deserializer: D,
    expected: &'static str,
) -> Result<ItemContent, D::Error> {
    match crate::text_or_list::read(deserializer, expected)? {
        TextOrList::Text(text) => Ok(ItemContent::Text(text)),
        TextOrList::List(parts) => Ok(ItemContent::Parts(parts)),
    }
}

impl ItemContent {
    /// The text of the content: the string, or its text parts (`input_text`, `output_text`,
    /// `refusal`) joined with newlines.
    pub fn text(&self) -> String {
        match self {
            ItemContent::Text(text) => text.clone(),
            ItemContent::Parts(parts) => parts
                .iter()
                .filter_map(InputContent::text)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// One content part of a message or of a tool output. A `type` other than these is refused,
/// naming `input[i].content[j].type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputContent {
    /// `{"type":"input_text","text"}`.
    InputText {
        /// The text.
        text: String,
    },
    /// `{"type":"input_image","image_url"|"file_id","detail"}`.
    InputImage {
        /// An http(s) or `data:` URL.
        image_url: Option<String>,
        /// An id from the Files API.
        file_id: Option<String>,
        /// `low`, `high`, `auto` (the default) or `original`.
        detail: String,
    },
    /// `{"type":"input_file","file_id"|"file_data"|"file_url","filename"}`.
    InputFile {
        /// An id from the Files API.
        #[serde(skip_serializing_if = "Option::is_none")]
        file_id: Option<String>,
        /// Base64 bytes or a `data:` URL.
        #[serde(skip_serializing_if = "Option::is_none")]
        file_data: Option<String>,
        /// An http(s) URL of the file.
        #[serde(skip_serializing_if = "Option::is_none")]
        file_url: Option<String>,
        /// The file name.
        #[serde(skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
    },
    /// `{"type":"output_text","text","annotations","logprobs"}` (assistant history).
    OutputText {
        /// The text.
        text: String,
        /// Citations (kept as sent).
        annotations: Vec<Value>,
        /// Token log probabilities (kept as sent).
        logprobs: Vec<Value>,
    },
    /// `{"type":"refusal","refusal"}` (assistant history).
    Refusal {
        /// The refusal text.
        refusal: String,
    },
    /// `{"type":"reasoning_text","text"}` (content of `reasoning` items; never carried).
    ReasoningText {
        /// The reasoning text.
        text: String,
    },
}

impl InputContent {
    /// The text of a text-bearing part (`input_text`, `output_text`, `refusal`).
    pub fn text(&self) -> Option<&str> {
        match self {
            InputContent::InputText { text } | InputContent::OutputText { text, .. } => Some(text),
            InputContent::Refusal { refusal } => Some(refusal),
            _ => None,
        }
    }
}

/// The content part kinds there are; reading `type` into this names an unknown one at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PartKind {
    InputText,
    InputImage,
    InputFile,
    OutputText,
    Refusal,
    ReasoningText,
    SummaryText,
}

/// The wire form of a content part: the fields of every kind (see the chat request's parts).
#[derive(Deserialize)]
struct RawPart {
    #[serde(rename = "type")]
    kind: PartKind,
    text: Option<String>,
    refusal: Option<String>,
    image_url: Option<String>,
    file_id: Option<String>,
    detail: Option<String>,
    file_data: Option<String>,
    file_url: Option<String>,
    filename: Option<String>,
    annotations: Option<Vec<Value>>,
    logprobs: Option<Vec<Value>>,
}

impl<'de> Deserialize<'de> for InputContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawPart::deserialize(deserializer)?;
        let text = |kind: &str, text: Option<String>| {
            text.ok_or_else(|| D::Error::custom(format!("`{kind}` part without `text`")))
        };
        Ok(match raw.kind {
            PartKind::InputText => InputContent::InputText {
                text: text("input_text", raw.text)?,
            },
            PartKind::InputImage => {
                if raw.image_url.is_none() && raw.file_id.is_none() {
                    return Err(D::Error::custom(
                        "`input_image` part needs `image_url` or `file_id`",
                    ));
                }
                InputContent::InputImage {
                    image_url: raw.image_url,
                    file_id: raw.file_id,
                    detail: raw.detail.unwrap_or_else(|| "auto".to_owned()),
                }
            }
            PartKind::InputFile => {
                if raw.file_id.is_none() && raw.file_data.is_none() && raw.file_url.is_none() {
                    return Err(D::Error::custom(
                        "`input_file` part needs `file_id`, `file_data` or `file_url`",
                    ));
                }
                InputContent::InputFile {
                    file_id: raw.file_id,
                    file_data: raw.file_data,
                    file_url: raw.file_url,
                    filename: raw.filename,
                }
            }
            PartKind::OutputText => InputContent::OutputText {
                text: text("output_text", raw.text)?,
                annotations: raw.annotations.unwrap_or_default(),
                logprobs: raw.logprobs.unwrap_or_default(),
            },
            PartKind::Refusal => InputContent::Refusal {
                refusal: raw.refusal.unwrap_or_default(),
            },
            PartKind::ReasoningText | PartKind::SummaryText => InputContent::ReasoningText {
                text: raw.text.unwrap_or_default(),
            },
        })
    }
}

/// The wire form of an input item: the fields of every kind the gateway reads, each typed, so a
/// wrong value is named at its path (`input[3].call_id`). Read directly, not buffered.
#[derive(Deserialize)]
struct RawItem {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    role: Option<Role>,
    content: Option<ItemContent>,
    status: Option<String>,
    phase: Option<String>,
    call_id: Option<String>,
    name: Option<String>,
    arguments: Option<String>,
    namespace: Option<String>,
    input: Option<String>,
    output: Option<LenientOutput>,
    summary: Option<Vec<SummaryText>>,
    encrypted_content: Option<String>,
}

/// `output` of any item kind: tool outputs are text or parts; other kinds (a computer call's
/// screenshot) carry objects, which only matter if the item is a tool output.
enum LenientOutput {
    Tool(ToolOutput),
    Other,
}

impl<'de> Deserialize<'de> for LenientOutput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(
            match crate::text_or_list::read_or_object(
                deserializer,
                "a string or a list of output parts",
            )? {
                Some(TextOrList::Text(text)) => LenientOutput::Tool(ToolOutput::Text(text)),
                Some(TextOrList::List(parts)) => LenientOutput::Tool(ToolOutput::Parts(parts)),
                None => LenientOutput::Other,
            },
        )
    }
}

impl<'de> Deserialize<'de> for InputItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawItem::deserialize(deserializer)?;
        let kind = raw.kind.as_deref().unwrap_or(if raw.role.is_some() {
            "message"
        } else {
            "item_reference"
        });
        let missing = |field: &str| D::Error::custom(format!("a `{kind}` item needs `{field}`"));
        let output = |output: Option<LenientOutput>| match output {
            Some(LenientOutput::Tool(output)) => Ok(output),
            Some(LenientOutput::Other) => Err(D::Error::custom(format!(
                "the `output` of a `{kind}` item must be a string or a list of parts"
            ))),
            None => Err(missing("output")),
        };
        Ok(match kind {
            "message" => InputItem::Message(MessageItem {
                id: raw.id,
                role: raw.role.ok_or_else(|| missing("role"))?,
                content: raw.content.ok_or_else(|| missing("content"))?,
                status: raw.status,
                phase: raw.phase,
            }),
            "function_call" => InputItem::FunctionCall(FunctionCallItem {
                id: raw.id,
                call_id: raw.call_id.ok_or_else(|| missing("call_id"))?,
                name: raw.name.ok_or_else(|| missing("name"))?,
                arguments: raw.arguments.ok_or_else(|| missing("arguments"))?,
                status: raw.status,
                namespace: raw.namespace,
            }),
            "custom_tool_call" => InputItem::CustomToolCall(CustomToolCallItem {
                id: raw.id,
                call_id: raw.call_id.ok_or_else(|| missing("call_id"))?,
                name: raw.name.ok_or_else(|| missing("name"))?,
                input: raw.input.ok_or_else(|| missing("input"))?,
                namespace: raw.namespace,
            }),
            "function_call_output" | "custom_tool_call_output" => {
                let item = ToolOutputItem {
                    id: raw.id,
                    call_id: raw.call_id.ok_or_else(|| missing("call_id"))?,
                    output: output(raw.output)?,
                    status: raw.status,
                };
                if kind == "function_call_output" {
                    InputItem::FunctionCallOutput(item)
                } else {
                    InputItem::CustomToolCallOutput(item)
                }
            }
            "reasoning" => InputItem::Reasoning(ReasoningItem {
                id: raw.id,
                summary: raw.summary.unwrap_or_default(),
                encrypted_content: raw.encrypted_content,
            }),
            "item_reference" => InputItem::ItemReference {
                id: raw.id.ok_or_else(|| missing("id"))?,
            },
            other => InputItem::Other {
                kind: other.to_owned(),
            },
        })
    }
}

/// A tool of a Responses request. Types the gateway does not serve are kept whole, so they can be
/// named when left out and echoed in the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ResponseTool {
    /// `{"type":"function",...}`.
    Function(FunctionTool),
    /// `{"type":"custom",...}`: free-form text input.
    Custom(CustomTool),
    /// Any other type (`web_search`, `namespace`, `tool_search`, `mcp`, ...), as sent.
    Other(Value),
}

impl ResponseTool {
    /// The tool's `type`.
    pub fn kind(&self) -> &str {
        match self {
            ResponseTool::Function(_) => "function",
            ResponseTool::Custom(_) => "custom",
            ResponseTool::Other(value) => value.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }
}

/// A tool is read in one pass, each field as a JSON value except `parameters` (the big one: a
/// function's schema), kept as text. A tool with one string `type` of `function` whose fields
/// have a function tool's types is a function tool; any other tool (or one with a duplicate key)
/// is rebuilt as a JSON value and read by `type`, as tools always were read (so it fails with
/// the same message).
impl<'de> Deserialize<'de> for ResponseTool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ToolVisitor)
    }
}

/// The message for a tool that is not an object with a string `type`.
const TOOL_WITHOUT_TYPE: &str = "a tool needs a string `type`";

/// Reads a tool's fields (see [`ResponseTool`]'s `Deserialize`); anything but an object is
/// refused as a tool without a `type`.
struct ToolVisitor;

/// One field of a tool as read: the schema as text, anything else as a value.
enum ToolField {
    Schema(Option<RawJson>),
    Value(Value),
}

impl<'de> serde::de::Visitor<'de> for ToolVisitor {
    type Value = ResponseTool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(TOOL_WITHOUT_TYPE)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ResponseTool, A::Error> {
        use serde::de::Error;
        let mut fields: Vec<(String, ToolField)> = Vec::with_capacity(5);
        while let Some(key) = map.next_key::<String>()? {
            let field = if key == "parameters" {
                ToolField::Schema(map.next_value()?)
            } else {
                ToolField::Value(map.next_value()?)
            };
            fields.push((key, field));
        }
        if is_function_tool(&fields) {
            return Ok(ResponseTool::Function(function_tool(fields)));
        }
        let mut object = serde_json::Map::with_capacity(fields.len());
        for (key, field) in fields {
            let value = match field {
                ToolField::Value(value) => value,
                ToolField::Schema(None) => Value::Null,
                ToolField::Schema(Some(schema)) => schema.to_value().map_err(A::Error::custom)?,
            };
            object.insert(key, value);
        }
        let value = Value::Object(object);
        let Some(kind) = value.get("type").and_then(Value::as_str) else {
            return Err(A::Error::custom(TOOL_WITHOUT_TYPE));
        };
        match kind {
            "function" => serde_json::from_value(value)
                .map(ResponseTool::Function)
                .map_err(|err| A::Error::custom(format!("a `function` tool: {err}"))),
            "custom" => serde_json::from_value(value)
                .map(ResponseTool::Custom)
                .map_err(|err| A::Error::custom(format!("a `custom` tool: {err}"))),
            _ => Ok(ResponseTool::Other(value)),
        }
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<ResponseTool, A::Error> {
        Err(serde::de::Error::custom(TOOL_WITHOUT_TYPE))
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<ResponseTool, E> {
        Err(E::custom(TOOL_WITHOUT_TYPE))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<ResponseTool, E> {
        Err(E::custom(TOOL_WITHOUT_TYPE))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<ResponseTool, E> {
        Err(E::custom(TOOL_WITHOUT_TYPE))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<ResponseTool, E> {
        Err(E::custom(TOOL_WITHOUT_TYPE))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<ResponseTool, E> {
        Err(E::custom(TOOL_WITHOUT_TYPE))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<ResponseTool, E> {
        Err(E::custom(TOOL_WITHOUT_TYPE))
    }
}

/// Whether `fields` read as a [`FunctionTool`] as they are: `type` is the string `function`,
/// `name` a string, `description` a string or null, `strict` a boolean or null, and none of
/// these (or `parameters`) twice; other fields are ignored, as a function tool ignores them.
fn is_function_tool(fields: &[(String, ToolField)]) -> bool {
    let once = |name: &str| fields.iter().filter(|(key, _)| key == name).count() <= 1;
    let value = |name: &str| {
        fields.iter().find_map(|(key, field)| match field {
            ToolField::Value(value) if key == name => Some(value),
            _ => None,
        })
    };
    ["type", "name", "description", "parameters", "strict"]
        .into_iter()
        .all(once)
        && value("type").and_then(Value::as_str) == Some("function")
        && value("name").is_some_and(Value::is_string)
        && value("description").is_none_or(|d| d.is_string() || d.is_null())
        && value("strict").is_none_or(|s| s.is_boolean() || s.is_null())
}

/// The function tool of `fields` that [`is_function_tool`] accepted.
fn function_tool(fields: Vec<(String, ToolField)>) -> FunctionTool {
    let mut tool = FunctionTool {
        name: String::new(),
        description: None,
        parameters: None,
        strict: None,
    };
    for (key, field) in fields {
        match (key.as_str(), field) {
            ("name", ToolField::Value(Value::String(name))) => tool.name = name,
            ("description", ToolField::Value(Value::String(text))) => tool.description = Some(text),
            ("strict", ToolField::Value(Value::Bool(strict))) => tool.strict = Some(strict),
            (_, ToolField::Schema(schema)) => tool.parameters = schema,
            _ => {}
        }
    }
    tool
}

/// A function tool (flat, unlike chat's `{"function":{...}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "function")]
pub struct FunctionTool {
    /// Name the model calls it by.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON Schema of the arguments, as sent (echoed as sent, read into a tree only when it is
    /// normalised).
    #[serde(default)]
    pub parameters: Option<RawJson>,
    /// Strict schema adherence.
    #[serde(default)]
    pub strict: Option<bool>,
}

/// A custom tool: the model writes free-form text, optionally constrained by a grammar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "custom")]
pub struct CustomTool {
    /// Name the model calls it by.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The input format (unconstrained text when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<CustomToolFormat>,
}

/// `format` of a custom tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomToolFormat {
    /// Unconstrained text.
    Text,
    /// Text matching a grammar.
    Grammar {
        /// `lark` or `regex`.
        syntax: String,
        /// The grammar.
        definition: String,
    },
}

/// `tool_choice` of a Responses request; serializes back as it was sent.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseToolChoice {
    /// `"none"`, `"auto"` or `"required"`.
    Mode(ToolChoiceMode),
    /// `{"type":"function","name"}`.
    Function(String),
    /// `{"type":"custom","name"}`.
    Custom(String),
    /// `{"type":"allowed_tools","mode","tools"}`.
    AllowedTools {
        /// `auto` or `required`.
        mode: ToolChoiceMode,
        /// The allowed tools (`{"type":"function","name"}`, `{"type":"web_search"}`, ...).
        tools: Vec<Value>,
    },
    /// A hosted tool type (`{"type":"web_search_preview"}`, `{"type":"mcp",...}`, ...), as sent.
    Hosted(Value),
}

/// `none`, `auto` or `required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoiceMode {
    /// No tool calls.
    None,
    /// The model decides.
    Auto,
    /// At least one tool call.
    Required,
}

impl<'de> Deserialize<'de> for ResponseToolChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(deserializer)?;
        if value.is_string() {
            return serde_json::from_value(value)
                .map(ResponseToolChoice::Mode)
                .map_err(|_| {
                    D::Error::custom(
                        "tool_choice must be \"none\", \"auto\", \"required\" or an object",
                    )
                });
        }
        let kind = value.get("type").and_then(Value::as_str);
        let name = || {
            value
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| D::Error::custom("a named tool_choice needs `name`"))
        };
        match kind {
            Some("function") => name().map(ResponseToolChoice::Function),
            Some("custom") => name().map(ResponseToolChoice::Custom),
            Some("allowed_tools") => {
                let mode = value
                    .get("mode")
                    .cloned()
                    .map(serde_json::from_value::<ToolChoiceMode>)
                    .transpose()
                    .ok()
                    .flatten()
                    .filter(|mode| *mode != ToolChoiceMode::None)
                    .ok_or_else(|| {
                        D::Error::custom("allowed_tools needs `mode`: \"auto\" or \"required\"")
                    })?;
                let tools = value
                    .get("tools")
                    .and_then(Value::as_array)
                    .cloned()
                    .ok_or_else(|| D::Error::custom("allowed_tools needs a `tools` list"))?;
                Ok(ResponseToolChoice::AllowedTools { mode, tools })
            }
            Some(_) => Ok(ResponseToolChoice::Hosted(value)),
            None => Err(D::Error::custom(
                "tool_choice must be \"none\", \"auto\", \"required\" or an object with a `type`",
            )),
        }
    }
}

impl Serialize for ResponseToolChoice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = match self {
            ResponseToolChoice::Mode(mode) => return mode.serialize(serializer),
            ResponseToolChoice::Function(name) => {
                serde_json::json!({"type": "function", "name": name})
            }
            ResponseToolChoice::Custom(name) => serde_json::json!({"type": "custom", "name": name}),
            ResponseToolChoice::AllowedTools { mode, tools } => {
                serde_json::json!({"type": "allowed_tools", "mode": mode, "tools": tools})
            }
            ResponseToolChoice::Hosted(value) => return value.serialize(serializer),
        };
        value.serialize(serializer)
    }
}

/// `text`: the output format and verbosity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextParam {
    /// Text (the default), a JSON schema, or any JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TextFormat>,
    /// `low`, `medium` or `high` (accepted and echoed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbosity: Option<Verbosity>,
}

// The settings below are only accepted and echoed in the answer, whose schema allows just these
// values: read strictly, so a value outside them is the client's 400, not an invalid answer.

/// `truncation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Truncation {
    /// Drop items from the start of the conversation to fit the context window.
    Auto,
    /// Fail when the input does not fit.
    Disabled,
}

/// `prompt_cache_retention`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PromptCacheRetention {
    /// Kept in memory.
    #[serde(rename = "in_memory")]
    InMemory,
    /// Kept for a day.
    #[serde(rename = "24h")]
    Day,
}

/// `service_tier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceTier {
    /// The project's tier.
    Auto,
    /// Standard processing.
    Default,
    /// Cheaper, slower.
    Flex,
    /// Reserved capacity.
    Scale,
    /// Faster.
    Priority,
    /// Faster still.
    Fast,
    /// The fastest.
    Ultrafast,
}

/// `text.verbosity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verbosity {
    /// Concise.
    Low,
    /// Balanced.
    Medium,
    /// Detailed.
    High,
}

/// `text.format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TextFormat {
    /// Plain text.
    Text,
    /// JSON matching a schema.
    JsonSchema {
        /// The schema's name.
        name: String,
        /// The JSON Schema.
        schema: Value,
        /// What the output is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// Strict adherence.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
    },
    /// Any JSON object.
    JsonObject,
}

#[cfg(test)]
mod tests;
