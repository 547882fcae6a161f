//! Remembers which files were already uploaded to GigaChat, so each distinct file goes up once per upstream identity.
//!
//! A [`FileKey`] (SHA-256 of the bytes plus the upstream identity) maps to a [`StoredFile`] (the
//! GigaChat file id and its absolute expiry in Unix seconds). [`FileStore`] is that typed view of
//! any [`KvStore`] of [`crate::store`] (memory, redb, Redis, tiered), values as JSON.
//! [`Dedup`] sits on top: it looks a key up, runs the upload only on a miss, and makes concurrent
//! callers with the same key share that one upload. [`open_store`] and [`file_store`] build the
//! store the configuration asks for.

mod dedup;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use self::dedup::{Dedup, DedupError};
pub use crate::store::{
    Entry, KvStore, MemoryStore, RedbStore, RedisStore, StoreConfig, StoreError, StoreFuture,
    TieredStore, unix_now,
};

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
        Self {
            file_id: file_id.into(),
            expires_at: crate::store::expires_in(ttl),
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
}

/// Where uploaded file ids are remembered: every [`KvStore`] is one, its values JSON of
/// [`StoredFile`]; used as `Arc<dyn FileStore>`.
pub trait FileStore: Send + Sync {
    /// The live entry for `key`; expired entries count as absent.
    fn get<'a>(&'a self, key: &'a FileKey) -> StoreFuture<'a, Option<StoredFile>>;
    /// Remembers `file` under `key` until `file.expires_at` (an already expired `file` removes the key).
    fn put<'a>(&'a self, key: &'a FileKey, file: &'a StoredFile) -> StoreFuture<'a, ()>;
    /// Forgets `key` (no error if it is absent).
    fn remove<'a>(&'a self, key: &'a FileKey) -> StoreFuture<'a, ()>;
}

impl<S: KvStore + ?Sized> FileStore for S {
    fn get<'a>(&'a self, key: &'a FileKey) -> StoreFuture<'a, Option<StoredFile>> {
        Box::pin(async move {
            let Some(entry) = KvStore::get(self, &key.storage_key()).await? else {
                return Ok(None);
            };
            let file: StoredFile = serde_json::from_slice(&entry.value)?;
            // Stores expire entries themselves; this covers clock skew between replicas and Redis.
            Ok((!file.is_expired()).then_some(file))
        })
    }

    fn put<'a>(&'a self, key: &'a FileKey, file: &'a StoredFile) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let entry = Entry {
                value: serde_json::to_vec(file)?.into(),
                expires_at: file.expires_at,
            };
            KvStore::put(self, &key.storage_key(), &entry).await
        })
    }

    fn remove<'a>(&'a self, key: &'a FileKey) -> StoreFuture<'a, ()> {
        Box::pin(async move { KvStore::remove(self, &key.storage_key()).await })
    }
}

/// The file-id store over `persistent`: a memory tier of `memory_capacity` entries in front of it.
pub fn file_store(persistent: Arc<dyn KvStore>, memory_capacity: u64) -> Arc<dyn FileStore> {
    Arc::new(TieredStore::new(
        MemoryStore::new(memory_capacity),
        persistent,
    ))
}

/// The store `config` asks for: memory in front of Redis when `redis_url` is set, else memory in
/// front of `<data_dir>/files.redb` (see [`crate::store::open_persistent`]).
///
/// An unreachable Redis is not an error here (it is logged): the adapter still starts, lookups
/// miss and files are uploaded until Redis is back. A malformed URL is an error.
pub async fn open_store(config: &StoreConfig) -> Result<Arc<dyn FileStore>, StoreError> {
    let persistent = crate::store::open_persistent(config).await?;
    Ok(file_store(persistent, config.memory_capacity))
}

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
}
