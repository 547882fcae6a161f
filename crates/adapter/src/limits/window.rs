//! Fixed windows (the minute and the UTC day a moment falls in) and what a key's counters in them
//! allow; the in-process backend keeps the counters in a map, the Redis one in Redis, and both
//! decide with [`decide`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::policy::Limits;

/// Seconds in the request and token-per-minute windows.
pub const MINUTE: u64 = 60;

/// Seconds in the token-per-day window (a UTC day: Unix time has no leap seconds).
pub const DAY: u64 = 86_400;

/// What a key has used in the windows `now` falls in, before the request being decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Used {
    /// Requests started this minute.
    pub requests: u64,
    /// Tokens reported this minute.
    pub tokens_minute: u64,
    /// Tokens reported this UTC day.
    pub tokens_day: u64,
    /// Requests in flight.
    pub in_flight: u64,
}

/// The limit that refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// `concurrent`.
    Concurrent,
    /// `requests_per_minute`.
    RequestsPerMinute,
    /// `tokens_per_minute`.
    TokensPerMinute,
    /// `tokens_per_day`.
    TokensPerDay,
}

impl Exceeded {
    /// The setting's name, for the error message.
    pub fn setting(self) -> &'static str {
        match self {
            Exceeded::Concurrent => "concurrent",
            Exceeded::RequestsPerMinute => "requests_per_minute",
            Exceeded::TokensPerMinute => "tokens_per_minute",
            Exceeded::TokensPerDay => "tokens_per_day",
        }
    }
}

/// One limit as OpenAI's `x-ratelimit-*` headers tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The limit.
    pub limit: u64,
    /// What is left of it in the current window.
    pub remaining: u64,
    /// Until the window ends.
    pub reset: Duration,
}

/// What the limits say about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The limit that refuses it; `None`: admitted.
    pub exceeded: Option<Exceeded>,
    /// The request limit (when the key has one), counting this request if admitted.
    pub requests: Option<Quota>,
    /// The token limit (per minute, else per day), when the key has one.
    pub tokens: Option<Quota>,
    /// When a refused request may succeed.
    pub retry_after: Duration,
}

/// Until the end of the `window`-second window `now` (Unix seconds) is in; at least a second.
pub fn until_reset(now: u64, window: u64) -> Duration {
    Duration::from_secs((window - now % window).max(1))
}

/// Whether `used` admits one more request under `limits` at Unix second `now`, and the quotas
/// the answer's headers tell. Concurrency is checked first, then requests, then tokens; a token
/// limit refuses once the window's reported tokens reach it (an answer's usage is known only
/// after it, so the last admitted answer may pass it).
pub fn decide(limits: &Limits, used: Used, now: u64) -> Decision {
    let full = |limit: Option<u64>, count: u64| limit.is_some_and(|limit| count >= limit);
    let exceeded = if full(limits.concurrent.map(u64::from), used.in_flight) {
        Some(Exceeded::Concurrent)
    } else if full(limits.requests_per_minute.map(u64::from), used.requests) {
        Some(Exceeded::RequestsPerMinute)
    } else if full(limits.tokens_per_minute, used.tokens_minute) {
        Some(Exceeded::TokensPerMinute)
    } else if full(limits.tokens_per_day, used.tokens_day) {
        Some(Exceeded::TokensPerDay)
    } else {
        None
    };
    let counted = used.requests + u64::from(exceeded.is_none());
    let requests = limits.requests_per_minute.map(|limit| Quota {
        limit: u64::from(limit),
        remaining: u64::from(limit).saturating_sub(counted),
        reset: until_reset(now, MINUTE),
    });
    let tokens = match (limits.tokens_per_minute, limits.tokens_per_day) {
        (Some(limit), _) => Some((limit, used.tokens_minute, MINUTE)),
        (None, Some(limit)) => Some((limit, used.tokens_day, DAY)),
        (None, None) => None,
    }
    .map(|(limit, spent, window)| Quota {
        limit,
        remaining: limit.saturating_sub(spent),
        reset: until_reset(now, window),
    });
    let retry_after = match exceeded {
        Some(Exceeded::RequestsPerMinute | Exceeded::TokensPerMinute) => until_reset(now, MINUTE),
        Some(Exceeded::TokensPerDay) => until_reset(now, DAY),
        Some(Exceeded::Concurrent) | None => Duration::from_secs(1),
    };
    Decision {
        exceeded,
        requests,
        tokens,
        retry_after,
    }
}

