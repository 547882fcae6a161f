//! A single value cached for a while and recomputed by one caller at a time.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// One value with a time to live; concurrent misses wait for a single refresh.
pub struct TimedCache<T> {
    ttl: Duration,
    slot: Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> TimedCache<T> {
    /// An empty cache.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: Mutex::new(None),
        }
    }

    /// The cached value, or a fresh one from `load` (errors are returned, not cached).
    pub async fn get_or_try<E, F, Fut>(&self, load: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        let value = load().await?;
        *slot = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn expires_after_ttl() {
        let cache = TimedCache::new(Duration::from_secs(5));
        let one: Result<u32, ()> = cache.get_or_try(|| async { Ok(1) }).await;
        assert_eq!(one, Ok(1));
        let cached: Result<u32, ()> = cache.get_or_try(|| async { Ok(2) }).await;
        assert_eq!(cached, Ok(1));
        tokio::time::advance(Duration::from_secs(6)).await;
        let fresh: Result<u32, ()> = cache.get_or_try(|| async { Ok(3) }).await;
        assert_eq!(fresh, Ok(3));
    }
}
