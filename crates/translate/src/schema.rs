//! JSON Schema normalisation to the subset GigaChat accepts, and the way back for values.
//!
//! GigaChat rejects objects without `properties`, does not follow `$ref`, and is unreliable with
//! `anyOf`/`oneOf`, type arrays, non-string enums and most validation keywords. We inline and
//! simplify, and remember where we changed a value's type (non-string enums, `const`) so arguments
//! that come back can be restored to satisfy the client's original schema.
//!
//! Inlining is bounded: a definition met again inside its own expansion is cut to a plain object
//! (GigaChat's inline-only subset cannot express recursion), and everything the expansion writes
//! or copies is charged to an [`ExpansionBudget`] shared by a request's schemas, so a few hundred
//! bytes of `$ref`s cannot grow into megabytes.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::TranslateError;

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

/// Each byte of a client's schemas (compact JSON, `$defs` included) may grow into this many bytes of
/// expanded schema.
pub const EXPANSION_FACTOR: usize = 8;

/// Bytes of expanded schema every request may use beyond [`EXPANSION_FACTOR`] × its schemas' size.
pub const EXPANSION_ALLOWANCE: usize = 64 * 1024;

/// Deepest chain of nested schemas followed (properties, items, `$ref`s, `anyOf`, `allOf` each
/// count one). An inline schema that fits the request parser's nesting limit never reaches it; only
/// long chains of distinct definitions do.
pub const MAX_NESTING: usize = 128;

/// What the expansion of one request's schemas may still write: [`EXPANSION_ALLOWANCE`] at first,
/// plus [`EXPANSION_FACTOR`] × the size of every schema normalised with it. Every byte written to
/// the output, and every byte copied while merging `anyOf`/`allOf`, is charged, so both the output
/// and the work are proportional to the client's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpansionBudget {
    remaining: usize,
}

impl Default for ExpansionBudget {
    fn default() -> Self {
        Self {
            remaining: EXPANSION_ALLOWANCE,
        }
    }
}

impl ExpansionBudget {
    fn charge(&mut self, bytes: usize) -> Result<(), Failure> {
        self.remaining = self.remaining.checked_sub(bytes).ok_or(Failure::TooLarge)?;
        Ok(())
    }
}

/// Why a schema could not be expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The expansion would exceed the request's budget.
    TooLarge,
    /// Nesting deeper than [`MAX_NESTING`].
    TooDeep,
}

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

/// Normalises a client schema (a function's `parameters` or a `response_format` schema), found at
/// `param` of the request, charging the expansion to `budget`. The result is always an object
/// schema with `properties`; a schema that is not an object schema (a string, an array, `{"type":
/// "string"}`), one nested deeper than [`MAX_NESTING`], or one whose expansion exceeds the budget
/// is the client's mistake, named by `param`. `{}` and a schema without a `type` stand for an
/// object.
pub fn normalize(
    schema: &Value,
    param: &str,
    budget: &mut ExpansionBudget,
) -> Result<Normalized, TranslateError> {
    let Value::Object(root) = schema else {
        return Err(TranslateError::invalid(
            param,
            format!("must be a JSON Schema object, got {}", json_kind(schema)),
        ));
    };
    let size = json_len(schema);
    budget.remaining = budget
        .remaining
        .saturating_add(EXPANSION_FACTOR.saturating_mul(size));
    let mut expander = Expander {
        definitions: collect_definitions(root),
        expanding: Vec::new(),
        budget,
    };
    let normalized = expander
        .walk(schema, 0, true)
        .map_err(|failure| match failure {
            Failure::TooLarge => TranslateError::invalid(
                param,
                format!(
                    "expanding this schema's `$ref`s needs more than {EXPANSION_FACTOR} times the \
                     size of the request's schemas plus {EXPANSION_ALLOWANCE} bytes; reference \
                     shared definitions less often"
                ),
            ),
            Failure::TooDeep => TranslateError::invalid(
                param,
                format!(
                    "the schema nests more than {MAX_NESTING} levels deep (counting `$ref`s, \
                     `anyOf` and `allOf`)"
                ),
            ),
        })?;
    if normalized.schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(TranslateError::invalid(
            param,
            "must be an object schema (\"type\": \"object\"): GigaChat takes function arguments \
             and structured answers as JSON objects",
        ));
    }
    Ok(normalized)
}

