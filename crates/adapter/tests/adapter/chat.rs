//! Non-streaming chat: shape, translation of roles and parameters, n, stop, usage, ids.

use async_openai::types::chat::CreateChatCompletionResponse;
use serde_json::{Value, json};

use super::common::{Options, start, start_with, user};

#[tokio::test]
async fn answer_matches_openai_types_and_names_the_serving_model() {
    let harness = start().await;
    let (status, headers, body) = harness.chat(user("Привет")).await;
    assert_eq!(status, 200, "{body}");
    let parsed: CreateChatCompletionResponse = serde_json::from_value(body.clone()).unwrap();
    assert!(parsed.id.starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    // No model asked for: the default, GigaChat-2, in its versioned name.
    assert!(body["model"].as_str().unwrap().starts_with("GigaChat-2:"));
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(choice["message"]["refusal"].is_null() && choice["logprobs"].is_null());
    assert!(!choice["message"]["content"].as_str().unwrap().is_empty());
    let usage = &body["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    assert!(usage["prompt_tokens_details"]["cached_tokens"].is_u64());
    assert!(headers.contains_key("x-request-id"));
    assert!(
        headers["openai-processing-ms"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    let sent = &harness.upstream("/chat/completions")[0];
    assert_eq!(
        sent.header("x-request-id"),
        headers["x-request-id"].to_str().ok()
    );
}

#[tokio::test]
async fn roles_and_parameters_are_translated() {
    let harness = start_with(Options {
        args: vec!["--model-aliases".into(), "gpt-4o=GigaChat-2-Max".into()],
        ..Options::default()
    })
    .await;
    let (status, _, body) = harness
        .chat(json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "Answer in Russian."},
                {"role": "user", "content": [{"type": "text", "text": "Hi"}], "name": "ann"},
                {"role": "assistant", "content": "Hello"},
                {"role": "system", "content": "Mind the tone."},
                {"role": "user", "content": "How are you?"}
            ],
            "temperature": 0,
            "top_p": 0.9,
            "max_completion_tokens": 200,
            "reasoning_effort": "high",
            "repetition_penalty": 1.2,
            "profanity_check": true,
            "user": "user-42",
            "logit_bias": {"1": 1}, "seed": 1, "metadata": {"x": "y"}, "store": false
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["model"]
            .as_str()
            .unwrap()
            .starts_with("GigaChat-2-Max")
    );
    let sent = &harness.upstream_chat_bodies()[0];
    assert_eq!(sent["model"], "GigaChat-2-Max");
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user", "user"]);
    assert_eq!(
        sent["messages"][0]["content"],
        "Be brief.\n\nAnswer in Russian."
    );
    assert_eq!(sent["temperature"], 0.001);
    assert_eq!(sent["top_p"], 0.9);
    assert_eq!(sent["max_tokens"], 200);
    assert_eq!(sent["reasoning_effort"], "high");
    assert_eq!(sent["repetition_penalty"], 1.2);
    assert_eq!(sent["profanity_check"], true);
    for ignored in ["logit_bias", "seed", "metadata", "store", "user"] {
        assert!(
            sent.get(ignored).is_none(),
            "{ignored} must not go upstream"
        );
    }
    let logged = &harness.upstream("/chat/completions")[0];
    assert_eq!(logged.header("x-session-id"), Some("user-42"));
}

#[tokio::test]
async fn session_header_wins_for_prompt_caching() {
    let harness = start().await;
    let response = harness
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "x"}], "prompt_cache_key": "k"}),
        )
        .header("x-session-id", "sess-1")
        .header("x-client-id", "client-9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let logged = &harness.upstream("/chat/completions")[0];
    assert_eq!(logged.header("x-session-id"), Some("sess-1"));
    assert_eq!(logged.header("x-client-id"), Some("client-9"));
}

