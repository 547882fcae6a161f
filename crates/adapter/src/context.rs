//! Per-request ids: the response id, and the headers forwarded to GigaChat.
//!
//! Every id a client hands us for GigaChat (`X-Request-ID`, `X-Session-ID`, `X-Client-ID`, and
//! `user` as the session) leaves bounded by [`translate::header_id`]: at most 128 bytes of visible
//! ASCII, a longer id as its 72-byte digest. Unbounded, a few kilobytes of ids make GigaChat's
//! gateway answer 431 for a request that can never succeed.

use axum::http::HeaderMap;
use gigachat::RequestContext;

/// The request id we log, return as `x-request-id`, and forward upstream: the client's (bounded),
/// else a new UUIDv7. Decided once per request, by the router's gate (see [`crate::access`]).
pub fn request_id(headers: &HeaderMap) -> String {
    header(headers, "x-request-id")
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), translate::header_id)
}

/// A header's value, trimmed, when present and non-empty.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// What GigaChat receives as `X-Request-ID`, `X-Session-ID`, `X-Client-ID` and the W3C trace
/// context (see [`crate::traces::upstream`]) (`request_id` from
/// [`request_id`], `session_id` already bounded, see [`crate::incoming::RequestBody::session`]; the client id is bounded here, the same way every
/// time, so an image generated under a long client id is still downloadable under it).
pub fn upstream(
    headers: &HeaderMap,
    request_id: &str,
    session_id: Option<String>,
) -> RequestContext {
    let (traceparent, tracestate) = crate::traces::upstream(headers);
    RequestContext {
        request_id: Some(request_id.to_owned()),
        session_id,
        client_id: header(headers, "x-client-id").map(translate::header_id),
        traceparent,
        tracestate,
    }
}

/// `<prefix>-...` response ids (`chatcmpl-`, `cmpl-`), unique and sortable by time.
pub fn response_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// The session a body without one of its own sends: the header, bounded.
    fn session(headers: &HeaderMap) -> Option<String> {
        header(headers, "x-session-id").map(translate::header_id)
    }

    fn header_map(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn short_ids_pass_unchanged() {
        let headers = header_map(&[
            ("x-request-id", "req-42"),
            ("x-session-id", "conversation-7"),
            ("x-client-id", "open-webui"),
        ]);
        let id = request_id(&headers);
        assert_eq!(id, "req-42");
        let context = upstream(&headers, &id, session(&headers));
        assert_eq!(context.request_id.as_deref(), Some("req-42"));
        assert_eq!(context.session_id.as_deref(), Some("conversation-7"));
        assert_eq!(context.client_id.as_deref(), Some("open-webui"));
    }

    #[test]
    fn long_ids_leave_as_stable_digests() {
        let long = "r".repeat(16 * 1024);
        let headers = header_map(&[
            ("x-request-id", &long),
            ("x-session-id", &long),
            ("x-client-id", &long),
        ]);
        let id = request_id(&headers);
        let context = upstream(&headers, &id, session(&headers));
        for sent in [
            context.request_id.as_deref(),
            context.session_id.as_deref(),
            context.client_id.as_deref(),
        ] {
            let sent = sent.unwrap();
            assert!(sent.starts_with("%sha256-") && sent.len() == 72, "{sent}");
        }
        // The same client id gives the same value on every call (generated images stay downloadable).
        assert_eq!(upstream(&headers, &id, None).client_id, context.client_id);
        let other = header_map(&[("x-client-id", &"s".repeat(16 * 1024))]);
        assert_ne!(upstream(&other, &id, None).client_id, context.client_id);
    }

    #[test]
    fn the_request_id_is_the_bounded_one() {
        let long = "r".repeat(16 * 1024);
        let id = request_id(&header_map(&[("x-request-id", &long)]));
        assert_eq!(id.len(), 72);
        // Without a header, a fresh UUID.
        assert_eq!(request_id(&HeaderMap::new()).len(), 36);
    }
}
