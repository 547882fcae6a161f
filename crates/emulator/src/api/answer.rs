//! What the emulated model answers: deterministic text, function calls, a generated image, a
//! built-in tool's output or structured output, chosen from the request by documented conventions.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::builtins::{self, ToolRun};
use super::chat::{BUILT_INS, CallMode, ChatRequest};
use super::now_secs;
use crate::auth::Identity;
use crate::files::{FileObject, StoredFile};
use crate::state::AppState;
use crate::text::{self, Rng};
use crate::wire::ApiError;
use crate::{pattern, schema};

/// The JPEG served for every generated image.
pub(crate) const GENERATED_IMAGE: &[u8] = include_bytes!("../../assets/generated.jpg");

/// Words of the caption that follows a generated image.
pub(crate) const CAPTION_WORDS: usize = 8;

/// Reasoning budget when the request gives none (GigaChat's documented default).
const DEFAULT_REASONING_TOKENS: usize = 1024;

/// Words of the reasoning text before the budget cuts it, per word of the configured answer.
const REASONING_WORDS_PER_ANSWER_WORD: usize = 2;

/// Words of the text an in-band failure sends before it fails.
const FAILED_ANSWER_WORDS: usize = 6;

/// The model's answer, before it is framed as a message or as stream deltas.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answer {
    /// Text content (`""` with function calls).
    pub(crate) content: String,
    /// `{"id"?, "name", "arguments":{…}}` of every call, in order (v1 sends only the first; several
    /// only on v2 with `parallel_tool_calls`).
    pub(crate) calls: Vec<Value>,
    /// State id accompanying calls and built-in tool output.
    pub(crate) functions_state_id: Option<String>,
    /// `stop`, `length`, `function_call`, `error` or `blacklist`.
    pub(crate) finish_reason: &'static str,
    /// Tokens of the answer (reasoning included).
    pub(crate) completion_tokens: usize,
    /// The generated file the answer shows (v1: the content starts with its `<img …/>` tag).
    pub(crate) file: Option<GeneratedFile>,
    /// The text after the image tag (the whole content when there is no image).
    pub(crate) caption_start: usize,
    /// Reasoning text (v1 `reasoning_content`, v2 a `role:"reasoning"` message).
    pub(crate) reasoning: Option<String>,
    /// The v2 built-in tool that ran.
    pub(crate) tool: Option<ToolRun>,
    /// An in-band failure: the answer stops with `finish_reason: "error"`, zero usage and this object.
    pub(crate) error_details: Option<Value>,
    /// Prompt tokens a built-in tool's retrieved material adds.
    pub(crate) extra_prompt_tokens: usize,
}

/// A file the model generated, as v2 `files` parts name it.
#[derive(Debug, Clone)]
pub(crate) struct GeneratedFile {
    /// Its id in the Files API.
    pub(crate) id: String,
    /// Its MIME type.
    pub(crate) mime: &'static str,
    /// `image` or `3dmodel`.
    pub(crate) target: &'static str,
}

/// Marker in the last user message: the model calls the function named after it.
pub(crate) const CALL_MARKER: &str = "call:";

/// Marker in the last user message: the model calls the function named after it with arguments that
/// violate its schema, and the answer ends with `finish_reason: "error"`.
pub(crate) const CALL_INVALID_MARKER: &str = "call-invalid:";

/// Marker in the last user message: the topic filter refuses (`finish_reason: "blacklist"`).
pub(crate) const BLACKLIST_MARKER: &str = "blacklist:";

/// Marker in the last user message: the answer's content starts with `<think>reasoning</think>`.
pub(crate) const THINK_TAGS_MARKER: &str = "think-tags:";

/// Marker in the last user message: the generation fails after a few words (an in-band error).
pub(crate) const FAIL_INBAND_MARKER: &str = "fail-inband:";

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

