//! The Responses stream shape: the chat chunks of an answer written as Responses events
//! (`response.created` first, `response.completed` / `response.incomplete` at the end,
//! `response.failed` when the stream fails after it started; no `[DONE]`).

use bytes::BytesMut;
use futures_util::future::BoxFuture;
use openai::chat::{ChatCompletionChunk, Usage};
use openai::responses::events::{EventKind, StreamEvent};
use openai::responses::framer::EventFramer;
use openai::responses::response::Response;
use translate::ResponseIds;
use translate::responses::AnswerPlan;
use translate::responses::stream::ResponseEvents;

use super::{EventShape, log_unencoded};
use crate::context;
use crate::error::AppError;

/// What to do with the finished (completed or incomplete) Response before its last event goes
/// out: store it.
pub type Finished = Box<dyn FnOnce(Response) -> BoxFuture<'static, ()> + Send>;

/// Writes a streamed Response.
pub struct ResponsesShape {
    converter: ResponseEvents,
    /// Events made but not yet written (kept to reuse its allocation).
    pending: Vec<StreamEvent>,
    /// Writes them (a text delta's opening once per text part).
    framer: EventFramer,
    /// Given the finished Response, if it is to be stored.
    finished: Option<Finished>,
    /// The work [`Self::finished`] started, until the stream's end goes out.
    finishing: Option<BoxFuture<'static, ()>>,
}

impl ResponsesShape {
    /// The shape of the answer to `plan`.
    pub fn new(plan: AnswerPlan) -> Self {
        Self {
            converter: ResponseEvents::new(plan),
            pending: Vec::new(),
            framer: EventFramer::default(),
            finished: None,
            finishing: None,
        }
    }

    /// The same shape, giving the finished Response to `finished` (not a failed one).
    pub fn on_finished(self, finished: Option<Finished>) -> Self {
        Self { finished, ..self }
    }

    /// Writes the pending events.
    fn write(&mut self, out: &mut BytesMut) {
        for event in self.pending.drain(..) {
            log_unencoded(self.framer.write(out, &event));
        }
    }
}

impl EventShape for ResponsesShape {
    fn start(&mut self, model: &str, out: &mut BytesMut) {
        self.converter.start(model, &mut self.pending);
        self.write(out);
    }

    fn chunk(&mut self, chunk: &ChatCompletionChunk, out: &mut BytesMut) {
        if let Some((text, place)) = self.converter.push_text(chunk) {
            log_unencoded(self.framer.write_text_delta(out, place, text));
            return;
        }
        self.converter.push(chunk, &mut self.pending);
        self.write(out);
    }

    /// Nothing: the usage is part of `response.completed`.
    fn usage(&self, _: &ResponseIds, _: &str, _: Usage, _: &mut BytesMut) {}

    fn end(&mut self, usage: Option<Usage>, out: &mut BytesMut) {
        self.converter
            .finish(usage, context::unix_now(), &mut self.pending);
        let response = self.pending.iter().find_map(|event| match &event.kind {
            EventKind::Completed { response } | EventKind::Incomplete { response } => {
                Some(response)
            }
            _ => None,
        });
        if let (Some(finished), Some(response)) = (self.finished.take(), response) {
            self.finishing = Some(finished(Response::clone(response)));
        }
        self.write(out);
    }

    fn before_end(&mut self) -> Option<BoxFuture<'static, ()>> {
        self.finishing.take()
    }

    fn failed(&mut self, error: &AppError, out: &mut BytesMut) {
        let message = error.envelope().error.message;
        self.converter
            .fail(error.should_retry(), message, &mut self.pending);
        self.write(out);
    }
}
