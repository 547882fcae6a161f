//! The streamed message: the chat chunks of one answer (stop sequences and tool calls already
//! handled by the chat stream) → Anthropic's stream events. `message_start` comes first; each
//! reasoning run (a `thinking` block, signed just before it stops), text run and tool call is a
//! content block, started before its deltas and stopped before the next one starts (a web search
//! is its two blocks, sent whole once its pages are known; citations are `citations_delta`s in the
//! text block); `message_delta` (stop reason, usage counted as for a whole answer) and
//! `message_stop` end a finished stream, one `error` event a failed one.

use anthropic::error::ErrorEnvelope;
use anthropic::message::{Message, ResponseBlock, StopReason, Usage};
use anthropic::stream::{BlockDelta, MessageDelta, StreamEvent};
use openai::chat::{Annotation, BuiltinCall, ChatCompletionChunk, Usage as ChatUsage, WebSource};
use serde_json::Map;

use super::response::{
    messages_usage, server_tool_usage, stop_reason, text_citations, thinking_signature, tool_input,
    tool_use_id, web_search_blocks,
};

/// Turns the chat chunks of one answer into Anthropic stream events.
#[derive(Debug)]
pub struct MessageEvents {
    /// The message's `msg_…`.
    id: String,
    /// The block whose deltas are being sent.
    open: Option<OpenBlock>,
    /// Blocks started so far (the next one's index).
    blocks: u32,
    /// A text or `tool_use` block was started (thinking alone still gets an empty text block).
    answered: bool,
    /// The chat finish reason, once seen.
    finish_reason: Option<String>,
    /// The stop sequence that ended the answer, when one did.
    stop_sequence: Option<String>,
    /// The `ping` that follows the first block's start was sent.
    pinged: bool,
    /// `message_stop` or `error` was sent: nothing more is.
    ended: bool,
    /// The query a web search is shown with (see [`super::response::search_query`]).
    search_query: String,
    /// A web search was reported whose results are not shown yet (none known so far).
    search_pending: bool,
    /// Web searches shown.
    searches: u32,
    /// The whole text sent, for the citations' `cited_text`.
    text: String,
    /// Characters of the text sent before the open text block.
    block_start: usize,
}

/// The content block being streamed.
#[derive(Debug)]
enum OpenBlock {
    /// A `thinking` block.
    Thinking {
        /// Its index.
        index: u32,
        /// Its text so far, signed when it stops.
        thinking: String,
    },
    /// A text block.
    Text {
        /// Its index.
        index: u32,
    },
    /// A `tool_use` block; its input is sent whole when the arguments are (GigaChat sends a call
    /// in one piece), mapped as in a whole answer.
    ToolUse {
        /// Its index.
        index: u32,
        /// The call's arguments so far.
        arguments: String,
    },
}

impl MessageEvents {
    /// A converter for the message `id` (`msg_…`).
    pub fn new(id: String) -> Self {
        Self {
            id,
            open: None,
            blocks: 0,
            answered: false,
            finish_reason: None,
            stop_sequence: None,
            pinged: false,
            ended: false,
            search_query: String::new(),
            search_pending: false,
            searches: 0,
            text: String::new(),
            block_start: 0,
        }
    }

    /// The same converter showing web searches with `query` (GigaChat does not report one).
    pub fn with_search_query(self, search_query: String) -> Self {
        Self {
            search_query,
            ..self
        }
    }

