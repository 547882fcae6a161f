//! Tools ↔ GigaChat functions: name aliasing, `tool_choice`, call ids that carry GigaChat's
//! `functions_state_id` and its own call id, and turning a GigaChat function call back into an
//! OpenAI tool call.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gigachat_types::{
    Contract, FunctionCall as GcCall, FunctionCallMode, FunctionSpec, SharedJson,
};
use openai::chat::{ChatCompletionRequest, FunctionCall, FunctionDefinition, ToolCall, ToolChoice};
use serde_json::{Map, Value, json};
use std::sync::Arc;

use crate::TranslateError;
use crate::schema::{ExpansionBudget, Restore, normalize};
use crate::tool_cache::ToolCache;

/// Tool lists normalised by this process, for requests that send one again.
static NORMALISED: ToolCache<[Entry]> = ToolCache::new();

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
    /// `parameters` as sent upstream, written once.
    encoded: SharedJson,
    restore: Restore,
}

/// The request's functions, with the aliases GigaChat gets and the way back. Cloning it is cheap:
/// the normalised functions are shared (with the tool-list cache, and with every stream).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Toolset {
    entries: Arc<[Entry]>,
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
        let Some((definitions, legacy)) = definitions(request) else {
            return Ok(None);
        };
        Ok(Some(Self {
            entries: normalize_all(&definitions, budget)?.into(),
            router: None,
            legacy,
        }))
    }

    /// [`Toolset::from_request`] for a request planned under `contract`, served from this
    /// process's cache when an earlier request sent the same functions; `budget` is then left as
    /// normalising them would have left it. Only a fresh budget (nothing charged yet) is cached.
    pub fn from_request_cached(
        request: &ChatCompletionRequest,
        contract: Contract,
        budget: &mut ExpansionBudget,
    ) -> Result<Option<Self>, TranslateError> {
        if *budget != ExpansionBudget::default() {
            return Self::from_request(request, budget);
        }
        let Some((definitions, legacy)) = definitions(request) else {
            return Ok(None);
        };
        let functions: Vec<&FunctionDefinition> = definitions.iter().map(|(_, d)| *d).collect();
        let entries = match NORMALISED.get(&functions, legacy, contract) {
            Some((entries, budget_after)) => {
                *budget = budget_after;
                entries
            }
            None => {
                let entries: Arc<[Entry]> = normalize_all(&definitions, budget)?.into();
                let normalised_bytes = entries.iter().map(|entry| entry.encoded.text().len()).sum();
                NORMALISED.put(
                    &functions,
                    legacy,
                    contract,
                    Arc::clone(&entries),
                    budget.clone(),
                    normalised_bytes,
                );
                entries
            }
        };
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
                parameters: Some(entry.encoded.clone()),
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
    /// `required` is v2's `any` of all the tools under `contract` v2; v1 has no such mode, so
    /// there it forces the only tool, or, with several, a router function whose call names the tool.
    pub fn choose(
        &mut self,
        request: &ChatCompletionRequest,
        contract: Contract,
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
            Some(ToolChoice::Required) if contract == Contract::V2 => FunctionCallMode::Any {
                names: self.entries.iter().map(|e| e.alias.clone()).collect(),
            },
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
            parameters: Some(SharedJson::from(json!({
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
            }))),
            few_shot_examples: None,
            return_parameters: None,
        }
    }

    /// Every tool's properties in one object (the first definition of a name wins), so the router's
    /// `arguments` can carry any tool's arguments with their types.
    fn all_properties(&self) -> Map<String, Value> {
        let mut all = Map::new();
        for entry in self.entries.iter() {
            if let Some(Value::Object(properties)) = entry.parameters.get("properties") {
                for (name, schema) in properties {
                    all.entry(name.clone()).or_insert_with(|| schema.clone());
                }
            }
        }
        all
    }

    /// A GigaChat function call as the client's tool call: original name, restored arguments as a
    /// JSON string, and an id carrying `functions_state_id` and GigaChat's call id (see
    /// [`call_id`]; `position` is the call's place among its answer's calls).
    pub fn tool_call(
        &self,
        call: &GcCall,
        state_id: Option<&str>,
        position: usize,
        unique: &str,
    ) -> ToolCall {
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
            id: call_id(state_id, call.id.as_deref(), position, unique),
            kind: "function".into(),
            function: FunctionCall {
                name: entry.map_or(alias, |e| e.original.clone()),
                arguments: arguments.to_string(),
            },
        }
    }
}

