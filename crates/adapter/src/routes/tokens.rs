//! `POST /v1/tokens/count`: the adapter's token-counting helper, GigaChat's `/tokens/count` in
//! OpenAI's list style (`{"model", "input": "text" | ["a", "b"]}` → one count per input).

use axum::response::{IntoResponse, Response};
use openai::extensions::TokensCountRequest;

use crate::error::{AppError, about_model};
use crate::incoming::Incoming;
use crate::state::AppState;

/// Counts the tokens of each input with the model's tokenizer (the default chat model when none is named).
pub async fn count(
    state: AppState,
    Incoming {
        call,
        upstream,
        request,
    }: Incoming<TokensCountRequest>,
) -> Result<Response, AppError> {
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