/// One key's counters in its current windows.
#[derive(Debug, Default)]
struct Counters {
    minute: u64,
    requests: u64,
    tokens_minute: u64,
    day: u64,
    tokens_day: u64,
    in_flight: u64,
}

impl Counters {
    /// Starts new windows when `now` has left the ones counted.
    fn roll(&mut self, now: u64) {
        if self.minute != now / MINUTE {
            self.minute = now / MINUTE;
            self.requests = 0;
            self.tokens_minute = 0;
        }
        if self.day != now / DAY {
            self.day = now / DAY;
            self.tokens_day = 0;
        }
    }
}

/// The counters of every limited key in this process (without `REDIS_URL`).
#[derive(Debug, Default)]
pub struct LocalWindows {
    keys: Mutex<HashMap<Arc<str>, Counters>>,
}

impl LocalWindows {
    fn with<T>(&self, key: &Arc<str>, now: u64, change: impl FnOnce(&mut Counters) -> T) -> T {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let counters = keys.entry(key.clone()).or_default();
        counters.roll(now);
        change(counters)
    }

    /// Decides a request of `key` at Unix second `now`; an admitted one is counted (and held in
    /// flight until [`Self::finish`] when the key has a concurrency limit).
    pub fn admit(&self, key: &Arc<str>, limits: &Limits, now: u64) -> Decision {
        self.with(key, now, |counters| {
            let used = Used {
                requests: counters.requests,
                tokens_minute: counters.tokens_minute,
                tokens_day: counters.tokens_day,
                in_flight: counters.in_flight,
            };
            let decision = decide(limits, used, now);
            if decision.exceeded.is_none() {
                counters.requests += 1;
                if limits.concurrent.is_some() {
                    counters.in_flight += 1;
                }
            }
            decision
        })
    }

