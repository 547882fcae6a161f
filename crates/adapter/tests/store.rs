//! The file-id deduplication store: memory, redb (restarts), Redis (a real server, two replicas) and single-flight uploads; Files API purposes kept in it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use gigachat_adapter::attachments::purposes::Purposes;
use gigachat_adapter::attachments::store::{
    Dedup, DedupError, FileKey, FileStore, MemoryStore, RedbStore, RedisStore, StoreConfig,
    StoreError, StoreFuture, StoredFile, TieredStore, open_store, unix_now,
};
use gigachat_adapter::store::FLUSH_INTERVAL;

/// 2100-01-01: a fixed expiry, so two `live(id)` compare equal.
const FAR_FUTURE: i64 = 4_102_444_800;

fn live(id: &str) -> StoredFile {
    StoredFile {
        file_id: id.to_owned(),
        expires_at: FAR_FUTURE,
        purpose: None,
        file_expires_at: None,
    }
}

fn expired(id: &str) -> StoredFile {
    StoredFile {
        file_id: id.to_owned(),
        expires_at: unix_now() - 10,
        purpose: None,
        file_expires_at: None,
    }
}

/// Waits (for real: entries carry wall-clock Unix seconds) until `file` has expired.
async fn wait_until_expired(file: &StoredFile) {
    while !file.is_expired() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------- keys

#[test]
fn keys_hash_the_bytes_and_keep_tenants_apart() {
    let a = FileKey::new(b"same bytes", "tenant-a");
    let b = FileKey::new(b"same bytes", "tenant-b");
    assert_eq!(a.sha256, b.sha256);
    assert_ne!(a, b);
    assert_ne!(a.storage_key(), b.storage_key());
    assert_eq!(a, FileKey::new(b"same bytes", "tenant-a"));
    assert_ne!(a, FileKey::new(b"other bytes", "tenant-a"));
    assert_eq!(
        a.storage_key(),
        format!("gigachat-adapter:file:v1:tenant-a:{}", a.sha256_hex())
    );
    assert_eq!(a.sha256_hex().len(), 64);
}

// ---------------------------------------------------------------- memory

#[tokio::test]
async fn memory_put_get_remove() {
    let store = MemoryStore::new(100);
    let key = FileKey::new(b"image", "id");
    assert_eq!(store.get(&key).await.unwrap(), None);
    store.put(&key, &live("f1")).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(live("f1")));
    store.put(&key, &live("f2")).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap().unwrap().file_id, "f2");
    store.remove(&key).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);
    store.remove(&key).await.unwrap();
}

#[tokio::test]
async fn memory_expired_entries_are_absent() {
    let store = MemoryStore::new(100);
    let key = FileKey::new(b"image", "id");
    store.put(&key, &expired("old")).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);

    // An expired put replaces a live entry.
    store.put(&key, &live("f1")).await.unwrap();
    store.put(&key, &expired("old")).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);

    // An entry that expires while stored disappears.
    let short = StoredFile::new("short", Duration::from_secs(2));
    store.put(&key, &short).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(short.clone()));
    wait_until_expired(&short).await;
    assert_eq!(store.get(&key).await.unwrap(), None);
}

// ---------------------------------------------------------------- redb

#[tokio::test]
async fn redb_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested").join("data");
    let key = FileKey::new(b"document", "id");
    {
        let store = RedbStore::open(&data_dir).await.unwrap();
        assert_eq!(store.path(), data_dir.join("files.redb"));
        store.put(&key, &live("persisted")).await.unwrap();
    }
    assert!(data_dir.join("files.redb").is_file());

    let store = RedbStore::open(&data_dir).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(live("persisted")));
    store.remove(&key).await.unwrap();
    drop(store);

    let store = RedbStore::open(&data_dir).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);
}

/// Set for the child process of [`redb_writes_outlive_a_crash_once_flushed`]: the data directory
/// it writes to before it dies.
const CRASH_DIR: &str = "GIGACHAT_ADAPTER_TEST_CRASH_DIR";

