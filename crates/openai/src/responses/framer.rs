//! Writes the events of one streamed Response reusing what it already wrote: a text delta's
//! opening, the Response JSON `response.created` carried, the answer as a JSON string, and the
//! finished messages' JSON. Without this the stream's end would escape the answer three more times
//! and serialise the echoed request (instructions, tools) again. The bytes are exactly
//! [`StreamEvent::write_sse`]'s (whatever is not shaped as expected is written by it) whenever
//! equal values serialise alike, as they do in every stream the converter makes (its Responses
//! and items are clones). A Response rebuilt some other way may compare equal yet be written
//! differently: JSON maps inside `Value`s compare equal in any key order, and 0.0 equals -0.0;
//! the copy then keeps the started Response's order and sign, the same JSON in meaning.

use std::ops::Range;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use super::events::{DeltaPlace, EventKind, StreamEvent, end_event};
use super::response::{OutputContent, OutputItem, OutputMessage, Response};

/// What a Response that has just started says of its progress, as `response.created` writes it.
const NO_PROGRESS: &[u8] =
    br#""status":"in_progress","completed_at":null,"error":null,"incomplete_details":null"#;
/// The output of a Response that has just started.
const NO_OUTPUT: &[u8] = br#""output":[]"#;

/// Frames the events of one streamed Response (see the module's doc).
#[derive(Debug, Default)]
pub struct EventFramer {
    /// `event: response.output_text.delta` … `"delta":` of `opened_for`.
    opening: BytesMut,
    /// The item id, output index and content index `opening` was written for.
    opened_for: Option<(String, u32, u32)>,
    /// The Response a lifecycle event carried last, and its JSON.
    last_response: Option<(Arc<Response>, Vec<u8>)>,
    /// The text of the last text part written whole, and that text as a JSON string.
    finished_text: Option<(String, String)>,
    /// The messages `response.output_item.done` carried: output index, item, JSON.
    finished_items: Vec<(u32, OutputItem, Vec<u8>)>,
}

impl EventFramer {
    /// Appends `event` as OpenAI frames it; on error `out` is left as it was.
    pub fn write(
        &mut self,
        out: &mut BytesMut,
        event: &StreamEvent,
    ) -> Result<(), serde_json::Error> {
        match &event.kind {
            EventKind::OutputTextDelta {
                item_id,
                output_index,
                content_index,
                delta,
                logprobs,
            } if logprobs.is_empty() => {
                let place = DeltaPlace {
                    item_id,
                    output_index: *output_index,
                    content_index: *content_index,
                    sequence_number: event.sequence_number,
                };
                self.write_text_delta(out, place, delta)
            }
            EventKind::Created { response } | EventKind::InProgress { response } => {
                self.write_lifecycle(out, event, response)
            }
            EventKind::ContentPartAdded {
                item_id,
                output_index,
                content_index,
                part,
            }
            | EventKind::ContentPartDone {
                item_id,
                output_index,
                content_index,
                part,
            } => {
                let start = open_event(out, event);
                end_event(out, start, event.sequence_number, |out| {
                    write_part_place(out, item_id, *output_index, *content_index)?;
                    out.extend_from_slice(b",\"part\":");
                    self.write_content(out, part)
                })
            }
            EventKind::OutputTextDone {
                item_id,
                output_index,
                content_index,
                text,
                logprobs,
            } => {
                let start = open_event(out, event);
                end_event(out, start, event.sequence_number, |out| {
                    write_part_place(out, item_id, *output_index, *content_index)?;
                    out.extend_from_slice(b",\"text\":");
                    out.extend_from_slice(self.quoted(text).as_bytes());
                    out.extend_from_slice(b",\"logprobs\":");
                    json(out, logprobs)
                })
            }
            EventKind::OutputItemAdded { output_index, item }
            | EventKind::OutputItemDone { output_index, item } => {
                let finished = matches!(event.kind, EventKind::OutputItemDone { .. });
                let start = open_event(out, event);
                end_event(out, start, event.sequence_number, |out| {
                    out.extend_from_slice(b",\"output_index\":");
                    json(out, output_index)?;
                    out.extend_from_slice(b",\"item\":");
                    let from = out.len();
                    self.write_item(out, item)?;
                    // Only messages are kept: their text is what is costly to write again,
                    // and other items (a picture's base64) would be held twice more.
                    if finished && matches!(item, OutputItem::Message(_)) {
                        let written = out.get(from..).unwrap_or_default().to_vec();
                        self.finished_items
                            .push((*output_index, item.clone(), written));
                    }
                    Ok(())
                })
            }
            EventKind::Completed { response }
            | EventKind::Incomplete { response }
            | EventKind::Failed { response } => self.write_end(out, event, response),
            _ => event.write_sse(out),
        }
    }

