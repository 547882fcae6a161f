//! `POST /v1/messages` and `POST /v1/messages/count_tokens` (Anthropic's Messages API): a
//! Messages request is reshaped into a chat request and served by the chat path (files, plan,
//! call, verdicts), and the chat answer is reshaped into a `message`. Errors are rendered in
//! Anthropic's envelope by the router's gate (the routes' surface is `anthropic`).

use anthropic::MessagesRequest;
use anthropic::tokens::CountTokensResponse;
use axum::response::{IntoResponse, Response};
use translate::ResponseIds;
use translate::anthropic::{
    MessagesPlan, count_tokens_request, input_token_texts, messages_request, messages_response,
    search_query,
};

use crate::context;
use crate::error::AppError;
use crate::incoming::{Incoming, RequestBody};
use crate::routes::chat;
use crate::routes::responses::{DROPPED_TOOLS_HEADER, counted_tokens, dropped_tools_header};
use crate::state::AppState;
use crate::streaming::anthropic::AnthropicShape;

impl RequestBody for MessagesRequest {
    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The header, else `metadata.user_id`.
    fn session(&self, header: Option<&str>) -> Option<String> {
        translate::anthropic::session_id(self, header)
    }
}

/// Answers a Messages request (`?beta=true` and other query parameters are ignored).
pub async fn create(
    state: AppState,
    Incoming {
        call,
        upstream,
        request,
    }: Incoming<MessagesRequest>,
) -> Result<Response, AppError> {
    let plan = messages_request(request)?.for_contract(state.defaults().contract)?;
    report_left_out(&plan);
    let ids = new_ids();
    let images = state.image_rewriter(upstream.clone());
    let (state, plan, upstream, ids, images, call) =
        (&state, &plan, &upstream, &ids, &images, &call);
    let mut response = chat::with_files(state, &plan.chat, upstream, |chat_plan| async move {
        if chat_plan.stream {
            let shape =
                AnthropicShape::new(message_id(ids), call.id().to_owned(), state.stream_ping())
                    .with_search_query(search_query(plan));
            return chat::stream_as(state, &chat_plan, upstream, ids, images, shape, call).await;
        }
        let answer = chat::answer(state, &chat_plan, upstream, ids, images, call).await?;
        let message = messages_response(&answer, plan, message_id(ids));
        Ok(axum::Json(message).into_response())
    })
    .await
    .map_err(|err| err.renamed(|param| plan.param(param)))?;
    if let Some(value) = dropped_tools_header(&plan.dropped_tools) {
        response.headers_mut().insert(DROPPED_TOOLS_HEADER, value);
    }
    Ok(response)
}

/// The ids of a new answer: the chat path's (`chatcmpl-…`, which also seeds tool call ids) and
/// the creation time; the message's own id is [`message_id`].
fn new_ids() -> ResponseIds {
    ResponseIds {
        id: format!("chatcmpl-{}", uuid::Uuid::now_v7().simple()),
        created: context::unix_now(),
    }
}

/// The `msg_…` id of the answer with `ids`.
fn message_id(ids: &ResponseIds) -> String {
    format!(
        "msg_{}",
        ids.id.strip_prefix("chatcmpl-").unwrap_or(&ids.id)
    )
}

/// Logs the server tools left out of the request.
fn report_left_out(plan: &MessagesPlan) {
    if !plan.dropped_tools.is_empty() {
        tracing::info!(
            tools = %plan.dropped_tools.join(","),
            "server tools GigaChat cannot serve were left out of a Messages request"
        );
    }
}

/// Counts the tokens a Messages request's system prompt, messages and tools would take
/// (`{"input_tokens": N}`), with GigaChat's token counter.
pub async fn count_tokens(
    state: AppState,
    Incoming {
        call,
        upstream,
        request,
    }: Incoming<MessagesRequest>,
) -> Result<Response, AppError> {
    let plan = count_tokens_request(request)?;
    let count = input_token_texts(&plan, state.defaults())?;
    let input_tokens = counted_tokens(&state, &call, &upstream, &count).await?;
    Ok(axum::Json(CountTokensResponse { input_tokens }).into_response())
}
