//! Upload-once logic over a [`FileStore`]: store lookups, single-flight uploads, and forgetting stale ids.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::{FileKey, FileStore, StoreError, StoredFile};

/// What a flight's waiters see: `None` while it runs, then the leader's result.
type Outcome<E> = Option<Result<StoredFile, E>>;

/// Flights in progress: (key, upload error type) → `watch::Receiver<Outcome<E>>` of that type.
type Flights = Mutex<HashMap<(FileKey, TypeId), Box<dyn Any + Send + Sync>>>;

/// Why [`Dedup::get_or_upload`] produced no file id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DedupError<E> {
    /// The upload failed: this caller's own, or the one it waited for (same error for everyone).
    #[error("file upload failed: {0}")]
    Upload(E),
}

impl<E> DedupError<E> {
    /// The upload's error.
    pub fn into_inner(self) -> E {
        match self {
            Self::Upload(error) => error,
        }
    }
}

/// Uploads each distinct file once: looks it up in the store, and on a miss runs one upload that
/// every concurrent caller with the same key shares. Cloning shares the in-flight uploads.
///
/// The store is a cache, never a point of failure: a store error is logged and treated as a miss
/// (or as a lost write), and only the upload's own error reaches the caller.
#[derive(Clone)]
pub struct Dedup {
    /// Where file ids are remembered.
    store: Arc<dyn FileStore>,
    /// Uploads (and lookups) in progress in this process.
    flights: Arc<Flights>,
}

impl std::fmt::Debug for Dedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let in_flight = self
            .flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Dedup")
            .field("in_flight", &in_flight)
            .finish_non_exhaustive()
    }
}

impl Dedup {
    /// Deduplicates uploads through `store`.
    pub fn new(store: Arc<dyn FileStore>) -> Self {
        Self {
            store,
            flights: Arc::default(),
        }
    }

    /// The store behind this deduplicator.
    pub fn store(&self) -> &Arc<dyn FileStore> {
        &self.store
    }

    /// The file id for `key`: from the store, or by running `upload` — concurrent callers with the
    /// same key share ONE upload (single-flight); a failed upload is not cached and the error goes to all waiters.
    ///
    /// The flag is `true` for the one caller whose `upload` ran and succeeded. If that caller is
    /// cancelled mid-upload, a waiting caller takes over with its own `upload`. `upload` must not
    /// call `get_or_upload` for the same key (it would wait for itself).
    pub async fn get_or_upload<F, Fut, E>(
        &self,
        key: &FileKey,
        upload: F,
    ) -> Result<(StoredFile, bool), DedupError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<StoredFile, E>>,
        E: Clone + Display + Send + Sync + 'static,
    {
        loop {
            match self.join::<E>(key) {
                Role::Lead(flight) => {
                    let outcome = self.lookup_or_upload(key, upload).await;
                    flight.finish(&outcome);
                    return outcome.map_err(DedupError::Upload);
                }
                Role::Alone => {
                    return self
                        .lookup_or_upload(key, upload)
                        .await
                        .map_err(DedupError::Upload);
                }
                Role::Wait(mut rx) => {
                    let shared = match rx.wait_for(Option::is_some).await {
                        Ok(outcome) => (*outcome).clone(),
                        Err(_) => None,
                    };
                    match shared {
                        Some(Ok(file)) => return Ok((file, false)),
                        Some(Err(error)) => return Err(DedupError::Upload(error)),
                        // The leader was cancelled before it finished: take over.
                        None => {}
                    }
                }
            }
        }
    }

    /// Drops a stale id (GigaChat no longer knows it) so the next call uploads again.
    pub async fn forget(&self, key: &FileKey) -> Result<(), StoreError> {
        self.store.remove(key).await
    }

    /// Joins the flight for `key`, or starts one and leads it.
    fn join<E>(&self, key: &FileKey) -> Role<'_, E>
    where
        E: Clone + Send + Sync + 'static,
    {
        let flight_key = (key.clone(), TypeId::of::<E>());
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = flights.get(&flight_key) {
            let slot: &(dyn Any + Send + Sync) = &**slot;
            // The type id in the key makes the downcast succeed; if not, go it alone.
            return match slot.downcast_ref::<watch::Receiver<Outcome<E>>>() {
                Some(rx) => Role::Wait(rx.clone()),
                None => Role::Alone,
            };
        }
        let (tx, rx) = watch::channel(None);
        flights.insert(flight_key.clone(), Box::new(rx));
        Role::Lead(Flight {
            flights: &self.flights,
            key: flight_key,
            tx,
        })
    }

    /// The stored id for `key`, else the result of `upload` (stored on success).
    async fn lookup_or_upload<F, Fut, E>(
        &self,
        key: &FileKey,
        upload: F,
    ) -> Result<(StoredFile, bool), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<StoredFile, E>>,
    {
        match self.store.get(key).await {
            Ok(Some(file)) => return Ok((file, false)),
            Ok(None) => {}
            Err(error) => tracing::warn!(
                %error,
                sha256 = %key.sha256_hex(),
                "file store lookup failed; uploading the file anyway"
            ),
        }
        let file = upload().await?;
        if let Err(error) = self.store.put(key, &file).await {
            tracing::warn!(
                %error,
                sha256 = %key.sha256_hex(),
                "file store write failed; the file will be uploaded again next time"
            );
        }
        Ok((file, true))
    }
}

/// What a caller of [`Dedup::get_or_upload`] does.
enum Role<'a, E> {
    /// Nobody is on it: look up / upload, then tell the waiters.
    Lead(Flight<'a, E>),
    /// Someone is on it: wait for their result.
    Wait(watch::Receiver<Outcome<E>>),
    /// Cannot share a flight (never expected): look up / upload without one.
    Alone,
}

/// A flight this caller leads; dropping it (done or cancelled) unregisters it.
struct Flight<'a, E> {
    /// The registry the flight is in.
    flights: &'a Flights,
    /// Its key there.
    key: (FileKey, TypeId),
    /// Where waiters get the result.
    tx: watch::Sender<Outcome<E>>,
}

impl<E: Clone> Flight<'_, E> {
    /// Hands the leader's result to every waiter (an error is shared, never stored).
    fn finish(self, outcome: &Result<(StoredFile, bool), E>) {
        let shared = match outcome {
            Ok((file, _)) => Ok(file.clone()),
            Err(error) => Err(error.clone()),
        };
        self.tx.send_replace(Some(shared));
    }
}

impl<E> Drop for Flight<'_, E> {
    fn drop(&mut self) {
        // Unregister before the sender goes: a waiter that sees the channel closed without a
        // result then finds no flight and leads a new one.
        self.flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}
