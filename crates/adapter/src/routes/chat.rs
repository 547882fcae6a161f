//! `POST /v1/chat/completions`, streaming and not: parse → attach files → translate → call → translate back.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gigachat::RequestContext;
use openai::chat::ChatCompletionRequest;
use translate::{ChatPlan, ResponseIds};

use crate::attachments::generated::ImageRewriter;
use crate::error::AppError;
use crate::state::AppState;
use crate::{body, context, streaming};

/// Answers a chat completion request.
pub async fn chat_completions(
    State(state): State<AppState>,
    body::JsonCall {
        headers,
        body: payload,
    }: body::JsonCall,
) -> Result<Response, AppError> {
    let request: ChatCompletionRequest =
        body::parse(payload, &headers, state.max_request_bytes()).await?;
    let request_id = context::request_id(&headers);
    let session = translate::session_id(&request, context::header(&headers, "x-session-id"));
    let upstream = context::upstream(&headers, &request_id, session);
    let ids = ResponseIds {
        id: context::response_id("chatcmpl"),
        created: context::unix_now(),
    };
    let images = state.image_rewriter(upstream.clone());
    let (plan, keys) = prepare(&state, &request, &upstream).await?;
    let result = match serve(&state, &plan, &upstream, &ids, &images).await {
        // GigaChat forgot a file we had cached the id of: upload again, try once more.
        Err(AppError::Upstream(err)) if !keys.is_empty() && is_stale_file(&err) => {
            tracing::info!("GigaChat no longer knows a cached file id; uploading again");
            state.attachments().forget(&keys).await;
            let (plan, _) = prepare(&state, &request, &upstream).await?;
            serve(&state, &plan, &upstream, &ids, &images).await
        }
        other => other,
    };
    let mut response = result?;
    context::tag_response(&mut response, &request_id);
    Ok(response)
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

/// Calls GigaChat and builds the answer (SSE or JSON).
async fn serve(
    state: &AppState,
    plan: &ChatPlan,
    upstream: &RequestContext,
    ids: &ResponseIds,
    images: &ImageRewriter,
) -> Result<Response, AppError> {
    let model = &plan.upstream.model;
    if plan.stream {
        return streaming::respond(state.client(), plan, upstream, ids.clone(), images.clone())
            .await
            .map_err(|err| unknown_model(err, model));
    }
    let mut answer = complete(state, plan, upstream, ids).await?;
    for choice in &mut answer.choices {
        if let Some(content) = choice.message.content.as_mut()
            && content.contains("<img")
        {
            *content = images.rewrite(content).await;
        }
    }
    Ok(axum::Json(answer).into_response())
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
    let answers: Vec<_> = futures_util::future::try_join_all(calls)
        .await
        .map_err(|err| unknown_model(err, &plan.upstream.model))?
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

/// GigaChat rejected an attachment id it does not know (any more).
fn is_stale_file(err: &gigachat::Error) -> bool {
    let gigachat::Error::Api(api) = err else {
        return false;
    };
    let message = api.message.to_lowercase();
    matches!(api.status, 400 | 404 | 422)
        && (message.contains("file") || message.contains("attachment"))
        && ["not found", "unknown", "does not exist", "not exist"]
            .iter()
            .any(|needle| message.contains(needle))
}

/// GigaChat's 404 on a model call means the model is unknown; say which one.
pub(crate) fn unknown_model(err: gigachat::Error, model: &str) -> AppError {
    if err.status() == Some(404) && !is_stale_file(&err) {
        AppError::ModelNotFound(model.to_owned())
    } else {
        AppError::Upstream(err)
    }
}
