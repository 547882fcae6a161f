//! Property tests over generated input, with a fixed case count so CI time stays bounded: the
//! schema normaliser and the request translators never panic, always produce an object schema, and
//! never write more than the documented multiple of what the client sent (docs/benchmarks.md,
//! "Resource amplification").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use openai::chat::ChatCompletionRequest;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use translate::schema::{EXPANSION_ALLOWANCE, EXPANSION_FACTOR, ExpansionBudget, normalize};
use translate::{ChatDefaults, ResolvedParts, chat_request};

/// Cases per property: enough to reach recursion, fan-out and every keyword, few enough for CI.
const CASES: u32 = 256;

/// The upstream chat body is at most this many times the client's body ...
const UPSTREAM_FACTOR: usize = 32;
/// ... plus this many bytes (README and docs/benchmarks.md document both).
const UPSTREAM_ALLOWANCE: usize = 256 * 1024;

/// Names of the generated definitions; references pick among them (and one that does not exist).
const DEFINITIONS: usize = 4;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    }
}

/// Any small JSON value (what a client may put anywhere).
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z\"\\\\\\n\u{0416}\u{1}]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_$]{1,6}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn reference() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0..DEFINITIONS).prop_map(|i| json!({"$ref": format!("#/$defs/D{i}")})),
        (0..DEFINITIONS).prop_map(|i| json!({"$ref": format!("#/definitions/D{i}")})),
        Just(json!({"$ref": "#/$defs/Missing"})),
        Just(json!({"$ref": "#"})),
        (0..DEFINITIONS)
            .prop_map(|i| json!({"$ref": format!("#/$defs/D{i}"), "description": "site"})),
    ]
}

/// A JSON Schema built from the keywords the normaliser handles, with references among the
/// generated definitions (so recursion and fan-out arise) and some arbitrary JSON.
fn schema() -> impl Strategy<Value = Value> {
    let kinds = prop_oneof![
        Just("string"),
        Just("integer"),
        Just("number"),
        Just("boolean"),
        Just("null"),
        Just("array"),
        Just("object"),
    ];
    let leaf = prop_oneof![
        1 => Just(json!({})),
        1 => Just(json!(true)),
        2 => kinds
            .clone()
            .prop_map(|kind| json!({"type": kind, "description": "d", "format": "x"})),
        1 => kinds.prop_map(|kind| json!({"type": [kind, "null"], "default": null})),
        1 => prop::collection::vec(any_json(), 0..5).prop_map(|values| json!({"enum": values})),
        1 => any_json().prop_map(|value| json!({"const": value, "minimum": 1})),
        6 => reference(),
        1 => any_json(),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            // Fan-out: one definition referenced from several properties.
            2 => (0..DEFINITIONS, 1..7usize).prop_map(|(target, count)| {
                let properties: Map<String, Value> = (0..count)
                    .map(|i| (format!("p{i}"), json!({"$ref": format!("#/$defs/D{target}")})))
                    .collect();
                json!({"type": "object", "properties": properties})
            }),
            3 => (
                prop::collection::btree_map("[a-z\u{0416}\"]{1,5}", inner.clone(), 0..6),
                any::<bool>()
            )
                .prop_map(|(properties, typed)| {
                    let names: Vec<String> = properties.keys().cloned().collect();
                    let mut object = json!({"properties": properties, "required": names,
                        "additionalProperties": false});
                    if typed {
                        object["type"] = json!("object");
                    }
                    object
                }),
            1 => inner
                .clone()
                .prop_map(|items| json!({"type": "array", "items": items, "minItems": 1})),
            1 => prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|branches| json!({"anyOf": branches})),
            1 => prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|branches| json!({"oneOf": branches, "type": "object"})),
            1 => (prop::collection::vec(inner.clone(), 0..4), inner.clone()).prop_map(
                |(branches, own)| json!({"allOf": branches, "properties": {"own": own}})
            ),
        ]
    })
}

/// A root schema: definitions that may reference each other (and themselves), and a body.
fn root_schema() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(schema(), DEFINITIONS),
        schema(),
        prop_oneof![Just("$defs"), Just("definitions")],
        prop::bool::weighted(0.8),
    )
        .prop_map(|(definitions, body, key, wrapped)| {
            let definitions: Map<String, Value> = definitions
                .into_iter()
                .enumerate()
                .map(|(i, def)| (format!("D{i}"), def))
                .collect();
            let mut root = match body {
                Value::Object(object) if !wrapped => object,
                other => Map::from_iter([
                    ("type".to_owned(), json!("object")),
                    (
                        "properties".to_owned(),
                        json!({"x": other, "y": {"$ref": "#/$defs/D0"}}),
                    ),
                ]),
            };
            root.insert(key.to_owned(), Value::Object(definitions.clone()));
            // References under the other key resolve too.
            let other = if key == "$defs" {
                "definitions"
            } else {
                "$defs"
            };
            root.insert(other.to_owned(), Value::Object(definitions));
            Value::Object(root)
        })
}

