//! One record per request: its id (returned, forwarded upstream, on every log line) and what the
//! access log says about it once the request is over: its response body ended, or the client went
//! away (before the answer or during it).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use crate::server::Route;

/// The `tracing` target of access log lines (`RUST_LOG=info,access=off` filters them out).
pub const TARGET: &str = "access";

/// A request as the access log sees it; made once by the router's gate, shared (one `Arc`) by the
/// handler that fills in the model, usage and upstream time, a stream, and the response body that
/// says how it went out. The line is written when the last of them lets go of it.
pub struct Exchange {
    id: Arc<str>,
    key: Option<Arc<str>>,
    method: Method,
    route: &'static Route,
    started: Instant,
    bytes_in: AtomicU64,
    span: tracing::Span,
    logged: bool,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    streamed: AtomicBool,
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
    delivery: Option<Delivery>,
    finished: Option<WhenFinished>,
}

/// What to do with the answer's usage once the request is over (see [`Exchange::when_finished`]).
pub type WhenFinished = Box<dyn FnOnce(Option<Tokens>) + Send>;

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
#[derive(Debug, Clone, Copy)]
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
    /// The record of a request answered under `id`, reached by `method` on `route`, by the
    /// holder of the key named `key` (none: no key was needed), with request `headers` (read only
    /// for the client's trace context, when traces are on); `logged` says whether it ends with an
    /// access log line. Its clock starts now.
    pub fn new(
        id: String,
        key: Option<Arc<str>>,
        method: Method,
        route: &'static Route,
        headers: &HeaderMap,
        logged: bool,
    ) -> Self {
        let span = if crate::traces::enabled() {
            crate::traces::request_span(&id, &method, route.template, headers)
        } else if crate::log_output::request_ids_by_thread() {
            tracing::Span::none()
        } else {
            tracing::info_span!("request", request_id = %id)
        };
        Self {
            id: Arc::from(id),
            key,
            method,
            route,
            started: Instant::now(),
            bytes_in: AtomicU64::new(0),
            span,
            logged,
            metrics: None,
            streamed: AtomicBool::new(false),
            report: Mutex::new(Report::default()),
        }
    }

    /// The same record, its clock started at `arrived` instead (an answer of the connection layer:
    /// its request began when the connection or its head did).
    pub fn since(mut self, arrived: Instant) -> Self {
        self.started = arrived;
        self
    }

    /// The same record, also counted in `metrics` (in flight from now until its end).
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        metrics.started(self.route.surface);
        self.metrics = Some(metrics);
        self
    }

    /// The answer is an event stream: counted as an active stream until the request ends.
    pub fn stream_opened(&self) {
        if let Some(metrics) = &self.metrics
            && !self.streamed.swap(true, Ordering::Relaxed)
        {
            metrics.stream_opened();
        }
    }

    /// The name of the client key the request came with (`None`: no key was needed); stored
    /// Responses belong to it.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The request id: returned as `x-request-id`, sent to GigaChat as `X-Request-ID`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Marks the calling thread as polling this request until the guard is dropped (see
    /// [`crate::log_output::in_request`]); nothing when the request has a span to carry its id.
    pub fn polled(&self) -> Option<crate::log_output::InRequest> {
        crate::log_output::request_ids_by_thread().then(|| crate::log_output::in_request(&self.id))
    }

    /// When the request arrived.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The span every log line of this request is written in (it carries `request_id`).
    pub fn span(&self) -> &tracing::Span {
        &self.span
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

    /// Runs `then` with the answer's usage when the request is over: its body sent, or the client
    /// gone (the key's limits count the tokens then and free its concurrency slot).
    pub fn when_finished(&self, then: WhenFinished) {
        self.report().finished = Some(then);
    }

    /// How the response body went out (none recorded: the client left before the answer).
    pub fn delivered(&self, delivery: Delivery) {
        self.report().delivery = Some(delivery);
    }
}

