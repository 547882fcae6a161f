//! `POST /functions/convert`: GigaChat function specs built from an OpenAPI description (the raw body,
//! JSON or YAML, OpenAPI 3 or Swagger 2), one function per operation.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Number, Value, json};

use crate::wire::{self, ApiError, ApiResult};

/// The HTTP methods a path item can hold operations for.
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// How many `$ref` hops one schema may take (recursive schemas stop here).
const MAX_REF_DEPTH: usize = 16;

/// One converted function, keys in the fixture's order.
#[derive(Debug, Serialize)]
struct Function {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    parameters: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_parameters: Option<Value>,
}

/// YAML (with any scalar as a mapping key, e.g. `200:`) as JSON.
fn yaml_to_json(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Yaml;
    match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let key = match yaml_to_json(key) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, yaml_to_json(value))
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

/// The document in the body: JSON first, then YAML; it must have a `paths` object.
fn document(body: &[u8]) -> Result<Value, ApiError> {
    let not_openapi =
        || ApiError::invalid_params("the body is not an OpenAPI description in JSON or YAML");
    let text = std::str::from_utf8(body).map_err(|_| not_openapi())?;
    let document = match serde_json::from_str::<Value>(text) {
        Ok(value) => value,
        Err(_) => serde_norway::from_str::<serde_norway::Value>(text)
            .map(yaml_to_json)
            .map_err(|_| not_openapi())?,
    };
    if !document.get("paths").is_some_and(Value::is_object) {
        return Err(ApiError::invalid_params(
            "the OpenAPI description has no paths",
        ));
    }
    Ok(document)
}

/// Follows `$ref` chains (`#/components/...`, `#/definitions/...`) to the node they name.
fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..MAX_REF_DEPTH {
        let Some(target) = node
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|pointer| root.pointer(pointer))
        else {
            break;
        };
        node = target;
    }
    node
}

/// A copy of `node` with every `$ref` replaced by what it names (cycles end as `{}`).
fn inline(root: &Value, node: &Value, depth: usize) -> Value {
    match node {
        Value::Object(map) => {
            if map.contains_key("$ref") {
                if depth >= MAX_REF_DEPTH {
                    return json!({});
                }
                let target = resolve(root, node);
                if std::ptr::eq(target, node) {
                    return json!({});
                }
                return inline(root, target, depth + 1);
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), inline(root, v, depth)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| inline(root, v, depth)).collect()),
        other => other.clone(),
    }
}

