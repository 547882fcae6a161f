//! Remembers the `purpose` (and the `expires_after` deadline) each Files API upload was given:
//! GigaChat keeps only its own purpose (`general`) and never expires files, while OpenAI clients
//! read theirs back, filter file lists by purpose and rely on expiry.

use std::sync::Arc;
use std::time::Duration;

use gigachat::{GigaChat, RequestContext};

use super::store::{FileKey, FileStore, StoredFile, unix_now};

/// How long a purpose is remembered (GigaChat keeps files until they are deleted).
const PURPOSE_TTL: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Suffix that gives purpose entries their own key space in the shared file store: content keys
/// use the bare identity, so no uploaded content can ever look up (or overwrite) a purpose entry.
const KEY_SPACE: &str = "#purpose";

/// What a Files API upload was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The upload's `purpose`.
    pub purpose: String,
    /// When the file expires (Unix seconds), from the upload's `expires_after`.
    pub expires_at: Option<i64>,
}

/// A file whose `expires_after` has run out (and which has been retired).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired;

impl Recorded {
    /// Whether the file's `expires_after` has run out.
    pub fn is_expired(&self) -> bool {
        self.expires_at.is_some_and(|at| at <= unix_now())
    }
}

/// Purposes of uploaded files, per upstream identity, in the same store as the upload dedup.
#[derive(Clone)]
pub struct Purposes {
    store: Arc<dyn FileStore>,
    identity: String,
}

impl Purposes {
    /// Purposes kept in `store` for files uploaded as `identity`.
    pub fn new(store: Arc<dyn FileStore>, identity: &str) -> Self {
        Self {
            store,
            identity: format!("{identity}{KEY_SPACE}"),
        }
    }

    /// Purposes of files uploaded as `identity` (another GigaChat account), in the same store.
    pub fn for_identity(&self, identity: &str) -> Self {
        Self::new(self.store.clone(), identity)
    }

    /// Remembers `purpose` (and when the file expires, if it does) for `file_id`; a store failure
    /// is logged (the upload still succeeded).
    pub async fn remember(&self, file_id: &str, purpose: &str, expires_at: Option<i64>) {
        let mut entry = StoredFile::new(file_id, PURPOSE_TTL).with_purpose(purpose);
        entry.file_expires_at = expires_at;
        if let Err(error) = self.store.put(&self.key(file_id), &entry).await {
            tracing::warn!(%error, "could not remember a file's purpose");
        }
    }

    /// What `file_id` was uploaded with, if it went through our Files API and is remembered.
    pub async fn of(&self, file_id: &str) -> Option<Recorded> {
        match self.store.get(&self.key(file_id)).await {
            Ok(entry) => entry.and_then(|entry| {
                Some(Recorded {
                    purpose: entry.purpose?,
                    expires_at: entry.file_expires_at,
                })
            }),
            Err(error) => {
                tracing::warn!(%error, "could not read a file's purpose");
                None
            }
        }
    }

    /// What `file_id` was uploaded with (`None` if it did not go through our Files API), or
    /// [`Expired`] when its `expires_after` has run out. GigaChat never expires files itself, so an
    /// expired file is deleted there and forgotten here whenever the adapter meets it; a failed
    /// delete is logged and the next meeting tries again.
    pub async fn unless_expired(
        &self,
        client: &GigaChat,
        file_id: &str,
        context: &RequestContext,
    ) -> Result<Option<Recorded>, Expired> {
        let recorded = self.of(file_id).await;
        if !recorded.as_ref().is_some_and(Recorded::is_expired) {
            return Ok(recorded);
        }
        match client.delete_file(file_id, context).await {
            Ok(_) => self.forget(file_id).await,
            Err(err) if err.verdict() == gigachat::Verdict::FileNotFound => {
                self.forget(file_id).await;
            }
            Err(err) => tracing::warn!(%err, "could not delete an expired file"),
        }
        Err(Expired)
    }

    /// Forgets the purpose of a deleted file.
    pub async fn forget(&self, file_id: &str) {
        if let Err(error) = self.store.remove(&self.key(file_id)).await {
            tracing::warn!(%error, "could not forget a deleted file's purpose");
        }
    }

    fn key(&self, file_id: &str) -> FileKey {
        FileKey::new(file_id.as_bytes(), &self.identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attachments::store::MemoryStore;

    #[tokio::test]
    async fn remembers_and_forgets_per_identity() {
        let store: Arc<dyn FileStore> = Arc::new(MemoryStore::new(100));
        let ours = Purposes::new(store.clone(), "tenant-a");
        let theirs = Purposes::new(store.clone(), "tenant-b");
        ours.remember("file-1", "assistants", Some(1_900_000_000))
            .await;
        assert_eq!(
            ours.of("file-1").await,
            Some(Recorded {
                purpose: "assistants".into(),
                expires_at: Some(1_900_000_000)
            })
        );
        assert_eq!(
            theirs.of("file-1").await,
            None,
            "identities never share entries"
        );
        ours.forget("file-1").await;
        assert_eq!(ours.of("file-1").await, None);
    }

    #[tokio::test]
    async fn content_keys_never_meet_purpose_entries() {
        let store: Arc<dyn FileStore> = Arc::new(MemoryStore::new(100));
        let purposes = Purposes::new(store.clone(), "tenant");
        purposes.remember("file-1", "batch", None).await;
        // An upload whose bytes are exactly the file id, as the same identity.
        let content_key = FileKey::new(b"file-1", "tenant");
        assert_eq!(store.get(&content_key).await.unwrap(), None);
        assert_ne!(
            content_key.storage_key(),
            purposes.key("file-1").storage_key()
        );
    }
}
