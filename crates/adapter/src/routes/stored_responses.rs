//! Stored Responses over HTTP: `GET` and `DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`, each seeing only the caller key's own responses; and what `POST /v1/responses` asks of the store (`previous_response_id`, `store`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::HeaderValue;
use openai::responses::response::Response;
use openai::responses::{CreateResponse, InputItem};
use serde::Deserialize;
use serde_json::{Value, json};
use translate::responses::{StoredExchange, history_items};

use crate::access::Call;
use crate::error::AppError;
use crate::responses_store::{ItemsQuery, Kept, page};
use crate::state::AppState;
use crate::streaming::responses::Finished;

/// The response header saying why a response asked to be stored was not (`too-large`,
/// `store-failed`).
pub const NOT_STORED_HEADER: &str = "x-gigachat-adapter-not-stored";

/// The history a request continuing a stored response (`previous_response_id`) starts from: that
/// response's input items, then its output items (its instructions are not carried over). An
/// unknown, expired or deleted id, or another key's, is a 404 `previous_response_not_found`.
pub async fn history(
    state: &AppState,
    call: &Call,
    request: &CreateResponse,
) -> Result<Vec<InputItem>, AppError> {
    let Some(id) = request.previous_response_id.as_deref() else {
        return Ok(Vec::new());
    };
    let stored = find(state, call, id)
        .await?
        .ok_or_else(|| AppError::PreviousResponseNotFound(id.to_owned()))?;
    Ok(history_items(&stored))
}

/// What stores a streamed response once it has finished, unless the request said `store: false`
/// (then nothing is written); a response that could not be stored is logged.
pub fn on_finished(
    state: &AppState,
    call: &Call,
    request: &CreateResponse,
    history: &[InputItem],
) -> Option<Finished> {
    if request.store == Some(false) {
        return None;
    }
    let (state, call, request, history) = (
        state.clone(),
        call.clone(),
        request.clone(),
        history.to_vec(),
    );
    Some(Box::new(move |response| {
        Box::pin(async move {
            remember(&state, &call, &request, &history, &response).await;
        })
    }))
}

/// Stores `response`, answered from `history` and `request`'s input, unless the request said
/// `store: false` (then nothing is written). The value of [`NOT_STORED_HEADER`] when it could not
/// be stored (too large, or the store failed: logged, the answer still goes out).
pub async fn remember(
    state: &AppState,
    call: &Call,
    request: &CreateResponse,
    history: &[InputItem],
    response: &Response,
) -> Option<HeaderValue> {
    if request.store == Some(false) {
        return None;
    }
    let exchange = StoredExchange::new(response.clone(), history, request);
    match state.responses().keep(call.key(), exchange).await {
        Ok(Kept::Stored) => None,
        Ok(Kept::TooLarge { bytes }) => {
            tracing::warn!(
                id = %response.id,
                bytes,
                max_bytes = state.responses().retention().max_bytes,
                "a response is larger than RESPONSES_MAX_BYTES and was not stored"
            );
            Some(HeaderValue::from_static("too-large"))
        }
        Err(error) => {
            tracing::error!(%error, id = %response.id, "a response could not be stored");
            Some(HeaderValue::from_static("store-failed"))
        }
    }
}

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
    state: AppState,
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
    state: AppState,
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
    state: AppState,
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
    find(state, call, id)
        .await?
        .ok_or_else(|| AppError::ResponseNotFound(id.to_owned()))
}

/// The caller's stored response `id`, if there is one.
async fn find(state: &AppState, call: &Call, id: &str) -> Result<Option<StoredExchange>, AppError> {
    state
        .responses()
        .load(call.key(), id)
        .await
        .map_err(store_failed)
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
