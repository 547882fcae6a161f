//! Legacy completions: the `text_completion` shapes (whole and streamed), prompts × n indexing,
//! the chat options (stop, max_tokens, n), token-id prompts, and the refused options.

use async_openai::types::completions::CreateCompletionResponse;
use serde_json::{Value, json};

use crate::common::{Harness, assert_error, start, user};

async fn complete(harness: &Harness, body: Value) -> (u16, Value) {
    let response = harness.post("/v1/completions", body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The JSON chunks of a completion stream (each checked against async-openai's type), `[DONE]` last.
async fn stream(harness: &Harness, body: Value) -> Vec<Value> {
    let response = harness.post("/completions", body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    text.split("\n\n")
        .filter(|e| !e.is_empty() && *e != "data: [DONE]")
        .map(|e| {
            let payload = e.strip_prefix("data: ").unwrap();
            let _: CreateCompletionResponse = serde_json::from_str(payload).unwrap();
            serde_json::from_str(payload).unwrap()
        })
        .collect()
}

/// What the chat route answers for one user message, and its usage.
async fn chat_answer(harness: &Harness, prompt: &str) -> (String, Value) {
    let (_, _, body) = harness.chat(user(prompt)).await;
    let text = body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    (text, body["usage"].clone())
}

fn streamed_text(chunks: &[Value], index: u64) -> String {
    chunks
        .iter()
        .flat_map(|c| c["choices"].as_array().unwrap().iter())
        .filter(|c| c["index"] == index)
        .map(|c| c["text"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_prompt_is_answered_as_a_text_completion() {
    let harness = start().await;
    let (status, body) = complete(
        &harness,
        json!({"model": "GigaChat", "prompt": "Привет", "user": "u-1"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let parsed: CreateCompletionResponse = serde_json::from_value(body.clone()).unwrap();
    assert!(parsed.id.starts_with("cmpl-"), "{}", parsed.id);
    assert_eq!(parsed.object, "text_completion");
    assert!(parsed.model.starts_with("GigaChat:"));
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert!(choice.get("logprobs").is_some_and(Value::is_null));
    let sent = &harness.upstream_chat_bodies()[0];
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": "Привет"}])
    );
    assert!(sent.get("function_call").is_none(), "{sent}");
    let logged = &harness.upstream("/chat/completions")[0];
    assert_eq!(logged.header("x-session-id"), Some("u-1"));
    let (text, usage) = chat_answer(&harness, "Привет").await;
    assert_eq!(choice["text"], text);
    assert_eq!(body["usage"]["prompt_tokens"], usage["prompt_tokens"]);
    assert_eq!(
        body["usage"]["completion_tokens"],
        usage["completion_tokens"]
    );
}

#[tokio::test]
async fn choices_are_indexed_across_prompts_and_n() {
    let harness = start().await;
    let (status, body) = complete(&harness, json!({"prompt": ["first", "second"], "n": 2})).await;
    assert_eq!(status, 200, "{body}");
    let _: CreateCompletionResponse = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(harness.upstream("/chat/completions").len(), 4);
    let (first, first_usage) = chat_answer(&harness, "first").await;
    let (second, second_usage) = chat_answer(&harness, "second").await;
    let choices = body["choices"].as_array().unwrap();
    let got: Vec<(u64, &str)> = choices
        .iter()
        .map(|c| (c["index"].as_u64().unwrap(), c["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (0, first.as_str()),
            (1, first.as_str()),
            (2, second.as_str()),
            (3, second.as_str())
        ]
    );
    // Each prompt counted once, every choice's completion counted.
    let prompt = |u: &Value| u["prompt_tokens"].as_u64().unwrap();
    let completion = |u: &Value| u["completion_tokens"].as_u64().unwrap();
    assert_eq!(
        body["usage"]["prompt_tokens"],
        prompt(&first_usage) + prompt(&second_usage)
    );
    assert_eq!(
        body["usage"]["completion_tokens"],
        2 * (completion(&first_usage) + completion(&second_usage))
    );
}

#[tokio::test]
async fn stop_max_tokens_and_token_prompts_work_as_in_chat() {
    let harness = start().await;
    let (text, _) = chat_answer(&harness, "stop test").await;
    let words: Vec<&str> = text.split(' ').collect();
    let stop = format!("{} {}", words[2], words[3]);
    let (_, body) = complete(&harness, json!({"prompt": "stop test", "stop": stop})).await;
    assert_eq!(
        body["choices"][0]["text"],
        &text[..text.find(&stop).unwrap()]
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");

    let (_, body) = complete(
        &harness,
        json!({"prompt": "long answer please", "max_tokens": 3}),
    )
    .await;
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    let sent = harness.upstream_chat_bodies();
    assert_eq!(sent.last().unwrap()["max_tokens"], 3);

    // cl100k_base "hello world" (the default and gpt-3.5-turbo-instruct's tokenizer).
    let (status, body) = complete(&harness, json!({"prompt": [15339, 1917]})).await;
    assert_eq!(status, 200, "{body}");
    let sent = harness.upstream_chat_bodies();
    assert_eq!(
        sent.last().unwrap()["messages"][0]["content"],
        "hello world"
    );
    let (status, body) = complete(&harness, json!({"prompt": [[15339], [1917]]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn streamed_completion_has_text_deltas_and_usage_when_asked() {
    let harness = start().await;
    let (whole, usage) = chat_answer(&harness, "Привет").await;
    let chunks = stream(
        &harness,
        json!({"prompt": "Привет", "stream": true, "stream_options": {"include_usage": true}}),
    )
    .await;
    let (usage_chunk, content) = chunks.split_last().unwrap();
    assert!(content.len() > 1, "{chunks:?}");
    for chunk in content {
        assert_eq!(chunk["object"], "text_completion");
        assert_eq!(chunk["id"], content[0]["id"]);
        assert_eq!(chunk["created"], content[0]["created"]);
        assert_eq!(chunk["model"], content[0]["model"]);
        assert!(chunk.get("usage").is_some_and(Value::is_null));
        assert!(
            chunk["choices"][0]
                .get("logprobs")
                .is_some_and(Value::is_null)
        );
    }
    assert!(content[0]["id"].as_str().unwrap().starts_with("cmpl-"));
    let (last, before) = content.split_last().unwrap();
    assert!(
        before
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null())
    );
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(streamed_text(content, 0), whole);
    assert_eq!(usage_chunk["object"], "text_completion");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(
        usage_chunk["usage"]["prompt_tokens"],
        usage["prompt_tokens"]
    );

    let chunks = stream(&harness, json!({"prompt": "Привет", "stream": true})).await;
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
}

#[tokio::test]
async fn streamed_prompts_and_choices_interleave_with_their_indexes() {
    let harness = start().await;
    let (first, _) = chat_answer(&harness, "first").await;
    let (second, _) = chat_answer(&harness, "second").await;
    let chunks = stream(
        &harness,
        json!({"prompt": ["first", "second"], "n": 2, "stream": true, "stop": "never-there",
               "stream_options": {"include_usage": true}}),
    )
    .await;
    for (index, expected) in [(0, &first), (1, &first), (2, &second), (3, &second)] {
        assert_eq!(&streamed_text(&chunks, index), expected, "choice {index}");
        let finishes = chunks
            .iter()
            .flat_map(|c| c["choices"].as_array().unwrap().iter())
            .filter(|c| c["index"] == index && !c["finish_reason"].is_null())
            .count();
        assert_eq!(finishes, 1, "choice {index}");
    }
    let usage = &chunks.last().unwrap()["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn unsupported_options_are_refused_by_name() {
    let harness = start().await;
    for (extra, param) in [
        (json!({"echo": true}), "echo"),
        (json!({"suffix": "}"}), "suffix"),
        (json!({"logprobs": 1}), "logprobs"),
        (json!({"best_of": 3}), "best_of"),
        (json!({"prompt": null}), "prompt"),
        (json!({"prompt": []}), "prompt"),
        (json!({"prompt": [4_000_000]}), "prompt"),
        (json!({"n": 17}), "n"),
    ] {
        let mut body = json!({"prompt": "hi"});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        let (status, answer) = complete(&harness, body).await;
        let message = assert_error(status, &answer, 400, None);
        assert_eq!(answer["error"]["param"], param, "{message}");
    }
    assert!(harness.upstream("/chat/completions").is_empty());
    let (status, body) = complete(
        &harness,
        json!({"prompt": "hi", "echo": false, "best_of": 1, "logprobs": null, "suffix": null}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
