//! Anthropic's error envelope: `{"type": "error", "error": {"type", "message"}, "request_id"}`.

use serde::{Deserialize, Serialize};

/// The body of every error answer (and of an `error` event inside a stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// Always `error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The error.
    pub error: ErrorBody,
    /// The id of the request that failed (the `request-id` header), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// `invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`,
    /// `request_too_large`, `rate_limit_error`, `api_error`, `overloaded_error`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Human-readable explanation.
    pub message: String,
}

impl ErrorEnvelope {
    /// An envelope from its parts.
    pub fn new(
        kind: impl Into<String>,
        message: impl Into<String>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            kind: "error".to_owned(),
            error: ErrorBody {
                kind: kind.into(),
                message: message.into(),
            },
            request_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_has_the_sdks_fields() {
        let envelope = ErrorEnvelope::new("not_found_error", "no model", Some("req_1".into()));
        assert_eq!(
            serde_json::to_value(&envelope).unwrap(),
            serde_json::json!({"type": "error", "error": {"type": "not_found_error", "message": "no model"}, "request_id": "req_1"})
        );
    }
}
