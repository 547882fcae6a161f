//! Tools ↔ GigaChat functions: name aliasing, `tool_choice`, call ids that carry GigaChat's
//! `functions_state_id`, and turning a GigaChat function call back into an OpenAI tool call.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gigachat_types::{FunctionCall as GcCall, FunctionCallMode, FunctionSpec};
use openai::chat::{ChatCompletionRequest, FunctionCall, FunctionDefinition, ToolCall, ToolChoice};
use serde_json::{Map, Value, json};

use crate::TranslateError;
use crate::schema::{ExpansionBudget, Restore, normalize};

/// Names GigaChat reserves for its built-in functions.
pub const RESERVED_NAMES: [&str; 8] = [
    "text2image",
    "text2model3d",
    "get_file_content",
    "web_search",
    "code_interpreter",
    "image_generate",
    "url_content_extraction",
    "model_3d_generate",
];

/// Name of the synthetic function used to force "some tool" (`tool_choice: "required"`).
const ROUTER_NAME: &str = "choose_and_call_tool";

/// One client function as GigaChat sees it.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    original: String,
    alias: String,
    description: Option<String>,
    parameters: Value,
    restore: Restore,
}

/// The request's functions, with the aliases GigaChat gets and the way back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Toolset {
    entries: Vec<Entry>,
    router: Option<String>,
    /// The client used legacy `functions` (answer with `function_call`, not `tool_calls`).
    pub legacy: bool,
}

/// Whether GigaChat accepts `name` as a function name.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// A valid GigaChat name for any client name, the same every time for the same name.
pub fn sanitize_name(name: &str) -> String {
    if is_valid_name(name) {
        return name.to_owned();
    }
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // A short stable fingerprint keeps distinct names distinct after cleaning (e.g. Cyrillic ones).
    let fingerprint = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!(
        "fn_{}_{:08x}",
        cleaned.trim_matches('_'),
        fingerprint as u32
    )
}

impl Toolset {
    /// The functions of `tools` (or legacy `functions`); `None` when the request has none. Their
    /// schemas are normalised with the request's expansion `budget`.
    pub fn from_request(
        request: &ChatCompletionRequest,
        budget: &mut ExpansionBudget,
    ) -> Result<Option<Self>, TranslateError> {
        // Each function with the JSON path of its definition (indexes as the client sent them).
        let (definitions, legacy): (Vec<(String, &FunctionDefinition)>, bool) =
            match (&request.tools, &request.functions) {
                (Some(tools), _) if !tools.is_empty() => (
                    tools
                        .iter()
                        .enumerate()
                        .filter(|(_, tool)| tool.kind == "function")
                        .filter_map(|(index, tool)| {
                            let function = tool.function.as_ref()?;
                            Some((format!("tools[{index}].function"), function))
                        })
                        .collect(),
                    false,
                ),
                (_, Some(functions)) if !functions.is_empty() => (
                    functions
                        .iter()
                        .enumerate()
                        .map(|(index, function)| (format!("functions[{index}]"), function))
                        .collect(),
                    true,
                ),
                _ => return Ok(None),
            };
        if definitions.is_empty() {
            return Ok(None);
        }
        let no_parameters = json!({"type": "object", "properties": {}});
        let mut entries: Vec<Entry> = Vec::with_capacity(definitions.len());
        for (path, definition) in definitions {
            if definition.name.trim().is_empty() {
                return Err(TranslateError::invalid(
                    format!("{path}.name"),
                    "function names must not be empty",
                ));
            }
            if entries.iter().any(|e| e.original == definition.name) {
                return Err(TranslateError::invalid(
                    format!("{path}.name"),
                    format!("duplicate function name {:?}", definition.name),
                ));
            }
            let normalized = normalize(
                definition.parameters.as_ref().unwrap_or(&no_parameters),
                &format!("{path}.parameters"),
                budget,
            )?;
            entries.push(Entry {
                original: definition.name.clone(),
                alias: sanitize_name(&definition.name),
                description: definition.description.clone(),
                parameters: normalized.schema,
                restore: normalized.restore,
            });
        }
        Ok(Some(Self {
            entries,
            router: None,
            legacy,
        }))
    }

    /// The GigaChat name of a client function (also for names not in the request, e.g. in history).
    pub fn alias(&self, original: &str) -> String {
        self.entries
            .iter()
            .find(|e| e.original == original)
            .map_or_else(|| sanitize_name(original), |e| e.alias.clone())
    }

