//! Streamed answers: `n` upstream streams opened (their first events awaited, so early failures are
//! ordinary HTTP errors), translated chunk by chunk, interleaved, and flushed as OpenAI SSE events.
//! Dropping the body (client gone) or a matched stop sequence drops the upstream stream, which
//! cancels the GigaChat call.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, SelectAll};
use futures_util::{Stream, StreamExt};
use gigachat::types::{ChatChunk, Usage};
use gigachat::{ChatStream, GigaChat, RequestContext};
use openai::chat::ChatCompletionChunk;
use translate::{ChatPlan, ResponseIds, StreamTranslator};

use crate::attachments::generated::ImageRewriter;
use crate::error::AppError;

/// What one choice's stream produces.
enum Piece {
    Chunks(Vec<ChatCompletionChunk>),
    Finished(Usage),
    Failed(AppError),
}

/// Opens the upstream streams and answers with an SSE body.
pub async fn respond(
    client: &GigaChat,
    plan: &ChatPlan,
    context: &RequestContext,
    ids: ResponseIds,
    images: ImageRewriter,
) -> Result<Response, gigachat::Error> {
    let opens = (0..plan.n).map(|_| client.chat_stream(&plan.upstream, context));
    let mut streams = futures_util::future::try_join_all(opens).await?;
    let mut firsts = Vec::with_capacity(streams.len());
    for upstream in &mut streams {
        // The first chunk is already buffered: `chat_stream` returns only after it arrived.
        firsts.push(upstream.next().await.transpose()?);
    }
    let model = firsts
        .iter()
        .flatten()
        .map(|chunk| chunk.model.clone())
        .next()
        .unwrap_or_else(|| plan.upstream.model.clone());
    let prompt_chars = plan
        .upstream
        .messages
        .iter()
        .map(|m| m.content.chars().count())
        .sum();
    let mut merged: SelectAll<BoxStream<'static, Piece>> = SelectAll::new();
    for (index, (upstream, first)) in streams.into_iter().zip(firsts).enumerate() {
        let translator = StreamTranslator::new(
            ids.clone(),
            model.clone(),
            u32::try_from(index).unwrap_or(u32::MAX),
            plan,
        );
        merged.push(choice(upstream, first, translator, prompt_chars, images.clone()).boxed());
    }
    let body = events(merged, plan.include_usage, ids, model);
    Ok(sse_response(Body::from_stream(
        body.map(Ok::<_, std::convert::Infallible>),
    )))
}

/// One choice: translated pieces until it finishes, then its usage. Ending drops the upstream.
fn choice(
    upstream: ChatStream,
    first: Option<ChatChunk>,
    translator: StreamTranslator,
    prompt_chars: usize,
    images: ImageRewriter,
) -> impl Stream<Item = Piece> + Send + 'static {
    struct State {
        upstream: Option<ChatStream>,
        first: Option<ChatChunk>,
        translator: StreamTranslator,
        done: bool,
    }
    let state = State {
        upstream: Some(upstream),
        first,
        translator,
        done: false,
    };
    stream::unfold(state, move |mut state| {
        let images = images.clone();
        async move {
            loop {
                if state.done {
                    return None;
                }
                if state.translator.is_finished() {
                    state.upstream = None;
                    state.done = true;
                    if let Some(problem) = state.translator.output_error() {
                        return Some((Piece::Failed(AppError::InvalidOutput(problem)), state));
                    }
                    let usage = state.translator.final_usage(prompt_chars);
                    return Some((Piece::Finished(usage), state));
                }
                let next = match state.first.take() {
                    Some(first) => Some(Ok(first)),
                    None => match state.upstream.as_mut() {
                        Some(upstream) => upstream.next().await,
                        None => None,
                    },
                };
                let mut chunks = match next {
                    Some(Ok(chunk)) => state.translator.push(&chunk),
                    Some(Err(err)) => {
                        state.done = true;
                        state.upstream = None;
                        return Some((Piece::Failed(AppError::Upstream(err)), state));
                    }
                    None => state.translator.end(),
                };
                for chunk in &mut chunks {
                    for choice in &mut chunk.choices {
                        if let Some(text) = choice.delta.content.as_mut()
                            && text.contains("<img")
                        {
                            *text = images.rewrite(text).await;
                        }
                    }
                }
                if !chunks.is_empty() {
                    return Some((Piece::Chunks(chunks), state));
                }
            }
        }
    })
}

/// The SSE body: chunks as they come, then the usage chunk (when asked) and `[DONE]`; or, after a
/// failure mid-stream, one error event and the end.
fn events(
    merged: SelectAll<BoxStream<'static, Piece>>,
    include_usage: bool,
    ids: ResponseIds,
    model: String,
) -> impl Stream<Item = Bytes> + Send + 'static {
    struct State {
        merged: Option<SelectAll<BoxStream<'static, Piece>>>,
        usages: Vec<Usage>,
    }
    let state = State {
        merged: Some(merged),
        usages: Vec::new(),
    };
    stream::unfold(state, move |mut state| {
        let ids = ids.clone();
        let model = model.clone();
        async move {
            let merged = state.merged.as_mut()?;
            loop {
                match merged.next().await {
                    Some(Piece::Chunks(chunks)) => {
                        let mut frames = BytesMut::new();
                        for chunk in &chunks {
                            frames.extend_from_slice(&frame(chunk));
                        }
                        return Some((frames.freeze(), state));
                    }
                    Some(Piece::Finished(usage)) => state.usages.push(usage),
                    Some(Piece::Failed(error)) => {
                        state.merged = None;
                        tracing::warn!(label = error.label(), "stream failed after it started");
                        return Some((frame(&error.envelope()), state));
                    }
                    None => {
                        state.merged = None;
                        let mut tail = BytesMut::new();
                        if include_usage
                            && let Some(usage) = translate::combined_usage(&state.usages)
                        {
                            tail.extend_from_slice(&frame(&translate::usage_chunk(
                                &ids, &model, usage,
                            )));
                        }
                        tail.extend_from_slice(openai::sse::DONE);
                        return Some((tail.freeze(), state));
                    }
                }
            }
        }
    })
}

fn frame<T: serde::Serialize>(payload: &T) -> Bytes {
    openai::sse::event(payload).unwrap_or_else(|err| {
        tracing::error!(%err, "could not encode a stream event");
        Bytes::new()
    })
}

fn sse_response(body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
