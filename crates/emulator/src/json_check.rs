//! JSON checked without building it: accepts exactly the text `serde_json::Value` accepts, so the hot
//! paths can check a body or a function result without allocating a tree they throw away.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value parsed and dropped. It goes through `deserialize_any` like `Value` does, so numbers
/// are range-checked, strings unescaped and checked, and nesting counted against the same limit;
/// unlike `serde::de::IgnoredAny`, which skips text without those checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnyJson;

impl<'de> Deserialize<'de> for AnyJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AnyJsonVisitor)
    }
}

struct AnyJsonVisitor;

impl<'de> Visitor<'de> for AnyJsonVisitor {
    type Value = AnyJson;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }

    fn visit_i64<E>(self, _: i64) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }

    fn visit_u64<E>(self, _: u64) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }

    fn visit_f64<E>(self, _: f64) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }

    fn visit_str<E>(self, _: &str) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }

    fn visit_unit<E>(self) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyJson, A::Error> {
        while seq.next_element::<AnyJson>()?.is_some() {}
        Ok(AnyJson)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyJson, A::Error> {
        while map.next_key::<AnyJson>()?.is_some() {
            map.next_value::<AnyJson>()?;
        }
        Ok(AnyJson)
    }
}

/// Whether `bytes` is one JSON document `serde_json::from_slice::<Value>` would accept.
#[cfg(test)]
fn is_json(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(is_json_text)
}

/// Whether `text` is one JSON document `serde_json::from_str::<Value>` would accept.
pub(crate) fn is_json_text(text: &str) -> bool {
    serde_json::from_str::<AnyJson>(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn agrees(text: &[u8]) {
        assert_eq!(
            is_json(text),
            serde_json::from_slice::<Value>(text).is_ok(),
            "{:?}",
            String::from_utf8_lossy(text)
        );
    }

    #[test]
    fn accepts_what_value_accepts() {
        let deep_ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        let too_deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
        let deep_in_object = format!("{{\"a\":{}1{}}}", "[".repeat(130), "]".repeat(130));
        let cases: Vec<&[u8]> = vec![
            b"",
            b" ",
            b"null",
            b"true",
            b"{}",
            b"[]",
            b"{\"a\":1,\"a\":2}",
            b"{\"a\":[1,2.5,-3e2,\"x\",null,{\"b\":false}]}",
            b"1e400",
            b"-1e400",
            b"[1e309]",
            b"{\"x\":1e400}",
            b"18446744073709551616",
            b"-9223372036854775809",
            b"0.1e-400",
            b"01",
            b"1.",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"\\ud83d\\ude00\"",
            b"{\"\\ud800\":1}",
            b"\"\\x\"",
            b"\"a\tb\"",
            b"\"\xff\"",
            b"{\"k\xff\":1}",
            b"{1:2}",
            b"{\"a\":1,}",
            b"[1,]",
            b"[1] x",
            b"[1] ",
            b"{\"a\" 1}",
            b"nul",
            b"\"unterminated",
            b"NaN",
            deep_ok.as_bytes(),
            too_deep.as_bytes(),
            deep_in_object.as_bytes(),
        ];
        for case in cases {
            agrees(case);
        }
    }

    #[test]
    fn agrees_with_value_on_every_prefix_and_byte_flip_of_a_document() {
        let document = br#"{"ok":true,"n":[1,-2,3.5e10,1e308],"s":"\u0416\n\"q\"","o":{"k":null}}"#;
        for end in 0..=document.len() {
            agrees(&document[..end]);
        }
        for index in 0..document.len() {
            for byte in [b'"', b'\\', b'1', b'e', b'{', b']', b',', b' ', 0xff, b'9'] {
                let mut changed = document.to_vec();
                changed[index] = byte;
                agrees(&changed);
            }
        }
    }
}