/// The request's function definitions (`tools`, or legacy `functions`, then `legacy` is true),
/// each with the JSON path it was sent at; `None` when there are none.
fn definitions(
    request: &ChatCompletionRequest,
) -> Option<(Vec<(String, &FunctionDefinition)>, bool)> {
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
            _ => return None,
        };
    (!definitions.is_empty()).then_some((definitions, legacy))
}

/// The functions as GigaChat gets them: names checked and aliased, schemas normalised with
/// `budget`.
fn normalize_all(
    definitions: &[(String, &FunctionDefinition)],
    budget: &mut ExpansionBudget,
) -> Result<Vec<Entry>, TranslateError> {
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
        let param = format!("{path}.parameters");
        let sent = match &definition.parameters {
            Some(schema) => Some(schema.to_value().map_err(|err| {
                TranslateError::invalid(&param, format!("the schema cannot be read: {err}"))
            })?),
            None => None,
        };
        let normalized = normalize(sent.as_ref().unwrap_or(&no_parameters), &param, budget)?;
        entries.push(Entry {
            original: definition.name.clone(),
            alias: sanitize_name(&definition.name),
            description: definition.description.clone(),
            encoded: SharedJson::from(&normalized.schema),
            parameters: normalized.schema,
            restore: normalized.restore,
        });
    }
    Ok(entries)
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

/// What one of our call ids carries back to GigaChat: the state id the call was made in and
/// GigaChat's own id of the call (v2; newer v1 answers), each when known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallRef {
    /// GigaChat's `functions_state_id` (v2 `tool_state_id`) of the answer that made the call.
    pub state_id: Option<String>,
    /// GigaChat's `function_call.id`, which the result's `function_result.id` must echo.
    pub call_id: Option<String>,
}

/// The client-visible id of a call GigaChat made: `call_` and `_`-separated parts, each of ASCII
/// letters and digits only (so `toolu_` rewrites and any client keep it intact).
///
/// * the state: a UUID as its 32 hex digits; another state as `x` + the hex of its bytes; none
///   as `n` + the letters and digits of `unique`;
/// * GigaChat's call id, when it gave one: `_u` + 32 hex digits for a lower-case UUID, else
///   `_h` + the hex of its bytes;
/// * without a GigaChat id, the call's `position` in its answer when it is not the first
///   (`_p1`, `_p2`, ...), so the calls of one answer keep distinct ids.
///
/// A lone call without a GigaChat id gets the ids of old (`call_<32 hex>`, `call_n…`), which
/// [`decode_call_id`] still reads, as it reads the older `call_s<base64url>` state ids.
pub fn call_id(
    state_id: Option<&str>,
    gigachat_id: Option<&str>,
    position: usize,
    unique: &str,
) -> String {
    let mut id = String::from("call_");
    match state_id {
        Some(state) => match uuid_hex(state) {
            Some(hex) => id.push_str(&hex),
            None => {
                id.push('x');
                push_hex(&mut id, state);
            }
        },
        None => {
            id.push('n');
            id.extend(unique.chars().filter(char::is_ascii_alphanumeric));
        }
    }
    match gigachat_id.filter(|call| !call.is_empty()) {
        Some(call) => match uuid_hex(call).filter(|hex| canonical_uuid(hex) == call) {
            Some(hex) => {
                id.push_str("_u");
                id.push_str(&hex);
            }
            None => {
                id.push_str("_h");
                push_hex(&mut id, call);
            }
        },
        None if position > 0 => {
            id.push_str("_p");
            id.push_str(&position.to_string());
        }
        None => {}
    }
    id
}

