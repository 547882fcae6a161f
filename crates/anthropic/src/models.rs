//! `GET /v1/models` and `GET /v1/models/{id}` in Anthropic's shape.

use serde::{Deserialize, Serialize};

/// A page of models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelList {
    /// The models.
    pub data: Vec<ModelInfo>,
    /// Whether another page follows (never: every model is on one page).
    pub has_more: bool,
    /// The first model's id (`null` when there is none).
    pub first_id: Option<String>,
    /// The last model's id (`null` when there is none).
    pub last_id: Option<String>,
}

/// One model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Always `model`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The id clients send as `model`.
    pub id: String,
    /// A name for people.
    pub display_name: String,
    /// RFC 3339 time of release.
    pub created_at: String,
    /// `active`, `deprecated` or `retired` (newer SDKs require it).
    pub lifecycle: String,
}
