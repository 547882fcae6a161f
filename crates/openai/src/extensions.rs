//! The adapter's own additions to OpenAI's wire format, which OpenAI's API does not have. They
//! are kept here, in the wire crate, because `translate` reads them; the rest of this crate is
//! OpenAI's API alone.
//!
//! - `POST /v1/tokens/count` (below): GigaChat's `/tokens/count` offered in OpenAI's list style.
//! - Three GigaChat sampling knobs a chat request may carry at its top level:
//!   [`ChatCompletionRequest::repetition_penalty`], [`ChatCompletionRequest::update_interval`] and
//!   [`ChatCompletionRequest::profanity_check`]. They are fields of the request itself, not a
//!   struct of their own joined with `#[serde(flatten)]`: flattening makes serde collect every
//!   field the request does not name (an unknown object or array is built in memory instead of skipped)
//!   and parse the flattened struct from that collection, where an error no longer names its JSON
//!   path (`"repetition_penalty": "high"` is reported at `.`, not at `repetition_penalty`). As
//!   plain fields they cost nothing when absent, and clients send them exactly as before.
//! - `annotations` on a chat stream chunk's delta ([`Delta::annotations`]): the web-search
//!   citations of the whole text, on the choice's last chunk (OpenAI's stream has none; LiteLLM-style
//!   clients read them there).
//!
//! [`Delta::annotations`]: crate::chat::Delta::annotations
//! [`ChatCompletionRequest::repetition_penalty`]: crate::chat::ChatCompletionRequest::repetition_penalty
//! [`ChatCompletionRequest::update_interval`]: crate::chat::ChatCompletionRequest::update_interval
//! [`ChatCompletionRequest::profanity_check`]: crate::chat::ChatCompletionRequest::profanity_check

use serde::{Deserialize, Serialize};

use crate::embeddings::Input;

/// `POST /v1/tokens/count`: `{"model", "input": "text" | ["a", "b"]}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TokensCountRequest {
    /// Model id or alias whose tokenizer counts; the default chat model when absent.
    #[serde(default)]
    pub model: Option<String>,
    /// The text(s) to count.
    pub input: Input,
}

/// The counts, one per input, in input order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensCountList {
    /// Always `list`.
    pub object: String,
    /// The model that counted.
    pub model: String,
    /// One count per input.
    pub data: Vec<TokensCount>,
}

/// The count for one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensCount {
    /// Always `tokens`.
    pub object: String,
    /// Position of the input in the request.
    pub index: u32,
    /// Tokens in it.
    pub tokens: u32,
    /// Characters in it.
    pub characters: u32,
}
