//! JSON written once and sent many times: a tool's normalised schema goes out with every request
//! that offers the tool, so it is kept as its compact text, shared rather than copied.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// One JSON value as its compact text behind an `Arc`: cloning it copies nothing, and writing
/// it into a body copies the text. Two are equal when their texts are.
#[derive(Debug, Clone)]
pub struct SharedJson(Arc<RawValue>);

impl SharedJson {
    /// The JSON text.
    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// The value as a tree.
    pub fn to_value(&self) -> serde_json::Result<Value> {
        serde_json::from_str(self.0.get())
    }
}

impl From<&Value> for SharedJson {
    /// The compact JSON of `value`.
    fn from(value: &Value) -> Self {
        // A `Value` always serialises (its keys are strings, its numbers finite); `null` stands
        // in for the failure that cannot happen rather than a panic.
        let text =
            serde_json::value::to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned());
        Self(Arc::from(text))
    }
}

impl From<Value> for SharedJson {
    /// The compact JSON of `value`.
    fn from(value: Value) -> Self {
        Self::from(&value)
    }
}

impl PartialEq for SharedJson {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl Eq for SharedJson {}

impl Serialize for SharedJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(|text| Self(Arc::from(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_the_value_compact_and_reads_it_back() {
        let value = json!({"type": "object", "properties": {"a": {"enum": ["x", 1.5, null]}}});
        let shared = SharedJson::from(&value);
        assert_eq!(shared.text(), serde_json::to_string(&value).unwrap());
        assert_eq!(shared.to_value().unwrap(), value);
        assert_eq!(
            serde_json::to_string(&json!({"p": shared.clone()})).unwrap(),
            format!(r#"{{"p":{}}}"#, shared.text())
        );
        let read: SharedJson = serde_json::from_str(shared.text()).unwrap();
        assert_eq!(read, shared);
        let from_tree: SharedJson = serde_json::from_value(value).unwrap();
        assert_eq!(from_tree, shared);
    }
}
