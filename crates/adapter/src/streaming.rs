//! Streamed answers: `n` upstream streams opened (their first events awaited, so early failures are
//! ordinary HTTP errors), translated chunk by chunk, interleaved, and flushed as OpenAI SSE events.
//! Dropping the body (client gone) or a matched stop sequence drops the upstream stream, which
//! cancels the GigaChat call.

pub mod anthropic;
pub mod responses;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, SelectAll};
use futures_util::{FutureExt, Stream, StreamExt};
use gigachat::types::{ChatChunk, Usage};
use gigachat::{CachedPromptTokens, ChatStream, GigaChat, RequestContext};
use openai::chat::ChatCompletionChunk;
use translate::{ChatPlan, ResponseIds, StreamTranslator};

use crate::access::{Call, Tokens};
use crate::attachments::generated::ImageRewriter;
use crate::error::AppError;

/// What one choice's stream produces; `Finished` carries the index of the plan it belongs to and
/// the stop sequence that ended it, if one did.
enum Piece {
    Chunks(Vec<ChatCompletionChunk>),
    Finished(usize, Usage, Option<String>),
    Failed(AppError),
}

/// How a kind of stream writes its events (appending them to the bytes about to be sent): chat
/// chunks as they are, reshaped (legacy completions), or turned into the events of a stateful
/// protocol (Responses), which may also open the stream and close it its own way.
pub trait EventShape: Send + 'static {
    /// Appends what opens the stream, before the first chunk; `model` is the upstream model.
    /// Nothing by default.
    fn start(&mut self, model: &str, out: &mut BytesMut) {
        let _ = (model, out);
    }
    /// Appends the SSE event for one translated chunk, if it carries anything in this shape.
    fn chunk(&mut self, chunk: &ChatCompletionChunk, out: &mut BytesMut);
    /// Told that stop sequence `sequence` ended a choice (after its last chunk, before the end).
    /// Nothing by default: the finish reason `stop` says enough in OpenAI's shapes.
    fn stopped_at(&mut self, sequence: &str) {
        let _ = sequence;
    }
    /// Appends the SSE event of the final usage chunk (sent only when the client asked for it).
    fn usage(&self, ids: &ResponseIds, model: &str, usage: openai::chat::Usage, out: &mut BytesMut);
    /// Appends what ends a stream whose choices all finished, after the usage chunk; `usage` is
    /// the total whether or not the client asked for it. `[DONE]` by default.
    fn end(&mut self, usage: Option<openai::chat::Usage>, out: &mut BytesMut) {
        let _ = usage;
        out.extend_from_slice(openai::sse::DONE);
    }
    /// Appends what tells the client the stream failed after it started (nothing more follows).
    /// The OpenAI error envelope by default.
    fn failed(&mut self, error: &AppError, out: &mut BytesMut) {
        frame_into(out, &error.envelope());
    }
    /// Work that must be done before the frames holding what [`Self::end`] appended go out (a
    /// stored Response is written first, so a client that read the end can retrieve it at once).
    /// Nothing by default.
    fn before_end(&mut self) -> Option<futures_util::future::BoxFuture<'static, ()>> {
        None
    }
    /// How long the stream may stay silent (GigaChat thinking, or sending what this shape does
    /// not show) before [`Self::keep_alive`] writes something. Never by default.
    fn keep_alive_after(&self) -> Option<Duration> {
        None
    }
    /// Appends what keeps a silent stream alive. Nothing by default.
    fn keep_alive(&mut self, out: &mut BytesMut) {
        let _ = out;
    }
    /// The event that ends the stream when the server cuts it at its drain deadline (written
    /// outside the shape, so it cannot depend on what was sent). `None`: OpenAI's error envelope.
    fn cut_event(&self) -> Option<Bytes> {
        None
    }
}

/// The event that ends a stream cut at the drain deadline, when its shape has its own: carried in
/// the streamed answer's extensions to the connection that writes it.
#[derive(Debug, Clone)]
pub struct CutEvent(pub Bytes);

/// Chat completion chunks, unchanged (the opening they all repeat serialised once).
#[derive(Default)]
struct ChatEvents(openai::sse::ChunkFramer);

impl EventShape for ChatEvents {
    fn chunk(&mut self, chunk: &ChatCompletionChunk, out: &mut BytesMut) {
        log_unencoded(self.0.write(out, chunk));
    }

    fn usage(
        &self,
        ids: &ResponseIds,
        model: &str,
        usage: openai::chat::Usage,
        out: &mut BytesMut,
    ) {
        frame_into(out, &translate::usage_chunk(ids, model, usage));
    }
}

