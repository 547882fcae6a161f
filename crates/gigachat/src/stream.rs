//! A streamed chat answer: SSE events decoded as they arrive, each parsed into a [`ChatChunk`]
//! (v1 events directly, v2 events through [`crate::v2::events`]), with a limit on the silence
//! between events.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::sync::OwnedSemaphorePermit;

use crate::client::ResponseMeta;
use crate::error::Error;
use crate::sse::{SseEvent, SseStream};
use crate::types::{ChatChunk, Contract};
use crate::v2::events::{Reader, Step};

type Events = Pin<Box<dyn Stream<Item = Result<SseEvent, Error>> + Send>>;

/// Chunks of a streamed chat answer, ending after GigaChat's `data: [DONE]` (v1) or its
/// `response.message.done` event (v2).
///
/// The first chunk has already arrived when this value exists, so an early upstream failure is an
/// ordinary error of the call. A stream that ends before its end marker yields one
/// [`Error::Protocol`]; a failure GigaChat reports inside the stream, one [`Error::InBand`].
pub struct ChatStream {
    meta: ResponseMeta,
    inner: Pin<Box<dyn Stream<Item = Result<ChatChunk, Error>> + Send>>,
    /// The call's span, ended with the stream (see [`ChatStream::span`]).
    span: tracing::Span,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("meta", &self.meta)
            .finish()
    }
}

impl ChatStream {
    /// The request and session ids GigaChat echoed.
    pub fn meta(&self) -> &ResponseMeta {
        &self.meta
    }

    /// The span of the GigaChat call this stream answers (disabled unless traces are exported):
    /// it lasts until the stream is dropped, and records the usage and a failure mid-stream.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The same stream, ending `span` when it ends.
    pub(crate) fn traced(mut self, span: tracing::Span) -> Self {
        self.span = span;
        self
    }
}

impl Stream for ChatStream {
    type Item = Result<ChatChunk, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // Entered while reading, so the exported span ends with the stream's last read.
        let _entered = this.span.enter();
        let next = this.inner.as_mut().poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(chunk))) if chunk.usage.is_some() => {
                crate::client::record_answer(&this.span, &chunk.model, chunk.usage.as_ref());
            }
            Poll::Ready(Some(Err(err))) => crate::client::record_failure(&this.span, err),
            _ => {}
        }
        next
    }
}

struct State {
    events: Events,
    idle_timeout: Duration,
    /// The answer is complete (or failed): nothing but `pending` is delivered any more.
    finished: bool,
    /// The body was read to its end after the answer completed.
    drained: bool,
    /// The v2 event reader; `None` on v1.
    v2: Option<Reader>,
    /// Chunks made from one event and not yet delivered.
    pending: VecDeque<ChatChunk>,
    /// Holds a `GIGACHAT_MAX_CONNECTIONS` slot until the stream is dropped.
    _permit: Option<OwnedSemaphorePermit>,
    /// The idle timer, reset at each wait for the network (see [`State::next_event`]).
    idle: Pin<Box<tokio::time::Sleep>>,
}

/// No event came for the idle timeout.
struct Silence;

impl State {
    /// The next chunk: `None` after the end marker, an error on silence, garbage or a cut stream.
    async fn next_chunk(&mut self) -> Option<Result<ChatChunk, Error>> {
        if let Some(chunk) = self.pending.pop_front() {
            return Some(Ok(chunk));
        }
        if self.finished {
            self.drain().await;
            return None;
        }
        loop {
            let event = match self.next_event().await {
                Err(Silence) => return self.fail(Error::Timeout(self.idle_timeout)),
                Ok(None) => {
                    self.drained = true;
                    return match &self.v2 {
                        None => self.fail(Error::Protocol(
                            "the stream ended before `data: [DONE]`".into(),
                        )),
                        Some(reader) if reader.finished() => {
                            self.finished = true;
                            None
                        }
                        Some(_) => self.fail(Error::Protocol(
                            "the stream ended before `response.message.done`".into(),
                        )),
                    };
                }
                Ok(Some(Err(err))) => return self.fail(err),
                Ok(Some(Ok(event))) => event,
            };
            let data = event.data.trim();
            if data.is_empty() {
                continue;
            }
            if let Some(reader) = &mut self.v2 {
                match reader.event(event.event.as_deref(), data) {
                    Err(err) => return self.fail(err),
                    Ok(Step::More(chunks)) => self.pending.extend(chunks),
                    Ok(Step::End(chunks)) => {
                        self.pending.extend(chunks);
                        self.finished = true;
                    }
                }
                match self.pending.pop_front() {
                    Some(chunk) => return Some(Ok(chunk)),
                    None if self.finished => {
                        self.drain().await;
                        return None;
                    }
                    None => continue,
                }
            }
            if data == "[DONE]" {
                self.finished = true;
                self.drain().await;
                return None;
            }
            return match ChatChunk::read(data) {
                Ok(chunk) => Some(Ok(chunk)),
                Err(err) => {
                    let shown: String = data.chars().take(120).collect();
                    self.fail(Error::Protocol(format!(
                        "unreadable stream event ({err}): {shown}"
                    )))
                }
            };
        }
    }