impl Drop for Exchange {
    /// Runs what [`Exchange::when_finished`] left, records the request's metrics and writes the
    /// access log line (target `access`, info level), unless `ACCESS_LOG` is off.
    fn drop(&mut self) {
        let report = self
            .report
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(then) = report.finished.take() {
            then(report.usage);
        }
        if !self.logged && self.metrics.is_none() {
            return;
        }
        let report = self
            .report
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let millis = |elapsed: Duration| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let delivery = report.delivery;
        let error = report.error.or(delivery
            .is_none_or(|delivery| !delivery.finished)
            .then_some("client_disconnected"));
        let stream = delivery.is_some_and(|delivery| delivery.stream);
        let first_token = delivery
            .filter(|delivery| delivery.stream)
            .and_then(|delivery| delivery.first_bytes)
            .map(|at| at.duration_since(self.started));
        let latency = self.started.elapsed();
        let usage = report.usage;
        if crate::traces::enabled() {
            crate::traces::record_outcome(
                &self.span,
                &crate::traces::Outcome {
                    status: delivery.map(|delivery| delivery.status),
                    error,
                    model: report.model.as_deref(),
                    model_served: report.model_served.as_deref(),
                    tokens: usage,
                },
            );
        }
        if let Some(metrics) = &self.metrics {
            metrics.finished(
                &crate::metrics::Outcome {
                    route: self.route,
                    key: self.key.as_deref(),
                    model: report.model.as_deref(),
                    model_served: report.model_served.as_deref(),
                    stream,
                    status: delivery.map(|delivery| delivery.status),
                    error,
                    latency,
                    upstream: report.upstream,
                    first_token,
                    tokens: usage,
                },
                *self.streamed.get_mut(),
            );
        }
        if !self.logged {
            return;
        }
        let line = Line {
            request_id: &self.id,
            method: self.method.as_str(),
            route: self.route.template,
            key: self.key.as_deref(),
            model: report.model.as_deref(),
            model_served: report.model_served.as_deref(),
            stream,
            status: delivery.map(|delivery| delivery.status),
            error,
            latency_ms: millis(latency),
            upstream_ms: report.upstream.map(millis),
            ttft_ms: first_token.map(millis),
            tokens: usage,
            bytes_in: *self.bytes_in.get_mut(),
            bytes_out: delivery.map(|delivery| delivery.bytes_out),
        };
        if !crate::log_output::write_access_line(|members| line.write_members(members)) {
            line.log();
        }
    }
}

/// What an access line says about a request.
struct Line<'a> {
    request_id: &'a str,
    method: &'a str,
    route: &'static str,
    key: Option<&'a str>,
    model: Option<&'a str>,
    model_served: Option<&'a str>,
    stream: bool,
    status: Option<u16>,
    error: Option<&'a str>,
    latency_ms: u64,
    upstream_ms: Option<u64>,
    ttft_ms: Option<u64>,
    tokens: Option<Tokens>,
    bytes_in: u64,
    bytes_out: Option<u64>,
}

