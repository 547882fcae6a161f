//! The first request head of a connection, read and checked before hyper sees it, so that a
//! malformed, oversized or slow head is answered with the OpenAI error envelope (hyper answers
//! those with an empty body); hyper's bare answers to later heads, given the envelope; and the raw
//! HTTP/1.1 error responses written on such a connection.

use std::time::Duration;

use axum::Router;
use axum::response::Response;
use bytes::BytesMut;
use futures_util::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{ConnectionLimits, MAX_HEADERS};
use crate::error::AppError;

/// What an HTTP/2 connection with prior knowledge starts with; passed through to hyper.
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long writing an error answer may take.
const ANSWER_WRITE_LIMIT: Duration = Duration::from_secs(5);

/// How long the rest of a rejected request is read and dropped after the answer, so closing does
/// not reset the connection (which can destroy the answer before the client reads it).
pub const REJECTION_LINGER: Duration = Duration::from_secs(2);

/// Why a connection ends before hyper serves it.
#[derive(Debug)]
pub enum Rejection {
    /// Close without a word: the client went away, or sent nothing at all in time.
    Close,
    /// Answer with this error, then close.
    Answer(AppError),
}

/// Reads into `read` until the first request head is complete (or the HTTP/2 preface arrived),
/// the bytes to be replayed to hyper; rejects a head that is malformed, too large, or not complete
/// by `deadline` (`read` then holds what arrived of it).
pub async fn read_first(
    tcp: &mut TcpStream,
    limits: &ConnectionLimits,
    deadline: Instant,
    read: &mut BytesMut,
) -> Result<(), Rejection> {
    loop {
        if read.capacity() - read.len() < 1024 {
            read.reserve(4096);
        }
        match tokio::time::timeout_at(deadline, tcp.read_buf(read)).await {
            Err(_elapsed) if read.is_empty() => return Err(Rejection::Close),
            Err(_elapsed) => {
                return Err(Rejection::Answer(AppError::RequestTimeout(format!(
                    "The request headers did not arrive within {} s.",
                    limits.header_read_timeout.as_secs()
                ))));
            }
            Ok(Ok(0) | Err(_)) => return Err(Rejection::Close),
            Ok(Ok(_)) => {}
        }
        if inspect(read, limits.max_header_bytes)? {
            return Ok(());
        }
    }
}

/// Whether a connection's first bytes are the HTTP/2 preface.
pub fn is_http2(read: &[u8]) -> bool {
    read.starts_with(HTTP2_PREFACE)
}

/// Whether `read` holds a whole acceptable head (or the HTTP/2 preface); `false` when more bytes
/// are needed; the error answer when the head cannot be served.
fn inspect(read: &[u8], max_header_bytes: usize) -> Result<bool, Rejection> {
    let preface_len = read.len().min(HTTP2_PREFACE.len());
    if read[..preface_len] == HTTP2_PREFACE[..preface_len] {
        return Ok(preface_len == HTTP2_PREFACE.len());
    }
    let too_large = || {
        Rejection::Answer(AppError::HeadersTooLarge(format!(
            "The request line and headers are larger than the adapter's limit of {max_header_bytes} bytes."
        )))
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(read) {
        Ok(httparse::Status::Complete(length)) if length > max_header_bytes => Err(too_large()),
        Ok(httparse::Status::Complete(_)) => framing(&request).map(|()| true),
        Ok(httparse::Status::Partial) if read.len() > max_header_bytes => Err(too_large()),
        Ok(httparse::Status::Partial) => Ok(false),
        Err(httparse::Error::TooManyHeaders) => Err(Rejection::Answer(AppError::HeadersTooLarge(
            format!("The request has more than {MAX_HEADERS} headers."),
        ))),
        Err(err) => Err(malformed(format!(
            "The request is not valid HTTP/1.1 ({err})."
        ))),
    }
}

/// A 400 naming what is wrong with the request's HTTP.
fn malformed(message: String) -> Rejection {
    Rejection::Answer(AppError::InvalidRequest {
        message,
        param: None,
    })
}

/// Rejects heads whose body length is ambiguous (the ground of request smuggling): more than one
/// `Content-Length`, a non-numeric one, one beside `Transfer-Encoding`, or a `Transfer-Encoding`
/// that does not end in `chunked` or comes with HTTP/1.0.
fn framing(request: &httparse::Request<'_, '_>) -> Result<(), Rejection> {
    let mut lengths = request
        .headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case("content-length"));
    let length = lengths.next();
    if lengths.next().is_some() {
        return Err(malformed(
            "The request has more than one Content-Length header.".into(),
        ));
    }
    if let Some(length) = length
        && (length.value.is_empty() || !length.value.iter().all(u8::is_ascii_digit))
    {
        return Err(malformed(
            "The request's Content-Length is not a number.".into(),
        ));
    }
    let encoding = request
        .headers
        .iter()
        .rfind(|header| header.name.eq_ignore_ascii_case("transfer-encoding"));
    let Some(encoding) = encoding else {
        return Ok(());
    };
    if length.is_some() {
        return Err(malformed(
            "The request has both Content-Length and Transfer-Encoding.".into(),
        ));
    }
    if request.version == Some(0) {
        return Err(malformed(
            "HTTP/1.0 requests cannot use Transfer-Encoding.".into(),
        ));
    }
    let last = encoding.value.rsplit(|byte| *byte == b',').next();
    if !last.is_some_and(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked")) {
        return Err(malformed(
            "The request's Transfer-Encoding does not end in chunked.".into(),
        ));
    }
    Ok(())
}

