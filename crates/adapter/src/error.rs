//! The one place that decides how any failure looks to a client: status, `type`, `code`,
//! `retry-after`/`x-should-retry`, and a short metric label. A GigaChat failure arrives with its
//! [`Verdict`] (decided by the `gigachat` crate) and is rendered through the [`openai`] table, or
//! the [`anthropic`] one on Anthropic's routes; the adapter's own refusals are shaped here.
//! Upstream URLs, bodies and headers never reach the message.
//!
//! Every error answer is made in OpenAI's envelope and carries its Anthropic rendering in its
//! extensions; the router's gate, which knows the request's surface, calls [`for_anthropic`] to
//! answer in Anthropic's envelope instead.

pub mod anthropic;
pub mod openai;

use std::time::Duration;

use ::openai::ErrorEnvelope;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gigachat::{Error as Upstream, Fault, Verdict};

use crate::attachments::resolve::AttachmentError;
use crate::state::AppState;

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
    /// A `KEYS_FILE` key past its `expires`.
    KeyExpired {
        /// The key's name.
        name: String,
        /// When it expired (RFC 3339).
        at: String,
    },
    /// The caller's key may not use this model (its `models` in `KEYS_FILE`).
    ModelNotAllowed(String),
    /// The model is not known (GigaChat's [`Verdict::ModelNotFound`], or absent from its model
    /// list), told with what is served instead.
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
    /// GigaChat (or the way to it) failed; its [`Verdict`] says how. [`AppError::upstream`] makes
    /// it and logs the detail once.
    Upstream(Upstream),
    /// GigaChat answered, but not in the format the client required (`json_object`).
    InvalidOutput(translate::OutputError),
    /// No such file in the Files API (GigaChat's [`Verdict::FileNotFound`], or past its
    /// `expires_after`), told with its id.
    FileNotFound(String),
    /// No stored response with this id for the caller's key (unknown, expired, deleted, or
    /// another key's), told with its id.
    ResponseNotFound(String),
    /// A request's `previous_response_id` names no stored response of the caller's key.
    PreviousResponseNotFound(String),
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
    /// GigaChat refused the authorization key the caller sent in `X-GigaChat-Authorization`.
    PassthroughRefused,
    /// Every slot of the caller's GigaChat account (`max_concurrent`) stayed taken for the whole
    /// queue wait (`ACCOUNT_QUEUE_TIMEOUT_SECS`).
    AccountBusy {
        /// The account (or pool) waited for.
        account: String,
        /// How long the request waited.
        waited: Duration,
    },
    /// The caller's key reached one of its limits (`KEYS_FILE`); the message says which.
    KeyRateLimited {
        /// Which limit, and when to retry.
        message: String,
        /// When a retry may succeed.
        retry_after: Duration,
    },
    /// Redis could not be asked about the caller's limits and `LIMITS_REDIS_FAILURE` is `refuse`.
    LimitsUnavailable,
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
            AppError::KeyExpired { .. } => "key_expired",
            AppError::ModelNotAllowed(_) => "model_not_allowed",
            AppError::ModelNotFound { .. } => Verdict::ModelNotFound.as_str(),
            AppError::RouteNotFound(_) => "route_not_found",
            AppError::InvalidOutput(_) => "invalid_upstream_output",
            AppError::FileNotFound(_) => Verdict::FileNotFound.as_str(),
            AppError::ResponseNotFound(_) => "response_not_found",
            AppError::PreviousResponseNotFound(_) => "previous_response_not_found",
            AppError::Internal(_) => "internal",
            AppError::RequestTimeout(_) => "request_timeout",
            AppError::HeadersTooLarge(_) => "headers_too_large",
            AppError::TooManyConnections(_) => "too_many_connections",
            AppError::ShuttingDown => "shutting_down",
            AppError::AccountBusy { .. } => "account_busy",
            AppError::PassthroughRefused => "passthrough_refused",
            AppError::KeyRateLimited { .. } => "key_rate_limited",
            AppError::LimitsUnavailable => "limits_unavailable",
            AppError::Attachment(part) => match &part.error {
                AttachmentError::Upload(err) => err.verdict().as_str(),
                _ => "invalid_attachment",
            },
            AppError::Upstream(err) => err.verdict().as_str(),
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

    /// Whether sending the same request again may succeed (what `x-should-retry` says).
    pub fn should_retry(&self) -> bool {
        self.shape().should_retry
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
            AppError::KeyExpired { name, at } => shape(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                Some("invalid_api_key"),
                format!("The API key {name:?} expired at {at}; ask for a new one."),
            ),
            AppError::ModelNotAllowed(model) => Shape {
                param: Some("model".into()),
                ..shape(
                    StatusCode::FORBIDDEN,
                    "permission_error",
                    Some("model_not_allowed"),
                    format!("This API key may not use the model '{}'.", echoed(model)),
                )
            },
            AppError::ModelNotFound {
                model,
                served,
                aliases,
            } => verdict_shape(
                Verdict::ModelNotFound,
                model_not_found_message(model, served, aliases),
                None,
            ),
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
            AppError::PassthroughRefused => shape(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                Some("invalid_api_key"),
                "GigaChat refused the authorization key sent in X-GigaChat-Authorization.".into(),
            ),
            AppError::AccountBusy { account, waited } => Shape {
                retry_after: Some(Duration::from_secs(1)),
                ..shape(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_exceeded",
                    Some("rate_limit_exceeded"),
                    format!(
                        "Every concurrent slot of the GigaChat account '{account}' stayed taken for {}s; retry shortly.",
                        waited.as_secs()
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
            AppError::KeyRateLimited {
                message,
                retry_after,
            } => Shape {
                retry_after: Some(*retry_after),
                ..shape(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    Some("rate_limit_exceeded"),
                    message.clone(),
                )
            },
            AppError::LimitsUnavailable => Shape {
                retry_after: Some(Duration::from_secs(1)),
                ..shape(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    Some("limits_unavailable"),
                    "The adapter cannot check this key's limits (its Redis does not answer); retry shortly.".into(),
                )
            },
            AppError::FileNotFound(id) => {
                verdict_shape(Verdict::FileNotFound, format!("No such file: {id}."), None)
            }
            AppError::ResponseNotFound(id) => shape(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                None,
                format!("Response with id '{}' not found.", echoed(id)),
            ),
            AppError::PreviousResponseNotFound(id) => Shape {
                param: Some("previous_response_id".into()),
                ..shape(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    Some("previous_response_not_found"),
                    format!("Previous response with id '{}' not found.", echoed(id)),
                )
            },
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

/// How an OpenAI client is told of a GigaChat failure: the verdict's row of the table, its
/// message, GigaChat's `retry-after` where the row asks clients to wait, and the verdict's retry
/// advice.
fn upstream_shape(err: &Upstream) -> Shape {
    let verdict = err.verdict();
    verdict_shape(verdict, upstream_message(verdict, err), err.retry_after())
}

/// `verdict`'s row of the OpenAI table with `message`; `asked` is the `retry-after` GigaChat
/// sent, used where the row asks clients to wait.
fn verdict_shape(verdict: Verdict, message: String, asked: Option<Duration>) -> Shape {
    let row = openai::openai(verdict);
    Shape {
        status: row.status,
        kind: row.kind,
        code: row.code,
        message,
        param: row.param.map(str::to_owned),
        retry_after: row.wait.map(|wait| asked.unwrap_or(wait)),
        should_retry: verdict.retryable(),
    }
}

/// What a client is told of a GigaChat failure, in words any envelope can carry: what happened
/// and what to do, with GigaChat's own message where it helps (never its URLs, bodies or headers).
fn upstream_message(verdict: Verdict, err: &Upstream) -> String {
    let (status, said) = match err {
        Upstream::Api(api) | Upstream::Auth(api) => (api.status, api.message.as_str()),
        _ => (0, ""),
    };
    match (verdict, err) {
        (Verdict::CredentialsRefused | Verdict::TokenUnavailable, Upstream::Auth(_)) => format!(
            "The adapter could not obtain a GigaChat access token (HTTP {status}: {said}); check GIGACHAT_CREDENTIALS and GIGACHAT_SCOPE."
        ),
        (Verdict::CredentialsRefused, _) => "GigaChat rejected the adapter's access token even after a refresh; check the adapter's GIGACHAT_* credentials.".into(),
        (Verdict::ModelNotFound, _) => format!("GigaChat: {said}"),
        // GigaChat's own text for an unknown file id is odd (`No such model`): not repeated.
        (Verdict::FileNotFound, _) => "GigaChat has no such file.".into(),
        (Verdict::FileOfAnotherClient, _) => format!(
            "GigaChat keeps this file for another X-Client-ID; send the X-Client-ID it was uploaded with: {said}"
        ),
        (Verdict::StaleFile, _) => format!(
            "GigaChat no longer knows a file attached to the request (deleted or expired); upload it again: {said}"
        ),
        (Verdict::ContextTooLong, _) if status == 413 => {
            "The request exceeds the model's context window (GigaChat: Payload too large).".into()
        }
        (Verdict::ContextTooLong, _) => format!("The conversation is too long for the model: {said}"),
        (Verdict::InputRejected, _) => format!("GigaChat rejected the request: {said}"),
        // Only what the client sent can make these: a file id too long for a URL path (414), or,
        // were any forwarded id unbounded, headers too large (431).
        (Verdict::RequestTooLarge, _) if status != 413 => format!(
            "GigaChat refused the request as too large (HTTP {status}): {said}; shorten the ids or names sent."
        ),
        (Verdict::RequestTooLarge, _) => format!("GigaChat refused the request as too large: {said}"),
        (Verdict::RateLimited, _) => {
            "GigaChat is busy for this account (too many concurrent requests); retry shortly.".into()
        }
        (Verdict::QuotaExhausted, _) => {
            "The GigaChat token package of the adapter's account is used up.".into()
        }
        (Verdict::PermissionDenied, _) => {
            format!("GigaChat denied the adapter's account access: {said}")
        }
        (Verdict::Timeout, Upstream::Timeout(after)) => {
            format!("GigaChat did not answer within {after:?}.")
        }
        (Verdict::Unreachable, Upstream::Transport { kind, .. }) => {
            format!("The adapter could not reach GigaChat ({kind} error).")
        }
        (Verdict::UpstreamFailed, Upstream::InBand(said)) => {
            format!("GigaChat failed while answering: {said}")
        }
        (Verdict::BadResponse, _) => {
            "GigaChat sent a response the adapter could not understand.".into()
        }
        (Verdict::Misconfigured, _) => {
            "The adapter is not configured to reach GigaChat; see its logs.".into()
        }
        _ if status != 0 => format!("GigaChat failed with HTTP {status}: {said}"),
        _ => format!("GigaChat failed: {verdict}."),
    }
}

/// Longest part of a client's model name or id repeated in an error message.
const MAX_ECHOED: usize = 128;

/// At most [`MAX_ECHOED`] characters of a client's model name or id, for a message.
fn echoed(name: &str) -> String {
    name.chars().take(MAX_ECHOED).collect()
}

/// What is served instead of `model`, and how to serve it under that name.
fn model_not_found_message(model: &str, served: &[String], aliases: &[String]) -> String {
    let mut shown = echoed(model);
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

impl AppError {
    /// The error for a GigaChat failure, logged once here with its detail (the access log line
    /// carries only the verdict): a warning when the adapter's operator or GigaChat is at fault.
    pub fn upstream(err: Upstream) -> Self {
        let verdict = err.verdict();
        match verdict.fault() {
            Fault::Client => {
                tracing::debug!(error = %err, %verdict, "GigaChat refused the request")
            }
            Fault::Upstream | Fault::Adapter => {
                tracing::warn!(error = %err, %verdict, "GigaChat call failed");
            }
        }
        AppError::Upstream(err)
    }

    /// This error with the JSON path it names (`param`, or an attachment's) renamed by `rename`:
    /// a chat-path error told in the terms of the request the chat request was made from
    /// (`messages[2]` → `input[4]`).
    pub fn renamed(self, rename: impl Fn(&str) -> String) -> Self {
        match self {
            AppError::InvalidRequest {
                message,
                param: Some(param),
            } => AppError::InvalidRequest {
                message,
                param: Some(rename(&param)),
            },
            AppError::Attachment(mut part) => {
                part.param = rename(&part.param);
                AppError::Attachment(part)
            }
            other => other,
        }
    }

    /// The error for a failed call about file `id`: GigaChat not knowing it is told with the id.
    pub fn about_file(err: Upstream, id: &str) -> Self {
        match err.verdict() {
            Verdict::FileNotFound => AppError::FileNotFound(id.to_owned()),
            _ => AppError::upstream(err),
        }
    }
}

/// The result of a GigaChat call naming `model`: when GigaChat does not know the model, the error
/// says which one and what is served instead (GigaChat's models and the aliases).
pub(crate) async fn about_model<T>(
    state: &AppState,
    result: Result<T, Upstream>,
    model: &str,
) -> Result<T, AppError> {
    match result {
        Ok(value) => Ok(value),
        // Boxed: looking the models up is rare and its state large, and every handler that
        // calls this would otherwise carry room for it while it waits on GigaChat.
        Err(err) if err.verdict() == Verdict::ModelNotFound => {
            Err(Box::pin(crate::routes::models::not_found(state, model.to_owned())).await)
        }
        Err(err) => Err(AppError::upstream(err)),
    }
}

impl From<Upstream> for AppError {
    fn from(err: Upstream) -> Self {
        AppError::upstream(err)
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

/// An error as Anthropic's envelope shows it, carried in the extensions of the error's (OpenAI)
/// answer until the gate decides which one the client gets ([`for_anthropic`]).
#[derive(Debug, Clone)]
pub struct AnthropicError {
    /// The status.
    pub status: StatusCode,
    /// `error.type`.
    pub kind: &'static str,
    /// `error.message`.
    pub message: String,
}

impl AnthropicError {
    /// The envelope, with the request's id.
    pub fn envelope(&self, request_id: Option<String>) -> ::anthropic::ErrorEnvelope {
        ::anthropic::ErrorEnvelope::new(self.kind, self.message.clone(), request_id)
    }
}

impl AppError {
    /// This error as Anthropic's envelope shows it (for a stream that already started, too).
    pub fn anthropic(&self) -> AnthropicError {
        self.anthropic_of(&self.shape())
    }

    /// [`Self::anthropic`] from this error's (OpenAI) shape.
    fn anthropic_of(&self, shape: &Shape) -> AnthropicError {
        let by_verdict = |verdict: Verdict| {
            let row = anthropic::anthropic(verdict);
            (row.status, row.kind)
        };
        let by_upstream = |err: &Upstream| {
            let row = anthropic::of_upstream(err);
            (row.status, row.kind)
        };
        let (status, kind) = match self {
            AppError::Upstream(err) => by_upstream(err),
            AppError::Attachment(part) => match &part.error {
                AttachmentError::Upload(err) => by_upstream(err),
                _ => (StatusCode::BAD_REQUEST, "invalid_request_error"),
            },
            AppError::ModelNotFound { .. } => by_verdict(Verdict::ModelNotFound),
            AppError::FileNotFound(_) => by_verdict(Verdict::FileNotFound),
            AppError::InvalidRequest { .. } | AppError::RequestTimeout(_) => {
                (shape.status, "invalid_request_error")
            }
            AppError::PayloadTooLarge(_) | AppError::HeadersTooLarge(_) => {
                (shape.status, "request_too_large")
            }
            AppError::Unauthorized | AppError::KeyExpired { .. } | AppError::PassthroughRefused => {
                (shape.status, "authentication_error")
            }
            AppError::ModelNotAllowed(_) => (shape.status, "permission_error"),
            AppError::RouteNotFound(_)
            | AppError::ResponseNotFound(_)
            | AppError::PreviousResponseNotFound(_) => (shape.status, "not_found_error"),
            AppError::TooManyConnections(_) => (anthropic::OVERLOADED, "overloaded_error"),
            AppError::AccountBusy { .. } => (shape.status, "rate_limit_error"),
            AppError::KeyRateLimited { .. } => (shape.status, "rate_limit_error"),
            AppError::LimitsUnavailable => (shape.status, "api_error"),
            AppError::InvalidOutput(_) | AppError::ShuttingDown | AppError::Internal(_) => {
                (shape.status, "api_error")
            }
        };
        let message = match (self, &shape.param) {
            (AppError::Unauthorized, _) => {
                "invalid x-api-key: send a key of this adapter as `x-api-key: <key>` or \
                 `Authorization: Bearer <key>`."
                    .to_owned()
            }
            // Anthropic's envelope has no `param`: the path goes into the message.
            (_, Some(param)) if !shape.message.contains(param.as_str()) => {
                format!("{param}: {}", shape.message)
            }
            _ => shape.message.clone(),
        };
        AnthropicError {
            status,
            kind,
            message,
        }
    }
}

/// `response` as an Anthropic client gets it: an error answer (one carrying an
/// [`AnthropicError`]) re-made in Anthropic's envelope with its status and `request_id`, its
/// other headers (`retry-after`, `x-should-retry`) kept; any other answer as it is. Every answer
/// gets a `request-id` header, as Anthropic's API sends.
pub fn for_anthropic(mut response: Response, request_id: &str) -> Response {
    if let Some(error) = response.extensions_mut().remove::<AnthropicError>() {
        let (mut parts, _) = response.into_parts();
        let body =
            serde_json::to_vec(&error.envelope(Some(request_id.to_owned()))).unwrap_or_default();
        parts.status = error.status;
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        parts.headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response = Response::from_parts(parts, axum::body::Body::from(body));
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("request-id", id);
    }
    response
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let shape = self.shape();
        let anthropic = self.anthropic_of(&shape);
        let envelope = ErrorEnvelope::new(
            shape.message,
            shape.kind,
            shape.param,
            shape.code.map(str::to_owned),
        );
        let mut response = (shape.status, axum::Json(envelope)).into_response();
        response.extensions_mut().insert(Label(self.label()));
        response.extensions_mut().insert(anthropic);
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
    use gigachat::{ApiError, Endpoint, ErrorBodyKind};

    /// GigaChat's answer `status` with `message` to a chat call.
    fn api(status: u16, message: &str) -> AppError {
        answer(status, message, Endpoint::Chat)
    }

    fn answer(status: u16, message: &str, endpoint: Endpoint) -> AppError {
        AppError::Upstream(Upstream::Api(ApiError {
            status,
            message: message.into(),
            code: None,
            body_kind: ErrorBodyKind::Status,
            retry_after: None,
            request_id: None,
            endpoint,
        }))
    }

    /// A GigaChat failure the `gigachat` crate judges `verdict`.
    fn judged(verdict: Verdict) -> Upstream {
        let api = |status, message: &str, endpoint| match answer(status, message, endpoint) {
            AppError::Upstream(err) => err,
            _ => unreachable!(),
        };
        let err = match verdict {
            Verdict::ModelNotFound => api(404, "No such model", Endpoint::Chat),
            Verdict::FileNotFound => api(404, "No such model", Endpoint::File),
            Verdict::FileOfAnotherClient => {
                api(403, "Access to file 'a' is denied", Endpoint::File)
            }
            Verdict::StaleFile => api(422, "File a not found", Endpoint::Chat),
            Verdict::ContextTooLong => api(413, "Payload too large", Endpoint::Chat),
            Verdict::InputRejected => api(422, "Invalid params", Endpoint::Chat),
            Verdict::RequestTooLarge => api(414, "URI Too Long", Endpoint::File),
            Verdict::RateLimited => api(429, "Too many requests", Endpoint::Chat),
            Verdict::QuotaExhausted => api(402, "Payment Required", Endpoint::Chat),
            Verdict::CredentialsRefused => api(401, "Unauthorized", Endpoint::Chat),
            Verdict::TokenUnavailable => Upstream::Auth(ApiError::from_parts(
                503,
                &axum::http::HeaderMap::new(),
                b"",
            )),
            Verdict::PermissionDenied => api(403, "Permission denied", Endpoint::Other),
            Verdict::UpstreamFailed => api(500, "Internal Server Error", Endpoint::Chat),
            Verdict::UpstreamBusy => api(409, "Conflict", Endpoint::Chat),
            Verdict::UnexpectedStatus => api(405, "Method Not Allowed", Endpoint::Chat),
            Verdict::BadResponse => Upstream::Protocol("x".into()),
            Verdict::Timeout => Upstream::Timeout(Duration::from_secs(1)),
            Verdict::Unreachable => Upstream::Transport {
                kind: gigachat::TransportKind::Connect,
                source: std::sync::Arc::new(std::io::Error::other("refused")),
            },
            Verdict::Misconfigured => Upstream::NoCredentials,
        };
        assert_eq!(err.verdict(), verdict);
        err
    }

    #[tokio::test]
    async fn every_verdict_is_rendered_by_its_row_and_labelled_by_itself() {
        for verdict in Verdict::ALL {
            let row = openai::openai(verdict);
            let response = AppError::upstream(judged(verdict)).into_response();
            assert_eq!(response.status(), row.status, "{verdict}");
            let label = response.extensions().get::<Label>().map(|label| label.0);
            assert_eq!(label, Some(verdict.as_str()));
            let expected = if verdict.retryable() { "true" } else { "false" };
            assert_eq!(response.headers()["x-should-retry"], expected, "{verdict}");
            assert_eq!(
                response.headers().contains_key("retry-after"),
                row.wait.is_some(),
                "{verdict}"
            );
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let envelope: ErrorEnvelope = serde_json::from_slice(&body).unwrap();
            assert_eq!(envelope.error.kind, row.kind, "{verdict}");
            assert_eq!(envelope.error.code.as_deref(), row.code, "{verdict}");
            assert_eq!(envelope.error.param.as_deref(), row.param, "{verdict}");
            assert!(!envelope.error.message.is_empty(), "{verdict}");
        }
    }

    #[test]
    fn a_model_or_file_told_by_name_keeps_its_verdict() {
        let model = AppError::ModelNotFound {
            model: "x".into(),
            served: Vec::new(),
            aliases: Vec::new(),
        };
        let file = AppError::about_file(judged(Verdict::FileNotFound), "file-1");
        for (error, verdict) in [
            (model, Verdict::ModelNotFound),
            (file, Verdict::FileNotFound),
        ] {
            assert_eq!(error.label(), verdict.as_str());
            let shape = error.shape();
            let row = openai::openai(verdict);
            assert_eq!((shape.status, shape.code), (row.status, row.code));
        }
        assert_eq!(
            AppError::about_file(judged(Verdict::FileNotFound), "file-1")
                .shape()
                .message,
            "No such file: file-1."
        );
        let other_client = AppError::about_file(judged(Verdict::FileOfAnotherClient), "file-1");
        assert!(other_client.shape().message.contains("X-Client-ID"));
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
            let error = api(status, message);
            let shape = error.shape();
            assert_eq!(shape.status.as_u16(), expected, "{status}");
            assert_eq!(shape.code, code, "{status}");
            // The label names what the answer says (a 404 was once `upstream_rejected`).
            if code == Some("model_not_found") {
                assert_eq!(error.label(), "model_not_found");
            }
        }
        assert_eq!(
            AppError::from(Upstream::Timeout(Duration::from_secs(1)))
                .shape()
                .status,
            StatusCode::GATEWAY_TIMEOUT
        );
        // A v2 answer that failed inside its 200: GigaChat's failure, its words kept.
        let in_band = AppError::from(Upstream::InBand("Internal model error".into())).shape();
        assert_eq!(
            (in_band.status.as_u16(), in_band.code),
            (502, Some("upstream_error"))
        );
        assert!(in_band.should_retry);
        assert_eq!(
            in_band.message,
            "GigaChat failed while answering: Internal model error"
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
                endpoint: Endpoint::Other,
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
