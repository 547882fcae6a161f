//! Deterministic text: a seeded word generator for answers and the token estimator shared by chat,
//! `/tokens/count` and `/embeddings`.

/// FNV-1a over bytes: a stable hash (unlike `DefaultHasher`, it never changes between Rust releases).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl From<u64> for Fnv {
    /// Resumes hashing from the state `finish` returned.
    fn from(state: u64) -> Self {
        Self(state)
    }
}

impl Fnv {
    /// Mixes `bytes` in.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> &mut Self {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    /// Mixes a string in, with a separator so that ("ab","c") differs from ("a","bc").
    pub(crate) fn write_str(&mut self, text: &str) -> &mut Self {
        self.write(text.as_bytes()).write(&[0xff])
    }

    /// The hash so far.
    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// SplitMix64: a tiny deterministic PRNG seeded from a hash.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n = n.max(1) as u64;
        usize::try_from(self.next_u64() % n).unwrap_or(0)
    }

    /// A float in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items.get(self.below(items.len())).copied().unwrap_or("")
    }
}

const RUSSIAN: &[&str] = &[
    "модель",
    "ответ",
    "данные",
    "запрос",
    "система",
    "пример",
    "важно",
    "можно",
    "нужно",
    "текст",
    "сервис",
    "решение",
    "задача",
    "вопрос",
    "результат",
    "простой",
    "быстро",
    "точно",
    "сегодня",
    "всегда",
    "поэтому",
    "также",
    "проверка",
    "работа",
    "язык",
    "мир",
    "время",
    "контекст",
];

const ENGLISH: &[&str] = &[
    "model", "answer", "data", "request", "system", "example", "simple", "stream", "token",
    "context", "result", "quickly", "always", "today", "check", "value", "word", "emulator",
    "response", "detail", "clear", "gateway", "proxy", "message",
];

/// A deterministic answer of `words` words (Russian and English), capitalised sentences with full stops.
pub(crate) fn answer(seed: u64, words: usize) -> String {
    let mut rng = Rng::new(seed);
    // The longest word (`результат`) is 18 bytes; a space and a mark may follow it.
    let mut text = String::with_capacity(words * 20);
    let mut sentence_left = 0;
    for index in 0..words {
        let word = if rng.below(3) == 0 {
            rng.pick(ENGLISH)
        } else {
            rng.pick(RUSSIAN)
        };
        if sentence_left == 0 {
            sentence_left = 5 + rng.below(6);
            if index > 0 {
                text.push(' ');
            }
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                text.extend(first.to_uppercase());
                text.push_str(chars.as_str());
            }
        } else {
            text.push(' ');
            text.push_str(word);
        }
        sentence_left -= 1;
        if sentence_left == 0 || index + 1 == words {
            text.push('.');
        } else if rng.below(9) == 0 {
            text.push(',');
        }
    }
    text
}

/// A deterministic word, for generated string values.
pub(crate) fn word(rng: &mut Rng) -> &'static str {
    if rng.below(2) == 0 {
        rng.pick(ENGLISH)
    } else {
        rng.pick(RUSSIAN)
    }
}

/// Estimates GigaChat tokens: each letter/digit run costs ⌈len/6⌉ (Latin), ⌈len/4⌉ (Cyrillic and other
/// scripts) or ⌈len/3⌉ (digits); each other non-space character costs one. `Hello, world!` → 4.
///
/// A character's class is the number of characters one token of its run covers (0 for whitespace,
/// which costs nothing), so a token starts wherever the class changes or the current token is full.
/// All-ASCII blocks of 64 bytes are counted from bit masks of their classes; other text character
/// by character.
pub(crate) fn count_tokens(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut estimate = Estimate::default();
    let mut index = 0;
    while index < bytes.len() {
        let block_end = index + BLOCK;
        match bytes.get(index..block_end) {
            Some(block) if block.is_ascii() => {
                estimate.ascii_block(block);
                index = block_end;
            }
            _ => {
                let end = block_end.min(bytes.len());
                while index < end {
                    index += estimate.char_at(text, index);
                }
            }
        }
    }
    estimate.tokens
}

