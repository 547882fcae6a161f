//! Parts of chat bodies kept by their exact JSON text (each history message, the list of declared
//! functions), so the same text in a later request (an agent resends its whole history and tool
//! list every turn) is neither parsed nor measured again. Bounded: two generations of entries, the
//! older dropped whenever the newer fills its byte budget.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use crate::sync::lock;

/// Text a generation holds before it becomes the older one (the one before is dropped then).
const GENERATION_BYTES: usize = 8 << 20;

/// Longest text kept: bigger fragments are parsed every time.
const MAX_FRAGMENT_BYTES: usize = GENERATION_BYTES / 8;

/// Bytes of a text's start that find it at a position of a body (see [`FragmentCache::get_at`]).
const HEAD_BYTES: usize = 64;

/// Parsed values of type `T` by the JSON text they were parsed from.
#[derive(Debug)]
pub(crate) struct FragmentCache<T> {
    generations: Mutex<Generations<T>>,
}

/// A text and what was parsed from it.
#[derive(Debug)]
struct Entry<T> {
    text: Box<str>,
    value: Arc<T>,
}

/// Entries by a hash; each bucket holds the entries with that hash.
type Index<T> = HashMap<u64, Vec<Arc<Entry<T>>>, BuildHasherDefault<MixHasher>>;

/// Entries by the hash of their whole text and, for texts of [`HEAD_BYTES`] or more, by the hash
/// of their first [`HEAD_BYTES`].
#[derive(Debug)]
struct Generation<T> {
    by_text: Index<T>,
    by_head: Index<T>,
    bytes: usize,
}

impl<T> Default for Generation<T> {
    fn default() -> Self {
        Self {
            by_text: Index::default(),
            by_head: Index::default(),
            bytes: 0,
        }
    }
}

#[derive(Debug)]
struct Generations<T> {
    newer: Generation<T>,
    older: Generation<T>,
}

impl<T> Default for FragmentCache<T> {
    fn default() -> Self {
        Self {
            generations: Mutex::new(Generations {
                newer: Generation::default(),
                older: Generation::default(),
            }),
        }
    }
}

impl<T> FragmentCache<T> {
    /// The value parsed from `text` earlier, or the one `parse` makes now (kept for next time).
    pub(crate) fn get_or_parse<E>(
        &self,
        text: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        if text.len() > MAX_FRAGMENT_BYTES {
            return parse(text).map(Arc::new);
        }
        let hash = text_hash(text.as_bytes());
        if let Some(found) = self.get(hash, text) {
            return Ok(found);
        }
        let parsed = Arc::new(parse(text)?);
        self.insert(hash, text, parsed.clone());
        Ok(parsed)
    }

    /// The value of a kept text that `rest` starts with, and that text's length: how a body is
    /// read without scanning the texts it repeats. A JSON object or array ends where its text
    /// does, so at most one kept object or array can start `rest`.
    pub(crate) fn get_at(&self, rest: &[u8]) -> Option<(Arc<T>, usize)> {
        let head = rest.get(..HEAD_BYTES)?;
        let hash = text_hash(head);
        let starts = |entry: &&Arc<Entry<T>>| rest.starts_with(entry.text.as_bytes());
        let mut generations = lock(&self.generations);
        let generations = &mut *generations;
        let newer = generations.newer.by_head.get(&hash);
        if let Some(entry) = newer.and_then(|bucket| bucket.iter().find(starts)) {
            return Some((entry.value.clone(), entry.text.len()));
        }
        let entry = generations
            .older
            .by_head
            .get(&hash)?
            .iter()
            .find(starts)?
            .clone();
        generations.promote(&entry);
        Some((entry.value.clone(), entry.text.len()))
    }

