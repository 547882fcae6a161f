//! `POST /v1/messages` (and `count_tokens`): the tolerant request. Fields not listed (Claude Code's
//! `context_management`, `output_config`, `cache_control` on any block, ...) are accepted and
//! ignored; a block of an unknown `type` or missing a field is refused naming its JSON path
//! (`messages[2].content[0].source`).

use openai::RawJson;
use openai::text_or_list::{self, TextOrList};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A Messages request.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct MessagesRequest {
    /// Model id or alias; the configured default when absent.
    #[serde(default)]
    pub model: Option<String>,
    /// Output cap; required by `POST /v1/messages` (checked there, so the error can say so).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// The system prompt: a string or text blocks.
    #[serde(default)]
    pub system: Option<System>,
    /// The conversation, alternating `user` and `assistant` turns.
    pub messages: Vec<InputMessage>,
    /// Tools the model may call: custom tools and Anthropic's server tools.
    #[serde(default)]
    pub tools: Option<Vec<ToolDefinition>>,
    /// Which tool to call.
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    /// Texts that end the answer when generated.
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default)]
    pub top_k: Option<u32>,
    /// `{"user_id"}`.
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// Stream the answer as SSE events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Extended thinking: `{"type": "enabled", "budget_tokens"}`, `disabled` or `adaptive`.
    #[serde(default)]
    pub thinking: Option<Thinking>,
    /// `auto` or `standard_only`.
    #[serde(default)]
    pub service_tier: Option<String>,
}

/// `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    /// An opaque id of the end user.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `thinking`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Thinking {
    /// `enabled`, `disabled` or `adaptive`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Tokens the model may think with (`enabled`).
    #[serde(default)]
    pub budget_tokens: Option<u32>,
}

/// `system`: a string or a list of text blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum System {
    /// A string.
    Text(String),
    /// Text blocks.
    Blocks(Vec<TextBlock>),
}

impl<'de> Deserialize<'de> for System {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(
            match text_or_list::read(deserializer, "a string or a list of text blocks")? {
                TextOrList::Text(text) => System::Text(text),
                TextOrList::List(blocks) => System::Blocks(blocks),
            },
        )
    }
}

impl System {
    /// The text: the string, or the blocks' texts joined with blank lines.
    pub fn text(&self) -> String {
        match self {
            System::Text(text) => text.clone(),
            System::Blocks(blocks) => joined(blocks),
        }
    }
}

/// Texts of `blocks` joined with blank lines.
fn joined(blocks: &[TextBlock]) -> String {
    blocks
        .iter()
        .map(|block| block.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// `{"type": "text", "text"}` where only text may stand (`system`, a search result's content).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TextBlock {
    /// Always `text`.
    #[serde(rename = "type")]
    kind: TextKind,
    /// The text.
    pub text: String,
}

impl TextBlock {
    /// A text block.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            kind: TextKind::Text,
            text: text.into(),
        }
    }
}

/// The one `type` a [`TextBlock`] has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TextKind {
    Text,
}

/// Who wrote a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The user (and tool results).
    User,
    /// The model (and its tool calls).
    Assistant,
    /// Instructions in the middle of the conversation: Claude Code sends them for a model name it
    /// does not know (beta `mid-conversation-system-2026-04-07`).
    System,
}

/// A turn of the conversation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InputMessage {
    /// `user`, `assistant` or `system`.
    pub role: Role,
    /// A string or blocks.
    pub content: Content,
}

/// A turn's content (or a tool result's): a string or a list of blocks.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A string.
    Text(String),
    /// Blocks.
    Blocks(Vec<ContentBlock>),
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(
            match text_or_list::read(deserializer, "a string or a list of content blocks")? {
                TextOrList::Text(text) => Content::Text(text),
                TextOrList::List(blocks) => Content::Blocks(blocks),
            },
        )
    }
}

