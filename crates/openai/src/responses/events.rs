//! The events of a streamed Response (`stream: true` on `POST /v1/responses`), each framed as
//! `event: <type>` + `data: <json>` with its `type` and `sequence_number`, every field the
//! `ResponseStreamEvent` schemas require present (`logprobs: []` on text events, `name` on
//! `function_call_arguments.done`).

use std::sync::Arc;

use bytes::BytesMut;
use serde::Serialize;

use super::SummaryText;
use super::response::{OutputContent, OutputItem, Response};

/// One event of a streamed Response: its kind and fields, and its place in the stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamEvent {
    /// What happened (serialized as `type` plus the kind's own fields).
    #[serde(flatten)]
    pub kind: EventKind,
    /// The event's position in the stream: 0, 1, 2, …
    pub sequence_number: u64,
}

/// Writes a shared Response as the Response itself.
fn shared_response<S: serde::Serializer>(
    response: &Arc<Response>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    response.as_ref().serialize(serializer)
}

/// The kinds of stream event the gateway sends, named by their `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum EventKind {
    /// The Response exists (`status: in_progress`, no output yet).
    #[serde(rename = "response.created")]
    Created {
        /// The Response as it starts (one copy shared by `response.created` and
        /// `response.in_progress`).
        #[serde(serialize_with = "shared_response")]
        response: Arc<Response>,
    },
    /// The Response is being generated.
    #[serde(rename = "response.in_progress")]
    InProgress {
        /// The Response as it starts (one copy shared by `response.created` and
        /// `response.in_progress`).
        #[serde(serialize_with = "shared_response")]
        response: Arc<Response>,
    },
    /// A new output item starts (before any delta of it).
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        /// Its index in `output`.
        output_index: u32,
        /// The item as it starts (empty text, empty arguments, `status: in_progress`).
        item: OutputItem,
    },
    /// A content part of a message starts.
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded {
        /// The message's id.
        item_id: String,
        /// The message's index in `output`.
        output_index: u32,
        /// The part's index in the message's `content`.
        content_index: u32,
        /// The part as it starts (empty text).
        part: OutputContent,
    },
    /// More text of an `output_text` part.
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        /// The message's id.
        item_id: String,
        /// The message's index in `output`.
        output_index: u32,
        /// The part's index in the message's `content`.
        content_index: u32,
        /// The new text.
        delta: String,
        /// Log probabilities (never computed: empty, but required).
        logprobs: Vec<serde_json::Value>,
    },
    /// An `output_text` part is complete.
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        /// The message's id.
        item_id: String,
        /// The message's index in `output`.
        output_index: u32,
        /// The part's index in the message's `content`.
        content_index: u32,
        /// The whole text.
        #[serde(serialize_with = "json_text::serialize")]
        text: String,
        /// Log probabilities (never computed: empty, but required).
        logprobs: Vec<serde_json::Value>,
    },
    /// A content part of a message is complete.
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        /// The message's id.
        item_id: String,
        /// The message's index in `output`.
        output_index: u32,
        /// The part's index in the message's `content`.
        content_index: u32,
        /// The whole part.
        part: OutputContent,
    },
    /// More arguments of a function call.
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        /// The call item's id.
        item_id: String,
        /// The call's index in `output`.
        output_index: u32,
        /// The new piece of the JSON arguments.
        delta: String,
    },
    /// A function call's arguments are complete.
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        /// The call item's id.
        item_id: String,
        /// The function called.
        name: String,
        /// The call's index in `output`.
        output_index: u32,
        /// The whole JSON arguments.
        arguments: String,
    },
    /// More input of a custom tool call.
    #[serde(rename = "response.custom_tool_call_input.delta")]
    CustomToolCallInputDelta {
        /// The call item's id.
        item_id: String,
        /// The call's index in `output`.
        output_index: u32,
        /// The new piece of the input.
        delta: String,
    },
    /// A custom tool call's input is complete.
    #[serde(rename = "response.custom_tool_call_input.done")]
    CustomToolCallInputDone {
        /// The call item's id.
        item_id: String,
        /// The call's index in `output`.
        output_index: u32,
        /// The whole input.
        input: String,
    },
    /// A summary part of a reasoning item starts.
    #[serde(rename = "response.reasoning_summary_part.added")]
    ReasoningSummaryPartAdded {
        /// The reasoning item's id.
        item_id: String,
        /// The reasoning item's index in `output`.
        output_index: u32,
        /// The part's index in the item's `summary`.
        summary_index: u32,
        /// The part as it starts (empty text).
        part: SummaryText,
    },
    /// More text of a reasoning summary part.
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta {
        /// The reasoning item's id.
        item_id: String,
        /// The reasoning item's index in `output`.
        output_index: u32,
        /// The part's index in the item's `summary`.
        summary_index: u32,
        /// The new text.
        delta: String,
    },
    /// A reasoning summary part's text is complete.
    #[serde(rename = "response.reasoning_summary_text.done")]
    ReasoningSummaryTextDone {
        /// The reasoning item's id.
        item_id: String,
        /// The reasoning item's index in `output`.
        output_index: u32,
        /// The part's index in the item's `summary`.
        summary_index: u32,
        /// The whole text.
        text: String,
    },
    /// A reasoning summary part is complete.
    #[serde(rename = "response.reasoning_summary_part.done")]
    ReasoningSummaryPartDone {
        /// The reasoning item's id.
        item_id: String,
        /// The reasoning item's index in `output`.
        output_index: u32,
        /// The part's index in the item's `summary`.
        summary_index: u32,
        /// The whole part.
        part: SummaryText,
    },
    /// A citation was added to an `output_text` part.
    #[serde(rename = "response.output_text.annotation.added")]
    OutputTextAnnotationAdded {
        /// The message's id.
        item_id: String,
        /// The message's index in `output`.
        output_index: u32,
        /// The part's index in the message's `content`.
        content_index: u32,
        /// The annotation's index in the part's `annotations`.
        annotation_index: u32,
        /// The annotation (a flat `url_citation`).
        annotation: serde_json::Value,
    },
    /// An output item is complete.
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        /// Its index in `output`.
        output_index: u32,
        /// The whole item.
        item: OutputItem,
    },
    /// The Response finished: its whole output and usage.
    #[serde(rename = "response.completed")]
    Completed {
        /// The finished Response.
        response: Box<Response>,
    },
    /// The Response ended early (`incomplete_details` says why): output so far and usage.
    #[serde(rename = "response.incomplete")]
    Incomplete {
        /// The cut-short Response.
        response: Box<Response>,
    },
    /// Generating the Response failed (`error` says how); nothing follows.
    #[serde(rename = "response.failed")]
    Failed {
        /// The failed Response.
        response: Box<Response>,
    },
    /// A built-in tool call moved on (`response.web_search_call.searching`, ...): see [`ToolStep`]
    /// (untagged: its `type` is the step; serde wants such variants last).
    #[serde(untagged)]
    ToolStep {
        /// The event's `type`.
        #[serde(rename = "type")]
        step: ToolStep,
        /// The call item's index in `output`.
        output_index: u32,
        /// The call item's id.
        item_id: String,
    },
}

