//! What a GigaChat failure means, decided once from the error and the endpoint that was called:
//! what happened, whose fault it is and whether the same request may succeed later. Every front
//! door renders a [`Verdict`] in its own envelope, and metrics label failures with
//! [`Verdict::as_str`], so no caller reads statuses or messages again.

use crate::error::{ApiError, Error};

/// The GigaChat endpoint a call went to, as far as its failures mean different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /chat/completions`.
    Chat,
    /// `POST /embeddings`.
    Embeddings,
    /// `POST /tokens/count`.
    TokensCount,
    /// `GET /models`.
    Models,
    /// `GET /models/{id}`.
    Model,
    /// `GET /files` and `POST /files` (the collection).
    Files,
    /// `/files/{id}`, `/files/{id}/content`, `/files/{id}/delete` (one file by id).
    File,
    /// Any other path (`/balance`, `/ai/check`, …), and errors not made from a call.
    Other,
}

impl Endpoint {
    /// The endpoint of a request path relative to the API base (`/files/abc/content` → [`Endpoint::File`]).
    pub fn of(path: &str) -> Self {
        let mut segments = path.trim_start_matches('/').split('/').peekable();
        // `/v2/chat/completions` hangs under the unversioned base: its version segment is skipped.
        if segments
            .peek()
            .is_some_and(|first| is_version_segment(first))
        {
            segments.next();
        }
        match (segments.next(), segments.next(), segments.next()) {
            (Some("chat"), Some("completions"), None) => Endpoint::Chat,
            (Some("embeddings"), None, None) => Endpoint::Embeddings,
            (Some("tokens"), Some("count"), None) => Endpoint::TokensCount,
            (Some("models"), None, None) => Endpoint::Models,
            (Some("models"), Some(_), None) => Endpoint::Model,
            (Some("files"), None, None) => Endpoint::Files,
            (Some("files"), Some(_), None | Some("content" | "delete")) => Endpoint::File,
            _ => Endpoint::Other,
        }
    }

    /// Whether the call named a model that GigaChat's 404 can only be about.
    fn names_a_model(self) -> bool {
        matches!(
            self,
            Endpoint::Chat | Endpoint::Embeddings | Endpoint::TokensCount | Endpoint::Model
        )
    }
}

/// Whether a path segment is an API version (`v1`, `v2`, ...).
pub(crate) fn is_version_segment(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Whose mistake a failure is: who has to act for the same request to succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request itself (its model, files, size or content).
    Client,
    /// GigaChat or the way to it (busy, down, slow, garbled).
    Upstream,
    /// The adapter's deployment: its credentials, account, settings, or a request it built wrongly.
    Adapter,
}

/// What a failed GigaChat call means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The model named in the request does not exist (a 404 on a call that names a model).
    ModelNotFound,
    /// The file named does not exist (a 400/404/422 on `/files/{id}`).
    FileNotFound,
    /// The file is kept for another `X-Client-ID` (GigaChat's 403 `Access to file … is denied`).
    FileOfAnotherClient,
    /// A chat attached a file id GigaChat no longer knows (deleted or expired since it was uploaded).
    StaleFile,
    /// The conversation does not fit the model's context window (413, or a 400/422 saying so).
    ContextTooLong,
    /// GigaChat refused the request's content or parameters (another 400/422).
    InputRejected,
    /// A URL or headers too large (414/431; only the client's ids can make them), or a 413 on a
    /// call that carries no conversation.
    RequestTooLarge,
    /// GigaChat's concurrency limit for the account (429).
    RateLimited,
    /// The account's token package is used up (402).
    QuotaExhausted,
    /// GigaChat refused the adapter's credentials: the token endpoint said no, or the API host
    /// rejected the token even after a refresh (401).
    CredentialsRefused,
    /// The token endpoint failed in a passing way (its 429 or 5xx).
    TokenUnavailable,
    /// GigaChat denied the adapter's account this operation (403).
    PermissionDenied,
    /// GigaChat failed (5xx, or an HTML page from its gateway).
    UpstreamFailed,
    /// A passing GigaChat refusal that is not a failure of its own (408, 409, 425).
    UpstreamBusy,
    /// A status the adapter does not expect from this endpoint (another 4xx).
    UnexpectedStatus,
    /// GigaChat answered something the client cannot understand.
    BadResponse,
    /// No answer (or no next stream event) in time.
    Timeout,
    /// GigaChat could not be reached (DNS, TCP, TLS, a broken connection).
    Unreachable,
    /// The adapter is configured in a way that cannot reach GigaChat.
    Misconfigured,
}

