//! Files API: upload, list, inspect and delete files that messages reference by id.

use serde::{Deserialize, Serialize};

/// A stored file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileObject {
    /// File id to put in `attachments`.
    pub id: String,
    /// Always `file`.
    pub object: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Upload time, Unix seconds.
    pub created_at: i64,
    /// The name given at upload.
    pub filename: String,
    /// `general` or `assistant`.
    pub purpose: String,
    /// `private` or `public`, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_policy: Option<String>,
}

/// What an upload is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilePurpose {
    /// Files attached to chat messages (the default).
    #[default]
    General,
    /// Files for the Assistants API.
    Assistant,
}

impl FilePurpose {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            FilePurpose::General => "general",
            FilePurpose::Assistant => "assistant",
        }
    }
}

/// `GET /files`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileList {
    /// The caller's files.
    pub data: Vec<FileObject>,
}

/// `POST /files/{id}/delete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletedFile {
    /// The deleted file's id.
    pub id: String,
    /// Always `file`.
    pub object: String,
    /// Whether the file is gone.
    pub deleted: bool,
}