/// Bytes of an ASCII block: one bit of a `u64` each.
const BLOCK: usize = 64;

/// The running state of [`count_tokens`].
#[derive(Debug, Default)]
struct Estimate {
    /// Tokens so far.
    tokens: usize,
    /// Class of the last character.
    class: u8,
    /// Characters the last token can still take before the run needs another.
    left: u8,
}

impl Estimate {
    /// Counts the character at byte `index` of `text` (a character boundary); returns its width.
    fn char_at(&mut self, text: &str, index: usize) -> usize {
        let (this, width) = match text.as_bytes().get(index) {
            Some(&byte) if byte.is_ascii() => (ASCII_CLASS[usize::from(byte)], 1),
            _ => text
                .get(index..)
                .and_then(|rest| rest.chars().next())
                .map_or((WHITESPACE, 1), |ch| (class_of(ch), ch.len_utf8())),
        };
        // Branch-free: runs change every few characters, too often for a predictable branch.
        let starts = this != self.class || self.left == 0;
        self.tokens += usize::from(starts && this != WHITESPACE);
        self.left = if starts { this } else { self.left }.saturating_sub(1);
        self.class = this;
        width
    }

    /// Counts 64 ASCII bytes: symbols one token each, letter and digit runs by their lengths.
    fn ascii_block(&mut self, block: &[u8]) {
        let (mut latin, mut digit, mut space) = (0_u64, 0_u64, 0_u64);
        for (index, chunk) in block.chunks_exact(8).enumerate() {
            let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
            let shift = 8 * index;
            latin |= byte_mask(in_range(word | (ONES * 0x20), b'a', b'z')) << shift;
            digit |= byte_mask(in_range(word, b'0', b'9')) << shift;
            let blank = in_range(word, b' ', b' ') | in_range(word, b'\t', b'\r');
            space |= byte_mask(blank) << shift;
        }
        let symbol = !(latin | digit | space);
        self.tokens += symbol.count_ones() as usize;
        let latin_left = self.runs(latin, LATIN);
        let digit_left = self.runs(digit, DIGIT);
        let last = 1 << (BLOCK - 1);
        (self.class, self.left) = if latin & last != 0 {
            (LATIN, latin_left)
        } else if digit & last != 0 {
            (DIGIT, digit_left)
        } else if space & last != 0 {
            (WHITESPACE, 0)
        } else {
            (SYMBOL, 0)
        };
    }

    /// Adds the tokens of the runs of `class` whose characters are the set bits of `mask` (bit 0
    /// first; a run at bit 0 goes on from the previous block when that ended in the same class).
    /// Returns what the last token can still take, for a run that reaches the end of the block.
    fn runs(&mut self, mask: u64, class: u8) -> u8 {
        let width = u32::from(class);
        let mut fresh = mask;
        let mut left = 0;
        if self.class == class && mask & 1 == 1 {
            let len = mask.trailing_ones();
            let before = u32::from(self.left);
            left = if len <= before {
                before - len
            } else {
                let rest = len - before;
                self.tokens += rest.div_ceil(width) as usize;
                (width - rest % width) % width
            };
            fresh = if len < 64 {
                mask & (u64::MAX << len)
            } else {
                0
            };
        }
        // Each fresh run costs a token, and one more per `width` characters beyond the first.
        self.tokens += (fresh & !(fresh << 1)).count_ones() as usize;
        let mut long = fresh;
        for shift in 1..=width {
            long &= fresh << shift;
        }
        while long != 0 {
            let start = long.trailing_zeros() - width;
            let len = (fresh >> start).trailing_ones();
            self.tokens += (len.div_ceil(width) - 1) as usize;
            let end = start + len;
            long = if end < 64 {
                long & (u64::MAX << end)
            } else {
                0
            };
        }
        if fresh >> (BLOCK - 1) == 1 {
            let len = fresh.leading_ones();
            left = (width - len % width) % width;
        }
        u8::try_from(left).unwrap_or(0)
    }
}

