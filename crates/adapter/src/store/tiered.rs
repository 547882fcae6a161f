//! Memory in front of a persistent store: read-through, write-through.

use std::sync::Arc;

use super::{Entry, KvStore, MemoryStore, StoreFuture};

/// A [`MemoryStore`] answering first, backed by a persistent store (redb or Redis).
///
/// Reads that miss memory go to the persistent store and fill memory on a hit; writes and
/// removals go to both. With Redis, a removal on one replica leaves other replicas' memory
/// entries in place until they expire or those replicas remove them too.
#[derive(Clone)]
pub struct TieredStore {
    /// The fast tier.
    memory: MemoryStore,
    /// The tier that survives restarts (and, for Redis, is shared).
    persistent: Arc<dyn KvStore>,
}

impl std::fmt::Debug for TieredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredStore")
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

impl TieredStore {
    /// `memory` in front of `persistent`.
    pub fn new(memory: MemoryStore, persistent: Arc<dyn KvStore>) -> Self {
        Self { memory, persistent }
    }
}

impl KvStore for TieredStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Entry>> {
        Box::pin(async move {
            if let Some(entry) = self.memory.get(key).await? {
                return Ok(Some(entry));
            }
            let found = self.persistent.get(key).await?;
            if let Some(entry) = &found {
                self.memory.put(key, entry).await?;
            }
            Ok(found)
        })
    }

    fn put<'a>(&'a self, key: &'a str, entry: &'a Entry) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            // Memory first: this process keeps the entry even if the persistent tier is down.
            self.memory.put(key, entry).await?;
            self.persistent.put(key, entry).await
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.memory.remove(key).await?;
            self.persistent.remove(key).await
        })
    }
}
