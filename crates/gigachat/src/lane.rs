//! The direct HTTP/2 lane for API calls with a complete body (JSON or none): connections of the
//! calling thread (one, and another whenever those open carry as many streams as the server
//! allows), driven by `h2` without reqwest's pool and hyper's body pipe, so a request leaves in
//! one TLS write (HEADERS and DATA together) and its answer is read without hopping between tasks.
//!
//! The lane serves only what it can serve exactly like reqwest: an `https` API host reached
//! without a proxy that speaks HTTP/2. A plain-`http` host has its own lane ([`crate::lane_h1`],
//! which shares this one's dialing, socket peek and resend rule); anything else (a proxy, a host
//! that chose HTTP/1.1 by ALPN) goes through reqwest, and so do uploads and other multipart forms.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use h2::client::SendRequest;
use reqwest::Method;
use reqwest::header::{CONTENT_LENGTH, HeaderMap, HeaderValue, USER_AGENT};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::client::Base;
use crate::error::{Error, TransportKind};

/// hyper's client windows (2 MiB a stream, 5 MiB a connection): ample for GigaChat's answers, and
/// fixed, so no PING round trip per answer.
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;

/// Streams a new connection is given before the server's SETTINGS say its limit: the least every
/// server should allow (RFC 9113 §6.5.2), so a burst of calls on a fresh connection does not
/// queue behind a lower limit.
const STREAMS_BEFORE_SETTINGS: usize = 100;

/// TCP keepalive as reqwest sets it (first probe after 15 s idle, then every 15 s, 3 probes), and
/// (on Linux) unacknowledged data gives up after 30 s: a connection a NAT or balancer dropped
/// silently is noticed, and replaced, as quickly as on the pooled client.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEPALIVE_RETRIES: u32 = 3;

/// Where the lane connects and how.
pub(crate) struct Endpoint {
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    /// `https://host[:port]` plus the base path, to which a call's path is appended (see
    /// [`Base`]: v2 chat replaces its trailing version).
    base: String,
    tls: TlsConnector,
    connect_timeout: Duration,
    idle_timeout: Duration,
    user_agent: HeaderValue,
    /// Turns false for good once the host chose HTTP/1.1: every call then goes through reqwest.
    speaks_h2: AtomicBool,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .field("speaks_h2", &self.speaks_h2)
            .finish_non_exhaustive()
    }
}

/// Why a call could not use the lane.
pub(crate) enum Refused {
    /// The lane does not serve this host; send the call through reqwest instead.
    Unsupported,
    /// The call failed on the lane.
    Failed(Error),
}

impl Endpoint {
    /// The lane for `base_url`, or `None` when it must not be used (not https, or `proxied`).
    pub(crate) fn for_base_url(
        base_url: &str,
        tls: Arc<rustls::ClientConfig>,
        connect_timeout: Duration,
        idle_timeout: Duration,
        user_agent: &'static str,
        proxied: bool,
    ) -> Option<Self> {
        if proxied {
            return None;
        }
        let url = url::Url::parse(base_url).ok()?;
        if url.scheme() != "https" {
            return None;
        }
        let host = url.host_str()?.to_owned();
        let port = url.port_or_known_default()?;
        let server_name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned()).ok()?;
        // The parsed form: an internationalised host is in punycode, as `http::Uri` needs it.
        let base = url.as_str().trim_end_matches('/').to_owned();
        base.parse::<http::Uri>().ok()?;
        Some(Self {
            host,
            port,
            server_name,
            base,
            tls: TlsConnector::from(tls),
            connect_timeout,
            idle_timeout,
            user_agent: HeaderValue::from_static(user_agent),
            speaks_h2: AtomicBool::new(true),
        })
    }

    /// Opens a new HTTP/2 connection and spawns its driver on the calling thread's runtime.
    async fn connect(&self) -> Result<Connection, Refused> {
        let activity = Arc::new(Activity::new());
        let connecting = async {
            let tcp = Metered {
                io: dial(&self.host, self.port, self.connect_timeout).await?,
                activity: activity.clone(),
            };
            self.tls.connect(self.server_name.clone(), tcp).await
        };
        let tls = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| Refused::Failed(Error::Timeout(self.connect_timeout)))?
            .map_err(|err| Refused::Failed(transport(TransportKind::Connect, err)))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            tracing::debug!(host = %self.host, "the API host chose HTTP/1.1; calls go through the pooled client");
            self.speaks_h2.store(false, Ordering::Relaxed);
            return Err(Refused::Unsupported);
        }
        let (send, connection) = h2::client::Builder::new()
            .initial_max_send_streams(STREAMS_BEFORE_SETTINGS)
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .enable_push(false)
            .handshake::<_, Bytes>(tls)
            .await
            .map_err(|err| Refused::Failed(transport(TransportKind::Connect, err)))?;
        let alive = Arc::new(AtomicBool::new(true));
        tokio::spawn(drive(
            connection,
            activity.clone(),
            self.idle_timeout,
            Ended(alive.clone()),
        ));
        Ok(Connection {
            send,
            alive,
            activity,
        })
    }
}

