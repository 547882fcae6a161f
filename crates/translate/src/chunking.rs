//! Test support shared by the incremental text matchers' property tests: one text cut into
//! stream pieces at arbitrary character positions.

/// `text` cut at `cuts` (character positions, clamped to the text, in any order): the pieces in
/// order, empty ones included, which joined give `text` back.
pub fn pieces(text: &str, cuts: Vec<usize>) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(chars.len())).collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for point in points {
        pieces.push(chars[start..point].iter().collect::<String>());
        start = point;
    }
    pieces.push(chars[start..].iter().collect::<String>());
    pieces
}
