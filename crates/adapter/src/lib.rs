//! gigachat-adapter: an OpenAI-compatible gateway to Sber's GigaChat. The binary is thin glue
//! around [`build_router`]; tests build the same router around an in-process emulator.

pub mod auth;
pub mod body;
pub mod cache;
pub mod config;
pub mod context;
pub mod demo;
pub mod error;
pub mod routes;
pub mod server;
pub mod state;
pub mod streaming;

use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use secrecy::SecretString;

use config::Config;
use state::{AppState, Limits};

/// The full router for `config`, talking to GigaChat as `settings` say, accepting `keys`
/// (empty only when unauthenticated access was allowed).
pub fn build_router(
    config: &Config,
    settings: gigachat::Settings,
    keys: Vec<SecretString>,
) -> anyhow::Result<Router> {
    let defaults = translate::ChatDefaults {
        default_model: settings.default_model().to_owned(),
        aliases: config.aliases()?,
    };
    let client = gigachat::GigaChat::new(settings).context("GigaChat client")?;
    let state = AppState::new(
        client,
        defaults,
        keys,
        Limits {
            models_ttl: Duration::from_secs(config.models_cache_secs),
            ready_ttl: Duration::from_secs(config.ready_cache_secs),
            max_request_bytes: config.max_request_bytes,
        },
    );
    Ok(server::router(
        state,
        &config.cors_origins()?,
        config.max_request_bytes,
    ))
}
