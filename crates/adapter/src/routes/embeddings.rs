//! `POST /v1/embeddings`: parse → translate (token ids decoded, inputs batched) → GigaChat
//! `/embeddings`, a few batches at a time → vectors back in input order.

use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use openai::embeddings::EmbeddingRequest;
use translate::embeddings::{EmbeddingError, embedding_request, embedding_response};

use crate::access::Tokens;
use crate::error::{AppError, about_model};
use crate::incoming::Incoming;
use crate::offload;
use crate::state::AppState;

/// GigaChat calls of one embeddings request in flight at once (`GIGACHAT_MAX_CONNECTIONS` still caps
/// the adapter as a whole).
pub const CONCURRENT_BATCHES: usize = 4;

/// Answers an embeddings request.
pub async fn embeddings(
    state: AppState,
    Incoming {
        call,
        upstream,
        request,
    }: Incoming<EmbeddingRequest>,
) -> Result<Response, AppError> {
    let defaults = state.defaults().clone();
    let default_model = state.embeddings_model().to_owned();
    // Decoding token ids loads a tokenizer vocabulary on first use: far too slow for the loop.
    let plan = offload::run(
        translate::tokens::has_token_ids(&request.input),
        "decoding token ids",
        move || embedding_request(request, &defaults, &default_model),
    )
    .await??;
    // Futures do nothing until polled: `buffered` runs a few batches at a time, answers in order.
    let calls: Vec<_> = plan
        .batches
        .iter()
        .map(|batch| state.client().embeddings(batch, &upstream))
        .collect();
    let answers = call
        .upstream(
            futures_util::stream::iter(calls)
                .buffered(CONCURRENT_BATCHES)
                .map_ok(|answer| answer.data)
                .try_collect::<Vec<_>>(),
        )
        .await;
    let answers = about_model(&state, answers, plan.model()).await?;
    let list = embedding_response(&plan, answers).map_err(|err| match err {
        EmbeddingError::Invalid(err) => AppError::from(err),
        EmbeddingError::Upstream(mismatch) => {
            AppError::upstream(gigachat::Error::Protocol(mismatch.to_string()))
        }
    })?;
    call.served(
        &list.model,
        Some(Tokens {
            prompt: list.usage.prompt_tokens,
            ..Tokens::default()
        }),
    );
    Ok(axum::Json(list).into_response())
}