impl Verdict {
    /// Every verdict, for tables that must cover them all.
    pub const ALL: [Verdict; 19] = [
        Verdict::ModelNotFound,
        Verdict::FileNotFound,
        Verdict::FileOfAnotherClient,
        Verdict::StaleFile,
        Verdict::ContextTooLong,
        Verdict::InputRejected,
        Verdict::RequestTooLarge,
        Verdict::RateLimited,
        Verdict::QuotaExhausted,
        Verdict::CredentialsRefused,
        Verdict::TokenUnavailable,
        Verdict::PermissionDenied,
        Verdict::UpstreamFailed,
        Verdict::UpstreamBusy,
        Verdict::UnexpectedStatus,
        Verdict::BadResponse,
        Verdict::Timeout,
        Verdict::Unreachable,
        Verdict::Misconfigured,
    ];

    /// A stable, short label for logs and metrics (`error` and `verdict` labels).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::ModelNotFound => "model_not_found",
            Verdict::FileNotFound => "file_not_found",
            Verdict::FileOfAnotherClient => "file_of_another_client",
            Verdict::StaleFile => "stale_file",
            Verdict::ContextTooLong => "context_length_exceeded",
            Verdict::InputRejected => "input_rejected",
            Verdict::RequestTooLarge => "request_too_large",
            Verdict::RateLimited => "upstream_rate_limited",
            Verdict::QuotaExhausted => "upstream_quota_exhausted",
            Verdict::CredentialsRefused => "upstream_auth",
            Verdict::TokenUnavailable => "upstream_token_unavailable",
            Verdict::PermissionDenied => "upstream_permission_denied",
            Verdict::UpstreamFailed => "upstream_server_error",
            Verdict::UpstreamBusy => "upstream_busy",
            Verdict::UnexpectedStatus => "upstream_unexpected_status",
            Verdict::BadResponse => "upstream_protocol",
            Verdict::Timeout => "upstream_timeout",
            Verdict::Unreachable => "upstream_unreachable",
            Verdict::Misconfigured => "adapter_config",
        }
    }

    /// The verdict labelled `label` by [`Verdict::as_str`], if any.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|verdict| verdict.as_str() == label)
    }

    /// Whose mistake it is.
    pub fn fault(self) -> Fault {
        match self {
            Verdict::ModelNotFound
            | Verdict::FileNotFound
            | Verdict::FileOfAnotherClient
            | Verdict::StaleFile
            | Verdict::ContextTooLong
            | Verdict::InputRejected
            | Verdict::RequestTooLarge => Fault::Client,
            Verdict::RateLimited
            | Verdict::TokenUnavailable
            | Verdict::UpstreamFailed
            | Verdict::UpstreamBusy
            | Verdict::BadResponse
            | Verdict::Timeout
            | Verdict::Unreachable => Fault::Upstream,
            Verdict::QuotaExhausted
            | Verdict::CredentialsRefused
            | Verdict::PermissionDenied
            | Verdict::UnexpectedStatus
            | Verdict::Misconfigured => Fault::Adapter,
        }
    }

    /// Whether sending the same request again later may succeed: only when the failure passes on
    /// its own (GigaChat busy, down, slow or garbled). A client's mistake, a used-up quota or
    /// refused credentials answer the same request the same way every time.
    pub fn retryable(self) -> bool {
        self.fault() == Fault::Upstream
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// What this failure means (see [`Verdict`]).
    pub fn verdict(&self) -> Verdict {
        match self {
            Error::Api(api) => of_answer(api),
            Error::Auth(api) if is_passing(api.status) => Verdict::TokenUnavailable,
            Error::Auth(_) => Verdict::CredentialsRefused,
            Error::Transport { .. } => Verdict::Unreachable,
            Error::Timeout(_) => Verdict::Timeout,
            Error::Protocol(_) => Verdict::BadResponse,
            Error::InBand(_) => Verdict::UpstreamFailed,
            Error::Config(_) | Error::NoCredentials => Verdict::Misconfigured,
        }
    }
}

/// Whether a status says the same request may succeed later: a rate limit, GigaChat's own
/// failure, a timeout or a conflict.
fn is_passing(status: u16) -> bool {
    matches!(status, 408 | 409 | 425 | 429) || status >= 500
}

