//! Every recording of the real service in `../shared/gigachat-fixtures/` parses into the client's types.
//!
//! The test walks the folder, so a new fixture is covered (or fails loudly until it is mapped).
//! JSON response bodies are re-compacted first, as the cassette scrubber re-serialized them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use gigachat::sse::SseDecoder;
use gigachat::types::assistants::{AssistantList, CreatedAssistant, DeletedAssistantItem};
use gigachat::types::threads::{ThreadList, ThreadMessageRun, ThreadMessages, ThreadRun};
use gigachat::types::v2::ChatV2Response;
use gigachat::types::*;
use gigachat::{ApiError, ErrorBodyKind};
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/gigachat-fixtures")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Parses `text` as `T`, then checks that serializing `T` back loses no field of the original.
fn parse_lossless<T: DeserializeOwned + serde::Serialize>(text: &str, what: &str) -> T {
    let parsed: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"));
    let original: Value = serde_json::from_str(text).unwrap();
    let again = serde_json::to_value(&parsed).unwrap();
    assert_subset(&original, &again, what, "$");
    parsed
}

/// Every key and value of `original` is present in `again` (numbers compared as f64).
fn assert_subset(original: &Value, again: &Value, what: &str, path: &str) {
    match (original, again) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let other = b
                    .get(key)
                    .unwrap_or_else(|| panic!("{what}: field {path}.{key} was dropped"));
                assert_subset(value, other, what, &format!("{path}.{key}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{what}: {path} length");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_subset(x, y, what, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-6 * x.abs().max(1.0),
                "{what}: {path} {x} != {y}"
            );
        }
        (a, b) => assert_eq!(a, b, "{what}: {path}"),
    }
}

fn sse_data(body: &str) -> Vec<(Option<String>, String)> {
    let mut decoder = SseDecoder::new();
    decoder.feed(body.as_bytes());
    decoder.finish();
    std::iter::from_fn(|| decoder.next_event())
        .map(|event| (event.event, event.data))
        .collect()
}

/// Parses a v1 `data:` stream: chunks until `[DONE]`, which must come last (when present).
fn parse_v1_stream(body: &str, what: &str) -> Vec<ChatChunk> {
    let events = sse_data(body);
    let mut chunks = Vec::new();
    for (i, (name, data)) in events.iter().enumerate() {
        assert!(name.is_none(), "{what}: v1 streams have no named events");
        if data == "[DONE]" {
            assert_eq!(i, events.len() - 1, "{what}: [DONE] must be last");
            break;
        }
        chunks.push(parse_lossless::<ChatChunk>(data, what));
    }
    assert!(!chunks.is_empty(), "{what}: no chunks");
    chunks
}

