//! Reasoning on both contracts (v2 reasoning messages, v1 `reasoning_content`) and `think-tags:`.

use serde_json::{Value, json};

use crate::common::{Env, hello, sse_events, v2_simple};

/// Whitespace-separated words of a text.
fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

#[tokio::test]
async fn v2_reasoning_message_comes_first_and_respects_the_budget() {
    let env = Env::start().await;
    let mut body = v2_simple("Why is the sky blue?");
    body["model_options"] = json!({"reasoning": {"effort": "medium"}});
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    let messages = answer["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "reasoning");
    assert_eq!(messages[1]["role"], "assistant");
    let full = messages[0]["content"][0]["text"].as_str().unwrap();
    assert_eq!(
        words(full),
        48,
        "twice answer_words under the default budget"
    );
    let usage = &answer["usage"];
    assert_eq!(
        crate::common::keys(usage),
        [
            "input_tokens",
            "input_tokens_details",
            "output_tokens",
            "total_tokens"
        ],
        "no reasoning count"
    );

    body["model_options"] = json!({"reasoning": {"effort": "high", "max_tokens": 5}});
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    let capped = answer["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert!(words(capped) <= 5 && words(capped) > 0, "{capped}");
    assert!(full.starts_with(capped), "the same words, cut");

    body["model_options"] = json!({"reasoning": {"effort": "none"}});
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    assert_eq!(answer["messages"].as_array().unwrap().len(), 1);
    assert_eq!(answer["messages"][0]["role"], "assistant");
}

#[tokio::test]
async fn v2_stream_sends_reasoning_deltas_first() {
    let env = Env::start().await;
    let mut body = v2_simple("Why is the sky blue?");
    body["stream"] = json!(true);
    body["model_options"] = json!({"reasoning": {"effort": "medium", "max_tokens": 12}});
    let text = env.post_v2(&body).await.text().await.unwrap();
    let roles: Vec<String> = sse_events(&text)
        .iter()
        .filter(|(name, _)| name.as_deref() == Some("response.message.delta"))
        .map(|(_, data)| {
            let chunk: Value = serde_json::from_str(data).unwrap();
            chunk["messages"][0]["role"].as_str().unwrap().to_owned()
        })
        .collect();
    let first_answer = roles.iter().position(|r| r == "assistant").unwrap();
    assert!(first_answer > 0, "{roles:?}");
    assert!(
        roles[..first_answer].iter().all(|r| r == "reasoning"),
        "{roles:?}"
    );
    assert!(
        roles[first_answer..].iter().all(|r| r == "assistant"),
        "{roles:?}"
    );
}

#[tokio::test]
async fn v1_reasoning_content_plain_and_streamed() {
    let env = Env::start().await;
    let mut body = hello();
    body["reasoning_effort"] = json!("medium");
    body["reasoning_max_tokens"] = json!(6);
    let answer: Value = env
        .post("/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    let message = &answer["choices"][0]["message"];
    let reasoning = message["reasoning_content"].as_str().unwrap();
    assert!(words(reasoning) > 0 && words(reasoning) <= 6, "{reasoning}");
    assert!(message["content"].as_str().unwrap().len() > 10);
    assert!(answer["usage"]["completion_tokens"].as_u64().unwrap() > 6);

    body["stream"] = json!(true);
    let text = env
        .post("/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    let deltas: Vec<Value> = sse_events(&text)
        .iter()
        .filter(|(_, data)| data != "[DONE]")
        .map(|(_, data)| {
            serde_json::from_str::<Value>(data).unwrap()["choices"][0]["delta"].clone()
        })
        .collect();
    assert!(deltas[0]["reasoning_content"].is_string());
    assert_eq!(deltas[0]["role"], "assistant");
    let first_text = deltas
        .iter()
        .position(|d| !d["content"].as_str().unwrap().is_empty())
        .unwrap();
    assert!(
        deltas[first_text..]
            .iter()
            .all(|d| d.get("reasoning_content").is_none())
    );
    let streamed: String = deltas
        .iter()
        .filter_map(|d| d["reasoning_content"].as_str())
        .collect();
    assert_eq!(streamed, reasoning);

    let answer: Value = env
        .post("/chat/completions", &hello())
        .await
        .json()
        .await
        .unwrap();
    assert!(
        answer["choices"][0]["message"]
            .get("reasoning_content")
            .is_none()
    );
    let mut none = hello();
    none["reasoning_effort"] = json!("none");
    let answer: Value = env
        .post("/chat/completions", &none)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        answer["choices"][0]["message"]
            .get("reasoning_content")
            .is_none()
    );
    let mut bad = hello();
    bad["reasoning_max_tokens"] = json!(0);
    assert_eq!(env.post("/chat/completions", &bad).await.status(), 422);
}

#[tokio::test]
async fn think_tags_marker_wraps_thoughts_in_the_content() {
    let env = Env::start().await;
    let mut v1 = hello();
    v1["messages"][0]["content"] = json!("think-tags: why?");
    let answer: Value = env
        .post("/chat/completions", &v1)
        .await
        .json()
        .await
        .unwrap();
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    let (thoughts, rest) = content
        .strip_prefix("<think>")
        .and_then(|c| c.split_once("</think>"))
        .unwrap();
    assert!(!thoughts.is_empty() && !rest.is_empty(), "{content}");

    let answer: Value = env
        .post_v2(&v2_simple("think-tags: why?"))
        .await
        .json()
        .await
        .unwrap();
    let text = answer["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        text.starts_with("<think>") && text.contains("</think>"),
        "{text}"
    );
}
