//! Typed errors of the GigaChat client: what failed, the upstream status and message, and whether a retry can help.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::verdict::Endpoint;

/// Every way a GigaChat call can fail.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The API host answered with a non-success status.
    #[error("GigaChat API error {}: {}", .0.status, .0.message)]
    Api(ApiError),
    /// The token endpoint (OAuth or `/token`) refused to issue a token.
    #[error("GigaChat authentication failed ({}): {}", .0.status, .0.message)]
    Auth(ApiError),
    /// The connection failed or broke (DNS, TCP, TLS, reset) before a full answer arrived.
    #[error("GigaChat transport error ({kind}): {source}")]
    Transport {
        /// Where in the exchange the failure happened.
        kind: TransportKind,
        /// The underlying HTTP client or connection error.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// No answer (or no next stream event) within the configured time.
    #[error("GigaChat did not answer within {0:?}")]
    Timeout(Duration),
    /// GigaChat answered something this client cannot understand (wrong content type, malformed JSON, a cut stream).
    #[error("unexpected GigaChat response: {0}")]
    Protocol(String),
    /// GigaChat accepted the call, then reported inside its answer that it failed (v2
    /// `finish_reason: "error"` without a call, `error_details`, a `response.error` event);
    /// holds GigaChat's own message.
    #[error("GigaChat failed to answer: {0}")]
    InBand(String),
    /// The client is configured in a way that cannot work (bad setting, unreadable certificate).
    #[error("GigaChat client configuration: {0}")]
    Config(String),
    /// No way to authenticate is configured for an operation that needs a token.
    #[error(
        "no GigaChat credentials configured: set GIGACHAT_CREDENTIALS, GIGACHAT_USER/GIGACHAT_PASSWORD or GIGACHAT_ACCESS_TOKEN"
    )]
    NoCredentials,
}

/// The phase of an HTTP exchange that failed at the transport level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Establishing the connection (DNS, TCP, TLS handshake).
    Connect,
    /// Sending the request or reading the response body.
    Io,
    /// Anything else the HTTP client reported.
    Other,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connect",
            TransportKind::Io => "io",
            TransportKind::Other => "other",
        })
    }
}

/// Which format the upstream error body had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorBodyKind {
    /// The API's `{"status":N,"message":"..."}`.
    Status,
    /// The OAuth host's `{"code":N,"message":"..."}`.
    OAuth,
    /// An HTML page from a gateway (502/504 from SynGX or nginx).
    Html,
    /// Anything else (empty, plain text, unknown JSON).
    Other,
}

/// A non-success answer from GigaChat, with the parts a caller may act on.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// The upstream message (`message` of the JSON body, or the title of an HTML page).
    pub message: String,
    /// The OAuth error `code`, when the body had one.
    pub code: Option<i64>,
    /// The body's format.
    pub body_kind: ErrorBodyKind,
    /// The `Retry-After` delay the server asked for.
    pub retry_after: Option<Duration>,
    /// The `X-Request-Id` the server echoed, for support tickets.
    pub request_id: Option<String>,
    /// The endpoint that answered ([`Endpoint::Other`] for the token endpoint).
    pub endpoint: Endpoint,
}

#[derive(Deserialize)]
struct StatusBody {
    status: Option<u16>,
    code: Option<i64>,
    message: Option<String>,
}

/// At most this much of an unrecognised body is kept as a message.
const MAX_MESSAGE_CHARS: usize = 200;

