//! `MessagesRequest` → the chat request that serves it, plus a [`MessagesPlan`]: the server tools
//! left out, the stop sequences, and the way back from a chat error's JSON path
//! (`messages[3].content[0]`) to the Messages one (`messages[2].content[4]`).

use anthropic::request::{
    Content, ContentBlock, InputMessage, MessagesRequest, Role, Source, Thinking, ToolChoiceKind,
    ToolDefinition,
};
use gigachat_types::Contract;
use openai::chat::{
    ChatCompletionRequest, ChatMessage, ContentPart, FunctionCall, FunctionDefinition, HostedTool,
    MessageContent, Reasoning, Stop, StreamOptions, Tool, ToolCall, ToolChoice,
};

use crate::TranslateError;
use crate::json_path::JsonPath;
use crate::request::ChatDefaults;

/// What serving a Messages request needs beyond the chat request.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesPlan {
    /// The chat request that serves this one (built into a chat plan by `chat_request`). A
    /// streamed one carries the stop sequences (the chat stream cuts the text and cancels
    /// GigaChat); a whole answer is cut by [`messages_response`](super::messages_response), which
    /// can then tell which sequence it was.
    pub chat: ChatCompletionRequest,
    /// The request's `stop_sequences` (non-empty ones).
    pub stop_sequences: Vec<String>,
    /// Server tool types left out, each once, in request order.
    pub dropped_tools: Vec<String>,
    /// Server tool types served by GigaChat's built-ins (web search) under the v2 contract, each
    /// once: see [`MessagesPlan::for_contract`].
    pub builtin_tools: Vec<String>,
    /// Every server tool type, each once, in request order (what v1 leaves out).
    server_tools: Vec<String>,
    /// Per chat message, where it came from.
    origins: Vec<Origin>,
    /// Per chat tool, the index of the Messages tool it was made from.
    tool_paths: Vec<usize>,
}

/// Where the client wrote what a chat message was made from, for naming errors.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    /// The turn (`messages[3]`) or field (`system`).
    path: JsonPath,
    /// Per chat content part, the block it was made from (`messages[3].content[2]`).
    parts: Vec<JsonPath>,
    /// Per tool call of an assistant message, its `tool_use` block.
    calls: Vec<JsonPath>,
}

impl Origin {
    fn new(path: JsonPath) -> Self {
        Self {
            path,
            parts: Vec::new(),
            calls: Vec::new(),
        }
    }
}

impl MessagesPlan {
    /// The plan for the contract the adapter speaks: under v1 the server tools GigaChat's
    /// built-ins would serve are left out like the others, and forcing one is refused.
    pub fn for_contract(mut self, contract: Contract) -> Result<Self, TranslateError> {
        if contract != Contract::V1 {
            return Ok(self);
        }
        if self.chat.builtin_tool_choice.is_some() {
            crate::contract::require_v2(
                contract,
                "tool_choice",
                crate::contract::BUILTIN_TOOLS_NEED_V2,
            )?;
        }
        self.chat.builtin_tools.clear();
        self.builtin_tools.clear();
        self.dropped_tools = self.server_tools.clone();
        Ok(self)
    }

    /// The Messages JSON path for a JSON path of the chat request made from it (`messages[2]` →
    /// `messages[1]`, `messages[2].content[0].image_url` → `messages[1].content[3]`,
    /// `tools[0].function.parameters` → `tools[1].input_schema`, `stop` → `stop_sequences`).
    pub fn param(&self, chat_param: &str) -> String {
        if let Some(rest) = chat_param.strip_prefix("messages[") {
            return self
                .message_param(rest)
                .unwrap_or_else(|| "messages".to_owned());
        }
        if let Some(rest) = chat_param.strip_prefix("tools[")
            && let Some((index, rest)) = crate::indexed(rest)
            && let Some(original) = self.tool_paths.get(index)
        {
            let rest = rest.strip_prefix(".function").unwrap_or(rest);
            let rest = match rest.strip_prefix(".parameters") {
                Some(schema) => format!(".input_schema{schema}"),
                None => rest.to_owned(),
            };
            return format!("tools[{original}]{rest}");
        }
        match chat_param {
            "max_tokens" | "max_completion_tokens" => "max_tokens".to_owned(),
            "stop" => "stop_sequences".to_owned(),
            "user" => "metadata.user_id".to_owned(),
            "reasoning.max_tokens" => "thinking.budget_tokens".to_owned(),
            other => other.to_owned(),
        }
    }

