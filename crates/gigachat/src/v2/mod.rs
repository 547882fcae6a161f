//! The v2 chat contract (`POST /v2/chat/completions`), known only to this client: a neutral
//! [`ChatRequest`](crate::types::ChatRequest) becomes a v2 body ([`request`]), and v2 answers
//! ([`answer`]) and stream events ([`events`]) become neutral completions and chunks.

pub(crate) mod answer;
pub(crate) mod events;
pub(crate) mod request;
