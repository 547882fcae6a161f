//! `CreateResponse` → the chat request that serves it, plus a [`ResponsesPlan`]: custom tools,
//! the tools left out, the response as it starts (echoed settings), and the way back from a chat
//! error's JSON path (`messages[3].content[0]`) to the Responses one (`input[5].content[0]`).

use std::collections::{HashMap, HashSet};

use gigachat_types::Contract;
use openai::RawJson;
use openai::chat::{
    ChatCompletionRequest, ChatMessage, ContentPart, FunctionCall, FunctionDefinition, HostedTool,
    JsonSchemaFormat, MessageContent, Reasoning, ResponseFormat, StreamOptions, Tool, ToolCall,
    ToolChoice,
};
use openai::responses::response::{Response, ResponseStatus};
use openai::responses::{
    CreateResponse, CustomTool, CustomToolFormat, FunctionTool, Input, InputContent, InputItem,
    ItemContent, MessageItem, ReasoningParam, ResponseTool, ResponseToolChoice, Role, TextFormat,
    TextParam, ToolChoiceMode, ToolOutput, Truncation,
};
use serde_json::{Value, json};

use crate::TranslateError;
use crate::json_path::JsonPath;
use crate::request::ChatDefaults;
use crate::response::ResponseIds;

/// Tool types GigaChat cannot serve through this API: left out of the request (a log line and the
/// `x-gigachat-adapter-dropped-tools` header name them), never refused, since clients such as Codex
/// always send some. A type not listed here and not `function`/`custom` is left out too, and so
/// are the [`BUILTIN_TOOL_TYPES`] under the v1 contract.
pub const LEFT_OUT_TOOL_TYPES: [&str; 12] = [
    "tool_search",
    "namespace",
    "file_search",
    "computer",
    "computer_use",
    "computer_use_preview",
    "mcp",
    "local_shell",
    "shell",
    "apply_patch",
    "programmatic_tool_calling",
    "additional_tools",
];

/// Hosted tool types served by GigaChat's built-in tools under the v2 contract
/// (`GIGACHAT_API_VERSION=2`), and the built-in each becomes.
pub const BUILTIN_TOOL_TYPES: [(&str, HostedTool); 6] = [
    ("web_search", HostedTool::WebSearch),
    ("web_search_2025_08_26", HostedTool::WebSearch),
    ("web_search_preview", HostedTool::WebSearch),
    ("web_search_preview_2025_03_11", HostedTool::WebSearch),
    ("image_generation", HostedTool::ImageGeneration),
    ("code_interpreter", HostedTool::CodeInterpreter),
];

/// The built-in a hosted tool type becomes under the v2 contract, if it is one.
fn builtin_of(kind: &str, contract: Contract) -> Option<HostedTool> {
    if contract == Contract::V1 {
        return None;
    }
    BUILTIN_TOOL_TYPES
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, tool)| *tool)
}

/// Where the client wrote what a chat message was made from, for naming errors.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    /// The item (`input[3]`), or the field (`instructions`, `input`, `previous_response_id`).
    path: JsonPath,
    /// Whether the chat message's parts are the item's `content` parts, one for one.
    parts: bool,
    /// The paths of the items behind an assistant message's tool calls, in order.
    calls: Vec<JsonPath>,
}

/// What serving a Responses request needs beyond the chat request.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesPlan {
    /// The chat request that serves this one (built into a chat plan by `chat_request`).
    pub chat: ChatCompletionRequest,
    /// What shaping the answer needs (all a stream's converter keeps).
    pub answer: AnswerPlan,
    /// Tool types left out, each once, in request order.
    pub dropped_tools: Vec<String>,
    /// Input item types left out (history of hosted tools), each once, in request order.
    pub dropped_items: Vec<String>,
    /// Per chat message, where it came from.
    origins: Vec<Origin>,
    /// Per chat tool, the index of the Responses tool it was made from.
    tool_paths: Vec<usize>,
}

