//! When a connection last did something: requests in flight, when it went idle, when the next
//! request head started arriving, since when its writes are stuck; and the socket wrapper that
//! reports reads and writes (and replays the bytes read while the first head was checked).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::ConnectionLimits;

/// No head is arriving (the value of [`Activity::head_since`] then).
const NONE: u64 = u64::MAX;

/// One connection's activity; times are milliseconds since the connection was handed to hyper.
/// Relaxed atomics: a connection lives on one event loop, so these are never contended.
pub(super) struct Activity {
    origin: Instant,
    in_flight: AtomicUsize,
    /// When the last request in flight finished (or the connection started).
    idle_since: AtomicU64,
    /// When the first byte arrived with no request in flight: a head is on its way.
    head_since: AtomicU64,
    /// When a write to the client last found its socket full (and has not got through since).
    blocked_since: AtomicU64,
}

/// What the connection task should do when its timer fires.
pub(super) enum Verdict {
    /// A request is in flight, or a deadline has not come yet.
    Busy,
    /// A head started arriving longer than the header timeout ago and is still incomplete.
    SlowHead,
    /// Nothing has been asked for longer than the idle timeout.
    Idle,
    /// The client has taken none of its response for longer than the send timeout.
    NotReading,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            blocked_since: AtomicU64::new(NONE),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, millis: u64) -> Instant {
        self.origin + std::time::Duration::from_millis(millis)
    }

    /// Bytes arrived: with no request in flight they are the start of the next head.
    fn received(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_since.load(Ordering::Relaxed) == NONE
        {
            self.head_since.store(self.now(), Ordering::Relaxed);
        }
    }

    /// A write found the client's socket full, or got through.
    fn wrote<T>(&self, written: &Poll<T>) {
        let blocked = self.blocked_since.load(Ordering::Relaxed);
        match written {
            Poll::Pending if blocked == NONE => {
                self.blocked_since.store(self.now(), Ordering::Relaxed)
            }
            Poll::Ready(_) if blocked != NONE => self.blocked_since.store(NONE, Ordering::Relaxed),
            _ => {}
        }
    }

    /// Whether no request is in flight (what is written now is not the router's).
    fn between_requests(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
    }

    /// A request head was parsed and handed to the router.
    pub(super) fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(NONE, Ordering::Relaxed);
    }

    /// A request's response body was sent (or dropped).
    pub(super) fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.idle_since.store(self.now(), Ordering::Relaxed);
        }
    }

    /// When the connection task should look again: at the next deadline, and at least every
    /// header timeout (a head that starts arriving does not wake the task, so that costs nothing
    /// per request; its deadline is noticed at the following look, at most one interval late).
    pub(super) fn next_check(&self, limits: &ConnectionLimits) -> Instant {
        let interval = limits
            .header_read_timeout
            .min(limits.idle_timeout)
            .min(limits.send_timeout);
        let soonest = Instant::now() + interval;
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return soonest;
        }
        let deadline = match self.head_since.load(Ordering::Relaxed) {
            NONE => self.at(self.idle_since.load(Ordering::Relaxed)) + limits.idle_timeout,
            since => self.at(since) + limits.header_read_timeout,
        };
        deadline.min(soonest)
    }

    /// Whether the connection should close now. Never while a request is in flight: a stream may
    /// sit silent for as long as GigaChat thinks.
    pub(super) fn verdict(&self, limits: &ConnectionLimits) -> Verdict {
        let now = Instant::now();
        match self.blocked_since.load(Ordering::Relaxed) {
            NONE => {}
            since if now >= self.at(since) + limits.send_timeout => return Verdict::NotReading,
            _ => {}
        }
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Verdict::Busy;
        }
        match self.head_since.load(Ordering::Relaxed) {
            NONE if now
                >= self.at(self.idle_since.load(Ordering::Relaxed)) + limits.idle_timeout =>
            {
                Verdict::Idle
            }
            NONE => Verdict::Busy,
            since if now >= self.at(since) + limits.header_read_timeout => Verdict::SlowHead,
            _ => Verdict::Busy,
        }
    }
}

