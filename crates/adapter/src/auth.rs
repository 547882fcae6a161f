//! Client authentication: a key from `Authorization: Bearer`, `x-api-key` or `api-key`, compared
//! in constant time; health probes, docs and CORS preflights are on an explicit allow-list. Keys
//! have names (`name:key` in `BEARER_TOKEN`), which the access log shows instead of the key.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, Method};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Paths served without a key (and `/`, which the access log names `other` like the early
/// answers to heads without a path: Claude Code sends `HEAD /` before it starts).
pub const PUBLIC_PATHS: [&str; 6] = [
    "/health/live",
    "/health/ready",
    "/health/liveness",
    "/health/readiness",
    "/openapi.json",
    "/docs",
];

fn is_public(path: &str) -> bool {
    path == "/" || PUBLIC_PATHS.contains(&path) || path.starts_with("/docs/")
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

/// The accepted client keys, each with the name the access log shows instead of the key.
pub struct Keys {
    named: Vec<(Arc<str>, SecretString)>,
}

impl Keys {
    /// Keys from `BEARER_TOKEN` entries: `name:key` names a key (the name made of letters, digits,
    /// `.`, `_` and `-`, at most 64 of them); an entry without such a name is the key itself and is
    /// called `key-<position>` (1-based), so neither the key nor any part of it is ever logged.
    pub fn new(entries: Vec<SecretString>) -> Self {
        let named = entries
            .into_iter()
            .enumerate()
            .map(|(index, entry)| {
                let (name, key) = match split_name(entry.expose_secret()) {
                    Some((name, key)) => (name.to_owned(), SecretString::from(key.to_owned())),
                    None => {
                        if entry.expose_secret().contains(':') {
                            tracing::warn!(
                                position = index + 1,
                                "a BEARER_TOKEN entry has a `:` but no valid `name:` before it; \
                                 the whole entry is the key"
                            );
                        }
                        (format!("key-{}", index + 1), entry)
                    }
                };
                (Arc::from(name), key)
            })
            .collect();
        Self { named }
    }

    /// Whether no key is configured (unauthenticated access was allowed).
    pub fn is_empty(&self) -> bool {
        self.named.is_empty()
    }

    /// The keys' names, in configuration order.
    #[cfg(test)]
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.named.iter().map(|(name, _)| &**name)
    }

    /// The name of the key equal to `presented`; every key is compared, each in constant time.
    fn name_of(&self, presented: &str) -> Option<Arc<str>> {
        self.named.iter().fold(None, |found, (name, key)| {
            let equal = bool::from(key.expose_secret().as_bytes().ct_eq(presented.as_bytes()));
            if equal { Some(name.clone()) } else { found }
        })
    }
}

/// `name:key` split, when the entry has a valid name and a non-empty key.
fn split_name(entry: &str) -> Option<(&str, &str)> {
    let (name, key) = entry.split_once(':')?;
    (is_valid_name(name) && !key.trim().is_empty()).then(|| (name, key.trim()))
}

/// Whether `name` can name a key (or a `KEYS_FILE` account or pool): 1 to 64 letters, digits,
/// `.`, `_` and `-`, so it is safe in logs and metric labels.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// Who is calling, as the gate decides it.
pub enum Caller {
    /// The holder of the key with this name.
    Key(Arc<str>),
    /// No key is needed: none is configured, or a CORS preflight or public path.
    Open,
    /// No key or a wrong one.
    Refused,
}

/// Whether `request` may pass, and with which key: no key is configured, it is a CORS preflight
/// or a public path, or it presents one of the keys.
pub fn caller(keys: &Keys, request: &Request) -> Caller {
    if keys.is_empty() || request.method() == Method::OPTIONS || is_public(request.uri().path()) {
        return Caller::Open;
    }
    match presented_key(request.headers()).and_then(|presented| keys.name_of(presented)) {
        Some(name) => Caller::Key(name),
        None => Caller::Refused,
    }
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

    fn keys(entries: &[&str]) -> Keys {
        Keys::new(entries.iter().map(|e| SecretString::from(*e)).collect())
    }

    #[test]
    fn keys_are_named_in_configuration_or_by_position() {
        let keys = keys(&[
            "team-a:sk-aaa",
            "sk-bbb",
            "bad name:sk-ccc",
            "ops.bot_2: sk-ddd ",
        ]);
        let names: Vec<&str> = keys.names().collect();
        assert_eq!(names, ["team-a", "key-2", "key-3", "ops.bot_2"]);
        assert_eq!(keys.name_of("sk-aaa").as_deref(), Some("team-a"));
        assert_eq!(keys.name_of("sk-bbb").as_deref(), Some("key-2"));
        // An entry without a valid name is the key as a whole, `:` included.
        assert_eq!(keys.name_of("bad name:sk-ccc").as_deref(), Some("key-3"));
        assert_eq!(keys.name_of("sk-ddd").as_deref(), Some("ops.bot_2"));
        // The name alone is not the key.
        assert_eq!(keys.name_of("team-a:sk-aaa"), None);
        assert_eq!(keys.name_of("team-a"), None);
    }

    #[test]
    fn allow_list() {
        assert!(is_public("/health/ready"));
        assert!(is_public("/"));
        assert!(is_public("/docs/index.html"));
        assert!(!is_public("/v1/models"));
    }
}
