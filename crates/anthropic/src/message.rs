//! The answer of `POST /v1/messages`: a `message` with thinking, text and `tool_use` blocks, why
//! it stopped, and its usage.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `msg_...`.
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `assistant`.
    pub role: String,
    /// The model that answered.
    pub model: String,
    /// The answer's blocks, in order.
    pub content: Vec<ResponseBlock>,
    /// Why the answer ended (`null` only in a stream's `message_start`).
    pub stop_reason: Option<StopReason>,
    /// Which of the request's `stop_sequences` ended it, when one did.
    pub stop_sequence: Option<String>,
    /// Tokens used.
    pub usage: Usage,
}

/// A block of an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseBlock {
    /// `{"type":"thinking","thinking","signature"}`: the model's reasoning before its answer.
    Thinking {
        /// The reasoning text.
        thinking: String,
        /// An opaque token that lets the block be sent back (empty while it streams).
        signature: String,
    },
    /// `{"type":"text","text","citations"?}`.
    Text {
        /// The text.
        text: String,
        /// The web-search results the text cites (left out when none).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        citations: Vec<TextCitation>,
    },
    /// `{"type":"tool_use","id","name","input"}`: a call of one of the request's tools.
    ToolUse {
        /// `toolu_...`; the `tool_use_id` of the `tool_result` answering it.
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments, an object.
        input: Map<String, Value>,
    },
    /// `{"type":"server_tool_use","id","name","input"}`: a server tool the model used (GigaChat's
    /// web search).
    ServerToolUse {
        /// `srvtoolu_...`; the `tool_use_id` of its result block.
        id: String,
        /// `web_search`.
        name: String,
        /// What it was given (`{"query"}`).
        input: Map<String, Value>,
    },
    /// `{"type":"web_search_tool_result","tool_use_id","content"}`: the pages a search found.
    WebSearchToolResult {
        /// The `server_tool_use` block's id.
        tool_use_id: String,
        /// The results.
        content: Vec<WebSearchResult>,
    },
}

/// One page of a web search result (`web_search_result`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSearchResult {
    /// Always `web_search_result`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The page.
    pub url: String,
    /// Its title.
    pub title: String,
    /// Opaque content a client sends back with the result (here: the URL, base64-encoded).
    pub encrypted_content: String,
    /// How old the page is (unknown: `null`).
    pub page_age: Option<String>,
}

/// A citation of a text block (`web_search_result_location`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextCitation {
    /// Always `web_search_result_location`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The cited page.
    pub url: String,
    /// Its title.
    pub title: Option<String>,
    /// The text that cites it.
    pub cited_text: String,
    /// Opaque reference to the citation (here: its number, base64-encoded).
    pub encrypted_index: String,
}

/// Why an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model finished.
    EndTurn,
    /// `max_tokens` was reached.
    MaxTokens,
    /// One of `stop_sequences` was generated.
    StopSequence,
    /// The model called tools.
    ToolUse,
    /// A long turn paused (server tools; not produced here).
    PauseTurn,
    /// The answer was withheld by a content filter.
    Refusal,
}

/// Token usage. `input_tokens` does not include the tokens read from the prompt cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens not read from the cache.
    pub input_tokens: u32,
    /// Generated tokens.
    pub output_tokens: u32,
    /// Input tokens written to the cache.
    pub cache_creation_input_tokens: u32,
    /// Input tokens read from the cache.
    pub cache_read_input_tokens: u32,
    /// Server tool runs (web searches), when there were any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_tool_use: Option<ServerToolUsage>,
}

/// `usage.server_tool_use`: how many times server tools ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerToolUsage {
    /// Web searches.
    pub web_search_requests: u32,
    /// Page fetches (none here).
    pub web_fetch_requests: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_serializes_every_required_field() {
        let message = Message {
            id: "msg_1".into(),
            kind: "message".into(),
            role: "assistant".into(),
            model: "GigaChat-2-Max".into(),
            content: vec![
                ResponseBlock::Text {
                    text: "Hi".into(),
                    citations: Vec::new(),
                },
                ResponseBlock::ToolUse {
                    id: "toolu_1".into(),
                    name: "f".into(),
                    input: Map::from_iter([("a".to_owned(), json!(1))]),
                },
            ],
            stop_reason: Some(StopReason::ToolUse),
            stop_sequence: None,
            usage: Usage {
                input_tokens: 3,
                output_tokens: 2,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 1,
                server_tool_use: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            json!({
                "id": "msg_1", "type": "message", "role": "assistant", "model": "GigaChat-2-Max",
                "content": [
                    {"type": "text", "text": "Hi"},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}
                ],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 3, "output_tokens": 2, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1}
            })
        );
    }
}
