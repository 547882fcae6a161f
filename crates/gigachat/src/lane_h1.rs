//! The direct HTTP/1.1 lane for API calls with a complete body (JSON or none) to a plain-`http`
//! API host: per-thread idle keep-alive connections, a request written in one go and an answer
//! read straight from the socket by whoever reads its body, with no task, channel or standing
//! buffer per connection (hyper's HTTP/1.1 client connection holds ~25 KiB of those, for every
//! open stream).
//!
//! It serves only what it can serve exactly like reqwest: an `http` API host reached without a
//! proxy. The request carries the same headers in the same order as reqwest and hyper send them;
//! the answer is read as hyper reads it (1xx answers skipped, `Content-Length`, chunked or
//! read-to-close bodies, `Connection: close` and HTTP/1.0 keep-alive honoured, no pipelining), and
//! a body the connection ends before its end is an error, never a short body. A connection goes
//! back to the pool only once its answer was read to the end.

use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use reqwest::Method;
use reqwest::header::{
    ACCEPT, CONNECTION, CONTENT_LENGTH, HOST, HeaderMap, HeaderName, HeaderValue,
    TRANSFER_ENCODING, USER_AGENT,
};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;

use crate::client::Base;
use crate::error::{Error, TransportKind};
use crate::lane::{Pending, Refused, Targets, dial, may_send_again, pending, transport, with_url};

/// What one read of an answer takes at most; it lives on the stack of the read, never in a
/// connection.
const READ_CHUNK: usize = 16 * 1024;

/// hyper's limits on an answer's head: its size and its number of header lines.
const MAX_HEAD: usize = 8192 + 4096 * 100;
const MAX_HEADERS: usize = 100;

/// How many bytes of chunk extensions, and of trailers, an answer may carry (both are skipped).
const MAX_CHUNK_EXTENSIONS: u64 = 16 * 1024;
const MAX_TRAILERS: u64 = 16 * 1024;

/// Where the lane connects and how.
pub(crate) struct Endpoint {
    host: String,
    port: u16,
    /// `Host` as hyper writes it: the host, and the port unless it is the default.
    host_header: HeaderValue,
    /// `http://host[:port]` plus the base path, to which a call's path is appended (see [`Base`]).
    base: String,
    connect_timeout: Duration,
    user_agent: HeaderValue,
    /// The pool's rules, given to each thread's lane.
    idle_timeout: Duration,
    max_idle: usize,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The lane for `base_url`, or `None` when it must not be used (not `http`, or `proxied`).
    /// `max_idle` bounds the idle connections a thread keeps (reqwest's `pool_max_idle_per_host`).
    pub(crate) fn for_base_url(
        base_url: &str,
        connect_timeout: Duration,
        idle_timeout: Duration,
        max_idle: usize,
        user_agent: &'static str,
        proxied: bool,
    ) -> Option<Self> {
        if proxied {
            return None;
        }
        let url = url::Url::parse(base_url).ok()?;
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let host = url.host_str()?.to_owned();
        let host_header = match url.port() {
            Some(port) => HeaderValue::from_str(&format!("{host}:{port}")),
            None => HeaderValue::from_str(&host),
        }
        .ok()?;
        Some(Self {
            port: url.port_or_known_default()?,
            host,
            host_header,
            base: url.as_str().trim_end_matches('/').to_owned(),
            connect_timeout,
            user_agent: HeaderValue::from_static(user_agent),
            idle_timeout,
            max_idle,
        })
    }

    async fn connect(&self) -> Result<TcpStream, Refused> {
        tokio::time::timeout(
            self.connect_timeout,
            dial(&self.host, self.port, self.connect_timeout),
        )
        .await
        .map_err(|_| Refused::Failed(Error::Timeout(self.connect_timeout)))?
        .map_err(|err| Refused::Failed(transport(TransportKind::Connect, err)))
    }