    /// A chat error renamed with [`Self::param`].
    pub fn error(&self, mut error: TranslateError) -> TranslateError {
        error.param = error.param.map(|param| self.param(&param));
        error
    }

    fn message_param(&self, rest: &str) -> Option<String> {
        let (index, rest) = crate::indexed(rest)?;
        let origin = self.origins.get(index)?;
        if let Some(call) = rest.strip_prefix(".tool_calls[") {
            let (call, _) = crate::indexed(call)?;
            return origin.calls.get(call).map(JsonPath::to_string);
        }
        if let Some(part) = rest.strip_prefix(".content[")
            && let Some((part, _)) = crate::indexed(part)
            && let Some(block) = origin.parts.get(part)
        {
            return Some(block.to_string());
        }
        Some(origin.path.to_string())
    }
}

/// The plan for `POST /v1/messages`: `max_tokens` is required there, as Anthropic requires it.
/// The request's texts move into the chat request (an agent's history is most of its bytes).
pub fn messages_request(request: MessagesRequest) -> Result<MessagesPlan, TranslateError> {
    if request.max_tokens.is_none() {
        return Err(TranslateError::invalid(
            "max_tokens",
            "max_tokens: Field required (the most tokens the answer may have)",
        ));
    }
    build(request)
}

/// The plan for `POST /v1/messages/count_tokens` (no `max_tokens` there).
pub fn count_tokens_request(request: MessagesRequest) -> Result<MessagesPlan, TranslateError> {
    build(request)
}

/// What GigaChat's token counter gets to count the input of `plan` (`count_tokens`): see
/// [`crate::tokens::chat_input_texts`]; errors name the Messages JSON path.
pub fn input_token_texts(
    plan: &MessagesPlan,
    defaults: &ChatDefaults,
) -> Result<gigachat_types::TokensCountRequest, TranslateError> {
    crate::tokens::chat_input_texts(&plan.chat, defaults).map_err(|err| plan.error(err))
}

/// The session id for GigaChat's prompt cache: the client's `X-Session-ID` header, else
/// `metadata.user_id` (as chat's `user`).
pub fn session_id(request: &MessagesRequest, header: Option<&str>) -> Option<String> {
    let chat = ChatCompletionRequest {
        user: end_user(request),
        ..ChatCompletionRequest::default()
    };
    crate::session_id(&chat, header)
}

fn end_user(request: &MessagesRequest) -> Option<String> {
    request
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.user_id.clone())
}

/// The chat call id of a `tool_use` id: ours (`toolu_…`, made from a chat call id by
/// [`tool_use_id`](super::tool_use_id)) become the call id they were made from again, so GigaChat's
/// function state carries over; others are kept.
pub fn call_id(tool_use_id: &str) -> String {
    match tool_use_id.strip_prefix("toolu_") {
        Some(rest) => format!("call_{rest}"),
        None => tool_use_id.to_owned(),
    }
}

fn build(mut request: MessagesRequest) -> Result<MessagesPlan, TranslateError> {
    let tools = Tools::read(request.tools.as_deref().unwrap_or_default());
    let tool_choice = tools.choose(&request)?;
    let mut builder = Builder::default();
    if let Some(system) = &request.system {
        let text = system.text();
        if !text.is_empty() {
            builder.push(
                message("system", MessageContent::Text(text)),
                Origin::new(JsonPath::field("system")),
            );
        }
    }
    for (index, turn) in std::mem::take(&mut request.messages)
        .into_iter()
        .enumerate()
    {
        builder.turn(index, turn);
    }
    let stream = request.stream.unwrap_or(false);
    let stop_sequences: Vec<String> = request
        .stop_sequences
        .take()
        .into_iter()
        .flatten()
        .filter(|sequence| !sequence.is_empty())
        .collect();
    let has_tools = !tools.chat.is_empty();
    let builtin_tool_choice = builtin_choice(&request, &tools);
    let parallel = request
        .tool_choice
        .as_ref()
        .and_then(|choice| choice.disable_parallel_tool_use)
        .map(|disabled| !disabled);
    let chat = ChatCompletionRequest {
        model: request.model.take(),
        messages: builder.messages,
        temperature: request.temperature,
        top_p: request.top_p,
        max_tokens: request.max_tokens,
        stream: Some(stream),
        // The stream's `message_delta` carries the usage.
        stream_options: stream.then_some(StreamOptions {
            include_usage: Some(true),
        }),
        stop: (stream && !stop_sequences.is_empty()).then(|| Stop::Many(stop_sequences.clone())),
        user: end_user(&request),
        tools: has_tools.then_some(tools.chat),
        tool_choice: tool_choice.filter(|_| has_tools),
        parallel_tool_calls: parallel.filter(|_| has_tools),
        reasoning: reasoning(request.thinking.as_ref())?,
        builtin_tools: tools.builtin,
        builtin_tool_choice,
        ..ChatCompletionRequest::default()
    };
    Ok(MessagesPlan {
        chat,
        stop_sequences,
        dropped_tools: tools.dropped,
        builtin_tools: tools.builtin_kinds,
        server_tools: tools.server_kinds,
        origins: builder.origins,
        tool_paths: tools.paths,
    })
}

