//! v2 stream variants and in-band errors (`fail-inband:`) on both contracts, v1 call ids.

use gigachat_emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::common::{Env, hello, keys, sse_events, v2_simple};

fn streaming(text: &str) -> Value {
    let mut body = v2_simple(text);
    body["stream"] = json!(true);
    body
}

#[tokio::test]
async fn unnamed_events_done_marker_and_string_created_at() {
    let env = Env::with(EmulatorConfig {
        v2_stream_unnamed_events: true,
        v2_stream_done_marker: true,
        v2_created_at_string: true,
        ..EmulatorConfig::default()
    })
    .await;
    let text = env
        .post_v2(&streaming("Count to 3"))
        .await
        .text()
        .await
        .unwrap();
    let events = sse_events(&text);
    assert!(events.iter().all(|(name, _)| name.is_none()), "{text}");
    let (last, rest) = events.split_last().unwrap();
    assert_eq!(last.1, "[DONE]");
    let done: Value = serde_json::from_str(&rest.last().unwrap().1).unwrap();
    assert_eq!(done["finish_reason"], "stop");
    let first: Value = serde_json::from_str(&rest[0].1).unwrap();
    let created = first["created_at"].as_str().unwrap();
    assert!(created.parse::<u64>().is_ok(), "{created}");
    let answer: Value = env.post_v2(&v2_simple("hi")).await.json().await.unwrap();
    assert!(answer["created_at"].is_string());

    // The defaults are the recorded form.
    let env = Env::start().await;
    let text = env
        .post_v2(&streaming("Count to 3"))
        .await
        .text()
        .await
        .unwrap();
    let events = sse_events(&text);
    assert!(events.iter().all(|(name, _)| name.is_some()));
    assert_ne!(events.last().unwrap().1, "[DONE]");
    let first: Value = serde_json::from_str(&events[0].1).unwrap();
    assert!(first["created_at"].is_u64());
}

#[tokio::test]
async fn call_arguments_stream_whole_or_in_fragments_keyed_by_id() {
    let tools = json!([{"functions":{"specifications":[
        {"name":"f","parameters":{"type":"object","properties":{"city":{"type":"string"}}}},
        {"name":"g","parameters":{"type":"object","properties":{"n":{"type":"integer"}}}}]}}]);
    let mut body = streaming(r#"call:f args:{"city":"Kazan"} call:g args:{"n":7}"#);
    body["tools"] = tools;
    body["model_options"] = json!({"parallel_tool_calls": true});
    for fragmented in [false, true] {
        let env = Env::with(EmulatorConfig {
            v2_call_argument_fragments: fragmented,
            ..EmulatorConfig::default()
        })
        .await;
        let text = env.post_v2(&body).await.text().await.unwrap();
        let events = sse_events(&text);
        let (done, deltas) = events.split_last().unwrap();
        let done: Value = serde_json::from_str(&done.1).unwrap();
        assert_eq!(done["finish_reason"], "function_call");
        let parts: Vec<Value> = deltas
            .iter()
            .map(|(_, data)| {
                let chunk: Value = serde_json::from_str(data).unwrap();
                chunk["messages"][0]["content"][0]["function_call"].clone()
            })
            .collect();
        let state_ids = deltas
            .iter()
            .filter(|(_, data)| data.contains("tool_state_id"))
            .count();
        assert_eq!(state_ids, 1, "one state id, on the first delta");
        if !fragmented {
            assert_eq!(parts.len(), 2);
            assert_eq!(parts[0]["arguments"], json!({"city":"Kazan"}));
            assert_eq!(parts[1]["arguments"], json!({"n":7}));
            continue;
        }
        assert!(parts.len() > 2, "{parts:?}");
        let mut calls: Vec<(String, String, String)> = Vec::new();
        for part in &parts {
            let id = part["id"].as_str().unwrap().to_owned();
            let piece = part["arguments"].as_str().unwrap();
            match calls.iter_mut().find(|(known, _, _)| *known == id) {
                Some((_, _, arguments)) => {
                    assert!(
                        part.get("name").is_none(),
                        "only the first fragment has the name"
                    );
                    arguments.push_str(piece);
                }
                None => {
                    let name = part["name"].as_str().unwrap().to_owned();
                    calls.push((id, name, piece.to_owned()));
                }
            }
        }
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].1, "f");
        assert_eq!(
            serde_json::from_str::<Value>(&calls[0].2).unwrap(),
            json!({"city":"Kazan"})
        );
        assert_eq!(
            serde_json::from_str::<Value>(&calls[1].2).unwrap(),
            json!({"n":7})
        );
    }
}

