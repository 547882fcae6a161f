//! Client connections under limits: every connection is admitted against `MAX_CONNECTIONS`, has its
//! first request head checked here (so protocol errors get the OpenAI envelope), and is then served
//! by hyper, with header, idle, send and body-read timeouts, until the server drains.

mod activity;
mod early;
mod head;
mod service;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::error::AppError;
use activity::{Activity, Verdict, Watched};
pub use early::EarlyAnswer;

/// How long a connection refused for the cap may linger after its 503 (see `head::answer`): short,
/// since during a flood the refused sockets themselves hold file descriptors.
const REFUSAL_LINGER: Duration = Duration::from_millis(250);

/// Most headers one request may carry (hyper's default, which its HTTP/1 parser keeps on the stack).
pub const MAX_HEADERS: usize = 100;

/// The limits every client connection is served under (see the README's configuration table).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time to send a request head, from its first byte (or from the connection's start).
    pub header_read_timeout: Duration,
    /// Longest pause between two pieces of a request body.
    pub body_read_timeout: Duration,
    /// How long a connection with no request in flight stays open.
    pub idle_timeout: Duration,
    /// How long a client may take none of the response being sent to it.
    pub send_timeout: Duration,
    /// Most client connections open at once across all event loops.
    pub max_connections: usize,
    /// Largest request head (HTTP/1) or header list (HTTP/2), in bytes.
    pub max_header_bytes: usize,
    /// Most concurrent streams on one HTTP/2 connection.
    pub http2_max_concurrent_streams: u32,
    /// How long in-flight requests may run on after a stop, before open streams are ended.
    pub shutdown_grace: Duration,
}

/// Where the server is in its life; each connection and each open event stream watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Accepting and serving.
    Serving,
    /// Stopped accepting: connections finish their requests and close.
    Draining,
    /// The drain deadline passed: open event streams end with a shutdown error event.
    Cut,
}

/// What all connections of the process share: limits, connection permits and hyper's settings.
#[derive(Clone)]
pub struct Connections {
    shared: Arc<Shared>,
}

struct Shared {
    limits: ConnectionLimits,
    permits: Arc<Semaphore>,
    /// Connections refused for the cap so far (the log says so once per thousand, not each time).
    refused: std::sync::atomic::AtomicU64,
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Connections {
    /// Connections served under `limits`; clones share the connection count.
    pub fn new(limits: ConnectionLimits) -> Self {
        // No hyper timer: its header timeout would also run while a keep-alive connection idles.
        // The connection task below times heads and idleness itself (see `activity`).
        let mut http1 = http1::Builder::new();
        http1
            .max_headers(MAX_HEADERS)
            .max_header_size(limits.max_header_bytes);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .max_concurrent_streams(limits.http2_max_concurrent_streams)
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
        Self {
            shared: Arc::new(Shared {
                limits,
                permits: Arc::new(Semaphore::new(limits.max_connections)),
                refused: std::sync::atomic::AtomicU64::new(0),
                http1,
                http2,
            }),
        }
    }

    /// The limits connections are served under.
    pub fn limits(&self) -> &ConnectionLimits {
        &self.shared.limits
    }

    /// A permit for one more connection, while fewer than `MAX_CONNECTIONS` are open.
    pub(crate) fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.shared.permits.clone().try_acquire_owned().ok()
    }

    /// Answers a connection over the limit with a 503 envelope (stamped, logged and counted by
    /// `router`'s gate) and closes it.
    pub(crate) async fn refuse(&self, router: Router, mut tcp: TcpStream) {
        let arrived = std::time::Instant::now();
        let refused = self
            .shared
            .refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if refused.is_multiple_of(1000) {
            tracing::warn!(
                limit = self.shared.limits.max_connections,
                refused = refused + 1,
                "connection limit reached; refusing connections with 503 (MAX_CONNECTIONS)"
            );
        }
        head::answer(
            &mut tcp,
            &router,
            AppError::TooManyConnections(self.shared.limits.max_connections),
            &[],
            arrived,
            REFUSAL_LINGER,
        )
        .await;
    }