    /// The event that opens the stream: `message_start` with the message served by `model`,
    /// empty, and its usage as far as it is known (nothing: GigaChat counts at the end).
    pub fn start(&mut self, model: &str, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::MessageStart {
            message: Message {
                id: self.id.clone(),
                kind: "message".into(),
                role: "assistant".into(),
                model: model.to_owned(),
                content: Vec::new(),
                stop_reason: None,
                stop_sequence: None,
                usage: Usage::default(),
            },
        });
    }

    /// The events for one chat chunk (possibly none).
    pub fn push(&mut self, chunk: &ChatCompletionChunk, out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        for choice in &chunk.choices {
            if let Some(thinking) = choice
                .delta
                .reasoning_content
                .as_deref()
                .filter(|t| !t.is_empty())
            {
                self.thinking(thinking, out);
            }
            for call in &choice.delta.builtin_calls {
                if let BuiltinCall::WebSearch { sources } = call {
                    self.web_search(sources, out);
                }
            }
            if let Some(text) = choice.delta.content.as_deref().filter(|t| !t.is_empty()) {
                self.text(text, out);
            }
            for call in choice.delta.tool_calls.iter().flatten() {
                if let Some(call_id) = &call.id {
                    self.close(out);
                    self.open_tool_use(call_id, call.function.name.as_deref(), out);
                }
                if let (Some(piece), Some(OpenBlock::ToolUse { arguments, .. })) =
                    (call.function.arguments.as_deref(), self.open.as_mut())
                {
                    arguments.push_str(piece);
                }
            }
            if !choice.delta.annotations.is_empty() {
                self.cite(&choice.delta.annotations, out);
            }
            if let Some(reason) = &choice.finish_reason {
                self.finish_reason = Some(reason.clone());
                self.close(out);
            }
        }
    }

    /// A web search: its `server_tool_use` and `web_search_tool_result` blocks, once, when its
    /// results are known (else later, at the latest when the answer ends).
    fn web_search(&mut self, sources: &[WebSource], out: &mut Vec<StreamEvent>) {
        if self.searches > 0 {
            return;
        }
        if sources.is_empty() {
            self.search_pending = true;
            return;
        }
        self.show_search(sources, out);
    }

    /// Sends the blocks of the (one) web search with `sources`.
    fn show_search(&mut self, sources: &[WebSource], out: &mut Vec<StreamEvent>) {
        self.search_pending = false;
        self.searches += 1;
        self.close(out);
        let query = std::mem::take(&mut self.search_query);
        for block in web_search_blocks(sources, &self.id, query) {
            let index = self.open_block(block, out);
            out.push(StreamEvent::ContentBlockStop { index });
        }
    }

    /// The citations falling in the open text block, as `citations_delta`s.
    fn cite(&mut self, annotations: &[Annotation], out: &mut Vec<StreamEvent>) {
        let Some(OpenBlock::Text { index }) = self.open else {
            return;
        };
        let in_block: Vec<Annotation> = annotations
            .iter()
            .filter(|a| a.url_citation.start_index as usize >= self.block_start)
            .cloned()
            .collect();
        for citation in text_citations(&self.text, &in_block) {
            out.push(StreamEvent::ContentBlockDelta {
                index,
                delta: BlockDelta::CitationsDelta { citation },
            });
        }
    }

    /// Told that stop sequence `sequence` ended the answer (the chat stream cut the text there).
    pub fn stopped_at(&mut self, sequence: &str) {
        self.stop_sequence = Some(sequence.to_owned());
    }

    /// The events that end a stream whose answer is whole: the last block stopped (an empty text
    /// block when the answer had none, as a whole answer has), `message_delta` with the stop
    /// reason and `usage` (the chat usage of the answer, mapped as for a whole answer), then
    /// `message_stop`.
    pub fn finish(&mut self, usage: Option<&ChatUsage>, out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        self.close(out);
        if self.search_pending {
            self.show_search(&[], out);
        }
        if !self.answered {
            self.open_text(out);
            self.close(out);
        }
        self.ended = true;
        let reason = match self.stop_sequence {
            Some(_) => StopReason::StopSequence,
            None => stop_reason(self.finish_reason.as_deref()),
        };
        out.push(StreamEvent::MessageDelta {
            delta: MessageDelta {
                stop_reason: Some(reason),
                stop_sequence: self.stop_sequence.take(),
            },
            usage: Usage {
                server_tool_use: server_tool_usage(self.searches),
                ..usage.map(messages_usage).unwrap_or_default()
            },
        });
        out.push(StreamEvent::MessageStop);
    }

    /// The event that ends a stream that failed after it started: `error`, with the fields of
    /// the error answer `envelope`.
    pub fn fail(&mut self, envelope: ErrorEnvelope, out: &mut Vec<StreamEvent>) {
        if self.ended {
            return;
        }
        self.ended = true;
        out.push(StreamEvent::error(envelope));
    }

    /// More reasoning: into the thinking block, started first when another block (or none) is
    /// open.
    fn thinking(&mut self, thinking: &str, out: &mut Vec<StreamEvent>) {
        if !matches!(self.open, Some(OpenBlock::Thinking { .. })) {
            self.close(out);
            let index = self.open_block(
                ResponseBlock::Thinking {
                    thinking: String::new(),
                    signature: String::new(),
                },
                out,
            );
            self.open = Some(OpenBlock::Thinking {
                index,
                thinking: String::new(),
            });
        }
        if let Some(OpenBlock::Thinking {
            index,
            thinking: so_far,
        }) = self.open.as_mut()
        {
            so_far.push_str(thinking);
            out.push(StreamEvent::ContentBlockDelta {
                index: *index,
                delta: BlockDelta::ThinkingDelta {
                    thinking: thinking.to_owned(),
                },
            });
        }
    }

    /// More text: into the text block, started first when another block (or none) is open.
    fn text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        let index = match self.open {
            Some(OpenBlock::Text { index }) => index,
            _ => {
                self.close(out);
                self.block_start = self.text.chars().count();
                self.open_text(out)
            }
        };
        self.text.push_str(text);
        out.push(StreamEvent::ContentBlockDelta {
            index,
            delta: BlockDelta::TextDelta {
                text: text.to_owned(),
            },
        });
    }

    /// Starts a text block; its index.
    fn open_text(&mut self, out: &mut Vec<StreamEvent>) -> u32 {
        self.answered = true;
        let index = self.open_block(
            ResponseBlock::Text {
                text: String::new(),
                citations: Vec::new(),
            },
            out,
        );
        self.open = Some(OpenBlock::Text { index });
        index
    }

    /// Starts the `tool_use` block of chat call `call_id`.
    fn open_tool_use(&mut self, call_id: &str, name: Option<&str>, out: &mut Vec<StreamEvent>) {
        self.answered = true;
        let index = self.open_block(
            ResponseBlock::ToolUse {
                id: tool_use_id(call_id),
                name: name.unwrap_or_default().to_owned(),
                input: Map::new(),
            },
            out,
        );
        self.open = Some(OpenBlock::ToolUse {
            index,
            arguments: String::new(),
        });
    }

    /// Sends `content_block_start` for the next block (the first one followed by a `ping`, as
    /// Anthropic does); its index.
    fn open_block(&mut self, content_block: ResponseBlock, out: &mut Vec<StreamEvent>) -> u32 {
        let index = self.blocks;
        self.blocks += 1;
        out.push(StreamEvent::ContentBlockStart {
            index,
            content_block,
        });
        if !self.pinged {
            self.pinged = true;
            out.push(StreamEvent::Ping);
        }
        index
    }

    /// Stops the open block, if any; a `thinking` block gets its signature first, a `tool_use`
    /// block its input.
    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        let index = match self.open.take() {
            None => return,
            Some(OpenBlock::Thinking { index, thinking }) => {
                out.push(StreamEvent::ContentBlockDelta {
                    index,
                    delta: BlockDelta::SignatureDelta {
                        signature: thinking_signature(&thinking),
                    },
                });
                index
            }
            Some(OpenBlock::Text { index }) => index,
            Some(OpenBlock::ToolUse { index, arguments }) => {
                let input = serde_json::Value::Object(tool_input(&arguments));
                out.push(StreamEvent::ContentBlockDelta {
                    index,
                    delta: BlockDelta::InputJsonDelta {
                        partial_json: input.to_string(),
                    },
                });
                index
            }
        };
        out.push(StreamEvent::ContentBlockStop { index });
    }
}

#[cfg(test)]
mod tests;