/// 0x01 in every byte of a word.
const ONES: u64 = 0x0101_0101_0101_0101;

/// The top bit of every byte of a word.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The top bit of each byte of `word` (eight ASCII bytes) set where that byte is in `low..=high`:
/// adding `0x80 - low` sets it for bytes >= `low`, adding `0x7f - high` for bytes > `high`, and
/// no addition carries into the next byte because every byte is below 0x80.
fn in_range(word: u64, low: u8, high: u8) -> u64 {
    let at_least_low = word.wrapping_add(ONES * u64::from(0x80 - low));
    let above_high = word.wrapping_add(ONES * u64::from(0x7f - high));
    at_least_low & !above_high & HIGH
}

/// The top bits of the eight bytes of `word` as the low eight bits (byte 0 → bit 0).
fn byte_mask(word: u64) -> u64 {
    (word & HIGH).wrapping_mul(0x0002_0408_1020_4081) >> 56
}

/// Class of whitespace: costs nothing and ends a run.
const WHITESPACE: u8 = 0;
/// Class of punctuation and symbols: one token each.
const SYMBOL: u8 = 1;
/// Class of ASCII digits: a token per three.
const DIGIT: u8 = 3;
/// Class of letters and digits of other scripts: a token per four.
const OTHER_LETTER: u8 = 4;
/// Class of ASCII letters: a token per six.
const LATIN: u8 = 6;

/// The class of every ASCII byte.
const ASCII_CLASS: [u8; 128] = {
    let mut table = [SYMBOL; 128];
    let mut byte = 0;
    while byte < 128 {
        let ch = byte as u8 as char;
        table[byte] = if ch.is_ascii_digit() {
            DIGIT
        } else if ch.is_ascii_alphabetic() {
            LATIN
        } else if ch == ' ' || (ch >= '\t' && ch <= '\r') {
            WHITESPACE
        } else {
            SYMBOL
        };
        byte += 1;
    }
    table
};

/// The class of a non-ASCII character. The Russian alphabet (`А`–`я`, `Ё`, `ё`), most of the
/// emulator's own answers, is settled by a range test before the Unicode tables.
fn class_of(ch: char) -> u8 {
    if matches!(ch, 'А'..='я' | 'Ё' | 'ё') || ch.is_alphanumeric() {
        OTHER_LETTER
    } else if ch.is_whitespace() {
        WHITESPACE
    } else {
        SYMBOL
    }
}