/// Budgets below this think with effort `low`.
const LOW_THINKING_BUDGET: u32 = 4096;
/// Budgets below this (and not low) think with effort `medium`; larger ones `high`.
const MEDIUM_THINKING_BUDGET: u32 = 16384;

/// `thinking` as chat's `reasoning`: `enabled` → an effort by the size of `budget_tokens` (which
/// is also sent as the budget), `adaptive` (or `enabled` without a budget) → `medium` without a
/// budget, `disabled` → none.
fn reasoning(thinking: Option<&Thinking>) -> Result<Option<Reasoning>, TranslateError> {
    let Some(thinking) = thinking else {
        return Ok(None);
    };
    let effort = match (thinking.kind.as_str(), thinking.budget_tokens) {
        ("disabled", _) => return Ok(None),
        ("adaptive", _) | ("enabled", None) => "medium",
        ("enabled", Some(budget)) if budget < LOW_THINKING_BUDGET => "low",
        ("enabled", Some(budget)) if budget < MEDIUM_THINKING_BUDGET => "medium",
        ("enabled", Some(_)) => "high",
        (other, _) => {
            return Err(TranslateError::invalid(
                "thinking.type",
                format!("unknown thinking type {other:?}; use enabled, disabled or adaptive"),
            ));
        }
    };
    Ok(Some(Reasoning {
        effort: Some(effort.to_owned()),
        max_tokens: thinking
            .budget_tokens
            .filter(|_| thinking.kind == "enabled"),
    }))
}

fn message(role: &str, content: MessageContent) -> ChatMessage {
    ChatMessage {
        role: role.to_owned(),
        content: Some(content),
        name: None,
        tool_calls: None,
        tool_call_id: None,
        function_call: None,
    }
}

/// The request's tools as chat tools.
#[derive(Default)]
struct Tools {
    chat: Vec<Tool>,
    /// Per chat tool, its index among the request's tools.
    paths: Vec<usize>,
    dropped: Vec<String>,
    /// GigaChat built-ins the server tools become (v2), and the server tools' types and names.
    builtin: Vec<HostedTool>,
    builtin_kinds: Vec<String>,
    builtin_names: Vec<String>,
    /// Every server tool type, once, in order.
    server_kinds: Vec<String>,
}

/// Whether a server tool type is Anthropic's web search (`web_search_20250305`, ...).
fn is_web_search(kind: &str) -> bool {
    kind.starts_with("web_search_")
}

/// The built-in a `tool_choice` naming a web-search server tool forces.
fn builtin_choice(request: &MessagesRequest, tools: &Tools) -> Option<HostedTool> {
    let choice = request.tool_choice.as_ref()?;
    let name = choice.name.as_ref()?;
    (choice.kind == ToolChoiceKind::Tool && tools.builtin_names.contains(name))
        .then_some(HostedTool::WebSearch)
}

impl Tools {
    fn read(tools: &[ToolDefinition]) -> Self {
        let mut out = Tools::default();
        for (index, tool) in tools.iter().enumerate() {
            if let ToolDefinition::Server { kind, .. } = tool
                && !out.server_kinds.contains(kind)
            {
                out.server_kinds.push(kind.clone());
            }
            match tool {
                ToolDefinition::Custom(custom) => {
                    out.chat.push(Tool {
                        kind: "function".into(),
                        function: Some(FunctionDefinition {
                            name: custom.name.clone(),
                            description: custom.description.clone(),
                            parameters: Some(custom.input_schema.clone()),
                            strict: None,
                        }),
                    });
                    out.paths.push(index);
                }
                ToolDefinition::Server { kind, name } if is_web_search(kind) => {
                    if !out.builtin.contains(&HostedTool::WebSearch) {
                        out.builtin.push(HostedTool::WebSearch);
                    }
                    if !out.builtin_kinds.contains(kind) {
                        out.builtin_kinds.push(kind.clone());
                    }
                    out.builtin_names
                        .push(name.clone().unwrap_or_else(|| "web_search".to_owned()));
                }
                ToolDefinition::Server { kind, .. } => {
                    if !out.dropped.contains(kind) {
                        out.dropped.push(kind.clone());
                    }
                }
            }
        }
        out
    }

