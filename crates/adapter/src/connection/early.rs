//! Answers the connection layer gives before any request exists (a connection refused for the cap,
//! a first head that is slow, too large or malformed, hyper's bare answer to a later head): each
//! passes the router's gate on a stand-in request, so it gets a request id, an access log line and
//! a count in `requests_total` like every answer of the router.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, Method, Request, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use tower::Service as _;

use super::MAX_HEADERS;
use crate::access::{Delivery, Exchange};
use crate::error::{AppError, Label};
use crate::server::AnthropicAnswer;

/// The method logged when the request line never arrived whole (a refused connection, a slow
/// or broken head): `-`, as common log formats write an unknown field.
const UNKNOWN_METHOD: &[u8] = b"-";

/// The mark on a stand-in request: the gate records it (no key is asked for) as the request that
/// ended with the error labelled `label`, begun at `arrived`, and answers with nothing of its own.
#[derive(Debug, Clone, Copy)]
pub struct EarlyAnswer {
    /// The [`AppError::label`] of the answer.
    pub label: &'static str,
    /// When the connection (or its head) arrived: the request's start in the log and metrics.
    pub arrived: Instant,
}

impl IntoResponse for EarlyAnswer {
    /// An empty response carrying the label, for the gate to stamp (the answer itself is the
    /// connection layer's: see [`render`]).
    fn into_response(self) -> Response {
        let mut response = Response::default();
        response.extensions_mut().insert(Label(self.label));
        response
    }
}

/// An early answer's access record: finished (logged and counted) when this goes, as written
/// whole if [`Record::written`] was called, else as cut short by the client.
pub(super) struct Record {
    exchange: Arc<Exchange>,
    delivery: Delivery,
}

impl Record {
    /// The whole answer reached the connection.
    pub(super) fn written(&mut self) {
        self.delivery.finished = true;
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        self.exchange.delivered(self.delivery);
    }
}

/// `error`'s answer to the request whose bytes so far are `head` (maybe none), as it goes out: the
/// bytes to write (the envelope with the gate's `x-request-id` and `openai-processing-ms`) and
/// the access record to finish once they are written. A router without the gate (the metrics
/// listener's) gives the bare answer and no record.
pub(super) fn render(
    router: &Router,
    error: AppError,
    head: &[u8],
    arrived: Instant,
) -> (Vec<u8>, Option<Record>) {
    let early = EarlyAnswer {
        label: error.label(),
        arrived,
    };
    let mut response = error.into_response();
    // The gate's early branch never waits, so its answer is ready at once.
    let stamped = router.clone().call(stand_in(head, early)).now_or_never();
    let exchange = match stamped {
        Some(Ok(mut stamped)) => {
            stamped
                .extensions_mut()
                .remove::<Arc<Exchange>>()
                .inspect(|exchange| {
                    if stamped.extensions().get::<AnthropicAnswer>().is_some() {
                        response = crate::error::for_anthropic(
                            std::mem::take(&mut response),
                            exchange.id(),
                        );
                    }
                    response.headers_mut().extend(stamped.headers().clone());
                })
        }
        Some(Err(infallible)) => match infallible {},
        None => None,
    };
    let status = response.status().as_u16();
    let bytes = super::head::encode(response);
    let record = exchange.map(|exchange| Record {
        exchange,
        delivery: Delivery {
            status,
            stream: false,
            bytes_out: super::head::body_length(&bytes),
            first_bytes: None,
            finished: false,
        },
    });
    (bytes, record)
}

/// The request the gate sees for an early answer: the method, path and `x-request-id` of `head`
/// when its request line (and, for the id, its headers) arrived whole; else `-` on `/`, which no
/// route serves (logged as route `other`).
fn stand_in(head: &[u8], early: EarlyAnswer) -> Request<Body> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let complete = matches!(parsed.parse(head), Ok(httparse::Status::Complete(_)));
    // The method and path are whole once the version after them was read.
    let request_line = parsed.version.is_some();
    let method = parsed
        .method
        .filter(|_| request_line)
        .and_then(|method| Method::from_bytes(method.as_bytes()).ok())
        .or_else(|| Method::from_bytes(UNKNOWN_METHOD).ok())
        .unwrap_or_default();
    let uri = parsed
        .path
        .filter(|path| request_line && path.starts_with('/'))
        .and_then(|path| path.parse::<Uri>().ok())
        .unwrap_or_else(|| Uri::from_static("/"));
    let mut request = Request::new(Body::empty());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    if complete {
        const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
        let id = parsed
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(REQUEST_ID.as_str()))
            .and_then(|header| axum::http::HeaderValue::from_bytes(header.value).ok());
        if let Some(id) = id {
            request.headers_mut().insert(REQUEST_ID, id);
        }
    }
    request.extensions_mut().insert(early);
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn early() -> EarlyAnswer {
        EarlyAnswer {
            label: "request_timeout",
            arrived: Instant::now(),
        }
    }

    /// A router without the gate (the metrics listener's) leaves the answer as it is, unrecorded.
    #[test]
    fn a_router_without_the_gate_gives_the_bare_answer() {
        let router = Router::new().route("/metrics", axum::routing::get(|| async { "" }));
        let (bytes, record) = render(
            &router,
            AppError::TooManyConnections(1),
            b"",
            Instant::now(),
        );
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
        assert!(!text.contains("x-request-id"), "{text}");
        assert!(text.contains("too_many_connections"), "{text}");
        assert!(record.is_none());
    }

    #[test]
    fn a_whole_request_line_and_head_are_kept() {
        let request = stand_in(
            b"POST /v1/chat/completions HTTP/1.1\r\nX-Request-Id: r-7\r\n\r\n",
            early(),
        );
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri().path(), "/v1/chat/completions");
        assert_eq!(request.headers()["x-request-id"], "r-7");
        assert!(request.extensions().get::<EarlyAnswer>().is_some());
    }

    #[test]
    fn a_partial_or_broken_head_names_nothing() {
        for head in [
            &b""[..],
            b"GET /v1/mod",
            b"GET /v1/models HTTP/1.1\r\nx-request-id: r-8\r\n",
            b"HELLO THERE\r\n\r\n",
        ] {
            let request = stand_in(head, early());
            let text = String::from_utf8_lossy(head);
            if head.ends_with(b"x-request-id: r-8\r\n") {
                assert_eq!(request.method(), Method::GET, "{text}");
                assert_eq!(request.uri().path(), "/v1/models", "{text}");
            } else {
                assert_eq!(request.method().as_str(), "-", "{text}");
                assert_eq!(request.uri().path(), "/", "{text}");
            }
            assert!(request.headers().get("x-request-id").is_none(), "{text}");
        }
    }
}
