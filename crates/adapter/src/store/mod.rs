//! Byte values with an expiry under string keys: the storage every remembered thing shares (file ids, stored responses).
//!
//! [`KvStore`] is the seam: [`MemoryStore`] for one process, [`RedbStore`] for one host across
//! restarts (`<DATA_DIR>/files.redb`), [`RedisStore`] for several replicas, and [`TieredStore`] to
//! put memory in front of either persistent one. Typed stores sit on top and encode their values
//! (the file-id store in [`crate::attachments::store`], stored Responses in
//! [`crate::responses_store`]). [`open_persistent`] opens the persistent store the configuration
//! asks for, once per process (a redb file can be open only once).

mod memory;
mod redb;
mod redis;
mod tiered;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use self::memory::MemoryStore;
pub use self::redb::{FLUSH_INTERVAL, RedbStore};
pub use self::redis::RedisStore;
pub use self::tiered::TieredStore;

/// The current Unix time in seconds (wall clock: entries must survive restarts).
pub use crate::context::unix_now;

/// The Unix time `ttl` from now, in seconds (saturating: a huge `ttl` is "never").
pub fn expires_in(ttl: Duration) -> i64 {
    unix_now().saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX))
}

/// A stored value and when it stops being there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The value's bytes, as the typed store above encoded them.
    pub value: Bytes,
    /// When the entry expires, in Unix seconds; from then on stores treat it as absent.
    pub expires_at: i64,
}

impl Entry {
    /// Whether the entry has expired at Unix time `now`.
    pub fn is_expired_at(&self, now: i64) -> bool {
        self.expires_at <= now
    }

    /// Whether the entry has expired by now.
    pub fn is_expired(&self) -> bool {
        self.is_expired_at(unix_now())
    }

    /// How long the entry has left from Unix time `now`; `None` once it has expired.
    pub fn remaining_at(&self, now: i64) -> Option<Duration> {
        let secs = self.expires_at.checked_sub(now)?;
        u64::try_from(secs)
            .ok()
            .filter(|secs| *secs > 0)
            .map(Duration::from_secs)
    }
}

/// Why a store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded database failed.
    #[error("embedded store: {0}")]
    Redb(#[from] ::redb::Error),
    /// Redis failed or could not be reached.
    #[error("redis store: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// A filesystem operation failed (e.g. creating the data directory).
    #[error("store I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A stored value is not a valid entry.
    #[error("store entry is malformed: {0}")]
    Codec(#[from] serde_json::Error),
    /// A blocking store task did not complete.
    #[error("store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The future a store method returns (boxed so the traits stay object-safe).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where entries are kept; used as `Arc<dyn KvStore>`.
pub trait KvStore: Send + Sync {
    /// The live entry under `key`; expired entries count as absent.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Entry>>;
    /// Keeps `entry` under `key` until `entry.expires_at` (an already expired `entry` removes the key).
    fn put<'a>(&'a self, key: &'a str, entry: &'a Entry) -> StoreFuture<'a, ()>;
    /// Forgets `key` (no error if it is absent).
    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
}

/// Where [`open_persistent`] keeps entries.
#[derive(Clone)]
pub struct StoreConfig {
    /// Redis to share entries between replicas (`redis://…`); `None` keeps them in a local file.
    pub redis_url: Option<String>,
    /// Directory for the local database (`files.redb`), created if missing.
    pub data_dir: PathBuf,
    /// How many entries the in-memory tier of the file-id store holds.
    pub memory_capacity: u64,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The Redis URL may carry a password.
        f.debug_struct("StoreConfig")
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<set>"))
            .field("data_dir", &self.data_dir)
            .field("memory_capacity", &self.memory_capacity)
            .finish()
    }
}

/// The persistent store `config` asks for: Redis when `redis_url` is set, else
/// `<data_dir>/files.redb`.
///
/// An unreachable Redis is not an error here (it is logged): the adapter still starts, and reads
/// and writes fail until Redis is back. A malformed URL is an error.
pub async fn open_persistent(config: &StoreConfig) -> Result<Arc<dyn KvStore>, StoreError> {
    Ok(match config.redis_url.as_deref() {
        Some(url) => {
            let redis = RedisStore::open(url)?;
            if let Err(error) = redis.ping().await {
                tracing::warn!(%error, "redis store is unreachable for now; what it keeps is missed until it is back");
            }
            Arc::new(redis)
        }
        None => Arc::new(RedbStore::open(&config.data_dir).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_time() {
        let entry = Entry {
            value: Bytes::from_static(b"v"),
            expires_at: 100,
        };
        assert_eq!(entry.remaining_at(40), Some(Duration::from_secs(60)));
        assert_eq!(entry.remaining_at(100), None);
        assert_eq!(entry.remaining_at(i64::MIN), None);
        assert!(entry.is_expired_at(100));
        assert!(!entry.is_expired_at(99));
    }
}