/// What a call id made by [`call_id`] (or by older versions) carries; nothing for ids of
/// other origins (the client's own, another provider's).
pub fn decode_call_id(id: &str) -> CallRef {
    let Some(rest) = id.strip_prefix("call_") else {
        return CallRef::default();
    };
    // Older ids: the state as unpadded base64url, which may itself hold `_`.
    if let Some(encoded) = rest.strip_prefix('s') {
        return CallRef {
            state_id: URL_SAFE_NO_PAD
                .decode(encoded)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok()),
            call_id: None,
        };
    }
    let mut parts = rest.split('_');
    let state = parts.next().unwrap_or_default();
    let state_id = if state.len() == 32 && state.chars().all(|c| c.is_ascii_hexdigit()) {
        Some(canonical_uuid(state))
    } else if let Some(hex) = state.strip_prefix('x') {
        match hex_text(hex) {
            Some(state) => Some(state),
            None => return CallRef::default(),
        }
    } else if state.starts_with('n') {
        None
    } else {
        return CallRef::default();
    };
    let mut call_id = None;
    for part in parts {
        if let Some(hex) = part
            .strip_prefix('u')
            .filter(|hex| hex.len() == 32 && is_lower_hex(hex))
        {
            call_id = Some(canonical_uuid(hex));
        } else if let Some(text) = part.strip_prefix('h').and_then(hex_text) {
            call_id = Some(text);
        }
    }
    CallRef { state_id, call_id }
}