/// Every call `text` asks for, in order: `call:NAME`, each optionally followed by `args:` and a JSON
/// object (text may follow the object).
pub(crate) fn marked_calls(text: &str) -> Vec<MarkedCall<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some((name, after)) = marked_name_and_rest(rest, CALL_MARKER) {
        let arguments = after
            .trim_start()
            .strip_prefix(CALL_ARGUMENTS_MARKER)
            .and_then(|json| {
                let mut values = serde_json::Deserializer::from_str(json).into_iter::<Value>();
                match values.next() {
                    Some(Ok(Value::Object(arguments))) => Some(arguments),
                    _ => None,
                }
            });
        out.push(MarkedCall { name, arguments });
        rest = after;
    }
    out
}

/// The first call `text` asks for.
pub(crate) fn marked_call(text: &str) -> Option<MarkedCall<'_>> {
    marked_calls(text).into_iter().next()
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

/// What a request's answer is generated from: the request, its last user message and the seeded
/// generator.
struct Turn<'a> {
    state: &'a AppState,
    identity: &'a Identity,
    client_id: Option<String>,
    request: &'a ChatRequest,
    prompt: &'a str,
    rng: Rng,
}

/// Decides and builds the answer to a validated request; `seed` (the hash of the messages,
/// `MeasuredPrompt::seed`) seeds the generator.
pub(crate) fn compose(
    state: &AppState,
    identity: &Identity,
    client_id: Option<String>,
    request: &ChatRequest,
    seed: u64,
) -> Result<Answer, ApiError> {
    let prompt = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map_or("", |m| m.text());
    let mut turn = Turn {
        state,
        identity,
        client_id,
        request,
        prompt,
        rng: Rng::new(seed),
    };
    if prompt.contains(BLACKLIST_MARKER) {
        return Ok(Answer {
            content: BLACKLIST_REFUSAL.to_owned(),
            finish_reason: "blacklist",
            completion_tokens: text::count_tokens(BLACKLIST_REFUSAL),
            ..Answer::default()
        });
    }
    let mut answer = match tool_answer(&mut turn)? {
        Some(answer) => answer,
        None => text_reply(&mut turn)?,
    };
    if let Some(reasoning) = reasoning(&mut turn) {
        answer.completion_tokens += text::count_tokens(&reasoning);
        answer.reasoning = Some(reasoning);
    }
    Ok(answer)
}

/// A call or a tool's output, when the request's mode and prompt ask for one. After a function
/// result the model answers in text, unless a v2 request keeps forcing (`forced`/`any`).
fn tool_answer(turn: &mut Turn<'_>) -> Result<Option<Answer>, ApiError> {
    let request = turn.request;
    let mode = request.call_mode()?;
    let after_result = request
        .messages
        .last()
        .is_some_and(|m| m.role == "function");
    let forcing = matches!(
        mode,
        CallMode::Forced(..) | CallMode::Any(_) | CallMode::Builtin(_)
    );
    if after_result && !(forcing && request.v2.is_some()) {
        return Ok(None);
    }
    let prompt = turn.prompt;
    let invalid =
        marked_name(prompt, CALL_INVALID_MARKER).filter(|n| request.function(n).is_some());
    let answer = match mode {
        CallMode::Forced(name, _) if name == "text2image" => Some(image(turn)),
        CallMode::Forced(name, partial) if !BUILT_INS.contains(&name.as_str()) => {
            if invalid == Some(name.as_str()) {
                Some(invalid_call(turn, &name))
            } else {
                let explicit = marked_call(prompt)
                    .filter(|marked| marked.name == name)
                    .and_then(|marked| marked.arguments);
                Some(calls(turn, vec![(name.clone(), explicit)], partial))
            }
        }
        CallMode::Any(names) => {
            let chosen = if parallel(turn) {
                marked(turn, |name| names.iter().any(|n| n == name))
            } else {
                // The first listed name that has a marker.
                let mut marks = marked_calls(prompt);
                names
                    .iter()
                    .find_map(|name| marks.iter().position(|m| m.name == name))
                    .map(|index| marks.swap_remove(index))
                    .map(|m| (m.name.to_owned(), m.arguments))
                    .into_iter()
                    .collect()
            };
            let chosen = match (chosen.is_empty(), names.first()) {
                (true, Some(first)) => vec![(first.clone(), None)],
                _ => chosen,
            };
            Some(calls(turn, chosen, None))
        }
        CallMode::Builtin(name) => Some(run_builtin(turn, &name)),
        CallMode::Auto => auto(turn, invalid),
        CallMode::Forced(..) | CallMode::None => None,
    };
    Ok(answer)
}