/// The verdict on an answer of the API host, by status, endpoint and what GigaChat said.
fn of_answer(api: &ApiError) -> Verdict {
    let said = api.message.to_lowercase();
    let endpoint = api.endpoint;
    match api.status {
        // GigaChat's 403 for files is an `X-Client-ID` mismatch (documented as `Access to file
        // '<id>' is denied`); a chat attaching such a file says the same.
        403 if endpoint == Endpoint::File || said.contains("access to file") => {
            Verdict::FileOfAnotherClient
        }
        // The file endpoints answer odd texts (`No such model`, `Invalid model ID`) for ids they
        // do not know: the endpoint, not the text, says what is missing.
        400 | 404 | 422 if endpoint == Endpoint::File => Verdict::FileNotFound,
        400 | 404 | 422 if endpoint == Endpoint::Chat && mentions_missing_file(&said) => {
            Verdict::StaleFile
        }
        404 if endpoint.names_a_model() => Verdict::ModelNotFound,
        400 | 422 if mentions_context(&said) => Verdict::ContextTooLong,
        413 if matches!(
            endpoint,
            Endpoint::Chat | Endpoint::Embeddings | Endpoint::TokensCount
        ) =>
        {
            Verdict::ContextTooLong
        }
        400 | 422 => Verdict::InputRejected,
        413 | 414 | 431 => Verdict::RequestTooLarge,
        401 => Verdict::CredentialsRefused,
        402 => Verdict::QuotaExhausted,
        403 => Verdict::PermissionDenied,
        429 => Verdict::RateLimited,
        408 | 409 | 425 => Verdict::UpstreamBusy,
        status if status >= 500 => Verdict::UpstreamFailed,
        _ => Verdict::UnexpectedStatus,
    }
}

/// Whether GigaChat's (lowercased) message says an attached file is unknown.
fn mentions_missing_file(said: &str) -> bool {
    (said.contains("file") || said.contains("attachment"))
        && ["not found", "unknown", "does not exist", "not exist"]
            .iter()
            .any(|needle| said.contains(needle))
}

