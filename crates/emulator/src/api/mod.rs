//! The API listener's routes, in both hosts' layouts (`/v1/...` and `/v2/chat/completions` as on
//! api.giga.chat, `/api/v1/...` and `/api/v2/...` as on the older host), and the helpers its
//! handlers share.

pub(crate) mod aicheck;
pub(crate) mod answer;
pub(crate) mod builtins;
pub(crate) mod chat;
pub(crate) mod chat_reader;
pub(crate) mod embeddings;
pub(crate) mod files;
pub(crate) mod functions;
pub(crate) mod models;
pub(crate) mod stream;
pub(crate) mod tokens;
pub(crate) mod v2;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use serde::de::{DeserializeOwned, DeserializeSeed};

use crate::auth::{bearer, oauth};
use crate::state::AppState;
use crate::wire::{self, ApiError};
use crate::{control, faults, header_limit, headers, json_check, log, replay};

/// Unix time in seconds.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Parses a JSON body: 400 for bad syntax, 422 for a shape the endpoint cannot use.
///
/// The body is read straight into `T` (no `Value` tree in between) when that works and the whole
/// body is JSON a `Value` would accept too (fields `T` ignores are skipped unchecked by serde); any
/// failure takes the `Value` route, whose outcome and wording are the reference. UTF-8 is checked
/// once for the whole body, so neither pass checks it string by string.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let Ok(text) = std::str::from_utf8(body) else {
        return parse_json_through_value(body);
    };
    match serde_json::from_str(text) {
        Ok(parsed) if json_check::is_json_text(text) => Ok(parsed),
        _ => parse_json_through_value(body),
    }
}

/// [`parse_json`] with `reader`, a reader of `T` straight from JSON text that checks every field `T`
/// does not know as the `Value` route would (so the body needs no separate check): one pass over
/// the body when the reader succeeds; any failure takes the `Value` route, whose outcome and
/// wording are the reference.
pub(crate) fn parse_checked_json<T, R>(reader: R, body: &[u8]) -> Result<T, ApiError>
where
    T: DeserializeOwned,
    R: for<'de> DeserializeSeed<'de, Value = T>,
{
    let read = std::str::from_utf8(body).ok().and_then(|text| {
        let mut json = serde_json::Deserializer::from_str(text);
        let read = reader.deserialize(&mut json).ok()?;
        json.end().ok()?;
        Some(read)
    });
    match read {
        Some(read) => Ok(read),
        None => parse_json_through_value(body),
    }
}

/// [`parse_json`] by way of a `Value`: syntax first (400), then shape (422).
fn parse_json_through_value<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| ApiError::bad_json())?;
    serde_json::from_value(value).map_err(ApiError::invalid_params)
}

/// Path prefix of the older host's layout (`https://gigachat.devices.sberbank.ru/api/v1`).
const LEGACY_PREFIX: &str = "/api";

/// For a path in the older host's layout (`/api/v1/models`), the same path in api.giga.chat's
/// (`/v1/models`); `None` for any other path.
pub(crate) fn legacy_layout_rest(path: &str) -> Option<&str> {
    path.strip_prefix(LEGACY_PREFIX)
        .filter(|rest| rest.starts_with("/v"))
}

/// The endpoints that need a bearer token, under `prefix` (`""`: the new host's layout).
fn authenticated_routes(prefix: &str) -> Router<AppState> {
    let v1 = |path: &str| format!("{prefix}/v1{path}");
    Router::new()
        .route(&v1("/chat/completions"), post(chat::completions))
        .route(&v1("/files"), get(files::list).post(files::upload))
        .route(&v1("/files/{id}"), get(files::get))
        .route(&v1("/files/{id}/delete"), post(files::delete))
        .route(&v1("/files/{id}/content"), get(files::content))
        .route(&v1("/embeddings"), post(embeddings::embed))
        .route(&v1("/tokens/count"), post(tokens::count))
        .route(&v1("/models"), get(models::list))
        .route(&v1("/models/{id}"), get(models::get))
        .route(&v1("/balance"), get(models::balance))
        .route(&v1("/ai/check"), post(aicheck::check))
        .route(&v1("/functions/convert"), post(functions::convert))
        .route(
            &format!("{prefix}/v2/chat/completions"),
            post(v2::completions),
        )
}

/// The API listener's router: control API, then logged requests through faults and auth.
/// `/token` (user/password) exists only in the older host's layout: api.giga.chat does not serve
/// it, so `/v1/token` is a 404 like any unknown path.
pub(crate) fn router(state: AppState) -> Router {
    let authenticated = authenticated_routes("")
        .merge(authenticated_routes(LEGACY_PREFIX))
        .layer(from_fn_with_state(state.clone(), replay::serve))
        .layer(from_fn_with_state(state.clone(), bearer::require));
    let api = Router::new()
        .route(
            &format!("{LEGACY_PREFIX}/v1/token"),
            post(oauth::user_token),
        )
        .merge(authenticated)
        .fallback(wire::not_found)
        .layer(from_fn_with_state(state.clone(), faults::inject))
        .layer(from_fn(wire::id_headers))
        .layer(from_fn(header_limit::enforce))
        .layer(from_fn_with_state(state.clone(), headers::gateway))
        .layer(from_fn_with_state(state.clone(), log::record))
        .layer(DefaultBodyLimit::max(state.config.max_request_bytes));
    Router::new()
        .nest("/_emulator", control::router())
        .merge(api)
        .with_state(state)
}

/// The OAuth listener's router: `/api/v2/oauth` only.
pub(crate) fn oauth_router(state: AppState) -> Router {
    Router::new()
        .route("/api/v2/oauth", axum::routing::any(oauth::oauth))
        .fallback(wire::not_found)
        .layer(from_fn_with_state(state.clone(), faults::inject))
        .layer(from_fn_with_state(state.clone(), headers::gateway))
        .layer(from_fn_with_state(state.clone(), log::record))
        .layer(DefaultBodyLimit::max(state.config.max_request_bytes))
        .with_state(state)
}
