//! In-process store: a bounded moka cache whose entries expire at their own `expires_at`.

use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;

use super::{Entry, KvStore, StoreFuture, unix_now};

/// Longest time an entry is held in memory, whatever its expiry (keeps moka's timers in range).
const MAX_MEMORY_TTL: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// Entries kept in this process only, at most `capacity` of them, each until its `expires_at`.
#[derive(Clone)]
pub struct MemoryStore {
    /// The cache; cloning shares it.
    cache: Cache<String, Entry>,
}

impl MemoryStore {
    /// An empty store holding at most `capacity` entries.
    pub fn new(capacity: u64) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(capacity)
                .expire_after(ExpiresAt)
                .build(),
        }
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl KvStore for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Entry>> {
        Box::pin(async move {
            match self.cache.get(key).await {
                // moka expires at whole-second precision from insertion; the wall clock decides.
                Some(entry) if entry.is_expired() => {
                    self.cache.invalidate(key).await;
                    Ok(None)
                }
                found => Ok(found),
            }
        })
    }

    fn put<'a>(&'a self, key: &'a str, entry: &'a Entry) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if entry.is_expired() {
                self.cache.invalidate(key).await;
            } else {
                self.cache.insert(key.to_owned(), entry.clone()).await;
            }
            Ok(())
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.cache.invalidate(key).await;
            Ok(())
        })
    }
}

/// moka expiry policy: each entry lives until its own `expires_at`.
struct ExpiresAt;

impl ExpiresAt {
    /// Time left for `entry`, capped at [`MAX_MEMORY_TTL`].
    fn ttl(entry: &Entry) -> Duration {
        entry
            .remaining_at(unix_now())
            .unwrap_or(Duration::ZERO)
            .min(MAX_MEMORY_TTL)
    }
}

impl Expiry<String, Entry> for ExpiresAt {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Entry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(Self::ttl(value))
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Entry,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(Self::ttl(value))
    }
}