/// Splits text into pieces that each start with the whitespace before a word; concatenated they give
/// back the text exactly.
pub(crate) fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_word = false;
    for (index, ch) in text.char_indices() {
        if ch.is_whitespace() {
            if in_word {
                out.push(&text[start..index]);
                start = index;
                in_word = false;
            }
        } else {
            in_word = true;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimator_matches_recordings() {
        assert_eq!(count_tokens("Hello, world!"), 4);
        assert_eq!(count_tokens("First text"), 2);
        assert_eq!(count_tokens("Second text"), 2);
        assert_eq!(count_tokens(""), 0);
    }

    /// The estimator as first written (char by char, runs closed on a change of kind): the fast one
    /// must agree with it on every input.
    fn count_tokens_reference(text: &str) -> usize {
        #[derive(PartialEq, Clone, Copy)]
        enum Run {
            None,
            Latin,
            Other,
            Digit,
        }
        fn cost(kind: Run, len: usize) -> usize {
            match kind {
                Run::None => 0,
                Run::Latin => len.div_ceil(6),
                Run::Other => len.div_ceil(4),
                Run::Digit => len.div_ceil(3),
            }
        }
        let mut tokens = 0;
        let mut kind = Run::None;
        let mut len = 0;
        for ch in text.chars() {
            let this = if ch.is_ascii_digit() {
                Run::Digit
            } else if ch.is_ascii_alphabetic() {
                Run::Latin
            } else if ch.is_alphanumeric() {
                Run::Other
            } else {
                Run::None
            };
            if this != kind {
                tokens += cost(kind, len);
                kind = this;
                len = 0;
            }
            if this == Run::None {
                if !ch.is_whitespace() {
                    tokens += 1;
                }
            } else {
                len += 1;
            }
        }
        tokens + cost(kind, len)
    }

    #[test]
    fn non_ascii_classes_follow_the_unicode_tables() {
        for ch in ('\u{80}'..='\u{3000}').chain(['😀', '\u{10ffff}']) {
            let expected = if ch.is_alphanumeric() {
                OTHER_LETTER
            } else if ch.is_whitespace() {
                WHITESPACE
            } else {
                SYMBOL
            };
            assert_eq!(class_of(ch), expected, "{ch:?}");
        }
    }

    #[test]
    fn estimator_agrees_with_the_reference_on_every_ascii_pair() {
        for a in 0..128_u8 {
            for b in 0..128_u8 {
                let text: String = [char::from(a), char::from(b)].iter().collect();
                assert_eq!(
                    count_tokens(&text),
                    count_tokens_reference(&text),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn estimator_agrees_with_the_reference_on_random_mixed_text() {
        use rand::{Rng as _, SeedableRng};
        // Every class, several scripts, non-ASCII digits, whitespace and symbols, multi-byte widths.
        let alphabet: Vec<char> = "aZk09 \t\n\u{b}\u{c}\r,.!-_\"{}:\\/\u{0}\u{1f}\u{7f}йЖё\u{a0}\u{2003}\u{3000}\u{2028}\u{85}éß٣५—«»€中文😀\u{10ffff}"
            .chars()
            .collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(20);
        for _ in 0..20_000 {
            let len = rng.random_range(0..40);
            let mut text = String::new();
            for _ in 0..len {
                // Long runs too: each character a few times.
                let ch = alphabet[rng.random_range(0..alphabet.len())];
                for _ in 0..rng.random_range(1..9) {
                    text.push(ch);
                }
            }
            assert_eq!(
                count_tokens(&text),
                count_tokens_reference(&text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn estimator_agrees_with_the_reference_on_long_mostly_ascii_text() {
        use rand::{Rng as _, SeedableRng};
        // Runs of every length across 64-byte block edges, now and then a non-ASCII character.
        let alphabet: Vec<char> = "aZq09 \t\n\u{b},.-_\"{}:ж\u{a0}é😀".chars().collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(64);
        for _ in 0..5_000 {
            let mut text = String::new();
            while text.len() < rng.random_range(0..600) {
                let ascii = rng.random_range(0..20) != 0;
                let ch = loop {
                    let ch = alphabet[rng.random_range(0..alphabet.len())];
                    if ch.is_ascii() == ascii {
                        break ch;
                    }
                };
                for _ in 0..rng.random_range(1..30) {
                    text.push(ch);
                }
            }
            assert_eq!(
                count_tokens(&text),
                count_tokens_reference(&text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn estimator_agrees_with_the_reference_on_runs_at_block_edges() {
        for before in 0..130 {
            for (run, after) in [
                ('a', "x"),
                ('7', "-"),
                ('a', ""),
                ('7', ""),
                ('.', ""),
                ('ж', ""),
            ] {
                for len in [1, 2, 3, 5, 6, 7, 12, 13, 63, 64, 65, 128, 200] {
                    let text = format!(
                        "{}{}{}",
                        "b".repeat(before / 2) + &" ".repeat(before - before / 2),
                        run.to_string().repeat(len),
                        after
                    );
                    assert_eq!(
                        count_tokens(&text),
                        count_tokens_reference(&text),
                        "{text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn answers_are_deterministic() {
        assert_eq!(answer(7, 24), answer(7, 24));
        assert_ne!(answer(7, 24), answer(8, 24));
        assert_eq!(answer(7, 24).split(' ').count(), 24);
        assert!(answer(7, 24).ends_with('.'));
    }

    #[test]
    fn pieces_round_trip() {
        let text = "Один два  три\nfour.";
        assert_eq!(pieces(text).concat(), text);
        assert_eq!(pieces(text).len(), 4);
    }
}
