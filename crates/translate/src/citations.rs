//! GigaChat's web-search answers cite pages with `[sources=[1, 2]]` markers in the text; clients
//! get `[1][2]` there instead, and a `url_citation` annotation over each `[n]` (character offsets
//! in the text they see). Streaming-safe: a marker split across deltas is held back until whole.

use gigachat_types as gc;
use openai::chat::{Annotation, BuiltinCall, WebSource};

/// What opens a marker.
const MARKER_OPEN: &str = "[sources=[";
/// What closes a marker.
const MARKER_CLOSE: &str = "]]";
/// The longest text held back waiting for a marker's end; longer, it was not a marker.
const MAX_MARKER_CHARS: usize = 64;

/// One `[n]` put in the text for a marker's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The source key (`"1"`).
    pub key: String,
    /// Its first character in the released text.
    pub start: u32,
    /// One past its last character.
    pub end: u32,
}

/// Rewrites markers in a text that may arrive in pieces.
#[derive(Debug, Clone, Default)]
pub struct MarkerRewriter {
    /// Text that may be the start of a marker.
    held: String,
    /// Characters released so far.
    released: u32,
    /// The marks put in the released text.
    marks: Vec<Mark>,
}

impl MarkerRewriter {
    /// The text of `piece` that can be released now, markers rewritten (a possible marker's
    /// start held back).
    pub fn push(&mut self, piece: &str) -> String {
        self.held.push_str(piece);
        let held = std::mem::take(&mut self.held);
        let mut out = String::with_capacity(held.len());
        let mut rest = held.as_str();
        while let Some(at) = rest.find('[') {
            self.release(&rest[..at], &mut out);
            let candidate = &rest[at..];
            match parse_marker(candidate) {
                Parsed::Marker { keys, len } => {
                    for key in keys {
                        let start = self.released;
                        self.release(&format!("[{key}]"), &mut out);
                        self.marks.push(Mark {
                            key,
                            start,
                            end: self.released,
                        });
                    }
                    rest = &candidate[len..];
                }
                Parsed::Incomplete => {
                    self.held = candidate.to_owned();
                    return out;
                }
                Parsed::Not => {
                    self.release("[", &mut out);
                    rest = &candidate[1..];
                }
            }
        }
        self.release(rest, &mut out);
        out
    }

    /// What was held back, released as it is (the text ended inside what looked like a marker).
    pub fn finish(&mut self) -> String {
        let held = std::mem::take(&mut self.held);
        let mut out = String::new();
        self.release(&held, &mut out);
        out
    }

    /// The marks put in the text so far.
    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    fn release(&mut self, text: &str, out: &mut String) {
        out.push_str(text);
        let chars = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
        self.released = self.released.saturating_add(chars);
    }
}

enum Parsed {
    /// A whole marker of `len` bytes citing `keys`.
    Marker { keys: Vec<String>, len: usize },
    /// May become a marker with more text.
    Incomplete,
    /// Not a marker.
    Not,
}

