//! Retry policy for transient failures: exponential backoff with jitter, honouring `Retry-After`.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::error::Error;
use crate::settings::Settings;

/// Longest pause between attempts, whatever the backoff or the server says.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// Upper bound of the random jitter added to each backoff.
const MAX_JITTER_SECS: f64 = 0.5;

/// When and how long to wait before trying a failed call again.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Extra attempts after the first.
    pub max_retries: u32,
    /// Backoff base in seconds: `factor * 2^attempt`.
    pub backoff_factor: f64,
    /// Statuses worth another attempt.
    pub retry_on_status: Vec<u16>,
}

impl RetryPolicy {
    /// The policy the settings describe.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            max_retries: settings.max_retries,
            backoff_factor: settings.retry_backoff_factor,
            retry_on_status: settings.retry_on_status_codes.clone(),
        }
    }

    /// The pause before retry number `attempt` (from 0) after `error`: the server's
    /// `Retry-After` when given, else `factor * 2^attempt` plus up to 0.5 s of jitter; at most 60 s.
    pub fn delay(&self, attempt: u32, error: &Error) -> Duration {
        if let Some(after) = error.retry_after().filter(|d| !d.is_zero()) {
            return after.min(MAX_DELAY);
        }
        let exponent = i32::try_from(attempt.min(30)).unwrap_or(30);
        let backoff = self.backoff_factor * 2f64.powi(exponent);
        let jitter = rand::rng().random_range(0.0..MAX_JITTER_SECS);
        Duration::from_secs_f64((backoff + jitter).min(MAX_DELAY.as_secs_f64()))
    }

    /// Runs `call` until it succeeds, fails for good, or the attempts run out.
    pub async fn run<T, F, Fut>(&self, mut call: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut attempt = 0;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(error)
                    if attempt < self.max_retries && error.is_retryable(&self.retry_on_status) =>
                {
                    let delay = self.delay(attempt, &error);
                    tracing::warn!(%error, attempt = attempt + 1, ?delay, "retrying GigaChat call");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ApiError, ErrorBodyKind};
    use std::sync::atomic::{AtomicU32, Ordering};

    fn status(status: u16, retry_after: Option<Duration>) -> Error {
        Error::Api(ApiError {
            status,
            message: String::new(),
            code: None,
            body_kind: ErrorBodyKind::Status,
            retry_after,
            request_id: None,
            endpoint: crate::verdict::Endpoint::Chat,
        })
    }

    fn policy(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            backoff_factor: 0.5,
            retry_on_status: vec![429, 500, 502, 503, 504],
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let policy = policy(10);
        for attempt in 0..4 {
            let base = 0.5 * 2f64.powi(attempt as i32);
            let delay = policy.delay(attempt, &status(500, None)).as_secs_f64();
            assert!(delay >= base && delay < base + 0.5, "{attempt}: {delay}");
        }
        assert_eq!(policy.delay(20, &status(500, None)), MAX_DELAY);
    }

    #[test]
    fn retry_after_wins() {
        let delay = policy(1).delay(3, &status(429, Some(Duration::from_secs(7))));
        assert_eq!(delay, Duration::from_secs(7));
        let capped = policy(1).delay(0, &status(429, Some(Duration::from_secs(600))));
        assert_eq!(capped, MAX_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_failures_only() {
        let calls = AtomicU32::new(0);
        let result: Result<u32, Error> = policy(3)
            .run(|| async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n < 2 { Err(status(503, None)) } else { Ok(n) }
            })
            .await;
        assert_eq!(result.unwrap(), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let result: Result<(), Error> = policy(3)
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(status(422, None))
            })
            .await;
        assert_eq!(result.unwrap_err().status(), Some(422));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let result: Result<(), Error> = policy(2)
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(status(500, None))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
