//! The events of a streamed answer (`stream: true`), framed as Anthropic sends them: an
//! `event: <type>` line, then `data: <JSON>` whose `type` is the same name.

use bytes::BytesMut;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorBody, ErrorEnvelope};
use crate::message::{Message, ResponseBlock, StopReason, TextCitation, Usage};

/// One event of a streamed answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The first event: the message with no content yet, no stop reason, and the usage known so
    /// far.
    MessageStart {
        /// The message as it starts.
        message: Message,
    },
    /// A content block opens (a text with `text: ""`, or a `tool_use` with `input: {}`); its
    /// deltas follow.
    ContentBlockStart {
        /// The block's place in the message's content: 0, 1, 2, …
        index: u32,
        /// The block, empty.
        content_block: ResponseBlock,
    },
    /// Nothing happened; sent early and while the model is silent, to keep the connection alive.
    Ping,
    /// More of the open block.
    ContentBlockDelta {
        /// The block's index.
        index: u32,
        /// What is added.
        delta: BlockDelta,
    },
    /// The block is whole; the next one (if any) starts after this.
    ContentBlockStop {
        /// The block's index.
        index: u32,
    },
    /// Why the message ended, and its final usage.
    MessageDelta {
        /// The stop reason and sequence.
        delta: MessageDelta,
        /// The message's usage, cumulative (output tokens, and the input and cache counts that
        /// `message_start` could not know yet).
        usage: Usage,
    },
    /// The last event of a stream that finished.
    MessageStop,
    /// The stream failed after it started; nothing follows. The same fields as an error answer.
    Error {
        /// What went wrong.
        error: ErrorBody,
        /// The id of the request (the `request-id` header), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
    },
}

/// What a `content_block_delta` adds to its block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta {
    /// More reasoning of a `thinking` block.
    ThinkingDelta {
        /// The reasoning added.
        thinking: String,
    },
    /// The `signature` of a `thinking` block, sent once just before the block stops.
    SignatureDelta {
        /// The whole signature.
        signature: String,
    },
    /// More text of a `text` block.
    TextDelta {
        /// The text added.
        text: String,
    },
    /// More of a `tool_use` block's input, as a piece of its JSON text (the pieces joined are the
    /// input object).
    InputJsonDelta {
        /// The piece.
        partial_json: String,
    },
    /// A citation of a `text` block.
    CitationsDelta {
        /// The citation added.
        citation: TextCitation,
    },
}

/// The top-level changes `message_delta` makes to the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDelta {
    /// Why the message ended.
    pub stop_reason: Option<StopReason>,
    /// Which stop sequence ended it, when one did.
    pub stop_sequence: Option<String>,
}

impl StreamEvent {
    /// The `error` event with the fields of the error answer `envelope`.
    pub fn error(envelope: ErrorEnvelope) -> Self {
        Self::Error {
            error: envelope.error,
            request_id: envelope.request_id,
        }
    }

    /// The event's name (its `type`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::Ping => "ping",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
            Self::Error { .. } => "error",
        }
    }

    /// Appends the event to `out` as `event: <name>\ndata: <compact JSON>\n\n`; on error `out` is
    /// left as it was.
    pub fn write_sse(&self, out: &mut BytesMut) -> Result<(), serde_json::Error> {
        let start = out.len();
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(self.name().as_bytes());
        out.extend_from_slice(b"\n");
        openai::sse::write_event(out, self).inspect_err(|_| out.truncate(start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn framed(event: &StreamEvent) -> String {
        let mut out = BytesMut::new();
        event.write_sse(&mut out).unwrap();
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn every_event_is_named_by_its_type() {
        let events = [
            StreamEvent::MessageStart {
                message: Message {
                    id: "msg_1".into(),
                    kind: "message".into(),
                    role: "assistant".into(),
                    model: "GigaChat-2-Max".into(),
                    content: Vec::new(),
                    stop_reason: None,
                    stop_sequence: None,
                    usage: Usage::default(),
                },
            },
            StreamEvent::ContentBlockStart {
                index: 0,
                content_block: ResponseBlock::Text {
                    text: String::new(),
                    citations: Vec::new(),
                },
            },
            StreamEvent::Ping,
            StreamEvent::ContentBlockDelta {
                index: 0,
                delta: BlockDelta::TextDelta { text: "Hi".into() },
            },
            StreamEvent::ContentBlockStop { index: 0 },
            StreamEvent::MessageDelta {
                delta: MessageDelta {
                    stop_reason: Some(StopReason::EndTurn),
                    stop_sequence: None,
                },
                usage: Usage::default(),
            },
            StreamEvent::MessageStop,
            StreamEvent::Error {
                error: ErrorBody {
                    kind: "overloaded_error".into(),
                    message: "busy".into(),
                },
                request_id: Some("req_1".into()),
            },
        ];
        for event in &events {
            let text = framed(event);
            let (head, data) = text.split_once('\n').unwrap();
            assert_eq!(head, format!("event: {}", event.name()));
            let data: serde_json::Value = serde_json::from_str(
                data.strip_prefix("data: ")
                    .unwrap()
                    .strip_suffix("\n\n")
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(data["type"], event.name(), "{text}");
            assert_eq!(&serde_json::from_value::<StreamEvent>(data).unwrap(), event);
        }
    }

    #[test]
    fn events_have_anthropics_fields() {
        assert_eq!(
            framed(&StreamEvent::ContentBlockStart {
                index: 1,
                content_block: ResponseBlock::ToolUse {
                    id: "toolu_1".into(),
                    name: "get_weather".into(),
                    input: Map::new(),
                },
            }),
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\
             \"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\
             \"input\":{}}}\n\n"
        );
        assert_eq!(
            serde_json::to_value(StreamEvent::ContentBlockDelta {
                index: 1,
                delta: BlockDelta::InputJsonDelta {
                    partial_json: "{\"city\":".into()
                },
            })
            .unwrap(),
            json!({"type": "content_block_delta", "index": 1,
                   "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}})
        );
        assert_eq!(
            serde_json::to_value(StreamEvent::MessageDelta {
                delta: MessageDelta {
                    stop_reason: Some(StopReason::StopSequence),
                    stop_sequence: Some("END".into()),
                },
                usage: Usage {
                    input_tokens: 5,
                    output_tokens: 7,
                    cache_creation_input_tokens: 0,
                    cache_read_input_tokens: 2,
                    server_tool_use: None,
                },
            })
            .unwrap(),
            json!({"type": "message_delta",
                   "delta": {"stop_reason": "stop_sequence", "stop_sequence": "END"},
                   "usage": {"input_tokens": 5, "output_tokens": 7,
                             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2}})
        );
        assert_eq!(
            framed(&StreamEvent::Error {
                error: ErrorBody {
                    kind: "api_error".into(),
                    message: "GigaChat failed".into(),
                },
                request_id: None,
            }),
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\
             \"message\":\"GigaChat failed\"}}\n\n"
        );
        assert_eq!(
            framed(&StreamEvent::MessageStop),
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        );
    }
}
