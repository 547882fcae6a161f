//! Reads the events of a v1 stream. Nearly every event of an answer is a text delta of one
//! shape (`{"choices":[{"delta":{"content":…},"index":0}],"created":…,"model":…,"object":…}`):
//! that shape is read here by hand, serde's derived reader spent ~3,400 instructions on each.
//! Everything else (usage, finish reasons, function calls, unknown or repeated fields, `null`s,
//! numbers that are not plain integers, bad JSON) goes to serde_json, so the result (or the
//! error) is always serde_json's.

use std::borrow::Cow;

use crate::chat::{ChatChunk, ChunkChoice, Delta, Role, chunk_object_of};

impl ChatChunk {
    /// The event whose JSON is `data`, as `serde_json::from_str` reads it.
    pub fn read(data: &str) -> Result<ChatChunk, serde_json::Error> {
        match text_delta(data) {
            Some(chunk) => Ok(chunk),
            None => serde_json::from_str(data),
        }
    }
}

/// `data` read by hand when it is a text delta, `None` when it is anything else.
fn text_delta(data: &str) -> Option<ChatChunk> {
    let mut cursor = Cursor { text: data, at: 0 };
    let (mut choices, mut created, mut model, mut object) = (None, None, None, None);
    cursor.object(|cursor, key| match key {
        "choices" if choices.is_none() => cursor.choices().map(|read| choices = Some(read)),
        "created" if created.is_none() => cursor.integer().map(|read| created = Some(read)),
        "model" if model.is_none() => cursor.string().map(|read| model = Some(read.into_owned())),
        "object" if object.is_none() => cursor
            .string()
            .map(|read| object = Some(chunk_object_of(read))),
        _ => None,
    })?;
    cursor.skip_whitespace();
    if cursor.at != data.len() {
        return None;
    }
    Some(ChatChunk {
        choices: choices?,
        created: created?,
        model: model?,
        object: object?,
        usage: None,
        thread_id: None,
        message_id: None,
    })
}