/// One block of a turn.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentBlock {
    /// `{"type":"text","text"}`.
    Text {
        /// The text.
        text: String,
    },
    /// `{"type":"image","source"}`.
    Image {
        /// Where the image is.
        source: Source,
    },
    /// `{"type":"document","source","title"}`: a PDF or a plain text.
    Document {
        /// Where the document is.
        source: Source,
        /// Its title.
        title: Option<String>,
    },
    /// `{"type":"tool_use","id","name","input"}` (assistant history).
    ToolUse {
        /// `toolu_...`.
        id: String,
        /// The tool called.
        name: String,
        /// The arguments (an object), as the client wrote them: they go on as the text of a chat
        /// tool call's arguments, never needing a tree here.
        input: RawJson,
    },
    /// `{"type":"tool_result","tool_use_id","content","is_error"}` (user turns).
    ToolResult {
        /// The call it answers.
        tool_use_id: String,
        /// What the tool returned (absent: nothing).
        content: Option<Content>,
        /// The tool failed.
        is_error: bool,
    },
    /// `{"type":"thinking","thinking","signature"}` (assistant history).
    Thinking {
        /// The reasoning text.
        thinking: String,
    },
    /// `{"type":"redacted_thinking","data"}` (assistant history).
    RedactedThinking,
    /// `{"type":"search_result","source","title","content"}`: a found page to cite.
    SearchResult {
        /// The page's URL or name.
        source: String,
        /// The page's title.
        title: String,
        /// Its text blocks.
        content: Vec<TextBlock>,
    },
}

/// The block kinds there are; reading `type` into this names an unknown one at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum BlockKind {
    Text,
    Image,
    Document,
    ToolUse,
    ToolResult,
    Thinking,
    RedactedThinking,
    SearchResult,
}

/// The wire form of a block: the fields of every kind, read straight into their types (no JSON
/// tree in between, so a large base64 payload is copied out of the body once and an error inside
/// keeps its path).
#[derive(Deserialize)]
struct RawBlock {
    #[serde(rename = "type")]
    kind: BlockKind,
    text: Option<String>,
    source: Option<SourceField>,
    title: Option<String>,
    id: Option<String>,
    name: Option<String>,
    input: Option<RawJson>,
    tool_use_id: Option<String>,
    content: Option<Content>,
    is_error: Option<bool>,
    thinking: Option<String>,
}

impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawBlock::deserialize(deserializer)?;
        let kind = raw.kind;
        let missing = |field: &str| {
            D::Error::custom(format!("a `{}` block without `{field}`", kind_name(kind)))
        };
        let object_source = |source: Option<SourceField>| match source {
            Some(SourceField::Object(source)) => Ok(source),
            Some(SourceField::Name(_)) => Err(D::Error::custom(format!(
                "the `source` of a `{}` block must be an object",
                kind_name(kind)
            ))),
            None => Err(missing("source")),
        };
        Ok(match kind {
            BlockKind::Text => ContentBlock::Text {
                text: raw.text.ok_or_else(|| missing("text"))?,
            },
            BlockKind::Image => ContentBlock::Image {
                source: object_source(raw.source)?,
            },
            BlockKind::Document => ContentBlock::Document {
                source: object_source(raw.source)?,
                title: raw.title,
            },
            BlockKind::ToolUse => ContentBlock::ToolUse {
                id: raw.id.ok_or_else(|| missing("id"))?,
                name: raw.name.ok_or_else(|| missing("name"))?,
                input: raw
                    .input
                    .unwrap_or_else(|| RawJson::from(Value::Object(Default::default()))),
            },
            BlockKind::ToolResult => ContentBlock::ToolResult {
                tool_use_id: raw.tool_use_id.ok_or_else(|| missing("tool_use_id"))?,
                content: raw.content,
                is_error: raw.is_error.unwrap_or(false),
            },
            BlockKind::Thinking => ContentBlock::Thinking {
                thinking: raw.thinking.unwrap_or_default(),
            },
            BlockKind::RedactedThinking => ContentBlock::RedactedThinking,
            BlockKind::SearchResult => ContentBlock::SearchResult {
                source: match raw.source {
                    Some(SourceField::Name(source)) => source,
                    Some(SourceField::Object(_)) => {
                        return Err(D::Error::custom(
                            "the `source` of a `search_result` block must be a string",
                        ));
                    }
                    None => return Err(missing("source")),
                },
                title: raw.title.unwrap_or_default(),
                content: match raw.content {
                    Some(Content::Blocks(blocks)) => blocks
                        .into_iter()
                        .map(|block| match block {
                            ContentBlock::Text { text } => Ok(TextBlock::new(text)),
                            _ => Err(D::Error::custom(
                                "the `content` of a `search_result` block holds text blocks only",
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                    Some(Content::Text(text)) => vec![TextBlock::new(text)],
                    None => return Err(missing("content")),
                },
            },
        })
    }
}

/// The name of a block kind, for messages.
fn kind_name(kind: BlockKind) -> &'static str {
    match kind {
        BlockKind::Text => "text",
        BlockKind::Image => "image",
        BlockKind::Document => "document",
        BlockKind::ToolUse => "tool_use",
        BlockKind::ToolResult => "tool_result",
        BlockKind::Thinking => "thinking",
        BlockKind::RedactedThinking => "redacted_thinking",
        BlockKind::SearchResult => "search_result",
    }
}

/// A block's `source`: an object (images, documents) or a string (search results).
enum SourceField {
    Object(Source),
    Name(String),
}

impl<'de> Deserialize<'de> for SourceField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SourceField;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a source object (or, for a search result, a string)")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
                Ok(SourceField::Name(name.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                Source::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(SourceField::Object)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Where an image or a document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `{"type":"base64","media_type","data"}`.
    Base64 {
        /// `image/png`, `application/pdf`, ...
        media_type: String,
        /// The bytes, base64.
        data: String,
    },
    /// `{"type":"url","url"}`.
    Url {
        /// An http(s) URL.
        url: String,
    },
    /// `{"type":"text","media_type":"text/plain","data"}` (documents), or `{"type":"content",
    /// "content"}` with its text blocks joined.
    Text {
        /// The document's text.
        data: String,
    },
    /// `{"type":"file","file_id"}`: a file uploaded through the Files API.
    File {
        /// The file's id.
        file_id: String,
    },
}

/// The source kinds there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SourceKind {
    Base64,
    Url,
    Text,
    Content,
    File,
}

#[derive(Deserialize)]
struct RawSource {
    #[serde(rename = "type")]
    kind: SourceKind,
    media_type: Option<String>,
    data: Option<String>,
    url: Option<String>,
    content: Option<TextOrBlocks>,
    file_id: Option<String>,
}

/// A `content` source's content: a string or text blocks.
struct TextOrBlocks(String);

impl<'de> Deserialize<'de> for TextOrBlocks {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(TextOrBlocks(System::deserialize(deserializer)?.text()))
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawSource::deserialize(deserializer)?;
        let missing = |kind: &str, field: &str| {
            D::Error::custom(format!("a `{kind}` source without `{field}`"))
        };
        Ok(match raw.kind {
            SourceKind::Base64 => Source::Base64 {
                media_type: raw
                    .media_type
                    .ok_or_else(|| missing("base64", "media_type"))?,
                data: raw.data.ok_or_else(|| missing("base64", "data"))?,
            },
            SourceKind::Url => Source::Url {
                url: raw.url.ok_or_else(|| missing("url", "url"))?,
            },
            SourceKind::Text => Source::Text {
                data: raw.data.ok_or_else(|| missing("text", "data"))?,
            },
            SourceKind::Content => Source::Text {
                data: raw.content.ok_or_else(|| missing("content", "content"))?.0,
            },
            SourceKind::File => Source::File {
                file_id: raw.file_id.ok_or_else(|| missing("file", "file_id"))?,
            },
        })
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolDefinition {
    /// A tool of the client's (`type` absent or `custom`).
    Custom(CustomTool),
    /// One of Anthropic's server tools (`web_search_20250305`, `bash_20250124`, ...), by `type`.
    Server {
        /// Its `type`.
        kind: String,
        /// Its `name`, when sent.
        name: Option<String>,
    },
}

/// A client tool.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomTool {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// JSON Schema of its input, as sent (read into a tree only when it is normalised).
    pub input_schema: RawJson,
}

#[derive(Deserialize)]
struct RawTool {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    description: Option<String>,
    input_schema: Option<RawJson>,
}

impl<'de> Deserialize<'de> for ToolDefinition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawTool::deserialize(deserializer)?;
        match raw.kind.as_deref() {
            None | Some("custom") => Ok(ToolDefinition::Custom(CustomTool {
                name: raw
                    .name
                    .ok_or_else(|| D::Error::custom("a custom tool without `name`"))?,
                description: raw.description,
                input_schema: raw
                    .input_schema
                    .ok_or_else(|| D::Error::custom("a custom tool without `input_schema`"))?,
            })),
            Some(kind) => Ok(ToolDefinition::Server {
                kind: kind.to_owned(),
                name: raw.name,
            }),
        }
    }
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ToolChoice {
    /// `auto`, `any`, `tool` or `none`.
    #[serde(rename = "type")]
    pub kind: ToolChoiceKind,
    /// The tool forced (`tool`).
    #[serde(default)]
    pub name: Option<String>,
    /// At most one tool call per answer.
    #[serde(default)]
    pub disable_parallel_tool_use: Option<bool>,
}

