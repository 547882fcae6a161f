//! The Responses stream shape: the chat chunks of an answer written as Responses events
//! (`response.created` first, `response.completed` / `response.incomplete` at the end,
//! `response.failed` when the stream fails after it started; no `[DONE]`).

use bytes::BytesMut;
use openai::chat::{ChatCompletionChunk, Usage};
use openai::responses::events::StreamEvent;
use translate::ResponseIds;
use translate::responses::ResponsesPlan;
use translate::responses::stream::ResponseEvents;

use super::EventShape;
use crate::context;
use crate::error::AppError;

/// Writes a streamed Response.
pub struct ResponsesShape {
    converter: ResponseEvents,
    /// Events made but not yet written (kept to reuse its allocation).
    pending: Vec<StreamEvent>,
}

impl ResponsesShape {
    /// The shape of the answer to `plan`.
    pub fn new(plan: ResponsesPlan) -> Self {
        Self {
            converter: ResponseEvents::new(plan),
            pending: Vec::new(),
        }
    }

    /// Writes the pending events.
    fn write(&mut self, out: &mut BytesMut) {
        for event in self.pending.drain(..) {
            if let Err(err) = event.write_sse(out) {
                tracing::error!(%err, "could not encode a stream event");
            }
        }
    }
}

impl EventShape for ResponsesShape {
    fn start(&mut self, model: &str, out: &mut BytesMut) {
        self.converter.start(model, &mut self.pending);
        self.write(out);
    }

    fn chunk(&mut self, chunk: &ChatCompletionChunk, out: &mut BytesMut) {
        self.converter.push(chunk, &mut self.pending);
        self.write(out);
    }

    /// Nothing: the usage is part of `response.completed`.
    fn usage(&self, _: &ResponseIds, _: &str, _: Usage, _: &mut BytesMut) {}

    fn end(&mut self, usage: Option<Usage>, out: &mut BytesMut) {
        self.converter
            .finish(usage, context::unix_now(), &mut self.pending);
        self.write(out);
    }

    fn failed(&mut self, error: &AppError, out: &mut BytesMut) {
        let message = error.envelope().error.message;
        self.converter
            .fail(error.should_retry(), message, &mut self.pending);
        self.write(out);
    }
}