/// Opens the upstream streams and answers with an SSE body.
pub async fn respond(
    client: &GigaChat,
    plan: &ChatPlan,
    context: &RequestContext,
    ids: ResponseIds,
    images: ImageRewriter,
    exchange: Call,
) -> Result<Response, gigachat::Error> {
    respond_many(
        client,
        std::slice::from_ref(plan),
        context,
        ids,
        images,
        ChatEvents::default(),
        exchange,
    )
    .await
}

/// Like [`respond`] for several plans (one per prompt of a legacy completion), written in `shape`:
/// the `n` choices of each plan are indexed one after the other across plans, and the usage chunk
/// counts each plan's prompt once. The model served, the usage and the time spent on GigaChat
/// (from opening the streams to the body's end) go to `exchange` when the body ends or is dropped.
pub async fn respond_many<S: EventShape>(
    client: &GigaChat,
    plans: &[ChatPlan],
    context: &RequestContext,
    ids: ResponseIds,
    images: ImageRewriter,
    shape: S,
    exchange: Call,
) -> Result<Response, gigachat::Error> {
    let opened = Instant::now();
    let choices: Vec<usize> = plans
        .iter()
        .enumerate()
        .flat_map(|(group, plan)| std::iter::repeat_n(group, plan.n as usize))
        .collect();
    let (streams, firsts) = match open(client, plans, &choices, context).await {
        Ok(opened) => opened,
        Err(err) => {
            exchange.waited_upstream(opened.elapsed());
            return Err(err);
        }
    };
    let model = firsts
        .iter()
        .flatten()
        .map(|chunk| chunk.model.clone())
        .next()
        .or_else(|| plans.first().map(|plan| plan.upstream.model.clone()))
        .unwrap_or_default();
    let mut merged = Vec::with_capacity(choices.len());
    for (index, ((upstream, first), group)) in
        streams.into_iter().zip(firsts).zip(choices).enumerate()
    {
        let plan = &plans[group];
        let prompt_chars = plan
            .upstream
            .messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum();
        let translator = StreamTranslator::new(
            ids.clone(),
            model.clone(),
            u32::try_from(index).unwrap_or(u32::MAX),
            plan,
        );
        merged.push(
            choice(
                upstream,
                first,
                translator,
                (group, prompt_chars),
                images.clone(),
            )
            .boxed(),
        );
    }
    let cut_event = shape.cut_event();
    let state = Events {
        merged: Some(Choices::of(merged)),
        usages: Vec::new(),
        shape,
        started: false,
        ids,
        model,
        include_usage: plans.first().is_some_and(|plan| plan.include_usage),
        cached_prompt_tokens: client.settings().cached_prompt_tokens,
        total: None,
        exchange,
        opened,
        last_write: Instant::now(),
    };
    let body = events(state);
    let mut response = sse_response(Body::from_stream(
        body.map(Ok::<_, std::convert::Infallible>),
    ));
    if let Some(event) = cut_event {
        response.extensions_mut().insert(CutEvent(event));
    }
    Ok(response)
}

/// Opens one upstream stream per choice (`choices` names the plan of each) and takes each one's
/// first chunk.
async fn open(
    client: &GigaChat,
    plans: &[ChatPlan],
    choices: &[usize],
    context: &RequestContext,
) -> Result<(Vec<ChatStream>, Vec<Option<ChatChunk>>), gigachat::Error> {
    let opens = choices
        .iter()
        .map(|group| client.chat_stream(&plans[*group].upstream, context));
    let mut streams = futures_util::future::try_join_all(opens).await?;
    let mut firsts = Vec::with_capacity(streams.len());
    for upstream in &mut streams {
        // The first chunk is already buffered: `chat_stream` returns only after it arrived.
        firsts.push(upstream.next().await.transpose()?);
    }
    Ok((streams, firsts))
}