/// The JSON type of a value, for messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How many bytes `write` writes (`usize::MAX`, charging everything, should it fail; neither
/// serialising JSON nor the counter ever does).
fn measured<E>(write: impl FnOnce(&mut Counter) -> Result<(), E>) -> usize {
    let mut counter = Counter(0);
    match write(&mut counter) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// The length of `value` as compact JSON, counted without building the text.
pub(crate) fn json_len(value: &Value) -> usize {
    measured(|counter| serde_json::to_writer(counter, value))
}

/// The length of an object as compact JSON.
fn object_len(object: &Map<String, Value>) -> usize {
    measured(|counter| serde_json::to_writer(counter, object))
}

/// The length of `key` as a quoted, escaped JSON string.
fn key_len(key: &str) -> usize {
    measured(|counter| serde_json::to_writer(counter, key))
}

/// `$defs` and `definitions` of the root, by the reference that names them (`#/$defs/Name`).
fn collect_definitions(root: &Map<String, Value>) -> HashMap<String, &Value> {
    let mut all = HashMap::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = root.get(key) {
            for (name, def) in defs {
                all.insert(format!("#/{key}/{name}"), def);
            }
        }
    }
    all
}

/// One schema's expansion: its definitions, the references being expanded (to cut recursion), and
/// the request's budget.
struct Expander<'schema, 'budget> {
    definitions: HashMap<String, &'schema Value>,
    expanding: Vec<String>,
    budget: &'budget mut ExpansionBudget,
}

