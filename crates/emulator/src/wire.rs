//! GigaChat's wire conventions: compact UTF-8 JSON, `{status,message}` errors with a newline, id headers.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Content type of every JSON answer of the API host.
pub(crate) const JSON_UTF8: &str = "application/json; charset=utf-8";

/// The 502 page the SynGX gateway answers with (gigachat-api.md §4.1).
pub(crate) const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>SynGX</center>\r\n</body>\r\n</html>\r\n";

/// The 504 page of the same gateway.
pub(crate) const GATEWAY_TIMEOUT_HTML: &str = "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>SynGX</center>\r\n</body>\r\n</html>\r\n";

/// Marks a response as produced by the gateway, not the API: it gets no id headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FromGateway;

/// An API error: status plus the exact message GigaChat puts in `{"status":N,"message":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// HTTP status.
    pub(crate) status: StatusCode,
    /// The `message` field.
    pub(crate) message: String,
}

impl ApiError {
    /// An error with an explicit message.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 422 `Invalid params: …`.
    pub(crate) fn invalid_params(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Invalid params: {detail}"),
        )
    }

    /// 400 for a body that is not JSON.
    pub(crate) fn bad_json() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Your request contains invalid JSON syntax.",
        )
    }

    /// 404 `No such model`.
    pub(crate) fn no_such_model() -> Self {
        Self::new(StatusCode::NOT_FOUND, "No such model")
    }

    /// An error whose message is the documented default for its status.
    pub(crate) fn status(status: StatusCode) -> Self {
        Self::new(status, default_message(status.as_u16()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        api_error(self.status, &self.message)
    }
}

/// Result type of API handlers.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// The message GigaChat sends for a status when nothing more specific is known.
pub(crate) fn default_message(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Permission denied",
        404 => "Not found",
        405 => "Method not allowed",
        408 => "Request timeout",
        413 => "Payload too large",
        415 => "Unsupported media type",
        422 => "Invalid params",
        429 => "Too many requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// A compact JSON body with `application/json; charset=utf-8`, no trailing newline.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => raw(status, JSON_UTF8, body),
        Err(_) => api_error(StatusCode::INTERNAL_SERVER_ERROR, default_message(500)),
    }
}

/// 200 with a compact JSON body.
pub(crate) fn ok<T: Serialize>(value: &T) -> ApiResult {
    Ok(json(StatusCode::OK, value))
}

/// An API error body: `{"status":N,"message":"…"}` plus `\n`.
pub(crate) fn api_error(status: StatusCode, message: &str) -> Response {
    #[derive(Serialize)]
    struct Body<'a> {
        status: u16,
        message: &'a str,
    }
    let mut body = serde_json::to_vec(&Body {
        status: status.as_u16(),
        message,
    })
    .unwrap_or_default();
    body.push(b'\n');
    raw(status, JSON_UTF8, body)
}

/// An OAuth error body: `{"code":N,"message":"…"}` with `application/json`.
pub(crate) fn oauth_error(status: StatusCode, code: u16, message: &str) -> Response {
    #[derive(Serialize)]
    struct Body<'a> {
        code: u16,
        message: &'a str,
    }
    let body = serde_json::to_vec(&Body { code, message }).unwrap_or_default();
    raw(status, "application/json", body)
}

/// An error answered as the given status plus `Retry-After` seconds when asked for.
pub(crate) fn api_error_retry_after(status: StatusCode, retry_after: Option<u64>) -> Response {
    let mut response = api_error(status, default_message(status.as_u16()));
    if let Some(seconds) = retry_after
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// A gateway HTML page (502/504) without API headers.
pub(crate) fn gateway_html(status: StatusCode, page: &'static str) -> Response {
    let mut response = raw(status, "text/html", page.as_bytes().to_vec());
    response.extensions_mut().insert(FromGateway);
    response
}

/// A response with the given status, content type and body bytes.
pub(crate) fn raw(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

/// The value of a request header as text, if present and valid.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

const X_REQUEST_ID: &str = "x-request-id";
const X_SESSION_ID: &str = "x-session-id";

/// The client's value of `name`, or a fresh UUIDv4.
fn echo_or_fresh(headers: &HeaderMap, name: &str) -> Option<HeaderValue> {
    headers
        .get(name)
        .cloned()
        .or_else(|| HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).ok())
}

/// Middleware: every API answer carries `X-Request-Id`/`X-Session-Id`, echoed or fresh UUIDv4s.
pub(crate) async fn id_headers(request: Request, next: Next) -> Response {
    let request_id = echo_or_fresh(request.headers(), X_REQUEST_ID);
    let session_id = echo_or_fresh(request.headers(), X_SESSION_ID);
    let mut response = next.run(request).await;
    if response.extensions().get::<FromGateway>().is_none() {
        let headers = response.headers_mut();
        if let Some(value) = request_id {
            headers.insert(HeaderName::from_static(X_REQUEST_ID), value);
        }
        if let Some(value) = session_id {
            headers.insert(HeaderName::from_static(X_SESSION_ID), value);
        }
    }
    response
}

/// Fallback for paths the API does not have.
pub(crate) async fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "Not found")
}
