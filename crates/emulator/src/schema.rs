//! JSON Schema helpers: GigaChat's strict check of function schemas, and deterministic values that
//! satisfy a schema (function arguments, structured output).

use serde_json::{Map, Number, Value};

use crate::text::{self, Rng};

/// GigaChat's strict check: every object schema must declare `properties`. Returns the message of the
/// real 422, e.g. `Field 'properties.data.properties' is missing`.
pub(crate) fn check_properties(schema: &Value) -> Result<(), String> {
    check_at(schema, &mut Vec::new())
}

/// Checks `schema`, found at `path` (field names, dotted together only for an error message, so a
/// valid schema costs no string building).
fn check_at<'a>(schema: &'a Value, path: &mut Vec<&'a str>) -> Result<(), String> {
    let Some(object) = schema.as_object() else {
        return Ok(());
    };
    let is_object = match object.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => false,
    };
    if is_object {
        path.push("properties");
        let Some(Value::Object(properties)) = object.get("properties") else {
            return Err(format!("Field '{}' is missing", path.join(".")));
        };
        for (name, property) in properties {
            path.push(name);
            check_at(property, path)?;
            path.pop();
        }
        path.pop();
    }
    if let Some(items) = object.get("items") {
        path.push("items");
        check_at(items, path)?;
        path.pop();
    }
    Ok(())
}

/// Generates a value valid against `schema` (types, enums, bounds, required and optional
/// properties, `$ref` into `$defs`/`definitions`, `anyOf`/`oneOf`/`allOf`), deterministically from `rng`.
pub(crate) fn generate(schema: &Value, rng: &mut Rng) -> Value {
    generate_in(schema, schema, rng, 0)
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn generate_in(schema: &Value, root: &Value, rng: &mut Rng, depth: usize) -> Value {
    let Some(object) = schema.as_object() else {
        return Value::String(text::word(rng).to_owned());
    };
    if depth > 8 {
        return Value::Null;
    }
    if let Some(Value::String(reference)) = object.get("$ref")
        && let Some(target) = resolve(root, reference)
    {
        return generate_in(target, root, rng, depth + 1);
    }
    if let Some(constant) = object.get("const") {
        return constant.clone();
    }
    if let Some(Value::Array(choices)) = object.get("enum")
        && !choices.is_empty()
    {
        return choices
            .get(rng.below(choices.len()))
            .cloned()
            .unwrap_or(Value::Null);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(options)) = object.get(key)
            && let Some(first) = options
                .iter()
                .find(|o| o.get("type") != Some(&Value::from("null")))
        {
            return generate_in(first, root, rng, depth + 1);
        }
    }
    let kind = match object.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if object.contains_key("properties") => "object",
        _ if object.contains_key("items") => "array",
        _ => "string",
    };
    match kind {
        "object" => {
            let mut out = Map::new();
            if let Some(Value::Object(properties)) = object.get("properties") {
                for (name, property) in properties {
                    out.insert(name.clone(), generate_in(property, root, rng, depth + 1));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let min = object
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1);
            let max = object
                .get("maxItems")
                .and_then(Value::as_u64)
                .unwrap_or(min.max(2));
            let count = min.min(max.max(min)).min(16);
            let items = object.get("items").unwrap_or(&Value::Null);
            Value::Array(
                (0..count)
                    .map(|_| generate_in(items, root, rng, depth + 1))
                    .collect(),
            )
        }
        "integer" => {
            let (low, high) = bounds(object, 0.0, 100.0);
            let (low, high) = (low.ceil() as i64, high.floor() as i64);
            let span = u64::try_from(high.saturating_sub(low))
                .unwrap_or(0)
                .saturating_add(1);
            let offset = i64::try_from(rng.next_u64() % span).unwrap_or(0);
            Value::from(low.saturating_add(offset))
        }
        "number" => {
            let (low, high) = bounds(object, 0.0, 100.0);
            let value = ((low + (high - low) * rng.unit()) * 100.0).round() / 100.0;
            let value = value.clamp(low, high);
            Number::from_f64(value).map_or(Value::from(0), Value::Number)
        }
        "boolean" => Value::Bool(rng.below(2) == 0),
        "null" => Value::Null,
        _ => Value::String(string_value(object, rng)),
    }
}

/// Makes `arguments` (valid against the object schema `schema`) invalid, deterministically: the
/// first property whose schema restricts its type gets a value of another type; failing that, the
/// first required property is removed; failing that, an undeclared `unexpected_argument` is added.
pub(crate) fn violate(schema: &Value, arguments: &mut Map<String, Value>) {
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (name, property) in properties {
            let property = follow_refs(schema, property);
            if let Some(wrong) = wrong_value(property) {
                arguments.insert(name.clone(), wrong);
                return;
            }
        }
    }
    let first_required = schema
        .get("required")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_str);
    if let Some(name) = first_required {
        arguments.remove(name);
        return;
    }
    arguments.insert("unexpected_argument".to_owned(), Value::Bool(true));
}

/// `schema` with `$ref`s into `root` followed.
fn follow_refs<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..8 {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| resolve(root, r))
        {
            Some(target) => schema = target,
            None => break,
        }
    }
    schema
}

