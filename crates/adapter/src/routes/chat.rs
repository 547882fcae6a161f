//! `POST /v1/chat/completions`, streaming and not: parse → attach files → translate → call → translate back.

use axum::response::{IntoResponse, Response};
use gigachat::RequestContext;
use openai::chat::ChatCompletionRequest;
use translate::{ChatPlan, ResponseIds};

use crate::access::{Call, Tokens};
use crate::attachments::generated::ImageRewriter;
use crate::error::{AppError, about_model};
use crate::incoming::Incoming;
use crate::state::AppState;
use crate::{context, streaming};

/// Answers a chat completion request.
pub async fn chat_completions(
    state: AppState,
    Incoming {
        call,
        upstream,
        request,
    }: Incoming<ChatCompletionRequest>,
) -> Result<Response, AppError> {
    let ids = ResponseIds {
        id: context::response_id("chatcmpl"),
        created: context::unix_now(),
    };
    let images = state.image_rewriter(upstream.clone());
    let (state, upstream, ids, images, call) = (&state, &upstream, &ids, &images, &call);
    with_files(state, &request, upstream, |plan| async move {
        serve(state, &plan, upstream, ids, images, call).await
    })
    .await
}

/// Uploads the request's files (or finds them in the dedup store), builds its plan and runs `serve`
/// with it; when GigaChat no longer knows a file whose id was cached, uploads the files again and
/// runs `serve` once more.
pub(crate) async fn with_files<T, F, Fut>(
    state: &AppState,
    request: &ChatCompletionRequest,
    upstream: &RequestContext,
    serve: F,
) -> Result<T, AppError>
where
    F: Fn(ChatPlan) -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let (plan, keys) = prepare(state, request, upstream).await?;
    let served = serve(plan).await;
    let forgot = matches!(&served, Err(AppError::Upstream(err))
        if !keys.is_empty() && err.verdict() == gigachat::Verdict::StaleFile);
    if !forgot {
        return served;
    }
    drop(served);
    tracing::info!("GigaChat no longer knows a cached file id; uploading again");
    state.attachments().forget(&keys).await;
    let (plan, _) = prepare(state, request, upstream).await?;
    serve(plan).await
}

/// Uploads the request's files (or finds them in the dedup store) and translates the request.
async fn prepare(
    state: &AppState,
    request: &ChatCompletionRequest,
    upstream: &RequestContext,
) -> Result<(ChatPlan, Vec<crate::attachments::store::FileKey>), AppError> {
    let (resolved, keys) = state
        .attachments()
        .resolve(request, upstream)
        .await
        .map_err(AppError::Attachment)?;
    let plan = translate::chat_request(request, state.defaults(), &resolved)?;
    Ok((plan, keys))
}

/// Calls GigaChat and builds the answer (SSE or JSON), reporting the model, usage and upstream
/// time to `call`.
async fn serve(
    state: &AppState,
    plan: &ChatPlan,
    upstream: &RequestContext,
    ids: &ResponseIds,
    images: &ImageRewriter,
    call: &Call,
) -> Result<Response, AppError> {
    if plan.stream {
        let opened = streaming::respond(
            state.client(),
            plan,
            upstream,
            ids.clone(),
            images.clone(),
            call.clone(),
        )
        .await;
        return about_model(state, opened, &plan.upstream.model).await;
    }
    let answer = answer(state, plan, upstream, ids, images, call).await?;
    Ok(axum::Json(answer).into_response())
}

/// The whole (non-streamed) answer to `plan`, its generated images rewritten, reported to `call`.
pub(crate) async fn answer(
    state: &AppState,
    plan: &ChatPlan,
    upstream: &RequestContext,
    ids: &ResponseIds,
    images: &ImageRewriter,
    call: &Call,
) -> Result<openai::chat::ChatCompletion, AppError> {
    let mut answer = call.upstream(complete(state, plan, upstream, ids)).await?;
    call.served(&answer.model, answer.usage.as_ref().map(Tokens::from));
    // The pictures' futures (downloads) are boxed: rare, and room for them would otherwise be
    // carried by every handler while it waits on GigaChat.
    for choice in &mut answer.choices {
        if let Some(content) = choice.message.content.as_mut()
            && content.contains("<img")
        {
            *content = Box::pin(images.rewrite(content)).await;
        }
        if !choice.message.builtin_calls.is_empty() {
            Box::pin(images.show_drawn_in(&mut choice.message)).await;
        }
    }
    Ok(answer)
}

/// Calls GigaChat once per choice of `plan` and maps the answers back (stop sequences, tool calls,
/// output format); legacy completions are served by this too.
pub(crate) async fn complete(
    state: &AppState,
    plan: &ChatPlan,
    upstream: &RequestContext,
    ids: &ResponseIds,
) -> Result<openai::chat::ChatCompletion, AppError> {
    let calls = (0..plan.n).map(|_| state.client().chat(&plan.upstream, upstream));
    let answers = futures_util::future::try_join_all(calls).await;
    let answers: Vec<_> = about_model(state, answers, &plan.upstream.model)
        .await?
        .into_iter()
        .map(|answer| answer.data)
        .collect();
    translate::chat_response(
        &answers,
        ids,
        plan,
        state.client().settings().cached_prompt_tokens,
    )
    .map_err(AppError::InvalidOutput)
}

/// The answer to `plan` as a stream of `shape`'s events: another front door's stream on chat's
/// (a failure before the first byte is still an HTTP error about the model; a client that leaves
/// and stop sequences cancel the GigaChat call as in chat).
pub(crate) async fn stream_as<S: streaming::EventShape>(
    state: &AppState,
    plan: &ChatPlan,
    upstream: &RequestContext,
    ids: &ResponseIds,
    images: &ImageRewriter,
    shape: S,
    call: &Call,
) -> Result<Response, AppError> {
    let opened = streaming::respond_many(
        state.client(),
        std::slice::from_ref(plan),
        upstream,
        ids.clone(),
        images.clone(),
        shape,
        call.clone(),
    )
    .await;
    about_model(state, opened, &plan.upstream.model).await
}