fn assert_failed_done(done: &Value) {
    assert_eq!(done["finish_reason"], "error");
    assert_eq!(done["usage"]["input_tokens"], 0);
    assert_eq!(done["usage"]["output_tokens"], 0);
    assert_eq!(done["usage"]["total_tokens"], 0);
    assert!(done["error_details"]["message"].is_string());
}

#[tokio::test]
async fn v2_in_band_errors_with_and_without_the_error_event() {
    for error_event in [false, true] {
        let env = Env::with(EmulatorConfig {
            v2_stream_error_event: error_event,
            ..EmulatorConfig::default()
        })
        .await;
        let response = env.post_v2(&streaming("fail-inband: go")).await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        let events = sse_events(&text);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
        let (last, before) = names.split_last().unwrap();
        assert_eq!(*last, "response.message.done");
        assert_eq!(before[0], "response.message.delta", "some text first");
        assert_eq!(before.contains(&"response.error"), error_event, "{names:?}");
        if error_event {
            let error: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
            assert!(error["error"]["message"].is_string());
        }
        assert_failed_done(&serde_json::from_str(&events.last().unwrap().1).unwrap());
    }
    let env = Env::start().await;
    let response = env.post_v2(&v2_simple("fail-inband: go")).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        keys(&answer),
        [
            "model",
            "created_at",
            "messages",
            "finish_reason",
            "usage",
            "error_details"
        ]
    );
    assert_failed_done(&answer);
}

#[tokio::test]
async fn v1_in_band_error_finishes_with_error_and_no_call() {
    let env = Env::start().await;
    let mut body = hello();
    body["messages"][0]["content"] = json!("fail-inband: go");
    body["stream"] = json!(true);
    let text = env
        .post("/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    let events = sse_events(&text);
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let finish: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "error");
    assert!(finish["choices"][0]["delta"].get("function_call").is_none());
    assert!(finish["error_details"].is_object());
    assert_eq!(finish["usage"]["total_tokens"], 0);
    let first: Value = serde_json::from_str(&events[0].1).unwrap();
    assert!(
        !first["choices"][0]["delta"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn v1_call_ids_are_optional() {
    let tools = json!([{"name":"f","parameters":{"type":"object","properties":{}}}]);
    let mut body = hello();
    body["messages"][0]["content"] = json!("call:f");
    body["functions"] = tools;
    let env = Env::start().await;
    let answer: Value = env
        .post("/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        answer["choices"][0]["message"]["function_call"]
            .get("id")
            .is_none()
    );
    let env = Env::with(EmulatorConfig {
        v1_function_call_ids: true,
        ..EmulatorConfig::default()
    })
    .await;
    let answer: Value = env
        .post("/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    let call = &answer["choices"][0]["message"]["function_call"];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    // The id comes back in the history and is accepted.
    let mut next = body.clone();
    let messages = next["messages"].as_array_mut().unwrap();
    messages.push(json!({"role":"assistant","content":"","function_call":call}));
    messages.push(json!({"role":"function","name":"f","content":"{\"ok\":true}"}));
    let response = env.post("/chat/completions", &next).await;
    assert_eq!(response.status(), 200);
}