impl Line<'_> {
    /// Logs the line as a `tracing` event (target `access`, info level).
    fn log(&self) {
        tracing::info!(
            target: TARGET,
            request_id = %self.request_id,
            method = %self.method,
            route = self.route,
            key = self.key,
            model = self.model,
            model_served = self.model_served,
            stream = self.stream,
            status = self.status,
            error = self.error,
            latency_ms = self.latency_ms,
            upstream_ms = self.upstream_ms,
            ttft_ms = self.ttft_ms,
            prompt_tokens = self.tokens.map(|u| u.prompt),
            completion_tokens = self.tokens.map(|u| u.completion),
            cached_tokens = self.tokens.map(|u| u.cached),
            bytes_in = self.bytes_in,
            bytes_out = self.bytes_out,
            "request"
        );
    }

    /// Writes the members of the event [`Line::log`] logs, in its order, as JSON lines show them.
    fn write_members<W: std::fmt::Write>(
        &self,
        members: &mut crate::log_output::JsonMembers<'_, W>,
    ) {
        let text =
            |members: &mut crate::log_output::JsonMembers<'_, W>, name, value: Option<&str>| {
                if let Some(value) = value {
                    members.text(name, value);
                }
            };
        let number =
            |members: &mut crate::log_output::JsonMembers<'_, W>, name, value: Option<u64>| {
                if let Some(value) = value {
                    members.number(name, value);
                }
            };
        members.text("message", "request");
        members.text("request_id", self.request_id);
        members.text("method", self.method);
        members.text("route", self.route);
        text(members, "key", self.key);
        text(members, "model", self.model);
        text(members, "model_served", self.model_served);
        members.boolean("stream", self.stream);
        number(members, "status", self.status.map(u64::from));
        text(members, "error", self.error);
        members.number("latency_ms", self.latency_ms);
        number(members, "upstream_ms", self.upstream_ms);
        number(members, "ttft_ms", self.ttft_ms);
        number(
            members,
            "prompt_tokens",
            self.tokens.map(|u| u64::from(u.prompt)),
        );
        number(
            members,
            "completion_tokens",
            self.tokens.map(|u| u64::from(u.completion)),
        );
        number(
            members,
            "cached_tokens",
            self.tokens.map(|u| u64::from(u.cached)),
        );
        members.number("bytes_in", self.bytes_in);
        number(members, "bytes_out", self.bytes_out);
    }
}

/// Whether a response with `headers` is an event stream (`Content-Type: text/event-stream`).
pub fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"))
}

/// A request body that counts the bytes read from it into its request's `bytes_in` (whatever the
/// framing: `Content-Length` or chunked).
pub struct CountedBody {
    body: Body,
    exchange: Arc<Exchange>,
}

impl CountedBody {
    /// `body`, counted into `exchange`.
    pub fn new(body: Body, exchange: Arc<Exchange>) -> Self {
        Self { body, exchange }
    }
}

