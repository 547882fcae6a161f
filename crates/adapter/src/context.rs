//! Per-request ids: the response id, and the headers forwarded to GigaChat.

use axum::http::{HeaderMap, HeaderName};
use gigachat::RequestContext;

/// The request id we log, return as `x-request-id`, and forward upstream.
pub fn request_id(headers: &HeaderMap) -> String {
    header(headers, "x-request-id").map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// A header's value, trimmed, when present and non-empty.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// What GigaChat receives as `X-Request-ID`, `X-Session-ID` and `X-Client-ID`.
pub fn upstream(
    headers: &HeaderMap,
    request_id: &str,
    session_id: Option<String>,
) -> RequestContext {
    RequestContext {
        request_id: Some(request_id.to_owned()),
        session_id,
        client_id: header(headers, "x-client-id").map(str::to_owned),
    }
}

/// `<prefix>-...` response ids (`chatcmpl-`, `cmpl-`), unique and sortable by time.
pub fn response_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Returns the request id to the client as `x-request-id`.
pub fn tag_response(response: &mut axum::response::Response, request_id: &str) {
    const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    if let Ok(value) = axum::http::HeaderValue::from_str(request_id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
}
