//! Single-host persistent store: one redb file, `<data_dir>/files.redb`, that survives restarts.
//!
//! Writes are committed without waiting for the disk and made durable at most [`FLUSH_INTERVAL`]
//! later by a thread of the store (redb itself makes them durable when the database closes, at a
//! graceful shutdown): a durable commit per write cost each stored Response about 300 µs of CPU
//! and 0.6 ms at the median (`docs/benchmarks.md`). A crash or power loss can so lose the last
//! second of writes; every entry is either a cache (file ids) or a convenience (stored
//! responses), and Redis is the store for replicas that need more.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition, TableError};

use super::{Entry, KvStore, StoreError, StoreFuture, unix_now};

/// Storage key → (expiry in Unix seconds, value).
const ENTRIES: TableDefinition<&str, (i64, &[u8])> = TableDefinition::new("entries_v1");

/// The table of earlier versions: storage key → JSON of a file entry, its expiry inside
/// (`expires_at`). Its live entries move to [`ENTRIES`] when the database is opened.
const FILES_V1: TableDefinition<&str, &[u8]> = TableDefinition::new("files_v1");

/// The database file's name inside the data directory.
const FILE_NAME: &str = "files.redb";

/// The longest a write waits before it is made durable.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Entries in an embedded database file; every call runs on tokio's blocking pool.
///
/// Only one process may have the file open (and it opens it once: every typed store shares the
/// handle); replicas share entries through Redis instead.
#[derive(Clone)]
pub struct RedbStore {
    /// The open database; cloning the store shares it.
    shared: Arc<Shared>,
    /// Where the database file is.
    path: PathBuf,
}

/// The database and whether writes since its last durable commit wait for one.
struct Shared {
    db: Database,
    unflushed: AtomicBool,
}

impl Shared {
    /// Makes the writes committed so far durable (one empty durable commit), if any wait.
    fn flush(&self) -> Result<(), StoreError> {
        if !self.unflushed.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let mut txn = self.db.begin_write().map_err(redb::Error::from)?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(redb::Error::from)?;
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }
}

/// Flushes `shared` every `interval` until the store is gone.
fn flush_every(shared: &Weak<Shared>, interval: Duration) {
    loop {
        std::thread::sleep(interval);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Err(err) = shared.flush() {
            tracing::warn!(error = %err, "writes to the embedded store could not be made durable");
        }
    }
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens `<data_dir>/files.redb`, creating the directory and the file if missing, moves the
    /// entries of an earlier version's table over, and drops entries that expired while the
    /// adapter was down.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir.to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(&dir)).await?
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes every expired entry; returns how many were deleted.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.blocking(purge_expired).await
    }

    /// [`Self::open`] on the calling thread.
    fn open_blocking(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(redb::Error::from)?;
        migrate_files_v1(&db)?;
        // Creates the table, so readers never meet a missing one.
        purge_expired(&db)?;
        let shared = Arc::new(Shared {
            db,
            unflushed: AtomicBool::new(false),
        });
        let flushed = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("store-flush".into())
            .spawn(move || flush_every(&flushed, FLUSH_INTERVAL))?;
        Ok(Self { shared, path })
    }

    /// Runs `op` on the database on tokio's blocking pool.
    async fn blocking<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || op(&shared.db)).await?
    }

    /// Runs `op` on the entries table in one write transaction, committed without waiting for the
    /// disk (see [`FLUSH_INTERVAL`]).
    async fn write<F>(&self, op: F) -> Result<(), StoreError>
    where
        F: FnOnce(&mut redb::Table<&str, (i64, &[u8])>) -> Result<(), redb::StorageError>
            + Send
            + 'static,
    {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let mut txn = shared.db.begin_write().map_err(redb::Error::from)?;
            txn.set_durability(redb::Durability::None)
                .map_err(redb::Error::from)?;
            {
                let mut table = txn.open_table(ENTRIES).map_err(redb::Error::from)?;
                op(&mut table).map_err(redb::Error::from)?;
            }
            txn.commit().map_err(redb::Error::from)?;
            shared.unflushed.store(true, Ordering::Release);
            Ok(())
        })
        .await?
    }
}

impl KvStore for RedbStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Entry>> {
        let key = key.to_owned();
        Box::pin(self.blocking(move |db| {
            let txn = db.begin_read().map_err(redb::Error::from)?;
            let table = match txn.open_table(ENTRIES) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(error) => return Err(redb::Error::from(error).into()),
            };
            let Some(stored) = table.get(key.as_str()).map_err(redb::Error::from)? else {
                return Ok(None);
            };
            let (expires_at, value) = stored.value();
            let entry = Entry {
                value: Bytes::copy_from_slice(value),
                expires_at,
            };
            Ok((!entry.is_expired()).then_some(entry))
        }))
    }

    fn put<'a>(&'a self, key: &'a str, entry: &'a Entry) -> StoreFuture<'a, ()> {
        let key = key.to_owned();
        let live = (!entry.is_expired()).then(|| entry.clone());
        Box::pin(self.write(move |table| {
            match live {
                Some(entry) => {
                    table.insert(key.as_str(), (entry.expires_at, &entry.value[..]))?;
                }
                None => {
                    table.remove(key.as_str())?;
                }
            }
            Ok(())
        }))
    }

    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        let key = key.to_owned();
        Box::pin(self.write(move |table| {
            table.remove(key.as_str())?;
            Ok(())
        }))
    }
}

/// Deletes expired entries in one write transaction; returns how many.
fn purge_expired(db: &Database) -> Result<u64, StoreError> {
    let now = unix_now();
    let txn = db.begin_write().map_err(redb::Error::from)?;
    let mut purged = 0;
    {
        let mut table = txn.open_table(ENTRIES).map_err(redb::Error::from)?;
        table
            .retain(|_, (expires_at, _)| {
                let keep = expires_at > now;
                if !keep {
                    purged += 1;
                }
                keep
            })
            .map_err(redb::Error::from)?;
    }
    txn.commit().map_err(redb::Error::from)?;
    Ok(purged)
}

/// Moves the live entries of an earlier version's `files_v1` table into [`ENTRIES`] (values
/// unchanged, their `expires_at` read from the JSON) and deletes that table; entries that cannot
/// be read are dropped (they were only a cache of file ids).
fn migrate_files_v1(db: &Database) -> Result<(), StoreError> {
    /// The one field of a `files_v1` value the move needs.
    #[derive(serde::Deserialize)]
    struct Expiry {
        expires_at: i64,
    }
    let txn = db.begin_write().map_err(redb::Error::from)?;
    let exists = txn
        .list_tables()
        .map_err(redb::Error::from)?
        .any(|table| redb::TableHandle::name(&table) == "files_v1");
    if !exists {
        return Ok(());
    }
    {
        let old = txn.open_table(FILES_V1).map_err(redb::Error::from)?;
        let mut new = txn.open_table(ENTRIES).map_err(redb::Error::from)?;
        for row in old.iter().map_err(redb::Error::from)? {
            let (key, value) = row.map_err(redb::Error::from)?;
            if let Ok(Expiry { expires_at }) = serde_json::from_slice(value.value()) {
                new.insert(key.value(), (expires_at, value.value()))
                    .map_err(redb::Error::from)?;
            }
        }
    }
    txn.delete_table(FILES_V1).map_err(redb::Error::from)?;
    txn.commit().map_err(redb::Error::from)?;
    Ok(())
}
