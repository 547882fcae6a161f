//! Typed request and response bodies of the GigaChat REST API, field for field as the service sends them.
//!
//! Plain serde data with no I/O, kept apart from the `gigachat` client so that code which only maps
//! these bodies (the `translate` crate) builds without TLS, HTTP or an async runtime.

pub mod assistants;
pub mod auth;
pub mod balance;
pub mod chat;
pub mod chunk_reader;
pub mod embeddings;
pub mod extras;
pub mod files;
pub mod models;
pub mod shared_json;
pub mod threads;
pub mod tokens;
pub mod v2;

pub use auth::TokenResponse;
pub use balance::{Balance, BalanceEntry};
pub use chat::{
    BuiltinTool, CachedPromptTokens, ChatChunk, ChatCompletion, ChatRequest, Choice, ChunkChoice,
    Contract, Delta, FinishReason, FunctionCall, FunctionCallMode, FunctionSpec, GeneratedFile,
    Message, ResponseFormat, Role, Source, ToolExecution, Usage,
};
pub use embeddings::{Embedding, EmbeddingUsage, EmbeddingsRequest, EmbeddingsResponse};
pub use extras::{AiCheck, AiCheckRequest, ConvertedFunctions};
pub use files::{DeletedFile, FileList, FileObject, FilePurpose};
pub use models::{Model, ModelList};
pub use shared_json::SharedJson;
pub use tokens::{TokensCount, TokensCountRequest};
