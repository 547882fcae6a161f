//! The stored-Responses store on every backend (memory, redb in a temp dir, a real Redis): per-key isolation, TTL expiry, the size cap, restarts, replicas; and the redb move from the file store's old table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use gigachat_adapter::attachments::store::{FileKey, FileStore, StoredFile};
use gigachat_adapter::responses_store::{Kept, ResponsesStore, Retention};
use gigachat_adapter::store::{KvStore, MemoryStore, RedbStore, RedisStore, unix_now};
use serde_json::json;
use translate::responses::StoredExchange;

#[path = "support/redis.rs"]
mod redis_server;
use redis_server::RedisServer;

const MONTH: Duration = Duration::from_secs(30 * 24 * 60 * 60);

fn retention(ttl: Duration, max_bytes: usize) -> Retention {
    Retention { ttl, max_bytes }
}

/// A finished response `id` saying `text`, answered from one user message (as the store lists
/// it, so what is loaded equals what was kept).
fn stored(id: &str, text: &str) -> StoredExchange {
    serde_json::from_value(json!({
        "response": {
            "id": id, "object": "response", "created_at": 1, "status": "completed",
            "completed_at": 2, "error": null, "incomplete_details": null, "instructions": null,
            "max_output_tokens": null, "max_tool_calls": null, "model": "GigaChat",
            "output": [{"type": "message", "id": "msg_out", "role": "assistant",
                        "status": "completed",
                        "content": [{"type": "output_text", "text": text,
                                     "annotations": [], "logprobs": []}]}],
            "parallel_tool_calls": true, "previous_response_id": null, "reasoning": null,
            "store": true, "temperature": null, "text": {"format": {"type": "text"}},
            "tool_choice": "auto", "tools": [], "top_p": null, "truncation": "disabled",
            "background": false, "metadata": {}
        },
        "input": [{"type": "message", "id": "msg_in", "role": "user", "status": "completed",
                   "content": [{"type": "input_text", "text": "Hi"}]}]
    }))
    .unwrap()
}

/// What every backend must do: keep, load, keep keys and upstream identities apart, delete.
async fn keeps_responses_apart(kv: Arc<dyn KvStore>) {
    let store = ResponsesStore::new(kv.clone(), "upstream-a", retention(MONTH, 1 << 20));
    let other_upstream = ResponsesStore::new(kv, "upstream-b", retention(MONTH, 1 << 20));
    let first = stored("resp_1", "one");
    assert_eq!(
        store.keep(Some("team-a"), first.clone()).await.unwrap(),
        Kept::Stored
    );
    assert_eq!(
        store.load(Some("team-a"), "resp_1").await.unwrap(),
        Some(first.clone())
    );
    // Another key, no key, another upstream identity: nothing.
    assert_eq!(store.load(Some("team-b"), "resp_1").await.unwrap(), None);
    assert_eq!(store.load(None, "resp_1").await.unwrap(), None);
    assert_eq!(
        other_upstream.load(Some("team-a"), "resp_1").await.unwrap(),
        None
    );
    // An id cannot reach into another key's space.
    assert_eq!(store.load(Some("team-b:resp_1"), "").await.unwrap(), None);
    assert_eq!(store.load(Some("team"), "a:resp_1").await.unwrap(), None);
    // Another key's delete does not touch it.
    assert!(!store.delete(Some("team-b"), "resp_1").await.unwrap());
    // Without keys (none configured) responses are kept too.
    store.keep(None, stored("resp_2", "two")).await.unwrap();
    assert_eq!(
        store.load(None, "resp_2").await.unwrap(),
        Some(stored("resp_2", "two"))
    );
    assert!(store.delete(Some("team-a"), "resp_1").await.unwrap());
    assert_eq!(store.load(Some("team-a"), "resp_1").await.unwrap(), None);
    assert!(!store.delete(Some("team-a"), "resp_1").await.unwrap());
}

/// A response kept with a one-second TTL is gone once it has run out.
async fn expires(kv: Arc<dyn KvStore>) {
    let store = ResponsesStore::new(kv, "id", retention(Duration::from_secs(1), 1 << 20));
    let started = unix_now();
    store
        .keep(Some("k"), stored("resp_short", "brief"))
        .await
        .unwrap();
    assert!(store.load(Some("k"), "resp_short").await.unwrap().is_some());
    while unix_now() <= started + 1 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.load(Some("k"), "resp_short").await.unwrap(), None);
    assert!(!store.delete(Some("k"), "resp_short").await.unwrap());
}

/// A response larger than the cap is not stored; one at the cap is.
async fn caps_the_size(kv: Arc<dyn KvStore>) {
    let response = stored("resp_big", &"x".repeat(2000));
    let size = serde_json::to_vec(&response).unwrap().len();
    let tight = ResponsesStore::new(kv.clone(), "id", retention(MONTH, size - 1));
    assert_eq!(
        tight.keep(Some("k"), response.clone()).await.unwrap(),
        Kept::TooLarge { bytes: size }
    );
    assert_eq!(tight.load(Some("k"), "resp_big").await.unwrap(), None);
    let exact = ResponsesStore::new(kv, "id", retention(MONTH, size));
    assert_eq!(
        exact.keep(Some("k"), response.clone()).await.unwrap(),
        Kept::Stored
    );
    assert_eq!(
        tight.load(Some("k"), "resp_big").await.unwrap(),
        Some(response)
    );
}

// ---------------------------------------------------------------- memory

fn memory() -> Arc<dyn KvStore> {
    Arc::new(MemoryStore::new(100))
}