/// A position in the JSON text being read.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        while matches!(
            self.text.as_bytes().get(self.at),
            Some(b' ' | b'\n' | b'\r' | b'\t')
        ) {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace (not taken).
    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.text.as_bytes().get(self.at).copied()
    }

    /// Takes `byte`, after whitespace.
    fn take(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Reads an object, giving each key to `field`, which reads its value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &str) -> Option<()>) -> Option<()> {
        self.take(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.take(b':')?;
            field(self, &key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn choices(&mut self) -> Option<Vec<ChunkChoice>> {
        self.take(b'[')?;
        let mut choices = Vec::with_capacity(1);
        if self.peek()? == b']' {
            self.at += 1;
            return Some(choices);
        }
        loop {
            choices.push(self.choice()?);
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(choices);
                }
                _ => return None,
            }
        }
    }

    fn choice(&mut self) -> Option<ChunkChoice> {
        let (mut delta, mut index) = (None, None);
        self.object(|cursor, key| match key {
            "delta" if delta.is_none() => cursor.delta().map(|read| delta = Some(read)),
            "index" if index.is_none() => cursor
                .integer()
                .and_then(|read| u32::try_from(read).ok())
                .map(|read| index = Some(read)),
            _ => None,
        })?;
        Some(ChunkChoice {
            delta: delta?,
            index: index?,
            finish_reason: None,
        })
    }

    /// A delta of text and, in the first event, the assistant's role.
    fn delta(&mut self) -> Option<Delta> {
        let (mut content, mut role) = (None, None);
        self.object(|cursor, key| match key {
            "content" if content.is_none() => cursor
                .string()
                .map(|read| content = Some(read.into_owned())),
            "role" if role.is_none() => match cursor.string()?.as_ref() {
                "assistant" => {
                    role = Some(Role::Assistant);
                    Some(())
                }
                _ => None,
            },
            _ => None,
        })?;
        Some(Delta {
            content,
            role,
            ..Delta::default()
        })
    }

    /// A plain integer that fits an `i64`: no sign (serde_json reads `-0` as a float), fraction,
    /// exponent or leading zero.
    #[inline(never)]
    fn integer(&mut self) -> Option<i64> {
        self.skip_whitespace();
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut value: i64 = 0;
        while let Some(digit) = bytes.get(self.at).filter(|byte| byte.is_ascii_digit()) {
            value = value
                .checked_mul(10)?
                .checked_add(i64::from(digit - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && bytes.get(start) == Some(&b'0');
        let more = matches!(bytes.get(self.at), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !more).then_some(value)
    }

    /// A string, borrowed when it has no escape.
    #[inline(never)]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.take(b'"')?;
        let start = self.at;
        // The first quote, backslash or control character, found a word at a time.
        self.at = json_text::next_to_escape(self.text.as_bytes(), start)?;
        match self.text.as_bytes().get(self.at)? {
            b'"' => {
                let read = self.text.get(start..self.at)?;
                self.at += 1;
                Some(Cow::Borrowed(read))
            }
            b'\\' => self.escaped_string(start).map(Cow::Owned),
            _ => None,
        }
    }

    /// The rest of a string that started at `start` and has an escape at the cursor.
    #[inline(never)]
    fn escaped_string(&mut self, start: usize) -> Option<String> {
        let bytes = self.text.as_bytes();
        let mut read = String::with_capacity(self.at - start + 16);
        let mut run = start;
        loop {
            self.at = json_text::next_to_escape(bytes, self.at)?;
            read.push_str(self.text.get(run..self.at)?);
            match bytes.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return Some(read);
                }
                b'\\' => {
                    self.at += 1;
                    read.push(self.escape()?);
                    run = self.at;
                }
                _ => return None,
            }
        }
    }

    /// The character of the escape after a backslash (a surrogate pair read whole; a lone
    /// surrogate is left to serde_json, which refuses it).
    fn escape(&mut self) -> Option<char> {
        let byte = *self.text.as_bytes().get(self.at)?;
        self.at += 1;
        Some(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                let code = match unit {
                    0xD800..0xDC00 => {
                        (self.text.as_bytes().get(self.at..self.at + 2)? == b"\\u").then_some(())?;
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&low) {
                            return None;
                        }
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..0xE000 => return None,
                    _ => unit,
                };
                char::from_u32(code)?
            }
            _ => return None,
        })
    }

    /// Four hex digits.
    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.at..self.at + 4)?;
        if !digits.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    /// What the reader must give for `data`: serde_json's result, and the reading by hand when it
    /// takes `data` at all.
    fn check(data: &str) -> Option<ChatChunk> {
        let by_hand = text_delta(data);
        let by_serde = serde_json::from_str::<ChatChunk>(data);
        if let Some(chunk) = &by_hand {
            assert_eq!(Some(chunk), by_serde.as_ref().ok(), "{data}");
        }
        assert_eq!(
            ChatChunk::read(data).map_err(|err| err.to_string()),
            by_serde.map_err(|err| err.to_string())
        );
        by_hand
    }

    #[test]
    fn text_deltas_as_gigachat_sends_them_are_read_by_hand() {
        for data in [
            r#"{"choices":[{"delta":{"content":"Модель можно","role":"assistant"},"index":0}],"created":1796631768,"model":"GigaChat:2.0.28.2","object":"chat.completion"}"#,
            r#"{"choices":[{"delta":{"content":" \"да\"\n\\ \u0416 \ud83d\ude00 \/"},"index":0}],"created":1,"model":"GigaChat","object":"chat.completion"}"#,
            r#" { "object" : "chat.completion", "model":"M", "created":5, "choices":[ {"index":2, "delta":{}} , {"delta":{"content":""},"index":0}] } "#,
            r#"{"choices":[],"created":0,"model":"","object":"other"}"#,
        ] {
            let chunk = check(data).expect(data);
            assert!(
                matches!(chunk.object, Cow::Borrowed(_)) == (chunk.object == "chat.completion")
            );
        }
    }

    #[test]
    fn everything_else_is_left_to_serde_json() {
        for data in [
            // The last event, with the finish reason and usage.
            r#"{"choices":[{"delta":{"content":""},"finish_reason":"stop","index":0}],"created":1,"model":"M","object":"chat.completion","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
            r#"{"choices":[{"delta":{"content":null},"index":0}],"created":1,"model":"M","object":"chat.completion"}"#,
            r#"{"choices":[{"delta":{"role":"function_in_progress"},"index":0}],"created":1,"model":"M","object":"chat.completion"}"#,
            r#"{"choices":[],"created":1,"model":"M","object":"chat.completion","extra":1}"#,
            r#"{"choices":[],"created":1,"created":2,"model":"M","object":"chat.completion"}"#,
            r#"{"choices":[],"created":1.0,"model":"M","object":"chat.completion"}"#,
            r#"{"choices":[],"created":01,"model":"M","object":"chat.completion"}"#,
            r#"{"choices":[],"created":99999999999999999999,"model":"M","object":"chat.completion"}"#,
            r#"{"choices":[{"delta":{},"index":-1}],"created":1,"model":"M","object":"chat.completion"}"#,
            r#"{"choices":[],"created":1,"model":"\ud800","object":"chat.completion"}"#,
            r#"{"choices":[],"created":1,"model":"a\qb","object":"chat.completion"}"#,
            "{\"choices\":[],\"created\":1,\"model\":\"a\tb\",\"object\":\"chat.completion\"}",
            r#"{"choices":[],"created":1,"model":"M"}"#,
            r#"{"choices":[],"created":1,"model":"M","object":"chat.completion"} x"#,
            r#"{"choices":[],"created":1,"model":"M","object":"chat.completion""#,
            r#"[]"#,
            "",
        ] {
            assert_eq!(check(data), None, "{data}");
        }
    }

    /// JSON texts of events like GigaChat's, with what the reader cares about: keys in any
    /// order, spaces, escapes, characters of every width, extra keys and wrong types.
    fn events() -> impl Strategy<Value = String> {
        let text = proptest::collection::vec(
            prop_oneof![
                1 => Just("\\\"".to_owned()),
                1 => Just("\\\\".to_owned()),
                1 => Just("\\n".to_owned()),
                1 => Just("\\u0416".to_owned()),
                1 => Just("\\ud83d\\ude00".to_owned()),
                1 => Just("\\ud83d".to_owned()),
                1 => Just("\\x".to_owned()),
                1 => Just("\t".to_owned()),
                3 => Just("ж€😀".to_owned()),
                12 => "[a-z ]{0,8}",
            ],
            0..6,
        )
        .prop_map(|pieces| format!("\"{}\"", pieces.concat()));
        let number = prop_oneof![
            1 => Just("0".to_owned()),
            1 => Just("-0".to_owned()),
            1 => Just("01".to_owned()),
            1 => Just("1.5".to_owned()),
            1 => Just("1e3".to_owned()),
            1 => Just("4294967296".to_owned()),
            1 => Just("9223372036854775808".to_owned()),
            1 => Just("-9223372036854775808".to_owned()),
            3 => any::<i64>().prop_map(|n| n.to_string()),
            12 => (0_u32..4).prop_map(|n| n.to_string()),
        ];
        let value = prop_oneof![
            text.clone(),
            number.clone(),
            Just("null".to_owned()),
            Just("\"assistant\"".to_owned()),
        ];
        let space = prop_oneof![Just(""), Just(" "), Just("\n\t ")];
        let delta = proptest::collection::vec(
            (
                prop_oneof![Just("content"), Just("role"), Just("name")],
                value.clone(),
            ),
            0..3,
        )
        .prop_map(|fields| object(&fields));
        let choice = proptest::collection::vec(
            prop_oneof![
                delta.prop_map(|delta| ("delta", delta)),
                number.clone().prop_map(|index| ("index", index)),
                Just(("finish_reason", "\"stop\"".to_owned())),
            ],
            0..4,
        )
        .prop_map(|fields| object(&fields));
        let choices = proptest::collection::vec(choice, 0..3)
            .prop_map(|choices| format!("[{}]", choices.join(",")));
        let usual_object =
            prop_oneof![4 => Just("\"chat.completion\"".to_owned()), 1 => text.clone()];
        let required = (choices, number.clone(), text.clone(), usual_object).prop_map(
            |(choices, created, model, object)| {
                vec![
                    ("choices", choices),
                    ("created", created),
                    ("model", model),
                    ("object", object),
                ]
            },
        );
        let extra = proptest::option::weighted(
            0.2,
            prop_oneof![
                value.prop_map(|usage| ("usage", usage)),
                number.prop_map(|created| ("created", created)),
                text.prop_map(|model| ("model", model)),
            ],
        );
        (required, extra, space)
            .prop_flat_map(|(mut fields, extra, space)| {
                fields.extend(extra);
                (Just(fields).prop_shuffle(), Just(space))
            })
            .prop_map(|(fields, space)| object(&fields).replace(',', &format!("{space},{space}")))
    }

    fn object(fields: &[(&str, String)]) -> String {
        let fields: Vec<String> = fields
            .iter()
            .map(|(key, value)| format!("\"{key}\":{value}"))
            .collect();
        format!("{{{}}}", fields.join(","))
    }

    /// serde_json's result on every generated event, and a good share of them (~12%) read by hand.
    #[test]
    fn reads_what_serde_json_reads() {
        let mut runner = proptest::test_runner::TestRunner::default();
        let by_hand = std::cell::Cell::new(0);
        let cases = 1_000;
        for _ in 0..cases {
            let data = events().new_tree(&mut runner).unwrap().current();
            if check(&data).is_some() {
                by_hand.set(by_hand.get() + 1);
            }
        }
        assert!(
            by_hand.get() > cases / 20,
            "read by hand: {}",
            by_hand.get()
        );
    }
}
