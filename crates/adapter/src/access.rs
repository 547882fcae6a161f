//! One record per request: its id (returned, forwarded upstream, on every log line) and what the
//! access log says about it once the response body has ended (or the client went away).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

/// A request as the access log sees it; made once by the router's gate, shared (one `Arc`) by the
/// handler that fills in the model, usage and upstream time, and the response body that ends it.
pub struct Exchange {
    id: String,
    key: Option<Arc<str>>,
    method: Method,
    route: &'static str,
    started: Instant,
    bytes_in: Option<u64>,
    span: tracing::Span,
    logged: bool,
    report: Mutex<Report>,
}

/// What the handler (and a stream) learned while serving.
#[derive(Default)]
struct Report {
    model: Option<String>,
    model_served: Option<String>,
    upstream: Option<Duration>,
    usage: Option<Tokens>,
    error: Option<&'static str>,
}

/// Token counts of an answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokens {
    /// Prompt tokens.
    pub prompt: u32,
    /// Generated tokens.
    pub completion: u32,
    /// Prompt tokens GigaChat served from its cache.
    pub cached: u32,
}

impl From<&openai::chat::Usage> for Tokens {
    fn from(usage: &openai::chat::Usage) -> Self {
        Self {
            prompt: usage.prompt_tokens,
            completion: usage.completion_tokens,
            cached: usage
                .prompt_tokens_details
                .map_or(0, |details| details.cached_tokens),
        }
    }
}

/// How a response body went out, for the access log line.
pub struct Delivery {
    /// The response status.
    pub status: u16,
    /// Whether it was an event stream.
    pub stream: bool,
    /// Body bytes handed to the connection.
    pub bytes_out: u64,
    /// When the first body bytes were handed over (a stream's first event).
    pub first_bytes: Option<Instant>,
    /// Whether the body reached its end (false: the client went away first).
    pub finished: bool,
}

impl Exchange {
    /// The record of a request with `headers`, answered under `id`, reached by `method` on the
    /// route template `route`, by the holder of the key named `key` (none: no key was needed);
    /// `logged` says whether it ends with an access log line. Its clock starts now.
    pub fn new(
        id: String,
        key: Option<Arc<str>>,
        method: Method,
        route: &'static str,
        headers: &HeaderMap,
        logged: bool,
    ) -> Self {
        let span = tracing::info_span!("request", request_id = %id);
        let bytes_in = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        Self {
            id,
            key,
            method,
            route,
            started: Instant::now(),
            bytes_in,
            span,
            logged,
            report: Mutex::new(Report::default()),
        }
    }

    /// The request id: returned as `x-request-id`, sent to GigaChat as `X-Request-ID`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When the request arrived.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The span every log line of this request is written in (it carries `request_id`).
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Whether the request ends with an access log line (`ACCESS_LOG`).
    pub fn logged(&self) -> bool {
        self.logged
    }

    fn report(&self) -> std::sync::MutexGuard<'_, Report> {
        self.report.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The model the client asked for (none: the default).
    pub fn asked(&self, model: Option<&str>) {
        if let Some(model) = model {
            self.report().model = Some(model.to_owned());
        }
    }

    /// The model that answered and the answer's token usage (when known).
    pub fn served(&self, model: &str, usage: Option<Tokens>) {
        let mut report = self.report();
        report.model_served = Some(model.to_owned());
        report.usage = usage;
    }

    /// Adds time spent waiting for GigaChat.
    pub fn waited_upstream(&self, elapsed: Duration) {
        let mut report = self.report();
        report.upstream = Some(report.upstream.unwrap_or_default() + elapsed);
    }

    /// Awaits `call` (GigaChat calls), counting the wait as upstream time.
    pub async fn upstream<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let output = call.await;
        self.waited_upstream(started.elapsed());
        output
    }

    /// The error the request ended with (its short label), unless one is already known.
    pub fn failed(&self, label: &'static str) {
        self.report().error.get_or_insert(label);
    }

    /// Writes the access log line (target `access`, info level).
    pub fn log(&self, delivery: &Delivery) {
        let report = self.report();
        let millis = |elapsed: Duration| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let error = report
            .error
            .or((!delivery.finished).then_some("client_disconnected"));
        let ttft = delivery
            .first_bytes
            .filter(|_| delivery.stream)
            .map(|at| millis(at.duration_since(self.started)));
        let usage = report.usage;
        tracing::info!(
            target: "access",
            request_id = %self.id,
            method = %self.method,
            route = self.route,
            key = self.key.as_deref(),
            model = report.model.as_deref(),
            model_served = report.model_served.as_deref(),
            stream = delivery.stream,
            status = delivery.status,
            error,
            latency_ms = millis(self.started.elapsed()),
            upstream_ms = report.upstream.map(millis),
            ttft_ms = ttft,
            prompt_tokens = usage.map(|u| u.prompt),
            completion_tokens = usage.map(|u| u.completion),
            cached_tokens = usage.map(|u| u.cached),
            bytes_in = self.bytes_in,
            bytes_out = delivery.bytes_out,
            "request"
        );
    }
}

/// The request's [`Exchange`], for handlers: the one the gate made (a fresh one when the router
/// runs without it, so a handler always has an id).
#[derive(Clone)]
pub struct Call(pub Arc<Exchange>);

impl std::ops::Deref for Call {
    type Target = Exchange;

    fn deref(&self) -> &Exchange {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Call {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<Arc<Exchange>>()
                .cloned()
                .unwrap_or_else(|| {
                    Arc::new(Exchange::new(
                        crate::context::request_id(&parts.headers),
                        None,
                        parts.method.clone(),
                        "other",
                        &parts.headers,
                        false,
                    ))
                }),
        ))
    }
}
