//! The file store: uploaded and generated files, private to the identity that owns them.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use serde::Serialize;

use crate::sync::lock;

/// The file object of the Files API, in recorded key order.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FileObject {
    /// UUID of the file.
    pub(crate) id: String,
    /// Always `file`.
    pub(crate) object: &'static str,
    /// Size in bytes.
    pub(crate) bytes: usize,
    /// Visibility (`private`), shown by `GET /files` and `GET /files/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) access_policy: Option<&'static str>,
    /// Upload time, Unix seconds.
    pub(crate) created_at: u64,
    /// The uploaded file name.
    pub(crate) filename: String,
    /// `general` or `assistant`.
    pub(crate) purpose: String,
}

/// A stored file with its owner and content.
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    /// Its public description.
    pub(crate) object: FileObject,
    /// Identity key of the owner.
    pub(crate) owner: String,
    /// MIME type served by `/files/{id}/content`.
    pub(crate) content_type: String,
    /// The content.
    pub(crate) content: Bytes,
    /// `X-Client-ID` of the chat request that generated it; downloads must repeat it.
    pub(crate) client_id: Option<String>,
}

/// All files, by id.
#[derive(Debug, Default)]
pub(crate) struct FileStore {
    files: Mutex<HashMap<String, StoredFile>>,
    order: Mutex<Vec<String>>,
}

impl FileStore {
    /// Stores a file.
    pub(crate) fn insert(&self, file: StoredFile) {
        let id = file.object.id.clone();
        lock(&self.files).insert(id.clone(), file);
        lock(&self.order).push(id);
    }

    /// The file `id` if `owner` owns it.
    pub(crate) fn get(&self, owner: &str, id: &str) -> Option<StoredFile> {
        lock(&self.files)
            .get(id)
            .filter(|f| f.owner == owner)
            .cloned()
    }

    /// Every file of `owner`, oldest first.
    pub(crate) fn list(&self, owner: &str) -> Vec<FileObject> {
        let files = lock(&self.files);
        lock(&self.order)
            .iter()
            .filter_map(|id| files.get(id))
            .filter(|f| f.owner == owner)
            .map(|f| f.object.clone())
            .collect()
    }

    /// Deletes the file `id` of `owner`; false if there was none.
    pub(crate) fn remove(&self, owner: &str, id: &str) -> bool {
        let mut files = lock(&self.files);
        if files.get(id).is_some_and(|f| f.owner == owner) {
            files.remove(id);
            lock(&self.order).retain(|other| other != id);
            true
        } else {
            false
        }
    }
}
