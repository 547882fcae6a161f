//! `<think>…</think>` in GigaChat's text moved out into reasoning: some models write their
//! reasoning inline. Text is released as soon as it cannot be the start of a tag, so a tag split
//! across stream chunks is still caught (the way [`crate::stop::StopMatcher`] holds back text).

/// Opens an inline reasoning section.
const OPEN_TAG: &str = "<think>";
/// Closes it.
const CLOSE_TAG: &str = "</think>";

/// Incremental splitter of answer text into content and reasoning.
#[derive(Debug, Clone, Default)]
pub struct ThinkSplitter {
    /// Inside `<think>…`: text goes to the reasoning.
    inside: bool,
    /// A section closed and no content followed yet: the whitespace after `</think>` is dropped.
    after_close: bool,
    /// Text held back because its tail may begin the next tag.
    pending: String,
}

/// What one piece of text splits into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Answer text.
    pub content: String,
    /// Reasoning text (from inside the tags).
    pub reasoning: String,
}

impl ThinkSplitter {
    /// Feeds the next piece of text; returns what is safe to send now. A piece that cannot
    /// hold or begin a tag, met with nothing held back outside a section, is passed on as it is.
    pub fn push(&mut self, piece: String) -> Split {
        if !self.inside && !self.after_close && self.pending.is_empty() && !piece.contains('<') {
            return Split {
                content: piece,
                reasoning: String::new(),
            };
        }
        self.push_held(&piece)
    }

    /// [`Self::push`] through the held-back text, whatever the piece.
    fn push_held(&mut self, piece: &str) -> Split {
        self.pending.push_str(piece);
        let mut out = Split::default();
        loop {
            let tag = if self.inside { CLOSE_TAG } else { OPEN_TAG };
            match self.pending.find(tag) {
                Some(at) => {
                    let rest = self.pending.split_off(at + tag.len());
                    let before = std::mem::replace(&mut self.pending, rest);
                    self.release(&before[..at], &mut out);
                    self.inside = !self.inside;
                    self.after_close = !self.inside;
                }
                None => {
                    let keep = held_back_len(&self.pending, tag);
                    let release = self.pending.len() - keep;
                    let held = self.pending.split_off(release);
                    let text = std::mem::replace(&mut self.pending, held);
                    self.release(&text, &mut out);
                    return out;
                }
            }
        }
    }

    /// The text ended: whatever was held back goes where the text was going (an unclosed
    /// `<think>` section stays reasoning).
    pub fn finish(&mut self) -> Split {
        let text = std::mem::take(&mut self.pending);
        let mut out = Split::default();
        self.release(&text, &mut out);
        out
    }

    fn release(&mut self, text: &str, out: &mut Split) {
        if self.inside {
            out.reasoning.push_str(text);
            return;
        }
        let text = if self.after_close {
            text.trim_start()
        } else {
            text
        };
        if !text.is_empty() {
            self.after_close = false;
            out.content.push_str(text);
        }
    }
}

/// A whole text split into content and reasoning.
pub fn split_think(text: &str) -> Split {
    if !text.contains(OPEN_TAG) {
        // Nothing opens a section: all of it is content, as the splitter would release it.
        return Split {
            content: text.to_owned(),
            reasoning: String::new(),
        };
    }
    let mut splitter = ThinkSplitter::default();
    let mut out = splitter.push_held(text);
    let rest = splitter.finish();
    out.content.push_str(&rest.content);
    out.reasoning.push_str(&rest.reasoning);
    out
}

/// Length of the longest suffix of `text` that is a proper prefix of `tag`.
fn held_back_len(text: &str, tag: &str) -> usize {
    (1..tag.len().min(text.len() + 1))
        .rev()
        .find(|&len| {
            let start = text.len() - len;
            text.is_char_boundary(start) && tag.starts_with(&text[start..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(pieces: &[&str]) -> Split {
        let mut splitter = ThinkSplitter::default();
        let mut out = Split::default();
        for piece in pieces {
            let split = splitter.push((*piece).to_owned());
            out.content.push_str(&split.content);
            out.reasoning.push_str(&split.reasoning);
        }
        let rest = splitter.finish();
        out.content.push_str(&rest.content);
        out.reasoning.push_str(&rest.reasoning);
        out
    }

    fn split(content: &str, reasoning: &str) -> Split {
        Split {
            content: content.into(),
            reasoning: reasoning.into(),
        }
    }

    #[test]
    fn a_leading_section_becomes_reasoning() {
        assert_eq!(
            split_think("<think>Считаю: 2+2.</think>\n\nОтвет: 4"),
            split("Ответ: 4", "Считаю: 2+2.")
        );
    }

    #[test]
    fn text_without_tags_is_untouched() {
        assert_eq!(split_think("  a < b > c  "), split("  a < b > c  ", ""));
        assert_eq!(split_think("<thin"), split("<thin", ""));
    }

    #[test]
    fn tags_split_across_chunks_are_caught() {
        assert_eq!(
            run(&["<th", "ink>wh", "y</th", "ink>", " so"]),
            split("so", "why")
        );
    }

    #[test]
    fn text_is_released_as_soon_as_it_cannot_start_a_tag() {
        let mut splitter = ThinkSplitter::default();
        assert_eq!(splitter.push("Hi <".into()), split("Hi ", ""));
        assert_eq!(splitter.push("b>".into()), split("<b>", ""));
        assert_eq!(splitter.push("<think>x</".into()), split("", "x"));
        assert_eq!(splitter.push("p>".into()), split("", "</p>"));
    }

    #[test]
    fn an_unclosed_section_stays_reasoning() {
        assert_eq!(
            run(&["<think>still thinking", "</thi"]),
            split("", "still thinking</thi")
        );
    }

    proptest! {
        #[test]
        fn chunking_never_changes_the_result(
            text in "(<think>|</think>|[ab <>/tП])*",
            cuts in proptest::collection::vec(0usize..60, 0..6),
        ) {
            let whole = split_think(&text);
            let pieces = crate::chunking::pieces(&text, cuts);
            let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
            prop_assert_eq!(run(&refs), whole);
        }

        #[test]
        fn passing_a_piece_on_as_it_is_splits_like_holding_it_back(
            text in "(<think>|</think>|[ab <>/tП\n])*",
            cuts in proptest::collection::vec(0usize..60, 0..8),
        ) {
            let mut fast = ThinkSplitter::default();
            let mut held = ThinkSplitter::default();
            for piece in crate::chunking::pieces(&text, cuts) {
                prop_assert_eq!(fast.push(piece.clone()), held.push_held(&piece));
            }
            prop_assert_eq!(fast.finish(), held.finish());
        }
    }
}
