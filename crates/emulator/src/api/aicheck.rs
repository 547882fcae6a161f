//! `POST /ai/check`: a deterministic AI-text detector. The text is cut into sentences; each sentence
//! is judged by a hash of its text; runs of "AI" sentences become `ai_intervals`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{models, parse_json};
use crate::text::{self, Fnv};
use crate::wire::{self, ApiError, ApiResult};

#[derive(Deserialize)]
struct CheckRequest {
    input: String,
    model: String,
}

/// The answer, keys in the fixture's order.
#[derive(Debug, PartialEq, Serialize)]
struct Verdict {
    category: &'static str,
    characters: usize,
    tokens: usize,
    ai_intervals: Vec<[usize; 2]>,
}

/// Sentences of `input` as 0-based inclusive character ranges of their trimmed text.
fn sentences(input: &str) -> Vec<(usize, usize, String)> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut index = 0;
    while index < chars.len() {
        let ends_sentence = matches!(chars.get(index), Some('.' | '!' | '?' | '…' | '\n'))
            && chars.get(index + 1).is_none_or(|c| c.is_whitespace());
        index += 1;
        if ends_sentence || index == chars.len() {
            let segment = chars.get(start..index).unwrap_or_default();
            let first = segment.iter().position(|c| !c.is_whitespace());
            let last = segment.iter().rposition(|c| !c.is_whitespace());
            if let (Some(first), Some(last)) = (first, last) {
                let text: String = segment
                    .get(first..=last)
                    .unwrap_or_default()
                    .iter()
                    .collect();
                out.push((start + first, start + last, text));
            }
            start = index;
        }
    }
    out
}

fn verdict(input: &str) -> Verdict {
    let mut intervals: Vec<[usize; 2]> = Vec::new();
    let (mut ai, mut human) = (0, 0);
    let mut previous_ai = false;
    for (first, last, sentence) in sentences(input) {
        let is_ai = (Fnv::default().write_str(&sentence).finish() >> 7) & 1 == 0;
        if is_ai {
            ai += 1;
            // 1-based, inclusive: `[1, n]` is the whole text of n characters.
            match intervals.last_mut() {
                Some(interval) if previous_ai => interval[1] = last + 1,
                _ => intervals.push([first + 1, last + 1]),
            }
        } else {
            human += 1;
        }
        previous_ai = is_ai;
    }
    let category = match (ai, human) {
        (0, _) => "human",
        (_, 0) => "ai",
        _ => "mixed",
    };
    Verdict {
        category,
        characters: input.chars().count(),
        tokens: text::count_tokens(input),
        ai_intervals: intervals,
    }
}

/// `POST /ai/check`: `{"input","model"}` → `{"category","characters","tokens","ai_intervals"}`.
pub(crate) async fn check(body: Bytes) -> ApiResult {
    let request: CheckRequest = parse_json(&body)?;
    if !models::is_aicheck(&request.model) {
        return Err(ApiError::no_such_model());
    }
    wire::ok(&verdict(&request.input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_are_trimmed_character_ranges() {
        let found = sentences(" Один. Two!\nТри");
        let ranges: Vec<(usize, usize)> = found.iter().map(|(a, b, _)| (*a, *b)).collect();
        assert_eq!(ranges, [(1, 5), (7, 10), (12, 14)]);
        assert_eq!(found[2].2, "Три");
        assert!(sentences("  ").is_empty());
    }

    #[test]
    fn verdict_is_consistent_and_deterministic() {
        let text = "The sky is blue. Grass is green! Water is wet? Fire is hot. Ice is cold. \
                    Stones are hard. Feathers are light. Night is dark.";
        let verdict = verdict(text);
        assert_eq!(verdict, super::verdict(text));
        assert_eq!(verdict.characters, text.chars().count());
        for [start, end] in &verdict.ai_intervals {
            assert!(1 <= *start && start <= end && *end <= verdict.characters);
        }
        let expected = match verdict.ai_intervals.as_slice() {
            [] => "human",
            [[1, end]] if *end == verdict.characters => "ai",
            _ => "mixed",
        };
        assert_eq!(verdict.category, expected);
        assert_eq!(super::verdict("").category, "human");
    }
}
