//! Per-key limits from `KEYS_FILE` (requests and tokens per minute, tokens per UTC day, requests
//! in flight) enforced on every API route: counted in this process, or in Redis with `REDIS_URL`
//! so replicas share them; refusals are 429s in the caller's envelope with `retry-after`, and
//! every answer to a limited key carries OpenAI's `x-ratelimit-*` headers.
//!
//! [`enforce`] runs inside the router's gate (which put the [`Caller`] and the request's
//! [`Exchange`] in its extensions and renders errors in the caller's envelope). A key without
//! limits passes untouched. An admitted request holds a [`Ticket`] until its [`Exchange`] ends
//! (the body sent, or the client gone), when the tokens GigaChat reported are added and its
//! concurrency slot is freed.

mod redis;
mod window;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use self::redis::RedisWindows;
use self::window::LocalWindows;
pub use self::window::{Decision, Exceeded, Quota};
use crate::access::{Exchange, Tokens};
use crate::error::AppError;
use crate::policy::{Caller, Limits};

/// What to do with a limited key's request when Redis cannot be asked (`LIMITS_REDIS_FAILURE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RedisFailure {
    /// Serve it unchecked (logged once per run of failures, counted in
    /// `gigachat_adapter_limits_redis_errors_total`).
    #[default]
    Allow,
    /// Answer 503 in the caller's envelope.
    Refuse,
}

/// Where the counters are.
enum Backend {
    Local(LocalWindows),
    Redis(RedisWindows),
}

/// The limits of every key, counted in one place for this process (or for every replica sharing
/// its Redis).
pub struct Limiter {
    backend: Backend,
    on_redis_failure: RedisFailure,
    /// Whether the last Redis call failed (a run of failures is logged once).
    failing: AtomicBool,
    redis_errors: AtomicU64,
}

/// What the limits said about a request.
pub enum Outcome {
    /// Admitted: the ticket holds its place until it ends.
    Admitted(Decision, Ticket),
    /// Refused by a limit.
    Refused(Decision),
    /// Served without a check: Redis failed and `LIMITS_REDIS_FAILURE` is `allow`.
    Unchecked,
}

impl Limiter {
    /// Counters in this process.
    pub fn local() -> Self {
        Self::with(Backend::Local(LocalWindows::default()), RedisFailure::Allow)
    }

    /// Counters in the Redis behind `conn`, shared with every replica using it; a request's
    /// concurrency lease lasts `lease` unless renewed (it is, every third of it, while the
    /// request runs); `on_failure` says what a failed Redis call means.
    pub fn redis(conn: ConnectionManager, lease: Duration, on_failure: RedisFailure) -> Self {
        Self::with(Backend::Redis(RedisWindows::new(conn, lease)), on_failure)
    }

    fn with(backend: Backend, on_redis_failure: RedisFailure) -> Self {
        Self {
            backend,
            on_redis_failure,
            failing: AtomicBool::new(false),
            redis_errors: AtomicU64::new(0),
        }
    }

    /// Failed Redis calls so far (`gigachat_adapter_limits_redis_errors_total`).
    pub fn redis_errors(&self) -> u64 {
        self.redis_errors.load(Ordering::Relaxed)
    }

    /// Decides a request of `caller` (one Redis round trip with Redis); an error is the 503 that
    /// `LIMITS_REDIS_FAILURE=refuse` answers when Redis fails.
    pub async fn admit(self: &Arc<Self>, caller: &Caller) -> Result<Outcome, AppError> {
        let held = caller.limits.concurrent.is_some();
        let lease_id = match (&self.backend, held) {
            (Backend::Redis(_), true) => uuid::Uuid::now_v7().simple().to_string(),
            _ => String::new(),
        };
        let decision = match &self.backend {
            Backend::Local(windows) => windows.admit(&caller.name, &caller.limits, now()),
            Backend::Redis(windows) => {
                match windows.admit(&caller.name, &caller.limits, &lease_id).await {
                    Ok(decision) => {
                        self.redis_answered();
                        decision
                    }
                    Err(err) => {
                        self.redis_failed(&err);
                        return match self.on_redis_failure {
                            RedisFailure::Allow => Ok(Outcome::Unchecked),
                            RedisFailure::Refuse => Err(AppError::LimitsUnavailable),
                        };
                    }
                }
            }
        };
        if decision.exceeded.is_some() {
            return Ok(Outcome::Refused(decision));
        }
        let renewal = match &self.backend {
            Backend::Redis(windows) if held => Some(tokio::spawn(renew(
                self.clone(),
                caller.name.clone(),
                lease_id.clone(),
                windows.lease() / 3,
            ))),
            _ => None,
        };
        let ticket = Ticket {
            limiter: self.clone(),
            name: caller.name.clone(),
            limits: caller.limits,
            held,
            lease_id,
            renewal,
            tokens: 0,
            done: false,
        };
        Ok(Outcome::Admitted(decision, ticket))
    }

