//! The prompt cache: a prompt prefix seen again within the TTL counts as `precached_prompt_tokens`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::lock;

/// Where a prefix is cached: the identity, and the client's `X-Session-ID` if it sent one.
type Slot = (String, Option<String>, u64);

/// Recently seen prompt prefixes per identity and session, each with its last-seen time.
#[derive(Debug)]
pub(crate) struct PromptCache {
    ttl: Duration,
    seen: Mutex<HashMap<Slot, Instant>>,
}

/// One prefix of a prompt: its hash and how many tokens it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prefix {
    /// Hash of the messages up to and including this one.
    pub(crate) hash: u64,
    /// Prompt tokens of that prefix.
    pub(crate) tokens: usize,
}

impl PromptCache {
    /// A cache whose entries live `ttl` after their last hit.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the tokens of the longest prefix seen within the TTL under the same identity and
    /// session (`None`: requests without `X-Session-ID`), then remembers all prefixes there. A hit
    /// needs an identical prefix; nothing is left to chance.
    pub(crate) fn hit(&self, identity: &str, session: Option<&str>, prefixes: &[Prefix]) -> usize {
        let now = Instant::now();
        let mut seen = lock(&self.seen);
        if seen.len() > 4096 {
            seen.retain(|_, at| now.duration_since(*at) < self.ttl);
        }
        let slot = |hash: u64| (identity.to_owned(), session.map(str::to_owned), hash);
        let cached = prefixes
            .iter()
            .rev()
            .find(|p| {
                seen.get(&slot(p.hash))
                    .is_some_and(|at| now.duration_since(*at) < self.ttl)
            })
            .map_or(0, |p| p.tokens);
        for prefix in prefixes {
            seen.insert(slot(prefix.hash), now);
        }
        cached
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_prefix_is_cached() {
        let cache = PromptCache::new(Duration::from_secs(30));
        let first = [Prefix {
            hash: 1,
            tokens: 10,
        }];
        let second = [
            Prefix {
                hash: 1,
                tokens: 10,
            },
            Prefix {
                hash: 2,
                tokens: 25,
            },
        ];
        assert_eq!(cache.hit("a", None, &first), 0);
        assert_eq!(cache.hit("a", None, &second), 10);
        assert_eq!(cache.hit("b", None, &second), 0);
        assert_eq!(cache.hit("a", None, &second), 25);
        assert_eq!(cache.hit("a", Some("s"), &second), 0);
        assert_eq!(cache.hit("a", Some("s"), &first), 10);
        assert_eq!(cache.hit("a", Some("t"), &first), 0);
    }
}
