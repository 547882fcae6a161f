//! A chat answer → the `message` object: the reasoning as a `thinking` block first, a web search as
//! `server_tool_use` and `web_search_tool_result` blocks, the text as a `text` block (with its
//! `citations`), each tool call as a `tool_use` block (id `toolu_…`, `input` an object), the finish
//! reason as a `stop_reason`, and usage with cache reads apart from the input, as Anthropic counts them.

use anthropic::message::{
    Message, ResponseBlock, ServerToolUsage, StopReason, TextCitation, Usage, WebSearchResult,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use openai::chat::{Annotation, BuiltinCall, ChatCompletion, Usage as ChatUsage, WebSource};
use serde_json::{Map, Value};
use sha2::Digest as _;

use super::request::MessagesPlan;

/// Chat usage in Anthropic's shape. Chat's `prompt_tokens` includes the cached tokens (see
/// [`crate::usage`]); Anthropic's `input_tokens` leaves out what was read from the cache, which
/// is `cache_read_input_tokens`. GigaChat reports no cache writes: 0.
pub fn messages_usage(usage: &ChatUsage) -> Usage {
    let cached = usage
        .prompt_tokens_details
        .map_or(0, |details| details.cached_tokens);
    Usage {
        input_tokens: usage.prompt_tokens.saturating_sub(cached),
        output_tokens: usage.completion_tokens,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: cached,
        server_tool_use: None,
    }
}

/// The `server_tool_use` block's id for message `id` (`msg_X` → `srvtoolu_X`).
pub fn server_tool_use_id(message_id: &str) -> String {
    format!(
        "srvtoolu_{}",
        message_id.strip_prefix("msg_").unwrap_or(message_id)
    )
}

/// The query a web search is shown to have run: GigaChat does not say, so the last user text.
pub fn search_query(plan: &MessagesPlan) -> String {
    plan.chat
        .messages
        .iter()
        .rev()
        .find(|message| message.role == "user")
        .and_then(|message| message.content.as_ref())
        .map(openai::chat::MessageContent::text)
        .unwrap_or_default()
}

/// GigaChat's web search as Anthropic's server tool: the `server_tool_use` block and its
/// `web_search_tool_result` (the URL, base64, stands in for the opaque `encrypted_content`).
pub fn web_search_blocks(
    sources: &[WebSource],
    message_id: &str,
    query: String,
) -> [ResponseBlock; 2] {
    let id = server_tool_use_id(message_id);
    [
        ResponseBlock::ServerToolUse {
            id: id.clone(),
            name: "web_search".into(),
            input: Map::from_iter([("query".to_owned(), Value::String(query))]),
        },
        ResponseBlock::WebSearchToolResult {
            tool_use_id: id,
            content: sources
                .iter()
                .map(|source| WebSearchResult {
                    kind: "web_search_result".into(),
                    url: source.url.clone(),
                    title: source.title.clone(),
                    encrypted_content: BASE64.encode(&source.url),
                    page_age: None,
                })
                .collect(),
        },
    ]
}

/// The citations of `text` as Anthropic's: each cites the run of text before its mark, back to
/// the previous mark or line break (`cited_text`); the mark's number, base64, is the opaque
/// `encrypted_index`. Marks beyond the text (cut by a stop sequence) are left out.
pub fn text_citations(text: &str, annotations: &[Annotation]) -> Vec<TextCitation> {
    let chars: Vec<char> = text.chars().collect();
    let mut previous_end = 0;
    let mut out = Vec::with_capacity(annotations.len());
    for annotation in annotations {
        let citation = &annotation.url_citation;
        let (start, end) = (citation.start_index as usize, citation.end_index as usize);
        if end > chars.len() || start < previous_end {
            continue;
        }
        let before = &chars[previous_end..start];
        let line = before
            .iter()
            .rposition(|c| *c == '\n')
            .map_or(0, |at| at + 1);
        let cited: String = before[line..].iter().collect();
        let mark: String = chars[start..end].iter().collect();
        out.push(TextCitation {
            kind: "web_search_result_location".into(),
            url: citation.url.clone(),
            title: Some(citation.title.clone()),
            cited_text: cited.trim().to_owned(),
            encrypted_index: BASE64.encode(mark.trim_matches(['[', ']'])),
        });
        previous_end = end;
    }
    out
}

/// Anthropic's `stop_reason` for a chat finish reason (`content_filter`: GigaChat's blacklist).
pub fn stop_reason(finish_reason: Option<&str>) -> StopReason {
    match finish_reason {
        Some("length") => StopReason::MaxTokens,
        Some("tool_calls" | "function_call") => StopReason::ToolUse,
        Some("content_filter") => StopReason::Refusal,
        _ => StopReason::EndTurn,
    }
}

/// Labels the digest a thinking signature is made of, so it is never a bare hash of the text.
const SIGNATURE_LABEL: &[u8] = b"gigachat-adapter thinking v1\n";

/// The `signature` of a thinking block: the base64 SHA-256 of its labelled text. Anthropic's
/// signatures are opaque tokens a client keeps and sends back with the block; GigaChat takes no
/// reasoning back (such blocks are dropped from the history), so this one only has to be a
/// stable, non-empty token.
pub fn thinking_signature(thinking: &str) -> String {
    let mut digest = sha2::Sha256::new();
    digest.update(SIGNATURE_LABEL);
    digest.update(thinking.as_bytes());
    BASE64.encode(digest.finalize())
}

/// The `tool_use` id of a chat call id (`call_X` → `toolu_X`); [`super::call_id`] undoes it.
pub fn tool_use_id(call_id: &str) -> String {
    format!("toolu_{}", call_id.strip_prefix("call_").unwrap_or(call_id))
}

/// A tool call's arguments as `input`: the object they encode; anything else (GigaChat sends
/// objects, but a broken string is possible) under `input`.
pub fn tool_input(arguments: &str) -> Map<String, Value> {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(object)) => object,
        Ok(Value::Null) => Map::new(),
        Ok(other) => Map::from_iter([("input".to_owned(), other)]),
        Err(_) if arguments.trim().is_empty() => Map::new(),
        Err(_) => Map::from_iter([("input".to_owned(), Value::String(arguments.to_owned()))]),
    }
}

