//! Single-host persistent store: one redb file, `<data_dir>/files.redb`, that survives restarts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase as _, TableDefinition, TableError};

use super::{FileKey, FileStore, StoreError, StoreFuture, StoredFile, unix_now};

/// Storage key (see [`FileKey::storage_key`]) → JSON of [`StoredFile`].
const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files_v1");

/// The database file's name inside the data directory.
const FILE_NAME: &str = "files.redb";

/// File ids in an embedded database file; every call runs on tokio's blocking pool.
///
/// Only one process may have the file open: replicas share entries through Redis instead.
#[derive(Clone)]
pub struct RedbStore {
    /// The open database; cloning the store shares it.
    db: Arc<Database>,
    /// Where the database file is.
    path: PathBuf,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens `<data_dir>/files.redb`, creating the directory and the file if missing, and drops
    /// entries that expired while the adapter was down.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let dir = data_dir.to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(&dir)).await?
    }

    /// Where the database file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes every expired (or unreadable) entry; returns how many were deleted.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || purge_expired(&db)).await?
    }

    /// [`Self::open`] on the calling thread.
    fn open_blocking(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(redb::Error::from)?;
        // Creates the table, so readers never meet a missing one.
        purge_expired(&db)?;
        Ok(Self {
            db: Arc::new(db),
            path,
        })
    }

    /// Runs `op` on the database on tokio's blocking pool.
    async fn blocking<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || op(&db)).await?
    }
}

impl FileStore for RedbStore {
    fn get<'a>(&'a self, key: &'a FileKey) -> StoreFuture<'a, Option<StoredFile>> {
        let key = key.storage_key();
        Box::pin(self.blocking(move |db| {
            let txn = db.begin_read().map_err(redb::Error::from)?;
            let table = match txn.open_table(FILES) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(error) => return Err(redb::Error::from(error).into()),
            };
            let Some(value) = table.get(key.as_str()).map_err(redb::Error::from)? else {
                return Ok(None);
            };
            let file: StoredFile = serde_json::from_slice(value.value())?;
            Ok((!file.is_expired()).then_some(file))
        }))
    }

    fn put<'a>(&'a self, key: &'a FileKey, file: &'a StoredFile) -> StoreFuture<'a, ()> {
        let key = key.storage_key();
        let value = (!file.is_expired())
            .then(|| serde_json::to_vec(file))
            .transpose();
        Box::pin(async move {
            let value = value?;
            self.blocking(move |db| {
                let txn = db.begin_write().map_err(redb::Error::from)?;
                {
                    let mut table = txn.open_table(FILES).map_err(redb::Error::from)?;
                    match value {
                        Some(value) => {
                            table
                                .insert(key.as_str(), value.as_slice())
                                .map_err(redb::Error::from)?;
                        }
                        None => {
                            table.remove(key.as_str()).map_err(redb::Error::from)?;
                        }
                    }
                }
                txn.commit().map_err(redb::Error::from)?;
                Ok(())
            })
            .await
        })
    }

    fn remove<'a>(&'a self, key: &'a FileKey) -> StoreFuture<'a, ()> {
        let key = key.storage_key();
        Box::pin(self.blocking(move |db| {
            let txn = db.begin_write().map_err(redb::Error::from)?;
            {
                let mut table = txn.open_table(FILES).map_err(redb::Error::from)?;
                table.remove(key.as_str()).map_err(redb::Error::from)?;
            }
            txn.commit().map_err(redb::Error::from)?;
            Ok(())
        }))
    }
}

/// Deletes expired and undecodable entries in one write transaction; returns how many.
fn purge_expired(db: &Database) -> Result<u64, StoreError> {
    let now = unix_now();
    let txn = db.begin_write().map_err(redb::Error::from)?;
    let mut purged = 0;
    {
        let mut table = txn.open_table(FILES).map_err(redb::Error::from)?;
        table
            .retain(|_, value| {
                let keep = serde_json::from_slice::<StoredFile>(value)
                    .is_ok_and(|file| !file.is_expired_at(now));
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