/// A TCP connection to `host` (brackets of an IPv6 address allowed): its addresses in turn, each
/// given an equal share of `connect_timeout` (so one address that drops packets does not use it
/// all up), with `TCP_NODELAY`, keepalive and a user timeout set. Both lanes connect this way.
pub(crate) async fn dial(
    host: &str,
    port: u16,
    connect_timeout: Duration,
) -> std::io::Result<TcpStream> {
    let host = host.trim_matches(['[', ']']);
    let addresses: Vec<std::net::SocketAddr> =
        tokio::net::lookup_host((host, port)).await?.collect();
    let count = u32::try_from(addresses.len()).unwrap_or(u32::MAX).max(1);
    let share = connect_timeout / count;
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{host} has no address"),
    );
    for address in addresses {
        match tokio::time::timeout(share, TcpStream::connect(address)).await {
            Ok(Ok(tcp)) => {
                tune(&tcp)?;
                return Ok(tcp);
            }
            Ok(Err(err)) => last = err,
            Err(_) => {
                last = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connecting to {address} timed out"),
                );
            }
        }
    }
    Err(last)
}

/// `TCP_NODELAY`, keepalive probes and a user timeout, as reqwest sets them.
fn tune(tcp: &TcpStream) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let socket = socket2::SockRef::from(tcp);
    socket.set_tcp_keepalive(
        &socket2::TcpKeepalive::new()
            .with_time(KEEPALIVE_IDLE)
            .with_interval(KEEPALIVE_INTERVAL)
            .with_retries(KEEPALIVE_RETRIES),
    )?;
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
    socket.set_tcp_user_timeout(Some(Duration::from_secs(30)))?;
    Ok(())
}

/// Runs a connection until it ends, or until it has carried no stream for `idle_timeout`, which
/// closes it before the server's keep-alive does. The idle deadline is a timer always pending on
/// the thread, so the timeouts of the calls themselves, set later, never need to wake the loop.
async fn drive(
    connection: h2::client::Connection<tokio_rustls::client::TlsStream<Metered>, Bytes>,
    activity: Arc<Activity>,
    idle_timeout: Duration,
    _ended: Ended,
) {
    tokio::pin!(connection);
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(idle);
    loop {
        tokio::select! {
            ended = &mut connection => {
                if let Err(err) = ended {
                    tracing::debug!(%err, "the GigaChat HTTP/2 connection ended");
                }
                return;
            }
            () = &mut idle => {
                let now = Instant::now();
                let next = match activity.quiet_since() {
                    Some(quiet) if now >= quiet + idle_timeout => {
                        tracing::debug!("closing the idle GigaChat HTTP/2 connection");
                        return;
                    }
                    Some(quiet) => quiet + idle_timeout,
                    None => now + idle_timeout,
                };
                idle.as_mut().reset(next.into());
            }
        }
    }
}

/// A connection's streams in flight, when it last carried one, and what its socket has written,
/// shared with its driver.
#[derive(Debug)]
struct Activity {
    since: Instant,
    /// Milliseconds from `since` to the last start or end of a stream.
    last_ms: AtomicU64,
    streams: AtomicUsize,
    /// Bytes the kernel has accepted from the socket so far.
    written: AtomicU64,
    /// `written` when the socket first found the connection gone (the server closed or reset
    /// it); `OPEN` until then.
    written_when_lost: AtomicU64,
}

/// `Activity::written_when_lost` of a connection not lost yet.
const OPEN: u64 = u64::MAX;

