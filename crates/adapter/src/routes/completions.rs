//! `POST /v1/completions` (legacy text completions), streaming and not: each prompt is served as a
//! one-message chat by the chat path, and the answers are reshaped as `text_completion`s.

use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use openai::chat::{ChatCompletionChunk, Usage};
use openai::completions::CompletionRequest;
use translate::ResponseIds;
use translate::completions::{completion_request, completion_response, text_chunk, usage_chunk};

use crate::access::Tokens;
use crate::error::{AppError, about_model};
use crate::incoming::Incoming;
use crate::routes::chat::complete;
use crate::state::AppState;
use crate::streaming::{self, EventShape};
use crate::{context, offload};

/// Answers a legacy completion request.
pub async fn completions(
    state: AppState,
    Incoming {
        call,
        upstream,
        request,
    }: Incoming<CompletionRequest>,
) -> Result<Response, AppError> {
    let ids = ResponseIds {
        id: context::response_id("cmpl"),
        created: context::unix_now(),
    };
    let token_ids = request
        .prompt
        .as_ref()
        .is_some_and(translate::tokens::has_token_ids);
    let defaults = state.defaults().clone();
    let plan = offload::run(token_ids, "decoding token ids", move || {
        completion_request(request, &defaults)
    })
    .await??;
    let response = if plan.stream {
        let model = plan
            .prompts
            .first()
            .map(|p| p.upstream.model.clone())
            .unwrap_or_default();
        let opened = streaming::respond_many(
            state.client(),
            &plan.prompts,
            &upstream,
            ids,
            state.image_rewriter(upstream.clone()),
            TextEvents,
            call.clone(),
        )
        .await;
        about_model(&state, opened, &model).await?
    } else {
        let answers = call
            .upstream(futures_util::future::try_join_all(
                plan.prompts
                    .iter()
                    .map(|chat| complete(&state, chat, &upstream, &ids)),
            ))
            .await?;
        let answer = completion_response(answers, &ids);
        call.served(&answer.model, answer.usage.as_ref().map(Tokens::from));
        axum::Json(answer).into_response()
    };
    Ok(response)
}

/// Stream events in the legacy `text_completion` shape.
struct TextEvents;

impl EventShape for TextEvents {
    fn chunk(&mut self, chunk: &ChatCompletionChunk, out: &mut BytesMut) {
        if let Some(chunk) = text_chunk(chunk) {
            streaming::frame_into(out, &chunk);
        }
    }

    fn usage(&self, ids: &ResponseIds, model: &str, usage: Usage, out: &mut BytesMut) {
        streaming::frame_into(out, &usage_chunk(ids, model, usage));
    }
}
