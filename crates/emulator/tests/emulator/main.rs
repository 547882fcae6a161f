//! Integration tests of the emulator over real HTTP(S), with reqwest as the client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

mod auth;
mod builtins;
mod chat;
mod chat_v2;
mod faults;
mod fidelity;
mod header_limit;
mod layouts;
mod reasoning;
mod resources;
mod scripted;
mod stream;
mod v2_stream;
