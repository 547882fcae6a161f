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
    ModelNotFound {
        /// The name GigaChat did not know.
        model: String,
        /// GigaChat's models (empty when they could not be listed).
        served: Vec<String>,
        /// The configured `MODEL_ALIASES` names.
        aliases: Vec<String>,
    },
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

/// The [`AppError::label`] an error response was made from, in the response's extensions (the
/// access log reads it).
#[derive(Debug, Clone, Copy)]
pub struct Label(pub &'static str);

/// The parts of an error response.
struct Shape {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    message: String,
    param: Option<String>,
    retry_after: Option<Duration>,
    /// `x-should-retry`: whether sending the same request again may succeed.
    should_retry: bool,
}

impl Shape {
    /// A shape without `param` or `retry-after`; worth retrying when the status says the
    /// failure is passing (429, 5xx).
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
            should_retry: status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
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
            AppError::ModelNotFound { .. } => "model_not_found",
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
            AppError::ModelNotFound {
                model,
                served,
                aliases,
            } => Shape {
                param: Some("model".into()),
                ..shape(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    Some("model_not_found"),
                    model_not_found_message(model, served, aliases),
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
            let shape = match api.status {
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
                // A file uploaded under another `X-Client-ID`: the client's id, not the account.
                403 if said.contains("Access to file") => make(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    Some("file_not_found"),
                    format!(
                        "GigaChat keeps this file for another X-Client-ID; send the X-Client-ID it was uploaded with: {said}"
                    ),
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
                // Only what the client sent can make these: a file id too long for a URL path
                // (414), or, were any forwarded id unbounded, headers too large (431).
                414 | 431 => make(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("request_too_large"),
                    format!(
                        "GigaChat refused the request as too large (HTTP {}): {said}; shorten the ids or names sent.",
                        api.status
                    ),
                ),
                status => make(
                    StatusCode::BAD_GATEWAY,
                    "upstream_error",
                    Some("upstream_error"),
                    format!("GigaChat failed with HTTP {status}: {said}"),
                ),
            };
            Shape {
                should_retry: is_passing(api.status),
                ..shape
            }
        }
        Upstream::Auth(api) => Shape {
            should_retry: is_passing(api.status),
            ..make(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                Some("upstream_auth_failed"),
                format!(
                    "The adapter could not obtain a GigaChat access token (HTTP {}: {}); check GIGACHAT_CREDENTIALS and GIGACHAT_SCOPE.",
                    api.status, api.message
                ),
            )
        },
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

/// Longest part of a client's model name repeated in an error message.
const MAX_ECHOED_MODEL: usize = 128;

/// What is served instead of `model`, and how to serve it under that name.
fn model_not_found_message(model: &str, served: &[String], aliases: &[String]) -> String {
    let mut shown: String = model.chars().take(MAX_ECHOED_MODEL).collect();
    if shown.len() < model.len() {
        shown.push('…');
    }
    let mut message =
        format!("The model `{shown}` does not exist or you do not have access to it.");
    if served.is_empty() {
        message.push_str(" GET /v1/models lists the models served here.");
    } else {
        message.push_str(&format!(" GigaChat serves: {}.", served.join(", ")));
    }
    if aliases.is_empty() {
        message.push_str(" No MODEL_ALIASES are configured.");
    } else {
        message.push_str(&format!(" MODEL_ALIASES names: {}.", aliases.join(", ")));
    }
    // An embedder for an embedding name, a chat model otherwise.
    let is_embedder = |name: &str| name.to_lowercase().contains("embed");
    let example = served
        .iter()
        .find(|name| is_embedder(name) == is_embedder(model))
        .map_or(
            if is_embedder(model) {
                "Embeddings"
            } else {
                "GigaChat-2-Max"
            },
            String::as_str,
        );
    message.push_str(&format!(
        " To accept another name, map it to a GigaChat model in the adapter's MODEL_ALIASES (e.g. MODEL_ALIASES={shown}={example})."
    ));
    message
}

/// Whether GigaChat's status says the same request may succeed later: its rate limit, its own
/// failures, a timeout or a conflict. Any other 4xx (a quota used up, credentials refused, a
/// request too large) answers the same request the same way every time.
fn is_passing(status: u16) -> bool {
    matches!(status, 408 | 409 | 425 | 429) || status >= 500
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
        response.extensions_mut().insert(Label(self.label()));
        let headers = response.headers_mut();
        if let Some(after) = shape.retry_after {
            let seconds = after.as_secs_f64().ceil().max(1.0).to_string();
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                headers.insert("retry-after", value);
            }
        }
        headers.insert(
            "x-should-retry",
            HeaderValue::from_static(if shape.should_retry { "true" } else { "false" }),
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
                403,
                "Access to file 'abc' is denied",
                404,
                Some("file_not_found"),
            ),
            (403, "Forbidden", 502, Some("upstream_permission_denied")),
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
    fn model_not_found_names_the_served_models_and_model_aliases() {
        let error = AppError::ModelNotFound {
            model: "gpt-5".into(),
            served: vec![
                "GigaChat".into(),
                "Embeddings".into(),
                "GigaChat-2-Max".into(),
            ],
            aliases: vec!["gpt-4o".into()],
        };
        let shape = error.shape();
        assert_eq!(shape.status, StatusCode::NOT_FOUND);
        assert_eq!(shape.code, Some("model_not_found"));
        assert_eq!(
            shape.message,
            "The model `gpt-5` does not exist or you do not have access to it. GigaChat serves: \
             GigaChat, Embeddings, GigaChat-2-Max. MODEL_ALIASES names: gpt-4o. To accept another \
             name, map it to a GigaChat model in the adapter's MODEL_ALIASES (e.g. \
             MODEL_ALIASES=gpt-5=GigaChat)."
        );
        let unlisted = AppError::ModelNotFound {
            model: "x".repeat(10_000),
            served: Vec::new(),
            aliases: Vec::new(),
        }
        .shape()
        .message;
        assert!(unlisted.contains("GET /v1/models") && unlisted.contains("No MODEL_ALIASES"));
        assert!(unlisted.ends_with("=GigaChat-2-Max)."), "{unlisted}");
        let embedder = AppError::ModelNotFound {
            model: "my-embedder".into(),
            served: vec!["GigaChat".into(), "EmbeddingsGigaR".into()],
            aliases: Vec::new(),
        }
        .shape()
        .message;
        assert!(
            embedder.ends_with("MODEL_ALIASES=my-embedder=EmbeddingsGigaR)."),
            "{embedder}"
        );
        assert!(unlisted.len() < 700, "{}", unlisted.len());
    }

    #[test]
    fn oversized_requests_are_the_clients_to_fix_and_not_retried() {
        for status in [414, 431] {
            let response = api(status, "Request Header Fields Too Large").into_response();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{status}");
            assert_eq!(response.headers()["x-should-retry"], "false", "{status}");
            let shape = api(status, "x").shape();
            assert_eq!(
                (shape.kind, shape.code),
                ("invalid_request_error", Some("request_too_large"))
            );
        }
    }

    #[test]
    fn only_passing_upstream_failures_are_worth_a_retry() {
        for (status, retry) in [
            (400, false),
            (401, false),
            (402, false),
            (403, false),
            (404, false),
            (405, false),
            (408, true),
            (409, true),
            (413, false),
            (415, false),
            (422, false),
            (429, true),
            (451, false),
            (500, true),
            (502, true),
            (503, true),
        ] {
            let response = api(status, "x").into_response();
            let expected = if retry { "true" } else { "false" };
            assert_eq!(response.headers()["x-should-retry"], expected, "{status}");
        }
        let auth = |status| {
            AppError::Upstream(Upstream::Auth(ApiError {
                status,
                message: "x".into(),
                code: None,
                body_kind: ErrorBodyKind::Status,
                retry_after: None,
                request_id: None,
            }))
            .into_response()
        };
        assert_eq!(auth(401).headers()["x-should-retry"], "false");
        assert_eq!(auth(503).headers()["x-should-retry"], "true");
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
