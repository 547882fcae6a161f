//! Request bodies: size-limited bytes parsed as JSON, with errors that name the failing JSON path.

use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Turns the body extractor's rejection into our envelope (413 for the size limit).
pub fn bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, AppError> {
    body.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge(limit)
        } else {
            AppError::InvalidRequest {
                message: format!("Could not read the request body: {rejection}"),
                param: None,
            }
        }
    })
}

/// Parses JSON, naming the path of the first problem (`messages[0].content`).
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::InvalidRequest {
            message: "The request body is empty; send a JSON object.".into(),
            param: None,
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let (message, param) = if inner.is_syntax() || inner.is_eof() {
            (format!("The request body is not valid JSON: {inner}"), None)
        } else if path == "." {
            (format!("Invalid request body: {inner}"), None)
        } else {
            (format!("Invalid value at `{path}`: {inner}"), Some(path))
        };
        AppError::InvalidRequest { message, param }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openai::chat::ChatCompletionRequest;

    fn param(body: &str) -> Option<String> {
        match json::<ChatCompletionRequest>(body.as_bytes()) {
            Err(AppError::InvalidRequest { param, .. }) => param,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_path() {
        assert_eq!(
            param(r#"{"messages": [{"role": 5}]}"#).as_deref(),
            Some("messages[0].role")
        );
        assert_eq!(param(r#"{"messages": "#), None);
        assert_eq!(param(r#"{"model": "x"}"#), None);
        assert_eq!(param("  "), None);
    }
}
