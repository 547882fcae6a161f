//! Usage of every recorded GigaChat chat answer (../shared/gigachat-fixtures/cassettes), plain and
//! streamed, mapped the way the adapter maps it: OpenAI's `prompt_tokens` counts the cached tokens
//! GigaChat's leaves out, and the total follows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};

use gigachat::sse::SseDecoder;
use gigachat_types as gc;
use gigachat_types::CachedPromptTokens;
use openai::chat::ChatCompletionRequest;
use serde_json::{Value, json};
use translate::{
    ChatDefaults, ResolvedParts, ResponseIds, StreamTranslator, chat_request, combined_usage,
};

fn cassettes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/gigachat-fixtures/cassettes")
}

/// A recorded v1 chat answer's usage, by cassette file name.
struct Recorded {
    cassette: String,
    streamed: bool,
    usage: gc::Usage,
    /// For streams: the usage the stream translator reports at the end, as the adapter reads it.
    translated: Option<gc::Usage>,
}

fn plan() -> translate::ChatPlan {
    let request: ChatCompletionRequest = serde_json::from_value(json!({
        "messages": [{"role": "user", "content": "x"}], "stream": true,
        "stream_options": {"include_usage": true}
    }))
    .unwrap();
    let defaults = ChatDefaults {
        default_model: "GigaChat-2".into(),
        ..ChatDefaults::default()
    };
    chat_request(&request, &defaults, &ResolvedParts::new()).unwrap()
}

fn stream_usage(body: &str) -> (gc::Usage, gc::Usage) {
    let mut decoder = SseDecoder::new();
    decoder.feed(body.as_bytes());
    decoder.finish();
    let ids = ResponseIds {
        id: "chatcmpl-recorded".into(),
        created: 1,
    };
    let plan = plan();
    let mut translator = StreamTranslator::new(ids, "GigaChat".into(), 0, &plan);
    let mut recorded = None;
    while let Some(event) = decoder.next_event() {
        if event.data == "[DONE]" {
            break;
        }
        let chunk: gc::ChatChunk = serde_json::from_str(&event.data).unwrap();
        recorded = chunk.usage.or(recorded);
        translator.push(chunk);
    }
    (recorded.unwrap(), translator.final_usage(0))
}

fn recorded_chat_usages() -> Vec<Recorded> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(cassettes())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let cassette: serde_norway::Value =
            serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for interaction in cassette["interactions"].as_sequence().unwrap() {
            let uri = interaction["request"]["uri"].as_str().unwrap();
            let response = &interaction["response"];
            let ok = response["status"]["code"].as_u64() == Some(200);
            if !ok || !uri.ends_with("/v1/chat/completions") {
                continue;
            }
            let body = response["body"]["string"].as_str().unwrap();
            let cassette = path.file_name().unwrap().to_string_lossy().into_owned();
            let recorded = if body.trim_start().starts_with("data:") {
                let (usage, translated) = stream_usage(body);
                Recorded {
                    cassette,
                    streamed: true,
                    usage,
                    translated: Some(translated),
                }
            } else {
                let answer: gc::ChatCompletion = serde_json::from_str(body).unwrap();
                Recorded {
                    cassette,
                    streamed: false,
                    usage: answer.usage.unwrap(),
                    translated: None,
                }
            };
            out.push(recorded);
        }
    }
    out
}

#[test]
fn every_recorded_answer_maps_to_openai_usage_with_cached_tokens_in_the_prompt() {
    let recorded = recorded_chat_usages();
    assert!(recorded.len() >= 8, "only {} chat answers", recorded.len());
    assert!(recorded.iter().any(|r| r.streamed));
    let mut with_cache = 0;
    for answer in &recorded {
        let what = &answer.cassette;
        let gigachat = answer.usage;
        let cached = gigachat.precached_prompt_tokens.unwrap_or(0);
        with_cache += usize::from(cached > 0);
        // The recorded fact the rule rests on: GigaChat's total leaves the cached tokens out.
        assert_eq!(
            gigachat.total_tokens,
            gigachat.prompt_tokens + gigachat.completion_tokens,
            "{what}"
        );
        let usages = std::iter::once(gigachat).chain(answer.translated);
        for usage in usages {
            let openai = combined_usage([&usage], CachedPromptTokens::default()).unwrap();
            assert_eq!(
                openai.prompt_tokens,
                gigachat.prompt_tokens + cached,
                "{what}"
            );
            assert_eq!(openai.prompt_tokens_details.unwrap().cached_tokens, cached);
            assert_eq!(openai.completion_tokens, gigachat.completion_tokens);
            assert_eq!(
                openai.total_tokens,
                gigachat.total_tokens + cached,
                "{what}"
            );
        }
    }
    assert!(
        with_cache >= 4,
        "only {with_cache} answers with cached tokens"
    );
}

#[test]
fn test_chat_simple_and_test_stream_simple_in_numbers() {
    let recorded = recorded_chat_usages();
    let find = |name: &str| {
        recorded
            .iter()
            .find(|r| r.cassette == name)
            .unwrap_or_else(|| panic!("{name} not recorded"))
    };
    let numbers = |usage: &gc::Usage| {
        let openai = translate::usage(usage, CachedPromptTokens::default());
        (
            openai.prompt_tokens,
            openai.completion_tokens,
            openai.total_tokens,
            openai.prompt_tokens_details.unwrap().cached_tokens,
        )
    };
    // 17 + 3 = 20 with 2 cached → OpenAI prompt 19 (2 of them cached), total 22.
    assert_eq!(
        numbers(&find("test_chat_simple.yaml").usage),
        (19, 3, 22, 2)
    );
    // 17 + 42 = 59 with 2 cached, in the stream's last chunk.
    let stream = find("test_stream_simple.yaml");
    assert_eq!(numbers(&stream.usage), (19, 42, 61, 2));
    assert_eq!(numbers(&stream.translated.unwrap()), (19, 42, 61, 2));
    // With `GIGACHAT_PROMPT_TOKENS_INCLUDE_CACHED=true`, GigaChat's numbers pass through.
    let included = translate::usage(
        &find("test_chat_simple.yaml").usage,
        CachedPromptTokens::Included,
    );
    assert_eq!((included.prompt_tokens, included.total_tokens), (17, 20));
}

#[test]
fn embeddings_usage_has_no_cached_part() {
    // Embedding answers carry only per-item `prompt_tokens`: the cached-token rule has nothing to
    // change there.
    let path = cassettes().join("../data/embeddings.json");
    let answer: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for item in answer["data"].as_array().unwrap() {
        let usage = item["usage"].as_object().unwrap();
        assert_eq!(usage.keys().collect::<Vec<_>>(), ["prompt_tokens"]);
    }
}