    /// Appends a `response.output_text.delta` without log probabilities at `place`; its opening
    /// is written once per text part.
    pub fn write_text_delta(
        &mut self,
        out: &mut BytesMut,
        place: DeltaPlace<'_>,
        delta: &str,
    ) -> Result<(), serde_json::Error> {
        let same_opening = self
            .opened_for
            .as_ref()
            .is_some_and(|(id, output, content)| {
                id == place.item_id
                    && *output == place.output_index
                    && *content == place.content_index
            });
        if !same_opening {
            self.opened_for = None;
            self.opening.clear();
            self.opening.extend_from_slice(
                b"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\"",
            );
            write_part_place(
                &mut self.opening,
                place.item_id,
                place.output_index,
                place.content_index,
            )?;
            self.opening.extend_from_slice(b",\"delta\":");
            self.opened_for = Some((
                place.item_id.to_owned(),
                place.output_index,
                place.content_index,
            ));
        }
        let start = out.len();
        out.extend_from_slice(&self.opening);
        end_event(out, start, place.sequence_number, |out| {
            json(out, delta)?;
            out.extend_from_slice(b",\"logprobs\":[]");
            Ok(())
        })
    }

    /// Appends `event`, which carries `response`: `{"type":…,"response":…,"sequence_number":…}`,
    /// the Response's JSON copied when the last such event carried the same one.
    fn write_lifecycle(
        &mut self,
        out: &mut BytesMut,
        event: &StreamEvent,
        response: &Arc<Response>,
    ) -> Result<(), serde_json::Error> {
        let start = open_event(out, event);
        end_event(out, start, event.sequence_number, |out| {
            out.extend_from_slice(b",\"response\":");
            match &self.last_response {
                Some((last, json)) if Arc::ptr_eq(last, response) => out.extend_from_slice(json),
                _ => {
                    let from = out.len();
                    json(out, response.as_ref())?;
                    let written = out.get(from..).unwrap_or_default().to_vec();
                    self.last_response = Some((response.clone(), written));
                }
            }
            Ok(())
        })
    }

    /// Appends the event that ends the stream. When its Response is the one the stream started
    /// with, moved on only in what generation changes, that one's JSON is copied with the
    /// progress, output and usage put in, each finished message as it was written.
    fn write_end(
        &mut self,
        out: &mut BytesMut,
        event: &StreamEvent,
        response: &Response,
    ) -> Result<(), serde_json::Error> {
        let Some((started, started_json)) = &self.last_response else {
            return event.write_sse(out);
        };
        let Some(cuts) = response
            .continues(started)
            .then(|| Cuts::find(started_json))
            .flatten()
        else {
            return event.write_sse(out);
        };
        let start = open_event(out, event);
        end_event(out, start, event.sequence_number, |out| {
            out.extend_from_slice(b",\"response\":");
            let piece = |range: Range<usize>| started_json.get(range).unwrap_or_default();
            out.extend_from_slice(piece(0..cuts.progress.start));
            out.extend_from_slice(b"\"status\":");
            json(out, &response.status)?;
            out.extend_from_slice(b",\"completed_at\":");
            json(out, &response.completed_at)?;
            out.extend_from_slice(b",\"error\":");
            json(out, &response.error)?;
            out.extend_from_slice(b",\"incomplete_details\":");
            json(out, &response.incomplete_details)?;
            out.extend_from_slice(piece(cuts.progress.end..cuts.output.start));
            out.extend_from_slice(b"\"output\":[");
            for (index, item) in response.output.iter().enumerate() {
                if index > 0 {
                    out.put_u8(b',');
                }
                let written = self.finished_items.iter().find(|(at, finished, _)| {
                    usize::try_from(*at).is_ok_and(|at| at == index) && finished == item
                });
                match written {
                    Some((_, _, written)) => out.extend_from_slice(written),
                    None => json(out, item)?,
                }
            }
            out.put_u8(b']');
            out.extend_from_slice(piece(cuts.output.end..cuts.usage_at));
            if let Some(usage) = &response.usage {
                out.extend_from_slice(b",\"usage\":");
                json(out, usage)?;
            }
            // The copied tail ends with the Response's own closing brace; `end_event` closes
            // the event after the sequence number.
            out.extend_from_slice(piece(cuts.usage_at..started_json.len()));
            Ok(())
        })
    }