impl hyper::body::Body for CountedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.exchange
                .bytes_in
                .fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
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
                        &crate::server::UNROUTED,
                        &parts.headers,
                        false,
                    ))
                }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use serde_json::json;

    use super::*;

    /// A writer appending to a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The JSON lines `run` logs.
    fn logged(run: impl FnOnce()) -> Vec<serde_json::Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, run);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The JSON line `write` writes, its timestamp blanked.
    fn without_timestamp(line: &str) -> String {
        let parsed: serde_json::Value = serde_json::from_str(line).unwrap();
        line.replacen(parsed["timestamp"].as_str().unwrap(), "T", 1)
    }

    #[test]
    fn a_line_written_straight_reads_as_the_logged_event() {
        let full = Line {
            request_id: "req-\"1\"",
            method: "POST",
            route: "/v1/chat/completions",
            key: Some("team \\ a"),
            model: Some("GigaChat-2\n"),
            model_served: Some("GigaChat-2-Max"),
            stream: true,
            status: Some(200),
            error: Some("client_disconnected"),
            latency_ms: 12,
            upstream_ms: Some(u64::MAX),
            ttft_ms: Some(0),
            tokens: Some(Tokens {
                prompt: 3,
                completion: u32::MAX,
                cached: 1,
            }),
            bytes_in: 120,
            bytes_out: Some(4096),
        };
        let bare = Line {
            key: None,
            model: None,
            model_served: None,
            stream: false,
            status: None,
            error: None,
            upstream_ms: None,
            ttft_ms: None,
            tokens: None,
            bytes_out: None,
            ..full
        };
        for line in [full, bare] {
            let buffer = Buffer::default();
            let writer = buffer.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .fmt_fields(crate::log_output::JsonSpanFields)
                .event_format(crate::log_output::JsonLines::default())
                .finish();
            tracing::subscriber::with_default(subscriber, || line.log());
            let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
            let mut direct = String::new();
            crate::log_output::access_line(&mut direct, &tracing::Level::INFO, |members| {
                line.write_members(members);
            })
            .unwrap();
            assert_eq!(without_timestamp(&direct), without_timestamp(&logged));
            assert!(direct.ends_with("}\n"), "{direct}");
        }
    }

    fn exchange(logged: bool) -> Arc<Exchange> {
        Arc::new(Exchange::new(
            "req-1".into(),
            Some(Arc::from("team-a")),
            Method::POST,
            crate::server::route_of("/v1/chat/completions"),
            &HeaderMap::new(),
            logged,
        ))
    }

    /// Reads a body of `chunks` (no length declared: chunked, on the wire) counted into `exchange`.
    fn read_chunked(exchange: &Arc<Exchange>, chunks: &[&'static str]) -> usize {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            chunks.iter().map(|chunk| Ok(Bytes::from(*chunk))).collect();
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        assert!(hyper::body::Body::size_hint(&body).exact().is_none());
        let counted = Body::new(CountedBody::new(body, exchange.clone()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(axum::body::to_bytes(counted, usize::MAX))
            .unwrap()
            .len()
    }

    #[test]
    fn the_line_comes_when_the_last_holder_lets_go() {
        let lines = logged(|| {
            let exchange = exchange(true);
            assert_eq!(
                read_chunked(&exchange, &["{\"model\":", "\"gpt-4o\"", "}"]),
                18
            );
            let handler = Call(exchange.clone());
            handler.asked(Some("gpt-4o"));
            handler.waited_upstream(Duration::from_millis(3));
            exchange.delivered(Delivery {
                status: 200,
                stream: true,
                bytes_out: 512,
                first_bytes: Some(Instant::now()),
                finished: true,
            });
            drop(exchange);
            // A stream still holds it: its end reports the model and usage, then the line is written.
            handler.served(
                "GigaChat-2-Max",
                Some(Tokens {
                    prompt: 10,
                    completion: 5,
                    cached: 2,
                }),
            );
            tracing::info!("before the end");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        let fields = &lines[1]["fields"];
        assert_eq!(lines[1]["target"], "access");
        for (name, value) in [
            ("request_id", json!("req-1")),
            ("method", json!("POST")),
            ("route", json!("/v1/chat/completions")),
            ("key", json!("team-a")),
            ("model", json!("gpt-4o")),
            ("model_served", json!("GigaChat-2-Max")),
            ("stream", json!(true)),
            ("status", json!(200)),
            ("upstream_ms", json!(3)),
            ("prompt_tokens", json!(10)),
            ("completion_tokens", json!(5)),
            ("cached_tokens", json!(2)),
            ("bytes_in", json!(18)),
            ("bytes_out", json!(512)),
        ] {
            assert_eq!(fields[name], value, "{name}: {fields}");
        }
        assert!(fields["ttft_ms"].is_u64() && fields["latency_ms"].is_u64());
        assert!(fields.get("error").is_none(), "{fields}");
    }

    #[test]
    fn a_request_abandoned_before_its_answer_is_logged_as_such() {
        let lines = logged(|| {
            let exchange = exchange(true);
            exchange.asked(Some("GigaChat"));
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let fields = &lines[0]["fields"];
        assert_eq!(fields["error"], "client_disconnected");
        assert!(fields.get("status").is_none(), "{fields}");
        assert_eq!(fields["stream"], false);
    }

    #[test]
    fn a_body_cut_short_keeps_its_status_and_the_first_error_wins() {
        let lines = logged(|| {
            let exchange = exchange(true);
            exchange.delivered(Delivery {
                status: 200,
                stream: true,
                bytes_out: 10,
                first_bytes: None,
                finished: false,
            });
        });
        assert_eq!(lines[0]["fields"]["error"], "client_disconnected");
        assert_eq!(lines[0]["fields"]["status"], 200);
        let lines = logged(|| {
            let exchange = exchange(true);
            exchange.failed("upstream_timeout");
            exchange.failed("shutting_down");
        });
        assert_eq!(lines[0]["fields"]["error"], "upstream_timeout");
    }

    #[test]
    fn access_log_off_writes_nothing() {
        assert!(logged(|| drop(exchange(false))).is_empty());
    }
}
