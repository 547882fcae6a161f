//! Stop sequences, emulated on our side: GigaChat has none. Text is released as soon as it cannot
//! be the start of a stop sequence, so a sequence split across stream chunks is still caught.

/// Incremental matcher over streamed text.
#[derive(Debug, Clone)]
pub struct StopMatcher {
    sequences: Vec<String>,
    /// Text held back because its tail may begin a stop sequence.
    pending: String,
    /// The sequence found, once one was.
    matched: Option<String>,
}

/// What the matcher lets through after a piece of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopOutput {
    /// Text safe to emit now.
    pub text: String,
    /// A stop sequence was found: emit `text`, then end with `finish_reason: stop`.
    pub stopped: bool,
}

impl StopMatcher {
    /// A matcher for these sequences (empty ones are ignored).
    pub fn new(sequences: Vec<String>) -> Self {
        Self {
            sequences: sequences.into_iter().filter(|s| !s.is_empty()).collect(),
            pending: String::new(),
            matched: None,
        }
    }

    /// Whether any sequence is configured.
    pub fn is_active(&self) -> bool {
        !self.sequences.is_empty()
    }

    /// The stop sequence that was found, once one was (the earliest in the text).
    pub fn matched(&self) -> Option<&str> {
        self.matched.as_deref()
    }

    /// Feeds the next piece of text (passed on as it is when no sequence is configured).
    pub fn push(&mut self, piece: String) -> StopOutput {
        if self.matched.is_some() {
            return StopOutput {
                text: String::new(),
                stopped: true,
            };
        }
        if self.sequences.is_empty() {
            return StopOutput {
                text: piece,
                stopped: false,
            };
        }
        self.pending.push_str(&piece);
        if let Some((at, sequence)) = self.first_match() {
            self.matched = Some(sequence.to_owned());
            let mut text = std::mem::take(&mut self.pending);
            text.truncate(at);
            return StopOutput {
                text,
                stopped: true,
            };
        }
        let keep = self.held_back_len();
        let release = self.pending.len() - keep;
        let rest = self.pending.split_off(release);
        let text = std::mem::replace(&mut self.pending, rest);
        StopOutput {
            text,
            stopped: false,
        }
    }

    /// The stream ended: whatever was held back is plain text.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Byte offset of the earliest stop sequence in the pending text, and the sequence.
    fn first_match(&self) -> Option<(usize, &str)> {
        self.sequences
            .iter()
            .filter_map(|sequence| Some((self.pending.find(sequence.as_str())?, sequence.as_str())))
            .min_by_key(|(at, _)| *at)
    }

    /// Length of the longest pending suffix that is a proper prefix of some sequence.
    fn held_back_len(&self) -> usize {
        let mut keep = 0;
        for sequence in &self.sequences {
            let longest = sequence.len().saturating_sub(1).min(self.pending.len());
            for len in (keep + 1..=longest).rev() {
                let start = self.pending.len() - len;
                if self.pending.is_char_boundary(start)
                    && sequence.starts_with(&self.pending[start..])
                {
                    keep = len;
                    break;
                }
            }
        }
        keep
    }
}

/// Cuts a whole text before its first stop sequence; `true` when one was found.
pub fn cut_at_stop(text: &str, sequences: &[String]) -> (String, bool) {
    let mut matcher = StopMatcher::new(sequences.to_vec());
    let output = matcher.push(text.to_owned());
    if output.stopped {
        (output.text, true)
    } else {
        (output.text + &matcher.finish(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(pieces: &[&str], stops: &[&str]) -> (String, bool) {
        let mut matcher = StopMatcher::new(stops.iter().map(|s| (*s).to_owned()).collect());
        let mut out = String::new();
        for piece in pieces {
            let output = matcher.push((*piece).to_owned());
            out.push_str(&output.text);
            if output.stopped {
                return (out, true);
            }
        }
        out.push_str(&matcher.finish());
        (out, false)
    }

    #[test]
    fn stop_split_across_chunks() {
        assert_eq!(
            run(&["Hello wo", "rld END", "ING more"], &["ENDING"]),
            ("Hello world ".into(), true)
        );
        assert_eq!(run(&["a\n", "\nb"], &["\n\n"]), ("a".into(), true));
        assert_eq!(run(&["abc"], &["x"]), ("abc".into(), false));
        assert_eq!(
            run(&["Привет, ми", "р!"], &["мир"]),
            ("Привет, ".into(), true)
        );
    }

    #[test]
    fn text_is_released_as_soon_as_it_cannot_start_a_stop() {
        let mut matcher = StopMatcher::new(vec!["STOP".into()]);
        assert_eq!(matcher.push("abc S".into()).text, "abc ");
        assert_eq!(matcher.push("x".into()).text, "Sx");
    }

    #[test]
    fn earliest_of_several_sequences_wins() {
        assert_eq!(
            cut_at_stop("one two three", &["three".into(), "two".into()]),
            ("one ".into(), true)
        );
    }

    #[test]
    fn the_matched_sequence_is_named() {
        let mut matcher = StopMatcher::new(vec!["three".into(), "two".into()]);
        assert_eq!(matcher.push("one t".into()).text, "one ");
        assert_eq!(matcher.matched(), None);
        assert!(matcher.push("wo three".into()).stopped);
        assert_eq!(matcher.matched(), Some("two"));
    }

    proptest! {
        #[test]
        fn chunking_never_changes_the_result(
            text in "[ab\\nП ]{0,40}",
            cuts in proptest::collection::vec(0usize..40, 0..6),
            stop in "[ab\\nП]{1,3}",
        ) {
            let whole = cut_at_stop(&text, std::slice::from_ref(&stop));
            let pieces = crate::chunking::pieces(&text, cuts);
            let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
            prop_assert_eq!(run(&refs, &[stop.as_str()]), whole);
        }
    }
}