/// Where a text delta goes: its message's id and indexes, and the event's place in the stream
/// (what a `response.output_text.delta` carries besides the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaPlace<'a> {
    /// The message's id.
    pub item_id: &'a str,
    /// The message's index in `output`.
    pub output_index: u32,
    /// The part's index in the message's `content`.
    pub content_index: u32,
    /// The event's position in the stream.
    pub sequence_number: u64,
}

impl DeltaPlace<'_> {
    /// The `response.output_text.delta` event that brings `delta` here.
    pub fn event(self, delta: &str) -> StreamEvent {
        StreamEvent {
            kind: EventKind::OutputTextDelta {
                item_id: self.item_id.to_owned(),
                output_index: self.output_index,
                content_index: self.content_index,
                delta: delta.to_owned(),
                logprobs: Vec::new(),
            },
            sequence_number: self.sequence_number,
        }
    }
}

/// The progress events of built-in tool call items, each only `{type, output_index, item_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ToolStep {
    /// The search starts.
    #[serde(rename = "response.web_search_call.in_progress")]
    WebSearchInProgress,
    /// The search runs.
    #[serde(rename = "response.web_search_call.searching")]
    WebSearchSearching,
    /// The search is done.
    #[serde(rename = "response.web_search_call.completed")]
    WebSearchCompleted,
    /// The drawing starts.
    #[serde(rename = "response.image_generation_call.in_progress")]
    ImageInProgress,
    /// The drawing runs.
    #[serde(rename = "response.image_generation_call.generating")]
    ImageGenerating,
    /// The picture is done.
    #[serde(rename = "response.image_generation_call.completed")]
    ImageCompleted,
    /// The code run starts.
    #[serde(rename = "response.code_interpreter_call.in_progress")]
    CodeInProgress,
    /// The code runs.
    #[serde(rename = "response.code_interpreter_call.interpreting")]
    CodeInterpreting,
    /// The code run is done.
    #[serde(rename = "response.code_interpreter_call.completed")]
    CodeCompleted,
}

