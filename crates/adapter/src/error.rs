//! The one place that decides how any failure looks to an OpenAI client: status, `type`, `code`,
//! `retry-after`/`x-should-retry`, and a short metric label. Upstream URLs, bodies and headers never
//! reach the message.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gigachat::Error as Upstream;
use openai::ErrorEnvelope;

use crate::attachments::resolve::AttachmentError;

/// Every failure a handler can return.
#[derive(Debug)]
pub enum AppError {
    /// The request is malformed or invalid.
    InvalidRequest {
        /// What is wrong.
        message: String,
        /// JSON path of the field at fault.
        param: Option<String>,
    },
    /// The body is larger than `MAX_REQUEST_BYTES`.
    PayloadTooLarge(usize),
    /// Missing or wrong client key.
    Unauthorized,
    /// The model is not known.
    ModelNotFound(String),
    /// No such route.
    RouteNotFound(String),
    /// GigaChat (or the way to it) failed.
    Upstream(Upstream),
    /// GigaChat answered, but not in the format the client required (`json_object`).
    InvalidOutput(translate::OutputError),
    /// No such file in the Files API.
    FileNotFound(String),
    /// A file part of a message could not be attached.
    Attachment(crate::attachments::resolve::PartError),
    /// The client sent its request (headers or body) too slowly; says which part and how long.
    RequestTimeout(String),
    /// The request head is larger than `MAX_HEADER_BYTES` or has too many headers; says which.
    HeadersTooLarge(String),
    /// `MAX_CONNECTIONS` client connections are already open.
    TooManyConnections(usize),
    /// The adapter is shutting down and its drain deadline has passed.
    ShuttingDown,
    /// A bug or a task that could not finish inside the adapter (never the client's or GigaChat's fault).
    Internal(String),
}

/// The parts of an error response.
struct Shape {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    message: String,
    param: Option<String>,
    retry_after: Option<Duration>,
}

impl Shape {
    /// A shape without `param` or `retry-after`.
    fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&'static str>,
        message: String,
    ) -> Self {
        Self {
            status,
            kind,
            code,
            message,
            param: None,
            retry_after: None,
        }
    }
}

impl AppError {
    /// A short, bounded label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            AppError::InvalidRequest { .. } => "invalid_request",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::Unauthorized => "unauthorized",
            AppError::ModelNotFound(_) => "model_not_found",
            AppError::RouteNotFound(_) => "route_not_found",
            AppError::InvalidOutput(_) => "invalid_upstream_output",
            AppError::FileNotFound(_) => "file_not_found",
            AppError::Internal(_) => "internal",
            AppError::RequestTimeout(_) => "request_timeout",
            AppError::HeadersTooLarge(_) => "headers_too_large",
            AppError::TooManyConnections(_) => "too_many_connections",
            AppError::ShuttingDown => "shutting_down",
            AppError::Attachment(part) => match &part.error {
                AttachmentError::Upload(_) => "attachment_upload",
                _ => "invalid_attachment",
            },
            AppError::Upstream(err) => match err {
                Upstream::Api(api) if api.status == 429 => "upstream_rate_limited",
                Upstream::Api(api) if api.status >= 500 => "upstream_server_error",
                Upstream::Api(_) => "upstream_rejected",
                Upstream::Auth(_) => "upstream_auth",
                Upstream::Timeout(_) => "upstream_timeout",
                Upstream::Transport { .. } => "upstream_unreachable",
                Upstream::Protocol(_) => "upstream_protocol",
                Upstream::Config(_) | Upstream::NoCredentials => "adapter_config",
            },
        }
    }

    /// The OpenAI error envelope, for a stream that already started.
    pub fn envelope(&self) -> ErrorEnvelope {
        let shape = self.shape();
        ErrorEnvelope::new(
            shape.message,
            shape.kind,
            shape.param,
            shape.code.map(str::to_owned),
        )
    }

    fn shape(&self) -> Shape {
        let shape = Shape::new;
        match self {
            AppError::InvalidRequest { message, param } => Shape {
                param: param.clone(),
                ..shape(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    None,
                    message.clone(),
                )
            },
            AppError::PayloadTooLarge(limit) => shape(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                Some("request_too_large"),
                format!("The request body is larger than the adapter's limit of {limit} bytes."),
            ),
            AppError::Unauthorized => shape(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                Some("invalid_api_key"),
                "Incorrect or missing API key. Send it as `Authorization: Bearer <key>`.".into(),
            ),
            AppError::ModelNotFound(model) => Shape {
                param: Some("model".into()),
                ..shape(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    Some("model_not_found"),
                    format!("The model `{model}` does not exist or you do not have access to it."),
                )
            },
            AppError::RouteNotFound(path) => shape(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                Some("unknown_url"),
                format!("Unknown request URL: {path}."),
            ),
            AppError::Upstream(err) => upstream_shape(err),
            AppError::Internal(what) => shape(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                Some("internal_error"),
                format!("The adapter failed to serve the request: {what}."),
            ),
            AppError::RequestTimeout(message) => shape(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                Some("request_timeout"),
                message.clone(),
            ),
            AppError::HeadersTooLarge(message) => shape(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "invalid_request_error",
                Some("request_headers_too_large"),
                message.clone(),
            ),
            AppError::TooManyConnections(limit) => Shape {
                retry_after: Some(Duration::from_secs(1)),
                ..shape(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    Some("too_many_connections"),
                    format!(
                        "The adapter already serves its limit of {limit} connections; retry shortly."
                    ),
                )
            },
            AppError::ShuttingDown => shape(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                Some("server_shutting_down"),
                "The adapter is shutting down and could not finish this response; retry the request."
                    .into(),
            ),
            AppError::FileNotFound(id) => shape(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                Some("file_not_found"),
                format!("No such file: {id}."),
            ),
            AppError::Attachment(part) => match &part.error {
                AttachmentError::Upload(err) => Shape {
                    message: format!("{}: {}", part.param, upstream_shape(err).message),
                    ..upstream_shape(err)
                },
                other => Shape {
                    param: Some(part.param.clone()),
                    ..shape(
                        StatusCode::BAD_REQUEST,
                        "invalid_request_error",
                        Some(attachment_code(other)),
                        format!("{}: {other}", part.param),
                    )
                },
            },
            AppError::InvalidOutput(problem) => shape(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                Some("invalid_upstream_output"),
                format!("{problem}; retry, or use a json_schema response format."),
            ),
        }
    }
}

