//! Reasoning through the adapter against the emulator (which answers reasoning when asked, and
//! `<think>…</think>` text for a `think-tags:` prompt): efforts and budgets sent upstream from the
//! three doors, chat `reasoning_content` (whole and streamed, `<think>` split out), Responses
//! `reasoning` items and summary events (spec-valid, stored and continued), Anthropic `thinking`
//! blocks with signatures (whole and streamed), and reasoning history that never fails a request.

use serde_json::{Value, json};

use super::common::{Harness, start};
use crate::messages::assert_message;
use crate::messages_stream::{accumulated, comparable as comparable_message, request, whole};
use crate::openai_spec::spec;
use crate::responses_stream::{
    assert_numbered_with_active_items, comparable as comparable_response, stream,
};

/// The reasoning text of the emulator's answers.
fn assert_reasoning_words(text: &str) {
    assert!(text.split_whitespace().count() >= 2, "{text:?}");
}

#[tokio::test]
async fn chat_reasoning_effort_and_budget_reach_gigachat_and_come_back() {
    let harness = start().await;
    let (status, _, body) = harness
        .chat(json!({"model": "GigaChat-2-Max",
            "messages": [{"role": "user", "content": "Привет"}],
            "reasoning": {"effort": "high", "max_tokens": 8}}))
        .await;
    assert_eq!(status, 200, "{body}");
    let message = &body["choices"][0]["message"];
    let reasoning = message["reasoning_content"].as_str().unwrap();
    assert_reasoning_words(reasoning);
    assert!(!message["content"].as_str().unwrap().is_empty(), "{body}");
    // GigaChat reports no reasoning count: none is made up.
    assert_eq!(
        body["usage"]["completion_tokens_details"]["reasoning_tokens"],
        0
    );

    // `none` (Codex's default) asks for nothing.
    let (status, _, body) = harness
        .chat(json!({"messages": [{"role": "user", "content": "Привет"}],
            "reasoning_effort": "none"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["choices"][0]["message"]
            .get("reasoning_content")
            .is_none()
    );

    let sent = harness.upstream_chat_bodies();
    assert_eq!(sent[0]["reasoning_effort"], "high");
    assert_eq!(sent[0]["reasoning_max_tokens"], 8);
    assert!(sent[1].get("reasoning_effort").is_none(), "{}", sent[1]);
    assert!(sent[1].get("reasoning_max_tokens").is_none(), "{}", sent[1]);
}

#[tokio::test]
async fn think_tags_become_reasoning_content_whole_and_streamed() {
    let harness = start().await;
    let ask = json!({"messages": [{"role": "user", "content": "think-tags: сколько будет 2+2?"}]});
    let (status, _, body) = harness.chat(ask.clone()).await;
    assert_eq!(status, 200, "{body}");
    let message = &body["choices"][0]["message"];
    let content = message["content"].as_str().unwrap();
    let reasoning = message["reasoning_content"].as_str().unwrap();
    assert!(!content.contains("think>") && !content.is_empty(), "{body}");
    assert_reasoning_words(reasoning);
    assert!(!reasoning.contains("think>"), "{body}");

    let mut streamed = ask;
    streamed["stream"] = json!(true);
    let (status, events) = harness.stream(streamed).await;
    assert_eq!(status, 200);
    let (mut text, mut thoughts) = (String::new(), String::new());
    for event in events.iter().filter(|e| *e != "[DONE]") {
        let chunk: Value = serde_json::from_str(event).unwrap();
        let delta = &chunk["choices"][0]["delta"];
        text.push_str(delta["content"].as_str().unwrap_or_default());
        thoughts.push_str(delta["reasoning_content"].as_str().unwrap_or_default());
    }
    assert_eq!(text, content);
    assert_eq!(thoughts, reasoning);
}

#[tokio::test]
async fn chat_streams_reasoning_content_before_the_answer() {
    let harness = start().await;
    let (status, events) = harness
        .stream(json!({"messages": [{"role": "user", "content": "Привет"}],
            "reasoning_effort": "low", "stream": true}))
        .await;
    assert_eq!(status, 200);
    let deltas: Vec<Value> = events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str::<Value>(e).unwrap()["choices"][0]["delta"].clone())
        .collect();
    let first_text = deltas
        .iter()
        .position(|d| d["content"].as_str().is_some_and(|t| !t.is_empty()))
        .unwrap();
    let reasoning: Vec<usize> = (0..deltas.len())
        .filter(|&i| deltas[i]["reasoning_content"].is_string())
        .collect();
    assert!(!reasoning.is_empty(), "{events:?}");
    assert!(reasoning.iter().all(|&i| i < first_text), "{events:?}");
}

/// `reasoning` of a Responses answer: the first item, one summary part with the text.
fn reasoning_item(response: &Value) -> &Value {
    let item = &response["output"][0];
    assert_eq!(item["type"], "reasoning", "{response}");
    assert!(item["id"].as_str().unwrap().starts_with("rs_"), "{item}");
    assert_eq!(item["summary"][0]["type"], "summary_text", "{item}");
    assert_reasoning_words(item["summary"][0]["text"].as_str().unwrap());
    assert_eq!(response["output"][1]["type"], "message", "{response}");
    item
}

async fn create_response(harness: &Harness, body: Value) -> Value {
    let response = harness.post("/v1/responses", body).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    spec().assert_valid("Response", &body);
    body
}

#[tokio::test]
async fn responses_answer_a_reasoning_item_kept_and_continued() {
    let harness = start().await;
    let first = create_response(
        &harness,
        json!({"model": "GigaChat-2-Max", "input": "Привет", "reasoning": {"effort": "medium"}}),
    )
    .await;
    let item = reasoning_item(&first).clone();
    assert_eq!(
        first["usage"]["output_tokens_details"]["reasoning_tokens"],
        0
    );

    // Stored with its reasoning item, and continued: the reasoning never reaches GigaChat.
    let id = first["id"].as_str().unwrap();
    let stored: Value = harness
        .get(&format!("/v1/responses/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["output"][0], item);
    let second = create_response(
        &harness,
        json!({"previous_response_id": id, "input": "Ещё раз"}),
    )
    .await;
    assert_eq!(second["status"], "completed");
    // The continued response's input items hold the reasoning item as it was answered.
    let items: Value = harness
        .get(&format!(
            "/v1/responses/{}/input_items?order=asc",
            second["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kept = items["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "reasoning")
        .unwrap();
    spec().assert_valid("ReasoningItem", kept);
    assert_eq!(
        (&kept["id"], &kept["summary"]),
        (&item["id"], &item["summary"])
    );
    // The item sent back by hand (as clients without storage do) is dropped the same way.
    let third = create_response(
        &harness,
        json!({"input": [{"role": "user", "content": "Привет"}, item, first["output"][1],
            {"role": "user", "content": "Ещё раз"}], "store": false}),
    )
    .await;
    assert_eq!(third["status"], "completed");
    let sent = harness.upstream_chat_bodies();
    for body in &sent[1..] {
        let roles: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "assistant", "user"], "{body}");
        assert!(body.get("reasoning_effort").is_none(), "{body}");
    }
    assert_eq!(sent[0]["reasoning_effort"], "medium");
}

#[tokio::test]
async fn responses_stream_reasoning_summary_events_first() {
    let harness = start().await;
    let body = json!({"model": "GigaChat-2-Max", "input": "think-tags: Привет", "stream": true});
    let (status, _, events) = stream(&harness, body.clone()).await;
    assert_eq!(status, 200);
    assert_numbered_with_active_items(&events);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let deltas = kinds
        .iter()
        .filter(|k| **k == "response.reasoning_summary_text.delta")
        .count();
    assert!(deltas >= 1, "{kinds:?}");
    let expected_start = [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
    ];
    assert_eq!(kinds[..5], expected_start, "{kinds:?}");
    let after_deltas = 4 + deltas;
    assert_eq!(
        kinds[after_deltas..after_deltas + 4],
        [
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
        ],
        "{kinds:?}"
    );
    let completed = events.last().unwrap();
    assert_eq!(completed["type"], "response.completed");
    let item = reasoning_item(&completed["response"]);
    assert_eq!(events[after_deltas + 2]["item"], *item);
    let streamed: String = events
        .iter()
        .filter(|e| e["type"] == "response.reasoning_summary_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(item["summary"][0]["text"], streamed.as_str());

    // The same answer as the non-streamed one.
    let mut plain = body;
    plain["stream"] = json!(false);
    let answer = create_response(&harness, plain).await;
    assert_eq!(
        comparable_response(&completed["response"]),
        comparable_response(&answer)
    );
}

#[tokio::test]
async fn anthropic_thinking_asks_gigachat_with_its_budget_and_answers_a_signed_block() {
    let harness = start().await;
    let ask = |thinking: Value| {
        json!({"model": "GigaChat-2-Max", "max_tokens": 20000, "thinking": thinking,
            "messages": [{"role": "user", "content": "Привет"}]})
    };
    let (status, _, body) = harness
        .messages(ask(json!({"type": "enabled", "budget_tokens": 2048})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_message(&body);
    let block = &body["content"][0];
    assert_eq!(block["type"], "thinking", "{body}");
    assert_reasoning_words(block["thinking"].as_str().unwrap());
    assert_eq!(body["content"][1]["type"], "text", "{body}");

    for thinking in [
        json!({"type": "adaptive"}),
        json!({"type": "disabled"}),
        json!({"type": "enabled", "budget_tokens": 20000}),
    ] {
        let (status, _, body) = harness.messages(ask(thinking)).await;
        assert_eq!(status, 200, "{body}");
    }
    let sent = harness.upstream_chat_bodies();
    let asked: Vec<(Value, Value)> = sent
        .iter()
        .map(|b| {
            (
                b["reasoning_effort"].clone(),
                b["reasoning_max_tokens"].clone(),
            )
        })
        .collect();
    assert_eq!(
        asked,
        [
            (json!("low"), json!(2048)),
            (json!("medium"), Value::Null),
            (Value::Null, Value::Null),
            (json!("high"), json!(20000)),
        ]
    );

    // The block sent back (signature and all, and a redacted one) is dropped, never refused.
    let (status, _, body) = harness
        .messages(
            json!({"model": "GigaChat-2-Max", "max_tokens": 100, "messages": [
            {"role": "user", "content": "Привет"},
            {"role": "assistant", "content": [block, {"type": "redacted_thinking", "data": "xyz"},
                {"type": "text", "text": "Здравствуйте"}]},
            {"role": "user", "content": "Ещё раз"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let last = harness.upstream_chat_bodies().pop().unwrap();
    assert_eq!(last["messages"][1]["content"], "Здравствуйте", "{last}");

    let (status, _, body) = harness.messages(ask(json!({"type": "sometimes"}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("thinking"),
        "{body}"
    );
}

#[tokio::test]
async fn anthropic_streams_a_thinking_block_signed_before_it_stops() {
    let harness = start().await;
    let mut body = request("think-tags: Привет");
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let (status, _, events) = crate::messages_stream::stream(&harness, &body).await;
    assert_eq!(status, 200);
    let streamed = accumulated(&events);
    assert_eq!(streamed["content"][0]["type"], "thinking", "{streamed}");
    assert_eq!(streamed["content"][1]["type"], "text", "{streamed}");
    assert!(
        !streamed["content"][1]["text"]
            .as_str()
            .unwrap()
            .contains("think>")
    );
    let (status, _, answer) = harness.messages(whole(body)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(comparable_message(&streamed), comparable_message(&answer));
}