impl ToolStep {
    /// The event's `type`.
    pub fn name(self) -> &'static str {
        match self {
            ToolStep::WebSearchInProgress => "response.web_search_call.in_progress",
            ToolStep::WebSearchSearching => "response.web_search_call.searching",
            ToolStep::WebSearchCompleted => "response.web_search_call.completed",
            ToolStep::ImageInProgress => "response.image_generation_call.in_progress",
            ToolStep::ImageGenerating => "response.image_generation_call.generating",
            ToolStep::ImageCompleted => "response.image_generation_call.completed",
            ToolStep::CodeInProgress => "response.code_interpreter_call.in_progress",
            ToolStep::CodeInterpreting => "response.code_interpreter_call.interpreting",
            ToolStep::CodeCompleted => "response.code_interpreter_call.completed",
        }
    }
}

impl EventKind {
    /// The event's `type`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::OutputTextAnnotationAdded { .. } => "response.output_text.annotation.added",
            EventKind::ToolStep { step, .. } => step.name(),
            EventKind::Created { .. } => "response.created",
            EventKind::InProgress { .. } => "response.in_progress",
            EventKind::OutputItemAdded { .. } => "response.output_item.added",
            EventKind::ContentPartAdded { .. } => "response.content_part.added",
            EventKind::OutputTextDelta { .. } => "response.output_text.delta",
            EventKind::OutputTextDone { .. } => "response.output_text.done",
            EventKind::ContentPartDone { .. } => "response.content_part.done",
            EventKind::FunctionCallArgumentsDelta { .. } => {
                "response.function_call_arguments.delta"
            }
            EventKind::FunctionCallArgumentsDone { .. } => "response.function_call_arguments.done",
            EventKind::CustomToolCallInputDelta { .. } => "response.custom_tool_call_input.delta",
            EventKind::CustomToolCallInputDone { .. } => "response.custom_tool_call_input.done",
            EventKind::ReasoningSummaryPartAdded { .. } => "response.reasoning_summary_part.added",
            EventKind::ReasoningSummaryTextDelta { .. } => "response.reasoning_summary_text.delta",
            EventKind::ReasoningSummaryTextDone { .. } => "response.reasoning_summary_text.done",
            EventKind::ReasoningSummaryPartDone { .. } => "response.reasoning_summary_part.done",
            EventKind::OutputItemDone { .. } => "response.output_item.done",
            EventKind::Completed { .. } => "response.completed",
            EventKind::Incomplete { .. } => "response.incomplete",
            EventKind::Failed { .. } => "response.failed",
        }
    }
}

impl StreamEvent {
    /// Appends the event as OpenAI frames it, `event: <type>` then `data: <compact JSON>`; on
    /// error `out` is left as it was.
    ///
    /// The kind is written as the object it is (`type` first) and the sequence number appended
    /// before its closing brace: the bytes the derived (flattening) serialisation gives, without
    /// serde's map-based flattening.
    pub fn write_sse(&self, out: &mut BytesMut) -> Result<(), serde_json::Error> {
        let start = out.len();
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(self.kind.name().as_bytes());
        out.extend_from_slice(b"\ndata: ");
        end_event(out, start, self.sequence_number, |out| {
            serde_json::to_writer(bytes::BufMut::writer(&mut *out), &self.kind)?;
            if out.last() == Some(&b'}') {
                out.truncate(out.len() - 1);
            }
            Ok(())
        })
    }
}

/// Runs `body`, which appends the event begun at `start` up to its sequence number, then ends
/// the event (`,"sequence_number":…}` and the blank line); on error `out` is cut back to `start`.
pub(super) fn end_event(
    out: &mut BytesMut,
    start: usize,
    sequence_number: u64,
    body: impl FnOnce(&mut BytesMut) -> Result<(), serde_json::Error>,
) -> Result<(), serde_json::Error> {
    let written = body(out).and_then(|()| {
        out.extend_from_slice(b",\"sequence_number\":");
        serde_json::to_writer(bytes::BufMut::writer(&mut *out), &sequence_number)
    });
    if let Err(err) = written {
        out.truncate(start);
        return Err(err);
    }
    out.extend_from_slice(b"}\n\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_framed_with_its_type_as_the_event_name() {
        let event = StreamEvent {
            kind: EventKind::OutputTextDelta {
                item_id: "msg_1".into(),
                output_index: 0,
                content_index: 0,
                delta: "Привет".into(),
                logprobs: Vec::new(),
            },
            sequence_number: 4,
        };
        let mut out = BytesMut::from(&b"data: 1\n\n"[..]);
        event.write_sse(&mut out).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "data: 1\n\nevent: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\
             \"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Привет\",\
             \"logprobs\":[],\"sequence_number\":4}\n\n"
        );
    }

    #[test]
    fn a_function_call_done_names_the_function() {
        let event = StreamEvent {
            kind: EventKind::FunctionCallArgumentsDone {
                item_id: "fc_1".into(),
                name: "exec_command".into(),
                output_index: 1,
                arguments: "{}".into(),
            },
            sequence_number: 0,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.kind.name());
        assert_eq!(json["name"], "exec_command");
    }
}
