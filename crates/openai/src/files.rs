//! The Files API (`/v1/files`): the file object, the list and the deletion answer, the list's
//! query, and the limits OpenAI puts on an upload's form and a list's query.

use serde::{Deserialize, Serialize};

/// The purposes OpenAI accepts for an upload and reports on a file object. (OpenAI also takes
/// `evals`, for its Evals API; its file object schema has no such value.)
pub const UPLOAD_PURPOSES: [&str; 5] = ["assistants", "batch", "fine-tune", "vision", "user_data"];

/// Most files a list returns (OpenAI's maximum, and its default).
pub const MAX_LIST_LIMIT: usize = 10_000;

/// The range OpenAI allows for an upload's `expires_after[seconds]`: one hour to 30 days.
pub const EXPIRY_SECONDS: std::ops::RangeInclusive<i64> = 3_600..=2_592_000;

/// A file object (`POST /v1/files`, `GET /v1/files/{id}`, the items of a list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileObject {
    /// The file's id.
    pub id: String,
    /// Always `file`.
    pub object: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Upload time, Unix seconds.
    pub created_at: i64,
    /// The file's name.
    pub filename: String,
    /// One of [`UPLOAD_PURPOSES`].
    pub purpose: String,
    /// `uploaded`, `processed` or `error` (deprecated by OpenAI, still required by its schema).
    pub status: String,
    /// When the file expires, Unix seconds; absent when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// `GET /v1/files`: one page of files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileList {
    /// Always `list`.
    pub object: String,
    /// The files of the page.
    pub data: Vec<FileObject>,
    /// The first file's id; empty for an empty page (OpenAI's schema requires a string).
    pub first_id: String,
    /// The last file's id; empty for an empty page.
    pub last_id: String,
    /// Whether more files follow the page.
    pub has_more: bool,
}

/// `DELETE /v1/files/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDeleted {
    /// The file's id.
    pub id: String,
    /// Always `file`.
    pub object: String,
    /// Whether the file is gone.
    pub deleted: bool,
}

/// The query of `GET /v1/files`. Every field is text, so a malformed value gets a precise error
/// when it is checked rather than a generic one from the query parser.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FileListQuery {
    /// Only files with this purpose.
    #[serde(default)]
    pub purpose: Option<String>,
    /// At most this many files (1 to [`MAX_LIST_LIMIT`]).
    #[serde(default)]
    pub limit: Option<String>,
    /// By `created_at`: `asc` or `desc` (the default).
    #[serde(default)]
    pub order: Option<String>,
    /// A cursor: the files after this id in the chosen order.
    #[serde(default)]
    pub after: Option<String>,
}