    fn served(&self, name: &str) -> bool {
        self.chat
            .iter()
            .any(|tool| tool.function.as_ref().is_some_and(|f| f.name == name))
    }

    fn left_out(&self) -> String {
        if self.dropped.is_empty() {
            "none".to_owned()
        } else {
            self.dropped.join(", ")
        }
    }

    /// The chat `tool_choice`. Forcing a tool that is not served is refused, naming `tool_choice`.
    fn choose(&self, request: &MessagesRequest) -> Result<Option<ToolChoice>, TranslateError> {
        let Some(choice) = &request.tool_choice else {
            return Ok(None);
        };
        let refuse = |message: String| Err(TranslateError::invalid("tool_choice", message));
        match choice.kind {
            ToolChoiceKind::Auto => Ok(Some(ToolChoice::Auto)),
            ToolChoiceKind::None => Ok(Some(ToolChoice::None)),
            ToolChoiceKind::Any if self.chat.is_empty() => refuse(format!(
                "tool_choice \"any\" needs a tool, but none of the tools can be served (left out: {})",
                self.left_out()
            )),
            ToolChoiceKind::Any => Ok(Some(ToolChoice::Required)),
            ToolChoiceKind::Tool => {
                let Some(name) = &choice.name else {
                    return Err(TranslateError::invalid(
                        "tool_choice.name",
                        "tool_choice of type \"tool\" needs the `name` of the tool",
                    ));
                };
                if self.builtin_names.contains(name) {
                    // GigaChat's web search, forced through the chat request's built-in choice.
                    return Ok(None);
                }
                if !self.served(name) {
                    let server = request.tools.iter().flatten().any(|tool| {
                        matches!(tool, ToolDefinition::Server { name: Some(n), .. } if n == name)
                    });
                    return refuse(if server {
                        format!(
                            "tool_choice forces the server tool {name:?}, which this gateway does \
                             not serve (server tools are left out: {})",
                            self.left_out()
                        )
                    } else {
                        format!("tool_choice forces the tool {name:?}, which is not among `tools`")
                    });
                }
                Ok(Some(ToolChoice::Function(name.clone())))
            }
        }
    }
}

/// The chat messages being built, with where each came from.
#[derive(Default)]
struct Builder {
    messages: Vec<ChatMessage>,
    origins: Vec<Origin>,
}

impl Builder {
    fn push(&mut self, message: ChatMessage, origin: Origin) {
        self.messages.push(message);
        self.origins.push(origin);
    }

    /// One turn: a user turn's `tool_result` blocks become tool messages (first, as chat wants
    /// them right after the assistant's calls), the rest one user message; an assistant turn's
    /// `tool_use` blocks become its tool calls.
    fn turn(&mut self, index: usize, turn: InputMessage) {
        let path = JsonPath::item("messages", index);
        let blocks = match turn.content {
            Content::Text(text) => {
                let role = role_name(turn.role);
                self.push(message(role, MessageContent::Text(text)), Origin::new(path));
                return;
            }
            Content::Blocks(blocks) => blocks,
        };
        let mut parts = Parts::default();
        let mut calls = Vec::new();
        let mut call_paths = Vec::new();
        for (position, block) in blocks.into_iter().enumerate() {
            let block_path = path.at("content", position);
            match block {
                ContentBlock::ToolUse { id, name, input } => {
                    calls.push(ToolCall {
                        id: call_id(&id),
                        kind: "function".into(),
                        function: FunctionCall {
                            name,
                            arguments: input.text().to_owned(),
                        },
                    });
                    call_paths.push(block_path);
                }
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } => {
                    let mut result = Parts::default();
                    match content {
                        Some(Content::Text(text)) => result.text(text, block_path),
                        Some(Content::Blocks(inner)) => {
                            for (inner_position, inner) in inner.into_iter().enumerate() {
                                let inner_path = block_path.at("content", inner_position);
                                match inner {
                                    // GigaChat takes no file in a function result: the tool's
                                    // images go to the user message after the results.
                                    ContentBlock::Image { .. } | ContentBlock::Document { .. } => {
                                        parts.block(inner, inner_path)
                                    }
                                    other => result.block(other, inner_path),
                                }
                            }
                        }
                        None => {}
                    }
                    let mut text = result.joined_text();
                    if is_error {
                        text = format!("The tool call failed: {text}");
                    }
                    let mut tool = message("tool", MessageContent::Text(text));
                    tool.tool_call_id = Some(call_id(&tool_use_id));
                    self.push(tool, Origin::new(block_path));
                }
                other => parts.block(other, block_path),
            }
        }
        if turn.role == Role::Assistant {
            let mut assistant = message("assistant", MessageContent::Text(parts.joined_text()));
            if !calls.is_empty() {
                assistant.tool_calls = Some(calls);
            }
            self.push(
                assistant,
                Origin {
                    path,
                    parts: Vec::new(),
                    calls: call_paths,
                },
            );
        } else if !parts.parts.is_empty() {
            self.push(
                message(role_name(turn.role), MessageContent::Parts(parts.parts)),
                Origin {
                    path,
                    parts: parts.paths,
                    calls: Vec::new(),
                },
            );
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::System => "system",
    }
}

