//! JSON Schema normalisation to the subset GigaChat accepts, and the way back for values.
//!
//! GigaChat rejects objects without `properties`, does not follow `$ref`, and is unreliable with
//! `anyOf`/`oneOf`, type arrays, non-string enums and most validation keywords. We inline and
//! simplify, and remember where we changed a value's type (non-string enums, `const`) so arguments
//! that come back can be restored to satisfy the client's original schema.

use serde_json::{Map, Value};

/// Keywords GigaChat understands; everything else is dropped.
const KEPT_KEYWORDS: [&str; 14] = [
    "type",
    "description",
    "title",
    "properties",
    "required",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
];

/// How deep `$ref`s are followed before a recursive type is cut to a plain object.
const MAX_REF_DEPTH: usize = 8;

/// A normalised schema and the type changes to undo in values that follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The schema to send to GigaChat.
    pub schema: Value,
    /// Where values were re-typed (a tree mirroring the schema).
    pub restore: Restore,
}

/// Type changes to undo, mirroring the shape of the values.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Restore {
    /// Nothing to undo here.
    #[default]
    Keep,
    /// A non-string enum sent as strings: the original values by their string form.
    Enum(Vec<Value>),
    /// Per-property restorations of an object.
    Object(Vec<(String, Restore)>),
    /// The restoration of every array item.
    Array(Box<Restore>),
}

/// Normalises a client schema (a function's `parameters` or a `response_format` schema).
/// The root is always an object schema with `properties`.
pub fn normalize(schema: &Value) -> Normalized {
    let definitions = collect_definitions(schema);
    let mut normalized = walk(schema, &definitions, 0);
    if normalized.schema.get("type").and_then(Value::as_str) != Some("object") {
        normalized = Normalized {
            schema: serde_json::json!({"type": "object", "properties": {}}),
            restore: Restore::Keep,
        };
    }
    normalized
}

fn collect_definitions(schema: &Value) -> Map<String, Value> {
    let mut all = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = schema.get(key) {
            for (name, def) in defs {
                all.insert(format!("#/{key}/{name}"), def.clone());
            }
        }
    }
    all
}

fn walk(schema: &Value, definitions: &Map<String, Value>, depth: usize) -> Normalized {
    let Value::Object(object) = schema else {
        // `true`/`{}`-like schemas: anything goes; GigaChat needs a concrete type.
        return plain(serde_json::json!({"type": "string"}));
    };
    if let Some(Value::String(reference)) = object.get("$ref") {
        return match definitions.get(reference) {
            Some(target) if depth < MAX_REF_DEPTH => {
                let mut merged = walk(target, definitions, depth + 1);
                if let (Some(description), Value::Object(out)) =
                    (object.get("description"), &mut merged.schema)
                {
                    out.insert("description".into(), description.clone());
                }
                merged
            }
            _ => plain(serde_json::json!({"type": "object", "properties": {}})),
        };
    }
    if let Some(Value::Array(all_of)) = object.get("allOf") {
        return walk(
            &merge_all_of(object, all_of, definitions),
            definitions,
            depth + 1,
        );
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = object.get(key) {
            let chosen = branches
                .iter()
                .find(|branch| branch.get("type").and_then(Value::as_str) != Some("null"))
                .cloned()
                .unwrap_or(serde_json::json!({"type": "string"}));
            let mut rest = object.clone();
            rest.remove(key);
            if let Value::Object(chosen) = chosen {
                for (k, v) in chosen {
                    rest.entry(k).or_insert(v);
                }
            }
            return walk(&Value::Object(rest), definitions, depth);
        }
    }
    let mut out = Map::new();
    let mut restore = Restore::Keep;
    let kind = schema_type(object);
    for (key, value) in object {
        if KEPT_KEYWORDS.contains(&key.as_str())
            && !matches!(
                key.as_str(),
                "type" | "properties" | "items" | "enum" | "required"
            )
        {
            out.insert(key.clone(), value.clone());
        }
    }
    if out.get("default").is_some_and(Value::is_null) {
        out.remove("default");
    }
    let enum_values = match (object.get("enum"), object.get("const")) {
        (Some(Value::Array(values)), _) => Some(values.clone()),
        (None, Some(constant)) => Some(vec![constant.clone()]),
        _ => None,
    };
    match (kind.as_deref(), enum_values) {
        (_, Some(values)) => {
            let values: Vec<Value> = values.into_iter().filter(|v| !v.is_null()).collect();
            if values.iter().all(Value::is_string) {
                out.insert("type".into(), Value::String("string".into()));
                out.insert("enum".into(), Value::Array(values));
            } else {
                let strings = values.iter().map(|v| Value::String(enum_text(v))).collect();
                out.insert("type".into(), Value::String("string".into()));
                out.insert("enum".into(), Value::Array(strings));
                restore = Restore::Enum(values);
                out.remove("minimum");
                out.remove("maximum");
                out.remove("default");
            }
        }
        (Some("object") | None, None)
            if object.contains_key("properties") || kind.as_deref() == Some("object") =>
        {
            let mut properties = Map::new();
            let mut restores = Vec::new();
            if let Some(Value::Object(props)) = object.get("properties") {
                for (name, property) in props {
                    let child = walk(property, definitions, depth);
                    if child.restore != Restore::Keep {
                        restores.push((name.clone(), child.restore));
                    }
                    properties.insert(name.clone(), child.schema);
                }
            }
            out.insert("type".into(), Value::String("object".into()));
            out.insert("properties".into(), Value::Object(properties));
            if let Some(Value::Array(required)) = object.get("required") {
                out.insert("required".into(), Value::Array(required.clone()));
            }
            if !restores.is_empty() {
                restore = Restore::Object(restores);
            }
        }
        (Some("array"), None) => {
            let items = object
                .get("items")
                .map(|items| walk(items, definitions, depth))
                .unwrap_or_else(|| plain(serde_json::json!({"type": "string"})));
            out.insert("type".into(), Value::String("array".into()));
            out.insert("items".into(), items.schema);
            if items.restore != Restore::Keep {
                restore = Restore::Array(Box::new(items.restore));
            }
        }
        (Some(kind), None) => {
            out.insert("type".into(), Value::String(kind.to_owned()));
        }
        (None, None) => {
            out.insert("type".into(), Value::String("string".into()));
        }
    }
    Normalized {
        schema: Value::Object(out),
        restore,
    }
}

