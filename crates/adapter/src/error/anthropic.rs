//! How Anthropic's error envelope (`{"type":"error","error":{"type","message"}}`) shows each
//! GigaChat [`Verdict`]: the table beside [`super::openai`]'s. The message, `retry-after` and
//! `x-should-retry` come from the verdict and are the same for both.

use axum::http::StatusCode;
use gigachat::Verdict;

/// One row of the table: what an Anthropic client is told for a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The HTTP status.
    pub status: StatusCode,
    /// The envelope's `error.type`.
    pub kind: &'static str,
}

/// Anthropic's status for an overloaded API; its SDKs retry it.
pub const OVERLOADED: StatusCode = match StatusCode::from_u16(529) {
    Ok(status) => status,
    Err(_) => StatusCode::SERVICE_UNAVAILABLE,
};

const fn row(status: StatusCode, kind: &'static str) -> Row {
    Row { status, kind }
}

/// The Anthropic rendering of `verdict`. As in OpenAI's table, GigaChat's verdicts on the request
/// stay 4xx, its rate limit stays 429, GigaChat being busy is Anthropic's 529 `overloaded_error`,
/// and trouble with the adapter's own account or GigaChat's health is a 5xx `api_error` (never a
/// 401 or 403, which a client would read as its own key refused).
pub fn anthropic(verdict: Verdict) -> Row {
    const INVALID: &str = "invalid_request_error";
    const API: &str = "api_error";
    match verdict {
        Verdict::ModelNotFound | Verdict::FileNotFound | Verdict::FileOfAnotherClient => {
            row(StatusCode::NOT_FOUND, "not_found_error")
        }
        Verdict::StaleFile | Verdict::ContextTooLong | Verdict::InputRejected => {
            row(StatusCode::BAD_REQUEST, INVALID)
        }
        Verdict::RequestTooLarge => row(StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
        Verdict::RateLimited => row(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
        // The account's token package is used up: retrying will not help until it is topped up.
        Verdict::QuotaExhausted => row(StatusCode::PAYMENT_REQUIRED, "billing_error"),
        Verdict::UpstreamBusy => row(OVERLOADED, "overloaded_error"),
        Verdict::Timeout => row(StatusCode::GATEWAY_TIMEOUT, "timeout_error"),
        Verdict::CredentialsRefused
        | Verdict::TokenUnavailable
        | Verdict::PermissionDenied
        | Verdict::UpstreamFailed
        | Verdict::UnexpectedStatus
        | Verdict::BadResponse
        | Verdict::Unreachable => row(StatusCode::BAD_GATEWAY, API),
        Verdict::Misconfigured => row(StatusCode::SERVICE_UNAVAILABLE, API),
    }
}

/// The row for GigaChat failure `err`: its verdict's, except that a 503 from GigaChat (a 5xx like
/// any other to the verdict) says it is overloaded, which Anthropic's clients know as 529.
pub fn of_upstream(err: &gigachat::Error) -> Row {
    match err {
        gigachat::Error::Api(api) if api.status == 503 => row(OVERLOADED, "overloaded_error"),
        _ => anthropic(err.verdict()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gigachat::Fault;

    #[test]
    fn every_verdict_has_a_row_whose_status_matches_its_fault() {
        for verdict in Verdict::ALL {
            let row = anthropic(verdict);
            let status = row.status.as_u16();
            match verdict.fault() {
                Fault::Client => assert!(
                    (400..500).contains(&status) && status != 401 && status != 403,
                    "{verdict}: {status}"
                ),
                Fault::Upstream => assert!(
                    matches!(status, 429 | 529) || (502..=504).contains(&status),
                    "{verdict}: {status}"
                ),
                Fault::Adapter => assert!(
                    matches!(status, 402 | 429) || (502..=503).contains(&status),
                    "{verdict}: {status}"
                ),
            }
            // The SDKs retry 429 and 5xx: exactly the verdicts worth retrying, and the quota.
            let retried = status == 429 || status >= 500;
            assert_eq!(
                retried,
                verdict.retryable() || status >= 500,
                "{verdict}: {status}"
            );
        }
        assert_eq!(anthropic(Verdict::UpstreamBusy).status.as_u16(), 529);
        assert_eq!(anthropic(Verdict::RateLimited).kind, "rate_limit_error");
    }
}
