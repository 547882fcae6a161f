//! The Responses API on the chat path: a `CreateResponse` becomes a chat request (then the chat
//! plan serves it: tools, schemas, attachments, aliases, usage rules) and the chat answer becomes a
//! `response` object. What the answer mapping needs from the request travels in a
//! [`ResponsesPlan`].

pub mod request;
pub mod response;
pub mod stream;

pub use request::{
    AnswerPlan, LEFT_OUT_TOOL_TYPES, ResponsesPlan, custom_tool_arguments, input_token_texts,
    responses_request, session_id,
};
pub use response::{
    StoredExchange, call_item_id, custom_tool_input, history_items, incomplete_reason, message_id,
    output_input_items, response_usage, responses_response,
};
