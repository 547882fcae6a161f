//! The streamed Response: the chat chunks of one answer (stop sequences and tool calls already
//! handled by the chat stream) → the Responses stream events, numbered in order. Each output
//! item is announced before any delta of it and closed before the next starts (a built-in run
//! GigaChat reports is announced, stepped through and closed at once; web citations are
//! `response.output_text.annotation.added` before the text closes); the stream ends
//! with exactly one of `response.completed`, `response.incomplete` or `response.failed`, whose
//! Response is built by the same mapping as a non-streamed answer. Reasoning that comes before
//! the answer is a `reasoning` item streamed as one summary part (reasoning arriving after the
//! answer started is left out, so the streamed items and the final Response agree).

use openai::chat::{
    Annotation, BuiltinCall, ChatCompletion, ChatCompletionChunk, Choice, FunctionCall,
    ResponseMessage, ToolCall, Usage,
};
use openai::responses::events::{DeltaPlace, EventKind, StreamEvent, ToolStep};
use openai::responses::response::{
    ItemStatus, OutputContent, OutputItem, OutputMessage, ReasoningOutput, ResponseError,
    ResponseStatus,
};
use openai::responses::{CustomToolCallItem, FunctionCallItem, Role, SummaryText};

use super::request::AnswerPlan;
use super::response::{
    builtin_item, call_item_id, custom_tool_input, flat_annotation, incomplete_reason, message_id,
    reasoning_id, reasoning_item, responses_response,
};

/// `error.code` of a failure that may pass (the same request may succeed later).
const TRANSIENT_FAILURE: &str = "server_error";
/// `error.code` of a failure that retrying the same request would not cure.
const PERMANENT_FAILURE: &str = "invalid_prompt";

/// Turns the chat chunks of one answer into Responses stream events.
#[derive(Debug)]
pub struct ResponseEvents {
    plan: AnswerPlan,
    /// The answer as assembled so far (text, tool calls, finish reason), mapped at the end.
    answer: ChatCompletion,
    /// The output item being streamed.
    open: Option<OpenItem>,
    /// Output items announced so far (the next one's `output_index`).
    items: u32,
    /// Output items finished so far, as `response.output_item.done` sent them.
    done: Vec<OutputItem>,
    next_sequence: u64,
    /// A terminal event was sent: nothing more is.
    ended: bool,
}

/// The output item whose deltas are being sent.
#[derive(Debug)]
enum OpenItem {
    /// The reasoning item (its text is the answer's `reasoning_content`).
    Reasoning {
        /// Its `output_index`.
        output_index: u32,
        /// `rs_...`.
        item_id: String,
    },
    /// The assistant message (its text is in the answer).
    Message {
        /// Its `output_index`.
        output_index: u32,
        /// `msg_...`.
        item_id: String,
    },
    /// A tool call (its name and arguments are in the answer's `call`-th tool call).
    Call {
        /// Its `output_index`.
        output_index: u32,
        /// Its index among the answer's tool calls.
        call: usize,
        /// `fc_...` or `ctc_...`.
        item_id: String,
        /// A call of a `custom` tool: its input is sent once the arguments are whole.
        custom: bool,
    },
}

impl ResponseEvents {
    /// A converter for the answer `plan` shapes.
    pub fn new(plan: AnswerPlan) -> Self {
        let answer = ChatCompletion {
            id: plan.template.id.clone(),
            object: "chat.completion".into(),
            created: plan.template.created_at,
            model: plan.template.model.clone(),
            choices: vec![Choice {
                index: 0,
                message: ResponseMessage {
                    role: "assistant".into(),
                    content: None,
                    refusal: None,
                    tool_calls: None,
                    function_call: None,
                    reasoning_content: None,
                    annotations: Vec::new(),
                    builtin_calls: Vec::new(),
                },
                logprobs: None,
                finish_reason: None,
            }],
            usage: None,
            system_fingerprint: None,
        };
        Self {
            plan,
            answer,
            open: None,
            items: 0,
            done: Vec::new(),
            next_sequence: 0,
            ended: false,
        }
    }

    /// The events that open the stream (`response.created`, `response.in_progress`); `model` is
    /// the model that serves the answer.
    pub fn start(&mut self, model: &str, out: &mut Vec<StreamEvent>) {
        model.clone_into(&mut self.plan.template.model);
        model.clone_into(&mut self.answer.model);
        let response = std::sync::Arc::new(self.plan.template.clone());
        self.emit(
            EventKind::Created {
                response: response.clone(),
            },
            out,
        );
        self.emit(EventKind::InProgress { response }, out);
    }

