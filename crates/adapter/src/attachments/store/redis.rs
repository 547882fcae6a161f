//! Shared store for several replicas: Redis keys with a TTL, values as JSON.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{FileKey, FileStore, StoreError, StoreFuture, StoredFile, unix_now};

/// How long to wait for a connection or a reply: a slow Redis must not hold up a chat.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Reconnection attempts after a dropped connection before a command gives up.
const RETRIES: usize = 2;

/// File ids in Redis (`SET key value EX ttl` / `GET` / `DEL`), shared by every replica that uses it.
#[derive(Clone)]
pub struct RedisStore {
    /// Reconnecting, multiplexed connection; cloning shares it.
    conn: ConnectionManager,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password, so it is not shown.
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for the Redis at `url` (`redis://[user:password@]host[:port][/db]`); connects on
    /// first use, so only a malformed URL fails here. Must be called inside a tokio runtime.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(RETRIES);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self { conn })
    }

    /// A store for the Redis at `url` that has answered a `PING`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let store = Self::open(url)?;
        store.ping().await?;
        Ok(store)
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(())
    }
}

impl FileStore for RedisStore {
    fn get<'a>(&'a self, key: &'a FileKey) -> StoreFuture<'a, Option<StoredFile>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let value: Option<String> = redis::cmd("GET")
                .arg(key.storage_key())
                .query_async(&mut conn)
                .await?;
            let Some(value) = value else {
                return Ok(None);
            };
            let file: StoredFile = serde_json::from_str(&value)?;
            // Redis expires keys itself; this covers clock skew between replicas and Redis.
            Ok((!file.is_expired()).then_some(file))
        })
    }

    fn put<'a>(&'a self, key: &'a FileKey, file: &'a StoredFile) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let Some(ttl) = file.remaining_at(unix_now()) else {
                return self.remove(key).await;
            };
            let value = serde_json::to_string(file)?;
            let mut conn = self.conn.clone();
            redis::cmd("SET")
                .arg(key.storage_key())
                .arg(value)
                .arg("EX")
                .arg(ttl.as_secs())
                .query_async::<()>(&mut conn)
                .await?;
            Ok(())
        })
    }

    fn remove<'a>(&'a self, key: &'a FileKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            redis::cmd("DEL")
                .arg(key.storage_key())
                .query_async::<()>(&mut conn)
                .await?;
            Ok(())
        })
    }
}