/// What shaping the answer to a Responses request needs of its plan: not the chat request (an
/// agent's whole history), so a stream's converter holds this alone.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerPlan {
    /// The response as it starts: the echoed settings, `in_progress`, no output, no usage.
    pub template: Response,
    /// Names of the `custom` tools: their calls are answered as `custom_tool_call` items.
    pub custom_tools: HashSet<String>,
}

impl ResponsesPlan {
    /// The Responses JSON path for a JSON path of the chat request made from it (`messages[2]`
    /// → `input[4]`, `tools[0].function.parameters` → `tools[1].parameters`,
    /// `response_format.json_schema.schema` → `text.format.schema`, `max_tokens` →
    /// `max_output_tokens`).
    pub fn param(&self, chat_param: &str) -> String {
        if let Some(rest) = chat_param.strip_prefix("messages[") {
            return self
                .message_param(rest)
                .unwrap_or_else(|| "input".to_owned());
        }
        if chat_param == "messages" {
            return "input".to_owned();
        }
        if let Some(rest) = chat_param.strip_prefix("tools[")
            && let Some((index, rest)) = crate::indexed(rest)
            && let Some(original) = self.tool_paths.get(index)
        {
            let rest = rest.strip_prefix(".function").unwrap_or(rest);
            return format!("tools[{original}]{rest}");
        }
        if let Some(rest) = chat_param.strip_prefix("response_format") {
            let rest = rest.strip_prefix(".json_schema").unwrap_or(rest);
            return format!("text.format{rest}");
        }
        match chat_param {
            "max_tokens" | "max_completion_tokens" => "max_output_tokens".to_owned(),
            "reasoning_effort" => "reasoning.effort".to_owned(),
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
        if origin.parts && rest.starts_with(".content") {
            return Some(origin.path.then(rest));
        }
        Some(origin.path.to_string())
    }
}

/// What GigaChat's token counter gets to count the input of `plan` (`POST /v1/responses/input_tokens`):
/// see [`crate::tokens::chat_input_texts`].
pub fn input_token_texts(
    plan: &ResponsesPlan,
    defaults: &ChatDefaults,
) -> Result<gigachat_types::TokensCountRequest, TranslateError> {
    crate::tokens::chat_input_texts(&plan.chat, defaults).map_err(|err| plan.error(err))
}

/// The arguments a custom tool's function is called with: its free-form input as `input`.
pub fn custom_tool_arguments(input: &str) -> String {
    json!({ "input": input }).to_string()
}

/// The session id for GigaChat's prompt cache, as chat has it: the client's `X-Session-ID`
/// header, else `prompt_cache_key` (Codex sends its thread id), else `user`, else
/// `safety_identifier`.
pub fn session_id(request: &CreateResponse, header: Option<&str>) -> Option<String> {
    let chat = ChatCompletionRequest {
        user: end_user(request),
        prompt_cache_key: request.prompt_cache_key.clone(),
        ..ChatCompletionRequest::default()
    };
    crate::session_id(&chat, header)
}

fn end_user(request: &CreateResponse) -> Option<String> {
    request
        .user
        .clone()
        .or_else(|| request.safety_identifier.clone())
}

/// Builds the plan. `history` is the input and output of the stored response this one continues
/// (`previous_response_id`), already loaded as input items (empty when there is none): it comes
/// first, after `instructions` (which are never carried over). `item_reference`s resolve to items
/// of `history` or earlier in `input` with that id. Errors name the Responses JSON path.
pub fn responses_request(
    request: &CreateResponse,
    history: &[InputItem],
    defaults: &ChatDefaults,
    ids: &ResponseIds,
) -> Result<ResponsesPlan, TranslateError> {
    refuse_unserved(request)?;
    let mut tools = Tools::read(
        request.tools.as_deref().unwrap_or_default(),
        defaults.contract,
    );
    let tool_choice = tools.choose(request.tool_choice.as_ref())?;
    let mut builder = Builder::default();
    if let Some(instructions) = request.instructions.as_deref().filter(|t| !t.is_empty()) {
        builder.push(
            message("system", MessageContent::Text(instructions.to_owned())),
            text_origin(JsonPath::field("instructions")),
        );
    }
    let mut items: Vec<(JsonPath, &InputItem)> = history
        .iter()
        .map(|item| (JsonPath::field("previous_response_id"), item))
        .collect();
    if let Some(Input::Items(input)) = &request.input {
        items.extend(
            input
                .iter()
                .enumerate()
                .map(|(index, item)| (JsonPath::item("input", index), item)),
        );
    }
    builder.items(&resolve_references(&items)?)?;
    if let Some(Input::Text(text)) = &request.input {
        builder.push(
            message("user", MessageContent::Text(text.clone())),
            text_origin(JsonPath::field("input")),
        );
    }
    let Builder {
        messages,
        origins,
        dropped_items,
    } = builder;
    let stream = request.stream.unwrap_or(false);
    let has_tools = !tools.chat.is_empty();
    let chat = ChatCompletionRequest {
        model: request.model.clone(),
        messages,
        temperature: request.temperature,
        top_p: request.top_p,
        max_tokens: request.max_output_tokens,
        stream: Some(stream),
        // The stream ends with `response.completed`, which carries the usage.
        stream_options: stream.then_some(StreamOptions {
            include_usage: Some(true),
        }),
        user: end_user(request),
        prompt_cache_key: request.prompt_cache_key.clone(),
        reasoning: reasoning(request.reasoning.as_ref()),
        tools: has_tools.then_some(tools.chat),
        tool_choice: tool_choice.filter(|_| has_tools),
        builtin_tools: tools.builtin,
        builtin_tool_choice: tools.forced_builtin,
        parallel_tool_calls: request.parallel_tool_calls,
        response_format: request
            .text
            .as_ref()
            .and_then(|text| text.format.as_ref())
            .map(response_format),
        ..ChatCompletionRequest::default()
    };
    Ok(ResponsesPlan {
        chat,
        answer: AnswerPlan {
            template: template(request, defaults, ids),
            custom_tools: tools.custom,
        },
        dropped_tools: tools.dropped,
        dropped_items,
        origins,
        tool_paths: tools.paths,
    })
}

/// Options that have no meaning here are refused by name rather than ignored.
fn refuse_unserved(request: &CreateResponse) -> Result<(), TranslateError> {
    if request.background == Some(true) {
        return Err(TranslateError::invalid(
            "background",
            "background mode is not served: send the request without `background` and read the \
             answer from the response (or its stream)",
        ));
    }
    if request.conversation.as_ref().is_some_and(|c| !c.is_null()) {
        return Err(TranslateError::invalid(
            "conversation",
            "conversations are not served: send the history as input items, or continue a stored \
             response with `previous_response_id`",
        ));
    }
    if request.prompt.as_ref().is_some_and(|p| !p.is_null()) {
        return Err(TranslateError::invalid(
            "prompt",
            "stored prompt templates are not served: send `instructions` and `input` instead",
        ));
    }
    Ok(())
}

/// `reasoning.effort` as chat takes it (`max` is chat's highest level).
fn reasoning(reasoning: Option<&ReasoningParam>) -> Option<Reasoning> {
    let effort = reasoning?.effort.as_deref()?;
    Some(Reasoning {
        effort: Some(if effort == "max" { "xhigh" } else { effort }.to_owned()),
        max_tokens: None,
    })
}

fn response_format(format: &TextFormat) -> ResponseFormat {
    match format {
        TextFormat::Text => ResponseFormat::Text,
        TextFormat::JsonObject => ResponseFormat::JsonObject,
        TextFormat::JsonSchema {
            name,
            schema,
            description,
            strict,
        } => ResponseFormat::JsonSchema {
            json_schema: JsonSchemaFormat {
                name: Some(name.clone()),
                description: description.clone(),
                schema: Some(schema.clone()),
                strict: *strict,
            },
        },
    }
}

/// The response as it starts, echoing the request's settings (the model as it will be asked for).
fn template(request: &CreateResponse, defaults: &ChatDefaults, ids: &ResponseIds) -> Response {
    let text = request.text.clone().unwrap_or_default();
    Response {
        id: ids.id.clone(),
        object: "response".into(),
        created_at: ids.created,
        status: ResponseStatus::InProgress,
        completed_at: None,
        error: None,
        incomplete_details: None,
        instructions: request.instructions.clone(),
        max_output_tokens: request.max_output_tokens,
        max_tool_calls: request.max_tool_calls,
        model: defaults.resolve_model(request.model.as_deref()),
        output: Vec::new(),
        parallel_tool_calls: request.parallel_tool_calls.unwrap_or(true),
        previous_response_id: request.previous_response_id.clone(),
        reasoning: request.reasoning.clone(),
        store: request.store.unwrap_or(true),
        temperature: request.temperature,
        text: TextParam {
            format: Some(text.format.unwrap_or(TextFormat::Text)),
            verbosity: text.verbosity,
        },
        tool_choice: request
            .tool_choice
            .clone()
            .unwrap_or(ResponseToolChoice::Mode(ToolChoiceMode::Auto)),
        tools: request.tools.clone().unwrap_or_default(),
        top_p: request.top_p,
        truncation: Some(request.truncation.unwrap_or(Truncation::Disabled)),
        background: false,
        usage: None,
        user: request.user.clone(),
        safety_identifier: request.safety_identifier.clone(),
        prompt_cache_key: request.prompt_cache_key.clone(),
        prompt_cache_retention: request.prompt_cache_retention,
        service_tier: request.service_tier,
        metadata: request.metadata.clone().unwrap_or_default(),
    }
}

/// The request's tools as chat tools.
#[derive(Default)]
struct Tools {
    chat: Vec<Tool>,
    /// Per chat tool, its index among the request's tools.
    paths: Vec<usize>,
    custom: HashSet<String>,
    dropped: Vec<String>,
    /// GigaChat built-ins the hosted tools became (v2).
    builtin: Vec<HostedTool>,
    /// The built-in `tool_choice` forces.
    forced_builtin: Option<HostedTool>,
    contract: Contract,
}

impl Tools {
    fn read(tools: &[ResponseTool], contract: Contract) -> Self {
        let mut out = Tools {
            contract,
            ..Tools::default()
        };
        for (index, tool) in tools.iter().enumerate() {
            let function = match tool {
                ResponseTool::Function(function) => function_definition(function),
                ResponseTool::Custom(custom) => {
                    out.custom.insert(custom.name.clone());
                    custom_function(custom)
                }
                ResponseTool::Other(_) => {
                    if let Some(builtin) = builtin_of(tool.kind(), contract) {
                        if !out.builtin.contains(&builtin) {
                            out.builtin.push(builtin);
                        }
                        continue;
                    }
                    let kind = tool.kind().to_owned();
                    if !out.dropped.contains(&kind) {
                        out.dropped.push(kind);
                    }
                    continue;
                }
            };
            out.chat.push(Tool {
                kind: "function".into(),
                function: Some(function),
            });
            out.paths.push(index);
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

    /// The chat `tool_choice`; `allowed_tools` narrows the chat tools to those it lists. Forcing a
    /// tool that is not served is refused, naming `tool_choice`.
    fn choose(
        &mut self,
        choice: Option<&ResponseToolChoice>,
    ) -> Result<Option<ToolChoice>, TranslateError> {
        let Some(choice) = choice else {
            return Ok(None);
        };
        let refuse = |message: String| Err(TranslateError::invalid("tool_choice", message));
        match choice {
            ResponseToolChoice::Mode(ToolChoiceMode::None) => Ok(Some(ToolChoice::None)),
            ResponseToolChoice::Mode(ToolChoiceMode::Auto) => Ok(Some(ToolChoice::Auto)),
            ResponseToolChoice::Mode(ToolChoiceMode::Required) => {
                if let ([], [builtin]) = (self.chat.as_slice(), self.builtin.as_slice()) {
                    // One built-in and nothing else: requiring a tool is forcing it.
                    self.forced_builtin = Some(*builtin);
                    return Ok(None);
                }
                if self.chat.is_empty() && !self.builtin.is_empty() {
                    return refuse(
                        "tool_choice \"required\" with several built-in tools and no function \
                         cannot be served: GigaChat forces one built-in at a time; name it \
                         (`{\"type\": \"web_search\"}`)"
                            .to_owned(),
                    );
                }
                if self.chat.is_empty() {
                    return refuse(format!(
                        "tool_choice \"required\" needs a tool, but none of the tools can be \
                         served (left out: {})",
                        self.left_out()
                    ));
                }
                Ok(Some(ToolChoice::Required))
            }
            ResponseToolChoice::Function(name) | ResponseToolChoice::Custom(name) => {
                if !self.served(name) {
                    return refuse(format!(
                        "tool_choice forces the tool {name:?}, which is not among the tools this \
                         gateway serves (function and custom tools; left out: {})",
                        self.left_out()
                    ));
                }
                Ok(Some(ToolChoice::Function(name.clone())))
            }
            ResponseToolChoice::AllowedTools { mode, tools } => {
                let allowed: HashSet<&str> = tools
                    .iter()
                    .filter(|tool| {
                        matches!(
                            tool.get("type").and_then(Value::as_str),
                            Some("function" | "custom")
                        )
                    })
                    .filter_map(|tool| tool.get("name").and_then(Value::as_str))
                    .collect();
                let (chat, paths): (Vec<_>, Vec<_>) = self
                    .chat
                    .drain(..)
                    .zip(self.paths.drain(..))
                    .filter(|(tool, _)| {
                        tool.function
                            .as_ref()
                            .is_some_and(|f| allowed.contains(f.name.as_str()))
                    })
                    .unzip();
                self.chat = chat;
                self.paths = paths;
                if *mode == ToolChoiceMode::Required && self.chat.is_empty() {
                    return refuse(
                        "tool_choice allowed_tools with mode \"required\" lists no tool this \
                         gateway serves (function and custom tools among `tools`)"
                            .to_owned(),
                    );
                }
                Ok(Some(if *mode == ToolChoiceMode::Required {
                    ToolChoice::Required
                } else {
                    ToolChoice::Auto
                }))
            }
            ResponseToolChoice::Hosted(value)
                if let Some(builtin) = value
                    .get("type")
                    .and_then(Value::as_str)
                    .and_then(|kind| builtin_of(kind, self.contract)) =>
            {
                self.forced_builtin = Some(builtin);
                Ok(None)
            }
            ResponseToolChoice::Hosted(value) => refuse(format!(
                "tool_choice forces the built-in tool type {:?}, which this gateway does not serve",
                value
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            )),
        }
    }
}

fn function_definition(function: &FunctionTool) -> FunctionDefinition {
    FunctionDefinition {
        name: function.name.clone(),
        description: function.description.clone(),
        parameters: function.parameters.clone(),
        strict: function.strict,
    }
}

/// A custom tool as a function with one required string argument, `input`; its grammar, if any,
/// goes into the description for the model to follow.
fn custom_function(tool: &CustomTool) -> FunctionDefinition {
    let mut description = tool.description.clone().unwrap_or_default();
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    description.push_str(
        "This tool takes free-form text, not JSON: put the whole text, exactly as the tool \
         expects it, in the string argument `input`.",
    );
    if let Some(CustomToolFormat::Grammar { syntax, definition }) = &tool.format {
        description.push_str(&format!(
            "\nThe text must match this {syntax} grammar:\n{definition}"
        ));
    }
    FunctionDefinition {
        name: tool.name.clone(),
        description: Some(description),
        parameters: Some(RawJson::from(json!({
            "type": "object",
            "properties": {
                "input": {"type": "string", "description": "The tool's free-form text input."}
            },
            "required": ["input"]
        }))),
        strict: None,
    }
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

fn text_origin(path: JsonPath) -> Origin {
    Origin {
        path,
        parts: false,
        calls: Vec::new(),
    }
}

/// The id an item can be referenced by.
fn item_id(item: &InputItem) -> Option<&str> {
    match item {
        InputItem::Message(message) => message.id.as_deref(),
        InputItem::FunctionCall(call) => call.id.as_deref(),
        InputItem::CustomToolCall(call) => call.id.as_deref(),
        InputItem::FunctionCallOutput(output) | InputItem::CustomToolCallOutput(output) => {
            output.id.as_deref()
        }
        InputItem::Reasoning(reasoning) => reasoning.id.as_deref(),
        InputItem::ItemReference { .. } | InputItem::Other { .. } => None,
    }
}

/// Items with each `item_reference` replaced by the earlier item it names.
fn resolve_references<'a>(
    items: &[(JsonPath, &'a InputItem)],
) -> Result<Vec<(JsonPath, &'a InputItem)>, TranslateError> {
    let mut by_id: HashMap<&str, &InputItem> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for (path, item) in items {
        let item = match item {
            InputItem::ItemReference { id } => {
                by_id.get(id.as_str()).copied().ok_or_else(|| {
                    TranslateError::invalid(
                        path.then(".id"),
                        format!(
                            "no item with id {id:?} is known: a reference must name an item of the \
                         response continued with `previous_response_id`, or an earlier input item"
                        ),
                    )
                })?
            }
            item => *item,
        };
        if let Some(id) = item_id(item) {
            by_id.insert(id, item);
        }
        out.push((*path, item));
    }
    Ok(out)
}

/// Chat messages made from input items, with where each came from.
#[derive(Default)]
struct Builder {
    messages: Vec<ChatMessage>,
    origins: Vec<Origin>,
    dropped_items: Vec<String>,
}

impl Builder {
    fn push(&mut self, message: ChatMessage, origin: Origin) {
        self.messages.push(message);
        self.origins.push(origin);
    }

    fn items(&mut self, items: &[(JsonPath, &InputItem)]) -> Result<(), TranslateError> {
        let mut answered: HashSet<usize> = HashSet::new();
        let mut index = 0;
        while index < items.len() {
            let (path, item) = &items[index];
            match item {
                InputItem::Message(message) => self.message(message, *path)?,
                InputItem::FunctionCall(_) | InputItem::CustomToolCall(_) => {
                    index = self.tool_turn(items, index, &mut answered)?;
                    continue;
                }
                InputItem::FunctionCallOutput(output) | InputItem::CustomToolCallOutput(output) => {
                    if !answered.contains(&index) {
                        return Err(TranslateError::invalid(
                            path.then(".call_id"),
                            format!(
                                "no function_call or custom_tool_call with call_id {:?} comes \
                                 before this output",
                                output.call_id
                            ),
                        ));
                    }
                }
                // Another model's reasoning: nothing GigaChat can use.
                InputItem::Reasoning(_) | InputItem::ItemReference { .. } => {}
                InputItem::Other { kind } => {
                    if !self.dropped_items.contains(kind) {
                        self.dropped_items.push(kind.clone());
                    }
                }
            }
            index += 1;
        }
        Ok(())
    }

    fn message(&mut self, item: &MessageItem, path: JsonPath) -> Result<(), TranslateError> {
        let role = match item.role {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
            Role::Developer => "developer",
        };
        let content = match &item.content {
            ItemContent::Text(text) => MessageContent::Text(text.clone()),
            ItemContent::Parts(parts) => MessageContent::Parts(
                parts
                    .iter()
                    .enumerate()
                    .map(|(index, part)| chat_part(part, path.at("content", index)))
                    .collect::<Result<_, _>>()?,
            ),
        };
        self.push(
            message(role, content),
            Origin {
                path,
                parts: true,
                calls: Vec::new(),
            },
        );
        Ok(())
    }

    /// A run of call items (reasoning items between them skipped) → one assistant message with
    /// their tool calls (joined to the assistant text just before, if any), then each call's
    /// output as a tool message, in call order, wherever the output came later in the input.
    /// Files in the outputs follow in a user message. Returns the index after the run.
    fn tool_turn(
        &mut self,
        items: &[(JsonPath, &InputItem)],
        start: usize,
        answered: &mut HashSet<usize>,
    ) -> Result<usize, TranslateError> {
        let mut calls: Vec<(JsonPath, &str, ToolCall)> = Vec::new();
        let mut end = start;
        while let Some((path, item)) = items.get(end) {
            let (call_id, name, arguments) = match item {
                InputItem::FunctionCall(call) => {
                    check_arguments(&call.arguments, *path)?;
                    (&call.call_id, &call.name, call.arguments.clone())
                }
                InputItem::CustomToolCall(call) => (
                    &call.call_id,
                    &call.name,
                    custom_tool_arguments(&call.input),
                ),
                InputItem::Reasoning(_) => {
                    end += 1;
                    continue;
                }
                _ => break,
            };
            if calls.iter().any(|(_, id, _)| *id == call_id.as_str()) {
                return Err(TranslateError::invalid(
                    path.then(".call_id"),
                    format!("call_id {call_id:?} is used by two calls in a row"),
                ));
            }
            calls.push((
                *path,
                call_id,
                ToolCall {
                    id: call_id.clone(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: name.clone(),
                        arguments,
                    },
                },
            ));
            end += 1;
        }
        let mut results = Vec::with_capacity(calls.len());
        for (path, call_id, _) in &calls {
            let found = items.iter().enumerate().skip(end).find(|(index, (_, item))| {
                !answered.contains(index)
                    && matches!(item,
                        InputItem::FunctionCallOutput(output) | InputItem::CustomToolCallOutput(output)
                            if output.call_id == *call_id)
            });
            let Some((
                index,
                (
                    output_path,
                    InputItem::FunctionCallOutput(output) | InputItem::CustomToolCallOutput(output),
                ),
            )) = found
            else {
                return Err(TranslateError::invalid(
                    *path,
                    format!(
                        "the call {call_id:?} has no output: add a function_call_output (or \
                         custom_tool_call_output) item with this call_id after it"
                    ),
                ));
            };
            answered.insert(index);
            results.push((*output_path, &output.call_id, &output.output));
        }
        let (paths, tool_calls): (Vec<JsonPath>, Vec<ToolCall>) = calls
            .into_iter()
            .map(|(path, _, call)| (path, call))
            .unzip();
        self.assistant_calls(tool_calls, paths);
        let mut files: Vec<ContentPart> = Vec::new();
        let mut file_origin = None;
        for (path, call_id, output) in results {
            let text = match output {
                ToolOutput::Text(text) => text.clone(),
                ToolOutput::Parts(parts) => {
                    let mut texts = Vec::with_capacity(parts.len());
                    for (index, part) in parts.iter().enumerate() {
                        match part.text() {
                            Some(text) => texts.push(text.to_owned()),
                            None => {
                                files.push(chat_part(part, path.at("output", index))?);
                                file_origin.get_or_insert(path);
                                texts.push(FILE_IN_NEXT_MESSAGE.to_owned());
                            }
                        }
                    }
                    texts.join("\n")
                }
            };
            let mut result = message("tool", MessageContent::Text(text));
            result.tool_call_id = Some(call_id.clone());
            self.push(result, text_origin(path));
        }
        if let Some(path) = file_origin {
            files.insert(
                0,
                ContentPart::Text {
                    text: FILES_FROM_TOOLS.to_owned(),
                },
            );
            self.push(
                message("user", MessageContent::Parts(files)),
                text_origin(path),
            );
        }
        Ok(end)
    }

    /// Tool calls as an assistant message, or added to the assistant message just before (its
    /// text, as a model answering with text and calls produces it).
    fn assistant_calls(&mut self, calls: Vec<ToolCall>, paths: Vec<JsonPath>) {
        if let (Some(last), Some(origin)) = (self.messages.last_mut(), self.origins.last_mut())
            && last.role == "assistant"
            && last.tool_calls.is_none()
        {
            last.tool_calls = Some(calls);
            origin.calls = paths;
            return;
        }
        let mut turn = message("assistant", MessageContent::Text(String::new()));
        turn.content = None;
        turn.tool_calls = Some(calls);
        let path = paths.first().copied().unwrap_or(JsonPath::field("input"));
        self.push(
            turn,
            Origin {
                path,
                parts: false,
                calls: paths,
            },
        );
    }
}

/// What a tool message says in place of a file its output carried.
const FILE_IN_NEXT_MESSAGE: &str = "[file attached in the next message]";
/// The text before the files of tool outputs.
const FILES_FROM_TOOLS: &str = "Files returned by the tool calls above:";

/// History arguments must be what the model could have produced: a JSON object in a string
/// (checked, not built into a tree: the chat path reads them again).
fn check_arguments(arguments: &str, path: JsonPath) -> Result<(), TranslateError> {
    if arguments.trim().is_empty()
        || (arguments
            .trim_start_matches(crate::tools::JSON_WHITESPACE)
            .starts_with('{')
            && serde_json::from_str::<serde::de::IgnoredAny>(arguments).is_ok())
    {
        return Ok(());
    }
    Err(TranslateError::invalid(
        path.then(".arguments"),
        "function call arguments must be a JSON object encoded as a string",
    ))
}

/// A Responses content part as the chat part the chat path already understands.
fn chat_part(part: &InputContent, path: JsonPath) -> Result<ContentPart, TranslateError> {
    Ok(match part {
        InputContent::InputText { text }
        | InputContent::OutputText { text, .. }
        | InputContent::ReasoningText { text } => ContentPart::Text { text: text.clone() },
        InputContent::Refusal { refusal } => ContentPart::Refusal {
            refusal: refusal.clone(),
        },
        InputContent::InputImage {
            image_url: Some(url),
            detail,
            ..
        } => ContentPart::ImageUrl {
            url: url.clone(),
            detail: Some(detail.clone()),
        },
        InputContent::InputImage {
            file_id: Some(file_id),
            ..
        } => ContentPart::File {
            file_id: Some(file_id.clone()),
            file_data: None,
            filename: None,
        },
        InputContent::InputImage { .. } => {
            return Err(TranslateError::invalid(
                path,
                "an input_image part needs image_url or file_id",
            ));
        }
        InputContent::InputFile {
            file_id,
            file_data,
            file_url,
            filename,
        } => match (file_id, file_data, file_url) {
            (Some(_), _, _) | (None, Some(_), _) => ContentPart::File {
                file_id: file_id.clone(),
                file_data: file_data.clone().filter(|_| file_id.is_none()),
                filename: filename.clone(),
            },
            (None, None, Some(url)) => ContentPart::FileUrl {
                url: url.clone(),
                filename: filename.clone(),
            },
            (None, None, None) => {
                return Err(TranslateError::invalid(
                    path,
                    "an input_file part needs file_id, file_data or file_url",
                ));
            }
        },
    })
}

#[cfg(test)]
mod tests;