    /// The request's head as reqwest and hyper write it: the request line (origin form), the
    /// caller's headers in order, then those reqwest adds when absent (`accept`, `user-agent`),
    /// hyper's `host`, and `content-length` for a body.
    fn head(&self, method: &Method, target: &str, headers: &HeaderMap, body: usize) -> Vec<u8> {
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(method.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(target.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\n");
        let mut line = |name: &HeaderName, value: &[u8]| {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value);
            head.extend_from_slice(b"\r\n");
        };
        for (name, value) in headers {
            line(name, value.as_bytes());
        }
        if !headers.contains_key(ACCEPT) {
            line(&ACCEPT, b"*/*");
        }
        if !headers.contains_key(USER_AGENT) {
            line(&USER_AGENT, self.user_agent.as_bytes());
        }
        if !headers.contains_key(HOST) {
            line(&HOST, self.host_header.as_bytes());
        }
        if body > 0 && !headers.contains_key(CONTENT_LENGTH) {
            line(&CONTENT_LENGTH, body.to_string().as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        head
    }
}

/// One thread's idle keep-alive connections to the API host.
#[derive(Debug)]
pub(crate) struct Lane {
    pool: Arc<Pool>,
    /// The URLs this thread called last.
    targets: Targets,
}

impl Lane {
    /// An empty lane keeping idle connections as `endpoint` says.
    pub(crate) fn new(endpoint: &Endpoint) -> Self {
        Self {
            pool: Arc::new(Pool {
                idle: Mutex::new(Vec::new()),
                reaping: std::sync::atomic::AtomicBool::new(false),
                idle_timeout: endpoint.idle_timeout,
                max_idle: endpoint.max_idle,
            }),
            targets: Targets::default(),
        }
    }

    /// Sends one call with its complete body and returns the answer's head and its body, read
    /// from the socket as the caller reads it.
    pub(crate) async fn send(
        &self,
        endpoint: &Endpoint,
        method: &Method,
        base: Base,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, Refused> {
        let url = self.targets.url(&endpoint.base, base, path)?;
        let head = endpoint.head(
            method,
            &url[url::Position::BeforePath..url::Position::AfterQuery],
            headers,
            body.len(),
        );
        // A call that failed before its answer began goes out again, once and on a new
        // connection, when the lanes' resend rule allows it (see `may_send_again`).
        let mut retry = false;
        loop {
            let pooled = if retry { None } else { self.pool.take() };
            // A pooled connection was peeked at just now, with nothing awaited since: the check
            // before the first write would ask the kernel the same question again.
            let checked = pooled.is_some();
            let tcp = match pooled {
                Some(tcp) => tcp,
                None => endpoint.connect().await?,
            };
            match exchange(tcp, &head, &body, method, checked).await {
                Ok((response, tcp, body_framing, leftover)) => {
                    return Ok(self.answer(response, url, tcp, body_framing, leftover));
                }
                Err(Failed { err, unsent }) => {
                    if retry || !may_send_again(method, unsent) {
                        return Err(Refused::Failed(transport(TransportKind::Io, err)));
                    }
                    tracing::debug!(%err, unsent, "the GigaChat call failed before its answer; sending it again on a new connection");
                    retry = true;
                }
            }
        }
    }

    /// The answer as a `reqwest::Response` whose body reads the connection, its URL the call's.
    fn answer(
        &self,
        response: http::Response<()>,
        url: url::Url,
        tcp: TcpStream,
        framing: Framing,
        leftover: Vec<u8>,
    ) -> reqwest::Response {
        let keep_alive = keeps_alive(&response) && !matches!(framing, Framing::UntilClose);
        let mut body = Body {
            connection: Some(tcp),
            pool: Arc::downgrade(&self.pool),
            keep_alive,
            framing,
            leftover,
        };
        // An answer without a body (or one already read whole) frees its connection now, even
        // if nobody reads the body.
        if body.leftover.is_empty() && body.framing.is_done() {
            body.finish(0);
        }
        reqwest::Response::from(with_url(response, url).map(|()| reqwest::Body::wrap_stream(body)))
    }
}

/// Idle connections, most recently used last, and whether a reaper is running for them.
#[derive(Debug)]
struct Pool {
    idle: Mutex<Vec<Idle>>,
    /// True while a reaper task is closing this pool's expired connections (one per pool, only
    /// while it holds any).
    reaping: std::sync::atomic::AtomicBool,
    idle_timeout: Duration,
    max_idle: usize,
}

#[derive(Debug)]
struct Idle {
    tcp: TcpStream,
    since: Instant,
}

impl Pool {
    /// The most recently used idle connection that is still open and quiet, if any.
    fn take(&self) -> Option<TcpStream> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(connection) = idle.pop() {
            if connection.since.elapsed() < self.idle_timeout
                && matches!(pending(&connection.tcp), Pending::Nothing)
            {
                return Some(connection.tcp);
            }
        }
        None
    }

    /// Keeps a connection whose answer was read to the end for the next call.
    fn put(self: &Arc<Self>, tcp: TcpStream) {
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        if idle.len() >= self.max_idle {
            return;
        }
        idle.push(Idle {
            tcp,
            since: Instant::now(),
        });
        if !self.reaping.swap(true, std::sync::atomic::Ordering::AcqRel) {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn(reap(Arc::downgrade(self)))),
                Err(_) => self
                    .reaping
                    .store(false, std::sync::atomic::Ordering::Release),
            }
        }
    }
}

/// Closes a pool's connections once idle for its idle timeout (before the server's keep-alive
/// closes them under us), and ends when the pool is empty or gone.
async fn reap(pool: Weak<Pool>) {
    loop {
        let next = {
            let Some(pool) = pool.upgrade() else { return };
            let Ok(mut idle) = pool.idle.lock() else {
                return;
            };
            idle.retain(|connection| connection.since.elapsed() < pool.idle_timeout);
            let Some(oldest) = idle.first() else {
                pool.reaping
                    .store(false, std::sync::atomic::Ordering::Release);
                return;
            };
            oldest.since + pool.idle_timeout
        };
        tokio::time::sleep_until(next.into()).await;
    }
}

/// A call that failed before its answer began, and whether none of it was written.
struct Failed {
    err: std::io::Error,
    unsent: bool,
}

/// Writes the request and reads the answer's head: the head, the connection, how its body is
/// framed and the bytes read past the head. `checked`: the connection was just found open.
async fn exchange(
    tcp: TcpStream,
    head: &[u8],
    body: &[u8],
    method: &Method,
    checked: bool,
) -> Result<(http::Response<()>, TcpStream, Framing, Vec<u8>), Failed> {
    let written = write_request(&tcp, head, body, checked).await;
    if let Err((err, written)) = written {
        return Err(Failed {
            err,
            unsent: written == 0,
        });
    }
    let mut read = Vec::new();
    loop {
        let got = loop {
            if let Err(err) = tcp.readable().await {
                break Err(err);
            }
            match read_into(&tcp, &mut read) {
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                other => break other,
            }
        };
        match got {
            Ok(0) => {
                return Err(failed(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the connection closed before an answer arrived",
                )));
            }
            Ok(_) => {}
            Err(err) => return Err(failed(err)),
        }
        while let Some((response, length)) = parse_head(&read).map_err(failed)? {
            read = read.split_off(length);
            let status = response.status();
            if status == http::StatusCode::SWITCHING_PROTOCOLS {
                return Err(failed(invalid("the server switched protocols unasked")));
            }
            if status.is_informational() {
                continue;
            }
            let framing = Framing::of(&response, method).map_err(failed)?;
            return Ok((response, tcp, framing, read));
        }
        if read.len() >= MAX_HEAD {
            return Err(failed(invalid("the answer's head is too large")));
        }
    }
}

/// Reads what the socket holds (through a buffer on the stack) onto the end of `read`, which so
/// grows only by what arrived: a head read leaves no spare buffer behind.
fn read_into(tcp: &TcpStream, read: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0; 4096];
    let count = tcp.try_read(&mut chunk)?;
    read.extend_from_slice(&chunk[..count]);
    Ok(count)
}

/// A failure after the request was written: it may have reached the server.
fn failed(err: std::io::Error) -> Failed {
    Failed { err, unsent: false }
}

