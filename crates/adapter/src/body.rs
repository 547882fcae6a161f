//! Request bodies: size-limited bytes parsed as JSON, with errors that name the failing JSON path.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// A JSON call's headers and its unread body, moved out of the request (axum's `HeaderMap`
/// extractor would copy every header).
pub struct JsonCall {
    /// The request's headers.
    pub headers: HeaderMap,
    /// The request's body, not yet read.
    pub body: Body,
}

impl<S: Send + Sync> FromRequest<S> for JsonCall {
    type Rejection = Infallible;

    async fn from_request(request: Request, _: &S) -> Result<Self, Infallible> {
        let (parts, body) = request.into_parts();
        Ok(Self {
            headers: parts.headers,
            body,
        })
    }
}

/// Reads a request body into one buffer sized from `Content-Length`, so a large body is held once
/// (collecting chunks and then joining them would hold it twice); 413 beyond `limit`.
async fn read(
    body: axum::body::Body,
    headers: &axum::http::HeaderMap,
    limit: usize,
) -> Result<Bytes, AppError> {
    use futures_util::StreamExt;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(AppError::PayloadTooLarge(limit));
    }
    let mut buffer = bytes::BytesMut::with_capacity(declared.unwrap_or(0));
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|err| {
            stalled(&err).unwrap_or_else(|| AppError::InvalidRequest {
                message: format!("Could not read the request body: {err}"),
                param: None,
            })
        })?;
        if buffer.len() + chunk.len() > limit {
            return Err(AppError::PayloadTooLarge(limit));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

/// The 408 for a body read that failed because the client stopped sending for longer than
/// `BODY_READ_TIMEOUT_SECS` (the connection layer times each wait for body bytes); `None` for any
/// other failure. Looks through the error's causes, as the failure may be wrapped (multipart).
pub fn stalled(err: &(dyn std::error::Error + 'static)) -> Option<AppError> {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return Some(AppError::RequestTimeout(
                "The request body stopped arriving: no bytes came within the adapter's body read \
                 timeout (BODY_READ_TIMEOUT_SECS)."
                    .into(),
            ));
        }
        cause = err.source();
    }
    None
}

/// Bodies larger than this are parsed on a blocking thread: parsing megabytes of JSON (an inline
/// image) takes milliseconds that would hold up every other connection of the event loop.
const PARSE_INLINE_MAX: usize = 256 * 1024;

/// Reads and parses a JSON request body (see [`read`] and [`json`]); the raw bytes are dropped as
/// soon as the parsed value owns what it needs, so a large inline file is not held twice.
pub async fn parse<T: DeserializeOwned + Send + 'static>(
    body: axum::body::Body,
    headers: &axum::http::HeaderMap,
    limit: usize,
) -> Result<T, AppError> {
    let payload = read(body, headers, limit).await?;
    crate::offload::run(
        payload.len() > PARSE_INLINE_MAX,
        "parsing the request body",
        move || json(&payload),
    )
    .await?
}

/// Parses JSON, naming the path of the first problem (`messages[0].content`). Tracking the path
/// costs allocations on every field, so only a body that failed is parsed again to find it.
fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::InvalidRequest {
            message: "The request body is empty; send a JSON object.".into(),
            param: None,
        });
    }
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
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

    /// Bodies past `PARSE_INLINE_MAX` take the blocking-thread path (the one-thread loop runs its
    /// other tasks meanwhile) and come out the same.
    #[tokio::test(flavor = "current_thread")]
    async fn large_bodies_parse_off_the_event_loop_with_the_same_errors() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let ticks = Arc::new(AtomicUsize::new(0));
        let counter = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        });
        // Far past the threshold, so the parse outlasts any delay between handing it to the
        // blocking thread and awaiting it (were it done by then, the loop would not have to wait).
        let text = "x".repeat(PARSE_INLINE_MAX * 32);
        let headers = axum::http::HeaderMap::new();
        let good = format!(r#"{{"messages": [{{"role": "user", "content": "{text}"}}]}}"#);
        let request: ChatCompletionRequest =
            parse(axum::body::Body::from(good), &headers, usize::MAX)
                .await
                .unwrap();
        assert!(
            ticks.load(Ordering::SeqCst) > 0,
            "the loop got no turn while the body was parsed"
        );
        ticker.abort();
        assert_eq!(request.messages.len(), 1);
        let bad =
            format!(r#"{{"messages": [{{"role": "user", "content": "{text}"}}, {{"role": 5}}]}}"#);
        match parse::<ChatCompletionRequest>(axum::body::Body::from(bad), &headers, usize::MAX)
            .await
        {
            Err(AppError::InvalidRequest { param, .. }) => {
                assert_eq!(param.as_deref(), Some("messages[1].role"));
            }
            other => panic!("{other:?}"),
        }
    }
}
