//! The gateway's request-header limit: GigaChat's front answers 431 once a request's headers pass
//! about 16 KB (observed from ~15.5 KB of `X-Request-ID` plus the usual headers), before any API
//! code sees the request.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::wire::FromGateway;

/// Largest header list accepted, counted as HTTP/2 counts it (RFC 7540 §6.5.2): each field's name
/// and value plus 32 bytes; 16 KiB, the front's `SETTINGS_MAX_HEADER_LIST_SIZE`.
const MAX_HEADER_LIST_BYTES: usize = 16 * 1024;

/// The size of `headers` as HTTP/2's header-list limit counts it.
fn header_list_size(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

/// Middleware: an empty 431 from the gateway (no API id headers) for oversized headers, over
/// HTTP/1.1 as over HTTP/2.
pub(crate) async fn enforce(request: Request, next: Next) -> Response {
    if header_list_size(request.headers()) > MAX_HEADER_LIST_BYTES {
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
        response.extensions_mut().insert(FromGateway);
        return response;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn counts_names_values_and_per_field_overhead() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_static("abc"));
        headers.insert("accept", HeaderValue::from_static("*/*"));
        assert_eq!(header_list_size(&headers), (12 + 3 + 32) + (6 + 3 + 32));
    }
}