/// Under `auto`: an invalid call, the marked calls, a triggered built-in tool, or a drawing.
fn auto(turn: &mut Turn<'_>, invalid: Option<&str>) -> Option<Answer> {
    let request = turn.request;
    if let Some(name) = invalid {
        return Some(invalid_call(turn, name));
    }
    let chosen = marked(turn, |name| request.function(name).is_some());
    if !chosen.is_empty() {
        return Some(calls(turn, chosen, None));
    }
    let offered = request.v2.as_ref().map(|v2| v2.builtins.as_slice());
    if let Some(name) = builtins::triggered(turn.prompt, offered.unwrap_or_default()) {
        return Some(run_builtin(turn, name));
    }
    // v1 draws unless functions leave `text2image` out; v2 only when `image_generate` is offered.
    let functions = request.declared();
    let image_allowed = match offered {
        Some(offered) => offered.iter().any(|name| name == builtins::IMAGE_GENERATE),
        None => functions.is_empty() || functions.iter().any(|f| f.name == "text2image"),
    };
    (image_allowed && asks_for_drawing(turn.prompt)).then(|| image(turn))
}

/// The built-in tool `name` run for this turn.
fn run_builtin(turn: &mut Turn<'_>, name: &str) -> Answer {
    let call = builtins::Call {
        state: turn.state,
        identity: turn.identity,
        client_id: turn.client_id.clone(),
    };
    builtins::run(&call, name, &mut turn.rng)
}

/// Whether the request lets the model answer several calls (v2 `parallel_tool_calls: true`).
fn parallel(turn: &Turn<'_>) -> bool {
    turn.request
        .v2
        .as_ref()
        .is_some_and(|v2| v2.parallel_tool_calls)
}

/// The `call:` markers of the prompt whose names `allowed` accepts: all of them on a v2 request with
/// `parallel_tool_calls: true`, else the first.
fn marked(
    turn: &Turn<'_>,
    allowed: impl Fn(&str) -> bool,
) -> Vec<(String, Option<Map<String, Value>>)> {
    let mut chosen: Vec<_> = marked_calls(turn.prompt)
        .into_iter()
        .filter(|marked| allowed(marked.name))
        .map(|marked| (marked.name.to_owned(), marked.arguments))
        .collect();
    if !parallel(turn) {
        chosen.truncate(1);
    }
    chosen
}

/// The text answer: structured output, a regex match, JSON on request, or prose; with the
/// `think-tags:` and `fail-inband:` conventions applied.
fn text_reply(turn: &mut Turn<'_>) -> Result<Answer, ApiError> {
    let request = turn.request;
    let words = turn.state.config.answer_words;
    let rng = &mut turn.rng;
    let content = match (request.output_schema()?, &request.regex) {
        (Some(schema), _) => pretty(&schema::generate(schema, rng)),
        (None, Some(regex)) => {
            pattern::generate(regex, rng).unwrap_or_else(|| text::answer(rng.next_u64(), words))
        }
        (None, None) if asks_for_json(request) => pretty(&json!({
            "answer": text::answer(rng.next_u64(), words)
        })),
        (None, None) => text::answer(rng.next_u64(), words),
    };
    if turn.prompt.contains(FAIL_INBAND_MARKER) {
        return Ok(failed(text::answer(rng.next_u64(), FAILED_ANSWER_WORDS)));
    }
    let content = if turn.prompt.contains(THINK_TAGS_MARKER) {
        let thoughts = text::answer(rng.next_u64(), words);
        format!("<think>{thoughts}</think>{content}")
    } else {
        content
    };
    let max_tokens = request.max_tokens.and_then(|m| usize::try_from(m).ok());
    Ok(text_answer(content, max_tokens))
}

