//! The Anthropic stream shape: the chat chunks of an answer written as Anthropic's Messages
//! events (`message_start` first, `message_delta` and `message_stop` at the end, one `error`
//! event when the stream fails after it started; no `[DONE]`), with a `ping` whenever GigaChat
//! stays silent for a while.

use std::time::Duration;

use anthropic::stream::StreamEvent;
use bytes::{Bytes, BytesMut};
use openai::chat::{ChatCompletionChunk, Usage};
use translate::ResponseIds;
use translate::anthropic::stream::MessageEvents;

use super::{EventShape, log_unencoded};
use crate::error::AppError;

/// Writes a streamed message.
pub struct AnthropicShape {
    converter: MessageEvents,
    /// Events made but not yet written (kept to reuse its allocation).
    pending: Vec<StreamEvent>,
    /// How long the stream may stay silent before a `ping`.
    ping_after: Duration,
    /// The request's id, named in an `error` event.
    request_id: String,
}

impl AnthropicShape {
    /// The shape of message `id` (`msg_…`) answering request `request_id`, pinging after
    /// `ping_after` of silence.
    pub fn new(id: String, request_id: String, ping_after: Duration) -> Self {
        Self {
            converter: MessageEvents::new(id),
            pending: Vec::new(),
            ping_after,
            request_id,
        }
    }

    /// The same shape, showing a web search as run with `query` (see
    /// [`translate::anthropic::search_query`]).
    pub fn with_search_query(mut self, query: String) -> Self {
        self.converter = self.converter.with_search_query(query);
        self
    }

    /// Writes the pending events.
    fn write(&mut self, out: &mut BytesMut) {
        for event in self.pending.drain(..) {
            log_unencoded(event.write_sse(out));
        }
    }
}

impl EventShape for AnthropicShape {
    fn start(&mut self, model: &str, out: &mut BytesMut) {
        self.converter.start(model, &mut self.pending);
        self.write(out);
    }

    fn chunk(&mut self, chunk: &ChatCompletionChunk, out: &mut BytesMut) {
        self.converter.push(chunk, &mut self.pending);
        self.write(out);
    }

    fn stopped_at(&mut self, sequence: &str) {
        self.converter.stopped_at(sequence);
    }

    /// Nothing: the usage is part of `message_delta`.
    fn usage(&self, _: &ResponseIds, _: &str, _: Usage, _: &mut BytesMut) {}

    fn end(&mut self, usage: Option<Usage>, out: &mut BytesMut) {
        self.converter.finish(usage.as_ref(), &mut self.pending);
        self.write(out);
    }

    fn failed(&mut self, error: &AppError, out: &mut BytesMut) {
        let envelope = error.anthropic().envelope(Some(self.request_id.clone()));
        self.converter.fail(envelope, &mut self.pending);
        self.write(out);
    }

    fn keep_alive_after(&self) -> Option<Duration> {
        Some(self.ping_after)
    }

    fn keep_alive(&mut self, out: &mut BytesMut) {
        log_unencoded(StreamEvent::Ping.write_sse(out));
    }

    /// An `error` event (`api_error`) saying the adapter is shutting down.
    fn cut_event(&self) -> Option<Bytes> {
        let envelope = AppError::ShuttingDown
            .anthropic()
            .envelope(Some(self.request_id.clone()));
        let mut out = BytesMut::new();
        log_unencoded(StreamEvent::error(envelope).write_sse(&mut out));
        Some(out.freeze())
    }
}