impl ApiError {
    /// Builds the error from a status, the response headers and the body bytes, recognising every
    /// known body shape; the endpoint is [`Endpoint::Other`] until the caller names it.
    pub fn from_parts(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Self {
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let request_id = headers
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let (message, code, body_kind) = classify_body(status, body);
        Self {
            status,
            message,
            code,
            body_kind,
            retry_after,
            request_id,
            endpoint: Endpoint::Other,
        }
    }
}

fn classify_body(status: u16, body: &[u8]) -> (String, Option<i64>, ErrorBodyKind) {
    if let Ok(parsed) = serde_json::from_slice::<StatusBody>(body)
        && let Some(message) = parsed.message
    {
        return match (parsed.status, parsed.code) {
            (_, Some(code)) => (message, Some(code), ErrorBodyKind::OAuth),
            (Some(_), None) => (message, None, ErrorBodyKind::Status),
            (None, None) => (message, None, ErrorBodyKind::Other),
        };
    }
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if trimmed.starts_with('<') {
        let title = html_title(trimmed).unwrap_or_else(|| default_reason(status));
        return (title, None, ErrorBodyKind::Html);
    }
    if trimmed.is_empty() {
        return (default_reason(status), None, ErrorBodyKind::Other);
    }
    let message: String = trimmed.chars().take(MAX_MESSAGE_CHARS).collect();
    (message, None, ErrorBodyKind::Other)
}

fn html_title(html: &str) -> Option<String> {
    ["<title>", "<h1>"].iter().find_map(|tag| {
        let lower = html.to_ascii_lowercase();
        let start = lower.find(tag)? + tag.len();
        let end = start + lower[start..].find('<')?;
        let title = html[start..end].trim();
        (!title.is_empty()).then(|| title.to_owned())
    })
}

fn default_reason(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
        .map_or_else(|| format!("HTTP {status}"), str::to_owned)
}

/// Parses `Retry-After` as delta-seconds (fractions allowed) or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

impl Error {
    /// The HTTP status GigaChat answered with, when the failure was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(err) | Error::Auth(err) => Some(err.status),
            _ => None,
        }
    }

    /// Whether the client should repeat the same call itself: for an answer, when its status is
    /// one configured as retryable (`GIGACHAT_RETRY_ON_STATUS_CODES`); otherwise as the
    /// [`verdict`](Error::verdict) says (connection failures, timeouts and garbled answers pass,
    /// configuration mistakes do not).
    pub fn is_retryable(&self, retry_on_status: &[u16]) -> bool {
        match self {
            Error::Api(err) | Error::Auth(err) => retry_on_status.contains(&err.status),
            _ => self.verdict().retryable(),
        }
    }

    /// The delay the server asked for before a retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api(err) | Error::Auth(err) => err.retry_after,
            _ => None,
        }
    }

    /// Whether this is the API host rejecting the access token (the cue to refresh it).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Api(err) if err.status == 401)
    }

    pub(crate) fn transport(err: reqwest::Error, timeout: Duration) -> Self {
        if err.is_timeout() {
            return Error::Timeout(timeout);
        }
        let kind = if err.is_connect() {
            TransportKind::Connect
        } else if err.is_body() || err.is_request() || err.is_decode() {
            TransportKind::Io
        } else {
            TransportKind::Other
        };
        Error::Transport {
            kind,
            source: Arc::new(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn api_status_body_with_trailing_newline() {
        let err = ApiError::from_parts(
            404,
            &HeaderMap::new(),
            b"{\"status\":404,\"message\":\"No such model\"}\n",
        );
        assert_eq!(err.message, "No such model");
        assert_eq!(err.body_kind, ErrorBodyKind::Status);
        assert_eq!(err.code, None);
    }

    #[test]
    fn oauth_code_body() {
        let err = ApiError::from_parts(
            400,
            &HeaderMap::new(),
            br#"{"code":5,"message":"scope is empty"}"#,
        );
        assert_eq!(err.code, Some(5));
        assert_eq!(err.body_kind, ErrorBodyKind::OAuth);
        assert_eq!(err.message, "scope is empty");
    }

    #[test]
    fn html_gateway_page() {
        let page = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>SynGX</center>\r\n</body>\r\n</html>\r\n";
        let err = ApiError::from_parts(502, &HeaderMap::new(), page);
        assert_eq!(err.body_kind, ErrorBodyKind::Html);
        assert_eq!(err.message, "502 Bad Gateway");
        let bare = ApiError::from_parts(504, &HeaderMap::new(), b"<html><body></body></html>");
        assert_eq!(bare.message, "Gateway Timeout");
    }

    #[test]
    fn retry_after_and_request_id_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("2.5"));
        headers.insert("x-request-id", HeaderValue::from_static("abc"));
        let err = ApiError::from_parts(429, &headers, b"");
        assert_eq!(err.retry_after, Some(Duration::from_millis(2500)));
        assert_eq!(err.request_id.as_deref(), Some("abc"));
        assert_eq!(err.message, "Too Many Requests");
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn long_plain_bodies_are_truncated() {
        let body = "x".repeat(5000);
        let err = ApiError::from_parts(500, &HeaderMap::new(), body.as_bytes());
        assert_eq!(err.message.len(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn retryability() {
        let api = |status| {
            Error::Api(ApiError {
                status,
                message: String::new(),
                code: None,
                body_kind: ErrorBodyKind::Status,
                retry_after: None,
                request_id: None,
                endpoint: Endpoint::Chat,
            })
        };
        let codes = [429, 500, 502, 503, 504];
        assert!(api(503).is_retryable(&codes));
        assert!(!api(422).is_retryable(&codes));
        assert!(!api(500).is_retryable(&[]));
        assert!(Error::Protocol("x".into()).is_retryable(&codes));
        assert!(Error::Timeout(Duration::from_secs(1)).is_retryable(&[]));
        assert!(!Error::Config("x".into()).is_retryable(&codes));
        assert!(!Error::NoCredentials.is_retryable(&codes));
        assert!(api(401).is_unauthorized());
    }
}
