//! `POST /v1/messages/count_tokens`: the request is a Messages request without `max_tokens`
//! (read as [`MessagesRequest`](crate::MessagesRequest)); the answer is the count.

use serde::{Deserialize, Serialize};

/// `{"input_tokens": N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountTokensResponse {
    /// Tokens the request's system prompt, messages and tools take.
    pub input_tokens: u32,
}
