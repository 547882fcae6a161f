//! JSON kept as the client wrote it: tool schemas the gateway only compares, forwards or echoes
//! need no tree of their own (agents resend dozens of them on every turn).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// One JSON value as its text, checked to be well-formed JSON when read (every nesting depth
/// is accepted here: a tree is built, with serde_json's depth limit, only by [`RawJson::to_value`]).
/// Two are equal when their texts are: the same value written differently is not equal.
#[derive(Debug, Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// The JSON text, as sent (no whitespace before or after it).
    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// The value as a tree: fails only where serde_json's reader refuses what its checker let
    /// through (nesting deeper than 128, an unpaired surrogate in a `\u` escape).
    pub fn to_value(&self) -> serde_json::Result<Value> {
        serde_json::from_str(self.0.get())
    }
}

impl From<&Value> for RawJson {
    /// The compact JSON of `value`.
    fn from(value: &Value) -> Self {
        // A `Value` always serialises (its keys are strings, its numbers finite); `null` stands
        // in for the failure that cannot happen rather than a panic.
        Self(serde_json::value::to_raw_value(value).unwrap_or_else(|_| null()))
    }
}

impl From<Value> for RawJson {
    /// The compact JSON of `value`.
    fn from(value: Value) -> Self {
        Self::from(&value)
    }
}

/// The JSON `null`.
fn null() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl Eq for RawJson {}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_text_and_reads_back_the_value() {
        let raw: RawJson = serde_json::from_str(
            r#" {"type": "object", "properties": {"a": {"enum": [1, 2.5]}}} "#,
        )
        .unwrap();
        assert_eq!(
            raw.text(),
            r#"{"type": "object", "properties": {"a": {"enum": [1, 2.5]}}}"#
        );
        assert_eq!(
            raw.to_value().unwrap(),
            json!({"type": "object", "properties": {"a": {"enum": [1, 2.5]}}})
        );
        assert_eq!(serde_json::to_string(&raw).unwrap(), raw.text());
    }

    #[test]
    fn reads_from_a_value_too_and_writes_it_compact() {
        let value = json!({"b": [true, null], "a": "x"});
        let raw: RawJson = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(raw.text(), r#"{"b":[true,null],"a":"x"}"#);
        assert_eq!(RawJson::from(&value), raw);
        assert_eq!(serde_json::to_value(&raw).unwrap(), value);
    }

    #[test]
    fn equal_only_as_written() {
        let spaced: RawJson = serde_json::from_str(r#"{"a": 1}"#).unwrap();
        let compact: RawJson = serde_json::from_str(r#"{"a":1}"#).unwrap();
        assert_ne!(spaced, compact);
        assert_eq!(spaced.to_value().unwrap(), compact.to_value().unwrap());
    }

    #[test]
    fn refuses_what_is_not_json_and_leaves_deep_nesting_to_the_tree() {
        assert!(serde_json::from_str::<RawJson>(r#"{"a": }"#).is_err());
        assert!(serde_json::from_str::<RawJson>(r#"{"a": "\x"}"#).is_err());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let raw: RawJson = serde_json::from_str(&deep).unwrap();
        assert!(raw.to_value().is_err());
        let surrogate: RawJson = serde_json::from_str(r#""\ud800""#).unwrap();
        assert!(surrogate.to_value().is_err());
    }
}