    /// The function specs to send.
    pub fn specs(&self) -> Vec<FunctionSpec> {
        let mut specs: Vec<FunctionSpec> = self
            .entries
            .iter()
            .map(|entry| FunctionSpec {
                name: entry.alias.clone(),
                description: entry.description.clone(),
                parameters: Some(entry.parameters.clone()),
                few_shot_examples: None,
                return_parameters: None,
            })
            .collect();
        if let Some(router) = &self.router {
            specs.push(self.router_spec(router));
        }
        specs
    }

    /// GigaChat's `function_call` for the client's `tool_choice` (or legacy `function_call`).
    /// `required` forces the only tool, or, with several, a router function whose call names the tool.
    pub fn choose(
        &mut self,
        request: &ChatCompletionRequest,
    ) -> Result<FunctionCallMode, TranslateError> {
        let choice = match (&request.tool_choice, &request.function_call) {
            (Some(choice), _) => Some(choice.clone()),
            (None, Some(Value::String(mode))) if mode == "none" => Some(ToolChoice::None),
            (None, Some(Value::String(mode))) if mode == "auto" => Some(ToolChoice::Auto),
            (None, Some(Value::Object(object))) => object
                .get("name")
                .and_then(Value::as_str)
                .map(|name| ToolChoice::Function(name.to_owned())),
            (None, Some(other)) => {
                return Err(TranslateError::invalid(
                    "function_call",
                    format!(
                        "function_call must be \"auto\", \"none\" or {{\"name\"}}, got {other}"
                    ),
                ));
            }
            (None, None) => None,
        };
        Ok(match choice {
            None | Some(ToolChoice::Auto) => FunctionCallMode::Auto,
            Some(ToolChoice::None) => FunctionCallMode::None,
            Some(ToolChoice::Function(name)) => {
                let Some(entry) = self.entries.iter().find(|e| e.original == name) else {
                    return Err(TranslateError::invalid(
                        "tool_choice",
                        format!("tool_choice names {name:?}, which is not among the tools"),
                    ));
                };
                forced(&entry.alias)
            }
            Some(ToolChoice::Required) if self.entries.len() == 1 => forced(&self.entries[0].alias),
            Some(ToolChoice::Required) => {
                let mut router = ROUTER_NAME.to_owned();
                while self.entries.iter().any(|e| e.alias == router) {
                    router.push('_');
                }
                let mode = forced(&router);
                self.router = Some(router);
                mode
            }
        })
    }

    fn router_spec(&self, router: &str) -> FunctionSpec {
        let catalogue: Vec<String> = self
            .entries
            .iter()
            .map(|entry| {
                format!(
                    "- {}: {} Arguments schema: {}",
                    entry.alias,
                    entry.description.as_deref().unwrap_or(""),
                    entry.parameters
                )
            })
            .collect();
        let names: Vec<Value> = self
            .entries
            .iter()
            .map(|e| Value::String(e.alias.clone()))
            .collect();
        FunctionSpec {
            name: router.to_owned(),
            description: Some(format!(
                "Call exactly one of these tools: put its name in `tool` and its arguments in `arguments`.\n{}",
                catalogue.join("\n")
            )),
            parameters: Some(json!({
                "type": "object",
                "properties": {
                    "tool": {"type": "string", "enum": names, "description": "The tool to call"},
                    "arguments": {
                        "type": "object",
                        "properties": Value::Object(self.all_properties()),
                        "description": "The chosen tool's arguments: only the properties of its schema"
                    }
                },
                "required": ["tool", "arguments"]
            })),
            few_shot_examples: None,
            return_parameters: None,
        }
    }

    /// Every tool's properties in one object (the first definition of a name wins), so the router's
    /// `arguments` can carry any tool's arguments with their types.
    fn all_properties(&self) -> Map<String, Value> {
        let mut all = Map::new();
        for entry in &self.entries {
            if let Some(Value::Object(properties)) = entry.parameters.get("properties") {
                for (name, schema) in properties {
                    all.entry(name.clone()).or_insert_with(|| schema.clone());
                }
            }
        }
        all
    }

    /// A GigaChat function call as the client's tool call: original name, restored arguments as a
    /// JSON string, and an id carrying `functions_state_id`.
    pub fn tool_call(&self, call: &GcCall, state_id: Option<&str>, unique: &str) -> ToolCall {
        let (alias, mut arguments) = match &self.router {
            Some(router) if &call.name == router => (
                call.arguments
                    .get("tool")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                call.arguments
                    .get("arguments")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Map::new())),
            ),
            _ => (call.name.clone(), call.arguments.clone()),
        };
        if !arguments.is_object() {
            arguments = Value::Object(Map::new());
        }
        let entry = self.entries.iter().find(|e| e.alias == alias);
        if let Some(entry) = entry {
            if self.router.as_deref() == Some(call.name.as_str()) {
                keep_own_properties(&mut arguments, &entry.parameters);
            }
            entry.restore.apply(&mut arguments);
        }
        ToolCall {
            id: call_id(state_id, unique),
            kind: "function".into(),
            function: FunctionCall {
                name: entry.map_or(alias, |e| e.original.clone()),
                arguments: arguments.to_string(),
            },
        }
    }
}

