//! Response bodies of the v1 Threads API (`/threads...`), so recorded answers parse; no endpoints use them yet.

use serde::{Deserialize, Serialize};

use super::chat::{FinishReason, Message, Usage};

/// A server-side conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    /// Thread id.
    pub id: String,
    /// Model.
    pub model: String,
    /// The assistant it belongs to.
    #[serde(default)]
    pub assistant_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// `in_progress`, `ready`, `failed` or `deleted`.
    pub status: String,
    /// Whether a run holds the thread.
    pub run_lock: bool,
}

/// `GET /threads` and `POST /threads/retrieve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadList {
    /// The threads.
    pub threads: Vec<Thread>,
}

/// A file attached to a stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadAttachment {
    /// File id.
    pub file_id: String,
    /// File name.
    pub name: String,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadMessage {
    /// Message id.
    pub message_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Role (absent in creation receipts).
    #[serde(default)]
    pub role: Option<String>,
    /// Text.
    #[serde(default)]
    pub content: Option<String>,
    /// Attached files.
    #[serde(default)]
    pub attachments: Vec<ThreadAttachment>,
    /// Why an assistant message ended.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Model.
    #[serde(default)]
    pub model: Option<String>,
}

/// `GET /threads/messages` and `POST /threads/messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadMessages {
    /// Thread id.
    pub thread_id: String,
    /// Messages (or receipts).
    pub messages: Vec<ThreadMessage>,
}

/// `POST /threads/run` and `GET /threads/run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadRun {
    /// `in_progress`, `ready`, ...
    pub status: String,
    /// Thread id.
    pub thread_id: String,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub updated_at: Option<i64>,
    /// Model.
    #[serde(default)]
    pub model: Option<String>,
    /// Messages, when ready.
    #[serde(default)]
    pub messages: Vec<ThreadMessage>,
}

/// `POST /threads/messages/run` and `/rerun` (non-streaming).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadMessageRun {
    /// `threads.messages.run`.
    pub object: String,
    /// Versioned model.
    pub model: String,
    /// Thread id.
    pub thread_id: String,
    /// New message id.
    pub message_id: String,
    /// Unix seconds.
    pub created: i64,
    /// Token usage.
    pub usage: Usage,
    /// The answer.
    pub message: Message,
    /// Why it ended.
    pub finish_reason: FinishReason,
}
