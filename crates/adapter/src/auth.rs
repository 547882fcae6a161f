//! Client authentication: a key from `Authorization: Bearer`, `x-api-key` or `api-key`, compared
//! in constant time; health probes, docs and CORS preflights are on an explicit allow-list.

use axum::extract::Request;
use axum::http::{HeaderMap, Method};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::state::AppState;

/// Paths served without a key.
const PUBLIC_PATHS: [&str; 6] = [
    "/health/live",
    "/health/ready",
    "/health/liveness",
    "/health/readiness",
    "/openapi.json",
    "/docs",
];

fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path) || path.starts_with("/docs/")
}

/// The key the client presented, from any of the three accepted headers.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        if let Some((scheme, key)) = value.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            return Some(key.trim());
        }
    }
    ["x-api-key", "api-key"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// Whether `request` may pass: no key is configured, it is a CORS preflight or a public path, or
/// it presents one of the keys.
pub fn admits(state: &AppState, request: &Request) -> bool {
    let keys = state.keys();
    if keys.is_empty() || request.method() == Method::OPTIONS || is_public(request.uri().path()) {
        return true;
    }
    presented_key(request.headers()).is_some_and(|presented| {
        keys.iter().fold(false, |found, key| {
            found | bool::from(key.expose_secret().as_bytes().ct_eq(presented.as_bytes()))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn key_from_each_header() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer  k1 "));
        assert_eq!(presented_key(&headers), Some("k1"));
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static("k2"));
        assert_eq!(presented_key(&headers), Some("k2"));
        let mut headers = HeaderMap::new();
        headers.insert("api-key", HeaderValue::from_static("k3"));
        assert_eq!(presented_key(&headers), Some("k3"));
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Basic xyz"));
        assert_eq!(presented_key(&headers), None);
    }

    #[test]
    fn allow_list() {
        assert!(is_public("/health/ready"));
        assert!(is_public("/docs/index.html"));
        assert!(!is_public("/v1/models"));
    }
}
