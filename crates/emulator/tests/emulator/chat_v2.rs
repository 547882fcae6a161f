//! The v2 "primary" chat contract: parts, tools, tool state ids, named SSE events.

use serde_json::{Value, json};

use crate::common::{Env, keys};

fn simple(text: &str) -> Value {
    json!({"model":"GigaChat-3-Ultra","messages":[{"content":[{"text":text}],"role":"user"}]})
}

#[tokio::test]
async fn v2_text_answer_has_the_recorded_shape() {
    let env = Env::start().await;
    let response = env.post_v2(&simple("Say 'Hello' and nothing else")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        keys(&body),
        ["model", "created_at", "messages", "finish_reason", "usage"]
    );
    assert_eq!(body["model"], "GigaChat-3-Ultra:32.3.7.3");
    assert_eq!(keys(&body["messages"][0]), ["role", "content"]);
    assert!(body["messages"][0]["content"][0]["text"].is_string());
    assert_eq!(
        keys(&body["usage"]),
        [
            "input_tokens",
            "input_tokens_details",
            "output_tokens",
            "total_tokens"
        ]
    );
    assert_eq!(
        keys(&body["usage"]["input_tokens_details"]),
        ["prompt_tokens", "cached_tokens"]
    );
}

#[tokio::test]
async fn v2_stream_uses_named_events_without_done() {
    let env = Env::start().await;
    let mut body = simple("Count from 1 to 3");
    body["stream"] = json!(true);
    let response = env.post_v2(&body).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    assert!(!text.contains("[DONE]"));
    let events: Vec<&str> = text.strip_suffix("\n\n").unwrap().split("\n\n").collect();
    let (last, deltas) = events.split_last().unwrap();
    for event in deltas {
        let data = event
            .strip_prefix("event: response.message.delta\ndata: ")
            .unwrap();
        let chunk: Value = serde_json::from_str(data).unwrap();
        assert_eq!(keys(&chunk), ["model", "created_at", "messages"]);
    }
    let data = last
        .strip_prefix("event: response.message.done\ndata: ")
        .unwrap();
    let done: Value = serde_json::from_str(data).unwrap();
    assert_eq!(
        keys(&done),
        ["model", "created_at", "finish_reason", "usage"]
    );
}

#[tokio::test]
async fn v2_function_round_trip() {
    let env = Env::start().await;
    let tools = json!([{"functions":{"specifications":[{"name":"get_order_status",
        "description":"Get delivery status for an order.",
        "parameters":{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]}}]}}]);
    let first = json!({"model":"GigaChat-3-Ultra","tools":tools,
        "tool_config":{"mode":"forced","function_name":"get_order_status"},
        "messages":[{"content":[{"text":"Check order A-1024"}],"role":"user"}]});
    let answer: Value = env.post_v2(&first).await.json().await.unwrap();
    assert_eq!(answer["finish_reason"], "function_call");
    let message = &answer["messages"][0];
    assert_eq!(keys(message), ["role", "tool_state_id", "content"]);
    let state = message["tool_state_id"].as_str().unwrap().to_owned();
    let call = &message["content"][0]["function_call"];
    assert_eq!(call["name"], "get_order_status");
    assert!(call["arguments"]["order_id"].is_string());

    let second = json!({"model":"GigaChat-3-Ultra","tools":tools,"messages":[
        {"content":[{"text":"Check order A-1024"}],"role":"user"},
        {"content":[{"function_call":call}],"tools_state_id":state,"role":"assistant"},
        {"content":[{"function_result":{"name":"get_order_status","result":{"status":"packed"}}}],
         "tools_state_id":state,"role":"tool"}]});
    let answer: Value = env.post_v2(&second).await.json().await.unwrap();
    assert_eq!(answer["finish_reason"], "stop");
    let message = &answer["messages"][0];
    assert_eq!(keys(message), ["role", "tool_state_id", "content"]);
    assert_ne!(message["tool_state_id"], state, "a fresh state id");
    assert!(message["content"][0]["text"].is_string());
}

#[tokio::test]
async fn v2_regex_and_schema_formats() {
    let env = Env::start().await;
    let mut body = simple("Generate one support ticket code.");
    body["model_options"] = json!({"response_format":{"type":"regex","regex":"[A-Z]{3}-\\d{4}"}});
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    let code = answer["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert_eq!(code.len(), 8, "{code}");
    assert!(code.chars().nth(3) == Some('-'));

    let mut body = simple("Return JSON");
    body["model_options"] = json!({"response_format":{"type":"json_schema","schema":
        {"type":"object","properties":{"n":{"type":"integer","minimum":0,"maximum":10}},"required":["n"]}}});
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    let text = answer["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap();
    let parsed: Value = serde_json::from_str(text).unwrap();
    assert!(parsed["n"].is_i64());
}

#[tokio::test]
async fn v2_image_generation_returns_a_file_part() {
    let env = Env::start().await;
    let mut body = simple("Draw a pink cat");
    body["tools"] = json!([{"image_generate":{}}]);
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    let content = &answer["messages"][0]["content"];
    let file = &content[0]["files"][0];
    assert_eq!(file["mime"], "image/jpeg");
    assert_eq!(file["target"], "image");
    assert!(content[1]["text"].is_string());
    let id = file["id"].as_str().unwrap();
    let image = env.get(&format!("/files/{id}/content")).await;
    assert_eq!(image.status(), 200);
}
