//! HTTP handlers: parse → translate → call GigaChat → translate back.

pub mod chat;
pub mod docs;
pub mod files;
pub mod health;
pub mod models;