    /// The events for one chat chunk (possibly none).
    pub fn push(&mut self, chunk: &ChatCompletionChunk, out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        for choice in &chunk.choices {
            if let Some(reasoning) = choice
                .delta
                .reasoning_content
                .as_deref()
                .filter(|t| !t.is_empty())
            {
                self.reasoning(reasoning, out);
            }
            for call in &choice.delta.builtin_calls {
                self.builtin(call, out);
            }
            if let Some(text) = choice.delta.content.as_deref().filter(|t| !t.is_empty()) {
                self.text(text, out);
            }
            for call in choice.delta.tool_calls.iter().flatten() {
                if let Some(call_id) = &call.id {
                    self.close(out);
                    self.open_call(
                        call_id.clone(),
                        call.function.name.clone().unwrap_or_default(),
                        out,
                    );
                }
                if let Some(arguments) = call.function.arguments.as_deref() {
                    self.arguments(arguments, out);
                }
            }
            if !choice.delta.annotations.is_empty() {
                self.annotate(&choice.delta.annotations, out);
            }
            if let Some(reason) = &choice.finish_reason {
                self.answer.choices[0].finish_reason = Some(reason.clone());
                self.close(out);
            }
        }
    }

    /// The events that end a stream whose answer is whole: the last item closed (an empty
    /// message when the answer had nothing), then `response.completed` (or
    /// `response.incomplete` after a length or content-filter end) carrying the whole output and
    /// `usage`, finished at `completed_at`.
    pub fn finish(&mut self, usage: Option<Usage>, completed_at: i64, out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        self.close(out);
        if self
            .done
            .iter()
            .all(|item| matches!(item, OutputItem::Reasoning(_)))
        {
            self.open_message(out);
            self.close(out);
        }
        self.answer.usage = usage;
        let response = Box::new(responses_response(&self.answer, &self.plan, completed_at));
        self.ended = true;
        let kind = if response.status == ResponseStatus::Incomplete {
            EventKind::Incomplete { response }
        } else {
            EventKind::Completed { response }
        };
        self.emit(kind, out);
    }

    /// The event that ends a stream that failed after it started: `response.failed` with the
    /// items finished so far and `error.code` `server_error` when the failure may pass
    /// (`retryable`), `invalid_prompt` when it will not.
    pub fn fail(&mut self, retryable: bool, message: String, out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let mut response = Box::new(self.plan.template.clone());
        response.status = ResponseStatus::Failed;
        response.output = std::mem::take(&mut self.done);
        response.error = Some(ResponseError {
            code: if retryable {
                TRANSIENT_FAILURE
            } else {
                PERMANENT_FAILURE
            }
            .to_owned(),
            message,
        });
        self.emit(EventKind::Failed { response }, out);
    }