/// `tool_choice.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoiceKind {
    /// The model decides.
    Auto,
    /// Some tool must be called.
    Any,
    /// The tool `name` must be called.
    Tool,
    /// No tool may be called.
    None,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<MessagesRequest, String> {
        let text = body.to_string();
        let mut deserializer = serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|err| format!("{} | {}", err.path(), err.inner()))
    }

    #[test]
    fn a_claude_code_request_is_read_and_its_extras_ignored() {
        let request = parse(json!({
            "model": "claude-sonnet-4-5", "max_tokens": 32000,
            "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}, "title": "a.pdf"},
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain"}},
                    {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "c1"}, {"type": "text", "text": "c2"}]}},
                    {"type": "search_result", "source": "https://example.com", "title": "Ex", "content": [{"type": "text", "text": "found"}]}
                ]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "xx"},
                    {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": "a"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "ok"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}], "is_error": true}
                ]}
            ],
            "tools": [
                {"name": "Read", "description": "reads", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
            ],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
            "metadata": {"user_id": "u1"}, "stream": true, "thinking": {"type": "adaptive"},
            "context_management": {"edits": []}, "output_config": {"effort": "high"},
            "stop_sequences": ["END"], "temperature": 0.5, "top_k": 5, "service_tier": "auto"
        }))
        .unwrap();
        assert_eq!(request.max_tokens, Some(32000));
        assert_eq!(
            request.system.as_ref().map(System::text).as_deref(),
            Some("You are Claude Code.\n\nBe brief.")
        );
        let Content::Blocks(blocks) = &request.messages[0].content else {
            panic!("blocks expected")
        };
        assert_eq!(blocks.len(), 7);
        assert_eq!(
            blocks[5],
            ContentBlock::Document {
                source: Source::Text {
                    data: "c1\n\nc2".into()
                },
                title: None
            }
        );
        let Content::Blocks(result) = &request.messages[2].content else {
            panic!("blocks expected")
        };
        assert!(matches!(
            &result[0],
            ContentBlock::ToolResult { is_error: true, content: Some(Content::Blocks(inner)), .. } if inner.len() == 2
        ));
        let tools = request.tools.unwrap();
        assert!(matches!(&tools[0], ToolDefinition::Custom(tool) if tool.name == "Read"));
        assert_eq!(
            tools[1],
            ToolDefinition::Server {
                kind: "web_search_20250305".into(),
                name: Some("web_search".into())
            }
        );
        assert_eq!(
            request.tool_choice.unwrap().disable_parallel_tool_use,
            Some(true)
        );
        assert_eq!(request.thinking.unwrap().kind, "adaptive");
    }

    #[test]
    fn malformed_blocks_are_refused_at_their_path() {
        let message = |content: Value| {
            parse(json!({"max_tokens": 1, "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "yes"},
                {"role": "user", "content": content}
            ]}))
            .unwrap_err()
        };
        let source =
            message(json!([{"type": "image", "source": {"type": "base64", "data": "AA=="}}]));
        assert!(
            source.starts_with("messages[2].content[0].source |") && source.contains("media_type"),
            "{source}"
        );
        let kind = message(json!([{"type": "video"}]));
        assert!(kind.starts_with("messages[2].content[0].type |"), "{kind}");
        let missing = message(json!([{"type": "image"}]));
        assert!(
            missing.starts_with("messages[2].content[0] |") && missing.contains("source"),
            "{missing}"
        );
        let role = parse(json!({"messages": [{"role": "tool", "content": "x"}]})).unwrap_err();
        assert!(role.starts_with("messages[0].role |"), "{role}");
        let tool = parse(json!({"messages": [], "tools": [{"name": "f"}]})).unwrap_err();
        assert!(tool.contains("input_schema"), "{tool}");
    }
}