#[tokio::test]
async fn redb_writes_outlive_a_crash_once_flushed() {
    let key = FileKey::new(b"written before a crash", "id");
    if let Some(dir) = std::env::var_os(CRASH_DIR) {
        // The child: write, give the store's thread time to flush, die without closing anything.
        let store = RedbStore::open(std::path::Path::new(&dir)).await.unwrap();
        store.put(&key, &live("kept")).await.unwrap();
        tokio::time::sleep(FLUSH_INTERVAL * 3).await;
        std::process::abort();
    }
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "redb_writes_outlive_a_crash_once_flushed",
            "--nocapture",
        ])
        .env(CRASH_DIR, dir.path())
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "the child dies without closing the store"
    );
    let store = RedbStore::open(dir.path()).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(live("kept")));
}

#[tokio::test]
async fn purposes_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        redis_url: None,
        data_dir: dir.path().to_owned(),
        memory_capacity: 10,
    };
    Purposes::new(open_store(&config).await.unwrap(), "id")
        .remember("file-1", "fine-tune", Some(1_900_000_000))
        .await;
    let reopened = Purposes::new(open_store(&config).await.unwrap(), "id");
    let recorded = reopened.of("file-1").await.unwrap();
    assert_eq!(recorded.purpose, "fine-tune");
    assert_eq!(recorded.expires_at, Some(1_900_000_000));
}

#[tokio::test]
async fn redb_expired_entries_are_absent_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).await.unwrap();
    let key = FileKey::new(b"document", "id");
    store.put(&key, &expired("old")).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);

    let short = StoredFile::new("short", Duration::from_secs(2));
    let other = FileKey::new(b"another", "id");
    store.put(&key, &short).await.unwrap();
    store.put(&other, &live("long")).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(short.clone()));
    wait_until_expired(&short).await;
    assert_eq!(store.get(&key).await.unwrap(), None);
    assert_eq!(store.purge_expired().await.unwrap(), 1);
    assert_eq!(store.purge_expired().await.unwrap(), 0);
    assert_eq!(store.get(&other).await.unwrap(), Some(live("long")));
}

#[tokio::test]
async fn redb_keeps_identities_apart() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).await.unwrap();
    let a = FileKey::new(b"same bytes", "tenant-a");
    let b = FileKey::new(b"same bytes", "tenant-b");
    store.put(&a, &live("a-file")).await.unwrap();
    assert_eq!(store.get(&b).await.unwrap(), None);
    store.put(&b, &live("b-file")).await.unwrap();
    assert_eq!(store.get(&a).await.unwrap().unwrap().file_id, "a-file");
    assert_eq!(store.get(&b).await.unwrap().unwrap().file_id, "b-file");
}

#[tokio::test]
async fn tiered_reads_through_and_writes_through() {
    let dir = tempfile::tempdir().unwrap();
    let redb = Arc::new(RedbStore::open(dir.path()).await.unwrap());
    let tiered = TieredStore::new(MemoryStore::new(100), redb.clone());
    let key = FileKey::new(b"image", "id");

    // Write-through: the persistent tier has it.
    tiered.put(&key, &live("f1")).await.unwrap();
    assert_eq!(redb.get(&key).await.unwrap(), Some(live("f1")));

    // Read-through: found in the persistent tier, then served from memory.
    let other = FileKey::new(b"other", "id");
    redb.put(&other, &live("f2")).await.unwrap();
    assert_eq!(tiered.get(&other).await.unwrap(), Some(live("f2")));
    redb.remove(&other).await.unwrap();
    assert_eq!(tiered.get(&other).await.unwrap(), Some(live("f2")));

    // Removal reaches both tiers.
    tiered.remove(&key).await.unwrap();
    assert_eq!(tiered.get(&key).await.unwrap(), None);
    assert_eq!(redb.get(&key).await.unwrap(), None);
}

