//! `POST /v1/responses` (the Responses API), `POST /v1/responses/input_tokens` and
//! `POST /v1/responses/{id}/cancel`: a Responses request is reshaped into a chat request and served
//! by the chat path (files, plan, call, verdicts), and the chat answer is reshaped into a
//! `response` object.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use gigachat::RequestContext;
use openai::responses::CreateResponse;
use openai::responses::response::InputTokensCount;
use translate::ResponseIds;
use translate::responses::{
    ResponsesPlan, input_token_texts, responses_request, responses_response,
};

use crate::access::Call;
use crate::attachments::generated::ImageRewriter;
use crate::context;
use crate::error::{AppError, about_model};
use crate::incoming::{Incoming, RequestBody};
use crate::routes::chat;
use crate::routes::stored_responses::{self, NOT_STORED_HEADER};
use crate::state::AppState;
use crate::streaming::responses::ResponsesShape;

/// The response header naming the tool types left out of a request (`web_search,namespace`).
pub const DROPPED_TOOLS_HEADER: &str = "x-gigachat-adapter-dropped-tools";

impl RequestBody for CreateResponse {
    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The header, else `prompt_cache_key`, else `user`, else `safety_identifier`.
    fn session(&self, header: Option<&str>) -> Option<String> {
        translate::responses::session_id(self, header)
    }
}

/// Answers a Responses request.
pub async fn create(
    state: AppState,
    Incoming {
        call,
        upstream,
        request,
    }: Incoming<CreateResponse>,
) -> Result<Response, AppError> {
    let ids = new_ids();
    let history = stored_responses::history(&state, &call, &request).await?;
    let plan = responses_request(&request, &history, state.defaults(), &ids)?;
    report_left_out(&plan);
    let images = ImageRewriter {
        results_apart: true,
        ..state.image_rewriter(upstream.clone())
    };
    let (state, plan, upstream, ids, images, call, request, history) = (
        &state, &plan, &upstream, &ids, &images, &call, &request, &history,
    );
    let mut response = chat::with_files(state, &plan.chat, upstream, |chat_plan| async move {
        if chat_plan.stream {
            let shape = ResponsesShape::new(plan.answer.clone())
                .on_finished(stored_responses::on_finished(state, call, request, history));
            return chat::stream_as(state, &chat_plan, upstream, ids, images, shape, call).await;
        }
        let answer = chat::answer(state, &chat_plan, upstream, ids, images, call).await?;
        let response = responses_response(&answer, &plan.answer, context::unix_now());
        let not_stored = stored_responses::remember(state, call, request, history, &response).await;
        let mut answered = axum::Json(response).into_response();
        if let Some(reason) = not_stored {
            answered.headers_mut().insert(NOT_STORED_HEADER, reason);
        }
        Ok(answered)
    })
    .await
    .map_err(|err| err.renamed(|param| plan.param(param)))?;
    if let Some(value) = dropped_tools_header(&plan.dropped_tools) {
        response.headers_mut().insert(DROPPED_TOOLS_HEADER, value);
    }
    Ok(response)
}

/// A new response's id (`resp_…`) and creation time.
fn new_ids() -> ResponseIds {
    ResponseIds {
        id: format!("resp_{}", uuid::Uuid::now_v7().simple()),
        created: context::unix_now(),
    }
}

/// Logs what was left out of the request (tool types, hosted-tool history items).
fn report_left_out(plan: &ResponsesPlan) {
    if !plan.dropped_tools.is_empty() {
        tracing::info!(
            tools = %plan.dropped_tools.join(","),
            "tool types GigaChat cannot serve were left out of a Responses request"
        );
    }
    if !plan.dropped_items.is_empty() {
        tracing::info!(
            items = %plan.dropped_items.join(","),
            "history items of hosted tools were left out of a Responses request"
        );
    }
}

/// `x-gigachat-adapter-dropped-tools: web_search,namespace`, when tools were left out.
pub fn dropped_tools_header(dropped: &[String]) -> Option<HeaderValue> {
    if dropped.is_empty() {
        return None;
    }
    HeaderValue::from_str(&dropped.join(",")).ok()
}

/// Counts the tokens the input of a Responses request would take
/// (`{"object": "response.input_tokens", "input_tokens": N}`), with GigaChat's token counter. The
/// SDKs post it with `?beta=true`; query parameters are ignored.
pub async fn input_tokens(
    state: AppState,
    Incoming {
        call,
        upstream,
        request,
    }: Incoming<CreateResponse>,
) -> Result<Response, AppError> {
    let history = stored_responses::history(&state, &call, &request).await?;
    let plan = responses_request(&request, &history, state.defaults(), &new_ids())?;
    let count = input_token_texts(&plan, state.defaults())?;
    let input_tokens = counted_tokens(&state, &call, &upstream, &count).await?;
    Ok(axum::Json(InputTokensCount {
        object: "response.input_tokens".into(),
        input_tokens,
    })
    .into_response())
}

/// The tokens GigaChat's counter finds in `count`'s texts, summed (none to count: 0), reported to
/// `call`.
pub(crate) async fn counted_tokens(
    state: &AppState,
    call: &Call,
    upstream: &RequestContext,
    count: &gigachat::types::TokensCountRequest,
) -> Result<u32, AppError> {
    call.served(&count.model, None);
    if count.input.is_empty() {
        return Ok(0);
    }
    let counts = call
        .upstream(state.client().tokens_count(count, upstream))
        .await;
    Ok(about_model(state, counts, &count.model)
        .await?
        .data
        .iter()
        .fold(0_u32, |sum, count| sum.saturating_add(count.tokens)))
}

/// `POST /v1/responses/{id}/cancel`: there is no background mode, so nothing to cancel.
pub async fn cancel() -> AppError {
    AppError::InvalidRequest {
        message: "only background responses can be cancelled, and background mode is not served"
            .into(),
        param: Some("response_id".into()),
    }
}