fn check_data_file(path: &Path) {
    let name = path.file_name().unwrap().to_str().unwrap();
    if name == "image.jpg" {
        assert_eq!(&std::fs::read(path).unwrap()[..3], b"\xFF\xD8\xFF");
        return;
    }
    let text = std::fs::read_to_string(path).unwrap();
    let what = path.display().to_string();
    match name {
        "chat.json" | "chat_function.json" => {
            parse_lossless::<ChatRequest>(&text, &what);
        }
        "chat_completion.json" | "chat_completion_function.json" | "chat_completion_json.json" => {
            let answer: ChatCompletion = parse_lossless(&text, &what);
            assert!(!answer.choices.is_empty());
        }
        "chat_completion.stream"
        | "post_thread_messages_run.stream"
        | "post_thread_messages_rerun.stream" => {
            let chunks = parse_v1_stream(&text, &what);
            assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
            assert!(
                chunks
                    .iter()
                    .any(|c| c.choices.iter().any(|ch| ch.finish_reason.is_some()))
            );
        }
        "ai_check.json" => {
            parse_lossless::<AiCheck>(&text, &what);
        }
        "balance.json" => {
            parse_lossless::<Balance>(&text, &what);
        }
        "convert_functions.json" => {
            parse_lossless::<ConvertedFunctions>(&text, &what);
        }
        "embeddings.json" => {
            parse_lossless::<EmbeddingsResponse>(&text, &what);
        }
        "get_file.json" | "post_files.json" => {
            parse_lossless::<FileObject>(&text, &what);
        }
        "get_files.json" => {
            parse_lossless::<FileList>(&text, &what);
        }
        "post_files_delete.json" => {
            parse_lossless::<DeletedFile>(&text, &what);
        }
        "model.json" => {
            parse_lossless::<Model>(&text, &what);
        }
        "models.json" => {
            parse_lossless::<ModelList>(&text, &what);
        }
        "tokens_count.json" => {
            parse_lossless::<Vec<TokensCount>>(&text, &what);
        }
        "get_assistants.json" => {
            parse_lossless::<AssistantList>(&text, &what);
        }
        "post_assistants.json" => {
            parse_lossless::<CreatedAssistant>(&text, &what);
        }
        "post_assistant_delete.json" | "post_assistant_files_delete.json" => {
            parse_lossless::<DeletedAssistantItem>(&text, &what);
        }
        "post_assistant_modify.json" => {
            parse_lossless::<gigachat::types::assistants::Assistant>(&text, &what);
        }
        "get_threads.json" | "post_threads_retrieve.json" => {
            parse_lossless::<ThreadList>(&text, &what);
        }
        "get_threads_messages.json" | "post_threads_messages.json" => {
            parse_lossless::<ThreadMessages>(&text, &what);
        }
        "get_threads_run.json" | "post_threads_run.json" => {
            parse_lossless::<ThreadRun>(&text, &what);
        }
        "post_thread_messages_run.json" | "post_thread_messages_rerun.json" => {
            parse_lossless::<ThreadMessageRun>(&text, &what);
        }
        "post_threads_delete.txt" => assert!(text.is_empty(), "thread delete answers nothing"),
        other => panic!("fixture {other} is not mapped to a client type: add it to this test"),
    }
}

fn header<'a>(headers: &'a serde_norway::Value, name: &str) -> Option<&'a str> {
    headers.as_mapping()?.iter().find_map(|(key, value)| {
        key.as_str()
            .filter(|key| key.eq_ignore_ascii_case(name))
            .and_then(|_| value.as_sequence()?.first()?.as_str())
    })
}

/// Re-compacts a scrubbed JSON body into its real wire form.
fn compact(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .map(|value| value.to_string())
        .unwrap_or_else(|_| body.to_owned())
}