#[tokio::test]
async fn open_store_without_redis_uses_redb_in_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        redis_url: None,
        data_dir: dir.path().join("missing").join("dir"),
        memory_capacity: 100,
    };
    let key = FileKey::new(b"image", "id");
    let uploads = AtomicUsize::new(0);
    {
        let dedup = Dedup::new(open_store(&config).await.unwrap());
        let (file, uploaded) = dedup
            .get_or_upload(&key, || counted_upload(&uploads, "f1"))
            .await
            .unwrap();
        assert!(uploaded);
        assert_eq!(file.file_id, "f1");
    }
    assert!(config.data_dir.join("files.redb").is_file());

    // After a restart the id is reused.
    let dedup = Dedup::new(open_store(&config).await.unwrap());
    let (file, uploaded) = dedup
        .get_or_upload(&key, || counted_upload(&uploads, "f2"))
        .await
        .unwrap();
    assert!(!uploaded);
    assert_eq!(file.file_id, "f1");
    assert_eq!(uploads.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------- redis

#[path = "support/redis.rs"]
mod redis_server;
use redis_server::RedisServer;

#[tokio::test]
async fn redis_put_get_remove_with_json_values() {
    let server = RedisServer::start().await;
    let store = RedisStore::connect(&server.url).await.unwrap();
    let key = FileKey::new(b"image", "id");
    assert_eq!(store.get(&key).await.unwrap(), None);
    store.put(&key, &live("f1")).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(live("f1")));

    let mut raw = server.raw().await.unwrap();
    let value: String = redis::cmd("GET")
        .arg(key.storage_key())
        .query_async(&mut raw)
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&value).unwrap();
    assert_eq!(json["file_id"], "f1");
    assert_eq!(json["expires_at"], live("f1").expires_at);

    store.remove(&key).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);
    store.put(&key, &expired("old")).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);

    let other = FileKey::new(b"image", "other-identity");
    store.put(&key, &live("mine")).await.unwrap();
    assert_eq!(store.get(&other).await.unwrap(), None);
}

#[tokio::test]
async fn redis_replicas_share_purposes() {
    let server = RedisServer::start().await;
    let one = Purposes::new(
        Arc::new(RedisStore::connect(&server.url).await.unwrap()),
        "id",
    );
    let two = Purposes::new(
        Arc::new(RedisStore::connect(&server.url).await.unwrap()),
        "id",
    );
    one.remember("file-1", "batch", None).await;
    let recorded = two.of("file-1").await.unwrap();
    assert_eq!(
        (recorded.purpose.as_str(), recorded.expires_at),
        ("batch", None)
    );
    two.forget("file-1").await;
    assert_eq!(one.of("file-1").await, None);
}

#[tokio::test]
async fn redis_entries_expire_in_redis() {
    let server = RedisServer::start().await;
    let store = RedisStore::connect(&server.url).await.unwrap();
    let key = FileKey::new(b"image", "id");
    let short = StoredFile::new("short", Duration::from_secs(2));
    store.put(&key, &short).await.unwrap();

    let mut raw = server.raw().await.unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(key.storage_key())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((1..=2).contains(&ttl), "TTL {ttl}");
    assert_eq!(store.get(&key).await.unwrap(), Some(short));

    // Redis itself drops the key (EX), not just our read-side check.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(key.storage_key())
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    assert_eq!(store.get(&key).await.unwrap(), None);
}

#[tokio::test]
async fn redis_replicas_share_entries() {
    let server = RedisServer::start().await;
    let replica_a = RedisStore::connect(&server.url).await.unwrap();
    let replica_b = RedisStore::connect(&server.url).await.unwrap();
    let key = FileKey::new(b"image", "id");
    replica_a.put(&key, &live("from-a")).await.unwrap();
    assert_eq!(replica_b.get(&key).await.unwrap(), Some(live("from-a")));
    replica_b.remove(&key).await.unwrap();
    assert_eq!(replica_a.get(&key).await.unwrap(), None);

    // Through the full stack: replica B reuses replica A's upload.
    let config = StoreConfig {
        redis_url: Some(server.url.clone()),
        data_dir: tempfile::tempdir().unwrap().path().join("unused"),
        memory_capacity: 100,
    };
    let dedup_a = Dedup::new(open_store(&config).await.unwrap());
    let dedup_b = Dedup::new(open_store(&config).await.unwrap());
    let uploads = AtomicUsize::new(0);
    let (a, uploaded_a) = dedup_a
        .get_or_upload(&key, || counted_upload(&uploads, "shared"))
        .await
        .unwrap();
    let (b, uploaded_b) = dedup_b
        .get_or_upload(&key, || counted_upload(&uploads, "duplicate"))
        .await
        .unwrap();
    assert!(uploaded_a);
    assert!(!uploaded_b);
    assert_eq!(a, b);
    assert_eq!(uploads.load(Ordering::SeqCst), 1);
    assert!(!config.data_dir.exists(), "no redb file when Redis is used");
}