/// Whether GigaChat's (lowercased) message says the conversation is too long.
fn mentions_context(said: &str) -> bool {
    [
        "context",
        "too long",
        "tokens limit",
        "max tokens",
        "payload too large",
    ]
    .iter()
    .any(|needle| said.contains(needle))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::*;
    use crate::error::ErrorBodyKind;

    fn api(status: u16, message: &str, endpoint: Endpoint) -> Error {
        Error::Api(ApiError {
            status,
            message: message.into(),
            code: None,
            body_kind: ErrorBodyKind::Status,
            retry_after: None,
            request_id: None,
            endpoint,
        })
    }

    #[test]
    fn endpoints_are_read_from_the_path() {
        for (path, endpoint) in [
            ("/chat/completions", Endpoint::Chat),
            ("/v2/chat/completions", Endpoint::Chat),
            ("/v2/files", Endpoint::Files),
            ("/vx/chat/completions", Endpoint::Other),
            ("/embeddings", Endpoint::Embeddings),
            ("/tokens/count", Endpoint::TokensCount),
            ("/models", Endpoint::Models),
            ("/models/GigaChat-2-Max", Endpoint::Model),
            ("/files", Endpoint::Files),
            ("/files/abc", Endpoint::File),
            ("/files/a%2Fb/content", Endpoint::File),
            ("/files/abc/delete", Endpoint::File),
            ("/files/abc/other", Endpoint::Other),
            ("/balance", Endpoint::Other),
            ("/ai/check", Endpoint::Other),
        ] {
            assert_eq!(Endpoint::of(path), endpoint, "{path}");
        }
    }

    #[test]
    fn a_404_means_what_the_endpoint_asked_for() {
        use Endpoint::*;
        for (endpoint, verdict) in [
            (Chat, Verdict::ModelNotFound),
            (Embeddings, Verdict::ModelNotFound),
            (TokensCount, Verdict::ModelNotFound),
            (Model, Verdict::ModelNotFound),
            // `/files/{id}/content` says `No such model` for an unknown file.
            (File, Verdict::FileNotFound),
            (Models, Verdict::UnexpectedStatus),
            (Files, Verdict::UnexpectedStatus),
            (Other, Verdict::UnexpectedStatus),
        ] {
            assert_eq!(
                api(404, "No such model", endpoint).verdict(),
                verdict,
                "{endpoint:?}"
            );
        }
    }

    #[test]
    fn statuses_and_messages_decide_the_verdict() {
        use Endpoint::*;
        for (status, message, endpoint, verdict) in [
            (422, "File abc not found", Chat, Verdict::StaleFile),
            (404, "attachment does not exist", Chat, Verdict::StaleFile),
            (400, "Invalid model ID", File, Verdict::FileNotFound),
            (
                422,
                "File abc not found",
                Embeddings,
                Verdict::InputRejected,
            ),
            (
                403,
                "Access to file 'abc' is denied",
                Chat,
                Verdict::FileOfAnotherClient,
            ),
            (403, "Forbidden", File, Verdict::FileOfAnotherClient),
            (403, "Permission denied", Other, Verdict::PermissionDenied),
            (
                422,
                "Invalid params: context window exceeded",
                Chat,
                Verdict::ContextTooLong,
            ),
            (413, "Payload too large", Chat, Verdict::ContextTooLong),
            (413, "Payload too large", Files, Verdict::RequestTooLarge),
            (414, "URI Too Long", File, Verdict::RequestTooLarge),
            (
                431,
                "Request Header Fields Too Large",
                Chat,
                Verdict::RequestTooLarge,
            ),
            (
                422,
                "Invalid params: temperature",
                Chat,
                Verdict::InputRejected,
            ),
            (401, "Unauthorized", Chat, Verdict::CredentialsRefused),
            (402, "Payment Required", Chat, Verdict::QuotaExhausted),
            (429, "Too many requests", Chat, Verdict::RateLimited),
            (408, "Request Timeout", Chat, Verdict::UpstreamBusy),
            (409, "Conflict", Chat, Verdict::UpstreamBusy),
            (425, "Too Early", Chat, Verdict::UpstreamBusy),
            (500, "Internal Server Error", Chat, Verdict::UpstreamFailed),
            (503, "Service Unavailable", Files, Verdict::UpstreamFailed),
            (405, "Method Not Allowed", Chat, Verdict::UnexpectedStatus),
            (
                451,
                "Unavailable For Legal Reasons",
                Chat,
                Verdict::UnexpectedStatus,
            ),
        ] {
            assert_eq!(
                api(status, message, endpoint).verdict(),
                verdict,
                "{status} {message} {endpoint:?}"
            );
        }
        let auth = |status| {
            Error::Auth(ApiError::from_parts(
                status,
                &reqwest::header::HeaderMap::new(),
                b"",
            ))
            .verdict()
        };
        assert_eq!(auth(401), Verdict::CredentialsRefused);
        assert_eq!(auth(400), Verdict::CredentialsRefused);
        assert_eq!(auth(503), Verdict::TokenUnavailable);
        assert_eq!(auth(429), Verdict::TokenUnavailable);
        assert_eq!(
            Error::Timeout(Duration::from_secs(1)).verdict(),
            Verdict::Timeout
        );
        assert_eq!(Error::Protocol("x".into()).verdict(), Verdict::BadResponse);
        let in_band = Error::InBand("Internal error".into());
        assert_eq!(in_band.verdict(), Verdict::UpstreamFailed);
        assert!(in_band.to_string().contains("Internal error"));
        assert_eq!(Error::NoCredentials.verdict(), Verdict::Misconfigured);
        assert_eq!(Error::Config("x".into()).verdict(), Verdict::Misconfigured);
    }

    #[test]
    fn only_passing_failures_are_retryable() {
        for verdict in Verdict::ALL {
            let passing = matches!(
                verdict,
                Verdict::RateLimited
                    | Verdict::TokenUnavailable
                    | Verdict::UpstreamFailed
                    | Verdict::UpstreamBusy
                    | Verdict::BadResponse
                    | Verdict::Timeout
                    | Verdict::Unreachable
            );
            assert_eq!(verdict.retryable(), passing, "{verdict}");
        }
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
            (425, true),
            (429, true),
            (451, false),
            (500, true),
            (502, true),
            (503, true),
        ] {
            let verdict = api(status, "x", Endpoint::Chat).verdict();
            assert_eq!(verdict.retryable(), retry, "{status} {verdict}");
        }
    }

    #[test]
    fn labels_are_unique_and_read_back() {
        let labels: HashSet<_> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
        assert_eq!(labels.len(), Verdict::ALL.len());
        for verdict in Verdict::ALL {
            assert_eq!(Verdict::from_label(verdict.as_str()), Some(verdict));
        }
        assert_eq!(Verdict::from_label("unauthorized"), None);
    }
}
