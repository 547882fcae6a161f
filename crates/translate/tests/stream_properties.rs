//! Property tests of the answer translators over generated GigaChat output: stream events (content,
//! reasoning, whole function calls, finish reasons, usage, odd indexes and unknown values) framed as
//! SSE and cut anywhere, and whole answers. Every chunk and answer must be valid JSON matching the
//! OpenAI description in `../shared/openai-spec` (loaded at test time; a missing spec fails the
//! tests), the output stays bounded by the input, and each choice finishes exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::OnceLock;

use gigachat::sse::SseDecoder;
use gigachat_types as gc;
use openai::chat::{ChatCompletionChunk, ChatCompletionRequest};
use openai::completions::CompletionRequest;
use proptest::prelude::*;
use serde_json::{Value, json};
use translate::completions::{completion_request, completion_response, text_chunk};
use translate::{
    ChatDefaults, ChatPlan, ResolvedParts, ResponseIds, StreamTranslator, chat_request,
    chat_response, combined_usage, usage_chunk,
};

/// Cases per property: a fixed budget that keeps each property to about a second in CI.
/// The default usage rule (GigaChat's prompt leaves cached tokens out).
const CACHED: gigachat_types::CachedPromptTokens = gigachat_types::CachedPromptTokens::Excluded;
const CASES: u32 = 160;

/// Bytes a translated chunk may carry besides the text it passes on: field names, the id, the
/// model, a tool-call id and type, the finish reason, a usage object.
const CHUNK_OVERHEAD: usize = 640;

// ---------------------------------------------------------------------------------------------
// The OpenAI description
// ---------------------------------------------------------------------------------------------

/// Compiled validators for the response schemas the translators must produce.
struct Spec {
    chat_chunk: jsonschema::Validator,
    chat_completion: jsonschema::Validator,
    completion: jsonschema::Validator,
}

/// `../shared/openai-spec/openapi-subset.json` beside the repository (`E2E_OPENAI_SPEC` overrides
/// it, as for the e2e tests).
fn spec_path() -> std::path::PathBuf {
    std::env::var_os("E2E_OPENAI_SPEC").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/openai-spec/openapi-subset.json")
        },
        Into::into,
    )
}

fn spec() -> &'static Spec {
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
        let components = document
            .get("components")
            .expect("the OpenAI description has components")
            .clone();
        // A root that is the named schema, with the components beside it so `#/components/...`
        // references resolve inside the same document.
        let validator = |name: &str| {
            assert!(
                components["schemas"].get(name).is_some(),
                "{name} is not in the OpenAI description"
            );
            let root = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$ref": format!("#/components/schemas/{name}"),
                "components": components,
            });
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&root)
                .unwrap_or_else(|err| panic!("{name} does not compile: {err}"))
        };
        Spec {
            chat_chunk: validator("CreateChatCompletionStreamResponse"),
            chat_completion: validator("CreateChatCompletionResponse"),
            completion: validator("CreateCompletionResponse"),
        }
    })
}

/// Fails the case with every violation when `value` does not match `validator`.
fn conforms(
    validator: &jsonschema::Validator,
    what: &str,
    value: &Value,
) -> Result<(), TestCaseError> {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|err| format!("{} at {}", err, err.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!(
            "{what} breaks the OpenAI schema: {errors:?}\n{value}"
        )))
    }
}

/// Serialised JSON text read back (what the client parses): it must be JSON.
fn wire(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The completions description covers whole answers: like OpenAI's, a streamed choice has
/// `finish_reason: null` until it ends and chunks carry `usage: null` when usage was asked for.
fn as_whole_completion(mut chunk: Value) -> Value {
    if let Some(choices) = chunk["choices"].as_array_mut() {
        for choice in choices {
            if choice["finish_reason"].is_null() {
                choice["finish_reason"] = json!("stop");
            }
        }
    }
    if chunk["usage"].is_null()
        && let Some(object) = chunk.as_object_mut()
    {
        object.remove("usage");
    }
    chunk
}

// ---------------------------------------------------------------------------------------------
// Generated GigaChat output
// ---------------------------------------------------------------------------------------------

/// Function names the generated requests declare (one needs an alias on GigaChat's side).
const TOOL_NAMES: [&str; 2] = ["get weather", "lookup"];

/// Pieces of text likely to meet the generated stop sequences and JSON checks.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => "[a-zA-Z0-9 ,.]{1,8}",
            2 => "[а-яА-ЯёЁ ]{1,6}",
            1 => Just("END".to_owned()),
            1 => Just("EN".to_owned()),
            1 => Just("\n\n".to_owned()),
            1 => Just("{\"a\": 1}".to_owned()),
            1 => Just("```json\n".to_owned()),
            1 => Just("\u{1F600}".to_owned()),
            1 => Just("\u{0}\"\\".to_owned()),
            1 => Just("<img src=\"9b8f7c54-7e43-4d4e-9c0c-6a4d0d1c7b6e\" fuse=\"true\"/>".to_owned()),
        ],
        0..5,
    )
    .prop_map(|parts| parts.concat())
}

