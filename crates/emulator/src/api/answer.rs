//! What the emulated model answers: deterministic text, a function call, a generated image, or
//! structured output, chosen from the request by documented conventions.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use super::chat::{BUILT_INS, CallMode, ChatRequest};
use super::now_secs;
use crate::auth::Identity;
use crate::files::{FileObject, StoredFile};
use crate::state::AppState;
use crate::text::{self, Fnv, Rng};
use crate::wire::ApiError;
use crate::{pattern, schema};

/// The JPEG served for every generated image.
pub(crate) const GENERATED_IMAGE: &[u8] = include_bytes!("../../assets/generated.jpg");

/// Words of the caption that follows a generated image.
const CAPTION_WORDS: usize = 8;

/// The model's answer, before it is framed as a message or as stream deltas.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// Text content (`""` with a function call).
    pub(crate) content: String,
    /// `{"name":…, "arguments":{…}}` when the model calls a function.
    pub(crate) function_call: Option<Value>,
    /// State id accompanying calls and built-in tool output.
    pub(crate) functions_state_id: Option<String>,
    /// `stop`, `length`, `function_call`, `error` or `blacklist`.
    pub(crate) finish_reason: &'static str,
    /// Tokens of the answer.
    pub(crate) completion_tokens: usize,
    /// Id of the generated image the content starts with (`<img src="…" fuse="true"/>`).
    pub(crate) image_id: Option<String>,
    /// The text after the image tag (the whole content when there is no image).
    pub(crate) caption_start: usize,
}

/// Marker in the last user message: the model calls the function named after it.
pub(crate) const CALL_MARKER: &str = "call:";

/// Marker in the last user message: the model calls the function named after it with arguments that
/// violate its schema, and the answer ends with `finish_reason: "error"`.
pub(crate) const CALL_INVALID_MARKER: &str = "call-invalid:";

/// Marker in the last user message: the topic filter refuses (`finish_reason: "blacklist"`).
pub(crate) const BLACKLIST_MARKER: &str = "blacklist:";

/// The canned refusal of a blacklisted request (GigaChat's own wording).
pub(crate) const BLACKLIST_REFUSAL: &str =
    "Не люблю менять тему разговора, но вот сейчас тот самый случай.";

/// Marker right after `call:NAME`: the JSON object that follows is the call's exact arguments, e.g.
/// `call:exec_command args:{"cmd": "echo hi > out.txt"}`.
pub(crate) const CALL_ARGUMENTS_MARKER: &str = "args:";

/// A call asked for by `call:NAME` in the last user message.
#[derive(Debug)]
pub(crate) struct MarkedCall<'a> {
    /// The function to call.
    pub(crate) name: &'a str,
    /// The arguments given with `args:{…}`; `None` without them or when they are not a JSON object
    /// (then they are generated from the schema).
    pub(crate) arguments: Option<Map<String, Value>>,
}

/// The call `text` asks for: `call:NAME`, optionally followed by `args:` and a JSON object (text may
/// follow the object).
pub(crate) fn marked_call(text: &str) -> Option<MarkedCall<'_>> {
    let (name, rest) = marked_name_and_rest(text, CALL_MARKER)?;
    let arguments = rest
        .trim_start()
        .strip_prefix(CALL_ARGUMENTS_MARKER)
        .and_then(|json| {
            let mut values = serde_json::Deserializer::from_str(json).into_iter::<Value>();
            match values.next() {
                Some(Ok(Value::Object(arguments))) => Some(arguments),
                _ => None,
            }
        });
    Some(MarkedCall { name, arguments })
}

/// The function name that follows `marker` in `text`.
fn marked_name<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    marked_name_and_rest(text, marker).map(|(name, _)| name)
}

/// The function name that follows `marker` in `text`, and the text after that name.
fn marked_name_and_rest<'a>(text: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let start = text.find(marker)? + marker.len();
    let rest = text.get(start..)?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
        .unwrap_or(rest.len());
    let name = rest.get(..end).filter(|name| !name.is_empty())?;
    Some((name, rest.get(end..).unwrap_or_default()))
}

/// Whether a prompt asks for a picture (`нарисуй` or `draw`, any case).
pub(crate) fn asks_for_drawing(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("нарисуй") || lower.contains("draw")
}

/// Instruction following, as far as the emulator goes: a system message that asks for JSON
/// (mentions "JSON") gets a JSON object `{"answer": "..."}` instead of prose.
fn asks_for_json(request: &ChatRequest) -> bool {
    request
        .messages
        .iter()
        .filter(|m| m.role == "system")
        .any(|m| m.text().to_ascii_lowercase().contains("json"))
}