fn invalid(message: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// Writes head and body (gathered, so a small request leaves in one segment). Before each write
/// it checks the server has not closed the connection (before the first one only when the
/// caller has not `checked` just now): a call is never written into a connection already gone,
/// so one that fails with nothing written provably never reached the server. On failure, says
/// how many bytes were written.
async fn write_request(
    tcp: &TcpStream,
    head: &[u8],
    body: &[u8],
    checked: bool,
) -> Result<(), (std::io::Error, usize)> {
    let total = head.len() + body.len();
    let mut written = 0;
    let mut check = !checked;
    while written < total {
        if check && let Pending::Closed(err) = pending(tcp) {
            return Err((err, written));
        }
        check = true;
        tcp.writable().await.map_err(|err| (err, written))?;
        let slices = if written < head.len() {
            [
                std::io::IoSlice::new(&head[written..]),
                std::io::IoSlice::new(body),
            ]
        } else {
            [
                std::io::IoSlice::new(&body[written - head.len()..]),
                std::io::IoSlice::new(&[]),
            ]
        };
        match tcp.try_write_vectored(&slices) {
            Ok(0) => {
                return Err((
                    std::io::Error::new(
                        std::io::ErrorKind::WriteZero,
                        "the connection took nothing",
                    ),
                    written,
                ));
            }
            Ok(count) => written += count,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => return Err((err, written)),
        }
    }
    Ok(())
}

/// Parses an answer's head from the start of `read`: the head and its length, or `None` while
/// incomplete.
fn parse_head(read: &[u8]) -> std::io::Result<Option<(http::Response<()>, usize)>> {
    let mut lines = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut lines);
    let length = match parsed.parse(read) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(invalid("the answer has too many headers"));
        }
        Err(_) => return Err(invalid("the answer's head is not HTTP/1.x")),
    };
    let mut response = http::Response::new(());
    *response.status_mut() = parsed
        .code
        .and_then(|code| http::StatusCode::from_u16(code).ok())
        .ok_or_else(|| invalid("the answer's status is not valid"))?;
    *response.version_mut() = if parsed.version == Some(0) {
        http::Version::HTTP_10
    } else {
        http::Version::HTTP_11
    };
    let headers = response.headers_mut();
    headers.reserve(parsed.headers.len());
    for line in parsed.headers.iter() {
        let name = HeaderName::from_bytes(line.name.as_bytes())
            .map_err(|_| invalid("the answer has an invalid header name"))?;
        let value = HeaderValue::from_bytes(line.value)
            .map_err(|_| invalid("the answer has an invalid header value"))?;
        headers.append(name, value);
    }
    Ok(Some((response, length)))
}

/// Whether the connection may carry another call after this answer: HTTP/1.1 unless the server
/// said `Connection: close`, HTTP/1.0 only when it said `Connection: keep-alive`.
fn keeps_alive(response: &http::Response<()>) -> bool {
    let says = |token: &str| {
        response
            .headers()
            .get_all(CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    };
    if response.version() == http::Version::HTTP_10 {
        says("keep-alive")
    } else {
        !says("close")
    }
}

/// How an answer's body ends, and how much of it is left.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Framing {
    /// `Content-Length`: this many bytes are left.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunked),
    /// Neither: the body ends when the server closes the connection.
    UntilClose,
}

impl Framing {
    /// How the body of `response` (to a `method` call) is framed, as RFC 9112 §6.3 says.
    fn of(response: &http::Response<()>, method: &Method) -> std::io::Result<Self> {
        let status = response.status();
        if method == Method::HEAD
            || status.is_informational()
            || status == http::StatusCode::NO_CONTENT
            || status == http::StatusCode::NOT_MODIFIED
        {
            return Ok(Self::Length(0));
        }
        let headers = response.headers();
        if headers.contains_key(TRANSFER_ENCODING) {
            let last = headers
                .get_all(TRANSFER_ENCODING)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .map(str::trim)
                .rfind(|coding| !coding.is_empty());
            return Ok(match last {
                Some(coding) if coding.eq_ignore_ascii_case("chunked") => {
                    Self::Chunked(Chunked::default())
                }
                _ => Self::UntilClose,
            });
        }
        let mut length = None;
        for value in headers.get_all(CONTENT_LENGTH) {
            let value = value
                .to_str()
                .map_err(|_| invalid("the answer's content-length is not a number"))?;
            for item in value.split(',') {
                let item = item.trim();
                if item.is_empty() || !item.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Err(invalid("the answer's content-length is not a number"));
                }
                let parsed: u64 = item
                    .parse()
                    .map_err(|_| invalid("the answer's content-length is not a number"))?;
                if length.is_some_and(|known| known != parsed) {
                    return Err(invalid("the answer has conflicting content-lengths"));
                }
                length = Some(parsed);
            }
        }
        Ok(length.map_or(Self::UntilClose, Self::Length))
    }

    fn is_done(&self) -> bool {
        match self {
            Self::Length(left) => *left == 0,
            Self::Chunked(chunked) => chunked.state == ChunkState::Done,
            Self::UntilClose => false,
        }
    }

    /// Decodes what `input` holds of the body into `out`; returns how many bytes of `input` were
    /// the body's (the rest follows the body).
    fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> std::io::Result<usize> {
        match self {
            Self::Length(left) => {
                let take = usize::try_from(*left).map_or(input.len(), |left| left.min(input.len()));
                out.extend_from_slice(&input[..take]);
                *left -= take as u64;
                Ok(take)
            }
            Self::Chunked(chunked) => chunked.decode(input, out),
            Self::UntilClose => {
                out.extend_from_slice(input);
                Ok(input.len())
            }
        }
    }
}

/// Where a chunked body's decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ChunkState {
    /// Reading the hex size (at least one digit).
    #[default]
    Size,
    /// After the size: spaces or tabs, then `;` and extensions, or CR.
    SizeTail,
    /// Inside a chunk extension, up to CR.
    Extension,
    /// The LF ending a size line.
    SizeLf,
    /// In a chunk's data.
    Data,
    /// The CR after a chunk's data.
    DataCr,
    /// The LF after a chunk's data.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer line, up to CR.
    Trailer,
    /// The LF ending a trailer line.
    TrailerLf,
    /// The LF ending the final empty line.
    EndLf,
    /// The body has ended.
    Done,
}