/// Drops router arguments that belong to other tools' schemas.
fn keep_own_properties(arguments: &mut Value, schema: &Value) {
    if let (Value::Object(arguments), Some(Value::Object(properties))) =
        (arguments, schema.get("properties"))
    {
        arguments.retain(|name, _| properties.contains_key(name));
    }
}

fn forced(name: &str) -> FunctionCallMode {
    FunctionCallMode::Forced {
        name: name.to_owned(),
        partial_arguments: None,
    }
}

/// A `call_…` id that encodes GigaChat's `functions_state_id` (UUIDs compactly), or, without one,
/// an id made from `unique`.
pub fn call_id(state_id: Option<&str>, unique: &str) -> String {
    match state_id {
        Some(state) => match uuid_hex(state) {
            Some(hex) => format!("call_{hex}"),
            None => format!("call_s{}", URL_SAFE_NO_PAD.encode(state)),
        },
        None => {
            let tail: String = unique.chars().filter(char::is_ascii_alphanumeric).collect();
            format!("call_n{tail}")
        }
    }
}

/// The `functions_state_id` a call id carries, if it came from us.
pub fn state_id(call_id: &str) -> Option<String> {
    let rest = call_id.strip_prefix("call_")?;
    if rest.len() == 32 && rest.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(format!(
            "{}-{}-{}-{}-{}",
            &rest[..8],
            &rest[8..12],
            &rest[12..16],
            &rest[16..20],
            &rest[20..]
        ));
    }
    let encoded = rest.strip_prefix('s')?;
    String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()
}

