//! `POST /v2/chat/completions`: checked, answered through the v1 model, written back in v2 form.

mod answer;
mod request;
mod stream;

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use bytes::Bytes;

use super::{chat, parse_json};
use crate::auth::Identity;
use crate::log::StreamTally;
use crate::state::AppState;
use crate::wire::{self, ApiResult};

/// `POST /v2/chat/completions`.
pub(crate) async fn completions(
    State(state): State<AppState>,
    Extension(identity): Extension<Identity>,
    tally: Option<Extension<Arc<StreamTally>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let translated = request::translate(parse_json(&body)?)?;
    let request = translated.request;
    let reply = chat::prepare(&state, &identity, &headers, uri.path(), &request)?;
    // v2 answers carry a fresh state id whenever tools are in play: calls and tool output, answers
    // to a history with a state id, and every answer when built-in tools are offered.
    let offers_builtins = request
        .v2
        .as_ref()
        .is_some_and(|v2| !v2.builtins.is_empty());
    let state_id = reply.answer.functions_state_id.clone().or_else(|| {
        (translated.had_state || offers_builtins).then(|| uuid::Uuid::now_v7().to_string())
    });
    if request.stream == Some(true) {
        let pacing = super::stream::Pacing::new(&state.config, request.update_interval);
        let events = stream::events(&reply, state_id.as_deref(), &pacing, &state.config);
        let tally = tally.map(|Extension(t)| t);
        return Ok(super::stream::write(&state, events, tally, uri.path()));
    }
    wire::ok(&answer::body(&reply, state_id.as_deref(), &state.config))
}