/// One choice of plan `group`: translated pieces until it finishes, then its usage. Ending drops
/// the upstream.
fn choice(
    upstream: ChatStream,
    first: Option<ChatChunk>,
    translator: StreamTranslator,
    (group, prompt_chars): (usize, usize),
    images: ImageRewriter,
) -> impl Stream<Item = Piece> + Send + 'static {
    struct State {
        upstream: Option<ChatStream>,
        first: Option<ChatChunk>,
        translator: StreamTranslator,
        images: ImageRewriter,
        /// Characters of pictures shown before text so far (citations move on by as many).
        shown_chars: u32,
        done: bool,
    }
    let state = State {
        upstream: Some(upstream),
        first,
        translator,
        images,
        shown_chars: 0,
        done: false,
    };
    // Boxed, so each piece moves a pointer in and out of the loop's future, not the whole state.
    stream::unfold(Box::new(state), move |mut state| async move {
        loop {
            if state.done {
                return None;
            }
            if state.translator.is_finished() {
                // A natural end: the answer is complete, so GigaChat's `[DONE]` and the body's end
                // are read in the background (the connection is then reused) rather than holding
                // up the client's last bytes. A stop sequence: drop the stream now, cancelling
                // the call.
                if let Some(upstream) = state.upstream.take()
                    && !state.translator.cut_short()
                {
                    tokio::spawn(drain(upstream));
                }
                state.done = true;
                if let Some(problem) = state.translator.output_error() {
                    return Some((Piece::Failed(AppError::InvalidOutput(problem)), state));
                }
                let usage = state.translator.final_usage(prompt_chars);
                let stop_sequence = state.translator.stop_sequence().map(str::to_owned);
                return Some((Piece::Finished(group, usage, stop_sequence), state));
            }
            let next = match state.first.take() {
                Some(first) => Some(Ok(first)),
                None => match state.upstream.as_mut() {
                    Some(upstream) => upstream.next().await,
                    None => None,
                },
            };
            let mut chunks = match next {
                Some(Ok(chunk)) => state.translator.push(chunk),
                Some(Err(err)) => {
                    state.done = true;
                    state.upstream = None;
                    return Some((Piece::Failed(AppError::Upstream(err)), state));
                }
                None => state.translator.end(),
            };
            for chunk in &mut chunks {
                for choice in &mut chunk.choices {
                    // The pictures' futures (downloads) are boxed: rare, and large to carry
                    // inline through every piece.
                    if let Some(text) = choice.delta.content.as_mut()
                        && text.contains("<img")
                    {
                        *text = Box::pin(state.images.rewrite(text)).await;
                    }
                    let delta = &mut choice.delta;
                    if !delta.builtin_calls.is_empty() {
                        let shown = Box::pin(
                            state
                                .images
                                .show_drawn(&mut delta.builtin_calls, &mut delta.content),
                        )
                        .await;
                        state.shown_chars = state.shown_chars.saturating_add(shown);
                    }
                    for annotation in &mut delta.annotations {
                        annotation.shift(state.shown_chars);
                    }
                }
            }
            if !chunks.is_empty() {
                return Some((Piece::Chunks(chunks), state));
            }
        }
    })
}

/// Reads what is left of a finished upstream stream, so its connection can serve the next call.
async fn drain(mut upstream: ChatStream) {
    while let Some(Ok(_)) = upstream.next().await {}
}

/// The SSE body: what opens the stream in its shape, chunks as they come, then the usage chunk
/// (when asked) and the shape's end (`[DONE]`); or, after a failure mid-stream, the shape's
/// failure event (one error event) and the end. Every event is written as soon as it exists;
/// events that are already available together (GigaChat often sends several in one TCP segment,
/// and its connection hands them over one per turn of the event loop) go out in one write. A
/// shape with a keep-alive writes it whenever nothing was written for that long.
fn events<S: EventShape>(state: Events<S>) -> impl Stream<Item = Bytes> + Send + 'static {
    stream::unfold(state, |mut state| async move {
        let mut frames = BytesMut::new();
        if !state.started {
            state.started = true;
            state.shape.start(&state.model, &mut frames);
        }
        let first = match state.shape.keep_alive_after() {
            None => state.merged.as_mut()?.next().await,
            Some(silence) => {
                let next = state.merged.as_mut()?.next();
                // `next` is cancel-safe: a piece not taken now is taken on the next call.
                match tokio::time::timeout_at((state.last_write + silence).into(), next).await {
                    Ok(piece) => piece,
                    Err(_) => {
                        state.shape.keep_alive(&mut frames);
                        state.last_write = Instant::now();
                        return Some((frames.freeze(), state));
                    }
                }
            }
        };
        state.take(first, &mut frames);
        loop {
            while let Some(merged) = state.merged.as_mut() {
                match merged.next().now_or_never() {
                    Some(piece) => state.take(piece, &mut frames),
                    None => break,
                }
            }
            if state.merged.is_none() || frames.len() >= BATCH_BYTES {
                break;
            }
            match next_after_others_ran(&mut state.merged).await {
                Some(piece) => state.take(piece, &mut frames),
                None => break,
            }
        }
        if let Some(work) = state.shape.before_end() {
            work.await;
        }
        if !frames.is_empty() && state.shape.keep_alive_after().is_some() {
            state.last_write = Instant::now();
        }
        Some((frames.freeze(), state))
    })
    .filter(|frames| std::future::ready(!frames.is_empty()))
}

/// Bytes of events gathered into one write at most, before it goes out whatever follows.
const BATCH_BYTES: usize = 16 * 1024;

/// How many turns of the event loop the next piece may take to be ready before what is gathered
/// is written: GigaChat's HTTP/1 connection hands its body over one chunk per turn, and behind
/// the emulator's plain-HTTP streams one turn never brought the next event while two always did.
const TURNS_FOR_NEXT_PIECE: usize = 2;

