//! Limit counters in Redis, shared by every replica: one Lua script per request decides and counts
//! atomically on Redis' clock (so replicas agree on the windows), another adds the answer's tokens
//! and ends its concurrency lease.
//!
//! Keys of a limited key `name` (all under one hash tag, so a cluster keeps them on one node):
//! `gigachat-adapter:limits:v1:{name}:requests:<minute>`, `…:tokens:m:<minute>`,
//! `…:tokens:d:<day>` (counters with an expiry), and `…:leases`: a sorted set of the requests in
//! flight scored by when their lease ends, so a replica that died mid-request frees its slot
//! once the lease runs out. Minutes and days are counted from the Unix epoch (days are UTC).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::window::{Decision, Used, decide};
use crate::policy::Limits;

/// Reads the key's counters, decides like [`decide`] and, when admitted, counts the request and
/// adds its lease. Returns Redis' Unix second, the counters read and 1 when admitted.
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1])
local now_ms = now * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = KEYS[1]
local minute = math.floor(now / 60)
local rpm, tpm, tpd, conc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local lease_ms = tonumber(ARGV[6])
local requests_key = prefix .. ':requests:' .. minute
local leases_key = prefix .. ':leases'
local requests, tokens_minute, tokens_day, in_flight = 0, 0, 0, 0
if rpm >= 0 then requests = tonumber(redis.call('GET', requests_key) or '0') end
if tpm >= 0 then tokens_minute = tonumber(redis.call('GET', prefix .. ':tokens:m:' .. minute) or '0') end
if tpd >= 0 then tokens_day = tonumber(redis.call('GET', prefix .. ':tokens:d:' .. math.floor(now / 86400)) or '0') end
if conc >= 0 then
  redis.call('ZREMRANGEBYSCORE', leases_key, '-inf', now_ms)
  in_flight = redis.call('ZCARD', leases_key)
end
local refused = (conc >= 0 and in_flight >= conc) or (rpm >= 0 and requests >= rpm)
  or (tpm >= 0 and tokens_minute >= tpm) or (tpd >= 0 and tokens_day >= tpd)
if not refused then
  if rpm >= 0 then
    redis.call('INCR', requests_key)
    redis.call('EXPIRE', requests_key, 120)
  end
  if conc >= 0 then
    redis.call('ZADD', leases_key, now_ms + lease_ms, ARGV[5])
    redis.call('PEXPIRE', leases_key, lease_ms * 2)
  end
end
return {now, requests, tokens_minute, tokens_day, in_flight, refused and 0 or 1}
";

/// Adds ARGV[1] tokens to the minute (ARGV[2] = '1') and day (ARGV[3] = '1') counters and ends
/// the lease ARGV[4] (none when empty).
const FINISH: &str = r"
local now = tonumber(redis.call('TIME')[1])
local prefix = KEYS[1]
local tokens = tonumber(ARGV[1])
if tokens > 0 and ARGV[2] == '1' then
  local key = prefix .. ':tokens:m:' .. math.floor(now / 60)
  redis.call('INCRBY', key, tokens)
  redis.call('EXPIRE', key, 120)
end
if tokens > 0 and ARGV[3] == '1' then
  local key = prefix .. ':tokens:d:' .. math.floor(now / 86400)
  redis.call('INCRBY', key, tokens)
  redis.call('EXPIRE', key, 172800)
end
if ARGV[4] ~= '' then redis.call('ZREM', prefix .. ':leases', ARGV[4]) end
return 1
";

/// Extends the lease ARGV[1] (if it is still held) by ARGV[2] milliseconds from now.
const RENEW: &str = r"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local leases_key = KEYS[1] .. ':leases'
local lease_ms = tonumber(ARGV[2])
local renewed = redis.call('ZADD', leases_key, 'XX', 'CH', now_ms + lease_ms, ARGV[1])
redis.call('PEXPIRE', leases_key, lease_ms * 2)
return renewed
";

/// A Lua script run by its SHA1 (`EVALSHA`), loaded on first use and again when Redis has lost it
/// (a restart): the script's text crosses the network only then.
struct Script {
    source: &'static str,
    sha: RwLock<Option<Arc<str>>>,
}

impl Script {
    const fn new(source: &'static str) -> Self {
        Self {
            source,
            sha: RwLock::new(None),
        }
    }