#[tokio::test]
async fn memory_keeps_responses_apart() {
    keeps_responses_apart(memory()).await;
}

#[tokio::test]
async fn memory_expires_responses() {
    expires(memory()).await;
}

#[tokio::test]
async fn memory_caps_the_size() {
    caps_the_size(memory()).await;
}

// ---------------------------------------------------------------- redb

async fn redb(dir: &tempfile::TempDir) -> Arc<dyn KvStore> {
    Arc::new(RedbStore::open(dir.path()).await.unwrap())
}

#[tokio::test]
async fn redb_keeps_responses_apart() {
    let dir = tempfile::tempdir().unwrap();
    keeps_responses_apart(redb(&dir).await).await;
}

#[tokio::test]
async fn redb_expires_responses() {
    let dir = tempfile::tempdir().unwrap();
    expires(redb(&dir).await).await;
}

#[tokio::test]
async fn redb_caps_the_size() {
    let dir = tempfile::tempdir().unwrap();
    caps_the_size(redb(&dir).await).await;
}

#[tokio::test]
async fn redb_keeps_responses_and_file_ids_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = FileKey::new(b"image", "id");
    let file = StoredFile::new("file-1", MONTH);
    {
        let kv = redb(&dir).await;
        let store = ResponsesStore::new(kv.clone(), "id", retention(MONTH, 1 << 20));
        store
            .keep(Some("k"), stored("resp_1", "kept"))
            .await
            .unwrap();
        // One database file holds both kinds of entries.
        FileStore::put(&*kv, &key, &file).await.unwrap();
    }
    let kv = redb(&dir).await;
    let store = ResponsesStore::new(kv.clone(), "id", retention(MONTH, 1 << 20));
    assert_eq!(
        store.load(Some("k"), "resp_1").await.unwrap(),
        Some(stored("resp_1", "kept"))
    );
    assert_eq!(FileStore::get(&*kv, &key).await.unwrap(), Some(file));
}

#[tokio::test]
async fn redb_moves_the_file_ids_of_an_earlier_version() {
    let dir = tempfile::tempdir().unwrap();
    let live = FileKey::new(b"live", "id");
    let gone = FileKey::new(b"gone", "id");
    let live_file = StoredFile::new("file-live", MONTH).with_purpose("batch");
    {
        // The table an earlier version wrote: storage key → JSON of the entry.
        let db = redb::Database::create(dir.path().join("files.redb")).unwrap();
        let old: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("files_v1");
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(old).unwrap();
            let expired = StoredFile {
                expires_at: unix_now() - 10,
                ..StoredFile::new("file-gone", MONTH)
            };
            for (key, file) in [(&live, &live_file), (&gone, &expired)] {
                let json = serde_json::to_vec(file).unwrap();
                table
                    .insert(key.storage_key().as_str(), json.as_slice())
                    .unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let store = RedbStore::open(dir.path()).await.unwrap();
    assert_eq!(
        FileStore::get(&store, &live).await.unwrap(),
        Some(live_file)
    );
    assert_eq!(FileStore::get(&store, &gone).await.unwrap(), None);
    assert_eq!(
        store.purge_expired().await.unwrap(),
        0,
        "moved, then purged"
    );
    drop(store);
    // The old table is gone: opening again moves nothing over the newer entries.
    let db = redb::Database::create(dir.path().join("files.redb")).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let tables: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|table| redb::TableHandle::name(&table).to_owned())
        .collect();
    assert_eq!(tables, ["entries_v1"]);
}

// ---------------------------------------------------------------- redis

async fn redis(server: &RedisServer) -> Arc<dyn KvStore> {
    Arc::new(RedisStore::connect(&server.url).await.unwrap())
}

#[tokio::test]
async fn redis_keeps_responses_apart() {
    let server = RedisServer::start().await;
    keeps_responses_apart(redis(&server).await).await;
}

#[tokio::test]
async fn redis_expires_responses() {
    let server = RedisServer::start().await;
    expires(redis(&server).await).await;
}

#[tokio::test]
async fn redis_caps_the_size() {
    let server = RedisServer::start().await;
    caps_the_size(redis(&server).await).await;
}

#[tokio::test]
async fn redis_replicas_share_responses_with_the_ttl_in_redis() {
    let server = RedisServer::start().await;
    let one = ResponsesStore::new(redis(&server).await, "id", retention(MONTH, 1 << 20));
    let two = ResponsesStore::new(redis(&server).await, "id", retention(MONTH, 1 << 20));
    one.keep(Some("k"), stored("resp_1", "shared"))
        .await
        .unwrap();
    assert_eq!(
        two.load(Some("k"), "resp_1").await.unwrap(),
        Some(stored("resp_1", "shared"))
    );

    let mut raw = server.raw().await.unwrap();
    let key = "gigachat-adapter:response:v1:id:k:resp_1";
    let ttl: i64 = redis::cmd("TTL")
        .arg(key)
        .query_async(&mut raw)
        .await
        .unwrap();
    let month = i64::try_from(MONTH.as_secs()).unwrap();
    assert!((month - 5..=month).contains(&ttl), "TTL {ttl}");
    let value: Vec<u8> = redis::cmd("GET")
        .arg(key)
        .query_async(&mut raw)
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&value).unwrap();
    assert_eq!(json["response"]["id"], "resp_1");

    assert!(two.delete(Some("k"), "resp_1").await.unwrap());
    assert_eq!(one.load(Some("k"), "resp_1").await.unwrap(), None);
}
