//! Validators for the OpenAI description in `../shared/openai-spec/openapi-subset.json` beside the
//! repository (`E2E_OPENAI_SPEC` overrides it, as for the e2e tests); a missing description fails
//! the test that needs it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};

/// The description's schemas, compiled on demand.
pub struct Spec {
    components: Value,
    /// Each `ResponseStreamEvent` variant's schema name, by its `type`.
    stream_events: HashMap<String, String>,
    /// Validators compiled so far, by schema name.
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn spec_path() -> std::path::PathBuf {
    std::env::var_os("E2E_OPENAI_SPEC").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/openai-spec/openapi-subset.json")
        },
        Into::into,
    )
}

/// The description, read once.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = spec_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
            panic!(
                "the OpenAI description {} is required (../shared must sit beside the repository): {err}",
                path.display()
            )
        });
        let document: Value = serde_json::from_str(&text).expect("the OpenAI description is JSON");
        let components = document["components"].clone();
        let variants = components["schemas"]["ResponseStreamEvent"]["anyOf"]
            .as_array()
            .expect("ResponseStreamEvent is a union");
        let stream_events = variants
            .iter()
            .filter_map(|variant| {
                let name = variant["$ref"].as_str()?.rsplit('/').next()?.to_owned();
                let kind = components["schemas"][&name]["properties"]["type"]["enum"][0]
                    .as_str()?
                    .to_owned();
                Some((kind, name))
            })
            .collect();
        Spec {
            components,
            stream_events,
            validators: Mutex::default(),
        }
    })
}

impl Spec {
    /// A validator for the schema `name` (its references resolve inside the description),
    /// compiled once.
    pub fn validator(&self, name: &str) -> Arc<jsonschema::Validator> {
        if let Some(validator) = self.validators.lock().unwrap().get(name) {
            return validator.clone();
        }
        assert!(
            self.components["schemas"].get(name).is_some(),
            "{name} is not in the OpenAI description"
        );
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": format!("#/components/schemas/{name}"),
            "components": self.components,
        });
        let validator = Arc::new(
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&root)
                .unwrap_or_else(|err| panic!("{name} does not compile: {err}")),
        );
        self.validators
            .lock()
            .unwrap()
            .insert(name.to_owned(), validator.clone());
        validator
    }

    /// Panics with every violation when `value` does not match schema `name`.
    pub fn assert_valid(&self, name: &str, value: &Value) {
        let validator = self.validator(name);
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|err| format!("{err} at {}", err.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{name} breaks the OpenAI schema: {errors:?}\n{value}"
        );
    }

    /// Panics unless `event` is a `ResponseStreamEvent`: its variant's schema (named by its
    /// `type`) for clear messages, and the union itself.
    pub fn assert_stream_event(&self, event: &Value) {
        let kind = event["type"].as_str().expect("an event has a type");
        let name = self
            .stream_events
            .get(kind)
            .unwrap_or_else(|| panic!("`{kind}` is not a ResponseStreamEvent type"));
        self.assert_valid(name, event);
        self.assert_valid("ResponseStreamEvent", event);
    }
}