/// An answer that fails in-band after `partial`: `finish_reason: "error"`, `error_details`.
fn failed(partial: String) -> Answer {
    Answer {
        completion_tokens: text::count_tokens(&partial),
        content: partial,
        finish_reason: "error",
        error_details: Some(json!({
            "status": 500,
            "message": "Internal Server Error: the generation failed",
        })),
        ..Answer::default()
    }
}

/// The reasoning text, when the request asks for reasoning (`reasoning_effort` other than `none`, or
/// `reasoning_max_tokens`), cut at the budget (default 1024 tokens).
fn reasoning(turn: &mut Turn<'_>) -> Option<String> {
    let request = turn.request;
    let effort_on = request
        .reasoning_effort
        .as_deref()
        .is_some_and(|effort| effort != "none");
    let budget_given = request.reasoning_max_tokens.is_some() && request.reasoning_effort.is_none();
    if !(effort_on || budget_given) {
        return None;
    }
    let budget = request
        .reasoning_max_tokens
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(DEFAULT_REASONING_TOKENS);
    let words = turn.state.config.answer_words * REASONING_WORDS_PER_ANSWER_WORD;
    let (text, _, _) = cut(text::answer(turn.rng.next_u64(), words), Some(budget));
    Some(text)
}

/// `content` cut at `max_tokens` whole words: the kept text, its tokens, whether it was cut.
fn cut(mut content: String, max_tokens: Option<usize>) -> (String, usize, bool) {
    // Pieces start at whitespace, which ends every run, so the whole text counts as its pieces
    // summed: a text within the budget is counted once, not piece by piece.
    let whole = text::count_tokens(&content);
    if max_tokens.is_none_or(|max| whole <= max) {
        return (content, whole, false);
    }
    let (kept, tokens, truncated) = cut_by_pieces(&content, max_tokens);
    content.truncate(kept);
    (content, tokens, truncated)
}

/// [`cut`] word by word: the bytes kept, their tokens, whether the text was cut.
fn cut_by_pieces(content: &str, max_tokens: Option<usize>) -> (usize, usize, bool) {
    let mut kept = 0;
    let mut tokens = 0;
    for piece in text::pieces(content) {
        let cost = text::count_tokens(piece);
        if max_tokens.is_some_and(|max| tokens + cost > max) {
            return (kept, tokens, true);
        }
        tokens += cost;
        kept += piece.len();
    }
    (kept, tokens, false)
}

/// A text answer, cut at `max_tokens` (then `finish_reason: length`).
fn text_answer(content: String, max_tokens: Option<usize>) -> Answer {
    let (content, tokens, truncated) = cut(content, max_tokens);
    Answer {
        content,
        finish_reason: if truncated { "length" } else { "stop" },
        completion_tokens: tokens,
        ..Answer::default()
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

/// The arguments of a call of `name`: the `explicit` ones exactly (values generated for the other
/// optional properties would change what a real client does, e.g. Codex's `workdir`), else generated
/// from its parameters schema.
fn arguments(
    request: &ChatRequest,
    name: &str,
    explicit: Option<Map<String, Value>>,
    rng: &mut Rng,
) -> Value {
    match explicit {
        Some(explicit) => Value::Object(explicit),
        None => schema::generate(&parameters(request, name), rng),
    }
}

/// The parameters schema of `name` (an empty object schema when it has none).
fn parameters(request: &ChatRequest, name: &str) -> Value {
    request
        .function(name)
        .and_then(|f| f.parameters.clone())
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}))
}

/// Whether calls carry an `id`: v2 answers when `function_call_ids` is on, v1 answers when
/// `v1_function_call_ids` is.
fn with_ids(turn: &Turn<'_>) -> bool {
    let config = &turn.state.config;
    if turn.request.v2.is_some() {
        config.function_call_ids
    } else {
        config.v1_function_call_ids
    }
}