#[tokio::test]
async fn any_user_string_still_reaches_gigachat() {
    let harness = start().await;
    let user = "Иван\u{12} Петров";
    let (status, _, body) = harness
        .chat(json!({"messages": [{"role": "user", "content": "x"}], "user": user}))
        .await;
    assert_eq!(status, 200, "{body}");
    let logged = &harness.upstream("/chat/completions")[0];
    assert_eq!(
        logged.header("x-session-id"),
        Some("%D0%98%D0%B2%D0%B0%D0%BD%12%20%D0%9F%D0%B5%D1%82%D1%80%D0%BE%D0%B2")
    );
    let response = harness
        .post(
            "/v1/completions",
            json!({"prompt": "x", "user": "tab\there"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A user string of any length goes upstream as a bounded, stable digest.
    let long = "x".repeat(64 * 1024);
    for _ in 0..2 {
        let (status, _, body) = harness
            .chat(json!({"messages": [{"role": "user", "content": "x"}], "user": long}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let sent: Vec<String> = harness
        .upstream("/chat/completions")
        .iter()
        .skip(2) // the chat and the legacy completion above
        .map(|r| r.header("x-session-id").unwrap().to_owned())
        .collect();
    assert_eq!(sent.len(), 2);
    assert!(
        sent[0].starts_with("%sha256-") && sent[0].len() == 72,
        "{}",
        sent[0]
    );
    assert_eq!(sent[0], sent[1]);
}

#[tokio::test]
async fn repeated_prompt_reports_cached_tokens() {
    let harness = start().await;
    let request = json!({"messages": [{"role": "user", "content": "A long enough prompt to cache"}], "user": "u"});
    let (_, _, cold) = harness.chat(request.clone()).await;
    let (_, _, warm) = harness.chat(request).await;
    let number = |body: &Value, key: &str| body["usage"][key].as_u64().unwrap();
    let cached = warm["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    assert!(cached > 0, "{warm}");
    // GigaChat's prompt_tokens leaves the cached part out; OpenAI's counts it.
    assert_eq!(
        number(&warm, "prompt_tokens"),
        number(&cold, "prompt_tokens")
    );
    assert_eq!(
        number(&warm, "total_tokens"),
        number(&warm, "prompt_tokens") + number(&warm, "completion_tokens")
    );
}

#[tokio::test]
async fn stream_usage_chunk_counts_cached_tokens_in_the_prompt() {
    let harness = start().await;
    let request = json!({"messages": [{"role": "user", "content": "A long enough prompt to cache"}], "user": "u"});
    let (_, _, cold) = harness.chat(request.clone()).await;
    let mut stream = request;
    stream["stream"] = json!(true);
    stream["stream_options"] = json!({"include_usage": true});
    let text = harness
        .post("/v1/chat/completions", stream)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let usage = text
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find_map(|chunk| chunk.get("usage").filter(|u| !u.is_null()).cloned())
        .unwrap();
    assert!(
        usage["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap()
            > 0,
        "{usage}"
    );
    assert_eq!(usage["prompt_tokens"], cold["usage"]["prompt_tokens"]);
}

#[tokio::test]
async fn n_choices_make_n_upstream_calls() {
    let harness = start().await;
    let (status, _, body) = harness
        .chat(json!({"messages": [{"role": "user", "content": "x"}], "n": 3}))
        .await;
    assert_eq!(status, 200, "{body}");
    let indexes: Vec<u64> = body["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 1, 2]);
    assert_eq!(harness.upstream("/chat/completions").len(), 3);
}

#[tokio::test]
async fn stop_cuts_the_answer() {
    let harness = start().await;
    let (_, _, whole) = harness.chat(user("stop test")).await;
    let text = whole["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let words: Vec<&str> = text.split(' ').collect();
    let stop = format!("{} {}", words[2], words[3]);
    let mut request = user("stop test");
    request["stop"] = json!([stop, "never-appears"]);
    let (_, _, cut) = harness.chat(request).await;
    let expected = &text[..text.find(&stop).unwrap()];
    assert_eq!(cut["choices"][0]["message"]["content"], expected);
    assert_eq!(cut["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn length_finish_reason_passes_through() {
    let harness = start().await;
    let mut request = user("long answer please");
    request["max_tokens"] = json!(3);
    let (_, _, body) = harness.chat(request).await;
    assert_eq!(body["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn root_path_works_like_v1() {
    let harness = start().await;
    let response = harness
        .post("/chat/completions", user("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
