//! Response bodies of the v1 Assistants API (`/assistants...`), so recorded answers parse; no endpoints use them yet.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A stored assistant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assistant {
    /// Assistant id.
    pub assistant_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Last change, Unix seconds.
    #[serde(default)]
    pub updated_at: Option<i64>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// System instructions.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Model.
    #[serde(default)]
    pub model: Option<String>,
    /// Attached files (`file_ids` in older answers, `files` in newer).
    #[serde(default, alias = "files")]
    pub file_ids: Vec<Value>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// `GET /assistants`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantList {
    /// The assistants.
    pub data: Vec<Assistant>,
}

/// `POST /assistants`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedAssistant {
    /// New id.
    pub assistant_id: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// `POST /assistants/delete` and `POST /assistants/files/delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletedAssistantItem {
    /// The deleted assistant, when an assistant was deleted.
    #[serde(default)]
    pub assistant_id: Option<String>,
    /// The detached file, when a file was deleted.
    #[serde(default)]
    pub file_id: Option<String>,
    /// Whether it is gone.
    pub deleted: bool,
}