/// Maps GigaChat's failures: its rate limits stay 429, its verdicts on the request stay 4xx,
/// everything about the adapter's own credentials or GigaChat's health becomes 502/503/504.
fn upstream_shape(err: &Upstream) -> Shape {
    let make = Shape::new;
    match err {
        Upstream::Api(api) => {
            let said = &api.message;
            match api.status {
                400 | 422 if mentions_context(said) => make(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("context_length_exceeded"),
                    format!("The conversation is too long for the model: {said}"),
                ),
                413 => make(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("context_length_exceeded"),
                    "The request exceeds the model's context window (GigaChat: Payload too large)."
                        .into(),
                ),
                400 | 422 => make(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    None,
                    format!("GigaChat rejected the request: {said}"),
                ),
                401 => make(
                    StatusCode::BAD_GATEWAY,
                    "upstream_error",
                    Some("upstream_auth_failed"),
                    "GigaChat rejected the adapter's access token even after a refresh; check the adapter's GIGACHAT_* credentials.".into(),
                ),
                402 => make(
                    StatusCode::TOO_MANY_REQUESTS,
                    "insufficient_quota",
                    Some("insufficient_quota"),
                    "The GigaChat token package of the adapter's account is used up.".into(),
                ),
                403 => make(
                    StatusCode::BAD_GATEWAY,
                    "upstream_error",
                    Some("upstream_permission_denied"),
                    format!("GigaChat denied the adapter's account access: {said}"),
                ),
                404 => make(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    Some("model_not_found"),
                    format!("GigaChat: {said}"),
                ),
                429 => Shape {
                    retry_after: Some(api.retry_after.unwrap_or(Duration::from_secs(1))),
                    ..make(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limit_error",
                        Some("rate_limit_exceeded"),
                        "GigaChat is busy for this account (too many concurrent requests); retry shortly.".into(),
                    )
                },
                status => make(
                    StatusCode::BAD_GATEWAY,
                    "upstream_error",
                    Some("upstream_error"),
                    format!("GigaChat failed with HTTP {status}: {said}"),
                ),
            }
        }
        Upstream::Auth(api) => make(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            Some("upstream_auth_failed"),
            format!(
                "The adapter could not obtain a GigaChat access token (HTTP {}: {}); check GIGACHAT_CREDENTIALS and GIGACHAT_SCOPE.",
                api.status, api.message
            ),
        ),
        Upstream::Timeout(after) => make(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_error",
            Some("upstream_timeout"),
            format!("GigaChat did not answer within {after:?}."),
        ),
        Upstream::Transport { kind, .. } => make(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            Some("upstream_unreachable"),
            format!("The adapter could not reach GigaChat ({kind} error)."),
        ),
        Upstream::Protocol(_) => make(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            Some("upstream_bad_response"),
            "GigaChat sent a response the adapter could not understand.".into(),
        ),
        Upstream::Config(_) | Upstream::NoCredentials => make(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            Some("adapter_misconfigured"),
            "The adapter is not configured to reach GigaChat; see its logs.".into(),
        ),
    }
}

