//! Shared store for several replicas: Redis keys with a TTL (`SET key value EX ttl`).

use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Entry, KvStore, StoreError, StoreFuture, unix_now};

/// How long to wait for a connection or a reply: a slow Redis must not hold up a chat.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Reconnection attempts after a dropped connection before a command gives up.
const RETRIES: usize = 2;

/// The lifetime given to a key found without a TTL (one the adapter did not write).
const NO_TTL_SECS: i64 = 24 * 60 * 60;

/// Entries in Redis (`SET key value EX ttl` / `GET` + `TTL` / `DEL`), shared by every replica that uses it.
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

    /// Its reconnecting, multiplexed connection (the limits share it: see `crate::limits`).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(())
    }
}

impl KvStore for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Entry>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            // One transaction, so the key cannot expire between the two.
            let (value, ttl): (Option<Vec<u8>>, i64) = redis::pipe()
                .atomic()
                .cmd("GET")
                .arg(key)
                .cmd("TTL")
                .arg(key)
                .query_async(&mut conn)
                .await?;
            let Some(value) = value else {
                return Ok(None);
            };
            // Every key is written with `EX`; one without a TTL (-1) was not, and is kept a day.
            let ttl = if ttl < 0 { NO_TTL_SECS } else { ttl };
            Ok(Some(Entry {
                value: Bytes::from(value),
                expires_at: unix_now().saturating_add(ttl),
            }))
        })
    }

    fn put<'a>(&'a self, key: &'a str, entry: &'a Entry) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let Some(ttl) = entry.remaining_at(unix_now()) else {
                return self.remove(key).await;
            };
            let mut conn = self.conn.clone();
            redis::cmd("SET")
                .arg(key)
                .arg(&entry.value[..])
                .arg("EX")
                .arg(ttl.as_secs())
                .query_async::<()>(&mut conn)
                .await?;
            Ok(())
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            redis::cmd("DEL")
                .arg(key)
                .query_async::<()>(&mut conn)
                .await?;
            Ok(())
        })
    }
}
