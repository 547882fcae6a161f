//! The prologue every JSON front door shares, as one extractor: the caller's access record, the
//! body parsed (size limit applied, errors naming the JSON path), the model asked for recorded and
//! checked against the caller's key (`models` in `KEYS_FILE`), and the ids GigaChat receives. A handler starts from its output at "translate".
//!
//! A refused body is an [`AppError`] in OpenAI's envelope; a front door with an envelope of its own
//! takes `Result<Incoming<T>, AppError>` and renders the error itself.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use gigachat::RequestContext;
use openai::chat::ChatCompletionRequest;
use openai::completions::CompletionRequest;
use openai::embeddings::EmbeddingRequest;
use openai::extensions::TokensCountRequest;
use serde::de::DeserializeOwned;

use crate::access::Call;
use crate::error::AppError;
use crate::policy::KeyPolicy;
use crate::state::AppState;
use crate::{body, context};

/// A JSON request body a front door accepts: what the prologue reads from it before translation.
pub trait RequestBody: DeserializeOwned + Send + 'static {
    /// The model the client asked for (`None`: the default), for the access log and metrics.
    fn model(&self) -> Option<&str>;

    /// The model a request that names none gets, as the client would name it: `GIGACHAT_MODEL`.
    fn default_model(state: &AppState) -> &str {
        &state.defaults().default_model
    }

    /// What GigaChat receives as `X-Session-ID`, given the client's `X-Session-ID` header (trimmed,
    /// non-empty): that header bounded by [`translate::header_id`], unless the body names a
    /// session of its own.
    fn session(&self, header: Option<&str>) -> Option<String> {
        header.map(translate::header_id)
    }
}

/// A JSON call past its prologue: who called, what they sent, and what GigaChat will be told.
pub struct Incoming<T> {
    /// The request's access record: its id, and what the access log and metrics learn of it.
    pub call: Call,
    /// The ids GigaChat receives (`X-Request-ID` is the request id,
    /// [`Exchange::id`](crate::access::Exchange::id)).
    pub upstream: RequestContext,
    /// The parsed body.
    pub request: T,
}

impl<T: RequestBody> FromRequest<AppState> for Incoming<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, AppError> {
        let (mut parts, payload) = request.into_parts();
        let Ok(call) = Call::from_request_parts(&mut parts, state).await;
        let request: T = body::parse(payload, &parts.headers, state.max_request_bytes()).await?;
        call.asked(request.model());
        if let Some(key) = parts.extensions.get::<Arc<KeyPolicy>>() {
            let model = request
                .model()
                .map(str::trim)
                .filter(|model| !model.is_empty())
                .unwrap_or_else(|| T::default_model(state));
            if !key.allows_model(model) {
                return Err(AppError::ModelNotAllowed(model.to_owned()));
            }
        }
        let session = request.session(context::header(&parts.headers, "x-session-id"));
        let upstream = context::upstream(&parts.headers, call.id(), session);
        Ok(Self {
            call,
            upstream,
            request,
        })
    }
}

impl RequestBody for ChatCompletionRequest {
    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The header, else `prompt_cache_key`, else `user` (see [`translate::session_id`]).
    fn session(&self, header: Option<&str>) -> Option<String> {
        translate::session_id(self, header)
    }
}

impl RequestBody for CompletionRequest {
    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The header, else `user`.
    fn session(&self, header: Option<&str>) -> Option<String> {
        translate::completions::session_id(self, header)
    }
}

impl RequestBody for EmbeddingRequest {
    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// `EMBEDDINGS_MODEL`.
    fn default_model(state: &AppState) -> &str {
        state.embeddings_model()
    }
}

impl RequestBody for TokensCountRequest {
    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed<T: RequestBody>(json: serde_json::Value) -> T {
        serde_json::from_value(json).unwrap()
    }

    /// Chat and completions take the session from the body when no header names one; the other
    /// bodies only ever from the header.
    #[test]
    fn sessions_come_from_the_header_or_the_body_that_has_one() {
        let chat: ChatCompletionRequest =
            parsed(serde_json::json!({"messages": [], "user": "alice"}));
        assert_eq!(chat.session(None).as_deref(), Some("alice"));
        assert_eq!(chat.session(Some("s-1")).as_deref(), Some("s-1"));
        let completion: CompletionRequest =
            parsed(serde_json::json!({"prompt": "x", "user": "bob"}));
        assert_eq!(completion.session(None).as_deref(), Some("bob"));
        let embedding: EmbeddingRequest =
            parsed(serde_json::json!({"input": "x", "user": "carol"}));
        assert_eq!(embedding.session(None), None);
        assert_eq!(embedding.session(Some("s-2")).as_deref(), Some("s-2"));
        let long = "s".repeat(4096);
        let count: TokensCountRequest = parsed(serde_json::json!({"input": "x"}));
        assert_eq!(count.session(Some(&long)).map(|id| id.len()), Some(72));
    }

    #[test]
    fn the_model_asked_for_is_the_bodys() {
        let chat: ChatCompletionRequest =
            parsed(serde_json::json!({"messages": [], "model": "gpt-4o"}));
        assert_eq!(RequestBody::model(&chat), Some("gpt-4o"));
        let count: TokensCountRequest = parsed(serde_json::json!({"input": "x"}));
        assert_eq!(RequestBody::model(&count), None);
    }
}