#[tokio::test]
async fn unreachable_redis_does_not_stop_uploads() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    assert!(RedisStore::connect(&url).await.is_err());
    assert!(RedisStore::open("not a url").is_err());

    let config = StoreConfig {
        redis_url: Some(url),
        data_dir: tempfile::tempdir().unwrap().path().to_path_buf(),
        memory_capacity: 100,
    };
    let store = open_store(&config).await.unwrap();
    let key = FileKey::new(b"image", "id");
    assert!(store.get(&key).await.is_err());
    let dedup = Dedup::new(store);
    let uploads = AtomicUsize::new(0);
    let (file, uploaded) = dedup
        .get_or_upload(&key, || counted_upload(&uploads, "f1"))
        .await
        .unwrap();
    assert!(uploaded);
    assert_eq!(file.file_id, "f1");
}

// ---------------------------------------------------------------- dedup

/// An upload that counts its calls, takes a little while, and succeeds with `id`.
async fn counted_upload(calls: &AtomicUsize, id: impl Into<String>) -> Result<StoredFile, String> {
    let id = id.into();
    calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(live(&id))
}

/// An upload that counts its calls, takes a little while, and fails.
async fn failing_upload(calls: &AtomicUsize) -> Result<StoredFile, String> {
    calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    Err("upstream said no".to_owned())
}