/// Any JSON GigaChat might put in a function call's `arguments` (not always an object).
fn arguments() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (text(), 0u8..4, any::<bool>()).prop_map(|(t, n, b)| json!({"q": t, "n": n.to_string(), "when": "2026-01-01T00:00:00Z", "flag": b})),
        1 => text().prop_map(Value::String),
        1 => Just(json!([1, 2])),
        1 => Just(Value::Null),
        1 => Just(json!({})),
    ]
}

/// What a function call may name: a declared function's GigaChat name, a built-in, or garbage.
fn function_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(TOOL_NAMES.to_vec()).prop_map(|name| {
            let request: ChatCompletionRequest = serde_json::from_value(json!({
                "messages": [], "tools": [{"type": "function", "function": {"name": name}}]
            }))
            .unwrap();
            translate::tools::Toolset::from_request(
                &request,
                &mut translate::schema::ExpansionBudget::default(),
            )
            .unwrap()
            .unwrap()
            .alias(name)
        }),
        1 => Just("text2image".to_owned()),
        1 => Just("choose_and_call_tool".to_owned()),
        1 => "[a-z_]{0,12}",
    ]
}

fn finish_reason() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        3 => Just(None),
        1 => prop::sample::select(vec![
            "stop", "length", "function_call", "blacklist", "error", "brand_new_reason",
        ])
        .prop_map(Some),
    ]
}

/// GigaChat usage, including counts far beyond real ones.
fn usage() -> impl Strategy<Value = Value> {
    let count = prop_oneof![3 => 0u32..5000, 1 => any::<u32>()];
    (count.clone(), count.clone(), count, any::<bool>()).prop_map(|(p, c, cached, with_cached)| {
        let mut usage =
            json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p.wrapping_add(c)});
        if with_cached {
            usage["precached_prompt_tokens"] = json!(cached);
        }
        usage
    })
}

/// One choice of a stream event: a delta of any mix of fields, sometimes a finish reason.
fn chunk_choice() -> impl Strategy<Value = Value> {
    let call = (function_name(), arguments())
        .prop_map(|(name, arguments)| json!({"name": name, "arguments": arguments}));
    let state_id = prop_oneof![
        Just("0199e210-2f13-744c-8fe5-c9a19fe27db7".to_owned()),
        "[a-z0-9-]{0,20}",
    ];
    (
        proptest::option::weighted(0.8, text()),
        proptest::option::of(prop_oneof![Just("assistant"), Just("function_in_progress")]),
        proptest::option::weighted(0.15, text()),
        proptest::option::weighted(0.2, call),
        proptest::option::of(state_id),
        finish_reason(),
        prop_oneof![6 => Just(0u32), 1 => 1u32..3],
    )
        .prop_map(|(content, role, reasoning, call, state, finish, index)| {
            let mut delta = json!({});
            if let Some(content) = content {
                delta["content"] = json!(content);
            }
            if let Some(role) = role {
                delta["role"] = json!(role);
            }
            if let Some(reasoning) = reasoning {
                delta["reasoning_content"] = json!(reasoning);
            }
            if let Some(call) = call {
                delta["function_call"] = call;
                if let Some(state) = state {
                    delta["functions_state_id"] = json!(state);
                }
            }
            let mut choice = json!({"delta": delta, "index": index});
            if let Some(finish) = finish {
                choice["finish_reason"] = json!(finish);
            }
            choice
        })
}

