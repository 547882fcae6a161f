//! `POST /v1/tokens/count`: the adapter's token-counting helper, GigaChat's `/tokens/count` in
//! OpenAI's list style (`{"model", "input": "text" | ["a", "b"]}` → one count per input).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use openai::tokens::TokensCountRequest;

use crate::access::Call;
use crate::error::{AppError, about_model};
use crate::state::AppState;
use crate::{body, context};

/// Counts the tokens of each input with the model's tokenizer (the default chat model when none is named).
pub async fn count(
    State(state): State<AppState>,
    call: Call,
    body::JsonCall {
        headers,
        body: payload,
    }: body::JsonCall,
) -> Result<Response, AppError> {
    let request: TokensCountRequest =
        body::parse(payload, &headers, state.max_request_bytes()).await?;
    call.asked(request.model.as_deref());
    let session = context::session_id(&headers);
    let upstream = context::upstream(&headers, call.id(), session);
    let request = translate::tokens::tokens_count_request(request, state.defaults())?;
    let counts = call
        .upstream(state.client().tokens_count(&request, &upstream))
        .await;
    call.served(&request.model, None);
    let counts = about_model(&state, counts, &request.model).await?.data;
    let list = translate::tokens::tokens_count_response(request.model, request.input.len(), counts)
        .map_err(|err| AppError::upstream(gigachat::Error::Protocol(err.to_string())))?;
    Ok(axum::Json(list).into_response())
}
