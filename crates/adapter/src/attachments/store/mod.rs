//! Remembers which files were already uploaded to GigaChat, so each distinct file goes up once per upstream identity.
//!
//! A [`FileKey`] (SHA-256 of the bytes plus the upstream identity) maps to a [`StoredFile`] (the
//! GigaChat file id and its absolute expiry in Unix seconds). [`FileStore`] is the storage seam:
//! [`MemoryStore`] for one process, [`RedbStore`] for one host across restarts, [`RedisStore`] for
//! several replicas, and [`TieredStore`] to put memory in front of either persistent one.
//! [`Dedup`] sits on top: it looks a key up, runs the upload only on a miss, and makes concurrent
//! callers with the same key share that one upload. [`open_store`] builds the store the
//! configuration asks for.

mod dedup;
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

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use self::dedup::{Dedup, DedupError};
pub use self::memory::MemoryStore;
pub use self::redb::RedbStore;
pub use self::redis::RedisStore;
pub use self::tiered::TieredStore;

/// Prefix of every storage key; bump the version when the key or value format changes.
const KEY_PREFIX: &str = "gigachat-adapter:file:v1";

/// What identifies one uploaded file: SHA-256 of the bytes + the upstream identity (so tenants never share ids).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileKey {
    /// SHA-256 of the file's bytes.
    pub sha256: [u8; 32],
    /// The upstream identity the file was uploaded as (e.g. hex SHA-256 of "credentials|scope").
    pub identity: String,
}

impl FileKey {
    /// The key for `bytes` uploaded as `identity`.
    pub fn new(bytes: &[u8], identity: &str) -> Self {
        Self {
            sha256: Sha256::digest(bytes).into(),
            identity: identity.to_owned(),
        }
    }

    /// The file's SHA-256 as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }

    /// The key in persistent stores: `gigachat-adapter:file:v1:<identity>:<hex sha>`.
    pub fn storage_key(&self) -> String {
        format!("{KEY_PREFIX}:{}:{}", self.identity, self.sha256_hex())
    }
}

/// A file GigaChat already has: its id and when that id stops being usable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// The id GigaChat returned from `POST /files`.
    pub file_id: String,
    /// When the entry expires, in Unix seconds; from then on stores treat it as absent.
    pub expires_at: i64,
    /// The `purpose` a Files API upload was given (entries of [`crate::attachments::purposes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// When the file itself expires (a Files API upload's `expires_after`), in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_expires_at: Option<i64>,
}

impl StoredFile {
    /// An entry for `file_id` that expires `ttl` from now.
    pub fn new(file_id: impl Into<String>, ttl: Duration) -> Self {
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        Self {
            file_id: file_id.into(),
            expires_at: unix_now().saturating_add(ttl),
            purpose: None,
            file_expires_at: None,
        }
    }

    /// The same entry, carrying `purpose`.
    pub fn with_purpose(self, purpose: &str) -> Self {
        Self {
            purpose: Some(purpose.to_owned()),
            ..self
        }
    }

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
    #[error("embedded file store: {0}")]
    Redb(#[from] ::redb::Error),
    /// Redis failed or could not be reached.
    #[error("redis file store: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// A filesystem operation failed (e.g. creating the data directory).
    #[error("file store I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A stored value is not a valid entry.
    #[error("file store entry is malformed: {0}")]
    Codec(#[from] serde_json::Error),
    /// A blocking store task did not complete.
    #[error("file store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The future a [`FileStore`] method returns (boxed so the trait stays object-safe).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where uploaded file ids are remembered; used as `Arc<dyn FileStore>`.
pub trait FileStore: Send + Sync {
    /// The live entry for `key`; expired entries count as absent.
    fn get<'a>(&'a self, key: &'a FileKey) -> StoreFuture<'a, Option<StoredFile>>;
    /// Remembers `file` under `key` until `file.expires_at` (an already expired `file` removes the key).
    fn put<'a>(&'a self, key: &'a FileKey, file: &'a StoredFile) -> StoreFuture<'a, ()>;
    /// Forgets `key` (no error if it is absent).
    fn remove<'a>(&'a self, key: &'a FileKey) -> StoreFuture<'a, ()>;
}

/// What [`open_store`] needs.
#[derive(Clone)]
pub struct StoreConfig {
    /// Redis to share entries between replicas (`redis://…`); `None` keeps them in a local file.
    pub redis_url: Option<String>,
    /// Directory for the local database (`files.redb`), created if missing.
    pub data_dir: PathBuf,
    /// How many entries the in-memory tier holds.
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

/// The store `config` asks for: memory in front of Redis when `redis_url` is set, else memory in
/// front of `<data_dir>/files.redb`.
///
/// An unreachable Redis is not an error here (it is logged): the adapter still starts, lookups
/// miss and files are uploaded until Redis is back. A malformed URL is an error.
pub async fn open_store(config: &StoreConfig) -> Result<Arc<dyn FileStore>, StoreError> {
    let memory = MemoryStore::new(config.memory_capacity);
    let persistent: Arc<dyn FileStore> = match config.redis_url.as_deref() {
        Some(url) => {
            let redis = RedisStore::open(url)?;
            if let Err(error) = redis.ping().await {
                tracing::warn!(%error, "redis file store is unreachable for now; files will be re-uploaded until it is back");
            }
            Arc::new(redis)
        }
        None => Arc::new(RedbStore::open(&config.data_dir).await?),
    };
    Ok(Arc::new(TieredStore::new(memory, persistent)))
}

/// The current Unix time in seconds (wall clock: entries must survive restarts).
pub use crate::context::unix_now;

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_key_has_identity_and_hex_sha() {
        let key = FileKey::new(b"abc", "tenant");
        assert_eq!(
            key.storage_key(),
            "gigachat-adapter:file:v1:tenant:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn entries_without_a_purpose_still_decode() {
        let old: StoredFile = serde_json::from_str(r#"{"file_id":"f","expires_at":100}"#).unwrap();
        assert_eq!(old.purpose, None);
        let with = StoredFile::new("f", Duration::from_secs(60)).with_purpose("batch");
        let encoded = serde_json::to_string(&with).unwrap();
        assert_eq!(serde_json::from_str::<StoredFile>(&encoded).unwrap(), with);
        let without =
            serde_json::to_string(&StoredFile::new("f", Duration::from_secs(60))).unwrap();
        assert!(!without.contains("purpose"), "{without}");
    }

    #[test]
    fn remaining_time() {
        let file = StoredFile {
            file_id: "f".into(),
            expires_at: 100,
            purpose: None,
            file_expires_at: None,
        };
        assert_eq!(file.remaining_at(40), Some(Duration::from_secs(60)));
        assert_eq!(file.remaining_at(100), None);
        assert_eq!(file.remaining_at(i64::MIN), None);
        assert!(file.is_expired_at(100));
        assert!(!file.is_expired_at(99));
    }
}