    /// Reads to the end of the body once the answer is complete, so the connection goes back to
    /// the pool.
    async fn drain(&mut self) {
        if self.drained {
            return;
        }
        self.drained = true;
        while let Ok(Some(Ok(_))) = self.next_event().await {}
    }

    /// The next SSE event, or `Err` after `idle_timeout` without one. One timer serves the whole
    /// stream: it is moved on only when a wait begins (an event already decoded needs none), so
    /// no timer is made and dropped per event.
    async fn next_event(&mut self) -> Result<Option<Result<SseEvent, Error>>, Silence> {
        let (events, idle, timeout) = (&mut self.events, &mut self.idle, self.idle_timeout);
        let mut armed = false;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(item) = events.poll_next_unpin(cx) {
                return Poll::Ready(Ok(item));
            }
            if !armed {
                armed = true;
                idle.as_mut().reset(tokio::time::Instant::now() + timeout);
            }
            idle.as_mut().poll(cx).map(|()| Err(Silence))
        })
        .await
    }

    fn fail(&mut self, error: Error) -> Option<Result<ChatChunk, Error>> {
        self.finished = true;
        self.drained = true;
        self.pending.clear();
        Some(Err(error))
    }
}

/// Checks the response is an event stream of `contract` and waits for its first chunk.
pub(crate) async fn open(
    response: reqwest::Response,
    contract: Contract,
    meta: ResponseMeta,
    idle_timeout: Duration,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<ChatStream, Error> {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("text/event-stream") {
        return Err(Error::Protocol(format!(
            "expected text/event-stream for a streamed answer, got {:?}",
            content_type
        )));
    }
    let bytes = response
        .bytes_stream()
        .map(move |chunk| chunk.map_err(|err| Error::transport(err, idle_timeout)));
    let mut state = State {
        events: Box::pin(SseStream::new(bytes)),
        idle_timeout,
        finished: false,
        drained: false,
        v2: (contract == Contract::V2).then(Reader::default),
        pending: VecDeque::new(),
        _permit: permit,
        idle: Box::pin(tokio::time::sleep(idle_timeout)),
    };
    let first = match state.next_chunk().await {
        Some(Err(err)) => return Err(err),
        other => other,
    };
    // Boxed, so each chunk moves a pointer in and out of the loop's future, not the whole state.
    let rest = futures_util::stream::unfold(Box::new(state), |mut state| async move {
        state.next_chunk().await.map(|item| (item, state))
    });
    let inner = futures_util::stream::iter(first).chain(rest);
    Ok(ChatStream {
        meta,
        inner: Box::pin(inner),
        span: tracing::Span::none(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader over these events, as `open` makes it.
    fn state(contract: Contract, events: &[(Option<&str>, &str)]) -> State {
        let events: Vec<Result<SseEvent, Error>> = events
            .iter()
            .map(|(name, data)| {
                Ok(SseEvent {
                    event: name.map(str::to_owned),
                    data: (*data).to_owned(),
                    ..SseEvent::default()
                })
            })
            .collect();
        State {
            events: Box::pin(futures_util::stream::iter(events)),
            idle_timeout: Duration::from_secs(1),
            finished: false,
            drained: false,
            v2: (contract == Contract::V2).then(Reader::default),
            pending: VecDeque::new(),
            _permit: None,
            idle: Box::pin(tokio::time::sleep(Duration::from_secs(1))),
        }
    }

    /// A v1 stream whose events come after `gaps` (one per event, then `[DONE]` at once).
    fn spaced(gaps: &[u64]) -> State {
        let chunk = r#"{"choices":[{"delta":{"content":"a"},"index":0}],"created":1,"model":"m","object":"chat.completion"}"#;
        let events = futures_util::stream::iter(gaps.to_vec())
            .then(move |gap| async move {
                tokio::time::sleep(Duration::from_millis(gap)).await;
                Ok(SseEvent {
                    data: chunk.to_owned(),
                    ..SseEvent::default()
                })
            })
            .chain(futures_util::stream::iter([Ok(SseEvent {
                data: "[DONE]".to_owned(),
                ..SseEvent::default()
            })]));
        let mut state = state(Contract::V1, &[]);
        state.events = Box::pin(events);
        state
    }

    #[tokio::test(start_paused = true)]
    async fn the_idle_limit_counts_from_each_wait_not_from_the_stream_start() {
        // 0.9 s between events, 3.6 s in all, under a 1 s limit: the one timer moves on each wait.
        let out = read_all(spaced(&[900, 900, 900, 900])).await;
        assert_eq!(out.len(), 4);
        assert!(out.iter().all(Result::is_ok), "{out:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silence_past_the_idle_limit_after_events_fails_the_stream() {
        let out = read_all(spaced(&[900, 900, 1100])).await;
        assert_eq!(out.len(), 3);
        assert!(out[..2].iter().all(Result::is_ok), "{out:?}");
        assert!(matches!(out[2], Err(Error::Timeout(_))), "{out:?}");
    }

    async fn read_all(mut state: State) -> Vec<Result<ChatChunk, Error>> {
        let mut out = Vec::new();
        while let Some(item) = state.next_chunk().await {
            out.push(item);
        }
        out
    }

    const DELTA: &str = r#"{"model":"m","created_at":1,"messages":[{"role":"assistant","content":[{"text":"hi"}]}]}"#;
    const DONE: &str = r#"{"model":"m","created_at":1,"finish_reason":"stop","usage":{"input_tokens":1,"output_tokens":1,"total_tokens":2}}"#;

    #[tokio::test]
    async fn a_v2_stream_ends_at_its_done_event_with_or_without_a_done_marker() {
        for tail in [&[][..], &[(None, "[DONE]")][..]] {
            let mut events = vec![
                (Some("response.message.delta"), DELTA),
                (Some("response.message.done"), DONE),
            ];
            events.extend_from_slice(tail);
            let items = read_all(state(Contract::V2, &events)).await;
            assert_eq!(items.len(), 2, "{items:?}");
            assert!(items.iter().all(Result::is_ok));
        }
    }

    #[tokio::test]
    async fn a_v2_stream_ending_before_its_done_event_is_a_protocol_error() {
        let items = read_all(state(
            Contract::V2,
            &[(Some("response.message.delta"), DELTA)],
        ))
        .await;
        let (last, delivered) = items.split_last().unwrap();
        assert_eq!(delivered.len(), 1);
        assert!(
            matches!(last, Err(Error::Protocol(said)) if said.contains("response.message.done")),
            "{last:?}"
        );
    }

    #[tokio::test]
    async fn v1_still_needs_its_done_marker() {
        let chunk = r#"{"choices":[{"delta":{"content":"hi"},"index":0,"finish_reason":"stop"}],"created":1,"model":"m","object":"chat.completion"}"#;
        let ended = read_all(state(Contract::V1, &[(None, chunk), (None, "[DONE]")])).await;
        assert_eq!(ended.len(), 1);
        assert!(ended[0].is_ok());
        let cut = read_all(state(Contract::V1, &[(None, chunk)])).await;
        assert!(
            matches!(cut.last(), Some(Err(Error::Protocol(_)))),
            "{cut:?}"
        );
    }
}