/// Reads a marker at the start of `text` (which starts with `[`).
fn parse_marker(text: &str) -> Parsed {
    if text.len() < MARKER_OPEN.len() {
        return if MARKER_OPEN.starts_with(text) {
            Parsed::Incomplete
        } else {
            Parsed::Not
        };
    }
    let Some(inner) = text.strip_prefix(MARKER_OPEN) else {
        return Parsed::Not;
    };
    let Some(close) = inner.find(MARKER_CLOSE) else {
        let plausible = inner.len() < MAX_MARKER_CHARS
            && inner
                .chars()
                .all(|c| is_key_char(c) || matches!(c, ',' | ' ' | ']'));
        return if plausible {
            Parsed::Incomplete
        } else {
            Parsed::Not
        };
    };
    let keys: Vec<String> = inner[..close]
        .split(',')
        .map(|key| key.trim().to_owned())
        .collect();
    if keys
        .iter()
        .any(|key| key.is_empty() || !key.chars().all(is_key_char))
    {
        return Parsed::Not;
    }
    Parsed::Marker {
        keys,
        len: MARKER_OPEN.len() + close + MARKER_CLOSE.len(),
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// `text` with its markers rewritten, and the marks.
pub fn rewrite(text: &str) -> (String, Vec<Mark>) {
    let mut rewriter = MarkerRewriter::default();
    let mut out = rewriter.push(text);
    out.push_str(&rewriter.finish());
    (out, rewriter.marks)
}

/// The annotations for `marks` whose key is a known source, ending within the first `chars`
/// characters of the text (a stop sequence may have cut the rest).
pub fn annotations(marks: &[Mark], sources: &[gc::Source], chars: usize) -> Vec<Annotation> {
    let chars = u32::try_from(chars).unwrap_or(u32::MAX);
    marks
        .iter()
        .filter(|mark| mark.end <= chars)
        .filter_map(|mark| {
            let source = sources.iter().find(|source| source.key == mark.key)?;
            Some(Annotation::url_citation(
                mark.start,
                mark.end,
                source.url.clone(),
                title(source),
            ))
        })
        .collect()
}

/// The web search behind an answer with `sources`, as Responses and Messages show it.
pub fn web_search_call(sources: &[gc::Source]) -> BuiltinCall {
    BuiltinCall::WebSearch {
        sources: sources
            .iter()
            .map(|source| WebSource {
                url: source.url.clone(),
                title: title(source),
            })
            .collect(),
    }
}

/// A source's title, or its URL when GigaChat gave none (`title` is required in OpenAI's shape).
fn title(source: &gc::Source) -> String {
    source
        .title
        .clone()
        .filter(|title| !title.is_empty())
        .unwrap_or_else(|| source.url.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(key: &str) -> gc::Source {
        gc::Source {
            key: key.into(),
            url: format!("https://example.com/{key}"),
            title: Some(format!("Page {key}")),
        }
    }

    /// The recorded form: a marker before the sentence's full stop.
    #[test]
    fn markers_become_numbers_with_citations_over_them() {
        let (text, marks) = rewrite("Python 3.14 вышел [sources=[2]]. Ещё [sources=[1, 2]]!");
        assert_eq!(text, "Python 3.14 вышел [2]. Ещё [1][2]!");
        let annotations = annotations(&marks, &[source("1"), source("2")], text.chars().count());
        let spans: Vec<(String, &str)> = annotations
            .iter()
            .map(|a| {
                let c = &a.url_citation;
                let span: String = text
                    .chars()
                    .skip(c.start_index as usize)
                    .take((c.end_index - c.start_index) as usize)
                    .collect();
                (span, c.url.as_str())
            })
            .collect();
        assert_eq!(
            spans,
            [
                ("[2]".to_owned(), "https://example.com/2"),
                ("[1]".to_owned(), "https://example.com/1"),
                ("[2]".to_owned(), "https://example.com/2"),
            ]
        );
        assert_eq!(annotations[0].url_citation.title, "Page 2");
    }

    #[test]
    fn a_marker_split_across_pieces_is_held_until_whole() {
        let whole = "Факт [sources=[1]] и [sources=[2, 3]].";
        for split_at in 1..whole.len() {
            if !whole.is_char_boundary(split_at) {
                continue;
            }
            let mut rewriter = MarkerRewriter::default();
            let mut text = rewriter.push(&whole[..split_at]);
            assert!(!text.contains("[s"), "{split_at}: released {text:?}");
            text.push_str(&rewriter.push(&whole[split_at..]));
            text.push_str(&rewriter.finish());
            assert_eq!(text, "Факт [1] и [2][3].", "split at {split_at}");
            let keys: Vec<_> = rewriter
                .marks()
                .iter()
                .map(|m| (m.key.as_str(), m.start, m.end))
                .collect();
            assert_eq!(keys, [("1", 5, 8), ("2", 11, 14), ("3", 14, 17)]);
        }
    }

    #[test]
    fn text_that_only_looks_like_a_marker_is_kept() {
        for text in [
            "a [link](x) b",
            "list [1] and [sources=[]] and [sources=[a b]]",
            "ends inside [sources=[1",
            "[",
        ] {
            let (out, marks) = rewrite(text);
            assert_eq!(out, text);
            assert!(marks.is_empty(), "{text}");
        }
    }

    #[test]
    fn unknown_keys_and_cut_text_get_no_citation() {
        let (text, marks) = rewrite("a [sources=[1]] b [sources=[9]] c [sources=[2]]");
        assert_eq!(text, "a [1] b [9] c [2]");
        let cut = annotations(&marks, &[source("1"), source("2"), source("3")], 12);
        assert_eq!(cut.len(), 1);
        assert_eq!(cut[0].url_citation.url, "https://example.com/1");
        let untitled = gc::Source {
            title: None,
            ..source("1")
        };
        assert_eq!(
            annotations(&marks, &[untitled], 100)[0].url_citation.title,
            "https://example.com/1"
        );
    }
}