/// One GigaChat stream event (`object` is `chat.completion` there too).
fn upstream_chunk() -> impl Strategy<Value = Value> {
    (
        prop_oneof![8 => Just(1usize), 1 => 0usize..3]
            .prop_flat_map(|n| proptest::collection::vec(chunk_choice(), n)),
        proptest::option::weighted(0.2, usage()),
    )
        .prop_map(|(choices, usage)| {
            let mut chunk = json!({"choices": choices, "created": 1_760_000_000, "model": "GigaChat-2-Max:2.0.28.2", "object": "chat.completion"});
            if let Some(usage) = usage {
                chunk["usage"] = usage;
            }
            chunk
        })
}

/// The events of one choice's stream, as SSE bytes cut into network chunks.
#[derive(Debug, Clone)]
struct UpstreamStream {
    events: Vec<Value>,
    cuts: Vec<usize>,
    crlf: bool,
    done: bool,
}

fn upstream_stream() -> impl Strategy<Value = UpstreamStream> {
    (
        proptest::collection::vec(
            prop_oneof![
                20 => upstream_chunk(),
                // An error mid-stream (GigaChat's `{status,message}`, or garbage): the client
                // ends the stream there.
                1 => Just(json!({"status": 500, "message": "Internal Server Error"})),
                1 => Just(json!("not a chunk")),
            ],
            0..10,
        ),
        proptest::collection::vec(any::<usize>(), 0..12),
        any::<bool>(),
        prop_oneof![5 => Just(true), 1 => Just(false)],
    )
        .prop_map(|(events, cuts, crlf, done)| UpstreamStream {
            events,
            cuts,
            crlf,
            done,
        })
}

impl UpstreamStream {
    fn body(&self) -> Vec<u8> {
        let end = if self.crlf { "\r\n" } else { "\n" };
        let mut body = String::new();
        for event in &self.events {
            body.push_str(&format!("data: {event}{end}{end}"));
        }
        if self.done {
            body.push_str(&format!("data: [DONE]{end}{end}"));
        }
        body.into_bytes()
    }

    /// The chunks the GigaChat client yields for these bytes: SSE decoded piece by piece, blank
    /// events skipped, parsed until `[DONE]` (an unreadable event ends the stream, as there).
    fn decoded(&self) -> Vec<gc::ChatChunk> {
        let body = self.body();
        let mut cuts: Vec<usize> = self.cuts.iter().map(|c| c % (body.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(body.len());
        let mut decoder = SseDecoder::new();
        let mut data = Vec::new();
        let mut start = 0;
        for cut in cuts {
            decoder.feed(&body[start..cut]);
            start = cut;
            data.extend(std::iter::from_fn(|| decoder.next_event()).map(|e| e.data));
        }
        decoder.finish();
        data.extend(std::iter::from_fn(|| decoder.next_event()).map(|e| e.data));
        let mut chunks = Vec::new();
        for text in data {
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            if text == "[DONE]" {
                break;
            }
            match serde_json::from_str(text) {
                Ok(chunk) => chunks.push(chunk),
                Err(_) => break,
            }
        }
        chunks
    }
}

/// An OpenAI chat request as clients send it: stop sequences, tools or legacy functions,
/// `json_object`, usage asked for or not, one to three choices.
fn chat_request_json() -> impl Strategy<Value = Value> {
    let stop = proptest::collection::vec(
        prop::sample::select(vec!["END", "\n\n", "Ж", "}", "a"]),
        0..3,
    );
    let tools = prop_oneof![2 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)];
    (stop, tools, any::<bool>(), any::<bool>(), 1u32..=3).prop_map(
        |(stop, tools, json_object, include_usage, n)| {
            let mut request = json!({
                "model": "GigaChat-2-Max",
                "messages": [{"role": "user", "content": "Привет"}],
                "stream": true,
                "stream_options": {"include_usage": include_usage},
                "n": n,
            });
            if !stop.is_empty() {
                request["stop"] = json!(stop);
            }
            let functions: Vec<Value> = TOOL_NAMES
                .iter()
                .map(|name| json!({"name": name, "parameters": {"type": "object", "properties": {
                    "q": {"type": "string"}, "n": {"enum": [1, 2, 3]}, "when": {"type": "string", "format": "date-time"},
                    "flag": {"type": "boolean"}
                }}}))
                .collect();
            match tools {
                1 => {
                    request["tools"] = functions
                        .into_iter()
                        .map(|f| json!({"type": "function", "function": f}))
                        .collect()
                }
                2 => request["functions"] = json!(functions),
                _ if json_object => request["response_format"] = json!({"type": "json_object"}),
                _ => {}
            }
            request
        },
    )
}

fn defaults() -> ChatDefaults {
    ChatDefaults {
        contract: Default::default(),
        default_model: "GigaChat".into(),
        aliases: Default::default(),
        builtin_functions: true,
    }
}

fn ids() -> ResponseIds {
    ResponseIds {
        id: "chatcmpl-0199e2102f13744c8fe5c9a19fe27db7".into(),
        created: 1_760_000_000,
    }
}

/// What the adapter sends for one choice: translated chunks until the choice finishes (a stop
/// sequence ends it early), then whatever the end of the upstream stream releases.
fn translate_choice(
    translator: &mut StreamTranslator,
    upstream: &[gc::ChatChunk],
) -> Vec<ChatCompletionChunk> {
    let mut out = Vec::new();
    for chunk in upstream {
        if translator.is_finished() {
            break;
        }
        out.extend(translator.push(chunk.clone()));
    }
    out.extend(translator.end());
    out
}

/// Each choice's chunks: the role first and only once, exactly one finish reason, on its last chunk.
fn check_choice_shape(index: u32, chunks: &[&ChatCompletionChunk]) -> Result<(), TestCaseError> {
    prop_assert!(!chunks.is_empty(), "choice {index} sent nothing");
    let finishes: Vec<usize> = chunks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.choices[0].finish_reason.is_some())
        .map(|(i, _)| i)
        .collect();
    prop_assert_eq!(
        finishes,
        vec![chunks.len() - 1],
        "choice {} finish reasons",
        index
    );
    prop_assert_eq!(
        chunks[0].choices[0].delta.role.as_deref(),
        Some("assistant")
    );
    prop_assert!(
        chunks[1..]
            .iter()
            .all(|c| c.choices[0].delta.role.is_none())
    );
    Ok(())
}

