//! `POST /tokens/count`: a bare array with one count per input.

use serde::{Deserialize, Serialize};

/// Texts to count tokens in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokensCountRequest {
    /// Model whose tokenizer counts.
    pub model: String,
    /// The texts.
    pub input: Vec<String>,
}

/// The count for one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensCount {
    /// Always `tokens`.
    pub object: String,
    /// Tokens.
    pub tokens: u32,
    /// Characters.
    pub characters: u32,
}