fn memory_dedup() -> Dedup {
    Dedup::new(Arc::new(MemoryStore::new(100)))
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_one_upload() {
    let dedup = memory_dedup();
    let key = FileKey::new(b"image", "id");
    let uploads = AtomicUsize::new(0);
    let results = join_all((0..10).map(|i| {
        let uploads = &uploads;
        dedup.get_or_upload(&key, move || counted_upload(uploads, format!("file-{i}")))
    }))
    .await;
    assert_eq!(uploads.load(Ordering::SeqCst), 1);
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert!(results.iter().all(|(file, _)| *file == results[0].0));
    assert_eq!(results.iter().filter(|(_, uploaded)| *uploaded).count(), 1);

    // Later callers get it from the store.
    let (file, uploaded) = dedup
        .get_or_upload(&key, || counted_upload(&uploads, "again"))
        .await
        .unwrap();
    assert!(!uploaded);
    assert_eq!(file, results[0].0);
    assert_eq!(uploads.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn different_keys_upload_separately() {
    let dedup = memory_dedup();
    let uploads = AtomicUsize::new(0);
    let keys = [
        FileKey::new(b"one", "id"),
        FileKey::new(b"two", "id"),
        FileKey::new(b"one", "other-identity"),
    ];
    let results = join_all(keys.iter().enumerate().flat_map(|(i, key)| {
        let uploads = &uploads;
        let dedup = &dedup;
        (0..3)
            .map(move |_| dedup.get_or_upload(key, move || counted_upload(uploads, i.to_string())))
    }))
    .await;
    assert_eq!(uploads.load(Ordering::SeqCst), 3);
    let ids: Vec<String> = results
        .into_iter()
        .map(|result| result.unwrap().0.file_id)
        .collect();
    assert_eq!(ids, ["0", "0", "0", "1", "1", "1", "2", "2", "2"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_upload_reaches_every_waiter_and_is_not_cached() {
    let dedup = memory_dedup();
    let key = FileKey::new(b"image", "id");
    let uploads = AtomicUsize::new(0);
    let results =
        join_all((0..10).map(|_| dedup.get_or_upload(&key, || failing_upload(&uploads)))).await;
    assert_eq!(uploads.load(Ordering::SeqCst), 1);
    for result in results {
        assert_eq!(
            result.unwrap_err(),
            DedupError::Upload("upstream said no".to_owned())
        );
    }
    assert_eq!(dedup.store().get(&key).await.unwrap(), None);

    let (file, uploaded) = dedup
        .get_or_upload(&key, || counted_upload(&uploads, "second try"))
        .await
        .unwrap();
    assert!(uploaded);
    assert_eq!(file.file_id, "second try");
    assert_eq!(uploads.load(Ordering::SeqCst), 2);
    let message = DedupError::Upload("boom".to_owned()).to_string();
    assert!(message.contains("boom"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn forget_makes_the_next_call_upload_again() {
    let dedup = memory_dedup();
    let key = FileKey::new(b"image", "id");
    let uploads = AtomicUsize::new(0);
    let (first, _) = dedup
        .get_or_upload(&key, || counted_upload(&uploads, "stale"))
        .await
        .unwrap();
    dedup.forget(&key).await.unwrap();
    let (second, uploaded) = dedup
        .get_or_upload(&key, || counted_upload(&uploads, "fresh"))
        .await
        .unwrap();
    assert!(uploaded);
    assert_eq!(first.file_id, "stale");
    assert_eq!(second.file_id, "fresh");
    assert_eq!(uploads.load(Ordering::SeqCst), 2);
}

/// A store that is always down.
struct BrokenStore;

impl BrokenStore {
    fn error() -> StoreError {
        StoreError::Io(std::io::Error::other("store is down"))
    }
}

impl FileStore for BrokenStore {
    fn get<'a>(&'a self, _key: &'a FileKey) -> StoreFuture<'a, Option<StoredFile>> {
        Box::pin(async { Err(Self::error()) })
    }
    fn put<'a>(&'a self, _key: &'a FileKey, _file: &'a StoredFile) -> StoreFuture<'a, ()> {
        Box::pin(async { Err(Self::error()) })
    }
    fn remove<'a>(&'a self, _key: &'a FileKey) -> StoreFuture<'a, ()> {
        Box::pin(async { Err(Self::error()) })
    }
}

#[tokio::test(start_paused = true)]
async fn a_broken_store_never_stops_uploads() {
    let dedup = Dedup::new(Arc::new(BrokenStore));
    let key = FileKey::new(b"image", "id");
    let uploads = AtomicUsize::new(0);
    let results = join_all(
        (0..10).map(|_| dedup.get_or_upload(&key, || counted_upload(&uploads, "uploaded"))),
    )
    .await;
    assert_eq!(uploads.load(Ordering::SeqCst), 1, "still single-flight");
    for result in results {
        assert_eq!(result.unwrap().0.file_id, "uploaded");
    }
    let (_, uploaded) = dedup
        .get_or_upload(&key, || counted_upload(&uploads, "uploaded"))
        .await
        .unwrap();
    assert!(uploaded, "nothing could be stored, so it uploads again");
    assert_eq!(uploads.load(Ordering::SeqCst), 2);
    assert!(dedup.forget(&key).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_waiter_takes_over_when_the_uploader_is_cancelled() {
    let dedup = memory_dedup();
    let key = FileKey::new(b"image", "id");

    // `tokio::spawn` also checks that `get_or_upload` futures are `Send`.
    let leader = tokio::spawn({
        let (dedup, key) = (dedup.clone(), key.clone());
        async move {
            dedup
                .get_or_upload(&key, || {
                    std::future::pending::<Result<StoredFile, String>>()
                })
                .await
        }
    });
    tokio::task::yield_now().await;
    let waiter = tokio::spawn({
        let (dedup, key) = (dedup.clone(), key.clone());
        async move {
            dedup
                .get_or_upload(&key, || async { Ok::<_, String>(live("taken over")) })
                .await
        }
    });
    tokio::task::yield_now().await;
    assert!(format!("{dedup:?}").contains("in_flight: 1"), "{dedup:?}");
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    let (file, uploaded) = waiter.await.unwrap().unwrap();
    assert!(uploaded);
    assert_eq!(file.file_id, "taken over");
}