    /// Serves one admitted connection until it closes, times out, or the server stops with it.
    pub(crate) async fn serve(
        self,
        router: Router,
        mut tcp: TcpStream,
        mut phase: watch::Receiver<Phase>,
        _permit: OwnedSemaphorePermit,
    ) {
        let limits = &self.shared.limits;
        let arrived = std::time::Instant::now();
        let deadline = tokio::time::Instant::now() + limits.header_read_timeout;
        let mut read = bytes::BytesMut::with_capacity(4096);
        let first = tokio::select! {
            first = head::read_first(&mut tcp, limits, deadline, &mut read) => first,
            _ = phase.wait_for(|phase| *phase != Phase::Serving) => return,
        };
        match first {
            Ok(()) => {}
            Err(head::Rejection::Close) => return,
            Err(head::Rejection::Answer(error)) => {
                tracing::debug!(label = error.label(), "rejected a request head");
                // Boxed: this rare path's state (the answer's linger buffer) would otherwise be
                // room in every connection's task for its whole life.
                Box::pin(head::answer(
                    &mut tcp,
                    &router,
                    error,
                    &read,
                    arrived,
                    head::REJECTION_LINGER,
                ))
                .await;
                return;
            }
        }
        let activity = Arc::new(Activity::new());
        let http2 = head::is_http2(&read);
        let io = TokioIo::new(Watched::new(
            tcp,
            read.freeze(),
            activity.clone(),
            router.clone(),
        ));
        let service = service::AdapterService::new(
            router,
            activity.clone(),
            limits.body_read_timeout,
            phase.clone(),
        );
        // A connection is pinned where it is made and `drive` borrows it: a future that moves a
        // value it was given into a pinned local keeps room for both. HTTP/2's branch is boxed:
        // its connection is twice an HTTP/1.1 one, and every HTTP/1.1 connection's task would
        // carry room for it, while HTTP/2 connections are few (each carries many requests).
        if http2 {
            let mut connection = Box::pin(self.shared.http2.serve_connection(io, service));
            drive(connection.as_mut(), &activity, limits, phase).await;
        } else {
            let connection = std::pin::pin!(self.shared.http1.serve_connection(io, service));
            drive(connection, &activity, limits, phase).await;
        }
    }
}

/// A hyper connection that can be asked to finish its requests and close.
trait Graceful: Future {
    fn close_gracefully(self: Pin<&mut Self>);
}

/// The socket as hyper serves it.
type Socket = TokioIo<Watched>;

impl Graceful for http1::Connection<Socket, service::AdapterService> {
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl Graceful for http2::Connection<Socket, service::AdapterService, TokioExecutor> {
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Runs `connection` until it ends, closing it when its head is too slow, when it has idled too
/// long, or (gracefully) when the server drains.
async fn drive<C: Graceful>(
    mut connection: Pin<&mut C>,
    activity: &Activity,
    limits: &ConnectionLimits,
    mut phase: watch::Receiver<Phase>,
) {
    let mut closing = false;
    loop {
        let check = activity.next_check(limits);
        tokio::select! {
            _ = connection.as_mut() => return,
            () = tokio::time::sleep_until(check) => match activity.verdict(limits) {
                Verdict::Busy => {}
                // A head that has not arrived in time, or a client that takes no answer: nothing
                // can be finished, so no goodbye.
                Verdict::SlowHead | Verdict::NotReading => return,
                Verdict::Idle if closing => return,
                Verdict::Idle => {
                    closing = true;
                    connection.as_mut().close_gracefully();
                }
            },
            _ = phase.wait_for(|phase| *phase != Phase::Serving), if !closing => {
                closing = true;
                connection.as_mut().close_gracefully();
            }
        }
    }
}