    fn emit(&mut self, kind: EventKind, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent {
            kind,
            sequence_number: self.next_sequence,
        });
        self.next_sequence += 1;
    }

    fn message(&mut self) -> &mut ResponseMessage {
        &mut self.answer.choices[0].message
    }

    /// The status a finished item gets: `incomplete` when the answer was cut short.
    fn finished_status(&self) -> ItemStatus {
        match incomplete_reason(self.answer.choices[0].finish_reason.as_deref()) {
            Some(_) => ItemStatus::Incomplete,
            None => ItemStatus::Completed,
        }
    }

    /// More reasoning: into the reasoning item, opened first when nothing was; left out once
    /// another item started.
    fn reasoning(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        let (output_index, item_id) = match &self.open {
            Some(OpenItem::Reasoning {
                output_index,
                item_id,
            }) => (*output_index, item_id.clone()),
            None if self.items == 0 => self.open_reasoning(out),
            _ => return,
        };
        self.message()
            .reasoning_content
            .get_or_insert_with(String::new)
            .push_str(text);
        self.emit(
            EventKind::ReasoningSummaryTextDelta {
                item_id,
                output_index,
                summary_index: 0,
                delta: text.to_owned(),
            },
            out,
        );
    }

    /// Announces the reasoning item and its summary part; its index and id.
    fn open_reasoning(&mut self, out: &mut Vec<StreamEvent>) -> (u32, String) {
        let output_index = self.items;
        self.items += 1;
        let item_id = reasoning_id(&self.plan.template.id);
        let item = OutputItem::Reasoning(ReasoningOutput {
            id: item_id.clone(),
            summary: Vec::new(),
            status: ItemStatus::InProgress,
        });
        self.emit(EventKind::OutputItemAdded { output_index, item }, out);
        self.emit(
            EventKind::ReasoningSummaryPartAdded {
                item_id: item_id.clone(),
                output_index,
                summary_index: 0,
                part: SummaryText {
                    text: String::new(),
                },
            },
            out,
        );
        self.open = Some(OpenItem::Reasoning {
            output_index,
            item_id: item_id.clone(),
        });
        (output_index, item_id)
    }

    /// A built-in run: its item announced, stepped through and finished at once (GigaChat reports
    /// it done). A web search seen again only brings the sources found since.
    fn builtin(&mut self, call: &BuiltinCall, out: &mut Vec<StreamEvent>) {
        let calls = &mut self.answer.choices[0].message.builtin_calls;
        if let BuiltinCall::WebSearch { .. } = call
            && let Some(known) = calls
                .iter_mut()
                .find(|known| matches!(known, BuiltinCall::WebSearch { .. }))
        {
            *known = call.clone();
            return;
        }
        let index = calls.len();
        calls.push(call.clone());
        self.close(out);
        let output_index = self.items;
        self.items += 1;
        let item = builtin_item(call, &self.plan.template.id, index);
        let (item_id, steps) = match &item {
            OutputItem::WebSearchCall(search) => (
                search.id.clone(),
                [
                    ToolStep::WebSearchInProgress,
                    ToolStep::WebSearchSearching,
                    ToolStep::WebSearchCompleted,
                ],
            ),
            OutputItem::ImageGenerationCall(image) => (
                image.id.clone(),
                [
                    ToolStep::ImageInProgress,
                    ToolStep::ImageGenerating,
                    ToolStep::ImageCompleted,
                ],
            ),
            OutputItem::CodeInterpreterCall(code) => (
                code.id.clone(),
                [
                    ToolStep::CodeInProgress,
                    ToolStep::CodeInterpreting,
                    ToolStep::CodeCompleted,
                ],
            ),
            _ => return,
        };
        self.emit(
            EventKind::OutputItemAdded {
                output_index,
                item: in_progress(&item),
            },
            out,
        );
        for step in steps {
            self.emit(
                EventKind::ToolStep {
                    step,
                    output_index,
                    item_id: item_id.clone(),
                },
                out,
            );
        }
        self.item_done(output_index, item, out);
    }

    /// The text's citations: kept for the message's end, each announced on the open message.
    fn annotate(&mut self, annotations: &[Annotation], out: &mut Vec<StreamEvent>) {
        self.message().annotations.extend_from_slice(annotations);
        let Some(OpenItem::Message {
            output_index,
            ref item_id,
        }) = self.open
        else {
            return;
        };
        let item_id = item_id.clone();
        let first = self.message().annotations.len() - annotations.len();
        for (offset, annotation) in annotations.iter().enumerate() {
            self.emit(
                EventKind::OutputTextAnnotationAdded {
                    item_id: item_id.clone(),
                    output_index,
                    content_index: 0,
                    annotation_index: u32::try_from(first + offset).unwrap_or(u32::MAX),
                    annotation: flat_annotation(annotation),
                },
                out,
            );
        }
    }

    /// More text: into the message, opened first when another item (or none) is open.
    fn text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        if !matches!(self.open, Some(OpenItem::Message { .. })) {
            self.close(out);
            self.open_message(out);
        }
        if let Some(place) = self.append_text(text) {
            out.push(place.event(text));
        }
    }

    /// The text of a chunk that only brings more text to the message already open (most
    /// chunks), taken into the answer, and where its `response.output_text.delta` goes: for the
    /// caller to write without making the event. `None`, with nothing taken, for any other chunk
    /// (it goes to [`Self::push`]).
    pub fn push_text<'c>(
        &mut self,
        chunk: &'c ChatCompletionChunk,
    ) -> Option<(&'c str, DeltaPlace<'_>)> {
        let [choice] = chunk.choices.as_slice() else {
            return None;
        };
        let delta = &choice.delta;
        let only_text = !self.ended
            && matches!(self.open, Some(OpenItem::Message { .. }))
            && delta.reasoning_content.as_deref().is_none_or(str::is_empty)
            && delta.builtin_calls.is_empty()
            && delta.tool_calls.as_deref().is_none_or(<[_]>::is_empty)
            && delta.annotations.is_empty()
            && choice.finish_reason.is_none();
        let text = delta
            .content
            .as_deref()
            .filter(|text| only_text && !text.is_empty())?;
        Some((text, self.append_text(text)?))
    }

    /// Appends `text` to the open message; where its delta event goes (`None` when no message
    /// is open).
    fn append_text(&mut self, text: &str) -> Option<DeltaPlace<'_>> {
        let Some(OpenItem::Message {
            output_index,
            ref item_id,
        }) = self.open
        else {
            return None;
        };
        self.answer.choices[0]
            .message
            .content
            .get_or_insert_with(String::new)
            .push_str(text);
        let sequence_number = self.next_sequence;
        self.next_sequence += 1;
        Some(DeltaPlace {
            item_id,
            output_index,
            content_index: 0,
            sequence_number,
        })
    }

    /// Announces the message and its text part.
    fn open_message(&mut self, out: &mut Vec<StreamEvent>) {
        let output_index = self.items;
        self.items += 1;
        let item_id = message_id(&self.plan.template.id);
        self.emit(
            EventKind::OutputItemAdded {
                output_index,
                item: OutputItem::Message(OutputMessage {
                    id: item_id.clone(),
                    role: Role::Assistant,
                    content: Vec::new(),
                    status: ItemStatus::InProgress,
                }),
            },
            out,
        );
        self.emit(
            EventKind::ContentPartAdded {
                item_id: item_id.clone(),
                output_index,
                content_index: 0,
                part: output_text(String::new()),
            },
            out,
        );
        self.open = Some(OpenItem::Message {
            output_index,
            item_id,
        });
    }

    /// Announces a tool call (empty arguments or input).
    fn open_call(&mut self, call_id: String, name: String, out: &mut Vec<StreamEvent>) {
        let output_index = self.items;
        self.items += 1;
        let custom = self.plan.custom_tools.contains(&name);
        let calls = self.answer.choices[0]
            .message
            .tool_calls
            .get_or_insert_with(Vec::new);
        let call = calls.len();
        let item_id = call_item_id(&self.plan.template.id, call, custom);
        let item = call_item(
            &item_id,
            &call_id,
            &name,
            "",
            custom,
            ItemStatus::InProgress,
        );
        calls.push(ToolCall {
            id: call_id,
            kind: "function".into(),
            function: FunctionCall {
                name,
                arguments: String::new(),
            },
        });
        self.emit(EventKind::OutputItemAdded { output_index, item }, out);
        self.open = Some(OpenItem::Call {
            output_index,
            call,
            item_id,
            custom,
        });
    }

    /// More arguments of the open call (sent on for a function; kept whole for a custom tool,
    /// whose input is inside them).
    fn arguments(&mut self, arguments: &str, out: &mut Vec<StreamEvent>) {
        if arguments.is_empty() {
            return;
        }
        let Some(OpenItem::Call {
            output_index,
            call,
            ref item_id,
            custom,
        }) = self.open
        else {
            return;
        };
        let item_id = item_id.clone();
        if let Some(tool_call) = self
            .message()
            .tool_calls
            .as_mut()
            .and_then(|calls| calls.get_mut(call))
        {
            tool_call.function.arguments.push_str(arguments);
        }
        if !custom {
            self.emit(
                EventKind::FunctionCallArgumentsDelta {
                    item_id,
                    output_index,
                    delta: arguments.to_owned(),
                },
                out,
            );
        }
    }

    /// Closes the open item, if any, with its `.done` events.
    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        let status = self.finished_status();
        match self.open.take() {
            None => {}
            Some(OpenItem::Reasoning {
                output_index,
                item_id,
            }) => {
                let text = self.message().reasoning_content.clone().unwrap_or_default();
                self.emit(
                    EventKind::ReasoningSummaryTextDone {
                        item_id: item_id.clone(),
                        output_index,
                        summary_index: 0,
                        text: text.clone(),
                    },
                    out,
                );
                self.emit(
                    EventKind::ReasoningSummaryPartDone {
                        item_id,
                        output_index,
                        summary_index: 0,
                        part: SummaryText { text: text.clone() },
                    },
                    out,
                );
                let item = reasoning_item(&self.plan.template.id, text, ItemStatus::Completed);
                self.item_done(output_index, item, out);
            }
            Some(OpenItem::Message {
                output_index,
                item_id,
            }) => {
                let text = self.message().content.clone().unwrap_or_default();
                let annotations: Vec<_> = self
                    .message()
                    .annotations
                    .iter()
                    .map(flat_annotation)
                    .collect();
                self.emit(
                    EventKind::OutputTextDone {
                        item_id: item_id.clone(),
                        output_index,
                        content_index: 0,
                        text: text.clone(),
                        logprobs: Vec::new(),
                    },
                    out,
                );
                let part = OutputContent::OutputText {
                    text,
                    annotations,
                    logprobs: Vec::new(),
                };
                self.emit(
                    EventKind::ContentPartDone {
                        item_id: item_id.clone(),
                        output_index,
                        content_index: 0,
                        part: part.clone(),
                    },
                    out,
                );
                self.item_done(
                    output_index,
                    OutputItem::Message(OutputMessage {
                        id: item_id,
                        role: Role::Assistant,
                        content: vec![part],
                        status,
                    }),
                    out,
                );
            }
            Some(OpenItem::Call {
                output_index,
                call,
                item_id,
                custom,
            }) => {
                let Some(ToolCall { id, function, .. }) = self
                    .message()
                    .tool_calls
                    .as_ref()
                    .and_then(|calls| calls.get(call))
                    .cloned()
                else {
                    return;
                };
                let item = if custom {
                    let input = custom_tool_input(&function.arguments);
                    if !input.is_empty() {
                        self.emit(
                            EventKind::CustomToolCallInputDelta {
                                item_id: item_id.clone(),
                                output_index,
                                delta: input.clone(),
                            },
                            out,
                        );
                    }
                    self.emit(
                        EventKind::CustomToolCallInputDone {
                            item_id: item_id.clone(),
                            output_index,
                            input: input.clone(),
                        },
                        out,
                    );
                    call_item(&item_id, &id, &function.name, &input, true, status)
                } else {
                    self.emit(
                        EventKind::FunctionCallArgumentsDone {
                            item_id: item_id.clone(),
                            name: function.name.clone(),
                            output_index,
                            arguments: function.arguments.clone(),
                        },
                        out,
                    );
                    call_item(
                        &item_id,
                        &id,
                        &function.name,
                        &function.arguments,
                        false,
                        // The non-streamed mapping calls a finished call `completed` whatever the end.
                        ItemStatus::Completed,
                    )
                };
                self.item_done(output_index, item, out);
            }
        }
    }

    fn item_done(&mut self, output_index: u32, item: OutputItem, out: &mut Vec<StreamEvent>) {
        self.done.push(item.clone());
        self.emit(EventKind::OutputItemDone { output_index, item }, out);
    }
}

