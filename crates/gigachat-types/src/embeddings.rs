//! `POST /embeddings`: vectors with per-item usage and no top-level usage.

use serde::{Deserialize, Serialize};

/// Texts to embed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    /// Embedder model (`Embeddings` by default; it does not follow the chat model).
    pub model: String,
    /// The texts, always a list.
    pub input: Vec<String>,
}

/// The embedder's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsResponse {
    /// Always `list`.
    pub object: String,
    /// The model that answered.
    pub model: String,
    /// One vector per input, with its index.
    pub data: Vec<Embedding>,
}

/// One vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// The vector (1024 floats for `Embeddings`).
    pub embedding: Vec<f32>,
    /// Position of the input it belongs to.
    pub index: usize,
    /// Always `embedding`.
    pub object: String,
    /// Tokens this input cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<EmbeddingUsage>,
}

/// Per-item token usage of the embedder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingUsage {
    /// Tokens of this input.
    pub prompt_tokens: u32,
}