/// A property schema with its keys sorted, as the converter's output has them; the names under
/// `properties` keep their order.
fn sorted(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .filter_map(|key| {
                        let value = map.get(key)?;
                        let value = match value {
                            Value::Object(properties) if key == "properties" => Value::Object(
                                properties
                                    .iter()
                                    .map(|(name, p)| (name.clone(), sorted(p)))
                                    .collect(),
                            ),
                            other => sorted(other),
                        };
                        Some((key.clone(), value))
                    })
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// `{"type":"object","properties":{…},"required":[…]}` (`required` left out when empty).
fn object_schema(properties: Map<String, Value>, required: Vec<String>) -> Value {
    let mut schema = Map::new();
    schema.insert("type".to_owned(), json!("object"));
    schema.insert(
        "properties".to_owned(),
        Value::Object(
            properties
                .iter()
                .map(|(name, p)| (name.clone(), sorted(p)))
                .collect(),
        ),
    );
    if !required.is_empty() {
        schema.insert("required".to_owned(), json!(required));
    }
    Value::Object(schema)
}

/// Whether a schema describes an object with named properties.
fn has_properties(schema: &Value) -> bool {
    schema.get("properties").is_some_and(Value::is_object)
}

/// The schema of a media-type map (`content`): `application/json` first, else the first with one.
fn content_schema(content: Option<&Value>) -> Option<&Value> {
    let content = content?.as_object()?;
    content
        .get("application/json")
        .and_then(|m| m.get("schema"))
        .or_else(|| content.values().find_map(|m| m.get("schema")))
}

/// The schema of a parameter: OpenAPI 3 `schema`, or Swagger 2's inline type fields.
fn parameter_schema(root: &Value, parameter: &Value) -> Value {
    let mut schema = match parameter.get("schema") {
        Some(schema) => inline(root, schema, 0),
        None => {
            let inline_fields = [
                "type",
                "format",
                "items",
                "enum",
                "default",
                "minimum",
                "maximum",
                "minLength",
                "maxLength",
                "pattern",
            ];
            Value::Object(
                inline_fields
                    .iter()
                    .filter_map(|k| Some(((*k).to_owned(), inline(root, parameter.get(*k)?, 0))))
                    .collect(),
            )
        }
    };
    if let (Value::Object(map), Some(description)) = (&mut schema, parameter.get("description"))
        && !map.contains_key("description")
    {
        map.insert("description".to_owned(), description.clone());
    }
    schema
}

/// The arguments schema of an operation: its parameters (path item's, overridden by the
/// operation's) and the properties of its JSON request body.
fn arguments(root: &Value, path_item: &Value, operation: &Value) -> Value {
    let mut declared: Vec<&Value> = Vec::new();
    for list in [path_item.get("parameters"), operation.get("parameters")] {
        for parameter in list.and_then(Value::as_array).into_iter().flatten() {
            let parameter = resolve(root, parameter);
            let key = |p: &Value| (p.get("name").cloned(), p.get("in").cloned());
            declared.retain(|seen| key(seen) != key(parameter));
            declared.push(parameter);
        }
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut body: Option<(Value, bool)> = None;
    for parameter in declared {
        let Some(name) = parameter.get("name").and_then(Value::as_str) else {
            continue;
        };
        let location = parameter.get("in").and_then(Value::as_str).unwrap_or("");
        let is_required =
            location == "path" || parameter.get("required").and_then(Value::as_bool) == Some(true);
        match location {
            "cookie" => continue,
            "body" => {
                let schema = parameter
                    .get("schema")
                    .map_or(json!({}), |s| inline(root, s, 0));
                body = Some((schema, is_required));
                continue;
            }
            _ => {}
        }
        properties.insert(name.to_owned(), parameter_schema(root, parameter));
        if is_required {
            required.push(name.to_owned());
        }
    }
    if let Some(request_body) = operation.get("requestBody") {
        let request_body = resolve(root, request_body);
        if let Some(schema) = content_schema(request_body.get("content")) {
            let is_required = request_body.get("required").and_then(Value::as_bool) == Some(true);
            body = Some((inline(root, schema, 0), is_required));
        }
    }
    if let Some((schema, body_required)) = body {
        if has_properties(&schema) {
            if let Some(Value::Object(body_properties)) = schema.get("properties") {
                for (name, property) in body_properties {
                    if !properties.contains_key(name) {
                        properties.insert(name.clone(), property.clone());
                    }
                }
            }
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !required.iter().any(|r| r == name) {
                    required.push(name.to_owned());
                }
            }
        } else {
            properties.insert("body".to_owned(), schema);
            if body_required {
                required.push("body".to_owned());
            }
        }
    }
    object_schema(properties, required)
}

/// The result schema: the JSON body of the first 2xx response (`200`, `201`, then any other).
fn returns(root: &Value, operation: &Value) -> Option<Value> {
    let responses = operation.get("responses")?.as_object()?;
    let response = ["200", "201"]
        .iter()
        .find_map(|code| responses.get(*code))
        .or_else(|| {
            responses
                .iter()
                .find(|(code, _)| code.starts_with('2'))
                .map(|(_, r)| r)
        })?;
    let response = resolve(root, response);
    let schema = content_schema(response.get("content")).or_else(|| response.get("schema"))?;
    let schema = inline(root, schema, 0);
    if has_properties(&schema) {
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let required = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        Some(object_schema(properties, required))
    } else {
        let mut properties = Map::new();
        properties.insert("result".to_owned(), schema);
        Some(object_schema(properties, Vec::new()))
    }
}

/// A function name for an operation without `operationId`: `get /pets/{id}` → `get_pets_id`.
fn derived_name(method: &str, path: &str) -> String {
    let mut name = method.to_owned();
    for part in path.split(|c: char| !c.is_ascii_alphanumeric()) {
        if !part.is_empty() {
            name.push('_');
            name.push_str(part);
        }
    }
    name
}

/// Every operation of the document as a function.
fn convert_document(root: &Value) -> Vec<Function> {
    let mut out = Vec::new();
    let paths = root.get("paths").and_then(Value::as_object);
    for (path, path_item) in paths.into_iter().flatten() {
        let path_item = resolve(root, path_item);
        let Some(operations) = path_item.as_object() else {
            continue;
        };
        for (method, operation) in operations {
            if !METHODS.contains(&method.as_str()) || !operation.is_object() {
                continue;
            }
            let text = |key: &str| {
                operation
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            out.push(Function {
                name: text("operationId").unwrap_or_else(|| derived_name(method, path)),
                description: text("description").or_else(|| text("summary")),
                parameters: arguments(root, path_item, operation),
                return_parameters: returns(root, operation),
            });
        }
    }
    out
}

/// `POST /functions/convert`: the body is the OpenAPI text (any or no content type).
pub(crate) async fn convert(body: Bytes) -> ApiResult {
    #[derive(Serialize)]
    struct Converted {
        functions: Vec<Function>,
    }
    let document = document(&body)?;
    wire::ok(&Converted {
        functions: convert_document(&document),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PETSTORE: &str = r##"
openapi: 3.0.0
info: {title: Pets, version: "1"}
paths:
  /pets/{petId}:
    parameters:
      - {name: petId, in: path, required: true, schema: {type: integer, format: int64}, description: Pet id}
    get:
      operationId: getPet
      summary: Find a pet
      parameters:
        - {name: verbose, in: query, schema: {type: boolean}}
        - {name: session, in: cookie, schema: {type: string}}
      responses:
        200:
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Pet"}
    post:
      summary: Update a pet
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Pet"}
      responses:
        "204": {description: no content}
components:
  schemas:
    Pet:
      type: object
      required: [name]
      properties:
        name: {type: string, description: Name}
        tags: {type: array, items: {type: string}}
"##;

    #[test]
    fn operations_become_functions() {
        let document = document(PETSTORE.as_bytes()).unwrap();
        let functions = convert_document(&document);
        assert_eq!(functions.len(), 2);
        let get = &functions[0];
        assert_eq!(get.name, "getPet");
        assert_eq!(get.description.as_deref(), Some("Find a pet"));
        assert_eq!(
            get.parameters,
            json!({"type":"object","properties":{
                "petId":{"description":"Pet id","format":"int64","type":"integer"},
                "verbose":{"type":"boolean"}},"required":["petId"]})
        );
        assert_eq!(
            get.return_parameters.as_ref().unwrap()["properties"]["name"],
            json!({"description":"Name","type":"string"})
        );
        let post = &functions[1];
        assert_eq!(post.name, "post_pets_petId");
        assert_eq!(post.parameters["required"], json!(["petId", "name"]));
        assert_eq!(
            post.parameters["properties"]["tags"]["items"],
            json!({"type":"string"})
        );
        assert!(post.return_parameters.is_none());
    }

    #[test]
    fn not_openapi_is_rejected() {
        assert_eq!(document(b"{}").unwrap_err().status, 422);
        assert_eq!(document(b"\xff").unwrap_err().status, 422);
    }
}
