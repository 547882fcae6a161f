//! Per-account concurrency slots: a semaphore in process, or leases in a Redis sorted set shared by
//! every replica (each lease expires unless renewed, so a replica that dies frees its slots).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How often a waiter asks Redis again when no local release woke it first.
const POLL: Duration = Duration::from_millis(50);

/// How long one Redis command may take.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Drops expired leases, then adds one if fewer than the limit are held; Redis's own clock
/// decides expiry, so replicas' clocks need not agree. KEYS[1]: the set; ARGV: limit, lease ms, id.
const ACQUIRE: &str = r"
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0
";

/// Moves a held lease's expiry on; 0 when it already expired (and may have been taken).
const RENEW: &str = r"
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], 'XX', now_ms + tonumber(ARGV[1]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
  return 1
end
return 0
";

/// A connection for the leases of every account (connects on first use).
pub(super) fn connect(url: &str) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_number_of_retries(1);
    Ok(ConnectionManager::new_lazy_with_config(client, config)?)
}

/// The slots of one account.
pub(super) enum Slots {
    /// In this process only.
    Local(Arc<Semaphore>),
    /// Leases in Redis, shared by replicas.
    Shared(Arc<Leases>),
}

/// The Redis side of an account's slots.
pub(super) struct Leases {
    conn: ConnectionManager,
    key: String,
    max: u32,
    lease: Duration,
    /// Woken when a lease of this process is released, so a local waiter need not poll.
    freed: Notify,
}

/// A held slot, given back on drop.
pub(super) enum Slot {
    /// A permit of the in-process semaphore.
    Local {
        /// Given back to the semaphore on drop.
        _permit: OwnedSemaphorePermit,
    },
    /// A Redis lease, renewed in the background while held.
    Shared {
        /// Removed from Redis on drop.
        _lease: Lease,
    },
    /// Redis could not be asked: served without a slot (logged).
    Unchecked,
}

/// A lease in Redis: renewed every third of its lifetime, removed on drop.
pub(super) struct Lease {
    leases: Arc<Leases>,
    id: String,
    renewal: tokio::task::JoinHandle<()>,
}

/// No slot freed within the wait.
#[derive(Debug)]
pub(super) struct Busy;

impl Slots {
    /// `max` slots for the account `name`: leases in Redis when `redis` is given.
    pub(super) fn new(
        name: &str,
        max: u32,
        lease: Duration,
        redis: Option<ConnectionManager>,
    ) -> Self {
        match redis {
            Some(conn) => Slots::Shared(Arc::new(Leases {
                conn,
                key: format!("gigachat-adapter:account:v1:{name}:leases"),
                max: max.max(1),
                lease,
                freed: Notify::new(),
            })),
            None => Slots::Local(Arc::new(Semaphore::new(
                usize::try_from(max.max(1)).unwrap_or(usize::MAX),
            ))),
        }
    }

    /// A free slot now, if there is one.
    pub(super) async fn try_acquire(&self) -> Option<Slot> {
        match self {
            Slots::Local(semaphore) => semaphore
                .clone()
                .try_acquire_owned()
                .ok()
                .map(|permit| Slot::Local { _permit: permit }),
            Slots::Shared(leases) => leases.try_acquire().await,
        }
    }

    /// A slot, waiting at most `wait` for one to free.
    pub(super) async fn acquire(&self, wait: Duration) -> Result<Slot, Busy> {
        match self {
            Slots::Local(semaphore) => {
                match tokio::time::timeout(wait, semaphore.clone().acquire_owned()).await {
                    Ok(Ok(permit)) => Ok(Slot::Local { _permit: permit }),
                    _ => Err(Busy),
                }
            }
            Slots::Shared(leases) => {
                let deadline = tokio::time::Instant::now() + wait;
                loop {
                    let freed = leases.freed.notified();
                    if let Some(slot) = leases.try_acquire().await {
                        return Ok(slot);
                    }
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        return Err(Busy);
                    }
                    let nap = POLL.min(deadline - now);
                    tokio::select! {
                        () = freed => {}
                        () = tokio::time::sleep(nap) => {}
                    }
                }
            }
        }
    }
}

impl Leases {
    /// A lease if fewer than `max` are held; [`Slot::Unchecked`] when Redis fails.
    async fn try_acquire(self: &Arc<Self>) -> Option<Slot> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut conn = self.conn.clone();
        let taken: Result<i64, _> = redis::cmd("EVAL")
            .arg(ACQUIRE)
            .arg(1)
            .arg(&self.key)
            .arg(self.max)
            .arg(lease_ms(self.lease))
            .arg(&id)
            .query_async(&mut conn)
            .await;
        match taken {
            Ok(1) => Some(Slot::Shared {
                _lease: Lease {
                    leases: self.clone(),
                    renewal: tokio::spawn(renew(self.clone(), id.clone())),
                    id,
                },
            }),
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(%err, key = %self.key, "Redis did not answer for an account slot; serving without one");
                Some(Slot::Unchecked)
            }
        }
    }
}

/// Renews the lease `id` until aborted (its [`Lease`] dropped).
async fn renew(leases: Arc<Leases>, id: String) {
    let every = (leases.lease / 3).max(Duration::from_millis(100));
    let mut conn = leases.conn.clone();
    loop {
        tokio::time::sleep(every).await;
        let renewed: Result<i64, _> = redis::cmd("EVAL")
            .arg(RENEW)
            .arg(1)
            .arg(&leases.key)
            .arg(lease_ms(leases.lease))
            .arg(&id)
            .query_async(&mut conn)
            .await;
        match renewed {
            Ok(1) => {}
            Ok(_) => {
                tracing::warn!(key = %leases.key, "an account lease expired before it was renewed");
                return;
            }
            Err(err) => tracing::warn!(%err, key = %leases.key, "could not renew an account lease"),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
        let leases = self.leases.clone();
        let id = std::mem::take(&mut self.id);
        // Dropped outside a runtime (at exit), the lease simply expires.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let mut conn = leases.conn.clone();
                let removed: Result<i64, _> = redis::cmd("ZREM")
                    .arg(&leases.key)
                    .arg(&id)
                    .query_async(&mut conn)
                    .await;
                if let Err(err) = removed {
                    tracing::warn!(%err, key = %leases.key, "could not release an account lease; it expires on its own");
                }
                leases.freed.notify_waiters();
            });
        }
    }
}

fn lease_ms(lease: Duration) -> u64 {
    u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1)
}
