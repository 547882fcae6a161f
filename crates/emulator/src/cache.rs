//! The prompt cache: a prompt prefix seen again within the TTL counts as `precached_prompt_tokens`.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::fragments::MixHasher;
use crate::sync::lock;

/// Whose prefixes they are: the identity, and the client's `X-Session-ID` if it sent one.
type Owner = (String, Option<String>);

/// Entries kept before expired ones are dropped.
const PRUNE_ABOVE: usize = 4096;

/// Recently seen prompt prefixes per identity and session, each with its last-seen time.
#[derive(Debug)]
pub(crate) struct PromptCache {
    ttl: Duration,
    seen: Mutex<Seen>,
}

/// Prefix hashes (already hashes: mixed once more, not SipHashed) and when each was last seen.
type Hashes = HashMap<u64, Instant, BuildHasherDefault<MixHasher>>;

/// The prefix hashes seen, grouped by owner (one lookup of the owner per request, not per prefix).
#[derive(Debug, Default)]
struct Seen {
    by_owner: HashMap<Owner, Hashes>,
    entries: usize,
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
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Returns the tokens of the longest prefix seen within the TTL under the same identity and
    /// session (`None`: requests without `X-Session-ID`), then remembers all prefixes there. A hit
    /// needs an identical prefix; nothing is left to chance.
    pub(crate) fn hit(&self, identity: &str, session: Option<&str>, prefixes: &[Prefix]) -> usize {
        let now = Instant::now();
        let ttl = self.ttl;
        let mut seen = lock(&self.seen);
        let seen = &mut *seen;
        if seen.entries > PRUNE_ABOVE {
            seen.by_owner.retain(|_, hashes| {
                hashes.retain(|_, at| now.duration_since(*at) < ttl);
                !hashes.is_empty()
            });
            seen.entries = seen.by_owner.values().map(HashMap::len).sum();
        }
        let owner = (identity.to_owned(), session.map(str::to_owned));
        let hashes = seen.by_owner.entry(owner).or_default();
        let cached = prefixes
            .iter()
            .rev()
            .find(|p| {
                hashes
                    .get(&p.hash)
                    .is_some_and(|at| now.duration_since(*at) < ttl)
            })
            .map_or(0, |p| p.tokens);
        for prefix in prefixes {
            if hashes.insert(prefix.hash, now).is_none() {
                seen.entries += 1;
            }
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

    #[test]
    fn expired_prefixes_are_dropped_once_there_are_many() {
        let cache = PromptCache::new(Duration::ZERO);
        let many: Vec<Prefix> = (0..5000).map(|hash| Prefix { hash, tokens: 1 }).collect();
        assert_eq!(cache.hit("a", Some("s"), &many), 0);
        assert_eq!(lock(&cache.seen).entries, 5000);
        assert_eq!(cache.hit("b", None, &many[..2]), 0);
        let seen = lock(&cache.seen);
        assert_eq!(seen.entries, 2, "the expired 5,000 are gone");
        assert_eq!(seen.by_owner.len(), 1);
    }
}