/// The next piece if it arrives within [`TURNS_FOR_NEXT_PIECE`] turns of the event loop (the
/// tasks reading the upstream connections run meanwhile), or `None` when it did not.
async fn next_after_others_ran(merged: &mut Option<Choices>) -> Option<Option<Piece>> {
    for _ in 0..TURNS_FOR_NEXT_PIECE {
        let_others_run().await;
        if let Some(piece) = merged.as_mut()?.next().now_or_never() {
            return Some(piece);
        }
    }
    None
}

/// Returns after every task already woken on this event loop ran once: this task wakes itself
/// and waits for its turn at the back of the queue.
async fn let_others_run() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
}

/// The pieces of every choice as they come. One choice (the usual case) is polled directly:
/// merging costs an allocation and a waker indirection per poll that a single stream does not need.
enum Choices {
    One(BoxStream<'static, Piece>),
    Many(SelectAll<BoxStream<'static, Piece>>),
}

impl Choices {
    /// The choices' streams, in index order.
    fn of(mut streams: Vec<BoxStream<'static, Piece>>) -> Self {
        match streams.pop() {
            Some(only) if streams.is_empty() => Self::One(only),
            last => Self::Many(streams.into_iter().chain(last).collect()),
        }
    }
}

impl Stream for Choices {
    type Item = Piece;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Piece>> {
        match self.get_mut() {
            Self::One(stream) => stream.poll_next_unpin(cx),
            Self::Many(streams) => streams.poll_next_unpin(cx),
        }
    }
}

/// The state of an SSE body being written.
struct Events<S> {
    merged: Option<Choices>,
    usages: Vec<(usize, Usage)>,
    shape: S,
    /// Whether the shape has written what opens the stream.
    started: bool,
    ids: ResponseIds,
    model: String,
    /// Whether the client asked for the usage chunk.
    include_usage: bool,
    /// How GigaChat counts cached prompt tokens.
    cached_prompt_tokens: CachedPromptTokens,
    /// The usage of every choice, once all have finished.
    total: Option<openai::chat::Usage>,
    /// The request's record, told the model, usage and upstream time when the body goes.
    exchange: Call,
    /// When the upstream streams were opened.
    opened: Instant,
    /// When bytes were last written (kept for a shape with a keep-alive).
    last_write: Instant,
}

impl<S> Drop for Events<S> {
    fn drop(&mut self) {
        self.exchange.waited_upstream(self.opened.elapsed());
        self.exchange
            .served(&self.model, self.total.as_ref().map(Tokens::from));
    }
}

impl<S: EventShape> Events<S> {
    /// Adds what `piece` means to `frames`; the end of the choices (`None`) or a failure ends the body.
    fn take(&mut self, piece: Option<Piece>, frames: &mut BytesMut) {
        match piece {
            Some(Piece::Chunks(chunks)) => {
                for chunk in &chunks {
                    self.shape.chunk(chunk, frames);
                }
            }
            Some(Piece::Finished(group, usage, stop_sequence)) => {
                if let Some(sequence) = stop_sequence {
                    self.shape.stopped_at(&sequence);
                }
                self.usages.push((group, usage));
            }
            Some(Piece::Failed(error)) => {
                self.merged = None;
                // Written while the body is sent, outside the request's span: the id is named here.
                tracing::warn!(
                    request_id = self.exchange.id(),
                    label = error.label(),
                    "stream failed after it started"
                );
                self.exchange.failed(error.label());
                self.shape.failed(&error, frames);
            }
            None => {
                self.merged = None;
                self.total = usage_of_groups(&mut self.usages, self.cached_prompt_tokens);
                if self.include_usage
                    && let Some(usage) = self.total
                {
                    self.shape.usage(&self.ids, &self.model, usage, frames);
                }
                self.shape.end(self.total, frames);
            }
        }
    }
}

/// Each plan's usage (its prompt counted once, its choices' completions summed), added up.
fn usage_of_groups(
    usages: &mut [(usize, Usage)],
    cached_prompt_tokens: CachedPromptTokens,
) -> Option<openai::chat::Usage> {
    usages.sort_by_key(|(group, _)| *group);
    translate::completions::total_usage(usages.chunk_by(|a, b| a.0 == b.0).filter_map(|group| {
        translate::combined_usage(group.iter().map(|(_, usage)| usage), cached_prompt_tokens)
    }))
}

/// Appends one SSE event for `payload` to `out` (nothing, logged, if it cannot be encoded).
pub fn frame_into<T: serde::Serialize>(out: &mut BytesMut, payload: &T) {
    log_unencoded(openai::sse::write_event(out, payload));
}

/// Logs an event that could not be encoded (its writer left nothing of it behind).
pub fn log_unencoded(written: Result<(), serde_json::Error>) {
    if let Err(err) = written {
        tracing::error!(%err, "could not encode a stream event");
    }
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
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    response
}
