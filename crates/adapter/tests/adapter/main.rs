//! Integration tests: the adapter's router served on port 0 in front of an in-process GigaChat
//! emulator over TLS, driven over HTTP with reqwest; every answer is checked against async-openai types.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
// `v2` loads the chat, tools, attachments and streaming suites a second time, on purpose.
#![allow(clippy::duplicate_mod)]

mod common;
#[path = "../support/openai_spec.rs"]
mod openai_spec;
#[path = "../support/redis.rs"]
mod redis_server;

mod accounts;
mod attachments;
mod builtins;
mod chat;
mod completions;
mod connections;
mod dashboard;
mod embeddings;
mod errors;
mod headers;
mod keys;
mod limits;
mod messages;
mod messages_stream;
mod metrics;
mod model_names;
mod reasoning;
mod request_ids;
mod responses;
mod responses_stream;
mod service;
mod stored_responses;
mod streaming;
mod tokens;
mod tools;
mod tools_v2;
mod v2;