/// The client socket as hyper sees it: first the bytes already read (the checked first head),
/// then the socket, telling [`Activity`] when bytes arrive; hyper's bare answer to a later head it
/// could not parse goes out with the envelope instead, stamped, logged and counted by `router`'s
/// gate.
pub(super) struct Watched {
    read: Bytes,
    tcp: TcpStream,
    activity: std::sync::Arc<Activity>,
    router: axum::Router,
    /// The envelope answer still to be written in place of hyper's bare one.
    replacement: Bytes,
    /// The replacement's access record, finished once it is written (or the connection goes).
    replacement_record: Option<super::early::Record>,
}

impl Watched {
    pub(super) fn new(
        tcp: TcpStream,
        read: Bytes,
        activity: std::sync::Arc<Activity>,
        router: axum::Router,
    ) -> Self {
        Self {
            read,
            tcp,
            activity,
            router,
            replacement: Bytes::new(),
            replacement_record: None,
        }
    }

    /// Writes what is left of the replacement answer.
    fn send_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.replacement.is_empty() {
            let written =
                std::task::ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.replacement))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.replacement.advance(written);
        }
        if let Some(mut record) = self.replacement_record.take() {
            record.written();
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `written` in place of hyper's bare error answer, when it is one (see
    /// [`super::head::bare_rejection`]).
    fn replaces(&mut self, written: &[u8]) -> bool {
        if !self.activity.between_requests() {
            return false;
        }
        let Some(error) = super::head::bare_rejection(written) else {
            return false;
        };
        // hyper keeps the head it could not parse to itself: the answer names no method or path.
        let (answer, record) =
            super::early::render(&self.router, error, &[], std::time::Instant::now());
        self.replacement = Bytes::from(answer);
        self.replacement_record = record;
        true
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            if self.read.is_empty() {
                // Replayed: free the head buffer rather than hold it for the connection's life.
                self.read = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.send_replacement(cx))?;
        if self.replaces(buf) {
            // hyper's bytes count as written; the answer goes out now or on its flush.
            return match self.send_replacement(cx) {
                Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
                _ => Poll::Ready(Ok(buf.len())),
            };
        }
        let written = Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.activity.wrote(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.send_replacement(cx))?;
        let mut filled = bufs.iter().filter(|buf| !buf.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next())
            && self.activity.between_requests()
        {
            return self.poll_write(cx, only);
        }
        let written = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.activity.wrote(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.send_replacement(cx))?;
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.send_replacement(cx))?;
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(30),
            max_connections: 1,
            max_header_bytes: 1024,
            http2_max_concurrent_streams: 1,
            shutdown_grace: Duration::from_secs(1),
        }
    }

    /// A request in flight is never cut, however long it is silent; afterwards the idle clock
    /// runs, and bytes of a next head switch to the (shorter) header clock.
    #[tokio::test(start_paused = true)]
    async fn in_flight_requests_are_never_idle() {
        let limits = limits();
        let activity = Activity::new();
        activity.request_started();
        tokio::time::advance(Duration::from_secs(600)).await;
        assert!(matches!(activity.verdict(&limits), Verdict::Busy));
        activity.request_finished();
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(matches!(activity.verdict(&limits), Verdict::Busy));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(activity.verdict(&limits), Verdict::Idle));
        activity.received();
        assert!(activity.next_check(&limits) > Instant::now());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(matches!(activity.verdict(&limits), Verdict::SlowHead));
    }

    /// A client that takes none of its answer is dropped after the send timeout, even with its
    /// request in flight; a write that gets through resets the clock.
    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_dropped() {
        let limits = limits();
        let activity = Activity::new();
        activity.request_started();
        activity.wrote(&Poll::<()>::Pending);
        tokio::time::advance(Duration::from_secs(29)).await;
        activity.wrote(&Poll::<()>::Pending);
        assert!(matches!(activity.verdict(&limits), Verdict::Busy));
        activity.wrote(&Poll::Ready(()));
        tokio::time::advance(Duration::from_secs(29)).await;
        activity.wrote(&Poll::<()>::Pending);
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(matches!(activity.verdict(&limits), Verdict::NotReading));
    }
}
