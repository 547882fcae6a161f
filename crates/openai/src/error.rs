//! The OpenAI error envelope: `{"error": {"message", "type", "param", "code"}}`.

use serde::{Deserialize, Serialize};

/// The body of every error response (and of an error event inside a stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// What went wrong, in the fields the SDKs read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Human-readable explanation.
    pub message: String,
    /// Category, e.g. `invalid_request_error`, `authentication_error`, `rate_limit_error`, `server_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault, when one is.
    pub param: Option<String>,
    /// Machine-readable code, e.g. `invalid_api_key`, `model_not_found`, `context_length_exceeded`.
    pub code: Option<String>,
}

impl ErrorEnvelope {
    /// An envelope from its parts.
    pub fn new(
        message: impl Into<String>,
        kind: impl Into<String>,
        param: Option<String>,
        code: Option<String>,
    ) -> Self {
        Self {
            error: ErrorBody {
                message: message.into(),
                kind: kind.into(),
                param,
                code,
            },
        }
    }
}