/// Decides and builds the answer to a validated request.
pub(crate) fn compose(
    state: &AppState,
    identity: &Identity,
    client_id: Option<String>,
    request: &ChatRequest,
) -> Result<Answer, ApiError> {
    let mut hash = Fnv::default();
    for message in &request.messages {
        hash.write_str(&serde_json::to_string(message).unwrap_or_default());
    }
    let mut rng = Rng::new(hash.finish());
    let after_result = request
        .messages
        .last()
        .is_some_and(|m| m.role == "function");
    let prompt = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map_or("", |m| m.text());
    let max_tokens = request.max_tokens.and_then(|m| usize::try_from(m).ok());
    if prompt.contains(BLACKLIST_MARKER) {
        return Ok(Answer {
            content: BLACKLIST_REFUSAL.to_owned(),
            function_call: None,
            functions_state_id: None,
            finish_reason: "blacklist",
            completion_tokens: text::count_tokens(BLACKLIST_REFUSAL),
            image_id: None,
            caption_start: 0,
        });
    }
    if !after_result {
        let invalid =
            marked_name(prompt, CALL_INVALID_MARKER).filter(|n| request.function(n).is_some());
        match request.call_mode()? {
            CallMode::Forced(name, _) if name == "text2image" => {
                return Ok(image(state, identity, client_id, &mut rng));
            }
            CallMode::Forced(name, partial) if !BUILT_INS.contains(&name.as_str()) => {
                if invalid == Some(name.as_str()) {
                    return Ok(invalid_call(request, &name, &mut rng));
                }
                let explicit = marked_call(prompt)
                    .filter(|marked| marked.name == name)
                    .and_then(|marked| marked.arguments);
                return Ok(call(request, &name, explicit, partial, &mut rng));
            }
            CallMode::Auto => {
                if let Some(name) = invalid {
                    return Ok(invalid_call(request, name, &mut rng));
                }
                if let Some(marked) =
                    marked_call(prompt).filter(|m| request.function(m.name).is_some())
                {
                    return Ok(call(request, marked.name, marked.arguments, None, &mut rng));
                }
                let functions = request.functions.as_deref().unwrap_or_default();
                let image_allowed =
                    functions.is_empty() || functions.iter().any(|f| f.name == "text2image");
                if image_allowed && asks_for_drawing(prompt) {
                    return Ok(image(state, identity, client_id, &mut rng));
                }
            }
            CallMode::Forced(..) | CallMode::None => {}
        }
    }
    let content = match (request.output_schema()?, &request.regex) {
        (Some(schema), _) => pretty(&schema::generate(schema, &mut rng)),
        (None, Some(regex)) => pattern::generate(regex, &mut rng)
            .unwrap_or_else(|| text::answer(rng.next_u64(), state.config.answer_words)),
        (None, None) if asks_for_json(request) => pretty(&serde_json::json!({
            "answer": text::answer(rng.next_u64(), state.config.answer_words)
        })),
        (None, None) => text::answer(rng.next_u64(), state.config.answer_words),
    };
    Ok(text_answer(content, max_tokens))
}

/// A text answer, cut at `max_tokens` (then `finish_reason: length`).
fn text_answer(content: String, max_tokens: Option<usize>) -> Answer {
    let mut kept = 0;
    let mut tokens = 0;
    let mut truncated = false;
    for piece in text::pieces(&content) {
        let cost = text::count_tokens(piece);
        if max_tokens.is_some_and(|max| tokens + cost > max) {
            truncated = true;
            break;
        }
        tokens += cost;
        kept += piece.len();
    }
    let mut content = content;
    content.truncate(kept);
    Answer {
        content,
        function_call: None,
        functions_state_id: None,
        finish_reason: if truncated { "length" } else { "stop" },
        completion_tokens: tokens,
        image_id: None,
        caption_start: 0,
    }
}

