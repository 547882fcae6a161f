//! The Anthropic Messages API on the chat path: a `MessagesRequest` becomes a chat request (then
//! the chat plan serves it: aliases, tools and schemas, attachments, usage rules) and the chat
//! answer becomes a `message`. What the answer mapping needs from the request travels in a
//! [`MessagesPlan`].

pub mod request;
pub mod response;
pub mod stream;

pub use request::{
    MessagesPlan, call_id, count_tokens_request, input_token_texts, messages_request, session_id,
};
pub use response::{messages_response, messages_usage, search_query, stop_reason, tool_use_id};
