//! Stored Responses over HTTP: `GET` and `DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`, each seeing only the caller key's own responses.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use openai::responses::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use translate::responses::StoredExchange;

use crate::access::Call;
use crate::error::AppError;
use crate::responses_store::{ItemsQuery, page};
use crate::state::AppState;

/// The query of `GET /responses/{id}` the adapter reads (`include[]`, `starting_after` and
/// `include_obfuscation` are accepted and change nothing).
#[derive(Debug, Default, Deserialize)]
pub struct RetrieveQuery {
    /// `true` asks for the response replayed as events, which the adapter cannot do.
    #[serde(default)]
    pub stream: Option<String>,
}

/// `GET /v1/responses/{id}`: the stored Response.
pub async fn get(
    State(state): State<AppState>,
    call: Call,
    Path(id): Path<String>,
    query: Result<Query<RetrieveQuery>, QueryRejection>,
) -> Result<Json<Response>, AppError> {
    let Query(query) = query.map_err(bad_query)?;
    match query.stream.as_deref().map(str::trim) {
        None | Some("false") => {}
        Some(_) => {
            return Err(AppError::InvalidRequest {
                message: "Streaming a stored response back (`stream=true`) is not supported; \
                          retrieve it without `stream`."
                    .into(),
                param: Some("stream".into()),
            });
        }
    }
    Ok(Json(load(&state, &call, &id).await?.response))
}

/// `DELETE /v1/responses/{id}`: forgets the stored Response.
pub async fn delete(
    State(state): State<AppState>,
    call: Call,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let deleted = state
        .responses()
        .delete(call.key(), &id)
        .await
        .map_err(store_failed)?;
    if !deleted {
        return Err(AppError::ResponseNotFound(id));
    }
    Ok(Json(
        json!({"id": id, "object": "response", "deleted": true}),
    ))
}

/// `GET /v1/responses/{id}/input_items`: the stored input items, paged as OpenAI pages them.
pub async fn input_items(
    State(state): State<AppState>,
    call: Call,
    Path(id): Path<String>,
    query: Result<Query<ItemsQuery>, QueryRejection>,
) -> Result<Json<Value>, AppError> {
    let Query(query) = query.map_err(bad_query)?;
    let stored = load(&state, &call, &id).await?;
    Ok(Json(page(&stored.input, &query)?))
}

/// The caller's stored response `id`, or a 404.
async fn load(state: &AppState, call: &Call, id: &str) -> Result<StoredExchange, AppError> {
    state
        .responses()
        .load(call.key(), id)
        .await
        .map_err(store_failed)?
        .ok_or_else(|| AppError::ResponseNotFound(id.to_owned()))
}

/// A store that failed to answer: the adapter's failure, not the client's (logged, 500).
pub fn store_failed(error: crate::store::StoreError) -> AppError {
    tracing::error!(%error, "the Responses store failed");
    AppError::Internal("the stored Responses could not be read or written".into())
}

/// A query string that does not parse.
fn bad_query(rejection: QueryRejection) -> AppError {
    AppError::InvalidRequest {
        message: rejection.body_text(),
        param: None,
    }
}