fn plain(schema: Value) -> Normalized {
    Normalized {
        schema,
        restore: Restore::Keep,
    }
}

/// The single non-null type of a schema (`["string","null"]` → `string`).
fn schema_type(object: &Map<String, Value>) -> Option<String> {
    match object.get("type") {
        Some(Value::String(kind)) => Some(kind.clone()),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .map(str::to_owned),
        _ => None,
    }
}

/// `allOf` merged into one object schema (properties and required unioned).
fn merge_all_of(
    object: &Map<String, Value>,
    branches: &[Value],
    definitions: &Map<String, Value>,
) -> Value {
    let mut merged = object.clone();
    merged.remove("allOf");
    let mut properties = match merged.remove("properties") {
        Some(Value::Object(props)) => props,
        _ => Map::new(),
    };
    let mut required: Vec<Value> = match merged.remove("required") {
        Some(Value::Array(required)) => required,
        _ => Vec::new(),
    };
    for branch in branches {
        let branch = match branch.get("$ref").and_then(Value::as_str) {
            Some(reference) => definitions.get(reference).cloned().unwrap_or(Value::Null),
            None => branch.clone(),
        };
        let Value::Object(branch) = branch else {
            continue;
        };
        if let Some(Value::Object(props)) = branch.get("properties") {
            properties.extend(props.clone());
        }
        if let Some(Value::Array(more)) = branch.get("required") {
            required.extend(more.iter().cloned());
        }
        for (key, value) in branch {
            if key != "properties" && key != "required" {
                merged.entry(key).or_insert(value);
            }
        }
    }
    if !properties.is_empty() {
        merged.insert("properties".into(), Value::Object(properties));
        merged
            .entry("type")
            .or_insert(Value::String("object".into()));
    }
    if !required.is_empty() {
        merged.insert("required".into(), Value::Array(required));
    }
    Value::Object(merged)
}

fn enum_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

