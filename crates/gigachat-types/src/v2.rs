//! Response bodies of the v2 "primary" chat contract (`/api/v2/chat/completions`), so recorded answers parse; the v2 endpoint comes later.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::chat::FinishReason;

/// A non-streaming v2 answer, and the payload of v2 stream events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatV2Response {
    /// Versioned model.
    pub model: String,
    /// Unix seconds.
    #[serde(alias = "created")]
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
}

/// A v2 message: a role and typed content parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageV2 {
    /// `assistant`, `reasoning`, `tool`, ...
    pub role: String,
    /// Content parts (`text`, `files`, `function_call`, `inline_data`, `tool_execution`).
    #[serde(default)]
    pub content: Vec<Map<String, Value>>,
    /// Tool state id (responses use the singular; requests send `tools_state_id`).
    #[serde(default, alias = "tools_state_id", alias = "functions_state_id")]
    pub tool_state_id: Option<String>,
}

/// v2 usage. As in v1, the recorded `input_tokens` equal `input_tokens_details.prompt_tokens`
/// even with cached tokens, and `total_tokens = input + output`: the cached part is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageV2 {
    /// Prompt tokens not served from the prompt cache.
    pub input_tokens: u32,
    /// Breakdown of the prompt tokens.
    #[serde(default)]
    pub input_tokens_details: Option<InputTokensDetails>,
    /// Generated tokens.
    pub output_tokens: u32,
    /// Sum.
    pub total_tokens: u32,
}

/// Prompt token breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTokensDetails {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Served from the prompt cache.
    pub cached_tokens: u32,
}
