//! Streaming chat: chunk invariants, usage, stop across chunks, n interleaving, cancellation, failures.

use std::time::Duration;

use async_openai::types::chat::CreateChatCompletionStreamResponse;
use futures_util::StreamExt;
use gigachat::Contract;
use gigachat_emulator::{EmulatorConfig, Fault};
use serde_json::{Value, json};

use super::common::{Options, start, start_with, user};

fn stream_request(text: &str, include_usage: Option<bool>) -> Value {
    let mut request = user(text);
    request["stream"] = json!(true);
    if let Some(include) = include_usage {
        request["stream_options"] = json!({"include_usage": include});
    }
    request
}

fn chunks(events: &[String]) -> Vec<Value> {
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
    events[..events.len() - 1]
        .iter()
        .map(|e| {
            let _: CreateChatCompletionStreamResponse = serde_json::from_str(e).unwrap();
            serde_json::from_str(e).unwrap()
        })
        .collect()
}

fn text_of(chunks: &[Value], index: u64) -> String {
    chunks
        .iter()
        .flat_map(|c| c["choices"].as_array().unwrap().iter())
        .filter(|choice| choice["index"] == index)
        .filter_map(|choice| choice["delta"]["content"].as_str())
        .collect()
}

#[tokio::test]
async fn chunks_keep_id_role_first_finish_last_and_usage_as_asked() {
    let harness = start().await;
    let (status, events) = harness.stream(stream_request("Привет", Some(true))).await;
    assert_eq!(status, 200);
    let chunks = chunks(&events);
    let (usage_chunk, content) = chunks.split_last().unwrap();
    let id = &content[0]["id"];
    for chunk in content {
        assert_eq!(&chunk["id"], id);
        assert_eq!(chunk["created"], content[0]["created"]);
        assert_eq!(chunk["model"], content[0]["model"]);
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert!(chunk["usage"].is_null() && chunk.get("usage").is_some());
    }
    assert_eq!(content[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        content[1..]
            .iter()
            .all(|c| c["choices"][0]["delta"].get("role").is_none())
    );
    let (last, before) = content.split_last().unwrap();
    assert!(
        before
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null())
    );
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(&usage_chunk["id"], id);
    assert!(usage_chunk["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    let (_, _, whole) = harness.chat(user("Привет")).await;
    assert_eq!(
        text_of(content, 0),
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
}

#[tokio::test]
async fn no_usage_unless_asked_and_raw_utf8() {
    let harness = start().await;
    let response = harness
        .post(
            "/v1/chat/completions",
            stream_request("Привет", Some(false)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let raw = response.text().await.unwrap();
    assert!(!raw.contains("\"usage\""), "{raw}");
    assert!(!raw.contains("\\u04"), "Cyrillic must be raw UTF-8");
    assert!(raw.ends_with("data: [DONE]\n\n"));
    let (_, events) = harness.stream(stream_request("Привет", None)).await;
    assert!(events.iter().all(|e| !e.contains("\"usage\"")));
}

#[tokio::test]
async fn stop_sequence_spanning_chunks_ends_the_stream_and_the_upstream_call() {
    let harness = start_with(Options {
        emulator: EmulatorConfig {
            answer_words: 60,
            words_per_event: 2,
            event_gap: Duration::from_millis(15),
            ..EmulatorConfig::default()
        },
        ..Options::default()
    })
    .await;
    let (_, events) = harness.stream(stream_request("stop me", None)).await;
    let full = chunks(&events);
    let piece = |i: usize| {
        full[i]["choices"][0]["delta"]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (a, b) = (piece(2), piece(3));
    // The last 3 characters of one chunk and the first 3 of the next.
    let tail: String = a
        .chars()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let head: String = b.chars().take(3).collect();
    let stop = format!("{tail}{head}");
    let whole = text_of(&full, 0);
    let expected = whole[..whole.find(&stop).unwrap()].to_owned();

    let mut request = stream_request("stop me", Some(true));
    request["stop"] = json!(stop);
    let (_, events) = harness.stream(request).await;
    let cut = chunks(&events);
    assert_eq!(text_of(&cut, 0), expected);
    let finishes: Vec<&Value> = cut
        .iter()
        .flat_map(|c| c["choices"].as_array().unwrap())
        .filter(|c| !c["finish_reason"].is_null())
        .collect();
    assert_eq!(finishes.len(), 1);
    assert_eq!(finishes[0]["finish_reason"], "stop");
    assert!(
        cut.last().unwrap()["usage"].is_object(),
        "usage chunk still sent"
    );

    // The upstream stream was cancelled well before its end: 30 events 15 ms apart would all
    // have been sent by the time this reads the count.
    let total = harness.upstream("/chat/completions")[0]
        .stream_events_sent
        .unwrap();
    let stopped = events_sent_by_then(&harness, 1, Duration::from_millis(450)).await;
    assert!(stopped < total, "upstream sent {stopped} of {total} events");
}

/// How many events the emulator sent on upstream call `index`, read twice `whole_stream` from now:
/// the count grows while a stream runs, so only a stream that was cancelled stays short of its end.
async fn events_sent_by_then(
    harness: &crate::common::Harness,
    index: usize,
    whole_stream: Duration,
) -> usize {
    tokio::time::sleep(whole_stream * 2).await;
    harness.upstream("/chat/completions")[index]
        .stream_events_sent
        .expect("the emulator logged no stream")
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_stream() {
    let harness = start_with(Options {
        emulator: EmulatorConfig {
            answer_words: 200,
            words_per_event: 2,
            event_gap: Duration::from_millis(10),
            ..EmulatorConfig::default()
        },
        ..Options::default()
    })
    .await;
    let response = harness
        .post("/v1/chat/completions", stream_request("long", None))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    body.next().await.unwrap().unwrap();
    drop(body);
    // 100 events 10 ms apart: uncancelled, all of them would be out by the time this looks.
    let sent = events_sent_by_then(&harness, 0, Duration::from_secs(1)).await;
    assert!(
        sent < 50,
        "upstream kept streaming after the client left: {sent} events"
    );
}

#[tokio::test]
async fn n_streams_interleave_with_their_own_indexes() {
    let harness = start_with(Options {
        emulator: EmulatorConfig {
            event_gap: Duration::from_millis(5),
            ..EmulatorConfig::default()
        },
        ..Options::default()
    })
    .await;
    let mut request = stream_request("x", Some(true));
    request["n"] = json!(2);
    let (_, events) = harness.stream(request).await;
    let chunks = chunks(&events);
    for index in [0, 1] {
        let of_choice: Vec<&Value> = chunks
            .iter()
            .flat_map(|c| c["choices"].as_array().unwrap())
            .filter(|c| c["index"] == index)
            .collect();
        assert_eq!(of_choice[0]["delta"]["role"], "assistant");
        assert_eq!(
            of_choice
                .iter()
                .filter(|c| !c["finish_reason"].is_null())
                .count(),
            1
        );
        assert!(!text_of(&chunks, index as u64).is_empty());
    }
    let ids: std::collections::HashSet<&Value> = chunks.iter().map(|c| &c["id"]).collect();
    assert_eq!(ids.len(), 1);
    let usage = &chunks.last().unwrap()["usage"];
    assert!(usage["completion_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn failure_before_the_first_event_is_an_http_error() {
    let harness = start().await;
    harness.emulator.faults().push(Fault::Status {
        status: 503,
        retry_after: None,
        times: 1,
    });
    let response = harness
        .post("/v1/chat/completions", stream_request("x", None))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn failure_mid_stream_is_one_error_event_then_the_end() {
    let harness = start_with(Options {
        emulator: EmulatorConfig {
            answer_words: 60,
            event_gap: Duration::from_millis(20),
            ..EmulatorConfig::default()
        },
        ..Options::default()
    })
    .await;
    harness.emulator.faults().push(Fault::CutStreamAfter {
        events: 3,
        times: 1,
    });
    let (status, events) = harness.stream(stream_request("x", Some(true))).await;
    assert_eq!(status, 200);
    let last = events.last().unwrap();
    assert_ne!(last, "[DONE]", "{events:?}");
    let error: Value = serde_json::from_str(last).unwrap();
    assert!(error["error"]["message"].is_string(), "{last}");
    assert!(events[..events.len() - 1].iter().all(|e| {
        serde_json::from_str::<Value>(e)
            .unwrap()
            .get("error")
            .is_none()
    }));
    assert_eq!(
        harness.upstream("/chat/completions").len(),
        1,
        "never replayed"
    );
}

/// A natural end answers the client at once and still reads GigaChat's stream to its end (in the
/// background): the upstream call is not cancelled, and even an HTTP/1.1 connection (which a
/// half-read body would close) serves the next call.
#[tokio::test]
async fn a_finished_stream_is_read_to_its_end_upstream() {
    let harness = start_with(Options {
        emulator: EmulatorConfig {
            tls: false,
            answer_words: 24,
            words_per_event: 3,
            // `[DONE]` comes 30 ms after the last answer event: a dropped stream would miss it.
            event_gap: Duration::from_millis(30),
            ..EmulatorConfig::default()
        },
        ..Options::default()
    })
    .await;
    for call in 0..2 {
        let (status, events) = harness.stream(stream_request("hello", None)).await;
        assert_eq!(status, 200);
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        // v1: 8 text events of 3 words, the event with finish_reason and usage, then `[DONE]`;
        // v2: 8 deltas, then `response.message.done` with them (no `[DONE]`, as recorded).
        let sent = events_sent_by_then(&harness, call, Duration::from_millis(300)).await;
        let whole = match harness.contract {
            Contract::V1 => 10,
            Contract::V2 => 9,
        };
        assert_eq!(sent, whole);
    }
    let calls = harness.upstream("/chat/completions");
    assert_eq!(calls[0].http_version, "HTTP/1.1");
    assert_eq!(
        calls[0].connection, calls[1].connection,
        "connection not reused"
    );
}
