//! OpenAI API wire types, as the official clients send and expect them. Knows nothing about
//! GigaChat's API; the adapter's few additions to OpenAI's wire format are gathered, and
//! explained, in [`extensions`].
//!
//! Requests are tolerant (unknown fields and content-part kinds are accepted and ignored);
//! responses and stream chunks are exact (every field the SDKs require, `null`s included).

pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod error;
pub mod extensions;
pub mod files;
pub mod images;
pub mod models;
pub mod raw_json;
pub mod responses;
pub mod sse;
pub mod text_or_list;

pub use error::{ErrorBody, ErrorEnvelope};
pub use raw_json::RawJson;
