//! A typed, async client for Sber's GigaChat REST API: v1, and chat on the v2 contract too.
//!
//! It owns everything GigaChat does its own way: OAuth tokens that expire every 30 minutes
//! (fetched once for all concurrent callers and refreshed ahead of time), the Russian Trusted
//! Root CA, mutual TLS, `{status,message}` errors and HTML gateway pages, and SSE streams that
//! must never be replayed once a chunk was delivered.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gigachat::Error> {
//! use gigachat::{GigaChat, RequestContext, types::{ChatRequest, Message, Role}};
//! let client = GigaChat::from_env()?;
//! let request = ChatRequest {
//!     messages: vec![Message::new(Role::User, "Привет!")],
//!     ..ChatRequest::default()
//! };
//! let answer = client.chat(&request, &RequestContext::default()).await?;
//! println!("{}", answer.data.choices[0].message.content);
//! # Ok(()) }
//! ```

pub mod auth;
pub mod client;
pub mod error;
mod lane;
mod lane_h1;
pub mod retry;
pub mod settings;
pub mod sse;
pub mod stream;
mod tls;
mod transport;
mod v2;
pub mod verdict;
/// The wire types, from the `gigachat-types` crate (kept apart so pure mapping code needs no client).
pub use gigachat_types as types;

pub use auth::TokenRefreshes;
pub use client::{
    Answer, FileContent, FileSource, FileUpload, GigaChat, Propagate, RequestContext, ResponseMeta,
    record_spans,
};
pub use error::{ApiError, Error, ErrorBodyKind, TransportKind};
pub use retry::RetryPolicy;
pub use settings::{CachedPromptTokens, Contract, SettingError, Settings};
pub use stream::ChatStream;
pub use tls::RUSSIAN_TRUSTED_ROOT_CA_PEM;
pub use verdict::{Endpoint, Fault, Verdict};