impl Activity {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            last_ms: AtomicU64::new(0),
            streams: AtomicUsize::new(0),
            written: AtomicU64::new(0),
            written_when_lost: AtomicU64::new(OPEN),
        }
    }

    fn wrote(&self, bytes: usize) {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.written.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Remembers how much had been written when the connection was first found gone.
    fn lost(&self) {
        let written = self.written.load(Ordering::Acquire);
        let _ = self.written_when_lost.compare_exchange(
            OPEN,
            written,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Bytes written so far: taken before a call is handed to the connection, to tell later
    /// whether any byte of it can have left.
    fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// True when the connection was found gone before the socket wrote anything past
    /// `written_before` (a [`Self::written`] taken before the call was handed over): not one
    /// byte of that call reached the server, so it can be sent again whatever it does.
    fn lost_before_writing_past(&self, written_before: u64) -> bool {
        self.written_when_lost.load(Ordering::Acquire) <= written_before
    }

    /// Counts a stream in flight until the returned guard is dropped.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.touch();
        self.streams.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(elapsed, Ordering::Relaxed);
    }

    /// When the connection last carried a stream, or `None` while one is in flight.
    fn quiet_since(&self) -> Option<Instant> {
        (self.streams.load(Ordering::Relaxed) == 0)
            .then(|| self.since + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// One stream in flight on a connection: from the call's start until its answer is read or dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// What the kernel holds for a socket's reading side, looked at without reading it.
pub(crate) enum Pending {
    /// Nothing yet: the connection is open and quiet.
    Nothing,
    /// Bytes the server sent.
    Data,
    /// The server's end of stream, or an error (a reset): the connection is gone.
    Closed(std::io::Error),
}

/// Peeks at `tcp` (`recv(MSG_PEEK|MSG_DONTWAIT)`): tokio learns of a closed socket only when its
/// event loop next looks, the kernel knows at once. Asked before writing a call into a connection,
/// so a call is never written into one the server has already closed.
///
/// When nothing is there, tokio is told the socket is not readable: it may still hold the
/// readiness of the last answer's final read, and would otherwise spend a read on the next
/// answer before it arrived.
pub(crate) fn pending(tcp: &TcpStream) -> Pending {
    let mut byte = [std::mem::MaybeUninit::uninit()];
    let peeked = socket2::SockRef::from(tcp).peek(&mut byte);
    if peeked
        .as_ref()
        .is_err_and(|err| err.kind() == std::io::ErrorKind::WouldBlock)
    {
        // The closure runs only while tokio believes the socket readable; its `WouldBlock` (what
        // the kernel just answered) clears that belief until the next readiness event.
        let _ = tcp.try_io(tokio::io::Interest::READABLE, || {
            Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
        });
    }
    match peeked {
        Ok(0) => Pending::Closed(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "the server had closed the connection",
        )),
        Ok(_) => Pending::Data,
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ) =>
        {
            Pending::Nothing
        }
        Err(err) => Pending::Closed(err),
    }
}

/// A connection's TCP socket, counting what the kernel accepts and noting when the connection is
/// found gone (end of stream or an error): what tells a call that never left from one that may
/// have reached the server.
///
/// Before each write it asks the kernel whether the server has already closed the connection.
/// tokio learns of a closed socket only when its event loop next looks, and h2 writes a new call
/// before reading, so without the check a call handed to a connection the server closed a moment
/// ago (an idle close without GOAWAY) would be written into the dead socket and could not be told
/// from one the server received.
struct Metered {
    io: TcpStream,
    activity: Arc<Activity>,
}

impl Metered {
    /// Writes with `write` unless the server has closed the connection, counting what was written.
    fn write(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<std::io::Result<usize>>,
    ) -> Poll<std::io::Result<usize>> {
        if let Pending::Closed(err) = pending(&self.io) {
            self.activity.lost();
            return Poll::Ready(Err(err));
        }
        let polled = write(Pin::new(&mut self.io), cx);
        match &polled {
            Poll::Ready(Ok(bytes)) => self.activity.wrote(*bytes),
            Poll::Ready(Err(_)) => self.activity.lost(),
            Poll::Pending => {}
        }
        polled
    }
}

impl AsyncRead for Metered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let room = buf.remaining();
        let filled = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        match &polled {
            Poll::Ready(Ok(())) if room > 0 && buf.filled().len() == filled => {
                self.activity.lost();
            }
            Poll::Ready(Err(_)) => self.activity.lost(),
            _ => {}
        }
        polled
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.write(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Marks a connection dead when its driver ends, also when the driver is dropped with its runtime.
struct Ended(Arc<AtomicBool>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// The URLs a lane called last, parsed once: most calls go to the same chat URL, and parsing it
/// again (and the placeholder URL reqwest parses for an answer without one) cost a few percent
/// of a small call.
#[derive(Debug, Default)]
pub(crate) struct Targets(std::sync::Mutex<Vec<(Base, String, url::Url)>>);

/// How many parsed URLs a lane keeps (chat v1 and v2, embeddings, models, token counts, a few
/// files); the oldest goes first.
pub(crate) const REMEMBERED_TARGETS: usize = 8;

impl Targets {
    /// The URL of a call to `path` under `base` of the API host's `base_url`.
    pub(crate) fn url(&self, base_url: &str, base: Base, path: &str) -> Result<url::Url, Refused> {
        let mut known = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, _, url)) = known.iter().find(|(b, p, _)| *b == base && p == path) {
            return Ok(url.clone());
        }
        let url = url::Url::parse(&format!("{}{path}", base.of(base_url))).map_err(|err| {
            Refused::Failed(Error::Config(format!("not a usable GigaChat URL: {err}")))
        })?;
        if known.len() == REMEMBERED_TARGETS {
            known.remove(0);
        }
        known.push((base, path.to_owned(), url.clone()));
        Ok(url)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.lock().map_or(0, |known| known.len())
    }
}

/// `response` with `url` as the URL reqwest reports (otherwise reqwest parses a placeholder URL
/// for every answer).
pub(crate) fn with_url<T>(response: http::Response<T>, url: url::Url) -> http::Response<T> {
    use reqwest::ResponseBuilderExt as _;
    // The URL can only be attached through a builder; nothing else of the builder is used.
    let Ok(mut carrier) = http::Response::builder().url(url).body(()) else {
        return response;
    };
    let (parts, body) = response.into_parts();
    *carrier.status_mut() = parts.status;
    *carrier.version_mut() = parts.version;
    *carrier.headers_mut() = parts.headers;
    carrier.extensions_mut().extend(parts.extensions);
    carrier.map(|()| body)
}

/// One thread's connections to the API host: the first one, plus more while every open one
/// carries as many streams as the server allows (GigaChat's front end allows a fixed number per
/// connection; calls beyond it would otherwise wait for a stream to end). Connections with no
/// stream close after the idle timeout.
#[derive(Debug, Default)]
pub(crate) struct Lane {
    connections: tokio::sync::Mutex<Vec<Connection>>,
    /// The URLs this thread called last.
    targets: Targets,
}

#[derive(Debug)]
struct Connection {
    send: SendRequest<Bytes>,
    /// False once the driver has ended: the connection is closed. Also the connection's identity.
    alive: Arc<AtomicBool>,
    activity: Arc<Activity>,
}

impl Connection {
    /// Whether the server lets this connection carry one more stream now.
    fn has_room(&self) -> bool {
        self.activity.streams.load(Ordering::Relaxed) < self.send.current_max_send_streams()
    }

    /// What a call needs: the sender, the connection's identity, and its stream counted in flight
    /// (which also reads what the connection has written).
    fn handles(&self) -> (SendRequest<Bytes>, Arc<AtomicBool>, InFlight) {
        (self.send.clone(), self.alive.clone(), self.activity.begin())
    }
}

impl Lane {
    /// Sends one call with its complete body and returns the answer's head and streaming body.
    pub(crate) async fn send(
        &self,
        endpoint: &Endpoint,
        method: &Method,
        base: Base,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, Refused> {
        if !endpoint.speaks_h2.load(Ordering::Relaxed) {
            return Err(Refused::Unsupported);
        }
        let url = self.targets.url(&endpoint.base, base, path)?;
        let uri: http::Uri = url.as_str().parse().map_err(|err: http::uri::InvalidUri| {
            Refused::Failed(Error::Config(format!("not a usable GigaChat URL: {err}")))
        })?;
        let content_length = (!body.is_empty()).then(|| HeaderValue::from(body.len()));
        // Built for each attempt (h2 takes the request): the caller's headers plus our own.
        let head = || {
            let mut request = http::Request::new(());
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri.clone();
            let mut headers = headers.clone();
            headers.insert(USER_AGENT, endpoint.user_agent.clone());
            if let Some(length) = &content_length {
                headers.insert(CONTENT_LENGTH, length.clone());
            }
            *request.headers_mut() = headers;
            request
        };
        // A call that failed before its answer began is sent again, once and on a new
        // connection, when that cannot repeat what it does: the server provably did not process
        // it (the connection was found gone before any byte of the call was written, or the
        // server refused the stream), or the call only reads (GET: models, balance, files).
        // A chat, embeddings or token count that may have reached the server is not resent: it
        // would be billed twice.
        let mut failed: Option<Arc<AtomicBool>> = None;
        loop {
            let retry = failed.is_some();
            let (send, alive, in_flight) = self.sender(endpoint, failed.take()).await?;
            let written_before = in_flight.0.written();
            let (kind, err, unsent) = match start(send, head(), &body).await {
                Ok(response) => match response.await {
                    Ok(response) => return Ok(into_reqwest(with_url(response, url), in_flight)),
                    Err(err) => {
                        let unsent = in_flight.0.lost_before_writing_past(written_before);
                        (TransportKind::Io, err, unsent)
                    }
                },
                // h2 did not take the call (the connection had ended): nothing of it left.
                Err(err) => (TransportKind::Connect, err, true),
            };
            if retry || !(may_send_again(method, unsent) || unprocessed(&err)) {
                return Err(Refused::Failed(transport(kind, err)));
            }
            tracing::debug!(%err, unsent, "the GigaChat call failed before its answer; sending it again on a new connection");
            failed = Some(alive);
        }
    }

    /// The first of this thread's live connections with room for a stream, or a new one. Closed
    /// connections and the one that just `failed` are let go first (calls that failed together
    /// on one connection then share its replacement).
    async fn sender(
        &self,
        endpoint: &Endpoint,
        failed: Option<Arc<AtomicBool>>,
    ) -> Result<(SendRequest<Bytes>, Arc<AtomicBool>, InFlight), Refused> {
        let mut connections = self.connections.lock().await;
        connections.retain(|connection| {
            connection.alive.load(Ordering::Relaxed)
                && failed
                    .as_ref()
                    .is_none_or(|failed| !Arc::ptr_eq(failed, &connection.alive))
        });
        if let Some(connection) = connections.iter().find(|connection| connection.has_room()) {
            return Ok(connection.handles());
        }
        let connection = endpoint.connect().await?;
        let handles = connection.handles();
        connections.push(connection);
        Ok(handles)
    }
}

/// Opens the stream and hands HEADERS and the whole body to h2 together (one write).
async fn start(
    send: SendRequest<Bytes>,
    request: http::Request<()>,
    body: &Bytes,
) -> Result<h2::client::ResponseFuture, h2::Error> {
    let mut send = send.ready().await?;
    let (response, mut stream) = send.send_request(request, body.is_empty())?;
    if !body.is_empty() {
        stream.send_data(body.clone(), true)?;
    }
    Ok(response)
}

/// The lanes' resend rule for a call that failed before its answer began: it may go out again
/// (once, on a new connection) when no byte of it was written (`unsent`), or when it only reads
/// (GET: models, balance, files). A chat, embeddings or token count that may have reached the
/// server is not sent again: it would be answered, and billed, twice.
pub(crate) fn may_send_again(method: &Method, unsent: bool) -> bool {
    unsent || method.is_safe()
}

/// True when the server provably did not process the stream (RFC 9113 §8.7): it refused it, or
/// a GOAWAY from the server excluded it.
fn unprocessed(err: &h2::Error) -> bool {
    err.reason() == Some(h2::Reason::REFUSED_STREAM) || (err.is_go_away() && err.is_remote())
}

pub(crate) fn transport(
    kind: TransportKind,
    err: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::Transport {
        kind,
        source: Arc::new(err),
    }
}

fn into_reqwest(
    response: http::Response<h2::RecvStream>,
    in_flight: InFlight,
) -> reqwest::Response {
    reqwest::Response::from(response.map(|body| {
        reqwest::Body::wrap_stream(Body {
            data: body,
            in_flight: Some(in_flight),
        })
    }))
}

/// An answer's body as a stream of bytes, giving each piece's flow-control credit back at once;
/// the stream counts as in flight until the body ends or is dropped.
struct Body {
    data: h2::RecvStream,
    /// Released when the body ends (or is dropped), so a finished answer kept around does not
    /// keep the connection busy.
    in_flight: Option<InFlight>,
}

impl Stream for Body {
    type Item = Result<Bytes, h2::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        let polled = self.data.poll_data(cx);
        match &polled {
            Poll::Ready(Some(Ok(data))) => {
                // Cannot fail while the stream is open; a failure shows on the next poll anyway.
                let _ = self.data.flow_control().release_capacity(data.len());
            }
            Poll::Ready(_) => self.in_flight = None,
            Poll::Pending => {}
        }
        polled
    }
}

/// Whether reqwest would send calls to a host of `scheme` (`http` or `https`) through a proxy (it
/// reads these variables).
pub(crate) fn proxy_configured(scheme: &str) -> bool {
    let upper = format!("{}_PROXY", scheme.to_ascii_uppercase());
    let lower = format!("{scheme}_proxy");
    [upper.as_str(), lower.as_str(), "ALL_PROXY", "all_proxy"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// Waits (up to 30 s) until the local socket on `port` is in CLOSE_WAIT: its kernel has taken the
/// peer's FIN, whether or not the lane has looked at the socket since. For the lanes' tests.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn wait_for_close_wait(port: u16) {
    let local = format!(":{port:04X}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        let close_wait = table.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&local) && fields[3] == "08"
        });
        if close_wait {
            return;
        }
        assert!(Instant::now() < deadline, "the FIN never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;
    use gigachat_emulator::{Emulator, EmulatorConfig};

    const TOKEN: &str = "lane-test-token";

    struct Upstream {
        emulator: Emulator,
        endpoint: Endpoint,
        _dir: tempfile::TempDir,
    }

    /// A TLS emulator and a lane endpoint that trusts its CA.
    async fn upstream(configure: impl FnOnce(&mut EmulatorConfig)) -> Upstream {
        let mut config = EmulatorConfig {
            static_tokens: vec![TOKEN.to_owned()],
            ..EmulatorConfig::default()
        };
        configure(&mut config);
        let emulator = Emulator::start(config).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, emulator.ca_pem().unwrap()).unwrap();
        let settings = Settings {
            ca_bundle_file: Some(ca),
            ..Settings::default()
        };
        let endpoint = endpoint(&emulator.api_base_url(), &settings);
        Upstream {
            emulator,
            endpoint,
            _dir: dir,
        }
    }

    fn endpoint(base_url: &str, settings: &Settings) -> Endpoint {
        endpoint_idle(base_url, settings, Duration::from_secs(10))
    }

    fn endpoint_idle(base_url: &str, settings: &Settings, idle: Duration) -> Endpoint {
        let tls = crate::tls::Configs::new(settings).unwrap().api;
        Endpoint::for_base_url(
            base_url,
            tls,
            Duration::from_secs(5),
            idle,
            "lane-test",
            false,
        )
        .unwrap()
    }

    fn headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer lane-test-token"),
        );
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers
    }

    fn chat_body(content: &str) -> Bytes {
        Bytes::from(
            serde_json::json!({
                "model": "GigaChat",
                "messages": [{"role": "user", "content": content}],
            })
            .to_string(),
        )
    }

    /// POSTs `body` to `/chat/completions` over `lane`; the lane must take the call.
    async fn post_chat(lane: &Lane, endpoint: &Endpoint, body: Bytes) -> reqwest::Response {
        let sent = lane
            .send(
                endpoint,
                &Method::POST,
                Base::Configured,
                "/chat/completions",
                &headers(),
                body,
            )
            .await;
        let Ok(response) = sent else {
            panic!("the lane refused the call");
        };
        // The answer carries the URL it came from, as reqwest's own answers do.
        assert_eq!(
            response.url().as_str(),
            format!("{}/chat/completions", endpoint.base)
        );
        response
    }

    async fn chat(lane: &Lane, endpoint: &Endpoint, content: &str) -> serde_json::Value {
        let response = post_chat(lane, endpoint, chat_body(content)).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    #[tokio::test]
    async fn calls_share_one_http2_connection() {
        let upstream = upstream(|_| {}).await;
        let lane = Lane::default();
        for _ in 0..3 {
            let answer = chat(&lane, &upstream.endpoint, "Привет").await;
            assert!(answer["choices"][0]["message"]["content"].is_string());
        }
        let logged = upstream.emulator.requests();
        assert_eq!(logged.len(), 3);
        for request in &logged {
            assert_eq!(request.http_version, "HTTP/2.0");
            assert_eq!(request.connection, logged[0].connection);
            assert_eq!(request.header("user-agent"), Some("lane-test"));
            assert_eq!(
                request.header("content-length"),
                Some(request.body.len().to_string().as_str())
            );
        }
    }

    #[tokio::test]
    async fn a_body_larger_than_the_flow_control_window_arrives_whole() {
        let upstream = upstream(|config| config.context_window_tokens = usize::MAX).await;
        let lane = Lane::default();
        let content = "слово ".repeat(200_000);
        let body = chat_body(&content);
        assert!(body.len() > 65_535 * 16, "well past the default windows");
        chat(&lane, &upstream.endpoint, &content).await;
        assert_eq!(upstream.emulator.requests()[0].body, body);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced() {
        let first = upstream(|_| {}).await;
        let port = first.emulator.api_addr().port();
        let lane = Lane::default();
        chat(&lane, &first.endpoint, "раз").await;
        drop(first.emulator);
        // The same address, a new server (and a new CA: verification is off for this test).
        let second = loop {
            let started = Emulator::start(EmulatorConfig {
                static_tokens: vec![TOKEN.to_owned()],
                api_port: port,
                ..EmulatorConfig::default()
            })
            .await;
            match started {
                Ok(emulator) => break emulator,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let insecure = Settings {
            verify_ssl_certs: false,
            ..Settings::default()
        };
        let endpoint = endpoint(&second.api_base_url(), &insecure);
        chat(&lane, &endpoint, "два").await;
        assert_eq!(second.requests().len(), 1);
    }

    /// A TCP relay between the lane and an emulator (plain threads, so it runs while the lane's
    /// runtime is stopped) that can close a connection on the lane's side without a GOAWAY.
    struct Relay {
        addr: std::net::SocketAddr,
        /// The lane's side of each connection accepted, in order.
        accepted: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
        /// When set, the next bytes the lane sends are read but not passed on, and that
        /// connection is closed: the call reached the wire and then the connection was lost.
        swallow_next: Arc<AtomicBool>,
    }

    impl Relay {
        fn start(upstream: std::net::SocketAddr) -> Self {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let relay = Self {
                addr: listener.local_addr().unwrap(),
                accepted: Arc::default(),
                swallow_next: Arc::default(),
            };
            let (accepted, swallow_next) = (relay.accepted.clone(), relay.swallow_next.clone());
            std::thread::spawn(move || {
                for lane_side in listener.incoming() {
                    let Ok(lane_side) = lane_side else { return };
                    let server_side = std::net::TcpStream::connect(upstream).unwrap();
                    accepted
                        .lock()
                        .unwrap()
                        .push(lane_side.try_clone().unwrap());
                    let up = (
                        lane_side.try_clone().unwrap(),
                        server_side.try_clone().unwrap(),
                    );
                    let swallow_next = swallow_next.clone();
                    std::thread::spawn(move || Self::pass_up(up.0, up.1, &swallow_next));
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut &server_side, &mut &lane_side);
                        let _ = lane_side.shutdown(std::net::Shutdown::Both);
                    });
                }
            });
            relay
        }

        fn pass_up(
            mut lane_side: std::net::TcpStream,
            mut server_side: std::net::TcpStream,
            swallow_next: &AtomicBool,
        ) {
            use std::io::{Read as _, Write as _};
            let mut buffer = [0; 16 * 1024];
            loop {
                let read = match lane_side.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(read) => read,
                };
                if swallow_next.swap(false, Ordering::SeqCst) {
                    let _ = lane_side.shutdown(std::net::Shutdown::Both);
                    break;
                }
                if server_side.write_all(&buffer[..read]).is_err() {
                    break;
                }
            }
            let _ = server_side.shutdown(std::net::Shutdown::Both);
        }

        /// Closes connection `index` on the lane's side (a FIN, no GOAWAY) and waits until the
        /// lane's kernel has taken the FIN (its socket is in CLOSE_WAIT): from then on the
        /// connection is gone, whether or not the lane has looked at it yet.
        #[cfg(target_os = "linux")]
        fn close_and_wait_for_the_fin(&self, index: usize) {
            let accepted = self.accepted.lock().unwrap();
            let lane_port = accepted[index].peer_addr().unwrap().port();
            accepted[index].shutdown(std::net::Shutdown::Both).unwrap();
            wait_for_close_wait(lane_port);
        }

        /// A lane endpoint reaching `upstream`'s emulator through this relay.
        fn endpoint(&self, upstream: &Upstream) -> Endpoint {
            let settings = Settings {
                ca_bundle_file: Some(upstream._dir.path().join("ca.pem")),
                ..Settings::default()
            };
            endpoint(
                &format!("https://localhost:{}/v1", self.addr.port()),
                &settings,
            )
        }
    }

    /// The race behind an old flake of the test above, made certain: the server has closed the
    /// connection (no GOAWAY) and its FIN is in, but the lane's driver has not run since, so the
    /// next call is handed to the dead connection and fails there before any byte of it is
    /// written. It must go out again on a new connection.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_call_given_to_a_connection_already_closed_goes_out_on_a_new_one() {
        let server = tokio::runtime::Runtime::new().unwrap();
        let upstream = server.block_on(upstream(|_| {}));
        let relay = Relay::start(upstream.emulator.api_addr());
        let endpoint = relay.endpoint(&upstream);
        // The lane's runtime runs only inside `block_on`: between the two calls nothing of the
        // lane (its connection driver included) can run.
        let client = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let lane = Lane::default();
        client.block_on(chat(&lane, &endpoint, "раз"));
        relay.close_and_wait_for_the_fin(0);
        let answer = client.block_on(chat(&lane, &endpoint, "два"));
        assert!(answer["choices"][0]["message"]["content"].is_string());
        let logged = upstream.emulator.requests();
        assert_eq!(logged.len(), 2);
        assert_ne!(logged[0].connection, logged[1].connection);
        assert_eq!(relay.accepted.lock().unwrap().len(), 2);
    }

    /// A call whose bytes left before the connection was lost may have reached the server: a
    /// chat completion is not sent again (it would be answered, and billed, twice); a call that
    /// only reads is.
    #[tokio::test]
    async fn a_call_that_may_have_reached_the_server_is_sent_again_only_if_it_only_reads() {
        let upstream = upstream(|_| {}).await;
        let relay = Relay::start(upstream.emulator.api_addr());
        let endpoint = relay.endpoint(&upstream);
        let lane = Lane::default();
        chat(&lane, &endpoint, "раз").await;

        relay.swallow_next.store(true, Ordering::SeqCst);
        let sent = lane
            .send(
                &endpoint,
                &Method::POST,
                Base::Configured,
                "/chat/completions",
                &headers(),
                chat_body("два"),
            )
            .await;
        let Err(Refused::Failed(Error::Transport { kind, .. })) = sent else {
            panic!("a chat completion that may have reached the server was sent again");
        };
        assert_eq!(kind, TransportKind::Io);
        assert_eq!(upstream.emulator.requests().len(), 1);
        assert_eq!(relay.accepted.lock().unwrap().len(), 1, "no new connection");

        chat(&lane, &endpoint, "три").await;
        relay.swallow_next.store(true, Ordering::SeqCst);
        let listed = lane
            .send(
                &endpoint,
                &Method::GET,
                Base::Configured,
                "/models",
                &headers(),
                Bytes::new(),
            )
            .await;
        let Ok(listed) = listed else {
            panic!("a GET was not sent again");
        };
        assert_eq!(listed.status(), 200);
        let logged = upstream.emulator.requests();
        assert_eq!(logged.len(), 3);
        assert_eq!(logged[2].path, "/v1/models");
        assert_eq!(relay.accepted.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_but_not_while_a_stream_runs() {
        let mut upstream = upstream(|config| {
            config.event_gap = Duration::from_millis(60);
            config.answer_words = 8;
            config.words_per_event = 1;
        })
        .await;
        let ca = upstream._dir.path().join("ca.pem");
        let settings = Settings {
            ca_bundle_file: Some(ca),
            ..Settings::default()
        };
        let idle = Duration::from_millis(150);
        upstream.endpoint = endpoint_idle(&upstream.emulator.api_base_url(), &settings, idle);
        let lane = Lane::default();
        // A stream that outlasts the idle timeout: its events are 60 ms apart.
        let streamed = serde_json::json!({
            "model": "GigaChat",
            "messages": [{"role": "user", "content": "long"}],
            "stream": true,
        });
        let response =
            post_chat(&lane, &upstream.endpoint, Bytes::from(streamed.to_string())).await;
        let text = response.text().await.unwrap();
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
        chat(&lane, &upstream.endpoint, "same connection").await;
        tokio::time::sleep(idle * 3).await;
        let closed = lane.connections.lock().await;
        assert!(!closed[0].alive.load(Ordering::Relaxed));
        drop(closed);
        chat(&lane, &upstream.endpoint, "new connection").await;
        let connections: Vec<u64> = upstream
            .emulator
            .requests()
            .iter()
            .map(|r| r.connection)
            .collect();
        assert_eq!(connections[0], connections[1]);
        assert_ne!(connections[1], connections[2]);
    }

    #[tokio::test]
    async fn streams_beyond_the_servers_limit_go_on_another_connection() {
        // Two streams per connection; each stream then stays open for a minute.
        let upstream = upstream(|config| {
            config.http2_max_streams = 2;
            config.event_gap = Duration::from_secs(60);
            config.answer_words = 4;
            config.words_per_event = 1;
        })
        .await;
        let lane = Lane::default();
        let streamed = Bytes::from(
            serde_json::json!({
                "model": "GigaChat",
                "messages": [{"role": "user", "content": "long"}],
                "stream": true,
            })
            .to_string(),
        );
        let mut open = Vec::new();
        for _ in 0..5 {
            // Waiting for a stream slot on a full connection would take the full minute.
            let call = post_chat(&lane, &upstream.endpoint, streamed.clone());
            let response = tokio::time::timeout(Duration::from_secs(20), call)
                .await
                .expect("the call waited for a full connection");
            assert_eq!(response.status(), 200);
            open.push(response);
        }
        let connections: Vec<u64> = upstream
            .emulator
            .requests()
            .iter()
            .map(|request| request.connection)
            .collect();
        assert_eq!(connections.len(), 5);
        assert_eq!(connections[0], connections[1]);
        assert_ne!(connections[1], connections[2]);
        assert_eq!(connections[2], connections[3]);
        assert_ne!(connections[3], connections[4]);
        assert_eq!(lane.connections.lock().await.len(), 3);
        drop(open);
        // Finished streams free their room: the next call goes on the first connection again.
        tokio::time::timeout(Duration::from_secs(20), async {
            while lane.connections.lock().await[0]
                .activity
                .streams
                .load(Ordering::Relaxed)
                > 0
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("dropped answers still count as in flight");
        chat(&lane, &upstream.endpoint, "short").await;
        let logged = upstream.emulator.requests();
        assert_eq!(logged[5].connection, connections[0]);
    }

    #[tokio::test]
    async fn calls_that_failed_on_one_connection_share_its_replacement() {
        let upstream = upstream(|_| {}).await;
        let lane = Lane::default();
        let handles = |failed: Option<Arc<AtomicBool>>| {
            let lane = &lane;
            let endpoint = &upstream.endpoint;
            async move {
                let Ok((_, alive, _)) = lane.sender(endpoint, failed).await else {
                    panic!("no connection");
                };
                alive
            }
        };
        let first = handles(None).await;
        let second = handles(Some(first.clone())).await;
        let again = handles(Some(first.clone())).await;
        assert!(!Arc::ptr_eq(&first, &second), "the failed one is replaced");
        assert!(
            Arc::ptr_eq(&second, &again),
            "once, not once per failed call"
        );
        assert!(Arc::ptr_eq(&handles(None).await, &second));
    }

    #[tokio::test]
    async fn a_finished_answer_no_longer_counts_as_in_flight() {
        use futures_util::StreamExt as _;
        let upstream = upstream(|_| {}).await;
        let lane = Lane::default();
        let response = post_chat(&lane, &upstream.endpoint, chat_body("hi")).await;
        let streams = || async {
            let connections = lane.connections.lock().await;
            connections[0].activity.streams.load(Ordering::Relaxed)
        };
        assert_eq!(streams().await, 1);
        let mut body = response.bytes_stream();
        while let Some(piece) = body.next().await {
            piece.unwrap();
        }
        assert_eq!(streams().await, 0, "the body ended; it is still held");
        drop(body);
    }

    #[tokio::test]
    async fn a_host_without_http2_is_left_to_the_pooled_client() {
        let upstream = upstream(|config| config.http2 = false).await;
        let lane = Lane::default();
        let refused = lane
            .send(
                &upstream.endpoint,
                &Method::POST,
                Base::Configured,
                "/chat/completions",
                &headers(),
                chat_body("hi"),
            )
            .await;
        assert!(matches!(refused, Err(Refused::Unsupported)));
        assert!(!upstream.endpoint.speaks_h2.load(Ordering::Relaxed));
        assert!(upstream.emulator.requests().is_empty(), "nothing was sent");
    }

    #[test]
    fn only_direct_https_hosts_get_a_lane() {
        let tls = crate::tls::Configs::new(&Settings::default()).unwrap().api;
        let lane = |url: &str, proxied: bool| {
            Endpoint::for_base_url(
                url,
                tls.clone(),
                Duration::from_secs(1),
                Duration::from_secs(1),
                "t",
                proxied,
            )
        };
        assert!(lane("https://gigachat.devices.sberbank.ru/api/v1", false).is_some());
        assert!(lane("https://[::1]:8443/api/v1", false).is_some());
        assert!(lane("http://127.0.0.1:8080/api/v1", false).is_none());
        assert!(lane("https://gigachat.devices.sberbank.ru/api/v1", true).is_none());
    }
}
