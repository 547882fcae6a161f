//! How OpenAI's error envelope shows each GigaChat [`Verdict`]: the one table from a verdict to a
//! status, `type`, `code` and `param`. Another API surface (Anthropic's
//! `{"type":"error","error":{"type","message"}}`) gets a table of its own beside this one; the
//! message, `retry-after` and `x-should-retry` come from the verdict and are the same for all.

use std::time::Duration;

use axum::http::StatusCode;
use gigachat::Verdict;

/// One row of the table: what an OpenAI client is told for a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The HTTP status.
    pub status: StatusCode,
    /// The envelope's `type`.
    pub kind: &'static str,
    /// The envelope's `code`.
    pub code: Option<&'static str>,
    /// The envelope's `param`: the request field at fault.
    pub param: Option<&'static str>,
    /// The `retry-after` to send when GigaChat named none (only where clients should wait).
    pub wait: Option<Duration>,
}

impl Row {
    const fn new(status: StatusCode, kind: &'static str, code: Option<&'static str>) -> Self {
        Self {
            status,
            kind,
            code,
            param: None,
            wait: None,
        }
    }
}

/// The OpenAI rendering of `verdict`. GigaChat's rate limits stay 429, its verdicts on the request
/// stay 4xx, and everything about the adapter's own credentials or GigaChat's health becomes
/// 502/503/504 (never a 401 or 403, which a client would read as its own key refused).
pub fn openai(verdict: Verdict) -> Row {
    const INVALID: &str = "invalid_request_error";
    const UPSTREAM: &str = "upstream_error";
    match verdict {
        Verdict::ModelNotFound => Row {
            param: Some("model"),
            ..Row::new(StatusCode::NOT_FOUND, INVALID, Some("model_not_found"))
        },
        Verdict::FileNotFound | Verdict::FileOfAnotherClient => {
            Row::new(StatusCode::NOT_FOUND, INVALID, Some("file_not_found"))
        }
        Verdict::StaleFile => Row::new(StatusCode::BAD_REQUEST, INVALID, Some("file_not_found")),
        Verdict::ContextTooLong => Row::new(
            StatusCode::BAD_REQUEST,
            INVALID,
            Some("context_length_exceeded"),
        ),
        Verdict::InputRejected => Row::new(StatusCode::BAD_REQUEST, INVALID, None),
        Verdict::RequestTooLarge => {
            Row::new(StatusCode::BAD_REQUEST, INVALID, Some("request_too_large"))
        }
        Verdict::RateLimited => Row {
            wait: Some(Duration::from_secs(1)),
            ..Row::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                Some("rate_limit_exceeded"),
            )
        },
        Verdict::QuotaExhausted => Row::new(
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            Some("insufficient_quota"),
        ),
        Verdict::CredentialsRefused | Verdict::TokenUnavailable => Row::new(
            StatusCode::BAD_GATEWAY,
            UPSTREAM,
            Some("upstream_auth_failed"),
        ),
        Verdict::PermissionDenied => Row::new(
            StatusCode::BAD_GATEWAY,
            UPSTREAM,
            Some("upstream_permission_denied"),
        ),
        Verdict::UpstreamFailed | Verdict::UpstreamBusy | Verdict::UnexpectedStatus => {
            Row::new(StatusCode::BAD_GATEWAY, UPSTREAM, Some("upstream_error"))
        }
        Verdict::BadResponse => Row::new(
            StatusCode::BAD_GATEWAY,
            UPSTREAM,
            Some("upstream_bad_response"),
        ),
        Verdict::Timeout => Row::new(
            StatusCode::GATEWAY_TIMEOUT,
            UPSTREAM,
            Some("upstream_timeout"),
        ),
        Verdict::Unreachable => Row::new(
            StatusCode::BAD_GATEWAY,
            UPSTREAM,
            Some("upstream_unreachable"),
        ),
        Verdict::Misconfigured => Row::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            Some("adapter_misconfigured"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gigachat::Fault;

    #[test]
    fn every_verdict_has_a_row_whose_status_matches_its_fault() {
        for verdict in Verdict::ALL {
            let row = openai(verdict);
            assert!(!row.kind.is_empty(), "{verdict}");
            let status = row.status.as_u16();
            match verdict.fault() {
                // The client's mistakes are 4xx, never a 401/403 (its key was fine).
                Fault::Client => assert!(
                    (400..500).contains(&status) && status != 401 && status != 403,
                    "{verdict}: {status}"
                ),
                // A rate limit stays 429 so clients back off; everything else is a gateway failure.
                Fault::Upstream => assert!(
                    status == 429 || (502..=504).contains(&status),
                    "{verdict}: {status}"
                ),
                // The operator's problem: never blamed on the client's key.
                Fault::Adapter => assert!(
                    status == 429 || (502..=503).contains(&status),
                    "{verdict}: {status}"
                ),
            }
            assert_eq!(row.wait.is_some(), verdict == Verdict::RateLimited);
        }
    }
}
