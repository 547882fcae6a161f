//! Pure translation between OpenAI's API and GigaChat: request mapping, response mapping, the
//! stream translator, stop sequences, usage and the Files API; Anthropic's Messages API rides the
//! chat mapping ([`anthropic`]). No IO, no async, no clock.

pub mod anthropic;
pub mod attachments;
pub mod builtins;
#[cfg(test)]
mod chunking;
pub mod citations;
pub mod completions;
pub mod contract;
pub mod embeddings;
pub mod files;
pub mod images;
pub mod json_path;
pub mod request;
pub mod response;
pub mod responses;
pub mod schema;
pub mod stop;
pub mod stream;
pub mod think;
pub mod tokens;
mod tool_cache;
pub mod tools;

pub use attachments::{FileKind, ResolvedFile, ResolvedParts};
pub use request::{ChatDefaults, ChatPlan, OutputFormat, chat_request, header_id, session_id};
pub use response::{
    OutputError, ResponseIds, chat_response, combined_usage, finish_reason, json_object_text, usage,
};
pub use stream::{StreamTranslator, usage_chunk};

/// A request the client got wrong, with the JSON path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TranslateError {
    /// What is wrong, for the client.
    pub message: String,
    /// The JSON path of the field at fault (`messages[2].role`).
    pub param: Option<String>,
}

impl TranslateError {
    /// An invalid value at `param`.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            param: Some(param.into()),
        }
    }
}

/// The index and the rest of a JSON path after its `[`: `3].rest` → (3, `.rest`); used to name a
/// front door's own path for a chat request's path.
fn indexed(text: &str) -> Option<(usize, &str)> {
    let (number, rest) = text.split_once(']')?;
    Some((number.parse().ok()?, rest))
}