fn completion_request_json() -> impl Strategy<Value = Value> {
    (
        proptest::collection::vec("[a-z ]{1,10}", 1..3),
        1u32..=2,
        any::<bool>(),
        proptest::option::of(prop::sample::select(vec!["END", "\n", "a"])),
    )
        .prop_map(|(prompts, n, include_usage, stop)| {
            let mut request = json!({"model": "GigaChat", "prompt": prompts, "n": n, "stream": true,
                "stream_options": {"include_usage": include_usage}});
            if let Some(stop) = stop {
                request["stop"] = json!(stop);
            }
            request
        })
}

/// A whole GigaChat answer of one choice.
fn upstream_answer() -> impl Strategy<Value = Value> {
    let call = (function_name(), arguments())
        .prop_map(|(name, arguments)| json!({"name": name, "arguments": arguments}));
    (
        text(),
        proptest::option::weighted(0.3, call),
        proptest::option::weighted(0.2, text()),
        finish_reason(),
        proptest::option::weighted(0.8, usage()),
    )
        .prop_map(|(content, call, reasoning, finish, usage)| {
            let mut message = json!({"role": "assistant", "content": content});
            if let Some(call) = call {
                message["function_call"] = call;
                message["functions_state_id"] = json!("0199e210-2f13-744c-8fe5-c9a19fe27db7");
            }
            if let Some(reasoning) = reasoning {
                message["reasoning_content"] = json!(reasoning);
            }
            let mut choice = json!({"message": message, "index": 0});
            if let Some(finish) = finish {
                choice["finish_reason"] = json!(finish);
            }
            let mut answer = json!({"choices": [choice], "created": 1_760_000_000,
                "model": "GigaChat-2-Max:2.0.28.2", "object": "chat.completion"});
            if let Some(usage) = usage {
                answer["usage"] = usage;
            }
            answer
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// Chat streams: every chunk (and the usage chunk) matches `CreateChatCompletionStreamResponse`,
    /// every choice opens with the role and finishes exactly once, and the output is bounded by
    /// what GigaChat sent.
    #[test]
    fn chat_stream_chunks_match_the_openai_schema(
        request in chat_request_json(),
        streams in proptest::collection::vec(upstream_stream(), 3),
    ) {
        let request: ChatCompletionRequest = serde_json::from_value(request).unwrap();
        let plan: ChatPlan = chat_request(&request, &defaults(), &ResolvedParts::new()).unwrap();
        let model = "GigaChat-2-Max:2.0.28.2";
        let mut all = Vec::new();
        let mut usages = Vec::new();
        let mut input_bytes = 0;
        let mut input_events = 0;
        let mut input_text = 0;
        for (index, stream) in streams.iter().take(plan.n as usize).enumerate() {
            let upstream = stream.decoded();
            input_bytes += stream.body().len();
            input_events += upstream.len();
            input_text += upstream
                .iter()
                .flat_map(|c| &c.choices)
                .filter_map(|c| c.delta.content.as_ref())
                .map(|t| t.chars().count())
                .sum::<usize>();
            let mut translator = StreamTranslator::new(ids(), model.into(), index as u32, &plan);
            let chunks = translate_choice(&mut translator, &upstream);
            check_choice_shape(index as u32, &chunks.iter().collect::<Vec<_>>())?;
            usages.extend(translator.usage().copied());
            all.extend(chunks);
        }
        if plan.include_usage {
            let totals = combined_usage(&usages, CACHED).unwrap_or_else(|| translate::usage(&gc::Usage::default(), CACHED));
            all.push(usage_chunk(&ids(), model, totals));
        }
        let spec = spec();
        let mut output_bytes = 0;
        for chunk in &all {
            let text = serde_json::to_string(chunk).unwrap();
            output_bytes += text.len();
            conforms(&spec.chat_chunk, "a chat chunk", &wire(&text))?;
            prop_assert_eq!(&chunk.id, &ids().id);
            prop_assert_eq!(chunk.usage.is_some(), plan.include_usage);
        }
        let output_text: usize = all
            .iter()
            .flat_map(|c| &c.choices)
            .filter_map(|c| c.delta.content.as_ref())
            .map(|t| t.chars().count())
            .sum();
        prop_assert!(output_text <= input_text, "{output_text} characters out of {input_text}");
        let choices = plan.n as usize;
        prop_assert!(all.len() <= 3 * input_events + 2 * choices + 1, "{} chunks from {input_events} events", all.len());
        prop_assert!(output_bytes <= all.len() * CHUNK_OVERHEAD + 2 * input_bytes,
            "{output_bytes} bytes out of {input_bytes} in {} chunks", all.len());
    }

    /// Legacy completion streams: every `text_completion` chunk (and the usage chunk) matches
    /// `CreateCompletionResponse`, choice indexes run across prompts, each choice finishes once.
    #[test]
    fn completion_stream_chunks_match_the_openai_schema(
        request in completion_request_json(),
        streams in proptest::collection::vec(upstream_stream(), 4),
    ) {
        let request: CompletionRequest = serde_json::from_value(request).unwrap();
        let plan = completion_request(request, &defaults()).unwrap();
        let model = "GigaChat:2.0.28.2";
        let spec = spec();
        let mut usages = Vec::new();
        let mut index = 0u32;
        let mut streams = streams.iter();
        for chat in &plan.prompts {
            for _ in 0..chat.n {
                let upstream = streams.next().unwrap().decoded();
                let mut translator = StreamTranslator::new(ids(), model.into(), index, chat);
                let chunks = translate_choice(&mut translator, &upstream);
                let texts: Vec<_> = chunks.iter().filter_map(text_chunk).collect();
                let finishes = texts.iter().flat_map(|c| &c.choices).filter(|c| c.finish_reason.is_some()).count();
                prop_assert_eq!(finishes, 1, "choice {} finish reasons", index);
                for chunk in &texts {
                    prop_assert!(chunk.choices.iter().all(|c| c.index == index));
                    conforms(&spec.completion, "a completion chunk", &as_whole_completion(wire(&serde_json::to_string(&chunk).unwrap())))?;
                }
                usages.extend(translator.usage().copied());
                index += 1;
            }
        }
        if plan.include_usage {
            let totals = combined_usage(&usages, CACHED).unwrap_or_else(|| translate::usage(&gc::Usage::default(), CACHED));
            let chunk = translate::completions::usage_chunk(&ids(), model, totals);
            conforms(&spec.completion, "the completion usage chunk", &wire(&serde_json::to_string(&chunk).unwrap()))?;
        }
    }

    /// Whole answers: the chat answer matches `CreateChatCompletionResponse` (or, for
    /// `json_object`, is refused as not an object), and the same answers as a legacy completion
    /// match `CreateCompletionResponse`.
    #[test]
    fn whole_answers_match_the_openai_schema(
        request in chat_request_json(),
        answers in proptest::collection::vec(upstream_answer(), 1..4),
    ) {
        let mut request = request;
        request["stream"] = json!(false);
        request.as_object_mut().unwrap().remove("stream_options");
        let stop = request.get("stop").cloned();
        let request: ChatCompletionRequest = serde_json::from_value(request).unwrap();
        let plan = chat_request(&request, &defaults(), &ResolvedParts::new()).unwrap();
        let answers: Vec<gc::ChatCompletion> = answers
            .into_iter()
            .map(|answer| serde_json::from_value(answer).unwrap())
            .collect();
        let spec = spec();
        match chat_response(&answers, &ids(), &plan, CACHED) {
            Ok(response) => {
                conforms(&spec.chat_completion, "a chat answer", &wire(&serde_json::to_string(&response).unwrap()))?;
                prop_assert_eq!(response.choices.len(), answers.len());
            }
            Err(err) => prop_assert!(
                matches!(plan.output, translate::OutputFormat::JsonObject),
                "{err} without json_object"
            ),
        }
        // The same answers for a plain prompt (no tools, no json_object), as a legacy completion.
        let prompt: CompletionRequest = serde_json::from_value(json!({"prompt": "x", "stop": stop})).unwrap();
        let plain = completion_request(prompt, &defaults()).unwrap();
        let chat = chat_response(&answers, &ids(), &plain.prompts[0], CACHED).unwrap();
        let completion = completion_response(vec![chat], &ids());
        conforms(&spec.completion, "a completion", &wire(&serde_json::to_string(&completion).unwrap()))?;
    }
}

/// The validators are not vacuous: the shapes OpenAI clients reject are rejected here too.
#[test]
fn the_schemas_reject_what_clients_reject() {
    let spec = spec();
    let good = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": "hi"}, "logprobs": null, "finish_reason": null}]});
    assert!(spec.chat_chunk.is_valid(&good));
    for (pointer, bad) in [
        ("/object", json!("chat.completion")),
        ("/choices/0/finish_reason", json!("blacklist")),
        (
            "/choices/0/delta/tool_calls",
            json!([{"function": {"name": "f"}}]),
        ),
        ("/choices/0/delta/role", json!("function_in_progress")),
        ("/usage", json!({"prompt_tokens": 1})),
    ] {
        let mut chunk = good.clone();
        *chunk
            .pointer_mut(pointer.rsplit_once('/').unwrap().0)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .entry(pointer.rsplit_once('/').unwrap().1)
            .or_insert(Value::Null) = bad;
        assert!(
            !spec.chat_chunk.is_valid(&chunk),
            "{pointer} accepted: {chunk}"
        );
    }
    let completion = json!({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "text": "hi", "logprobs": null, "finish_reason": "tool_calls"}]});
    assert!(!spec.completion.is_valid(&completion));
}

/// Found by the properties above: token counts near `u32::MAX` (a misbehaving upstream) made the
/// sums overflow (a panic in debug builds, a wrapped total in release); they saturate.
#[test]
fn usage_sums_saturate() {
    let huge = gc::Usage {
        prompt_tokens: u32::MAX - 1,
        completion_tokens: 7,
        total_tokens: 5,
        precached_prompt_tokens: Some(u32::MAX),
        system_tokens: None,
    };
    assert_eq!(translate::usage(&huge, CACHED).total_tokens, u32::MAX);
    let combined = combined_usage([&huge, &huge], CACHED).unwrap();
    assert_eq!(combined.total_tokens, u32::MAX);
    let totals = translate::completions::total_usage([combined, combined]).unwrap();
    assert_eq!(
        (totals.prompt_tokens, totals.total_tokens),
        (u32::MAX, u32::MAX)
    );
    assert_eq!(
        totals.prompt_tokens_details.unwrap().cached_tokens,
        u32::MAX
    );
}