impl Expander<'_, '_> {
    /// Normalises `schema`, `depth` levels down; `root` makes an untyped schema an object.
    fn walk(&mut self, schema: &Value, depth: usize, root: bool) -> Result<Normalized, Failure> {
        if depth > MAX_NESTING {
            return Err(Failure::TooDeep);
        }
        let Value::Object(object) = schema else {
            // `true`/`{}`-like schemas: anything goes; GigaChat needs a concrete type.
            return self.plain("string", None);
        };
        if let Some(Value::String(reference)) = object.get("$ref") {
            return self.follow(reference, object.get("description"), depth, root);
        }
        if let Some(Value::Array(all_of)) = object.get("allOf") {
            let (merged, followed) = self.merge_all_of(object, all_of)?;
            let open_before = self.expanding.len();
            self.expanding.extend(followed);
            let normalized = self.walk(&merged, depth + 1, root);
            self.expanding.truncate(open_before);
            return normalized;
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = object.get(key) {
                let chosen = branches
                    .iter()
                    .find(|branch| branch.get("type").and_then(Value::as_str) != Some("null"));
                self.budget
                    .charge(object_len(object) + chosen.map_or(0, json_len))?;
                let mut rest = object.clone();
                rest.remove(key);
                match chosen {
                    Some(Value::Object(chosen)) => {
                        for (k, v) in chosen {
                            rest.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                    Some(_) => {}
                    None => {
                        rest.entry("type")
                            .or_insert_with(|| Value::String("string".into()));
                    }
                }
                return self.walk(&Value::Object(rest), depth + 1, root);
            }
        }
        self.shape(object, depth, root)
    }

    /// A `$ref`: the definition expanded in place, or, met again inside its own expansion, a
    /// plain object saying what it stands for. Unknown references are plain objects too.
    fn follow(
        &mut self,
        reference: &str,
        description: Option<&Value>,
        depth: usize,
        root: bool,
    ) -> Result<Normalized, Failure> {
        let Some(target) = self.definitions.get(reference).copied() else {
            return self.plain("object", description);
        };
        if self.expanding.iter().any(|open| open == reference) {
            let name = reference.rsplit('/').next().unwrap_or(reference);
            let said = Value::String(format!(
                "A {name} object, structured like the enclosing {name} (recursive, not expanded again)"
            ));
            return self.plain("object", Some(description.unwrap_or(&said)));
        }
        self.expanding.push(reference.to_owned());
        let mut merged = self.walk(target, depth + 1, root)?;
        self.expanding.pop();
        if let (Some(description), Value::Object(out)) = (description, &mut merged.schema) {
            self.copy(out, "description", description)?;
        }
        Ok(merged)
    }

    /// A schema of one `kind` (`object` ones get empty `properties`), with a description if given.
    fn plain(&mut self, kind: &str, description: Option<&Value>) -> Result<Normalized, Failure> {
        let mut out = Map::new();
        self.budget.charge(2)?;
        self.copy(&mut out, "type", &Value::String(kind.to_owned()))?;
        if kind == "object" {
            self.copy(&mut out, "properties", &Value::Object(Map::new()))?;
        }
        if let Some(description) = description {
            self.copy(&mut out, "description", description)?;
        }
        Ok(Normalized {
            schema: Value::Object(out),
            restore: Restore::Keep,
        })
    }

    /// Charges and inserts a copy of `value` under `key`.
    fn copy(
        &mut self,
        out: &mut Map<String, Value>,
        key: &str,
        value: &Value,
    ) -> Result<(), Failure> {
        self.budget
            .charge(key_len(key).saturating_add(2 + json_len(value)))?;
        out.insert(key.to_owned(), value.clone());
        Ok(())
    }

    /// Charges for the key and inserts `value`, whose bytes were charged as it was built.
    fn nest(
        &mut self,
        out: &mut Map<String, Value>,
        key: &str,
        value: Value,
    ) -> Result<(), Failure> {
        self.budget.charge(key_len(key) + 2)?;
        out.insert(key.to_owned(), value);
        Ok(())
    }

    /// A schema without `$ref`/`allOf`/`anyOf`: kept keywords copied, the type settled, properties
    /// and items normalised, enums made strings.
    fn shape(
        &mut self,
        object: &Map<String, Value>,
        depth: usize,
        root: bool,
    ) -> Result<Normalized, Failure> {
        let mut out = Map::new();
        self.budget.charge(2)?;
        let mut restore = Restore::Keep;
        let kind = schema_type(object);
        for (key, value) in object {
            let settled_below = matches!(
                key.as_str(),
                "type" | "properties" | "items" | "enum" | "required"
            );
            if KEPT_KEYWORDS.contains(&key.as_str())
                && !settled_below
                && !(key == "default" && value.is_null())
            {
                self.copy(&mut out, key, value)?;
            }
        }
        let enum_values = match (object.get("enum"), object.get("const")) {
            (Some(Value::Array(values)), _) => Some(values.as_slice()),
            (None, Some(constant)) => Some(std::slice::from_ref(constant)),
            _ => None,
        };
        let string = Value::String("string".into());
        match (kind, enum_values) {
            (_, Some(values)) => {
                let values: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
                self.copy(&mut out, "type", &string)?;
                if values.iter().all(|value| value.is_string()) {
                    let strings = Value::Array(values.into_iter().cloned().collect());
                    self.copy(&mut out, "enum", &strings)?;
                } else {
                    let strings = values
                        .iter()
                        .map(|value| Value::String(enum_text(value)))
                        .collect();
                    self.copy(&mut out, "enum", &Value::Array(strings))?;
                    restore = Restore::Enum(values.into_iter().cloned().collect());
                    out.remove("minimum");
                    out.remove("maximum");
                    out.remove("default");
                }
            }
            (Some("object") | None, None)
                if object.contains_key("properties") || kind == Some("object") || root =>
            {
                let mut properties = Map::new();
                self.budget.charge(2)?;
                let mut restores = Vec::new();
                if let Some(Value::Object(props)) = object.get("properties") {
                    for (name, property) in props {
                        let child = self.walk(property, depth + 1, false)?;
                        if child.restore != Restore::Keep {
                            restores.push((name.clone(), child.restore));
                        }
                        self.nest(&mut properties, name, child.schema)?;
                    }
                }
                self.copy(&mut out, "type", &Value::String("object".into()))?;
                self.nest(&mut out, "properties", Value::Object(properties))?;
                if let Some(required @ Value::Array(_)) = object.get("required") {
                    self.copy(&mut out, "required", required)?;
                }
                if !restores.is_empty() {
                    restore = Restore::Object(restores);
                }
            }
            (Some("array"), None) => {
                let items = match object.get("items") {
                    Some(items) => self.walk(items, depth + 1, false)?,
                    None => self.plain("string", None)?,
                };
                self.copy(&mut out, "type", &Value::String("array".into()))?;
                self.nest(&mut out, "items", items.schema)?;
                if items.restore != Restore::Keep {
                    restore = Restore::Array(Box::new(items.restore));
                }
            }
            (Some(kind), None) => {
                self.copy(&mut out, "type", &Value::String(kind.to_owned()))?;
            }
            (None, None) => {
                self.copy(&mut out, "type", &string)?;
            }
        }
        Ok(Normalized {
            schema: Value::Object(out),
            restore,
        })
    }

    /// `allOf` merged into one object schema (properties and required unioned), charged for what
    /// it copies. Branches that refer to a definition being expanded are left out (recursion);
    /// the references followed are returned, to be treated as being expanded while the merged
    /// schema is.
    fn merge_all_of(
        &mut self,
        object: &Map<String, Value>,
        branches: &[Value],
    ) -> Result<(Value, Vec<String>), Failure> {
        let mut followed = Vec::new();
        let mut resolved: Vec<&Map<String, Value>> = Vec::with_capacity(branches.len());
        for branch in branches {
            let branch = match branch.get("$ref").and_then(Value::as_str) {
                Some(reference) if self.expanding.iter().any(|open| open == reference) => continue,
                Some(reference) => match self.definitions.get(reference).copied() {
                    Some(target) => {
                        followed.push(reference.to_owned());
                        target
                    }
                    None => continue,
                },
                None => branch,
            };
            if let Value::Object(branch) = branch {
                resolved.push(branch);
            }
        }
        let copied = object_len(object)
            + resolved
                .iter()
                .map(|branch| object_len(branch))
                .sum::<usize>();
        self.budget.charge(copied)?;
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
        for branch in resolved {
            if let Some(Value::Object(props)) = branch.get("properties") {
                properties.extend(props.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            if let Some(Value::Array(more)) = branch.get("required") {
                required.extend(more.iter().cloned());
            }
            for (key, value) in branch {
                if key != "properties" && key != "required" {
                    merged.entry(key.clone()).or_insert_with(|| value.clone());
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
        Ok((Value::Object(merged), followed))
    }
}

/// The single non-null type of a schema (`["string","null"]` → `string`).
fn schema_type(object: &Map<String, Value>) -> Option<&str> {
    match object.get("type") {
        Some(Value::String(kind)) => Some(kind),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null"),
        _ => None,
    }
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

/// A schema without recursion whose `levels` definitions each reference the next one six times
/// (6^levels leaves once inlined): the shape that outgrows any depth limit.
#[cfg(test)]
pub(crate) fn fan_out(levels: usize) -> Value {
    let mut defs = Map::new();
    for level in 0..levels {
        let properties: Map<String, Value> = (0..6)
            .map(|i| {
                (
                    format!("p{i}"),
                    serde_json::json!({"$ref": format!("#/$defs/L{}", level + 1)}),
                )
            })
            .collect();
        defs.insert(
            format!("L{level}"),
            serde_json::json!({"type": "object", "properties": properties}),
        );
    }
    defs.insert(format!("L{levels}"), serde_json::json!({"type": "string"}));
    serde_json::json!({"$defs": defs, "type": "object", "properties": {"x": {"$ref": "#/$defs/L0"}}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Normalises with a fresh budget, as the only schema of a request.
    fn norm(schema: &Value) -> Normalized {
        try_norm(schema).unwrap()
    }

    fn try_norm(schema: &Value) -> Result<Normalized, TranslateError> {
        normalize(
            schema,
            "tools[0].function.parameters",
            &mut ExpansionBudget::default(),
        )
    }

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
        let normalized = norm(&pydantic());
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
            norm(&json!({"type": "object", "properties": {"data": {"type": "object"}}}));
        assert_eq!(
            normalized.schema["properties"]["data"]["properties"],
            json!({})
        );
        let empty = norm(&json!({}));
        assert_eq!(empty.schema, json!({"type": "object", "properties": {}}));
    }

    #[test]
    fn recursion_is_cut_at_its_first_recurrence() {
        let schema = json!({
            "$defs": {"Node": {"type": "object", "properties": {
                "value": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                "parent": {"$ref": "#/$defs/Node", "description": "Up"}
            }}},
            "type": "object", "properties": {"root": {"$ref": "#/$defs/Node"}}
        });
        let normalized = norm(&schema);
        let root = &normalized.schema["properties"]["root"];
        assert_eq!(root["properties"]["value"]["type"], "integer");
        let child = &root["properties"]["children"]["items"];
        assert_eq!(child["type"], "object");
        assert_eq!(child["properties"], json!({}));
        assert!(
            child["description"].as_str().unwrap().contains("Node"),
            "{child}"
        );
        assert_eq!(
            root["properties"]["parent"],
            json!({"type": "object", "properties": {}, "description": "Up"})
        );
    }

    /// Issue 14's 441-byte request: six self-references per level used to expand to 78 MB.
    #[test]
    fn self_reference_fanning_out_stays_small() {
        let properties: Map<String, Value> = (0..6)
            .map(|i| (format!("p{i}"), json!({"$ref": "#/$defs/N"})))
            .collect();
        let schema = json!({
            "$defs": {"N": {"type": "object", "properties": properties}},
            "properties": {"root": {"$ref": "#/$defs/N"}}
        });
        let out = norm(&schema).schema.to_string();
        assert!(out.len() < 2_000, "{} bytes: {out}", out.len());
        let root = &norm(&schema).schema["properties"]["root"];
        assert_eq!(root["properties"]["p5"]["properties"], json!({}));
    }

    /// Non-recursive definitions that reference the next one many times grow exponentially; the
    /// budget stops them with an error naming the parameter.
    #[test]
    fn fan_out_beyond_the_budget_is_refused() {
        let schema = fan_out(12);
        let err = try_norm(&schema).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("tools[0].function.parameters"));
        assert!(err.message.contains("$ref"), "{}", err.message);
        // Two levels of the same fan-out fit.
        let mut small = schema.clone();
        small["$defs"]["L2"] = json!({"type": "string"});
        let normalized = norm(&small);
        assert_eq!(
            normalized.schema["properties"]["x"]["properties"]["p5"]["properties"]["p0"],
            json!({"type": "string"})
        );
    }

    /// The budget is shared by a request's schemas: many small schemas cannot each use the whole
    /// allowance.
    #[test]
    fn the_budget_is_shared_by_the_request() {
        let schema = fan_out(4);
        let mut budget = ExpansionBudget::default();
        let mut accepted = 0;
        while normalize(&schema, "tools[0].function.parameters", &mut budget).is_ok() {
            accepted += 1;
            assert!(accepted < 100, "the budget never ran out");
        }
        assert!(accepted >= 1);
    }

    #[test]
    fn non_object_schemas_are_refused() {
        for schema in [
            json!("an object with a name"),
            json!([{"type": "object"}]),
            json!(true),
            json!(3),
            json!({"type": "string"}),
            json!({"type": "array", "items": {"type": "object"}}),
            json!({"enum": ["a", "b"]}),
            json!({"anyOf": [{"type": "string"}, {"type": "null"}]}),
            json!({"$defs": {"S": {"type": "string"}}, "$ref": "#/$defs/S"}),
        ] {
            let err = try_norm(&schema).unwrap_err();
            assert_eq!(
                err.param.as_deref(),
                Some("tools[0].function.parameters"),
                "{schema}"
            );
        }
        for schema in [
            json!({}),
            json!({"description": "no arguments"}),
            json!({"type": ["object", "null"], "properties": {}}),
            json!({"$defs": {"O": {"properties": {"a": {"type": "string"}}}}, "$ref": "#/$defs/O"}),
            json!({"anyOf": [{"type": "null"}, {"type": "object", "properties": {"a": {}}}]}),
        ] {
            assert_eq!(norm(&schema).schema["type"], "object", "{schema}");
        }
    }

    #[test]
    fn long_reference_chains_are_refused_not_overflowed() {
        let links = MAX_NESTING * 2;
        let mut defs = Map::new();
        for link in 0..links {
            defs.insert(
                format!("D{link}"),
                json!({"$ref": format!("#/$defs/D{}", link + 1)}),
            );
        }
        defs.insert(format!("D{links}"), json!({"type": "string"}));
        let schema = json!({"$defs": defs, "properties": {"x": {"$ref": "#/$defs/D0"}}});
        let err = try_norm(&schema).unwrap_err();
        assert!(err.message.contains("levels deep"), "{}", err.message);
        // A chain well inside the limit is followed to its end.
        let mut short = schema.clone();
        short["properties"]["x"]["$ref"] = json!(format!("#/$defs/D{}", links - 10));
        assert_eq!(norm(&short).schema["properties"]["x"]["type"], "string");
    }

    #[test]
    fn mutually_recursive_all_of_terminates() {
        let schema = json!({
            "$defs": {
                "A": {"allOf": [{"$ref": "#/$defs/B"}], "properties": {"a": {"type": "string"}}},
                "B": {"allOf": [{"$ref": "#/$defs/A"}], "properties": {"b": {"$ref": "#/$defs/A"}}}
            },
            "properties": {"x": {"$ref": "#/$defs/A"}}
        });
        let x = norm(&schema).schema["properties"]["x"].clone();
        assert_eq!(x["properties"]["a"]["type"], "string");
        assert_eq!(x["properties"]["b"]["type"], "object");
    }

    #[test]
    fn restore_undoes_enum_retyping() {
        let normalized = norm(&pydantic());
        let mut value =
            json!({"name": "A", "priority": "2", "address": {"city": "Москва"}, "colors": ["red"]});
        normalized.restore.apply(&mut value);
        assert_eq!(value["priority"], 2);
        assert_eq!(value["colors"], json!(["red"]));
        let nested = norm(
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
        let normalized = norm(&mcp);
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
