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
    let mut text = String::new();
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
/// One pass over the bytes: a character's class is the number of characters one token of its run
/// covers (0 for whitespace, which costs nothing), so a token starts wherever the class changes or the
/// current token is full. ASCII is classified by a table; other characters by the Unicode properties.
pub(crate) fn count_tokens(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut tokens = 0;
    let mut class = WHITESPACE;
    let mut left = 0_u8;
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let this = if byte.is_ascii() {
            index += 1;
            ASCII_CLASS[usize::from(byte)]
        } else {
            let ch = text.get(index..).and_then(|rest| rest.chars().next());
            index += ch.map_or(1, char::len_utf8);
            ch.map_or(WHITESPACE, class_of)
        };
        // Branch-free: runs change every few characters, too often for a predictable branch.
        let starts = this != class || left == 0;
        tokens += usize::from(starts && this != WHITESPACE);
        left = if starts { this } else { left }.saturating_sub(1);
        class = this;
    }
    tokens
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

/// The class of a non-ASCII character.
fn class_of(ch: char) -> u8 {
    if ch.is_alphanumeric() {
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