/// The `code` of a rejected file part.
fn attachment_code(error: &AttachmentError) -> &'static str {
    use crate::attachments::fetch::FetchError;
    use crate::attachments::media::MediaError;
    match error {
        AttachmentError::Fetch(FetchError::ForbiddenAddress { .. }) => "forbidden_url",
        AttachmentError::Fetch(_) => "invalid_image_url",
        AttachmentError::Media(MediaError::TooLarge { .. }) => "file_too_large",
        AttachmentError::Media(MediaError::Unsupported(_) | MediaError::WrongKind { .. }) => {
            "unsupported_file_type"
        }
        AttachmentError::UnknownFileId(_) => "file_not_found",
        _ => "invalid_file",
    }
}

fn mentions_context(message: &str) -> bool {
    let lower = message.to_lowercase();
    [
        "context",
        "too long",
        "tokens limit",
        "max tokens",
        "payload too large",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

impl From<Upstream> for AppError {
    fn from(err: Upstream) -> Self {
        AppError::Upstream(err)
    }
}

impl From<translate::TranslateError> for AppError {
    fn from(err: translate::TranslateError) -> Self {
        AppError::InvalidRequest {
            message: err.message,
            param: err.param,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Upstream(err) = &self {
            tracing::warn!(error = %err, label = self.label(), "upstream failure");
        }
        let shape = self.shape();
        let envelope = ErrorEnvelope::new(
            shape.message,
            shape.kind,
            shape.param,
            shape.code.map(str::to_owned),
        );
        let mut response = (shape.status, axum::Json(envelope)).into_response();
        let headers = response.headers_mut();
        if let Some(after) = shape.retry_after {
            let seconds = after.as_secs_f64().ceil().max(1.0).to_string();
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                headers.insert("retry-after", value);
            }
        }
        let retryable = shape.status == StatusCode::TOO_MANY_REQUESTS
            && shape.code != Some("insufficient_quota")
            || shape.status.is_server_error();
        headers.insert(
            "x-should-retry",
            HeaderValue::from_static(if retryable { "true" } else { "false" }),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gigachat::{ApiError, ErrorBodyKind};

    fn api(status: u16, message: &str) -> AppError {
        AppError::Upstream(Upstream::Api(ApiError {
            status,
            message: message.into(),
            code: None,
            body_kind: ErrorBodyKind::Status,
            retry_after: None,
            request_id: None,
        }))
    }

    #[test]
    fn upstream_statuses_map_to_what_clients_act_on() {
        for (status, message, expected, code) in [
            (401, "Unauthorized", 502, Some("upstream_auth_failed")),
            (402, "Payment Required", 429, Some("insufficient_quota")),
            (404, "No such model", 404, Some("model_not_found")),
            (
                413,
                "Payload too large",
                400,
                Some("context_length_exceeded"),
            ),
            (
                422,
                "Invalid params: context window exceeded",
                400,
                Some("context_length_exceeded"),
            ),
            (422, "Invalid params: temperature", 400, None),
            (429, "Too many requests", 429, Some("rate_limit_exceeded")),
            (500, "Internal Server Error", 502, Some("upstream_error")),
            (503, "Service Unavailable", 502, Some("upstream_error")),
        ] {
            let shape = api(status, message).shape();
            assert_eq!(shape.status.as_u16(), expected, "{status}");
            assert_eq!(shape.code, code, "{status}");
        }
        assert_eq!(
            AppError::from(Upstream::Timeout(Duration::from_secs(1)))
                .shape()
                .status,
            StatusCode::GATEWAY_TIMEOUT
        );
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let response = api(429, "Too many requests").into_response();
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(response.headers()["x-should-retry"], "true");
        let response = api(422, "bad").into_response();
        assert_eq!(response.headers()["x-should-retry"], "false");
    }
}