impl Restore {
    /// Undoes the normalisation's type changes in a value GigaChat produced.
    pub fn apply(&self, value: &mut Value) {
        match (self, value) {
            (Restore::Keep, _) => {}
            (Restore::Enum(originals), value) => {
                let text = match &*value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                if let Some(original) = originals.iter().find(|o| enum_text(o) == text) {
                    *value = original.clone();
                }
            }
            (Restore::Object(properties), Value::Object(object)) => {
                for (name, restore) in properties {
                    if let Some(child) = object.get_mut(name) {
                        restore.apply(child);
                    }
                }
            }
            (Restore::Array(item), Value::Array(items)) => {
                for child in items {
                    item.apply(child);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A Pydantic v2 model: `Optional`, nested model via `$ref`, int and str enums, `Union`, lists.
    fn pydantic() -> Value {
        json!({
            "$defs": {
                "Address": {"properties": {"city": {"title": "City", "type": "string"}}, "required": ["city"], "title": "Address", "type": "object"},
                "Priority": {"enum": [1, 2, 3], "title": "Priority", "type": "integer"},
                "Color": {"enum": ["red", "green"], "title": "Color", "type": "string"}
            },
            "properties": {
                "name": {"title": "Name", "type": "string"},
                "age": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": null, "title": "Age"},
                "address": {"$ref": "#/$defs/Address", "description": "Where"},
                "priority": {"$ref": "#/$defs/Priority"},
                "colors": {"items": {"$ref": "#/$defs/Color"}, "type": "array"},
                "tags": {"type": ["array", "null"], "items": {"type": "string"}},
                "mode": {"const": "fast"},
                "meta": {"type": "object", "additionalProperties": {"type": "string"}},
                "value": {"oneOf": [{"type": "number"}, {"type": "string"}]}
            },
            "required": ["name", "address", "priority"],
            "title": "Person",
            "type": "object",
            "additionalProperties": false
        })
    }

    #[test]
    fn pydantic_model_normalises() {
        let normalized = normalize(&pydantic());
        let schema = &normalized.schema;
        assert_eq!(schema["type"], "object");
        assert!(schema.get("$defs").is_none() && schema.get("additionalProperties").is_none());
        let props = &schema["properties"];
        assert_eq!(props["age"]["type"], "integer");
        assert_eq!(props["address"]["type"], "object");
        assert_eq!(props["address"]["description"], "Where");
        assert_eq!(props["address"]["properties"]["city"]["type"], "string");
        assert_eq!(
            props["priority"],
            json!({"title": "Priority", "type": "string", "enum": ["1", "2", "3"]})
        );
        assert_eq!(props["colors"]["items"]["enum"], json!(["red", "green"]));
        assert_eq!(props["tags"]["type"], "array");
        assert_eq!(props["mode"]["enum"], json!(["fast"]));
        assert_eq!(props["meta"], json!({"type": "object", "properties": {}}));
        assert_eq!(props["value"]["type"], "number");
        assert_eq!(schema["required"], json!(["name", "address", "priority"]));
    }

    #[test]
    fn every_object_has_properties_even_nested() {
        let normalized =
            normalize(&json!({"type": "object", "properties": {"data": {"type": "object"}}}));
        assert_eq!(
            normalized.schema["properties"]["data"]["properties"],
            json!({})
        );
        let empty = normalize(&json!({}));
        assert_eq!(empty.schema, json!({"type": "object", "properties": {}}));
    }

    #[test]
    fn recursive_refs_are_cut() {
        let schema = json!({
            "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}},
            "type": "object", "properties": {"root": {"$ref": "#/$defs/Node"}}
        });
        let normalized = normalize(&schema);
        let mut node = &normalized.schema["properties"]["root"];
        let mut depth = 0;
        while let Some(child) = node["properties"].get("child") {
            node = child;
            depth += 1;
        }
        assert!(depth <= MAX_REF_DEPTH + 1);
    }

    #[test]
    fn restore_undoes_enum_retyping() {
        let normalized = normalize(&pydantic());
        let mut value =
            json!({"name": "A", "priority": "2", "address": {"city": "Москва"}, "colors": ["red"]});
        normalized.restore.apply(&mut value);
        assert_eq!(value["priority"], 2);
        assert_eq!(value["colors"], json!(["red"]));
        let nested = normalize(
            &json!({"type": "object", "properties": {"levels": {"type": "array", "items": {"enum": [true, false]}}}}),
        );
        let mut value = json!({"levels": ["true", "false"]});
        nested.restore.apply(&mut value);
        assert_eq!(value["levels"], json!([true, false]));
    }

    #[test]
    fn mcp_tool_schema() {
        let mcp = json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "File path"},
                "options": {"type": "object", "properties": {"recursive": {"type": "boolean", "default": false}}, "additionalProperties": false},
                "limit": {"type": "integer", "exclusiveMinimum": 0, "format": "int32"}
            },
            "required": ["path"],
            "$schema": "http://json-schema.org/draft-07/schema#"
        });
        let normalized = normalize(&mcp);
        assert!(normalized.schema.get("$schema").is_none());
        assert_eq!(
            normalized.schema["properties"]["limit"],
            json!({"type": "integer"})
        );
        assert_eq!(
            normalized.schema["properties"]["options"]["properties"]["recursive"]["default"],
            false
        );
    }
}
