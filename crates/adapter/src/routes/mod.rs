//! HTTP handlers: parse → translate → call GigaChat → translate back.

pub mod admin;
pub mod chat;
pub mod completions;
pub mod docs;
pub mod embeddings;
pub mod files;
pub mod health;
pub mod images;
pub mod messages;
pub mod models;
pub mod responses;
pub mod stored_responses;
pub mod tokens;