/// Every schema in the output is a concrete GigaChat schema: an object schema has `properties`,
/// an array schema has `items`, and no `$ref`, `anyOf`, `oneOf` or `allOf` is left.
fn assert_gigachat_subset(schema: &Value) {
    let object = schema.as_object().expect("a schema is an object");
    let kind = object["type"].as_str().expect("a concrete type");
    for keyword in [
        "$ref",
        "$defs",
        "anyOf",
        "oneOf",
        "allOf",
        "additionalProperties",
    ] {
        assert!(!object.contains_key(keyword), "{keyword} left in {schema}");
    }
    match kind {
        "object" => {
            for property in object["properties"]
                .as_object()
                .expect("properties")
                .values()
            {
                assert_gigachat_subset(property);
            }
        }
        "array" => assert_gigachat_subset(&object["items"]),
        _ => {}
    }
}

fn defaults() -> ChatDefaults {
    ChatDefaults {
        contract: Default::default(),
        default_model: "GigaChat".into(),
        aliases: [("gpt-4o".to_owned(), "GigaChat-2-Max".to_owned())].into(),
        builtin_functions: true,
    }
}

/// A message as clients send them (roles, content forms, valid or not), with the tool results
/// that follow an assistant turn with tool calls.
fn message() -> impl Strategy<Value = Vec<Value>> {
    let text = "[a-z \"\\\\\\n\u{0416}]{0,40}";
    let part = prop_oneof![
        8 => text.prop_map(|text| json!({"type": "text", "text": text})),
        2 => text.prop_map(|refusal| json!({"type": "refusal", "refusal": refusal})),
        1 => Just(json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}})),
    ];
    let content = prop_oneof![
        text.prop_map(Value::from),
        prop::collection::vec(part, 1..4).prop_map(Value::from),
        Just(Value::Null),
    ];
    let role = prop_oneof![
        2 => Just("system"),
        1 => Just("developer"),
        8 => Just("user"),
        4 => Just("assistant"),
        1 => Just("function"),
        1 => Just("wizard"),
    ];
    let call = ("[ab]", "[fg]", prop_oneof![Just("{}"), Just(""), Just("[1]"), Just("{\"a\": [1, \"\\\"\"]}")])
        .prop_map(|(id, name, arguments)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}));
    (
        role,
        content,
        prop::option::weighted(0.4, prop::collection::vec(call, 1..4)),
        prop::collection::vec(("[abc]", "[a-z \"\\\\\n]{0,200}"), 0..4),
    )
        .prop_map(|(role, content, calls, results)| {
            let mut message = json!({"role": role, "content": content});
            let mut turn = vec![];
            if role == "assistant"
                && let Some(calls) = calls
            {
                message["tool_calls"] = Value::from(calls);
                // Tool results after the call (some for ids that were not called).
                for (id, result) in results {
                    turn.push(json!({"role": "tool", "tool_call_id": id, "content": result}));
                }
            }
            turn.insert(0, message);
            turn
        })
}

/// A chat request with generated messages, tools (with generated schemas) and response format.
fn chat_body() -> impl Strategy<Value = Value> {
    let tool = (
        prop_oneof![3 => "f[0-3]", 1 => "[a-z/ \u{0416}]{1,8}"],
        prop::option::weighted(0.8, root_schema()),
    )
        .prop_map(
        |(name, parameters)| json!({"type": "function", "function": {"name": name, "description": "d", "parameters": parameters}}),
    );
    let choice = prop_oneof![
        Just(Value::Null),
        Just(json!("auto")),
        Just(json!("none")),
        Just(json!("required")),
        "f[0-3]".prop_map(|name| json!({"type": "function", "function": {"name": name}})),
    ];
    let format = prop_oneof![
        Just(Value::Null),
        Just(json!({"type": "text"})),
        Just(json!({"type": "json_object"})),
        root_schema().prop_map(
            |schema| json!({"type": "json_schema", "json_schema": {"name": "s", "schema": schema}})
        ),
    ];
    (
        prop::collection::vec(message(), 1..8),
        prop::collection::vec(tool, 0..4),
        choice,
        format,
        prop::option::of(0.0..2.5f64),
        prop::option::of(0u32..18),
        prop::option::of(prop::collection::vec("[a-z\n]{0,3}", 0..4)),
    )
        .prop_map(|(messages, tools, choice, format, temperature, n, stop)| {
            let messages: Vec<Value> = messages.into_iter().flatten().collect();
            let mut body = json!({"model": "gpt-4o", "messages": messages});
            if !tools.is_empty() {
                body["tools"] = Value::from(tools);
            }
            for (key, value) in [
                ("tool_choice", choice),
                ("response_format", format),
                ("temperature", json!(temperature)),
                ("n", json!(n)),
                ("stop", json!(stop)),
            ] {
                if !value.is_null() {
                    body[key] = value;
                }
            }
            body
        })
}

