//! `POST /api/v2/oauth` (authorization key → token) and `POST /api/v1/token` (user/password → token).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::Serialize;
use tokio::time::Instant;

use super::{Identity, Scope};
use crate::state::AppState;
use crate::sync::lock;
use crate::wire::{self, ApiError};

/// A sliding one-second window limiting OAuth calls (production: 10 per second).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: u32,
    recent: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    /// A limiter admitting `per_second` calls per second; 0 admits everything.
    pub(crate) fn new(per_second: u32) -> Self {
        Self {
            per_second,
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// Records one call; false when it is over the limit.
    pub(crate) fn admit(&self) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let now = Instant::now();
        let mut recent = lock(&self.recent);
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            recent.pop_front();
        }
        if recent.len() >= self.per_second as usize {
            return false;
        }
        recent.push_back(now);
        true
    }
}

/// Decodes `Authorization: Basic <base64(a:b)>` into `(a, b)`; `None` if absent or undecodable.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = wire::header(headers, "authorization")?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, secret) = text.split_once(':')?;
    Some((user.to_owned(), secret.to_owned()))
}

/// The `scope` field of a form body, percent-decoded.
fn form_scope(body: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(key, _)| key == "scope")
        .map(|(_, value)| value.into_owned())
}

/// `POST /api/v2/oauth`: checks RqUID, the Basic key and the scope, then issues a token.
pub(crate) async fn oauth(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    #[derive(Serialize)]
    struct Token<'a> {
        access_token: &'a str,
        expires_at: u64,
    }
    if !state.oauth_limiter.admit() {
        return wire::oauth_error(StatusCode::TOO_MANY_REQUESTS, 429, "Too many requests");
    }
    if method != Method::POST {
        return wire::oauth_error(StatusCode::METHOD_NOT_ALLOWED, 405, "Method not allowed");
    }
    let rq_uid_ok = wire::header(&headers, "rquid")
        .is_some_and(|v| v.len() == 36 && uuid::Uuid::parse_str(v).is_ok());
    if !rq_uid_ok {
        return wire::oauth_error(
            StatusCode::BAD_REQUEST,
            2,
            "RqUID header is missing or is not a valid UUID",
        );
    }
    let Some((client_id, client_secret)) = basic_credentials(&headers) else {
        return wire::oauth_error(
            StatusCode::UNAUTHORIZED,
            4,
            "Can't decode 'Authorization' header",
        );
    };
    let Some(credential) = state
        .config
        .credentials
        .iter()
        .find(|c| c.client_id == client_id && c.client_secret == client_secret)
    else {
        return wire::oauth_error(
            StatusCode::UNAUTHORIZED,
            6,
            "credentials doesn't match db data",
        );
    };
    let requested = form_scope(&body).unwrap_or_default();
    if requested.is_empty() {
        return wire::oauth_error(StatusCode::BAD_REQUEST, 5, "scope is empty");
    }
    let Some(scope) = Scope::parse(&requested) else {
        return wire::oauth_error(StatusCode::BAD_REQUEST, 1, "scope data format invalid");
    };
    if requested != credential.scope {
        return wire::oauth_error(
            StatusCode::BAD_REQUEST,
            7,
            "scope from db not fully includes consumed scope",
        );
    }
    let identity = Identity {
        key: format!("key:{}", credential.client_id),
        scope,
    };
    let issued = state.tokens.issue(identity, state.config.token_ttl);
    let body = serde_json::to_vec(&Token {
        access_token: &issued.token,
        expires_at: issued.expires_at_ms,
    })
    .unwrap_or_default();
    wire::raw(StatusCode::OK, "application/json", body)
}

/// `POST /api/v1/token`: HTTP Basic user/password → `{"tok":…,"exp":<Unix seconds>}`.
pub(crate) async fn user_token(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> wire::ApiResult {
    #[derive(Serialize)]
    struct Token<'a> {
        tok: &'a str,
        exp: u64,
    }
    let (user, password) =
        basic_credentials(&headers).ok_or_else(|| ApiError::status(StatusCode::UNAUTHORIZED))?;
    if !state
        .config
        .users
        .iter()
        .any(|(u, p)| *u == user && *p == password)
    {
        return Err(ApiError::status(StatusCode::UNAUTHORIZED));
    }
    let identity = Identity {
        key: format!("user:{user}"),
        scope: Scope::Pers,
    };
    let issued = state.tokens.issue(identity, state.config.token_ttl);
    wire::ok(&Token {
        tok: &issued.token,
        exp: issued.expires_at_ms / 1000,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_admits_up_to_the_limit() {
        let limiter = RateLimiter::new(3);
        assert!(limiter.admit());
        assert!(limiter.admit());
        assert!(limiter.admit());
        assert!(!limiter.admit());
    }

    #[test]
    fn scope_is_read_from_the_form() {
        assert_eq!(
            form_scope(b"scope=GIGACHAT_API_PERS").as_deref(),
            Some("GIGACHAT_API_PERS")
        );
        assert_eq!(form_scope(b"other=1"), None);
    }
}
