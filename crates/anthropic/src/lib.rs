//! Anthropic Messages API wire types, as Anthropic's SDKs and Claude Code send and expect them.
//! Knows nothing about GigaChat or OpenAI's API.
//!
//! Requests are tolerant (unknown fields, `cache_control` on any block, beta options are accepted
//! and ignored); answers are exact (every field the SDKs' types require, `null`s included).

pub mod error;
pub mod message;
pub mod models;
pub mod request;
pub mod stream;
pub mod tokens;

pub use error::{ErrorBody, ErrorEnvelope};
pub use message::{Message, ResponseBlock, StopReason, Usage};
pub use request::MessagesRequest;
