//! The request log: the latest requests on both listeners, in order, with body, status and stream tally
//! (bounded, so a long-running emulator does not grow without end).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;

use crate::server::ConnInfo;
use crate::state::AppState;
use crate::sync::lock;
use crate::wire;

/// Which of the two listeners received a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Listener {
    /// The OAuth listener (`/api/v2/oauth`).
    Oauth,
    /// The API listener (`/api/v1/...`).
    Api,
}

/// One request as the emulator received it, plus what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The listener that received the request.
    pub listener: Listener,
    /// The HTTP method, e.g. `POST`.
    pub method: String,
    /// Path and query, e.g. `/api/v1/chat/completions`.
    pub path: String,
    /// Request headers with lower-case names, in received order.
    pub headers: Vec<(String, String)>,
    /// The request body, byte for byte.
    pub body: Bytes,
    /// CN of the TLS client certificate presented on the connection, if any.
    pub client_cert_cn: Option<String>,
    /// The connection it arrived on, numbered from 1 in accept order across both listeners
    /// (requests on one kept-alive or HTTP/2 connection share it).
    pub connection: u64,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub http_version: String,
    /// The status answered (0 while the handler has not answered yet).
    pub status: u16,
    /// For SSE answers: how many `data:` events (including `[DONE]`) were written before the stream ended.
    pub stream_events_sent: Option<usize>,
}

impl LoggedRequest {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Counts the SSE events of one answer; handed to the stream writer through request extensions.
#[derive(Debug, Default)]
pub(crate) struct StreamTally {
    streaming: AtomicBool,
    events: AtomicUsize,
}

impl StreamTally {
    /// Marks the answer as an SSE stream.
    pub(crate) fn start(&self) {
        self.streaming.store(true, Ordering::Relaxed);
    }

    /// Counts one written event.
    pub(crate) fn event_sent(&self) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }
}

/// A log entry whose status and stream tally are filled in after it was recorded.
#[derive(Debug)]
struct Entry {
    request: LoggedRequest,
    status: AtomicU16,
    tally: Arc<StreamTally>,
}

/// The shared, ordered request log, keeping the latest `capacity` requests.
#[derive(Debug)]
pub(crate) struct RequestLog {
    entries: Mutex<VecDeque<Arc<Entry>>>,
    capacity: usize,
    connections: AtomicU64,
}

impl RequestLog {
    /// An empty log that forgets its oldest entry once it holds `capacity` (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            connections: AtomicU64::new(0),
        }
    }

    /// The number of a newly accepted connection.
    pub(crate) fn next_connection(&self) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A snapshot of everything logged so far.
    pub(crate) fn snapshot(&self) -> Vec<LoggedRequest> {
        lock(&self.entries)
            .iter()
            .map(|entry| {
                let mut request = entry.request.clone();
                request.status = entry.status.load(Ordering::Relaxed);
                request.stream_events_sent = entry
                    .tally
                    .streaming
                    .load(Ordering::Relaxed)
                    .then(|| entry.tally.events.load(Ordering::Relaxed));
                request
            })
            .collect()
    }

    /// Forgets everything logged so far.
    pub(crate) fn clear(&self) {
        lock(&self.entries).clear();
    }

    fn push(&self, request: LoggedRequest) -> Arc<Entry> {
        let entry = Arc::new(Entry {
            request,
            status: AtomicU16::new(0),
            tally: Arc::new(StreamTally::default()),
        });
        let mut entries = lock(&self.entries);
        if entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry.clone());
        entry
    }
}

/// Middleware: buffers the body, logs the request, runs the rest, records the status.
pub(crate) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, state.config.max_request_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return wire::api_error(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large")
                .into_response();
        }
    };
    let conn = parts
        .extensions
        .get::<ConnInfo>()
        .cloned()
        .unwrap_or_default();
    let logged = LoggedRequest {
        listener: conn.listener,
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
        client_cert_cn: conn.client_cert_cn.clone(),
        connection: conn.connection,
        http_version: format!("{:?}", parts.version),
        status: 0,
        stream_events_sent: None,
    };
    let entry = state.log.push(logged);
    let mut request = Request::from_parts(parts, Body::from(body));
    request.extensions_mut().insert(entry.tally.clone());
    let response = next.run(request).await;
    entry
        .status
        .store(response.status().as_u16(), Ordering::Relaxed);
    response
}
