//! Smaller v1 services: AI-text detection (`/ai/check`) and OpenAPI-to-function conversion (`/functions/convert`).

use serde::{Deserialize, Serialize};

use super::chat::FunctionSpec;

/// Text to classify as human- or AI-written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiCheckRequest {
    /// The text.
    pub input: String,
    /// Detector model, e.g. `GigaCheckClassification`.
    pub model: String,
}

/// The detector's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiCheck {
    /// `ai`, `human` or `mixed`.
    pub category: String,
    /// Characters analysed.
    pub characters: u64,
    /// Tokens analysed.
    pub tokens: u64,
    /// Character ranges judged AI-written.
    #[serde(default)]
    pub ai_intervals: Vec<[u64; 2]>,
}

/// Functions converted from an OpenAPI description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvertedFunctions {
    /// Ready-to-use function specifications.
    pub functions: Vec<FunctionSpec>,
}