/// Calls of the `chosen` functions (with their explicit arguments), `partial` arguments merged over
/// each; distinct ids when the contract sends ids; one state id.
fn calls(
    turn: &mut Turn<'_>,
    chosen: Vec<(String, Option<Map<String, Value>>)>,
    partial: Option<Value>,
) -> Answer {
    let ids = with_ids(turn);
    let mut out = Vec::with_capacity(chosen.len());
    for (name, explicit) in chosen {
        let mut arguments = arguments(turn.request, &name, explicit, &mut turn.rng);
        if let (Value::Object(arguments), Some(Value::Object(partial))) =
            (&mut arguments, partial.clone())
        {
            arguments.extend(partial);
        }
        let mut call = Map::new();
        if ids {
            call.insert(
                "id".to_owned(),
                json!(format!("call_{:016x}", turn.rng.next_u64())),
            );
        }
        call.insert("name".to_owned(), json!(name));
        call.insert("arguments".to_owned(), arguments);
        out.push(Value::Object(call));
    }
    Answer {
        completion_tokens: out.iter().map(|c| text::count_tokens(&c.to_string())).sum(),
        calls: out,
        functions_state_id: Some(uuid::Uuid::now_v7().to_string()),
        finish_reason: "function_call",
        ..Answer::default()
    }
}

/// A call of `name` whose arguments violate its parameters schema, ending with `finish_reason: "error"`
/// (the model "produced invalid arguments for a user function").
fn invalid_call(turn: &mut Turn<'_>, name: &str) -> Answer {
    let mut answer = calls(turn, vec![(name.to_owned(), None)], None);
    let parameters = parameters(turn.request, name);
    if let Some(Value::Object(arguments)) = answer
        .calls
        .first_mut()
        .and_then(|call| call.get_mut("arguments"))
    {
        schema::violate(&parameters, arguments);
    }
    answer.completion_tokens = answer
        .calls
        .iter()
        .map(|c| text::count_tokens(&c.to_string()))
        .sum();
    answer.finish_reason = "error";
    answer
}

/// Stores a generated file of `identity` (downloadable only with the same `X-Client-ID`, if the
/// request had one) and returns its id.
pub(crate) fn store_generated(
    state: &AppState,
    identity: &Identity,
    client_id: Option<String>,
    content: &'static [u8],
    mime: &str,
    extension: &str,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    state.files.insert(StoredFile {
        object: FileObject {
            id: id.clone(),
            object: "file",
            bytes: content.len(),
            access_policy: None,
            created_at: now_secs(),
            filename: format!("{id}.{extension}"),
            purpose: "general".to_owned(),
        },
        owner: identity.key.clone(),
        content_type: mime.to_owned(),
        content: Bytes::from_static(content),
        client_id,
    });
    id
}

/// The built-in `text2image` (v2 `image_generate`): stores a JPEG and answers
/// `<img src="<id>" fuse="true"/> caption`.
fn image(turn: &mut Turn<'_>) -> Answer {
    let id = store_generated(
        turn.state,
        turn.identity,
        turn.client_id.clone(),
        GENERATED_IMAGE,
        "image/jpeg",
        "jpg",
    );
    let tag = format!("<img src=\"{id}\" fuse=\"true\"/> ");
    let content = format!("{tag}{}", text::answer(turn.rng.next_u64(), CAPTION_WORDS));
    Answer {
        completion_tokens: text::count_tokens(&content),
        content,
        functions_state_id: Some(uuid::Uuid::now_v7().to_string()),
        finish_reason: "stop",
        file: Some(GeneratedFile {
            id,
            mime: "image/jpeg",
            target: "image",
        }),
        caption_start: tag.len(),
        tool: turn
            .request
            .v2
            .is_some()
            .then(|| ToolRun::named(builtins::IMAGE_GENERATE)),
        ..Answer::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_counts_and_keeps_what_counting_piece_by_piece_does() {
        for seed in 0..300_u64 {
            let answer = text::answer(seed, 1 + (seed as usize % 90));
            let variants = [
                answer.clone(),
                format!("  {answer}\n\n12345 ёжик, 😀 — done"),
                answer.replace(' ', "\t"),
            ];
            for content in variants {
                for max in [None, Some(0), Some(1), Some(7), Some(40), Some(10_000)] {
                    let (kept, tokens, truncated) = cut_by_pieces(&content, max);
                    let expected = (content[..kept].to_owned(), tokens, truncated);
                    assert_eq!(cut(content.clone(), max), expected, "{content:?} {max:?}");
                }
            }
        }
    }

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
