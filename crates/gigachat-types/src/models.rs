//! `GET /models` and `GET /models/{id}`.

use serde::{Deserialize, Serialize};

/// The models available to the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// Always `list`.
    pub object: String,
    /// The models.
    pub data: Vec<Model>,
}

/// One model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Model id as accepted in requests (`GigaChat-2-Max`).
    pub id: String,
    /// Always `model`.
    pub object: String,
    /// `salutedevices`.
    pub owned_by: String,
    /// `chat`, `embedder`, `aicheck` or `filter` (absent on older deployments).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}
