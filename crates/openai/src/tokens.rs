//! The adapter's token-counting helper (`POST /v1/tokens/count`), in OpenAI's list style; OpenAI
//! has no such route, GigaChat has `/tokens/count`.

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
