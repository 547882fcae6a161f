//! Strings matching a regular expression, for v2's `response_format {type:"regex"}`: a small
//! generator over literals, escapes (`\d \w \s`), classes, `.`, groups with `|`, and quantifiers.

use crate::text::Rng;

/// A parsed regular expression.
#[derive(Debug, Clone)]
enum Node {
    /// One exact character.
    Literal(char),
    /// One character from these inclusive ranges.
    Class(Vec<(char, char)>),
    /// Alternatives, each a sequence.
    Group(Vec<Vec<Node>>),
    /// A node repeated `min..=max` times.
    Repeat(Box<Node>, u32, u32),
    /// Matches the empty string (anchors).
    Empty,
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

const DIGITS: &[(char, char)] = &[('0', '9')];
const WORD: &[(char, char)] = &[('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')];

impl Parser<'_> {
    fn alternatives(&mut self) -> Option<Vec<Vec<Node>>> {
        let mut alternatives = vec![self.sequence()?];
        while self.chars.peek() == Some(&'|') {
            self.chars.next();
            alternatives.push(self.sequence()?);
        }
        Some(alternatives)
    }

    fn sequence(&mut self) -> Option<Vec<Node>> {
        let mut nodes = Vec::new();
        while let Some(&c) = self.chars.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            nodes.push(self.quantified(atom)?);
        }
        Some(nodes)
    }

    fn atom(&mut self) -> Option<Node> {
        match self.chars.next()? {
            '(' => {
                if self.chars.peek() == Some(&'?') {
                    self.chars.next();
                    if self.chars.next()? != ':' {
                        return None;
                    }
                }
                let alternatives = self.alternatives()?;
                (self.chars.next()? == ')').then_some(Node::Group(alternatives))
            }
            '[' => self.class(),
            '\\' => Some(escape(self.chars.next()?)),
            '.' => Some(Node::Class(WORD.to_vec())),
            '^' | '$' => Some(Node::Empty),
            '*' | '+' | '?' | '{' | ')' => None,
            c => Some(Node::Literal(c)),
        }
    }

    fn class(&mut self) -> Option<Node> {
        if self.chars.peek() == Some(&'^') {
            return None;
        }
        let mut ranges = Vec::new();
        loop {
            let c = self.chars.next()?;
            if c == ']' && !ranges.is_empty() {
                return Some(Node::Class(ranges));
            }
            let start = if c == '\\' {
                match escape(self.chars.next()?) {
                    Node::Literal(l) => l,
                    Node::Class(more) => {
                        ranges.extend(more);
                        continue;
                    }
                    _ => return None,
                }
            } else {
                c
            };
            let mut lookahead = self.chars.clone();
            if lookahead.next() == Some('-') && lookahead.peek().is_some_and(|&n| n != ']') {
                self.chars.next();
                let end = self.chars.next()?;
                ranges.push((start, end.max(start)));
            } else {
                ranges.push((start, start));
            }
        }
    }

    fn quantified(&mut self, atom: Node) -> Option<Node> {
        let (min, max) = match self.chars.peek() {
            Some('?') => (0, 1),
            Some('*') => (0, 3),
            Some('+') => (1, 3),
            Some('{') => {
                self.chars.next();
                let mut spec = String::new();
                loop {
                    match self.chars.next()? {
                        '}' => break,
                        c => spec.push(c),
                    }
                }
                let (min, max) = match spec.split_once(',') {
                    Some((min, "")) => (
                        min.trim().parse().ok()?,
                        min.trim().parse::<u32>().ok()? + 3,
                    ),
                    Some((min, max)) => (min.trim().parse().ok()?, max.trim().parse().ok()?),
                    None => {
                        let n = spec.trim().parse().ok()?;
                        (n, n)
                    }
                };
                return Some(Node::Repeat(Box::new(atom), min, max));
            }
            _ => return Some(atom),
        };
        self.chars.next();
        Some(Node::Repeat(Box::new(atom), min, max))
    }
}

fn escape(c: char) -> Node {
    match c {
        'd' => Node::Class(DIGITS.to_vec()),
        'w' => Node::Class(WORD.to_vec()),
        's' => Node::Literal(' '),
        'n' => Node::Literal('\n'),
        't' => Node::Literal('\t'),
        other => Node::Literal(other),
    }
}

fn emit(node: &Node, rng: &mut Rng, out: &mut String) {
    match node {
        Node::Literal(c) => out.push(*c),
        Node::Class(ranges) => {
            let total: u32 = ranges.iter().map(|(a, b)| *b as u32 - *a as u32 + 1).sum();
            let mut pick = u32::try_from(rng.below(total.max(1) as usize)).unwrap_or(0);
            for (a, b) in ranges {
                let size = *b as u32 - *a as u32 + 1;
                if pick < size {
                    out.extend(char::from_u32(*a as u32 + pick));
                    return;
                }
                pick -= size;
            }
        }
        Node::Group(alternatives) => {
            if let Some(sequence) = alternatives.get(rng.below(alternatives.len())) {
                for node in sequence {
                    emit(node, rng, out);
                }
            }
        }
        Node::Repeat(inner, min, max) => {
            let count = (*min).max(1).min(*max);
            for _ in 0..count {
                emit(inner, rng, out);
            }
        }
        Node::Empty => {}
    }
}

/// A string matching `regex`, or `None` for constructs the generator does not support.
pub(crate) fn generate(regex: &str, rng: &mut Rng) -> Option<String> {
    let mut parser = Parser {
        chars: regex.chars().peekable(),
    };
    let alternatives = parser.alternatives()?;
    if parser.chars.next().is_some() {
        return None;
    }
    let mut out = String::new();
    emit(&Node::Group(alternatives), rng, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(regex: &str) -> String {
        generate(regex, &mut Rng::new(3)).unwrap()
    }

    #[test]
    fn ticket_codes() {
        let code = sample("[A-Z]{3}-\\d{4}");
        assert_eq!(code.len(), 8);
        assert!(code[..3].chars().all(|c| c.is_ascii_uppercase()));
        assert_eq!(&code[3..4], "-");
        assert!(code[4..].chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn groups_and_quantifiers() {
        let value = sample("^(yes|no)!?$");
        assert!(
            ["yes", "no", "yes!", "no!"].contains(&value.as_str()),
            "{value}"
        );
        assert_eq!(sample("a{2,5}"), "aa");
        assert!(generate("[^a]", &mut Rng::new(1)).is_none());
        assert!(generate("(unclosed", &mut Rng::new(1)).is_none());
    }
}