    /// Ends an admitted request of `key` at Unix second `now`: adds the `tokens` GigaChat reported
    /// and frees its concurrency slot (`held`).
    pub fn finish(&self, key: &Arc<str>, tokens: u64, held: bool, now: u64) {
        self.with(key, now, |counters| {
            counters.tokens_minute = counters.tokens_minute.saturating_add(tokens);
            counters.tokens_day = counters.tokens_day.saturating_add(tokens);
            if held {
                counters.in_flight = counters.in_flight.saturating_sub(1);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-06T10:00:00Z: the start of a minute (and 10 hours into a UTC day).
    const T0: u64 = 1_796_551_200;

    fn limits(rpm: Option<u32>, tpm: Option<u64>, tpd: Option<u64>, conc: Option<u32>) -> Limits {
        Limits {
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            tokens_per_day: tpd,
            concurrent: conc,
        }
    }

    #[test]
    fn windows_end_at_the_minute_and_at_utc_midnight() {
        assert_eq!(T0 % MINUTE, 0);
        assert_eq!(until_reset(T0, MINUTE), Duration::from_secs(60));
        assert_eq!(until_reset(T0 + 59, MINUTE), Duration::from_secs(1));
        assert_eq!(until_reset(T0 + 15, MINUTE), Duration::from_secs(45));
        assert_eq!(until_reset(T0, DAY), Duration::from_secs(14 * 3600));
    }

    #[test]
    fn requests_per_minute_admit_exactly_the_limit_then_wait_for_the_next_minute() {
        let windows = LocalWindows::default();
        let key: Arc<str> = Arc::from("alice");
        let limits = limits(Some(3), None, None, None);
        let remaining: Vec<u64> = (0..3)
            .map(|_| windows.admit(&key, &limits, T0 + 10))
            .map(|decision| {
                assert_eq!(decision.exceeded, None);
                decision.requests.unwrap().remaining
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = windows.admit(&key, &limits, T0 + 20);
        assert_eq!(refused.exceeded, Some(Exceeded::RequestsPerMinute));
        assert_eq!(refused.retry_after, Duration::from_secs(40));
        assert_eq!(refused.requests.unwrap().remaining, 0);
        // Refusals are not counted; the next minute starts afresh.
        let next = windows.admit(&key, &limits, T0 + MINUTE);
        assert_eq!(next.exceeded, None);
        assert_eq!(next.requests.unwrap().remaining, 2);
        // Another key has its own window.
        let other: Arc<str> = Arc::from("bob");
        assert_eq!(windows.admit(&other, &limits, T0 + 20).exceeded, None);
    }

    #[test]
    fn tokens_count_after_the_answer_per_minute_and_per_day() {
        let windows = LocalWindows::default();
        let key: Arc<str> = Arc::from("alice");
        let limits = limits(None, Some(100), Some(150), None);
        assert_eq!(windows.admit(&key, &limits, T0).exceeded, None);
        windows.finish(&key, 120, false, T0 + 1);
        let refused = windows.admit(&key, &limits, T0 + 2);
        assert_eq!(refused.exceeded, Some(Exceeded::TokensPerMinute));
        assert_eq!(refused.retry_after, Duration::from_secs(58));
        assert_eq!(refused.tokens.unwrap().remaining, 0);
        // The next minute has room, the day has 30 left.
        let admitted = windows.admit(&key, &limits, T0 + MINUTE);
        assert_eq!(admitted.exceeded, None);
        assert_eq!(admitted.tokens.unwrap().remaining, 100);
        windows.finish(&key, 40, false, T0 + MINUTE);
        let refused = windows.admit(&key, &limits, T0 + 2 * MINUTE);
        assert_eq!(refused.exceeded, Some(Exceeded::TokensPerDay));
        assert_eq!(
            refused.retry_after,
            until_reset(T0, DAY) - Duration::from_secs(120)
        );
        // The next UTC day starts afresh.
        let tomorrow = T0 - T0 % DAY + DAY;
        assert_eq!(windows.admit(&key, &limits, tomorrow).exceeded, None);
    }

    #[test]
    fn tokens_headers_tell_the_day_when_there_is_no_minute_limit() {
        let decision = decide(
            &limits(None, None, Some(1000), None),
            Used {
                tokens_day: 250,
                ..Used::default()
            },
            T0,
        );
        let tokens = decision.tokens.unwrap();
        assert_eq!((tokens.limit, tokens.remaining), (1000, 750));
        assert_eq!(tokens.reset, Duration::from_secs(14 * 3600));
        assert_eq!(decision.requests, None);
    }

    #[test]
    fn concurrency_holds_a_slot_until_the_request_finishes() {
        let windows = LocalWindows::default();
        let key: Arc<str> = Arc::from("alice");
        let limits = limits(None, None, None, Some(2));
        assert_eq!(windows.admit(&key, &limits, T0).exceeded, None);
        assert_eq!(windows.admit(&key, &limits, T0).exceeded, None);
        let refused = windows.admit(&key, &limits, T0);
        assert_eq!(refused.exceeded, Some(Exceeded::Concurrent));
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        windows.finish(&key, 0, true, T0 + 1);
        assert_eq!(windows.admit(&key, &limits, T0 + 1).exceeded, None);
        // A new minute does not free slots.
        assert_eq!(
            windows.admit(&key, &limits, T0 + MINUTE).exceeded,
            Some(Exceeded::Concurrent)
        );
    }
}
