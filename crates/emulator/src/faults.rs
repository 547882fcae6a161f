//! Fault injection: one-shot failures queued by tests and applied to the next matching requests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use crate::log::Listener;
use crate::server::ConnInfo;
use crate::state::AppState;
use crate::sync::lock;
use crate::wire;

/// A failure the emulator injects instead of (or into) a normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer `status` with its documented `{"status":N,"message":…}` body (e.g. 429, 402, 500, 503),
    /// plus a `Retry-After` header in whole seconds (rounded up) when given.
    Status {
        /// HTTP status to answer.
        status: u16,
        /// Value of the `Retry-After` header.
        retry_after: Option<Duration>,
        /// How many requests it hits.
        times: usize,
    },
    /// Answer 502 with the SynGX gateway's HTML page (`text/html`, no id headers).
    BadGatewayHtml {
        /// How many requests it hits.
        times: usize,
    },
    /// Answer 504 with the SynGX gateway's HTML page.
    GatewayTimeoutHtml {
        /// How many requests it hits.
        times: usize,
    },
    /// Sleep `delay` before handling the request (before any response byte).
    SlowFirstByte {
        /// How long to stall.
        delay: Duration,
        /// How many requests it hits.
        times: usize,
    },
    /// On a streaming chat request: write `events` data events, then abort the connection
    /// (no final chunk, no `[DONE]`, no clean end of the HTTP body).
    CutStreamAfter {
        /// Data events written before the cut.
        events: usize,
        /// How many streaming requests it hits.
        times: usize,
    },
    /// On a streaming chat request: answer 200 with `Content-Type: text/html` instead of SSE.
    WrongContentType {
        /// How many streaming requests it hits.
        times: usize,
    },
    /// On the OAuth listener: answer `status` with a `{"code":N,"message":…}` body.
    OauthStatus {
        /// HTTP status to answer.
        status: u16,
        /// How many OAuth requests it hits.
        times: usize,
    },
}

impl Fault {
    fn times(&self) -> usize {
        match self {
            Self::Status { times, .. }
            | Self::BadGatewayHtml { times }
            | Self::GatewayTimeoutHtml { times }
            | Self::SlowFirstByte { times, .. }
            | Self::CutStreamAfter { times, .. }
            | Self::WrongContentType { times }
            | Self::OauthStatus { times, .. } => *times,
        }
    }

    fn with_times(mut self, remaining: usize) -> Self {
        match &mut self {
            Self::Status { times, .. }
            | Self::BadGatewayHtml { times }
            | Self::GatewayTimeoutHtml { times }
            | Self::SlowFirstByte { times, .. }
            | Self::CutStreamAfter { times, .. }
            | Self::WrongContentType { times }
            | Self::OauthStatus { times, .. } => *times = remaining,
        }
        self
    }

    fn stage(&self) -> Stage {
        match self {
            Self::CutStreamAfter { .. } | Self::WrongContentType { .. } => Stage::Stream,
            _ => Stage::Request,
        }
    }
}

/// When a fault is applied: before the handler runs, or when a stream is about to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Applied by middleware before the handler.
    Request,
    /// Applied by the SSE writer of a streaming chat answer.
    Stream,
}

#[derive(Debug)]
struct Armed {
    path_suffix: Option<String>,
    fault: Fault,
    remaining: usize,
}

impl Armed {
    fn matches(&self, listener: Listener, path: &str, stage: Stage) -> bool {
        if self.fault.stage() != stage {
            return false;
        }
        match &self.path_suffix {
            Some(suffix) => path.ends_with(suffix.as_str()),
            None => match self.fault {
                Fault::OauthStatus { .. } => listener == Listener::Oauth,
                _ => listener == Listener::Api,
            },
        }
    }
}

/// Handle to the fault queue; cheap to clone, shared with the running emulator.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    queue: Arc<Mutex<VecDeque<Armed>>>,
}

impl Faults {
    /// Queues a fault for the next requests of its kind (`OauthStatus`: OAuth listener; others: API
    /// listener). Faults apply in queue order, one per request; `times: 0` counts as 1.
    pub fn push(&self, fault: Fault) {
        self.arm(None, fault);
    }

    /// Queues a fault for the next requests whose path (without query) ends with `path_suffix`, on either listener.
    pub fn push_for(&self, path_suffix: impl Into<String>, fault: Fault) {
        self.arm(Some(path_suffix.into()), fault);
    }

    /// Drops every queued fault.
    pub fn clear(&self) {
        lock(&self.queue).clear();
    }

    /// The faults still queued, with their remaining `times`.
    pub fn pending(&self) -> Vec<Fault> {
        lock(&self.queue)
            .iter()
            .map(|armed| armed.fault.clone().with_times(armed.remaining))
            .collect()
    }

    fn arm(&self, path_suffix: Option<String>, fault: Fault) {
        let remaining = fault.times().max(1);
        lock(&self.queue).push_back(Armed {
            path_suffix,
            fault,
            remaining,
        });
    }

    /// Takes one hit of the first queued fault matching this request and stage.
    pub(crate) fn take(&self, listener: Listener, path: &str, stage: Stage) -> Option<Fault> {
        let mut queue = lock(&self.queue);
        let index = queue
            .iter()
            .position(|armed| armed.matches(listener, path, stage))?;
        let armed = queue.get_mut(index)?;
        armed.remaining = armed.remaining.saturating_sub(1);
        let fault = armed.fault.clone();
        if armed.remaining == 0 {
            queue.remove(index);
        }
        Some(fault)
    }
}

/// Middleware: applies request-stage faults (status answers, gateway pages, slow first byte).
pub(crate) async fn inject(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let listener = request
        .extensions()
        .get::<ConnInfo>()
        .map_or(Listener::Api, |c| c.listener);
    let fault = state
        .faults
        .take(listener, request.uri().path(), Stage::Request);
    match fault {
        None => next.run(request).await,
        Some(Fault::SlowFirstByte { delay, .. }) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Some(Fault::BadGatewayHtml { .. }) => {
            wire::gateway_html(StatusCode::BAD_GATEWAY, wire::BAD_GATEWAY_HTML)
        }
        Some(Fault::GatewayTimeoutHtml { .. }) => {
            wire::gateway_html(StatusCode::GATEWAY_TIMEOUT, wire::GATEWAY_TIMEOUT_HTML)
        }
        Some(Fault::Status {
            status,
            retry_after,
            ..
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let retry_after = retry_after.map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
            if listener == Listener::Oauth {
                wire::oauth_error(
                    status,
                    status.as_u16(),
                    wire::default_message(status.as_u16()),
                )
            } else {
                wire::api_error_retry_after(status, retry_after)
            }
        }
        Some(Fault::OauthStatus { status, .. }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            wire::oauth_error(
                status,
                status.as_u16(),
                wire::default_message(status.as_u16()),
            )
        }
        // Stream-stage faults are never returned for the request stage.
        Some(Fault::CutStreamAfter { .. } | Fault::WrongContentType { .. }) => {
            next.run(request).await
        }
    }
}
