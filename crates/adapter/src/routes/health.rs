//! Liveness and readiness probes. Ready means a GigaChat token can be had and GigaChat answers;
//! the verdict is cached for a few seconds so probes do not load GigaChat.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gigachat::RequestContext;
use serde_json::json;

use crate::error::AppError;
use crate::state::AppState;

/// `GET /` and `HEAD /`, without a key: what answers here (Claude Code checks its base URL so).
pub async fn root() -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "service": "gigachat-adapter"}))
}

/// The process is up.
pub async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The adapter can serve requests right now.
pub async fn ready(state: AppState) -> Response {
    let verdict = state
        .ready()
        .get_or_try(|| async { Ok::<_, ()>(check(&state).await) })
        .await
        .unwrap_or(Err("unknown".into()));
    match verdict {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": reason})),
        )
            .into_response(),
    }
}

/// A token, then GigaChat's model list. GigaChat's 429 counts as ready: it answered with the token
/// accepted, and on the personal tier (one request in flight per account) a probe made while a
/// stream runs gets it, which must not take every replica out of the load balancer. An account
/// with `max_concurrent` is asked for its token only: a probe's call outside the account's slots
/// could take a request's turn and hand that request GigaChat's 429.
async fn check(state: &AppState) -> Result<(), String> {
    let account = state.accounts().default_account();
    let client = account.client();
    let label = |err: gigachat::Error| AppError::Upstream(err).label().to_owned();
    client.ensure_token().await.map_err(label)?;
    if account.has_slots() {
        return Ok(());
    }
    match client.models(&RequestContext::default()).await {
        Ok(_) => Ok(()),
        Err(err) if err.verdict() == gigachat::Verdict::RateLimited => Ok(()),
        Err(err) => Err(label(err)),
    }
}