/// The `functions_state_id` a call id carries, if it came from us.
pub fn state_id(call_id: &str) -> Option<String> {
    decode_call_id(call_id).state_id
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Appends the bytes of `text` as lower-case hex digits.
fn push_hex(out: &mut String, text: &str) {
    use std::fmt::Write as _;
    for byte in text.bytes() {
        let _ = write!(out, "{byte:02x}");
    }
}

/// Lower-case hex digits back to the UTF-8 text they encode.
fn hex_text(hex: &str) -> Option<String> {
    if hex.is_empty() || !hex.len().is_multiple_of(2) || !is_lower_hex(hex) {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// 32 hex digits as a hyphenated UUID.
fn canonical_uuid(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn uuid_hex(state: &str) -> Option<String> {
    let hex: String = state.chars().filter(|c| *c != '-').collect();
    (state.len() == 36 && hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// A tool result as GigaChat requires it: a JSON object serialized to a string. Valid JSON is
/// kept as the client wrote it, minus insignificant whitespace (an object as it is, anything else
/// as `{"result": …}`); it is only checked, never built into a tree, as agents resend long
/// histories of results on every turn.
pub fn result_content(text: &str) -> String {
    let json = text.trim_matches(JSON_WHITESPACE);
    if serde_json::from_str::<serde::de::IgnoredAny>(json).is_err() {
        // `{"result": "<text>"}`, compact, the text escaped as serde_json escapes it.
        let mut out = String::with_capacity(text.len() + text.len() / 8 + 14);
        out.push_str("{\"result\":");
        json_text::push_quoted(&mut out, text);
        out.push('}');
        return out;
    }
    if json.starts_with('{') {
        let mut out = String::with_capacity(json.len());
        push_compact(&mut out, json);
        return out;
    }
    let mut out = String::with_capacity(json.len() + 11);
    out.push_str("{\"result\":");
    push_compact(&mut out, json);
    out.push('}');
    out
}

/// The four characters JSON allows between tokens.
pub(crate) const JSON_WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// Appends valid JSON `json` without the whitespace between its tokens (strings untouched).
/// Strings, most of a tool result's bytes, are skipped to their closing quote with `memchr`.
fn push_compact(out: &mut String, json: &str) {
    let bytes = json.as_bytes();
    let mut kept_from = 0;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        at += 1;
        match byte {
            b'"' => at = string_end(bytes, at),
            b' ' | b'\t' | b'\n' | b'\r' => {
                // An ASCII byte is always a character boundary.
                out.push_str(json.get(kept_from..at - 1).unwrap_or_default());
                kept_from = at;
            }
            _ => {}
        }
    }
    out.push_str(json.get(kept_from..).unwrap_or_default());
}

/// Where the JSON string whose text starts at `from` ends: just past its closing quote (the end
/// of `bytes` when it has none).
fn string_end(bytes: &[u8], mut from: usize) -> usize {
    while let Some(found) = bytes
        .get(from..)
        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
    {
        let at = from + found;
        if bytes.get(at) == Some(&b'"') {
            return at + 1;
        }
        // A backslash: the escaped byte (a quote or a backslash among them) is skipped with it.
        from = at + 2;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> ChatCompletionRequest {
        serde_json::from_value(body).unwrap()
    }

    /// Results are objects as they came (compact), anything else wrapped as `{"result": …}`.
    #[test]
    fn result_content_is_a_compact_object() {
        for (text, expected) in [
            (
                r#"{ "b": 1, "a": [true, null] }"#,
                json!({"b": 1, "a": [true, null]}),
            ),
            ("[1, 2]", json!({"result": [1, 2]})),
            ("42", json!({"result": 42})),
            ("\"quoted\"", json!({"result": "quoted"})),
            (
                "fn main() {\n    println!(\"hi\\n\");\n}",
                json!({"result": "fn main() {\n    println!(\"hi\\n\");\n}"}),
            ),
            ("Готово: 3 файла", json!({"result": "Готово: 3 файла"})),
            ("", json!({"result": ""})),
            (" {\"k\" : \"a b\\\" c\" }\n", json!({"k": "a b\" c"})),
            ("{\"a\": 1} tail", json!({"result": "{\"a\": 1} tail"})),
        ] {
            assert_eq!(result_content(text), expected.to_string(), "{text}");
        }
        // Numbers and escapes stay as the client wrote them (a tree would round big numbers).
        assert_eq!(
            result_content("{ \"n\": 123456789012345678901234567890, \"e\": \"\\u00e9\" }"),
            r#"{"n":123456789012345678901234567890,"e":"\u00e9"}"#
        );
    }

    proptest::proptest! {
        /// Any JSON value comes out as the compact form of what went in: an object as it is,
        /// anything else under `result`.
        #[test]
        fn result_content_means_what_the_result_meant(value in json_value(), pretty: bool) {
            let text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                serde_json::to_string(&value).unwrap()
            };
            let sent: Value = serde_json::from_str(&result_content(&text)).unwrap();
            let expected = if value.is_object() { value } else { json!({"result": value}) };
            proptest::prop_assert_eq!(&sent, &expected);
            proptest::prop_assert_eq!(result_content(&text), expected.to_string());
        }
    }

    proptest::proptest! {
        /// Text that is not JSON is sent as serde_json writes `{"result": text}`, byte for byte.
        #[test]
        fn text_results_are_wrapped_as_serde_json_wraps_them(
            text in "[ a-z\"\\\\\n\t\u{1}\u{1f}\u{7f}й😀{}:,]{0,600}"
        ) {
            proptest::prop_assume!(serde_json::from_str::<Value>(&text).is_err());
            proptest::prop_assert_eq!(result_content(&text), json!({"result": text}).to_string());
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[ a-z\"\\\\\n\tй{}:,\\[\\]]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec(("[a-z \"]{0,6}", inner), 0..4)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
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
            assert_eq!(tools.tool_call(&call, None, 0, "x").function.name, original);
        }
        assert_eq!(
            specs[3].parameters.as_ref().map(|p| p.to_value().unwrap()),
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
        let converted = tools.tool_call(&call, Some(state), 0, "x");
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
            let id = call_id(Some(state), None, 0, "u");
            assert!(id.starts_with("call_"));
            let back = state_id(&id).unwrap();
            assert!(back.eq_ignore_ascii_case(state));
        }
        assert_eq!(state_id(&call_id(None, None, 0, "chatcmpl-1:0")), None);
        assert_eq!(state_id("call_abc"), None);
    }

    /// Parallel calls share one state id: each client id carries it and GigaChat's own call id,
    /// stays within `[A-Za-z0-9_]` and decodes to both.
    #[test]
    fn call_ids_carry_the_state_and_gigachat_call_id() {
        let state = "0199e210-2f13-744c-8fe5-c9a19fe27db7";
        let cases = [
            (Some(state), Some("call_a"), 0),
            (Some(state), Some("call_b"), 1),
            (Some(state), Some("5f0c8a4e-1d2b-4c3a-9e8f-0a1b2c3d4e5f"), 0),
            (Some(state), Some("5F0C8A4E-1D2B-4C3A-9E8F-0A1B2C3D4E5F"), 2),
            (Some("not/a uuid_1"), Some("ид вызова"), 0),
            (None, Some("call_a"), 0),
        ];
        let mut ids = Vec::new();
        for (state, gigachat_id, position) in cases {
            let id = call_id(state, gigachat_id, position, "chatcmpl-1");
            assert!(id.starts_with("call_"), "{id}");
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{id}"
            );
            assert_eq!(
                decode_call_id(&id),
                CallRef {
                    state_id: state.map(str::to_owned),
                    call_id: gigachat_id.map(str::to_owned),
                },
                "{id}"
            );
            // The same call always gets the same id.
            assert_eq!(id, call_id(state, gigachat_id, position, "chatcmpl-1"));
            ids.push(id);
        }
        assert_eq!(
            ids[2], "call_0199e2102f13744c8fe5c9a19fe27db7_u5f0c8a4e1d2b4c3a9e8f0a1b2c3d4e5f",
            "lower-case UUIDs are written compactly"
        );
        // Without GigaChat ids, calls of one answer still get distinct ids (by position).
        let unnamed: Vec<String> = (0..3)
            .map(|position| call_id(Some(state), None, position, "u"))
            .collect();
        assert_eq!(unnamed[0], "call_0199e2102f13744c8fe5c9a19fe27db7");
        assert_ne!(unnamed[1], unnamed[2]);
        for id in &unnamed {
            assert_eq!(
                decode_call_id(id),
                CallRef {
                    state_id: Some(state.into()),
                    call_id: None
                }
            );
        }
    }

    /// Ids handed out before GigaChat call ids existed, and other origins' ids.
    #[test]
    fn old_and_foreign_call_ids_decode() {
        let state = "0199e210-2f13-744c-8fe5-c9a19fe27db7";
        let old_uuid = decode_call_id("call_0199e2102f13744c8fe5c9a19fe27db7");
        assert_eq!(old_uuid.state_id.as_deref(), Some(state));
        assert_eq!(old_uuid.call_id, None);
        let old_base64 = format!("call_s{}", URL_SAFE_NO_PAD.encode("state_?/x"));
        assert_eq!(state_id(&old_base64).as_deref(), Some("state_?/x"));
        assert_eq!(decode_call_id("call_nchatcmpl10"), CallRef::default());
        for foreign in ["call_abc", "call_x1", "toolu_01A", "fc_1", "", "call_"] {
            assert_eq!(decode_call_id(foreign), CallRef::default(), "{foreign}");
        }
    }

    /// v2 has `any`: `required` names every tool there, and no router function is added.
    #[test]
    fn required_is_any_of_the_tools_on_v2() {
        let body = |choice: Value| {
            request(json!({"messages": [], "tools": weather_tools(), "tool_choice": choice}))
        };
        let required = body(json!("required"));
        let mut tools = Toolset::from_request(&required, &mut ExpansionBudget::default())
            .unwrap()
            .unwrap();
        let names: Vec<String> = tools.specs().into_iter().map(|s| s.name).collect();
        assert_eq!(
            tools.choose(&required, Contract::V2).unwrap(),
            FunctionCallMode::Any {
                names: names.clone()
            }
        );
        assert_eq!(tools.specs().len(), names.len(), "no router on v2");
        let named = body(json!({"type": "function", "function": {"name": "mcp__fs/read file"}}));
        let mut tools = Toolset::from_request(&named, &mut ExpansionBudget::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            tools.choose(&named, Contract::V2).unwrap(),
            forced(&tools.alias("mcp__fs/read file"))
        );
        for (choice, mode) in [
            (json!("auto"), FunctionCallMode::Auto),
            (json!("none"), FunctionCallMode::None),
        ] {
            let req = body(choice);
            let mut tools = Toolset::from_request(&req, &mut ExpansionBudget::default())
                .unwrap()
                .unwrap();
            assert_eq!(tools.choose(&req, Contract::V2).unwrap(), mode);
        }
    }

    /// A call's GigaChat id goes into the client's id, next to the state id.
    #[test]
    fn tool_calls_carry_gigachat_ids() {
        let tools = Toolset::from_request(
            &request(json!({"messages": [], "tools": weather_tools()})),
            &mut ExpansionBudget::default(),
        )
        .unwrap()
        .unwrap();
        let state = "0199e210-2f13-744c-8fe5-c9a19fe27db7";
        let call = GcCall {
            id: Some("call_b".into()),
            name: "get_weather".into(),
            arguments: json!({"city": "Kazan"}),
        };
        let converted = tools.tool_call(&call, Some(state), 1, "x");
        assert_eq!(
            decode_call_id(&converted.id),
            CallRef {
                state_id: Some(state.into()),
                call_id: Some("call_b".into())
            }
        );
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
            (tools.choose(&req, Contract::V1).unwrap(), tools)
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
        let router = tools
            .specs()
            .pop()
            .unwrap()
            .parameters
            .unwrap()
            .to_value()
            .unwrap();
        let carried = &router["properties"]["arguments"]["properties"];
        assert!(carried["city"].is_object() && carried["path"].is_object());
        let call = tools.tool_call(&routed, None, 0, "u");
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
        assert_eq!(
            tools.choose(&single, Contract::V1).unwrap(),
            forced("get_weather")
        );

        let unknown = body(json!({"type": "function", "function": {"name": "nope"}}));
        let mut tools = Toolset::from_request(&unknown, &mut ExpansionBudget::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            tools
                .choose(&unknown, Contract::V1)
                .unwrap_err()
                .param
                .as_deref(),
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
        assert_eq!(tools.choose(&req, Contract::V1).unwrap(), forced("f"));
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

    /// A schema is only checked for well-formed JSON when the body is read; one that serde_json
    /// cannot build a tree of (nested deeper than 128, an unpaired surrogate) is refused by its
    /// path when it is normalised, on the cached path as on the fresh one.
    #[test]
    fn schemas_that_cannot_be_read_as_trees_are_refused_by_path() {
        let deep = format!(
            r#"{{"type": "object", "properties": {{"a": {{"default": {}1{}}}}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let surrogate = r#"{"type": "object", "description": "\ud800"}"#.to_owned();
        for schema in [deep, surrogate] {
            let body = format!(
                r#"{{"messages": [], "tools": [{{"type": "function", "function": {{"name": "f", "parameters": {schema}}}}}]}}"#
            );
            let request: ChatCompletionRequest = serde_json::from_str(&body).unwrap();
            for contract in [Contract::V1, Contract::V2] {
                let err = Toolset::from_request_cached(
                    &request,
                    contract,
                    &mut ExpansionBudget::default(),
                )
                .unwrap_err();
                assert_eq!(err.param.as_deref(), Some("tools[0].function.parameters"));
                assert!(
                    err.message.contains("schema cannot be read"),
                    "{}",
                    err.message
                );
            }
            let err = Toolset::from_request(&request, &mut ExpansionBudget::default()).unwrap_err();
            assert_eq!(err.param.as_deref(), Some("tools[0].function.parameters"));
        }
    }

    #[test]
    fn results_become_json_objects() {
        assert_eq!(result_content(r#"{"t": 5}"#), r#"{"t":5}"#);
        assert_eq!(result_content("sunny"), r#"{"result":"sunny"}"#);
        assert_eq!(result_content("[1,2]"), r#"{"result":[1,2]}"#);
    }
}
