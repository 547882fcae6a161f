//! The Responses API answer: the `response` object, its output items and usage, exact as the
//! spec has them (required-but-nullable fields present as `null`, `usage` left out rather than
//! `null`, `annotations` and `logprobs` always arrays).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    CustomToolCallItem, FunctionCallItem, PromptCacheRetention, ReasoningParam, ResponseTool,
    ResponseToolChoice, Role, ServiceTier, SummaryText, TextParam, Truncation,
};

/// The `response` object (the answer of `POST /v1/responses`, and the payload of the stream's
/// lifecycle events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// `resp_...`.
    pub id: String,
    /// Always `response`.
    pub object: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Where the generation is.
    pub status: ResponseStatus,
    /// Unix seconds; only when `completed`.
    pub completed_at: Option<i64>,
    /// Why it failed (`status: failed`), else `null`.
    pub error: Option<ResponseError>,
    /// Why it stopped early (`status: incomplete`), else `null`.
    pub incomplete_details: Option<IncompleteDetails>,
    /// The request's `instructions`, echoed.
    pub instructions: Option<String>,
    /// The output cap, echoed.
    pub max_output_tokens: Option<u32>,
    /// The built-in tool call cap, echoed.
    pub max_tool_calls: Option<u32>,
    /// The model that served the answer.
    pub model: String,
    /// What the model produced, in order.
    pub output: Vec<OutputItem>,
    /// Echoed (default true).
    pub parallel_tool_calls: bool,
    /// The response this one continues, echoed.
    pub previous_response_id: Option<String>,
    /// Reasoning options, echoed.
    pub reasoning: Option<ReasoningParam>,
    /// Whether the response was kept (not in the spec's schema; the SDKs read it).
    pub store: bool,
    /// Sampling temperature, echoed.
    pub temperature: Option<f64>,
    /// Output format and verbosity, echoed.
    pub text: TextParam,
    /// Tool choice, echoed.
    pub tool_choice: ResponseToolChoice,
    /// Tools, echoed as sent (those left out included).
    pub tools: Vec<ResponseTool>,
    /// Nucleus sampling, echoed.
    pub top_p: Option<f64>,
    /// `auto` or `disabled`, echoed.
    pub truncation: Option<Truncation>,
    /// Always false (no background mode).
    pub background: bool,
    /// Token usage; absent until the response is finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ResponseUsage>,
    /// End-user id, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Safety identifier, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_identifier: Option<String>,
    /// Prompt-cache key, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache_key: Option<String>,
    /// Prompt-cache retention, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache_retention: Option<PromptCacheRetention>,
    /// Service tier, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    /// Up to 16 string pairs, echoed (`{}` when none were sent).
    pub metadata: BTreeMap<String, String>,
}

impl Response {
    /// Whether this Response is `started`, which had not progressed yet (in progress, no
    /// output, no usage), moved on only in what generation changes: `status`, `completed_at`,
    /// `error`, `incomplete_details`, `output` and `usage`. Fields compare by value: maps in
    /// JSON `Value`s (tools, schemas) are equal in any key order.
    pub fn continues(&self, started: &Response) -> bool {
        // Every field named, so that a new one cannot be left out of the comparison.
        let Response {
            id,
            object,
            created_at,
            status,
            completed_at,
            error,
            incomplete_details,
            instructions,
            max_output_tokens,
            max_tool_calls,
            model,
            output,
            parallel_tool_calls,
            previous_response_id,
            reasoning,
            store,
            temperature,
            text,
            tool_choice,
            tools,
            top_p,
            truncation,
            background,
            usage,
            user,
            safety_identifier,
            prompt_cache_key,
            prompt_cache_retention,
            service_tier,
            metadata,
        } = started;
        *status == ResponseStatus::InProgress
            && completed_at.is_none()
            && error.is_none()
            && incomplete_details.is_none()
            && output.is_empty()
            && usage.is_none()
            && *id == self.id
            && *object == self.object
            && *created_at == self.created_at
            && *instructions == self.instructions
            && *max_output_tokens == self.max_output_tokens
            && *max_tool_calls == self.max_tool_calls
            && *model == self.model
            && *parallel_tool_calls == self.parallel_tool_calls
            && *previous_response_id == self.previous_response_id
            && *reasoning == self.reasoning
            && *store == self.store
            && *temperature == self.temperature
            && *text == self.text
            && *tool_choice == self.tool_choice
            && *tools == self.tools
            && *top_p == self.top_p
            && *truncation == self.truncation
            && *background == self.background
            && *user == self.user
            && *safety_identifier == self.safety_identifier
            && *prompt_cache_key == self.prompt_cache_key
            && *prompt_cache_retention == self.prompt_cache_retention
            && *service_tier == self.service_tier
            && *metadata == self.metadata
    }
}

/// `status` of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    /// Finished normally.
    Completed,
    /// Failed (see `error`).
    Failed,
    /// Being generated.
    InProgress,
    /// Cancelled.
    Cancelled,
    /// Waiting to start.
    Queued,
    /// Stopped early (see `incomplete_details`).
    Incomplete,
}

/// `error` of a failed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseError {
    /// One of the spec's codes: `server_error` (transient), `invalid_prompt` (permanent),
    /// `rate_limit_exceeded`, ...
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// `incomplete_details` of an incomplete response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    pub reason: String,
}