    fn redis_answered(&self) {
        if self.failing.load(Ordering::Relaxed) && self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!("limits: Redis answers again");
        }
    }

    fn redis_failed(&self, err: &::redis::RedisError) {
        self.redis_errors.fetch_add(1, Ordering::Relaxed);
        if !self.failing.swap(true, Ordering::Relaxed) {
            let meanwhile = match self.on_redis_failure {
                RedisFailure::Allow => "serving limited keys unchecked",
                RedisFailure::Refuse => "refusing limited keys with 503",
            };
            tracing::warn!(error = %err, "limits: Redis failed; {meanwhile} until it answers (LIMITS_REDIS_FAILURE)");
        }
    }
}

/// The current Unix second (the in-process windows' clock).
fn now() -> u64 {
    u64::try_from(crate::context::unix_now()).unwrap_or_default()
}

/// Keeps the Redis lease `lease_id` of `name` alive, renewing it every `every`, until aborted.
async fn renew(limiter: Arc<Limiter>, name: Arc<str>, lease_id: String, every: Duration) {
    let Backend::Redis(windows) = &limiter.backend else {
        return;
    };
    loop {
        tokio::time::sleep(every).await;
        match windows.renew(&name, &lease_id).await {
            Ok(()) => limiter.redis_answered(),
            Err(err) => limiter.redis_failed(&err),
        }
    }
}

/// An admitted request's place in its key's limits: when it ends ([`Ticket::finish`], or dropped)
/// its tokens are counted and its concurrency slot freed.
pub struct Ticket {
    limiter: Arc<Limiter>,
    name: Arc<str>,
    limits: Limits,
    /// Whether it holds a concurrency slot.
    held: bool,
    /// Its lease in Redis (empty: none).
    lease_id: String,
    renewal: Option<tokio::task::JoinHandle<()>>,
    tokens: u64,
    done: bool,
}

impl Ticket {
    /// Records the tokens GigaChat reported for the request (prompt + completion).
    pub fn spent(&mut self, tokens: u64) {
        self.tokens = self.tokens.saturating_add(tokens);
    }

    /// Ends the request: counts its tokens and frees its slot (one Redis round trip, when there
    /// is something to tell Redis).
    pub async fn finish(mut self) {
        if let Some(release) = self.release() {
            release.await;
        }
    }

    /// What ending the request takes, once (nothing left after the first call).
    fn release(&mut self) -> Option<impl Future<Output = ()> + Send + 'static> {
        if std::mem::replace(&mut self.done, true) {
            return None;
        }
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        let tells_redis = self.held
            || (self.tokens > 0
                && (self.limits.tokens_per_minute.is_some()
                    || self.limits.tokens_per_day.is_some()));
        let (limiter, name, limits) = (self.limiter.clone(), self.name.clone(), self.limits);
        let (held, tokens, lease_id) = (self.held, self.tokens, std::mem::take(&mut self.lease_id));
        Some(async move {
            match &limiter.backend {
                Backend::Local(windows) => windows.finish(&name, tokens, held, now()),
                Backend::Redis(windows) if tells_redis => {
                    let lease = (!lease_id.is_empty()).then_some(lease_id.as_str());
                    match windows.finish(&name, &limits, tokens, lease).await {
                        Ok(()) => limiter.redis_answered(),
                        Err(err) => limiter.redis_failed(&err),
                    }
                }
                Backend::Redis(_) => {}
            }
        })
    }
}

impl Drop for Ticket {
    /// A ticket dropped without [`Ticket::finish`] ends its request in the background.
    fn drop(&mut self) {
        if let Some(release) = self.release()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(release);
        }
    }
}

/// The tokens an answer's usage counts against the limits: prompt + completion.
fn counted(usage: Option<Tokens>) -> u64 {
    usage.map_or(0, |usage| {
        u64::from(usage.prompt).saturating_add(u64::from(usage.completion))
    })
}

/// Middleware: holds a limited caller's API requests to its limits (see the module docs).
pub async fn enforce(
    State(limiter): State<Arc<Limiter>>,
    request: Request,
    next: Next,
) -> Response {
    let caller = match request.extensions().get::<Caller>() {
        Some(caller) if caller.limits != Limits::default() && is_api_path(request.uri().path()) => {
            caller.clone()
        }
        _ => return next.run(request).await,
    };
    let (decision, ticket) = match limiter.admit(&caller).await {
        Ok(Outcome::Admitted(decision, ticket)) => (decision, ticket),
        Ok(Outcome::Unchecked) => return next.run(request).await,
        Ok(Outcome::Refused(decision)) => {
            let mut response = refusal(&decision).into_response();
            add_headers(response.headers_mut(), &decision);
            return response;
        }
        Err(unavailable) => return unavailable.into_response(),
    };
    if let Some(exchange) = request.extensions().get::<Arc<Exchange>>() {
        let mut ticket = ticket;
        exchange.when_finished(Box::new(move |usage| {
            ticket.spent(counted(usage));
            drop(ticket);
        }));
    }
    let mut response = next.run(request).await;
    add_headers(response.headers_mut(), &decision);
    response
}