/// The state of a chunked body's decoder (RFC 9112 §7.1); extensions and trailers are skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Chunked {
    state: ChunkState,
    /// The size being read, then the bytes left in the chunk's data.
    size: u64,
    /// Whether the size line had a digit yet.
    digits: bool,
    extensions: u64,
    trailers: u64,
}

impl Chunked {
    fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> std::io::Result<usize> {
        let mut at = 0;
        while at < input.len() && self.state != ChunkState::Done {
            let byte = input[at];
            at += 1;
            self.state = match self.state {
                ChunkState::Size => match byte {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let digit = u64::from(hex_value(byte));
                        self.size = self
                            .size
                            .checked_mul(16)
                            .and_then(|size| size.checked_add(digit))
                            .ok_or_else(|| invalid("a chunk's size is too large"))?;
                        self.digits = true;
                        ChunkState::Size
                    }
                    _ if !self.digits => return Err(invalid("a chunk's size is missing")),
                    b' ' | b'\t' => ChunkState::SizeTail,
                    b';' => ChunkState::Extension,
                    b'\r' => ChunkState::SizeLf,
                    _ => return Err(invalid("a chunk's size line is not valid")),
                },
                ChunkState::SizeTail => match byte {
                    b' ' | b'\t' => ChunkState::SizeTail,
                    b';' => ChunkState::Extension,
                    b'\r' => ChunkState::SizeLf,
                    _ => return Err(invalid("a chunk's size line is not valid")),
                },
                ChunkState::Extension => {
                    self.extensions += 1;
                    if self.extensions > MAX_CHUNK_EXTENSIONS {
                        return Err(invalid("the answer's chunk extensions are too long"));
                    }
                    match byte {
                        b'\r' => ChunkState::SizeLf,
                        b'\n' => return Err(invalid("a chunk extension has a bare LF")),
                        _ => ChunkState::Extension,
                    }
                }
                ChunkState::SizeLf => match byte {
                    b'\n' if self.size == 0 => ChunkState::TrailerStart,
                    b'\n' => ChunkState::Data,
                    _ => return Err(invalid("a chunk's size line does not end in CRLF")),
                },
                ChunkState::Data => {
                    let from = at - 1;
                    let take = usize::try_from(self.size)
                        .map_or(input.len() - from, |size| size.min(input.len() - from));
                    out.extend_from_slice(&input[from..from + take]);
                    at = from + take;
                    self.size -= take as u64;
                    if self.size == 0 {
                        ChunkState::DataCr
                    } else {
                        ChunkState::Data
                    }
                }
                ChunkState::DataCr => match byte {
                    b'\r' => ChunkState::DataLf,
                    _ => return Err(invalid("a chunk's data does not end in CRLF")),
                },
                ChunkState::DataLf => match byte {
                    b'\n' => {
                        self.digits = false;
                        ChunkState::Size
                    }
                    _ => return Err(invalid("a chunk's data does not end in CRLF")),
                },
                ChunkState::TrailerStart => match byte {
                    b'\r' => ChunkState::EndLf,
                    _ => self.trailer_byte(byte)?,
                },
                ChunkState::Trailer => self.trailer_byte(byte)?,
                ChunkState::TrailerLf => match byte {
                    b'\n' => ChunkState::TrailerStart,
                    _ => return Err(invalid("a trailer does not end in CRLF")),
                },
                ChunkState::EndLf => match byte {
                    b'\n' => ChunkState::Done,
                    _ => return Err(invalid("the chunked body does not end in CRLF")),
                },
                ChunkState::Done => ChunkState::Done,
            };
        }
        Ok(at)
    }

    /// One byte of a trailer line (skipped).
    fn trailer_byte(&mut self, byte: u8) -> std::io::Result<ChunkState> {
        self.trailers += 1;
        if self.trailers > MAX_TRAILERS {
            return Err(invalid("the answer's trailers are too long"));
        }
        match byte {
            b'\r' => Ok(ChunkState::TrailerLf),
            b'\n' => Err(invalid("a trailer has a bare LF")),
            _ => Ok(ChunkState::Trailer),
        }
    }
}

fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        _ => byte - b'A' + 10,
    }
}

/// An answer's body, read from its connection as its reader polls: no task, no channel, and no
/// buffer kept between reads. The connection goes back to the pool as soon as the body has been
/// read to its end (and the server allows reuse); a body dropped before its end closes it.
struct Body {
    /// `None` once the body has ended.
    connection: Option<TcpStream>,
    pool: Weak<Pool>,
    keep_alive: bool,
    framing: Framing,
    /// Bytes read with the head, decoded first.
    leftover: Vec<u8>,
}

impl Body {
    /// The body has ended: the connection goes back to the pool unless the server ends it or
    /// sent bytes past the body (`extra`).
    fn finish(&mut self, extra: usize) {
        let connection = self.connection.take();
        if let (Some(tcp), true, 0, Some(pool)) =
            (connection, self.keep_alive, extra, self.pool.upgrade())
        {
            pool.put(tcp);
        }
    }

    /// Decodes `input`; returns the body's bytes in it.
    fn decode(&mut self, input: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let used = self.framing.decode(input, &mut out)?;
        if self.framing.is_done() {
            self.finish(input.len() - used);
        }
        Ok(out)
    }
}