    /// Appends an output item: a message's text parts with the answer escaped once.
    fn write_item(
        &mut self,
        out: &mut BytesMut,
        item: &OutputItem,
    ) -> Result<(), serde_json::Error> {
        let OutputItem::Message(OutputMessage {
            id,
            role,
            content,
            status,
        }) = item
        else {
            return json(out, item);
        };
        out.extend_from_slice(b"{\"type\":\"message\",\"id\":");
        json(out, id)?;
        out.extend_from_slice(b",\"role\":");
        json(out, role)?;
        out.extend_from_slice(b",\"content\":[");
        for (index, part) in content.iter().enumerate() {
            if index > 0 {
                out.put_u8(b',');
            }
            self.write_content(out, part)?;
        }
        out.extend_from_slice(b"],\"status\":");
        json(out, status)?;
        out.put_u8(b'}');
        Ok(())
    }

    /// Appends a content part: a text part's text escaped once for all the events that carry it.
    fn write_content(
        &mut self,
        out: &mut BytesMut,
        part: &OutputContent,
    ) -> Result<(), serde_json::Error> {
        let OutputContent::OutputText {
            text,
            annotations,
            logprobs,
        } = part
        else {
            return json(out, part);
        };
        out.extend_from_slice(b"{\"type\":\"output_text\",\"text\":");
        out.extend_from_slice(self.quoted(text).as_bytes());
        out.extend_from_slice(b",\"annotations\":");
        json(out, annotations)?;
        out.extend_from_slice(b",\"logprobs\":");
        json(out, logprobs)?;
        out.put_u8(b'}');
        Ok(())
    }

    /// `text` as a JSON string, escaped once for all the events that carry the same text.
    fn quoted(&mut self, text: &str) -> &str {
        let escaped = self
            .finished_text
            .as_ref()
            .is_some_and(|(finished, _)| finished == text);
        if !escaped {
            let mut quoted = String::new();
            json_text::push_quoted(&mut quoted, text);
            self.finished_text = Some((text.to_owned(), quoted));
        }
        self.finished_text
            .as_ref()
            .map_or("", |(_, quoted)| quoted.as_str())
    }
}

/// Where the JSON of a Response that has just started changes as it is generated.
struct Cuts {
    /// `"status":"in_progress",…,"incomplete_details":null`.
    progress: Range<usize>,
    /// `"output":[]`.
    output: Range<usize>,
    /// Right after `"background":…`, where `usage` goes.
    usage_at: usize,
}

impl Cuts {
    /// The cuts in `json`, a started Response's JSON.
    ///
    /// The fields before `status` and `output` are strings, numbers or `null` (a string holds
    /// no bare `"`), so the first match of each is the field; those after `background` are
    /// strings or a map of strings, so the last `"background":` with a bare boolean is it.
    fn find(json: &[u8]) -> Option<Self> {
        // The first `"status":` is the field's; a short needle is quicker to set up.
        let progress_start = memchr::memmem::find(json, b"\"status\":")?;
        let progress = progress_start..progress_start + NO_PROGRESS.len();
        if json.get(progress.clone())? != NO_PROGRESS {
            return None;
        }
        let output_start =
            progress.end + memchr::memmem::find(json.get(progress.end..)?, NO_OUTPUT)?;
        let output = output_start..output_start + NO_OUTPUT.len();
        let usage_at = [&b"\"background\":false"[..], b"\"background\":true"]
            .into_iter()
            .filter_map(|field| memchr::memmem::rfind(json, field).map(|at| at + field.len()))
            .max()?;
        (usage_at > output.end).then_some(Self {
            progress,
            output,
            usage_at,
        })
    }
}