/// One output item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    /// An assistant message.
    Message(OutputMessage),
    /// A function call (`id` is `fc_...`; `status` set).
    FunctionCall(FunctionCallItem),
    /// A custom-tool call (`id` is `ctc_...`; the spec gives it no `status`).
    CustomToolCall(CustomToolCallItem),
    /// A web search GigaChat ran (`ws_...`), before the message citing it.
    WebSearchCall(WebSearchCallItem),
    /// A picture GigaChat drew (`ig_...`), its bytes in base64.
    ImageGenerationCall(ImageGenerationCallItem),
    /// Code GigaChat ran (`ci_...`); GigaChat shows neither the code nor its output.
    CodeInterpreterCall(CodeInterpreterCallItem),
    /// The model's reasoning before its answer (`rs_...`).
    Reasoning(ReasoningOutput),
}

impl OutputItem {
    /// The item's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            OutputItem::Message(_) => "message",
            OutputItem::FunctionCall(_) => "function_call",
            OutputItem::CustomToolCall(_) => "custom_tool_call",
            OutputItem::WebSearchCall(_) => "web_search_call",
            OutputItem::ImageGenerationCall(_) => "image_generation_call",
            OutputItem::CodeInterpreterCall(_) => "code_interpreter_call",
            OutputItem::Reasoning(_) => "reasoning",
        }
    }
}

/// `web_search_call` (OAS `WebSearchToolCall`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebSearchCallItem {
    /// `ws_...`.
    pub id: String,
    /// `in_progress`, `searching`, `completed` or `failed`.
    pub status: String,
    /// What was done: a search, with the pages found.
    pub action: WebSearchAction,
}

/// `action` of a web search call (OAS `WebSearchActionSearch`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebSearchAction {
    /// Always `search`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The queries (GigaChat does not say which it ran: left out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<String>,
    /// The pages found.
    #[serde(default)]
    pub sources: Vec<WebSearchSource>,
}

/// A page a web search found: `{type: "url", url}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSearchSource {
    /// Always `url`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The page.
    pub url: String,
}

/// `image_generation_call` (OAS `ImageGenToolCall`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageGenerationCallItem {
    /// `ig_...`.
    pub id: String,
    /// `in_progress`, `generating`, `completed` or `failed`.
    pub status: String,
    /// The picture in base64 (`null` while drawing, or when it could not be downloaded).
    pub result: Option<String>,
}

/// `code_interpreter_call` (OAS `CodeInterpreterToolCall`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeInterpreterCallItem {
    /// `ci_...`.
    pub id: String,
    /// `in_progress`, `interpreting`, `completed`, ...
    pub status: String,
    /// An id for the run's sandbox (GigaChat names none: made from the response id).
    pub container_id: String,
    /// The code run: always `null` (GigaChat does not show it).
    pub code: Option<String>,
    /// What it printed: always `null` (GigaChat does not show it).
    pub outputs: Option<Vec<serde_json::Value>>,
}

/// A `reasoning` output item: GigaChat's reasoning text as the one summary part (GigaChat gives
/// no separate summary and no encrypted state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasoningOutput {
    /// `rs_...`.
    pub id: String,
    /// One `summary_text` part with the whole reasoning (none while it starts streaming).
    pub summary: Vec<SummaryText>,
    /// Where the item is.
    pub status: ItemStatus,
}

/// An assistant message of the output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputMessage {
    /// `msg_...`.
    pub id: String,
    /// Always `assistant`.
    pub role: Role,
    /// Text and refusal parts.
    pub content: Vec<OutputContent>,
    /// Where the message is.
    pub status: ItemStatus,
}

/// `status` of an output item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Being generated.
    InProgress,
    /// Finished.
    Completed,
    /// Cut short.
    Incomplete,
}

impl ItemStatus {
    /// The wire name (`in_progress`, `completed`, `incomplete`).
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::InProgress => "in_progress",
            ItemStatus::Completed => "completed",
            ItemStatus::Incomplete => "incomplete",
        }
    }
}

/// A content part of an output message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputContent {
    /// Text.
    OutputText {
        /// The text.
        text: String,
        /// Citations: flat `url_citation`s `{type, url, title, start_index, end_index}`.
        #[serde(default)]
        annotations: Vec<Value>,
        /// Token log probabilities (always empty: GigaChat gives none).
        #[serde(default)]
        logprobs: Vec<Value>,
    },
    /// A refusal.
    Refusal {
        /// The refusal text.
        refusal: String,
    },
}

/// Token usage of a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseUsage {
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Prompt breakdown.
    pub input_tokens_details: InputTokensDetails,
    /// Generated tokens.
    pub output_tokens: u32,
    /// Output breakdown.
    pub output_tokens_details: OutputTokensDetails,
    /// Their sum.
    pub total_tokens: u32,
}

/// `input_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTokensDetails {
    /// Prompt tokens served from cache.
    pub cached_tokens: u32,
    /// Prompt tokens written to the cache (GigaChat does not report them: 0).
    pub cache_write_tokens: u32,
}

/// `output_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    /// Tokens spent on reasoning.
    pub reasoning_tokens: u32,
}

/// The answer of `POST /v1/responses/input_tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTokensCount {
    /// Always `response.input_tokens`.
    pub object: String,
    /// Tokens the input would take.
    pub input_tokens: u32,
}