    fn get(&self, hash: u64, text: &str) -> Option<Arc<T>> {
        let same = |entry: &&Arc<Entry<T>>| *entry.text == *text;
        let mut generations = lock(&self.generations);
        let generations = &mut *generations;
        let newer = generations.newer.by_text.get(&hash);
        if let Some(entry) = newer.and_then(|bucket| bucket.iter().find(same)) {
            return Some(entry.value.clone());
        }
        let entry = generations
            .older
            .by_text
            .get(&hash)?
            .iter()
            .find(same)?
            .clone();
        generations.promote(&entry);
        Some(entry.value.clone())
    }

    fn insert(&self, hash: u64, text: &str, value: Arc<T>) {
        let mut generations = lock(&self.generations);
        let kept = generations
            .newer
            .by_text
            .get(&hash)
            .is_some_and(|bucket| bucket.iter().any(|entry| *entry.text == *text));
        if !kept {
            let entry = Arc::new(Entry {
                text: text.into(),
                value,
            });
            generations.add(hash, entry);
        }
    }
}

impl<T> Generations<T> {
    /// Adds an entry to the newer generation, which becomes the older one once it is full.
    fn add(&mut self, hash: u64, entry: Arc<Entry<T>>) {
        let bytes = entry.text.len();
        if self.newer.bytes + bytes > GENERATION_BYTES {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.bytes += bytes;
        if let Some(head) = entry.text.as_bytes().get(..HEAD_BYTES) {
            let head = text_hash(head);
            self.newer
                .by_head
                .entry(head)
                .or_default()
                .push(entry.clone());
        }
        self.newer.by_text.entry(hash).or_default().push(entry);
    }

    /// Moves an entry of the older generation to the newer one.
    fn promote(&mut self, entry: &Arc<Entry<T>>) {
        let hash = text_hash(entry.text.as_bytes());
        remove(&mut self.older.by_text, hash, entry);
        if let Some(head) = entry.text.as_bytes().get(..HEAD_BYTES) {
            remove(&mut self.older.by_head, text_hash(head), entry);
        }
        self.add(hash, entry.clone());
    }
}

/// Takes `entry` out of its bucket of `index`.
fn remove<T>(index: &mut Index<T>, hash: u64, entry: &Arc<Entry<T>>) {
    if let Some(bucket) = index.get_mut(&hash) {
        bucket.retain(|kept| !Arc::ptr_eq(kept, entry));
        if bucket.is_empty() {
            index.remove(&hash);
        }
    }
}

/// A fast hash of `bytes` (four independent lanes of 8 bytes, then the tail and the length): it
/// only picks a bucket, equal texts are compared in full.
fn text_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut lanes = [
        0x243f_6a88_85a3_08d3_u64,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ];
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            *lane = (*lane ^ le_word(word)).wrapping_mul(K).rotate_left(29);
        }
    }
    let mut hash = bytes.len() as u64;
    for lane in lanes {
        hash = (hash ^ lane).wrapping_mul(K).rotate_left(31);
    }
    for word in blocks.remainder().chunks(8) {
        hash = (hash ^ le_word(word)).wrapping_mul(K).rotate_left(31);
    }
    mix(hash)
}