    async fn load(&self, conn: &mut ConnectionManager) -> redis::RedisResult<Arc<str>> {
        let sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(self.source)
            .query_async(conn)
            .await?;
        let sha: Arc<str> = Arc::from(sha);
        *self.sha.write().unwrap_or_else(PoisonError::into_inner) = Some(sha.clone());
        Ok(sha)
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        conn: &mut ConnectionManager,
        prefix: &str,
        args: &[String],
    ) -> redis::RedisResult<T> {
        let known = self
            .sha
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let sha = match known {
            Some(sha) => sha,
            None => self.load(conn).await?,
        };
        let eval = |sha: &str| {
            let mut cmd = redis::cmd("EVALSHA");
            cmd.arg(sha).arg(1).arg(prefix).arg(args);
            cmd
        };
        match eval(&sha).query_async(conn).await {
            Err(err) if err.code() == Some("NOSCRIPT") => {
                let sha = self.load(conn).await?;
                eval(&sha).query_async(conn).await
            }
            answered => answered,
        }
    }
}

/// The limit counters of every replica, in the Redis behind one multiplexed connection.
pub struct RedisWindows {
    conn: ConnectionManager,
    lease: Duration,
    admit: Script,
    finish: Script,
    renew: Script,
}

/// A limit for the script: the number, or -1 for none.
fn limit_arg(limit: Option<u64>) -> String {
    limit.map_or_else(|| "-1".to_owned(), |limit| limit.to_string())
}

/// The key prefix of `name`'s counters.
fn prefix(name: &str) -> String {
    format!("gigachat-adapter:limits:v1:{{{name}}}")
}

impl RedisWindows {
    /// Counters behind `conn`; a request's concurrency lease lasts `lease` unless renewed.
    pub fn new(conn: ConnectionManager, lease: Duration) -> Self {
        Self {
            conn,
            lease,
            admit: Script::new(ADMIT),
            finish: Script::new(FINISH),
            renew: Script::new(RENEW),
        }
    }

    /// How long a lease lasts without renewal.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    fn lease_ms(&self) -> String {
        self.lease.as_millis().to_string()
    }

    /// Decides a request of `name` (one round trip); an admitted one is counted and, when the key
    /// has a concurrency limit, holds the lease `lease_id` until [`Self::finish`] or expiry.
    pub async fn admit(
        &self,
        name: &str,
        limits: &Limits,
        lease_id: &str,
    ) -> redis::RedisResult<Decision> {
        let args = [
            limit_arg(limits.requests_per_minute.map(u64::from)),
            limit_arg(limits.tokens_per_minute),
            limit_arg(limits.tokens_per_day),
            limit_arg(limits.concurrent.map(u64::from)),
            lease_id.to_owned(),
            self.lease_ms(),
        ];
        let mut conn = self.conn.clone();
        let (now, requests, tokens_minute, tokens_day, in_flight, admitted): (
            u64,
            u64,
            u64,
            u64,
            u64,
            u8,
        ) = self.admit.run(&mut conn, &prefix(name), &args).await?;
        let used = Used {
            requests,
            tokens_minute,
            tokens_day,
            in_flight,
        };
        let decision = decide(limits, used, now);
        debug_assert_eq!(decision.exceeded.is_none(), admitted == 1);
        Ok(decision)
    }

    /// Ends an admitted request of `name`: adds its `tokens` to the token windows the key limits,
    /// and ends its lease (`lease_id`, when it holds one).
    pub async fn finish(
        &self,
        name: &str,
        limits: &Limits,
        tokens: u64,
        lease_id: Option<&str>,
    ) -> redis::RedisResult<()> {
        let flag = |limited: bool| if limited { "1" } else { "0" }.to_owned();
        let args = [
            tokens.to_string(),
            flag(limits.tokens_per_minute.is_some()),
            flag(limits.tokens_per_day.is_some()),
            lease_id.unwrap_or_default().to_owned(),
        ];
        let mut conn = self.conn.clone();
        self.finish.run::<()>(&mut conn, &prefix(name), &args).await
    }

    /// Extends the lease `lease_id` of `name` by the lease time from now.
    pub async fn renew(&self, name: &str, lease_id: &str) -> redis::RedisResult<()> {
        let args = [lease_id.to_owned(), self.lease_ms()];
        let mut conn = self.conn.clone();
        self.renew.run::<()>(&mut conn, &prefix(name), &args).await
    }
}