fn check_cassette(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let cassette: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let interactions = cassette["interactions"].as_sequence().unwrap();
    for (i, interaction) in interactions.iter().enumerate() {
        let what = format!("{} #{i}", path.display());
        let request = &interaction["request"];
        let response = &interaction["response"];
        let uri = request["uri"].as_str().unwrap();
        let status = response["status"]["code"].as_u64().unwrap() as u16;
        let body = response["body"]["string"].as_str().unwrap_or("");
        let content_type = header(&response["headers"], "content-type").unwrap_or("");
        let url_path = url::Url::parse(uri).unwrap().path().to_owned();
        if !(200..300).contains(&status) {
            let err = ApiError::from_parts(
                status,
                &reqwest::header::HeaderMap::new(),
                compact(body).as_bytes(),
            );
            assert_eq!(err.body_kind, ErrorBodyKind::Status, "{what}");
            assert!(!err.message.is_empty(), "{what}");
            continue;
        }
        let body = if content_type.starts_with("text/event-stream") {
            body.to_owned()
        } else {
            compact(body)
        };
        if url_path.ends_with("/oauth") || url_path.ends_with("/token") {
            let token: TokenResponse = serde_json::from_str(&body).unwrap();
            assert!(!token.access_token.is_empty(), "{what}");
            continue;
        }
        if let Some(request_body) = request["body"].as_str()
            && url_path == "/api/v1/chat/completions"
        {
            parse_lossless::<ChatRequest>(&compact(request_body), &format!("{what} request"));
        }
        match url_path.as_str() {
            "/api/v1/chat/completions" if content_type.starts_with("text/event-stream") => {
                let chunks = parse_v1_stream(&body, &what);
                let last = chunks.last().unwrap();
                assert!(last.usage.is_some(), "{what}: usage in the last chunk");
            }
            "/api/v1/chat/completions" => {
                parse_lossless::<ChatCompletion>(&body, &what);
            }
            "/api/v2/chat/completions" if content_type.starts_with("text/event-stream") => {
                let events = sse_data(&body);
                assert!(!events.is_empty(), "{what}");
                for (name, data) in events {
                    assert!(name.is_some(), "{what}: v2 events are named");
                    serde_json::from_str::<ChatV2Response>(&data)
                        .unwrap_or_else(|e| panic!("{what}: {e}\n{data}"));
                }
            }
            "/api/v2/chat/completions" => {
                serde_json::from_str::<ChatV2Response>(&body)
                    .unwrap_or_else(|e| panic!("{what}: {e}\n{body}"));
            }
            "/api/v1/embeddings" => {
                parse_lossless::<EmbeddingsResponse>(&body, &what);
            }
            "/api/v1/tokens/count" => {
                parse_lossless::<Vec<TokensCount>>(&body, &what);
            }
            "/api/v1/models" => {
                parse_lossless::<ModelList>(&body, &what);
            }
            model if model.starts_with("/api/v1/models/") => {
                parse_lossless::<Model>(&body, &what);
            }
            other => panic!("{what}: endpoint {other} is not mapped to a client type"),
        }
    }
    interactions.len()
}

#[test]
fn every_fixture_parses_into_client_types() {
    let mut files = Vec::new();
    walk(&fixtures_root(), &mut files);
    files.sort();
    let mut data_files = 0;
    let mut interactions = 0;
    for path in &files {
        if path.extension().is_some_and(|ext| ext == "yaml") {
            interactions += check_cassette(path);
        } else {
            check_data_file(path);
            data_files += 1;
        }
    }
    assert!(data_files >= 30, "only {data_files} data files found");
    assert!(interactions >= 70, "only {interactions} interactions found");
}

/// The evidence for `CachedPromptTokens::Excluded` in the v2 recordings: `input_tokens` equals
/// `input_tokens_details.prompt_tokens` even with cached tokens, and `total = input + output`.
#[test]
fn v2_recordings_leave_cached_tokens_out_of_input_tokens() {
    let mut files = Vec::new();
    walk(&fixtures_root().join("cassettes"), &mut files);
    let (mut checked, mut cached) = (0, 0);
    for path in files
        .iter()
        .filter(|p| p.to_string_lossy().contains("primary"))
    {
        let cassette: serde_norway::Value =
            serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for interaction in cassette["interactions"].as_sequence().unwrap() {
            let body = interaction["response"]["body"]["string"]
                .as_str()
                .unwrap_or("");
            let payloads: Vec<String> = if body.trim_start().starts_with('{') {
                vec![body.to_owned()]
            } else {
                sse_data(body).into_iter().map(|(_, data)| data).collect()
            };
            for payload in payloads {
                let Ok(answer) = serde_json::from_str::<ChatV2Response>(&payload) else {
                    continue;
                };
                let Some(usage) = answer.usage else { continue };
                let details = usage.input_tokens_details.unwrap();
                assert_eq!(
                    usage.input_tokens,
                    details.prompt_tokens,
                    "{}",
                    path.display()
                );
                assert_eq!(
                    usage.total_tokens,
                    usage.input_tokens + usage.output_tokens,
                    "{}",
                    path.display()
                );
                checked += 1;
                cached += usize::from(details.cached_tokens > 0);
            }
        }
    }
    assert!(checked >= 6, "only {checked} v2 usages");
    assert!(cached >= 2, "only {cached} v2 usages with cached tokens");
}
