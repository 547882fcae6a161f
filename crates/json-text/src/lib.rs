//! Long texts written into JSON bodies eight bytes at a time: an agent's history (tool results
//! full of quotes) is most of a chat body, and serde_json escapes a string one byte at a time.
//! The same word-at-a-time search finds where a JSON string ends when one is read by hand.

use serde::Serializer;
use serde::ser::SerializeStruct;

/// The name serde_json's serializers give a value written as raw JSON text (what
/// `serde_json::value::RawValue` serialises as): they copy its text into the output as it is.
const RAW_JSON: &str = "$serde_json::private::RawValue";

/// Texts shorter than this go through serde's own escaping: the extra copy is not worth it.
const QUOTED_FROM: usize = 256;

/// Serialises `text` as a JSON string: exactly the bytes serde_json writes for it, found faster
/// for a long text (escaped into a buffer a word at a time, then handed over as raw JSON). For
/// `#[serde(serialize_with = "…")]` on texts that are written with serde_json.
pub fn serialize<S: Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
    if text.len() < QUOTED_FROM {
        return serializer.serialize_str(text);
    }
    let mut quoted = String::with_capacity(text.len() + text.len() / 8 + 2);
    push_quoted(&mut quoted, text);
    let mut raw = serializer.serialize_struct(RAW_JSON, 1)?;
    raw.serialize_field(RAW_JSON, quoted.as_str())?;
    raw.end()
}

/// Appends `text` as a JSON string, escaped as serde_json escapes it: `"` and `\` with a
/// backslash, the control characters with a short escape or `\u00xx`, everything else as is.
pub fn push_quoted(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    let bytes = text.as_bytes();
    let mut kept_from = 0;
    while let Some(at) = next_to_escape(bytes, kept_from) {
        // The byte to escape is ASCII, so both ends are character boundaries.
        out.push_str(text.get(kept_from..at).unwrap_or_default());
        push_escape(out, bytes[at]);
        kept_from = at + 1;
    }
    out.push_str(text.get(kept_from..).unwrap_or_default());
    out.push('"');
}

/// The first byte at or after `from` that a JSON string cannot hold as it is: `"`, `\` or a
/// control character. Eight bytes are tested at once (the lowest flagged byte of a word is
/// always a true match: a false flag can only follow a true one).
pub fn next_to_escape(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let rest = bytes.get(from..)?;
    let mut words = rest.chunks_exact(8);
    let mut offset = from;
    for word in &mut words {
        let Ok(word) = <[u8; 8]>::try_from(word).map(u64::from_le_bytes) else {
            break;
        };
        let control = word.wrapping_sub(ONES * 0x20) & !word;
        let quote = word ^ (ONES * u64::from(b'"'));
        let quote = quote.wrapping_sub(ONES) & !quote;
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let backslash = backslash.wrapping_sub(ONES) & !backslash;
        let flagged = (control | quote | backslash) & HIGH;
        if flagged != 0 {
            return Some(offset + (flagged.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&byte| needs_escape(byte))
        .map(|at| offset + at)
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Appends the escape of `byte` (one of [`needs_escape`]'s).
fn push_escape(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match byte {
        b'"' => out.push_str("\\\""),
        b'\\' => out.push_str("\\\\"),
        0x08 => out.push_str("\\b"),
        0x0c => out.push_str("\\f"),
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        b'\t' => out.push_str("\\t"),
        _ => {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(serde::Serialize)]
    struct Text<'a>(#[serde(serialize_with = "serialize")] &'a str);

    /// Texts made of what escaping cares about: quotes, backslashes, every control character,
    /// DEL, multi-byte characters, plain letters, in runs that straddle the eight-byte words.
    fn texts() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            (0u8..0x20).prop_map(|byte| char::from(byte).to_string()),
            Just("\u{7f}".to_owned()),
            Just("ж€😀".to_owned()),
            "[a-z ]{0,19}",
        ];
        proptest::collection::vec(piece, 0..400).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        /// The same bytes as serde_json's own escaping, on both sides of the length threshold,
        /// and the same value read back through `serde_json::to_value`.
        #[test]
        fn writes_what_serde_json_writes(text in texts()) {
            let expected = serde_json::to_string(&text).unwrap();
            prop_assert_eq!(&serde_json::to_string(&Text(&text)).unwrap(), &expected);
            let mut quoted = String::new();
            push_quoted(&mut quoted, &text);
            prop_assert_eq!(&quoted, &expected);
            prop_assert_eq!(
                serde_json::to_value(Text(&text)).unwrap(),
                serde_json::Value::String(text.clone())
            );
        }
    }

    /// A long text with something to escape at every position of a word, and at the very end.
    #[test]
    fn escapes_at_every_position_of_a_word() {
        for at in 0..300 {
            for special in ["\"", "\\", "\n", "\u{1}", "\u{1f}"] {
                let mut text = "x".repeat(300);
                text.replace_range(at..=at, special);
                assert_eq!(
                    serde_json::to_string(&Text(&text)).unwrap(),
                    serde_json::to_string(&text).unwrap()
                );
            }
        }
    }
}