/// Chat content parts being made from blocks, with the block each came from.
#[derive(Default)]
struct Parts {
    parts: Vec<ContentPart>,
    paths: Vec<JsonPath>,
}

impl Parts {
    fn push(&mut self, part: ContentPart, path: JsonPath) {
        self.parts.push(part);
        self.paths.push(path);
    }

    fn text(&mut self, text: String, path: JsonPath) {
        self.push(ContentPart::Text { text }, path);
    }

    /// A block as a chat part: text as text, images and documents through the attachment path,
    /// search results as text; thinking is dropped (GigaChat cannot take it back).
    fn block(&mut self, block: ContentBlock, path: JsonPath) {
        match block {
            ContentBlock::Text { text } => self.text(text, path),
            ContentBlock::Image { source } => {
                let part = match source {
                    Source::Base64 { media_type, data } => ContentPart::ImageUrl {
                        url: format!("data:{media_type};base64,{data}"),
                        detail: None,
                    },
                    Source::Url { url } => ContentPart::ImageUrl { url, detail: None },
                    Source::File { file_id } => file_part(file_id),
                    Source::Text { data } => ContentPart::Text { text: data },
                };
                self.push(part, path);
            }
            ContentBlock::Document { source, title } => {
                let part = match source {
                    Source::Base64 { media_type, data } => ContentPart::File {
                        file_id: None,
                        file_data: Some(data),
                        filename: Some(document_name(title.as_deref(), &media_type)),
                    },
                    Source::Url { url } => ContentPart::FileUrl {
                        url,
                        filename: title,
                    },
                    Source::File { file_id } => file_part(file_id),
                    Source::Text { data } => ContentPart::Text {
                        text: match title {
                            Some(title) => format!("{title}\n\n{data}"),
                            None => data,
                        },
                    },
                };
                self.push(part, path);
            }
            ContentBlock::SearchResult {
                source,
                title,
                content,
            } => {
                let body: Vec<&str> = content.iter().map(|block| block.text.as_str()).collect();
                self.text(
                    format!("Search result: {title} ({source})\n{}", body.join("\n")),
                    path,
                );
            }
            // History a client sends back as it got it; GigaChat never made it and cannot use it.
            ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking => {}
            // Only reached inside a tool result (a turn's are handled by `Builder::turn`).
            ContentBlock::ToolUse { .. } | ContentBlock::ToolResult { .. } => {}
        }
    }

    /// The texts, joined with newlines (chat's rule for text parts, as
    /// [`MessageContent::text`]); a lone text is moved out, not copied.
    fn joined_text(self) -> String {
        let mut texts = self.parts.into_iter().filter_map(|part| match part {
            ContentPart::Text { text } => Some(text),
            _ => None,
        });
        let first = texts.next().unwrap_or_default();
        texts.fold(first, |mut joined, text| {
            joined.push('\n');
            joined.push_str(&text);
            joined
        })
    }
}

fn file_part(file_id: String) -> ContentPart {
    ContentPart::File {
        file_id: Some(file_id),
        file_data: None,
        filename: None,
    }
}

/// A file name for a base64 document: its title when it has an extension, else `document` with
/// the media type's.
fn document_name(title: Option<&str>, media_type: &str) -> String {
    match title {
        Some(title) if title.contains('.') => title.to_owned(),
        _ => match media_type {
            "application/pdf" => "document.pdf".to_owned(),
            "text/plain" => "document.txt".to_owned(),
            _ => "document".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests;
