//! The access policy of a key from `KEYS_FILE`: what it may use and how much.

use std::sync::Arc;

/// How much one key may use; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Requests started per minute.
    pub requests_per_minute: Option<u32>,
    /// GigaChat-reported tokens (prompt + completion) per minute.
    pub tokens_per_minute: Option<u64>,
    /// GigaChat-reported tokens per UTC day.
    pub tokens_per_day: Option<u64>,
    /// Requests in flight at once.
    pub concurrent: Option<u32>,
}

/// Who is calling: the key's name and its policy, put in the request's extensions by the gate.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's name (logs, metrics, limit buckets).
    pub name: Arc<str>,
    /// Its limits.
    pub limits: Limits,
    /// The account or pool it uses (`"default"` for `BEARER_TOKEN` keys).
    pub account: Arc<str>,
}

mod file;
pub mod reload;

pub use file::{Account, DEFAULT_ACCOUNT, Expiry, KeyPolicy, Policy, PolicyError, Pool, digest_of};