/// JSON with four-space indentation, as the recorded structured answers have.
fn pretty(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    if value.serialize(&mut serializer).is_err() {
        return value.to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}

/// A call of `name` with the `explicit` arguments (exactly those: values generated for the other
/// optional properties would change what a real client does, e.g. Codex's `workdir`), else with
/// arguments generated from its parameters schema; `partial` arguments are merged over either.
fn call(
    request: &ChatRequest,
    name: &str,
    explicit: Option<Map<String, Value>>,
    partial: Option<Value>,
    rng: &mut Rng,
) -> Answer {
    let mut arguments = match explicit {
        Some(explicit) => Value::Object(explicit),
        None => {
            let parameters = request
                .function(name)
                .and_then(|f| f.parameters.clone())
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
            schema::generate(&parameters, rng)
        }
    };
    if let (Value::Object(arguments), Some(Value::Object(partial))) = (&mut arguments, partial) {
        arguments.extend(partial);
    }
    let function_call = serde_json::json!({"name": name, "arguments": arguments});
    Answer {
        completion_tokens: text::count_tokens(&function_call.to_string()),
        content: String::new(),
        function_call: Some(function_call),
        functions_state_id: Some(uuid::Uuid::now_v7().to_string()),
        finish_reason: "function_call",
        image_id: None,
        caption_start: 0,
    }
}

/// A call of `name` whose arguments violate its parameters schema, ending with `finish_reason: "error"`
/// (the model "produced invalid arguments for a user function").
fn invalid_call(request: &ChatRequest, name: &str, rng: &mut Rng) -> Answer {
    let mut answer = call(request, name, None, None, rng);
    let parameters = request
        .function(name)
        .and_then(|f| f.parameters.clone())
        .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
    if let Some(Value::Object(arguments)) = answer
        .function_call
        .as_mut()
        .and_then(|call| call.get_mut("arguments"))
    {
        schema::violate(&parameters, arguments);
    }
    if let Some(call) = &answer.function_call {
        answer.completion_tokens = text::count_tokens(&call.to_string());
    }
    answer.finish_reason = "error";
    answer
}

/// The built-in `text2image`: stores a JPEG and answers `<img src="<id>" fuse="true"/> caption`.
fn image(
    state: &AppState,
    identity: &Identity,
    client_id: Option<String>,
    rng: &mut Rng,
) -> Answer {
    let id = uuid::Uuid::new_v4().to_string();
    state.files.insert(StoredFile {
        object: FileObject {
            id: id.clone(),
            object: "file",
            bytes: GENERATED_IMAGE.len(),
            access_policy: None,
            created_at: now_secs(),
            filename: format!("{id}.jpg"),
            purpose: "general".to_owned(),
        },
        owner: identity.key.clone(),
        content_type: "image/jpeg".to_owned(),
        content: Bytes::from_static(GENERATED_IMAGE),
        client_id,
    });
    let tag = format!("<img src=\"{id}\" fuse=\"true\"/> ");
    let content = format!("{tag}{}", text::answer(rng.next_u64(), CAPTION_WORDS));
    Answer {
        completion_tokens: text::count_tokens(&content),
        content,
        function_call: None,
        functions_state_id: Some(uuid::Uuid::now_v7().to_string()),
        finish_reason: "stop",
        image_id: Some(id),
        caption_start: tag.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(text: &str) -> Option<&str> {
        marked_call(text).map(|marked| marked.name)
    }

    fn arguments_of(text: &str) -> Option<Value> {
        marked_call(text)?.arguments.map(Value::Object)
    }

    #[test]
    fn marker_is_parsed() {
        assert_eq!(name_of("please call:get_weather now"), Some("get_weather"));
        assert_eq!(name_of("call:"), None);
        assert_eq!(name_of("no marker"), None);
        assert_eq!(arguments_of("please call:get_weather now"), None);
    }

    #[test]
    fn invalid_marker_is_separate_from_the_call_marker() {
        let text = "please call-invalid:get_weather now";
        assert_eq!(marked_name(text, CALL_INVALID_MARKER), Some("get_weather"));
        assert_eq!(name_of(text), None);
    }

    #[test]
    fn arguments_marker_gives_the_object_that_follows() {
        let text = r#"Run it: call:exec_command args:{"cmd": "echo hi > out.txt"} then stop"#;
        assert_eq!(name_of(text), Some("exec_command"));
        assert_eq!(
            arguments_of(text),
            Some(serde_json::json!({"cmd": "echo hi > out.txt"}))
        );
        let patch = "call:apply_patch args: {\"input\": \"*** Begin Patch\\n*** Add File: hello.txt\\n+hi\\n*** End Patch\\n\"}";
        assert_eq!(
            arguments_of(patch),
            Some(serde_json::json!({
                "input": "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n"
            }))
        );
    }

    #[test]
    fn arguments_that_are_not_a_json_object_are_ignored() {
        for text in [
            "call:f args:{not json}",
            "call:f args:[1, 2]",
            "call:f args:\"text\"",
            "call:f args:",
            "call:f args:{\"a\": 1",
            "call:f please args:{\"a\": 1}",
        ] {
            assert_eq!(name_of(text), Some("f"), "{text}");
            assert_eq!(arguments_of(text), None, "{text}");
        }
    }

    #[test]
    fn drawing_prompts() {
        assert!(asks_for_drawing("Нарисуй кота"));
        assert!(asks_for_drawing("please DRAW a cat"));
        assert!(!asks_for_drawing("hello"));
    }

    #[test]
    fn max_tokens_cuts_with_length() {
        let answer = text_answer("one two three four".to_owned(), Some(2));
        assert_eq!(answer.content, "one two");
        assert_eq!(answer.finish_reason, "length");
        assert_eq!(answer.completion_tokens, 2);
        let answer = text_answer("one two".to_owned(), Some(5));
        assert_eq!(answer.finish_reason, "stop");
    }

    #[test]
    fn pretty_uses_four_spaces() {
        let value = serde_json::json!({"answer": "ok", "n": 3});
        assert_eq!(
            pretty(&value),
            "{\n    \"answer\": \"ok\",\n    \"n\": 3\n}"
        );
    }
}