fn uuid_hex(state: &str) -> Option<String> {
    let hex: String = state.chars().filter(|c| *c != '-').collect();
    (state.len() == 36 && hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// A tool result as GigaChat requires it: a JSON object serialized to a string.
pub fn result_content(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Value::Object(object).to_string(),
        Ok(other) => json!({ "result": other }).to_string(),
        Err(_) => json!({ "result": text }).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> ChatCompletionRequest {
        serde_json::from_value(body).unwrap()
    }

    fn weather_tools() -> Value {
        json!([
            {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"enum": [1, 3, 7]}}, "required": ["city"]}}},
            {"type": "function", "function": {"name": "mcp__fs/read file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "web_search", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "получить_курс"}}
        ])
    }

    #[test]
    fn names_are_aliased_and_restored() {
        let tools = Toolset::from_request(
            &request(json!({"messages": [], "tools": weather_tools()})),
            &mut ExpansionBudget::default(),
        )
        .unwrap()
        .unwrap();
        let specs = tools.specs();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names[0], "get_weather");
        assert!(names.iter().all(|n| is_valid_name(n)), "{names:?}");
        assert_ne!(names[2], "web_search", "reserved names are aliased");
        assert_ne!(names[3], tools.alias("получить_погоду"));
        for original in ["mcp__fs/read file", "web_search", "получить_курс"] {
            let call = GcCall {
                id: None,
                name: tools.alias(original),
                arguments: json!({}),
            };
            assert_eq!(tools.tool_call(&call, None, "x").function.name, original);
        }
        assert_eq!(
            specs[3].parameters,
            Some(json!({"type": "object", "properties": {}}))
        );
    }

    #[test]
    fn arguments_come_back_as_a_string_with_original_types() {
        let tools = Toolset::from_request(
            &request(json!({"messages": [], "tools": weather_tools()})),
            &mut ExpansionBudget::default(),
        )
        .unwrap()
        .unwrap();
        let call = GcCall {
            id: None,
            name: "get_weather".into(),
            arguments: json!({"city": "Москва", "days": "3"}),
        };
        let state = "0199e210-2f13-744c-8fe5-c9a19fe27db7";
        let converted = tools.tool_call(&call, Some(state), "x");
        assert_eq!(
            converted.function.arguments,
            r#"{"city":"Москва","days":3}"#
        );
        assert_eq!(converted.id, "call_0199e2102f13744c8fe5c9a19fe27db7");
        assert_eq!(state_id(&converted.id).as_deref(), Some(state));
    }

    #[test]
    fn call_ids_round_trip_any_state() {
        for state in ["0199E210-2F13-744C-8FE5-C9A19FE27DB7", "not-a-uuid/+=", "x"] {
            let id = call_id(Some(state), "u");
            assert!(id.starts_with("call_"));
            let back = state_id(&id).unwrap();
            assert!(back.eq_ignore_ascii_case(state));
        }
        assert_eq!(state_id(&call_id(None, "chatcmpl-1:0")), None);
        assert_eq!(state_id("call_abc"), None);
    }

    #[test]
    fn tool_choice_modes() {
        let body = |choice: Value| {
            request(json!({"messages": [], "tools": weather_tools(), "tool_choice": choice}))
        };
        let mode = |choice| {
            let req = body(choice);
            let mut tools = Toolset::from_request(&req, &mut ExpansionBudget::default())
                .unwrap()
                .unwrap();
            (tools.choose(&req).unwrap(), tools)
        };
        assert_eq!(mode(json!("auto")).0, FunctionCallMode::Auto);
        assert_eq!(mode(json!("none")).0, FunctionCallMode::None);
        assert_eq!(
            mode(json!({"type": "function", "function": {"name": "get_weather"}})).0,
            forced("get_weather")
        );
        let (required, tools) = mode(json!("required"));
        assert_eq!(required, forced(ROUTER_NAME));
        assert_eq!(tools.specs().last().unwrap().name, ROUTER_NAME);
        let routed = GcCall {
            id: None,
            name: ROUTER_NAME.into(),
            arguments: json!({"tool": "get_weather", "arguments": {"city": "Омск", "days": "7", "path": "/x"}}),
        };
        let router = tools.specs().pop().unwrap().parameters.unwrap();
        let carried = &router["properties"]["arguments"]["properties"];
        assert!(carried["city"].is_object() && carried["path"].is_object());
        let call = tools.tool_call(&routed, None, "u");
        assert_eq!(call.function.name, "get_weather");
        assert_eq!(
            call.function.arguments, r#"{"city":"Омск","days":7}"#,
            "another tool's property is dropped"
        );

        let single = request(
            json!({"messages": [], "tools": [weather_tools()[0]], "tool_choice": "required"}),
        );
        let mut tools = Toolset::from_request(&single, &mut ExpansionBudget::default())
            .unwrap()
            .unwrap();
        assert_eq!(tools.choose(&single).unwrap(), forced("get_weather"));

        let unknown = body(json!({"type": "function", "function": {"name": "nope"}}));
        let mut tools = Toolset::from_request(&unknown, &mut ExpansionBudget::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            tools.choose(&unknown).unwrap_err().param.as_deref(),
            Some("tool_choice")
        );
    }

    #[test]
    fn legacy_functions_and_function_call() {
        let req = request(
            json!({"messages": [], "functions": [{"name": "f", "parameters": {"type": "object", "properties": {}}}], "function_call": {"name": "f"}}),
        );
        let mut tools = Toolset::from_request(&req, &mut ExpansionBudget::default())
            .unwrap()
            .unwrap();
        assert!(tools.legacy);
        assert_eq!(tools.choose(&req).unwrap(), forced("f"));
    }

    /// Parameters that are not an object schema were sent as an empty object (the call's meaning
    /// silently changed); they are the client's mistake, named by the client's own index.
    #[test]
    fn parameters_that_are_not_object_schemas_are_refused() {
        for parameters in [
            json!("{\"type\": \"object\"}"),
            json!([{"type": "object"}]),
            json!({"type": "string"}),
        ] {
            let req = request(json!({"messages": [], "tools": [
                {"type": "web_search_preview"},
                {"type": "function", "function": {"name": "f", "parameters": parameters}}
            ]}));
            let err = Toolset::from_request(&req, &mut ExpansionBudget::default()).unwrap_err();
            assert_eq!(
                err.param.as_deref(),
                Some("tools[1].function.parameters"),
                "{}",
                err.message
            );
        }
        let legacy = request(json!({"messages": [], "functions": [
            {"name": "f"}, {"name": "g", "parameters": 5}
        ]}));
        let err = Toolset::from_request(&legacy, &mut ExpansionBudget::default()).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("functions[1].parameters"));
        let duplicate =
            request(json!({"messages": [], "functions": [{"name": "f"}, {"name": "f"}]}));
        let err = Toolset::from_request(&duplicate, &mut ExpansionBudget::default()).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("functions[1].name"));
    }

    #[test]
    fn results_become_json_objects() {
        assert_eq!(result_content(r#"{"t": 5}"#), r#"{"t":5}"#);
        assert_eq!(result_content("sunny"), r#"{"result":"sunny"}"#);
        assert_eq!(result_content("[1,2]"), r#"{"result":[1,2]}"#);
    }
}