/// A value the schema's `type` (or `enum`) does not allow, if it restricts the type at all.
fn wrong_value(schema: &Value) -> Option<Value> {
    let allowed: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect(),
        _ if schema.get("enum").is_some_and(Value::is_array) => {
            return Some(Value::String("not one of the allowed values".to_owned()));
        }
        _ if schema.get("properties").is_some() => vec!["object"],
        _ if schema.get("items").is_some() => vec!["array"],
        _ => return None,
    };
    let allows =
        |kind: &str| allowed.contains(&kind) || (kind == "integer" && allowed.contains(&"number"));
    [
        ("string", Value::String("invalid".to_owned())),
        ("integer", Value::from(42)),
        ("boolean", Value::Bool(true)),
        ("object", Value::Object(Map::new())),
        ("null", Value::Null),
    ]
    .into_iter()
    .find(|(kind, _)| !allows(kind))
    .map(|(_, value)| value)
}

/// Inclusive numeric bounds of a schema, honouring exclusive forms.
fn bounds(object: &Map<String, Value>, default_low: f64, default_high: f64) -> (f64, f64) {
    let get = |key: &str| object.get(key).and_then(Value::as_f64);
    let low = get("minimum")
        .or_else(|| get("exclusiveMinimum").map(|v| v + 1.0))
        .unwrap_or(default_low);
    let high = get("maximum")
        .or_else(|| get("exclusiveMaximum").map(|v| v - 1.0))
        .unwrap_or(if low > default_high {
            low + 100.0
        } else {
            default_high
        });
    if high < low { (low, low) } else { (low, high) }
}

fn string_value(object: &Map<String, Value>, rng: &mut Rng) -> String {
    match object.get("format").and_then(Value::as_str) {
        Some("date") => return "2026-01-21".to_owned(),
        Some("date-time") => return "2026-01-21T11:49:31Z".to_owned(),
        Some("email") => return "user@example.com".to_owned(),
        Some("uri" | "url") => return "https://example.com/".to_owned(),
        Some("uuid") => return "00000000-0000-4000-8000-000000000000".to_owned(),
        _ => {}
    }
    let min = object.get("minLength").and_then(Value::as_u64).unwrap_or(0);
    let max = object
        .get("maxLength")
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX);
    let mut value = text::word(rng).to_owned();
    while (value.chars().count() as u64) < min {
        value.push(' ');
        value.push_str(text::word(rng));
    }
    if value.chars().count() as u64 > max {
        value = value
            .chars()
            .take(usize::try_from(max).unwrap_or(0))
            .collect();
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_object_without_properties_is_rejected() {
        let schema = json!({"type":"object","properties":{"data":{"type":"object"}}});
        assert_eq!(
            check_properties(&schema),
            Err("Field 'properties.data.properties' is missing".to_owned())
        );
        assert!(check_properties(&json!({"type":"object","properties":{}})).is_ok());
    }

    #[test]
    fn missing_properties_are_named_by_their_whole_path() {
        for (schema, path) in [
            (json!({"type":"object"}), "properties"),
            (
                json!({"type":["null","object"],"properties":{"a":{"type":"array","items":{"type":"object"}}}}),
                "properties.a.items.properties",
            ),
            (
                json!({"type":"array","items":{"items":{"type":"object","properties":{"":{"type":"object"}}}}}),
                "items.items.properties..properties",
            ),
            (
                json!({"type":"object","properties":{"ok":{"type":"object","properties":{}},"x":{"type":"object","properties":{"y":{"type":"object","properties":3}}}}}),
                "properties.x.properties.y.properties",
            ),
        ] {
            assert_eq!(
                check_properties(&schema),
                Err(format!("Field '{path}' is missing"))
            );
        }
    }

    #[test]
    fn violations_break_the_schema() {
        let schema = json!({"type":"object","properties":{
            "city":{"type":"string"},"days":{"type":"integer"}},"required":["days"]});
        let mut arguments = generate(&schema, &mut Rng::new(3));
        violate(&schema, arguments.as_object_mut().unwrap());
        assert_eq!(arguments["city"], json!(42));

        let numbers = json!({"type":"object","properties":{"n":{"type":["number","null"]}}});
        let mut arguments = Map::new();
        violate(&numbers, &mut arguments);
        assert_eq!(arguments["n"], json!("invalid"));

        let loose = json!({"type":"object","properties":{"any":{}},"required":["any"]});
        let mut arguments = generate(&loose, &mut Rng::new(3))
            .as_object()
            .unwrap()
            .clone();
        violate(&loose, &mut arguments);
        assert!(!arguments.contains_key("any"));

        let empty = json!({"type":"object","properties":{}});
        let mut arguments = Map::new();
        violate(&empty, &mut arguments);
        assert_eq!(arguments["unexpected_argument"], json!(true));
    }

    #[test]
    fn generated_values_follow_the_schema() {
        let schema = json!({
            "type":"object",
            "properties":{
                "answer":{"type":"string"},
                "n":{"type":"integer","minimum":0,"maximum":10},
                "unit":{"type":"string","enum":["celsius","fahrenheit"]},
                "tags":{"type":"array","items":{"type":"string"}},
                "ok":{"type":"boolean"},
                "inner":{"$ref":"#/$defs/Inner"}
            },
            "$defs":{"Inner":{"type":"object","properties":{"x":{"type":"number","minimum":1,"maximum":2}}}}
        });
        let value = generate(&schema, &mut Rng::new(1));
        assert!(value["answer"].is_string());
        let n = value["n"].as_i64().unwrap();
        assert!((0..=10).contains(&n));
        assert!(["celsius", "fahrenheit"].contains(&value["unit"].as_str().unwrap()));
        assert!(value["tags"].as_array().is_some_and(|a| !a.is_empty()));
        assert!(value["ok"].is_boolean());
        let x = value["inner"]["x"].as_f64().unwrap();
        assert!((1.0..=2.0).contains(&x));
        assert_eq!(value, generate(&schema, &mut Rng::new(1)));
    }
}