/// Up to 8 bytes as a little-endian number.
fn le_word(bytes: &[u8]) -> u64 {
    let mut word = [0; 8];
    word[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(word)
}

/// A finaliser spreading every input bit over the whole result (from SplitMix64).
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Hasher of maps keyed by a `u64` that is already a hash: one mixing step instead of SipHash.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MixHasher(u64);

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        for word in bytes.chunks(8) {
            self.0 = mix(self.0 ^ le_word(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = mix(self.0 ^ value);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_one_value_and_other_texts_get_their_own() {
        let cache = FragmentCache::<String>::default();
        let parses = std::cell::Cell::new(0);
        let parse = |text: &str| -> Result<String, ()> {
            parses.set(parses.get() + 1);
            Ok(text.to_uppercase())
        };
        let a = cache.get_or_parse("{\"a\":1}", parse).unwrap();
        let again = cache
            .get_or_parse(&String::from("{\"a\":1}"), parse)
            .unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(parses.get(), 1);
        let b = cache.get_or_parse("{\"a\":2}", parse).unwrap();
        assert_eq!(*b, "{\"A\":2}");
        assert_eq!(parses.get(), 2);
    }

    #[test]
    fn a_failed_parse_is_not_kept() {
        let cache = FragmentCache::<u32>::default();
        assert_eq!(
            cache.get_or_parse("x", |_| Err::<u32, _>("bad")),
            Err("bad")
        );
        assert_eq!(
            cache.get_or_parse("x", |_| Ok::<_, &str>(7)).map(|v| *v),
            Ok(7)
        );
    }

    #[test]
    fn texts_of_one_hash_are_told_apart_by_their_bytes() {
        let cache = FragmentCache::<usize>::default();
        for (index, text) in ["one", "two", "three"].into_iter().enumerate() {
            cache.insert(42, text, Arc::new(index));
        }
        assert_eq!(cache.get(42, "two").map(|v| *v), Some(1));
        assert_eq!(cache.get(42, "four"), None);
        assert_eq!(cache.get(41, "two"), None);
    }

    #[test]
    fn the_budget_bounds_what_is_kept_and_recent_entries_survive() {
        let cache = FragmentCache::<usize>::default();
        let big = "x".repeat(MAX_FRAGMENT_BYTES);
        let texts: Vec<String> = (0..40).map(|i| format!("{i:04}{big}")).collect();
        let kept = cache
            .get_or_parse(&texts[0][4..], |_| Ok::<_, ()>(0))
            .unwrap();
        for (index, text) in texts.iter().enumerate() {
            let _ = cache.get_or_parse(&text[..MAX_FRAGMENT_BYTES], |_| Ok::<_, ()>(index));
            // Touching an entry keeps it in the newer generation.
            let touched = cache
                .get_or_parse(&texts[0][4..], |_| Ok::<_, ()>(99))
                .unwrap();
            assert!(Arc::ptr_eq(&kept, &touched));
        }
        let generations = lock(&cache.generations);
        let held: usize = [&generations.newer, &generations.older]
            .iter()
            .flat_map(|generation| generation.by_text.values().flatten())
            .map(|entry| entry.text.len())
            .sum();
        assert!(held <= 2 * GENERATION_BYTES, "{held}");
    }

    #[test]
    fn a_kept_text_is_found_at_the_start_of_a_body() {
        let cache = FragmentCache::<usize>::default();
        let long = r#"{"role":"user","content":"a message long enough to be found by the first bytes of its text"}"#;
        let other = r#"{"role":"user","content":"a message long enough to be found, but another one entirely"}"#;
        for (index, text) in [long, other, r#"{"role":"user"}"#].into_iter().enumerate() {
            let _ = cache.get_or_parse(text, |_| Ok::<_, ()>(index));
        }
        let body = format!("{long},{other}]");
        assert_eq!(
            cache.get_at(body.as_bytes()).map(|(v, n)| (*v, n)),
            Some((0, long.len()))
        );
        let rest = &body[long.len() + 1..];
        assert_eq!(
            cache.get_at(rest.as_bytes()).map(|(v, n)| (*v, n)),
            Some((1, other.len()))
        );
        assert!(
            cache.get_at(&long.as_bytes()[..long.len() - 1]).is_none(),
            "cut short"
        );
        assert!(
            cache.get_at(br#"{"role":"user"},"#).is_none(),
            "too short to look up"
        );
        let changed = long.replace("found", "fount");
        assert!(cache.get_at(changed.as_bytes()).is_none());
    }

    #[test]
    fn text_hash_tells_apart_texts_differing_in_any_byte_or_length() {
        let text: Vec<u8> = (0..200u8).collect();
        let mut seen = std::collections::HashSet::new();
        for end in 0..=text.len() {
            assert!(seen.insert(text_hash(&text[..end])), "length {end}");
        }
        for index in 0..text.len() {
            let mut changed = text.clone();
            changed[index] ^= 1;
            assert!(seen.insert(text_hash(&changed)), "byte {index}");
        }
    }
}
