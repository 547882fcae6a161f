//! `POST /tokens/count`: a bare array with the same token estimate chat usage is built from.

use serde::{Deserialize, Serialize};

use super::parse_json;
use crate::api::models;
use crate::text;
use crate::wire::{self, ApiError, ApiResult};

#[derive(Deserialize)]
struct CountRequest {
    model: String,
    input: Input,
}

/// `input` as a list of strings (the SDK's form) or a single string.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Input {
    /// Several texts.
    Many(Vec<String>),
    /// One text.
    One(String),
}

impl Input {
    /// The texts as a list.
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            Self::Many(texts) => texts,
            Self::One(text) => vec![text],
        }
    }
}

/// `POST /tokens/count`.
pub(crate) async fn count(body: bytes::Bytes) -> ApiResult {
    #[derive(Serialize)]
    struct Count {
        object: &'static str,
        tokens: usize,
        characters: usize,
    }
    let request: CountRequest = parse_json(&body)?;
    if models::versioned_chat_model(&request.model).is_none()
        && !models::is_embedder(&request.model)
    {
        return Err(ApiError::no_such_model());
    }
    let counts: Vec<Count> = request
        .input
        .into_vec()
        .iter()
        .map(|text| Count {
            object: "tokens",
            tokens: text::count_tokens(text),
            characters: text.chars().count(),
        })
        .collect();
    wire::ok(&counts)
}