/// Parses and translates a client body as the adapter does; the upstream body's size if it is
/// accepted. Never panics.
fn translated_size(body: &[u8]) -> Option<usize> {
    let request: ChatCompletionRequest = serde_json::from_slice(body).ok()?;
    let plan = chat_request(&request, &defaults(), &ResolvedParts::new()).ok()?;
    Some(serde_json::to_vec(&plan.upstream).unwrap().len())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn normalised_schemas_are_bounded_object_schemas(schema in root_schema()) {
        let input = serde_json::to_vec(&schema).unwrap().len();
        let param = "tools[0].function.parameters";
        match normalize(&schema, param, &mut ExpansionBudget::default()) {
            Ok(normalized) => {
                assert_gigachat_subset(&normalized.schema);
                prop_assert_eq!(&normalized.schema["type"], "object");
                let output = serde_json::to_vec(&normalized.schema).unwrap().len();
                prop_assert!(
                    output <= EXPANSION_FACTOR * input + EXPANSION_ALLOWANCE,
                    "{} bytes became {}", input, output
                );
                // Restoring any value against the schema never panics.
                let mut value = json!({"x": ["1", {"y": "true"}], "a": "2"});
                normalized.restore.apply(&mut value);
            }
            Err(err) => prop_assert_eq!(err.param.as_deref(), Some(param)),
        }
    }

    #[test]
    fn any_value_as_parameters_is_a_schema_or_a_named_error(value in any_json()) {
        let param = "response_format.json_schema.schema";
        match normalize(&value, param, &mut ExpansionBudget::default()) {
            Ok(normalized) => assert_gigachat_subset(&normalized.schema),
            Err(err) => prop_assert_eq!(err.param.as_deref(), Some(param)),
        }
    }

    #[test]
    fn chat_requests_translate_within_the_upstream_bound(body in chat_body()) {
        let client = serde_json::to_vec(&body).unwrap();
        if let Some(upstream) = translated_size(&client) {
            prop_assert!(
                upstream <= UPSTREAM_FACTOR * client.len() + UPSTREAM_ALLOWANCE,
                "{} client bytes became {} upstream", client.len(), upstream
            );
        }
    }

    #[test]
    fn any_json_as_a_chat_request_never_panics(value in any_json(), messages in prop::collection::vec(any_json(), 0..4)) {
        translated_size(&serde_json::to_vec(&value).unwrap());
        let mut body = json!({"messages": messages});
        if let Value::Object(extra) = value {
            for (key, value) in extra {
                body[key] = value;
            }
        }
        translated_size(&serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn any_bytes_as_a_chat_request_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        translated_size(&bytes);
    }

    #[test]
    fn other_routes_translate_or_refuse(value in any_json(), text in "[a-z ]{0,20}", ids in prop::collection::vec(0u32..300_000, 0..8)) {
        for body in [
            value.clone(),
            json!({"model": "gpt-4o", "prompt": text, "n": 2}),
            json!({"model": "gpt-4o", "prompt": [ids.clone(), ids.clone()], "max_tokens": 5}),
            json!({"input": ids.clone()}),
            json!({"input": [text.clone(), value.clone()], "dimensions": 7}),
        ] {
            if let Ok(request) = serde_json::from_value(body.clone()) {
                let _ = translate::completions::completion_request(request, &defaults());
            }
            if let Ok(request) = serde_json::from_value(body.clone()) {
                let _ = translate::embeddings::embedding_request(request, &defaults(), "Embeddings");
            }
            if let Ok(request) = serde_json::from_value(body) {
                let _ = translate::tokens::tokens_count_request(request, &defaults());
            }
        }
    }
}