impl Stream for Body {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let body = &mut *self;
        if !body.leftover.is_empty() {
            let leftover = std::mem::take(&mut body.leftover);
            match body.decode(&leftover) {
                Ok(out) if !out.is_empty() => return Poll::Ready(Some(Ok(Bytes::from(out)))),
                Ok(_) => {}
                Err(err) => {
                    body.connection = None;
                    return Poll::Ready(Some(Err(err)));
                }
            }
        }
        let mut storage = [std::mem::MaybeUninit::uninit(); READ_CHUNK];
        loop {
            let Some(tcp) = body.connection.as_mut() else {
                return Poll::Ready(None);
            };
            let mut read = ReadBuf::uninit(&mut storage);
            match Pin::new(tcp).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(err)) => {
                    body.connection = None;
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    body.connection = None;
                    if matches!(body.framing, Framing::UntilClose) {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the connection closed before the answer's end",
                    ))));
                }
                Poll::Ready(Ok(())) => match body.decode(read.filled()) {
                    Ok(out) if !out.is_empty() => return Poll::Ready(Some(Ok(Bytes::from(out)))),
                    Ok(_) => {}
                    Err(err) => {
                        body.connection = None;
                        return Poll::Ready(Some(Err(err)));
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;
    use proptest::prelude::*;
    use std::io::{Read as _, Write as _};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A raw-socket HTTP server on its own threads: each accepted connection is handed to
    /// `serve` with its index; `accepted` counts connections.
    struct Server {
        addr: std::net::SocketAddr,
        accepted: Arc<AtomicUsize>,
        /// The server's side of each connection, in order of acceptance.
        sockets: Arc<Mutex<Vec<std::net::TcpStream>>>,
    }

    impl Server {
        fn start(
            serve: impl Fn(std::net::TcpStream, usize) + Send + Sync + Clone + 'static,
        ) -> Self {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let server = Self {
                addr: listener.local_addr().unwrap(),
                accepted: Arc::default(),
                sockets: Arc::default(),
            };
            let (accepted, sockets) = (server.accepted.clone(), server.sockets.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { return };
                    let index = accepted.fetch_add(1, Ordering::SeqCst);
                    sockets.lock().unwrap().push(stream.try_clone().unwrap());
                    let serve = serve.clone();
                    std::thread::spawn(move || {
                        // The clone kept above would hold the connection open: close it.
                        let kept = stream.try_clone().unwrap();
                        serve(stream, index);
                        let _ = kept.shutdown(std::net::Shutdown::Both);
                    });
                }
            });
            server
        }

        fn endpoint(&self) -> Endpoint {
            Endpoint::for_base_url(
                &format!("http://127.0.0.1:{}/v1", self.addr.port()),
                Duration::from_secs(5),
                Duration::from_secs(10),
                usize::MAX,
                "lane-test",
                false,
            )
            .unwrap()
        }

        fn accepted(&self) -> usize {
            self.accepted.load(Ordering::SeqCst)
        }

        /// Closes connection `index` from the server's side and waits until the client's kernel
        /// has the FIN (its socket is in CLOSE_WAIT), whether or not the lane has looked since.
        #[cfg(target_os = "linux")]
        fn close_and_wait_for_the_fin(&self, index: usize) {
            let sockets = self.sockets.lock().unwrap();
            let client_port = sockets[index].peer_addr().unwrap().port();
            sockets[index].shutdown(std::net::Shutdown::Both).unwrap();
            crate::lane::wait_for_close_wait(client_port);
        }
    }

    /// Reads one request (head and `content-length` body); `None` when the client closed.
    fn read_request(stream: &mut std::net::TcpStream) -> Option<Vec<u8>> {
        let mut request = Vec::new();
        let mut byte = [0; 1];
        while !request.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => request.push(byte[0]),
                _ => return None,
            }
        }
        let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .map_or(0, |value| value.trim().parse::<usize>().unwrap());
        let mut body = vec![0; length];
        stream.read_exact(&mut body).ok()?;
        request.extend_from_slice(&body);
        Some(request)
    }

    /// A server answering every request on a connection with `answer` (for as long as the
    /// client keeps it), closing after it when `close` is set.
    fn answering(answer: &'static [u8], close: bool) -> Server {
        Server::start(move |mut stream, _| {
            while read_request(&mut stream).is_some() {
                stream.write_all(answer).unwrap();
                if close {
                    return;
                }
            }
        })
    }

    fn headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer t"),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers
    }

    async fn send(
        lane: &Lane,
        endpoint: &Endpoint,
        method: Method,
    ) -> Result<reqwest::Response, Error> {
        let body = if method == Method::GET {
            Bytes::new()
        } else {
            Bytes::from_static(br#"{"model":"GigaChat","messages":[]}"#)
        };
        match lane
            .send(
                endpoint,
                &method,
                Base::Configured,
                "/chat/completions",
                &headers(),
                body,
            )
            .await
        {
            Ok(response) => Ok(response),
            Err(Refused::Failed(err)) => Err(err),
            Err(Refused::Unsupported) => panic!("the lane refused the call"),
        }
    }

    async fn text(lane: &Lane, endpoint: &Endpoint) -> Result<String, Error> {
        let response = send(lane, endpoint, Method::POST).await?;
        assert_eq!(response.status(), 200);
        response
            .text()
            .await
            .map_err(|err| Error::transport(err, Duration::from_secs(1)))
    }

    fn is_io(result: &Result<String, Error>) -> bool {
        matches!(
            result,
            Err(Error::Transport {
                kind: TransportKind::Io,
                ..
            })
        )
    }

    /// A server that keeps every request it reads and answers each with `{}`.
    fn recording() -> (Server, Arc<Mutex<Vec<Vec<u8>>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = Server::start(move |mut stream, _| {
            while let Some(request) = read_request(&mut stream) {
                log.lock().unwrap().push(request);
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                    .unwrap();
            }
        });
        (server, seen)
    }

    #[tokio::test]
    async fn requests_are_byte_for_byte_what_reqwest_sends() {
        let (server, seen) = recording();
        let endpoint = server.endpoint();
        let lane = Lane::new(&endpoint);
        let client = reqwest::Client::builder()
            .user_agent("lane-test")
            .build()
            .unwrap();
        let url = format!(
            "http://127.0.0.1:{}/v1/chat/completions",
            server.addr.port()
        );
        let body = Bytes::from_static(br#"{"model":"GigaChat","messages":[]}"#);
        for method in [Method::POST, Method::GET] {
            let body = if method == Method::GET {
                Bytes::new()
            } else {
                body.clone()
            };
            let mut bare = HeaderMap::new();
            bare.insert("x-request-id", HeaderValue::from_static("r-1"));
            for headers in [headers(), bare] {
                let by_reqwest = client
                    .request(method.clone(), &url)
                    .headers(headers.clone())
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(by_reqwest.bytes().await.unwrap(), "{}");
                let by_lane = lane
                    .send(
                        &endpoint,
                        &method,
                        Base::Configured,
                        "/chat/completions",
                        &headers,
                        body.clone(),
                    )
                    .await;
                let Ok(by_lane) = by_lane else {
                    panic!("the lane failed")
                };
                assert_eq!(by_lane.bytes().await.unwrap(), "{}");
                let seen = seen.lock().unwrap();
                let (reqwest_sent, lane_sent) = (&seen[seen.len() - 2], &seen[seen.len() - 1]);
                assert_eq!(
                    String::from_utf8_lossy(lane_sent),
                    String::from_utf8_lossy(reqwest_sent),
                    "{method}"
                );
            }
        }
    }

    #[tokio::test]
    async fn every_call_goes_to_its_own_url_whatever_was_called_before() {
        let (server, seen) = recording();
        let endpoint = server.endpoint();
        let lane = Lane::new(&endpoint);
        let origin = format!("http://127.0.0.1:{}", server.addr.port());
        // More distinct URLs than a lane remembers, then the first ones again, under both bases.
        let mut calls: Vec<(Base, String)> = (0..crate::lane::REMEMBERED_TARGETS + 2)
            .map(|n| (Base::Configured, format!("/files/f-{n}")))
            .collect();
        calls.push((Base::Configured, "/chat/completions".into()));
        calls.push((Base::Unversioned, "/v2/chat/completions".into()));
        calls.push((Base::Unversioned, "/chat/completions".into()));
        calls.push((Base::Configured, "/files/f-0".into()));
        calls.push((Base::Configured, "/chat/completions".into()));
        calls.push((Base::Unversioned, "/v2/chat/completions".into()));
        calls.push((Base::Configured, "/files/a b".into()));
        for (base, path) in &calls {
            let response = lane
                .send(
                    &endpoint,
                    &Method::GET,
                    *base,
                    path,
                    &headers(),
                    Bytes::new(),
                )
                .await;
            let Ok(response) = response else {
                panic!("the lane failed")
            };
            let expected = match base {
                Base::Configured => format!("/v1{}", path.replace(' ', "%20")),
                Base::Unversioned => path.clone(),
            };
            assert_eq!(response.url().as_str(), format!("{origin}{expected}"));
            assert_eq!(response.bytes().await.unwrap(), "{}");
            let request = seen.lock().unwrap().last().cloned().unwrap();
            let line = String::from_utf8_lossy(&request)
                .lines()
                .next()
                .unwrap()
                .to_owned();
            assert_eq!(line, format!("GET {expected} HTTP/1.1"));
        }
        assert_eq!(lane.targets.len(), crate::lane::REMEMBERED_TARGETS);
    }

    #[tokio::test]
    async fn content_length_answers_reuse_the_connection() {
        let server = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", false);
        let endpoint = server.endpoint();
        let lane = Lane::new(&endpoint);
        for _ in 0..3 {
            assert_eq!(text(&lane, &endpoint).await.unwrap(), "hello");
        }
        assert_eq!(server.accepted(), 1);
    }

    #[tokio::test]
    async fn an_empty_answer_frees_its_connection_unread() {
        let server = answering(b"HTTP/1.1 204 No Content\r\n\r\n", false);
        let endpoint = server.endpoint();
        let lane = Lane::new(&endpoint);
        for _ in 0..3 {
            let response = send(&lane, &endpoint, Method::POST).await.unwrap();
            assert_eq!(response.status(), 204);
            drop(response);
        }
        assert_eq!(server.accepted(), 1);
    }

    #[tokio::test]
    async fn chunked_answers_with_extensions_and_trailers_are_decoded() {
        let server = answering(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;name=value\r\nhel\r\n2 \r\nlo\r\n0\r\nx-trailer: 1\r\n\r\n",
            false,
        );
        let endpoint = server.endpoint();
        let lane = Lane::new(&endpoint);
        for _ in 0..2 {
            assert_eq!(text(&lane, &endpoint).await.unwrap(), "hello");
        }
        assert_eq!(server.accepted(), 1);
    }

    #[tokio::test]
    async fn an_answer_written_a_byte_at_a_time_arrives_whole() {
        let answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let server = Server::start(move |mut stream, _| {
            stream.set_nodelay(true).unwrap();
            while read_request(&mut stream).is_some() {
                for byte in answer {
                    stream.write_all(&[*byte]).unwrap();
                    std::thread::yield_now();
                }
            }
        });
        let endpoint = server.endpoint();
        let lane = Lane::new(&endpoint);
        assert_eq!(text(&lane, &endpoint).await.unwrap(), "hello world");
        assert_eq!(text(&lane, &endpoint).await.unwrap(), "hello world");
        assert_eq!(server.accepted(), 1);
    }

    #[tokio::test]
    async fn informational_answers_are_skipped() {
        let server = answering(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\nx-request-id: abc\r\n\r\nok",
            false,
        );
        let endpoint = server.endpoint();
        let lane = Lane::new(&endpoint);
        let response = send(&lane, &endpoint, Method::POST).await.unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["x-request-id"], "abc");
        assert_eq!(response.text().await.unwrap(), "ok");
    }

    #[tokio::test]
    async fn a_close_delimited_answer_ends_with_the_connection() {
        let server = answering(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", true);
        let endpoint = server.endpoint();
        let lane = Lane::new(&endpoint);
        assert_eq!(text(&lane, &endpoint).await.unwrap(), "until the end");
        assert_eq!(text(&lane, &endpoint).await.unwrap(), "until the end");
        assert_eq!(server.accepted(), 2);
    }

    #[tokio::test]
    async fn connection_close_and_http_1_0_are_honoured() {
        // The server would keep the connection, but said it would not: the lane opens a new one.
        let closing = answering(
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
            false,
        );
        let endpoint = closing.endpoint();
        let lane = Lane::new(&endpoint);
        for _ in 0..2 {
            assert_eq!(text(&lane, &endpoint).await.unwrap(), "ok");
        }
        assert_eq!(closing.accepted(), 2);

        let old = answering(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", false);
        let endpoint = old.endpoint();
        let lane = Lane::new(&endpoint);
        for _ in 0..2 {
            assert_eq!(text(&lane, &endpoint).await.unwrap(), "ok");
        }
        assert_eq!(old.accepted(), 2, "HTTP/1.0 without keep-alive");

        let kept = answering(
            b"HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\ncontent-length: 2\r\n\r\nok",
            false,
        );
        let endpoint = kept.endpoint();
        let lane = Lane::new(&endpoint);
        for _ in 0..2 {
            assert_eq!(text(&lane, &endpoint).await.unwrap(), "ok");
        }
        assert_eq!(kept.accepted(), 1, "HTTP/1.0 with keep-alive");
    }

    #[tokio::test]
    async fn a_server_closing_mid_body_is_an_error_not_a_short_body() {
        for answer in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello"[..],
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n"[..],
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel"[..],
        ] {
            let server = answering(answer, true);
            let endpoint = server.endpoint();
            let lane = Lane::new(&endpoint);
            let read = text(&lane, &endpoint).await;
            assert!(is_io(&read), "{read:?}");
        }
    }

    #[tokio::test]
    async fn a_malformed_answer_is_an_error() {
        for answer in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok"[..],
            &b"HTTP/1.1 200 OK\r\ncontent-length: -2\r\n\r\nok"[..],
            &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"[..],
            &b"SMTP ready\r\n\r\n"[..],
        ] {
            let server = answering(answer, true);
            let endpoint = server.endpoint();
            let lane = Lane::new(&endpoint);
            let read = text(&lane, &endpoint).await;
            assert!(is_io(&read), "{read:?}");
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_connection_the_server_closed_while_idle_is_not_used_again() {
        let server = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", false);
        let endpoint = server.endpoint();
        let lane = Lane::new(&endpoint);
        assert_eq!(text(&lane, &endpoint).await.unwrap(), "ok");
        server.close_and_wait_for_the_fin(0);
        assert_eq!(text(&lane, &endpoint).await.unwrap(), "ok");
        assert_eq!(server.accepted(), 2);
    }

    /// The pool's check at checkout missed the close (it happened between the checkout and the
    /// write): the check before writing still finds it, and the call, of which nothing left,
    /// goes out on a new connection, even a chat completion.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_call_given_to_a_connection_already_closed_goes_out_on_a_new_one() {
        let server = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", false);
        let endpoint = server.endpoint();
        let lane = Lane::new(&endpoint);
        assert_eq!(text(&lane, &endpoint).await.unwrap(), "ok");
        let tcp = lane.pool.take().unwrap();
        server.close_and_wait_for_the_fin(0);
        let head = endpoint.head(&Method::POST, "/v1/chat/completions", &headers(), 2);
        let Err(failed) = exchange(tcp, &head, b"{}", &Method::POST, false).await else {
            panic!("a call was written into a closed connection");
        };
        assert!(failed.unsent);
        assert_eq!(text(&lane, &endpoint).await.unwrap(), "ok");
    }

    /// The server read the call and closed the connection without answering: a chat completion is
    /// not sent again (it may have been processed), a GET is.
    #[tokio::test]
    async fn a_call_that_may_have_reached_the_server_is_sent_again_only_if_it_only_reads() {
        let server = Server::start(|mut stream, index| {
            if read_request(&mut stream).is_some() && index >= 2 {
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .unwrap();
            }
        });
        let endpoint = server.endpoint();
        let lane = Lane::new(&endpoint);
        let posted = text(&lane, &endpoint).await;
        assert!(is_io(&posted), "{posted:?}");
        assert_eq!(server.accepted(), 1, "not sent again");

        let listed = send(&lane, &endpoint, Method::GET).await.unwrap();
        assert_eq!(listed.text().await.unwrap(), "ok");
        assert_eq!(server.accepted(), 3, "sent again on a new connection");
    }

    #[tokio::test]
    async fn an_answer_dropped_before_its_end_closes_its_connection() {
        let server = Server::start(|mut stream, _| {
            if read_request(&mut stream).is_some() {
                stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n",
                    )
                    .unwrap();
                // The rest of the answer never comes; returns once the client has gone.
                let mut rest = [0; 1];
                let _ = stream.read(&mut rest);
            }
        });
        let endpoint = server.endpoint();
        let lane = Lane::new(&endpoint);
        let response = send(&lane, &endpoint, Method::POST).await.unwrap();
        let mut body = response.bytes_stream();
        assert_eq!(body.next().await.unwrap().unwrap(), "first");
        drop(body);
        assert!(lane.pool.idle.lock().unwrap().is_empty());
        let again = send(&lane, &endpoint, Method::POST).await.unwrap();
        drop(again);
        assert_eq!(server.accepted(), 2);
    }

    #[tokio::test]
    async fn a_slow_head_hits_the_callers_timeout_and_its_connection_is_dropped() {
        let server = Server::start(|mut stream, index| {
            while read_request(&mut stream).is_some() {
                if index == 0 {
                    // Never answers; returns when the client has gone.
                    let mut rest = [0; 1];
                    let _ = stream.read(&mut rest);
                    return;
                }
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .unwrap();
            }
        });
        let endpoint = server.endpoint();
        let lane = Lane::new(&endpoint);
        let slow = tokio::time::timeout(Duration::from_millis(200), text(&lane, &endpoint)).await;
        assert!(slow.is_err());
        assert_eq!(text(&lane, &endpoint).await.unwrap(), "ok");
        assert_eq!(server.accepted(), 2);
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_after_the_idle_timeout() {
        let closed = Arc::new(AtomicUsize::new(0));
        let seen = closed.clone();
        let server = Server::start(move |mut stream, _| {
            while read_request(&mut stream).is_some() {
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .unwrap();
            }
            seen.fetch_add(1, Ordering::SeqCst);
        });
        let endpoint = Endpoint::for_base_url(
            &format!("http://127.0.0.1:{}/v1", server.addr.port()),
            Duration::from_secs(5),
            Duration::from_millis(100),
            usize::MAX,
            "lane-test",
            false,
        )
        .unwrap();
        let lane = Lane::new(&endpoint);
        assert_eq!(text(&lane, &endpoint).await.unwrap(), "ok");
        assert_eq!(lane.pool.idle.lock().unwrap().len(), 1);
        // No call comes: the reaper closes it (the server sees the end of its connection).
        tokio::time::timeout(Duration::from_secs(20), async {
            while closed.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the idle connection was never closed");
        assert!(lane.pool.idle.lock().unwrap().is_empty());
        // And the next call opens a new one, and is kept again (a new reaper runs for it).
        assert_eq!(text(&lane, &endpoint).await.unwrap(), "ok");
        assert_eq!(server.accepted(), 2);
        assert!(lane.pool.reaping.load(std::sync::atomic::Ordering::Acquire));
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let endpoint = Endpoint::for_base_url(
            &format!("http://127.0.0.1:{port}/v1"),
            Duration::from_secs(5),
            Duration::from_secs(10),
            usize::MAX,
            "lane-test",
            false,
        )
        .unwrap();
        let lane = Lane::new(&endpoint);
        let refused = send(&lane, &endpoint, Method::POST).await;
        assert!(
            matches!(
                refused,
                Err(Error::Transport {
                    kind: TransportKind::Connect,
                    ..
                })
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn only_direct_http_hosts_get_a_lane() {
        let lane = |url: &str, proxied: bool| {
            Endpoint::for_base_url(
                url,
                Duration::from_secs(1),
                Duration::from_secs(1),
                1,
                "t",
                proxied,
            )
        };
        assert!(lane("http://127.0.0.1:8080/api/v1", false).is_some());
        assert!(lane("http://[::1]/v1", false).is_some());
        assert!(lane("https://gigachat.devices.sberbank.ru/api/v1", false).is_none());
        assert!(lane("http://127.0.0.1:8080/api/v1", true).is_none());
        assert!(lane("http://user:secret@127.0.0.1:8080/api/v1", false).is_none());
        let default_port = lane("http://example.test:80/v1", false).unwrap();
        assert_eq!(default_port.host_header, "example.test");
        assert_eq!(
            lane("http://[::1]:81/v1", false).unwrap().host_header,
            "[::1]:81"
        );
    }

    /// A chunked encoding of `chunks`, with an extension on each size line when `extensions`,
    /// and `trailers`.
    fn chunked(chunks: &[Vec<u8>], extensions: bool, trailers: &[String]) -> Vec<u8> {
        let mut encoded = Vec::new();
        for chunk in chunks.iter().filter(|chunk| !chunk.is_empty()) {
            encoded.extend_from_slice(format!("{:X}", chunk.len()).as_bytes());
            if extensions {
                encoded.extend_from_slice(b" ;name=\"va;lue\"");
            }
            encoded.extend_from_slice(b"\r\n");
            encoded.extend_from_slice(chunk);
            encoded.extend_from_slice(b"\r\n");
        }
        encoded.extend_from_slice(if extensions { b"0;last\r\n" } else { b"0\r\n" });
        for trailer in trailers {
            encoded.extend_from_slice(format!("x-{trailer}: {trailer}\r\n").as_bytes());
        }
        encoded.extend_from_slice(b"\r\n");
        encoded
    }

    /// Feeds `pieces` to a chunked decoder: the data, and how many bytes it took in all.
    fn decode_pieces(pieces: &[&[u8]]) -> (Vec<u8>, usize, bool) {
        let mut framing = Framing::Chunked(Chunked::default());
        let (mut out, mut used) = (Vec::new(), 0);
        for piece in pieces {
            if framing.is_done() {
                break;
            }
            used += framing.decode(piece, &mut out).unwrap();
        }
        (out, used, framing.is_done())
    }

    proptest! {
        /// However the bytes of a chunked body are split between reads, the decoder gives the
        /// same data, ends exactly at the body's end and leaves what follows it.
        #[test]
        fn chunked_bodies_decode_alike_at_every_split(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
            extensions in any::<bool>(),
            trailers in proptest::collection::vec("[a-z]{1,8}", 0..3),
            cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..6),
        ) {
            let encoded = chunked(&chunks, extensions, &trailers);
            let data: Vec<u8> = chunks.concat();
            let mut followed = encoded.clone();
            followed.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            // Every single cut.
            for cut in 0..=followed.len() {
                let (out, used, done) = decode_pieces(&[&followed[..cut], &followed[cut..]]);
                prop_assert_eq!(&out, &data);
                prop_assert!(done);
                prop_assert_eq!(used, encoded.len());
            }
            // Many cuts at once, down to single bytes.
            let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(followed.len() + 1)).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut from = 0;
            for cut in cuts {
                pieces.push(&followed[from..cut]);
                from = cut;
            }
            pieces.push(&followed[from..]);
            let (out, used, done) = decode_pieces(&pieces);
            prop_assert_eq!(&out, &data);
            prop_assert!(done);
            prop_assert_eq!(used, encoded.len());
            let bytes: Vec<&[u8]> = followed.chunks(1).collect();
            let (out, used, done) = decode_pieces(&bytes);
            prop_assert_eq!(&out, &data);
            prop_assert!(done);
            prop_assert_eq!(used, encoded.len());
        }

        /// A chunked body cut anywhere before its end is never complete.
        #[test]
        fn a_cut_chunked_body_never_ends(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..20), 1..4),
            cut in any::<proptest::sample::Index>(),
        ) {
            let encoded = chunked(&chunks, false, &[]);
            let cut = cut.index(encoded.len());
            let (_, _, done) = decode_pieces(&[&encoded[..cut]]);
            prop_assert!(!done);
        }
    }
}