/// Writes `error` as an HTTP/1.1 response with the OpenAI envelope and `connection: close`,
/// stamped, logged and counted by `router`'s gate as the answer to `head` (the bytes read so far),
/// which arrived at `arrived`; then reads and drops what the client still sends for up to `linger`,
/// and closes.
pub async fn answer(
    tcp: &mut TcpStream,
    router: &Router,
    error: AppError,
    head: &[u8],
    arrived: std::time::Instant,
    linger: Duration,
) {
    let (response, mut record) = super::early::render(router, error, head, arrived);
    if tokio::time::timeout(ANSWER_WRITE_LIMIT, tcp.write_all(&response))
        .await
        .is_err()
    {
        return;
    }
    if let Some(record) = record.as_mut() {
        record.written();
    }
    drop(record);
    let _ = tcp.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(linger, async {
        while let Ok(1..) = tcp.read(&mut sink).await {}
    })
    .await;
}

/// The error to answer in place of hyper's own answer to a later head on a kept-alive connection
/// that it could not parse (the first head is checked by [`read_first`]): hyper writes such an
/// answer as a bare status line with `content-length: 0` and then closes. `written` is what hyper
/// is writing while no request is in flight; `None` unless it is such an answer. The router never
/// answers an error with an empty body, so a response of the router is never taken for one.
pub fn bare_rejection(written: &[u8]) -> Option<AppError> {
    let status = written.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let status: u16 = std::str::from_utf8(status).ok()?.parse().ok()?;
    let head_length = written.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let empty = written[..head_length]
        .split(|byte| *byte == b'\n')
        .any(|line| line.trim_ascii().eq_ignore_ascii_case(b"content-length: 0"));
    if !(400..600).contains(&status) || head_length != written.len() || !empty {
        return None;
    }
    let error = match status {
        414 | 431 => AppError::HeadersTooLarge(
            "The request line or headers are larger than the adapter accepts.".into(),
        ),
        _ => AppError::InvalidRequest {
            message: "The request is not valid HTTP/1.1.".into(),
            param: None,
        },
    };
    Some(error)
}

/// The bytes of `response` (an error's: status, headers and envelope as the router sends them),
/// with `content-length` and `connection: close`.
pub fn encode(response: Response) -> Vec<u8> {
    let (parts, body) = response.into_parts();
    // The envelope is a complete in-memory body: it is ready at once.
    let body = axum::body::to_bytes(body, usize::MAX)
        .now_or_never()
        .and_then(Result::ok)
        .unwrap_or_default();
    let status = parts.status;
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .as_bytes(),
    );
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    out
}

/// The body length of a response [`encode`] wrote.
pub fn body_length(encoded: &[u8]) -> u64 {
    let head = encoded
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map_or(encoded.len(), |end| end + 4);
    (encoded.len() - head) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    fn verdict(head: &str) -> Result<bool, Rejection> {
        inspect(head.as_bytes(), 8192)
    }

    fn status(head: &str) -> u16 {
        match verdict(head) {
            Err(Rejection::Answer(error)) => error.into_response().status().as_u16(),
            other => panic!("{head:?}: {other:?}"),
        }
    }

    #[test]
    fn complete_heads_pass_and_partial_ones_wait() {
        assert!(verdict("GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap());
        assert!(!verdict("GET / HTTP/1.1\r\nhost:").unwrap());
        assert!(verdict("POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n").unwrap());
        assert!(!verdict("PRI * HTTP/2.0\r\n").unwrap());
        assert!(verdict("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0").unwrap());
    }

    #[test]
    fn ambiguous_or_broken_heads_get_the_right_status() {
        assert_eq!(status("GARBAGE\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nx: a\x01b\r\n\r\n"), 400);
        assert_eq!(
            status("POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\n"),
            400
        );
        assert_eq!(status("POST / HTTP/1.1\r\ncontent-length: -1\r\n\r\n"), 400);
        assert_eq!(
            status("POST / HTTP/1.1\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\ntransfer-encoding: chunked, gzip\r\n\r\n"),
            400
        );
        assert_eq!(
            status("POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n"),
            400
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("h{i}: v\r\n")).collect();
        assert_eq!(status(&format!("GET / HTTP/1.1\r\n{many}\r\n")), 431);
        let long = "a".repeat(9000);
        assert_eq!(status(&format!("GET / HTTP/1.1\r\nx: {long}")), 431);
    }

    /// hyper's bare answers get the envelope; the router's own answers (with a body) and partial
    /// writes are left alone.
    #[test]
    fn bare_rejections_get_the_envelope_and_nothing_else_does() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Sun, 06 Dec 2026 06:00:00 GMT\r\n\r\n";
        let error = bare_rejection(bare).unwrap();
        assert_eq!(error.into_response().status(), 400);
        let large = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        let error = bare_rejection(large).unwrap();
        assert_eq!(error.label(), "headers_too_large");
        for other in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 57\r\n\r\n{\"error\":{}}"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"data: {}\n\n",
        ] {
            assert!(bare_rejection(other).is_none());
        }
    }

    #[test]
    fn answers_carry_the_envelope_and_close() {
        let encoded = encode(AppError::HeadersTooLarge("big".into()).into_response());
        let text = String::from_utf8(encoded.clone()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(body_length(&encoded), body.len() as u64);
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("connection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let envelope: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(envelope["error"]["code"], "request_headers_too_large");
    }
}