/// A finished built-in call item as it is announced (`in_progress`, no result yet).
fn in_progress(item: &OutputItem) -> OutputItem {
    let mut item = item.clone();
    let status = ItemStatus::InProgress.as_str().to_owned();
    match &mut item {
        OutputItem::WebSearchCall(search) => search.status = status,
        OutputItem::ImageGenerationCall(image) => {
            image.status = status;
            image.result = None;
        }
        OutputItem::CodeInterpreterCall(code) => code.status = status,
        _ => {}
    }
    item
}

/// A text part with `text`.
fn output_text(text: String) -> OutputContent {
    OutputContent::OutputText {
        text,
        annotations: Vec::new(),
        logprobs: Vec::new(),
    }
}

/// A tool call item: `input` for a custom tool, else the function's `arguments` (`status` only
/// on function calls: the spec gives custom calls none).
fn call_item(
    item_id: &str,
    call_id: &str,
    name: &str,
    arguments_or_input: &str,
    custom: bool,
    status: ItemStatus,
) -> OutputItem {
    if custom {
        OutputItem::CustomToolCall(CustomToolCallItem {
            id: Some(item_id.to_owned()),
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            input: arguments_or_input.to_owned(),
            namespace: None,
        })
    } else {
        OutputItem::FunctionCall(FunctionCallItem {
            id: Some(item_id.to_owned()),
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            arguments: arguments_or_input.to_owned(),
            status: Some(status.as_str().to_owned()),
            namespace: None,
        })
    }
}

#[cfg(test)]
mod tests;