/// Whether `path` is an API route (not health, docs or metrics).
fn is_api_path(path: &str) -> bool {
    crate::server::route_of(path).template.starts_with("/v1/")
}

/// The 429 for a request `decision` refused.
fn refusal(decision: &Decision) -> AppError {
    let retry_after = decision.retry_after;
    let message = match decision.exceeded {
        Some(Exceeded::Concurrent) => {
            "This key already has as many requests in flight as its `concurrent` limit allows; retry when one ends.".to_owned()
        }
        Some(exceeded) => format!(
            "This key has reached its `{}` limit; retry in {}.",
            exceeded.setting(),
            duration(retry_after)
        ),
        None => "This key has reached a limit.".to_owned(),
    };
    AppError::KeyRateLimited {
        message,
        retry_after,
    }
}

/// OpenAI's rate-limit headers: limit, remaining and reset of requests, then of tokens (CORS
/// exposes them to browser clients).
pub const HEADERS: [HeaderName; 6] = [
    HeaderName::from_static("x-ratelimit-limit-requests"),
    HeaderName::from_static("x-ratelimit-remaining-requests"),
    HeaderName::from_static("x-ratelimit-reset-requests"),
    HeaderName::from_static("x-ratelimit-limit-tokens"),
    HeaderName::from_static("x-ratelimit-remaining-tokens"),
    HeaderName::from_static("x-ratelimit-reset-tokens"),
];

/// Adds OpenAI's `x-ratelimit-*` headers ([`HEADERS`]) for the key's request and token limits.
fn add_headers(headers: &mut HeaderMap, decision: &Decision) {
    let [
        limit_requests,
        remaining_requests,
        reset_requests,
        limit_tokens,
        remaining_tokens,
        reset_tokens,
    ] = HEADERS;
    for ([limit, remaining, reset], quota) in [
        (
            [limit_requests, remaining_requests, reset_requests],
            decision.requests,
        ),
        (
            [limit_tokens, remaining_tokens, reset_tokens],
            decision.tokens,
        ),
    ] {
        let Some(quota) = quota else { continue };
        headers.insert(limit, HeaderValue::from(quota.limit));
        headers.insert(remaining, HeaderValue::from(quota.remaining));
        if let Ok(value) = HeaderValue::from_str(&duration(quota.reset)) {
            headers.insert(reset, value);
        }
    }
}

/// A duration as OpenAI's reset headers write it: `45s`, `1m5s`, `13h0m12s`.
fn duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::window::{Used, decide};
    use super::*;

    #[test]
    fn durations_are_written_like_openai_resets() {
        assert_eq!(duration(Duration::from_secs(45)), "45s");
        assert_eq!(duration(Duration::from_secs(65)), "1m5s");
        assert_eq!(duration(Duration::from_secs(13 * 3600 + 12)), "13h0m12s");
    }

    #[test]
    fn headers_tell_both_limits() {
        let decision = decide(
            &Limits {
                requests_per_minute: Some(10),
                tokens_per_minute: Some(1000),
                ..Limits::default()
            },
            Used {
                requests: 4,
                tokens_minute: 300,
                ..Used::default()
            },
            1_796_551_215,
        );
        let mut headers = HeaderMap::new();
        add_headers(&mut headers, &decision);
        let header = |name: &str| headers[name].to_str().unwrap().to_owned();
        assert_eq!(header("x-ratelimit-limit-requests"), "10");
        assert_eq!(header("x-ratelimit-remaining-requests"), "5");
        assert_eq!(header("x-ratelimit-reset-requests"), "45s");
        assert_eq!(header("x-ratelimit-limit-tokens"), "1000");
        assert_eq!(header("x-ratelimit-remaining-tokens"), "700");
        assert_eq!(header("x-ratelimit-reset-tokens"), "45s");
    }

    #[test]
    fn api_routes_are_limited_and_service_routes_are_not() {
        assert!(is_api_path("/v1/chat/completions"));
        assert!(is_api_path("/chat/completions"));
        assert!(is_api_path("/v1/models/GigaChat"));
        assert!(!is_api_path("/metrics"));
        assert!(!is_api_path("/health/ready"));
        assert!(!is_api_path("/docs/index.html"));
        assert!(!is_api_path("/v1/nothing"));
    }
}