/// `usage.server_tool_use` after `searches` web searches (left out when none ran).
pub fn server_tool_usage(searches: u32) -> Option<ServerToolUsage> {
    (searches > 0).then_some(ServerToolUsage {
        web_search_requests: searches,
        web_fetch_requests: 0,
    })
}

/// `text` cut before the earliest of `sequences`, and which one it was.
fn cut_at_first<'a>(text: &str, sequences: &'a [String]) -> Option<(usize, &'a String)> {
    sequences
        .iter()
        .filter_map(|sequence| text.find(sequence.as_str()).map(|at| (at, sequence)))
        .min_by_key(|(at, _)| *at)
}

/// The message for a finished (non-streamed) chat answer; `id` is its `msg_…`.
pub fn messages_response(answer: &ChatCompletion, plan: &MessagesPlan, id: String) -> Message {
    let choice = answer.choices.first();
    let mut reason = stop_reason(choice.and_then(|c| c.finish_reason.as_deref()));
    let mut stop_sequence = None;
    let mut content = Vec::new();
    let mut searches = 0;
    if let Some(message) = choice.map(|c| &c.message) {
        if let Some(thinking) = message
            .reasoning_content
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            content.push(ResponseBlock::Thinking {
                thinking: thinking.to_owned(),
                signature: thinking_signature(thinking),
            });
        }
        let calls = message.tool_calls.as_deref().unwrap_or_default();
        let mut text = message
            .content
            .clone()
            .or_else(|| message.refusal.clone())
            .unwrap_or_default();
        if calls.is_empty()
            && !plan.chat.stream.unwrap_or(false)
            && let Some((at, sequence)) = cut_at_first(&text, &plan.stop_sequences)
        {
            text.truncate(at);
            reason = StopReason::StopSequence;
            stop_sequence = Some(sequence.clone());
        }
        for call in &message.builtin_calls {
            if let BuiltinCall::WebSearch { sources } = call {
                content.extend(web_search_blocks(sources, &id, search_query(plan)));
                searches += 1;
            }
        }
        if !text.is_empty() || calls.is_empty() {
            let citations = text_citations(&text, &message.annotations);
            content.push(ResponseBlock::Text { text, citations });
        }
        content.extend(calls.iter().map(|call| ResponseBlock::ToolUse {
            id: tool_use_id(&call.id),
            name: call.function.name.clone(),
            input: tool_input(&call.function.arguments),
        }));
    }
    let mut usage = answer
        .usage
        .as_ref()
        .map(messages_usage)
        .unwrap_or_default();
    usage.server_tool_use = server_tool_usage(searches);
    Message {
        id,
        kind: "message".into(),
        role: "assistant".into(),
        model: answer.model.clone(),
        content,
        stop_reason: Some(reason),
        stop_sequence,
        usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openai::chat::{
        Choice, FunctionCall, PromptTokensDetails, ResponseMessage, ToolCall, Usage as ChatUsage,
    };

    fn answer(content: Option<&str>, calls: Vec<ToolCall>, finish: &str) -> ChatCompletion {
        ChatCompletion {
            id: "chatcmpl-1".into(),
            object: "chat.completion".into(),
            created: 1,
            model: "GigaChat-2-Max".into(),
            choices: vec![Choice {
                index: 0,
                message: ResponseMessage {
                    role: "assistant".into(),
                    content: content.map(str::to_owned),
                    refusal: None,
                    tool_calls: (!calls.is_empty()).then_some(calls),
                    function_call: None,
                    reasoning_content: None,
                    annotations: Vec::new(),
                    builtin_calls: Vec::new(),
                },
                logprobs: None,
                finish_reason: Some(finish.into()),
            }],
            usage: Some(ChatUsage {
                prompt_tokens: 19,
                completion_tokens: 3,
                total_tokens: 22,
                prompt_tokens_details: Some(PromptTokensDetails { cached_tokens: 2 }),
                completion_tokens_details: None,
            }),
            system_fingerprint: None,
        }
    }

    fn plan(body: serde_json::Value) -> MessagesPlan {
        super::super::messages_request(serde_json::from_value(body).unwrap()).unwrap()
    }

    fn simple_plan() -> MessagesPlan {
        plan(serde_json::json!({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))
    }

    /// Chat's prompt (17 uncached + 2 cached, §11.7) is 19; Anthropic's input leaves the cache
    /// reads out.
    #[test]
    fn usage_counts_cache_reads_apart_from_the_input() {
        let message = messages_response(
            &answer(Some("Hello"), vec![], "stop"),
            &simple_plan(),
            "msg_1".into(),
        );
        assert_eq!(
            message.usage,
            Usage {
                input_tokens: 17,
                output_tokens: 3,
                cache_creation_input_tokens: 0,
                cache_read_input_tokens: 2,
                server_tool_use: None,
            }
        );
        assert_eq!(message.stop_reason, Some(StopReason::EndTurn));
        assert_eq!(
            message.content,
            [ResponseBlock::Text {
                text: "Hello".into(),
                citations: Vec::new(),
            }]
        );
        assert_eq!(message.model, "GigaChat-2-Max");
    }

    #[test]
    fn tool_calls_become_tool_use_blocks_with_object_input() {
        let call = |id: &str, arguments: &str| ToolCall {
            id: id.into(),
            kind: "function".into(),
            function: FunctionCall {
                name: "get_weather".into(),
                arguments: arguments.into(),
            },
        };
        let message = messages_response(
            &answer(
                Some(""),
                vec![
                    call(
                        "call_0123456789abcdef0123456789abcdef",
                        r#"{"city":"Paris"}"#,
                    ),
                    call("call_2", "[1]"),
                ],
                "tool_calls",
            ),
            &simple_plan(),
            "msg_1".into(),
        );
        assert_eq!(message.stop_reason, Some(StopReason::ToolUse));
        let ResponseBlock::ToolUse { id, input, .. } = &message.content[0] else {
            panic!("{:?}", message.content)
        };
        assert_eq!(id, "toolu_0123456789abcdef0123456789abcdef");
        assert_eq!(
            super::super::call_id(id),
            "call_0123456789abcdef0123456789abcdef"
        );
        assert_eq!(input.get("city"), Some(&Value::from("Paris")));
        let ResponseBlock::ToolUse { input, .. } = &message.content[1] else {
            panic!("{:?}", message.content)
        };
        assert_eq!(input.get("input"), Some(&serde_json::json!([1])));
    }

    #[test]
    fn finish_reasons_map_to_stop_reasons() {
        for (finish, reason) in [
            ("stop", StopReason::EndTurn),
            ("length", StopReason::MaxTokens),
            ("content_filter", StopReason::Refusal),
            ("tool_calls", StopReason::ToolUse),
        ] {
            let message = messages_response(
                &answer(Some("x"), vec![], finish),
                &simple_plan(),
                "msg_1".into(),
            );
            assert_eq!(message.stop_reason, Some(reason), "{finish}");
        }
    }

    #[test]
    fn the_earliest_stop_sequence_cuts_the_text_and_is_named() {
        let plan = plan(serde_json::json!({
            "max_tokens": 5, "stop_sequences": ["three", "two", ""],
            "messages": [{"role": "user", "content": "count"}]
        }));
        assert_eq!(plan.chat.stop, None);
        let message = messages_response(
            &answer(Some("one two three"), vec![], "stop"),
            &plan,
            "msg_1".into(),
        );
        assert_eq!(message.stop_reason, Some(StopReason::StopSequence));
        assert_eq!(message.stop_sequence.as_deref(), Some("two"));
        assert_eq!(
            message.content,
            [ResponseBlock::Text {
                text: "one ".into(),
                citations: Vec::new(),
            }]
        );
        let untouched = messages_response(
            &answer(Some("four five"), vec![], "stop"),
            &plan,
            "msg_1".into(),
        );
        assert_eq!(untouched.stop_reason, Some(StopReason::EndTurn));
        assert_eq!(untouched.stop_sequence, None);
    }
}