/// Writes `{"type":"<the event's type>"` after its SSE header; where the event starts in `out`.
fn open_event(out: &mut BytesMut, event: &StreamEvent) -> usize {
    let start = out.len();
    let name = event.kind.name().as_bytes();
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name);
    out.extend_from_slice(b"\ndata: {\"type\":\"");
    out.extend_from_slice(name);
    out.put_u8(b'"');
    start
}

/// Appends `,"item_id":…,"output_index":…,"content_index":…`: which part of which item an event
/// is about.
fn write_part_place(
    out: &mut BytesMut,
    item_id: &str,
    output_index: u32,
    content_index: u32,
) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b",\"item_id\":");
    json(out, item_id)?;
    out.extend_from_slice(b",\"output_index\":");
    json(out, &output_index)?;
    out.extend_from_slice(b",\"content_index\":");
    json(out, &content_index)
}

/// Appends `value` as compact JSON (one copy per type, not one per call: the binary stays small).
#[inline(never)]
fn json<T: Serialize + ?Sized>(out: &mut BytesMut, value: &T) -> Result<(), serde_json::Error> {
    serde_json::to_writer(out.writer(), value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responses::events::ToolStep;

    /// Writes `event` with `framer` and with `write_sse`, and checks both give the same bytes.
    fn write_both(framer: &mut EventFramer, event: &StreamEvent) {
        let mut framed = BytesMut::from(&b"x"[..]);
        framer.write(&mut framed, event).unwrap();
        let mut expected = BytesMut::from(&b"x"[..]);
        event.write_sse(&mut expected).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&framed),
            String::from_utf8_lossy(&expected),
            "{}",
            event.kind.name()
        );
    }

    /// A Response as it starts, with texts, tools and metadata that hold what the cuts look for.
    fn started(background: bool) -> Response {
        serde_json::from_value(serde_json::json!({
            "id": "resp_1", "object": "response", "created_at": 1, "status": "in_progress",
            "completed_at": null, "error": null, "incomplete_details": null,
            "instructions": "say \"output\":[] and \"status\":\"in_progress\",\"completed_at\":null",
            "model": "GigaChat", "output": [], "parallel_tool_calls": true, "store": false,
            "text": {"format": {"type": "json_schema", "name": "a", "schema": {"type": "object",
                "properties": {"background": false, "output": []}}}},
            "tool_choice": "auto",
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object",
                "properties": {"background": true, "usage": {}}}},
                {"type": "image_generation", "background": false}],
            "truncation": "disabled", "background": background, "user": "\"background\":false",
            "metadata": {"background": "false", "output": "[]"},
        }))
        .unwrap()
    }

    #[test]
    fn the_stream_end_copies_the_started_response_and_the_finished_message() {
        for background in [false, true] {
            let started = Arc::new(started(background));
            let json = serde_json::to_vec(started.as_ref()).unwrap();
            assert!(Cuts::find(&json).is_some());
            let text = "Привет \"мир\"\n".repeat(40);
            let message = OutputItem::Message(OutputMessage {
                id: "msg_1".into(),
                role: crate::responses::Role::Assistant,
                content: vec![OutputContent::OutputText {
                    text: text.clone(),
                    annotations: vec![serde_json::json!({"type": "url_citation", "url": "u"})],
                    logprobs: Vec::new(),
                }],
                status: crate::responses::response::ItemStatus::Completed,
            });
            let call: OutputItem = serde_json::from_value(serde_json::json!({
                "type": "function_call", "id": "fc_1", "call_id": "c", "name": "f",
                "arguments": "{}", "status": "completed"}))
            .unwrap();
            let mut completed = Response::clone(&started);
            completed.status = crate::responses::response::ResponseStatus::Completed;
            completed.completed_at = Some(2);
            completed.output = vec![message.clone(), call.clone()];
            completed.usage = Some(Default::default());
            assert!(completed.continues(&started));
            let mut incomplete = completed.clone();
            incomplete.status = crate::responses::response::ResponseStatus::Incomplete;
            incomplete.completed_at = None;
            incomplete.incomplete_details = Some(crate::responses::response::IncompleteDetails {
                reason: "max_output_tokens".into(),
            });
            let mut failed = Response::clone(&started);
            failed.status = crate::responses::response::ResponseStatus::Failed;
            failed.output = vec![message.clone()];
            failed.error = Some(crate::responses::response::ResponseError {
                code: "server_error".into(),
                message: "x".into(),
            });
            // An output item other than the one finished: written anew.
            let mut other_item = completed.clone();
            other_item.output[1] = message.clone();
            // Another Response altogether: written whole.
            let mut other_response = completed.clone();
            other_response.model = "GigaChat-2".into();
            assert!(!other_response.continues(&started));
            let ends = [completed, incomplete, failed, other_item, other_response];
            for end in ends {
                let mut framer = EventFramer::default();
                let kinds = [
                    EventKind::Created {
                        response: started.clone(),
                    },
                    EventKind::ContentPartDone {
                        item_id: "msg_1".into(),
                        output_index: 0,
                        content_index: 0,
                        part: match &message {
                            OutputItem::Message(message) => message.content[0].clone(),
                            _ => unreachable!(),
                        },
                    },
                    EventKind::OutputItemDone {
                        output_index: 0,
                        item: message.clone(),
                    },
                    EventKind::OutputItemDone {
                        output_index: 1,
                        item: call.clone(),
                    },
                    EventKind::Completed {
                        response: Box::new(end.clone()),
                    },
                    EventKind::Incomplete {
                        response: Box::new(end.clone()),
                    },
                    EventKind::Failed {
                        response: Box::new(end),
                    },
                ];
                for (sequence_number, kind) in kinds.into_iter().enumerate() {
                    let event = StreamEvent {
                        kind,
                        sequence_number: sequence_number as u64,
                    };
                    write_both(&mut framer, &event);
                }
            }
        }
    }

    #[test]
    fn a_response_that_did_not_start_empty_is_not_continued() {
        let started = started(false);
        let completed = started.clone();
        assert!(completed.continues(&started));
        let item: OutputItem = serde_json::from_value(serde_json::json!({
            "type": "function_call", "id": "fc_1", "call_id": "c", "name": "f",
            "arguments": "{}", "status": "completed"}))
        .unwrap();
        let mut with_output = started.clone();
        with_output.output = vec![item];
        assert!(!completed.continues(&with_output));
        let mut with_usage = started.clone();
        with_usage.usage = Some(Default::default());
        assert!(!completed.continues(&with_usage));
        let mut finished = started.clone();
        finished.status = crate::responses::response::ResponseStatus::Completed;
        assert!(!completed.continues(&finished));
        let json = serde_json::to_vec(&completed).unwrap();
        let mut moved_on = completed.clone();
        moved_on.status = crate::responses::response::ResponseStatus::Completed;
        let moved_on_json = serde_json::to_vec(&moved_on).unwrap();
        assert!(Cuts::find(&json).is_some());
        assert!(Cuts::find(&moved_on_json).is_none());
    }

    #[test]
    fn every_kind_is_written_as_its_derived_json_with_the_sequence_number_last_by_both_writers() {
        let response: Response = serde_json::from_value(serde_json::json!({
            "id": "resp_1", "object": "response", "created_at": 1, "status": "completed",
            "model": "GigaChat", "parallel_tool_calls": true, "store": false,
            "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
            "truncation": "disabled", "background": false, "metadata": {},
            "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "Привет \"мир\"\n", "annotations": [],
                    "logprobs": []}]}],
        }))
        .unwrap();
        let long_text = "a\u{1}\"ж\\\n".repeat(60);
        let shared = Arc::new(response.clone());
        let mut failing = response.clone();
        failing.status = crate::responses::response::ResponseStatus::Failed;
        let text = OutputContent::OutputText {
            text: "Привет".into(),
            annotations: Vec::new(),
            logprobs: Vec::new(),
        };
        let kinds = [
            EventKind::Created {
                response: shared.clone(),
            },
            EventKind::InProgress {
                response: shared.clone(),
            },
            // Another Response: not the JSON of the last one.
            EventKind::InProgress {
                response: Arc::new(failing),
            },
            EventKind::Created { response: shared },
            EventKind::OutputItemAdded {
                output_index: 0,
                item: response.output[0].clone(),
            },
            EventKind::ContentPartAdded {
                item_id: "msg_1".into(),
                output_index: 0,
                content_index: 0,
                part: text.clone(),
            },
            EventKind::OutputTextDone {
                item_id: "msg_1".into(),
                output_index: 0,
                content_index: 0,
                // Long enough for the word-at-a-time escaping, with something to escape.
                text: long_text.clone(),
                logprobs: Vec::new(),
            },
            EventKind::ContentPartDone {
                item_id: "msg_1".into(),
                output_index: 0,
                content_index: 0,
                part: text,
            },
            EventKind::ToolStep {
                step: ToolStep::WebSearchSearching,
                output_index: 1,
                item_id: "ws_1".into(),
            },
            EventKind::Completed {
                response: Box::new(response.clone()),
            },
            EventKind::Failed {
                response: Box::new(response),
            },
        ];
        let mut framer = EventFramer::default();
        for (sequence_number, kind) in kinds.into_iter().enumerate() {
            let event = StreamEvent {
                kind,
                sequence_number: sequence_number as u64 * 1_000,
            };
            let mut out = BytesMut::from(&b"x"[..]);
            event.write_sse(&mut out).unwrap();
            let mut framed = BytesMut::from(&b"x"[..]);
            framer.write(&mut framed, &event).unwrap();
            assert_eq!(framed, out);
            let derived = serde_json::to_string(&event).unwrap();
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                format!("xevent: {}\ndata: {derived}\n\n", event.kind.name())
            );
            assert!(
                derived.ends_with(&format!(",\"sequence_number\":{}}}", event.sequence_number))
            );
            if let EventKind::OutputTextDone { text, .. } = &event.kind {
                let read: serde_json::Value = serde_json::from_str(&derived).unwrap();
                assert_eq!(read["text"], *text);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn the_framer_writes_what_write_sse_writes(
            events in proptest::collection::vec(
                (
                    "[a-bП\"\\\\\n\u{1}]{0,3}",
                    0_u32..2,
                    0_u32..2,
                    "[a-bП\"\\\\\n\u{1} 😀]{0,6}",
                    0_u8..4,
                ),
                1..8,
            ),
        ) {
            let mut framer = EventFramer::default();
            let (mut framed, mut expected) = (BytesMut::from(&b"x"[..]), BytesMut::from(&b"x"[..]));
            for (sequence_number, (item_id, output_index, content_index, text, kind)) in
                events.into_iter().enumerate()
            {
                let kind = match kind {
                    // A text delta (most events), one with log probabilities, or another event.
                    0 | 1 => EventKind::OutputTextDelta {
                        item_id,
                        output_index,
                        content_index,
                        delta: text,
                        logprobs: Vec::new(),
                    },
                    2 => EventKind::OutputTextDelta {
                        item_id,
                        output_index,
                        content_index,
                        delta: text,
                        logprobs: vec![serde_json::json!({"token": "a"})],
                    },
                    _ => EventKind::OutputTextDone {
                        item_id,
                        output_index,
                        content_index,
                        text,
                        logprobs: Vec::new(),
                    },
                };
                let event = StreamEvent { kind, sequence_number: sequence_number as u64 * 997 };
                framer.write(&mut framed, &event).unwrap();
                event.write_sse(&mut expected).unwrap();
                proptest::prop_assert_eq!(
                    String::from_utf8_lossy(&framed),
                    String::from_utf8_lossy(&expected)
                );
            }
        }
    }
}
