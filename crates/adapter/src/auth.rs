//! Client authentication: a key from `Authorization: Bearer`, `x-api-key` or `api-key`, either one
//! of `BEARER_TOKEN` (compared in constant time) or one of `KEYS_FILE` (found by its SHA-256
//! digest, see [`crate::policy`]); health probes, docs and CORS preflights are on an explicit
//! allow-list, and `/admin/keys` takes `ADMIN_TOKEN` instead of a client key. Keys have names
//! (`name:key` in `BEARER_TOKEN`, `name` in the file), which logs and metrics show instead of the key.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::Request;
use axum::http::{HeaderMap, Method};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::policy::reload::PolicyFile;
use crate::policy::{Caller, DEFAULT_ACCOUNT, KeyPolicy, Limits};

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

/// The admin route listing the keys: `ADMIN_TOKEN` opens it, client keys do not.
pub const ADMIN_KEYS_PATH: &str = "/admin/keys";

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

/// The accepted client keys (`BEARER_TOKEN`'s and `KEYS_FILE`'s), and the admin token.
pub struct Keys {
    /// `BEARER_TOKEN` keys: unlimited, on the default account.
    named: Vec<(Caller, SecretString)>,
    file: Option<Arc<PolicyFile>>,
    admin: Option<SecretString>,
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
                let caller = Caller {
                    name: Arc::from(name),
                    limits: Limits::default(),
                    account: Arc::from(DEFAULT_ACCOUNT),
                };
                (caller, key)
            })
            .collect();
        Self {
            named,
            file: None,
            admin: None,
        }
    }

    /// Also accepts the keys of `file` (read again as it changes).
    pub fn with_file(mut self, file: Arc<PolicyFile>) -> Self {
        self.file = Some(file);
        self
    }

    /// Opens [`ADMIN_KEYS_PATH`] to `token` (`ADMIN_TOKEN`); without one, that route is not served.
    pub fn with_admin_token(mut self, token: SecretString) -> Self {
        self.admin = Some(token);
        self
    }

    /// Whether no key is configured (unauthenticated access was allowed).
    pub fn is_empty(&self) -> bool {
        self.named.is_empty() && self.file.is_none()
    }

    /// The `BEARER_TOKEN` keys' names, in configuration order.
    pub fn names(&self) -> impl Iterator<Item = &Arc<str>> {
        self.named.iter().map(|(caller, _)| &caller.name)
    }

    /// The keys file, when `KEYS_FILE` is set.
    pub fn file(&self) -> Option<&Arc<PolicyFile>> {
        self.file.as_ref()
    }

    /// Whether `ADMIN_TOKEN` is set (the admin route is served).
    pub fn admin_enabled(&self) -> bool {
        self.admin.is_some()
    }

    /// The `BEARER_TOKEN` key equal to `presented`; every key is compared, each in constant time.
    fn bearer_caller(&self, presented: &str) -> Option<&Caller> {
        self.named.iter().fold(None, |found, (caller, key)| {
            let equal = bool::from(key.expose_secret().as_bytes().ct_eq(presented.as_bytes()));
            if equal { Some(caller) } else { found }
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

/// What the gate decides about a request.
pub enum Admission {
    /// The holder of a key: its [`Caller`], and its file policy (none for `BEARER_TOKEN` keys).
    Key(Caller, Option<Arc<KeyPolicy>>),
    /// No key is needed: none is configured, or a CORS preflight or public path, or the admin
    /// route when `ADMIN_TOKEN` is not set (it answers 404).
    Open,
    /// The admin route, with `ADMIN_TOKEN`.
    Admin,
    /// A key of the file that has expired.
    Expired(Arc<KeyPolicy>),
    /// No key or a wrong one.
    Refused,
}

impl Admission {
    /// Leaves what handlers read in a request's `extensions`: a key's [`Caller`] and its file
    /// policy (`Arc<KeyPolicy>`, for the model check), or the [`AdminCaller`] mark.
    pub fn into_extensions(self, extensions: &mut axum::http::Extensions) {
        match self {
            Admission::Key(caller, policy) => {
                extensions.insert(caller);
                if let Some(policy) = policy {
                    extensions.insert(policy);
                }
            }
            Admission::Admin => {
                extensions.insert(AdminCaller);
            }
            Admission::Open | Admission::Expired(_) | Admission::Refused => {}
        }
    }
}

/// The mark the gate leaves on a request admitted with `ADMIN_TOKEN`.
#[derive(Debug, Clone, Copy)]
pub struct AdminCaller;

/// Whether `request` may pass, and as whom: no key is configured, it is a CORS preflight or a
/// public path, it presents a client key (a `BEARER_TOKEN` one, else the file's key with that
/// secret's digest), or it is the admin route with `ADMIN_TOKEN`.
pub fn admit(keys: &Keys, request: &Request) -> Admission {
    let path = request.uri().path();
    if request.method() == Method::OPTIONS || is_public(path) {
        return Admission::Open;
    }
    let presented = presented_key(request.headers());
    if path == ADMIN_KEYS_PATH {
        return match (&keys.admin, presented) {
            (None, _) => Admission::Open,
            (Some(token), Some(presented))
                if bool::from(token.expose_secret().as_bytes().ct_eq(presented.as_bytes())) =>
            {
                Admission::Admin
            }
            (Some(_), _) => Admission::Refused,
        };
    }
    if keys.is_empty() {
        return Admission::Open;
    }
    let Some(presented) = presented else {
        return Admission::Refused;
    };
    if let Some(caller) = keys.bearer_caller(presented) {
        return Admission::Key(caller.clone(), None);
    }
    let Some(key) = keys
        .file
        .as_ref()
        .and_then(|file| file.current().key(presented).cloned())
    else {
        return Admission::Refused;
    };
    if key.expired(SystemTime::now()) {
        Admission::Expired(key)
    } else {
        Admission::Key(key.caller.clone(), Some(key))
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
        let names: Vec<&str> = keys.names().map(|name| &**name).collect();
        assert_eq!(names, ["team-a", "key-2", "key-3", "ops.bot_2"]);
        let name_of = |presented| keys.bearer_caller(presented).map(|caller| &*caller.name);
        assert_eq!(name_of("sk-aaa"), Some("team-a"));
        assert_eq!(name_of("sk-bbb"), Some("key-2"));
        // An entry without a valid name is the key as a whole, `:` included.
        assert_eq!(name_of("bad name:sk-ccc"), Some("key-3"));
        assert_eq!(name_of("sk-ddd"), Some("ops.bot_2"));
        // The name alone is not the key.
        assert_eq!(name_of("team-a:sk-aaa"), None);
        assert_eq!(name_of("team-a"), None);
        // BEARER_TOKEN keys are unlimited, on the default account.
        let caller = keys.bearer_caller("sk-aaa").unwrap();
        assert_eq!(caller.limits, Limits::default());
        assert_eq!(&*caller.account, DEFAULT_ACCOUNT);
    }

    #[test]
    fn allow_list() {
        assert!(is_public("/health/ready"));
        assert!(is_public("/"));
        assert!(is_public("/docs/index.html"));
        assert!(!is_public("/v1/models"));
    }
}
