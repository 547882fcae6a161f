//! `POST /v1/chat/completions`, streaming and not.

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use openai::chat::ChatCompletionRequest;
use translate::{ResolvedParts, ResponseIds};

use crate::error::AppError;
use crate::state::AppState;
use crate::{body, context, streaming};

/// Answers a chat completion request.
pub async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    payload: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let payload = body::bytes(payload, state.max_request_bytes())?;
    let request: ChatCompletionRequest = body::json(&payload)?;
    let plan = translate::chat_request(&request, state.defaults(), &ResolvedParts::new())?;
    let request_id = context::request_id(&headers);
    let session = translate::session_id(&request, context::header(&headers, "x-session-id"));
    let upstream = context::upstream(&headers, &request_id, session);
    let ids = ResponseIds {
        id: context::completion_id(),
        created: context::unix_now(),
    };
    let model = plan.upstream.model.clone();
    let not_found = |err| unknown_model(err, &model);
    let mut response = if plan.stream {
        streaming::respond(state.client(), &plan, &upstream, ids)
            .await
            .map_err(not_found)?
    } else {
        let calls = (0..plan.n).map(|_| state.client().chat(&plan.upstream, &upstream));
        let answers: Vec<_> = futures_util::future::try_join_all(calls)
            .await
            .map_err(not_found)?
            .into_iter()
            .map(|answer| answer.data)
            .collect();
        let answer =
            translate::chat_response(&answers, &ids, &plan).map_err(AppError::InvalidOutput)?;
        axum::Json(answer).into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    Ok(response)
}

/// GigaChat's 404 on a chat call means the model is unknown; say which one.
fn unknown_model(err: gigachat::Error, model: &str) -> AppError {
    if err.status() == Some(404) {
        AppError::ModelNotFound(model.to_owned())
    } else {
        AppError::Upstream(err)
    }
}
