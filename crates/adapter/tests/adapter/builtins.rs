//! GigaChat's built-in tools through the adapter, against the emulator's scripted built-ins
//! (`search:` web search with `[sources=[n]]` markers and sources, `code:` code interpreter,
//! drawing prompts with `image_generate`): chat annotations, Responses items, Messages server
//! tool blocks, and `POST /v1/images/generations` on both contracts.

use base64::Engine as _;
use gigachat::Contract;
use serde_json::{Value, json};

use crate::common::{KEY, Options, assert_error, start_with};
use crate::openai_spec::spec;

async fn on(contract: Contract) -> crate::common::Harness {
    start_with(Options {
        contract,
        ..Options::default()
    })
    .await
}

/// The chars of `text` from `start` to `end` (the span an annotation points at).
fn span(text: &str, start: &Value, end: &Value) -> String {
    let (start, end) = (start.as_u64().unwrap(), end.as_u64().unwrap());
    text.chars()
        .skip(usize::try_from(start).unwrap())
        .take(usize::try_from(end - start).unwrap())
        .collect()
}

/// Every annotation points at a `[n]` of the text, with a URL of the search.
fn assert_citations(text: &str, annotations: &[Value]) {
    assert!(!annotations.is_empty(), "no annotations for {text:?}");
    for annotation in annotations {
        let citation = annotation.get("url_citation").unwrap_or(annotation);
        let mark = span(text, &citation["start_index"], &citation["end_index"]);
        assert!(
            mark.starts_with('[') && mark.ends_with(']') && mark.len() >= 3,
            "{mark:?} in {text:?}"
        );
        assert!(
            citation["url"]
                .as_str()
                .unwrap()
                .starts_with("https://example.org/"),
            "{citation}"
        );
        assert!(citation["title"].is_string());
    }
    assert!(!text.contains("[sources="), "{text}");
}

#[tokio::test]
async fn chat_web_search_options_cite_the_sources_whole_and_streamed() {
    let harness = on(Contract::V2).await;
    let request = json!({
        "messages": [{"role": "user", "content": "search: что нового в Python 3.14?"}],
        "web_search_options": {"search_context_size": "low"}
    });
    let (status, _, body) = harness.chat(request.clone()).await;
    assert_eq!(status, 200, "{body}");
    let message = &body["choices"][0]["message"];
    let text = message["content"].as_str().unwrap();
    assert_citations(text, message["annotations"].as_array().unwrap());
    spec().assert_valid("CreateChatCompletionResponse", &body);
    let sent: Value =
        serde_json::from_slice(&harness.upstream("/chat/completions")[0].body).unwrap();
    assert_eq!(
        sent["tools"],
        json!([{"web_search": {"type": "actual_info_web_search"}}])
    );

    let mut streamed = request;
    streamed["stream"] = json!(true);
    let (status, events) = harness.stream(streamed).await;
    assert_eq!(status, 200);
    let chunks: Vec<Value> = events
        .iter()
        .filter_map(|event| serde_json::from_str(event).ok())
        .collect();
    let streamed_text: String = chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed_text, text);
    let last = chunks
        .iter()
        .find(|chunk| chunk["choices"][0]["finish_reason"].is_string())
        .unwrap();
    assert_citations(
        &streamed_text,
        last["choices"][0]["delta"]["annotations"]
            .as_array()
            .unwrap(),
    );
}

#[tokio::test]
async fn chat_web_search_options_on_v1_are_a_400_naming_them() {
    let harness = on(Contract::V1).await;
    let (status, _, body) = harness
        .chat(json!({"messages": [{"role": "user", "content": "hi"}], "web_search_options": {}}))
        .await;
    assert_error(status, &body, 400, None);
    assert_eq!(body["error"]["param"], "web_search_options");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("GIGACHAT_API_VERSION=2"), "{message}");
    assert!(harness.upstream("/chat/completions").is_empty());
}

#[tokio::test]
async fn a_v2_picture_in_a_chat_answer_is_markdown_as_on_v1() {
    let harness = on(Contract::V2).await;
    let (status, _, body) = harness
        .chat(json!({"messages": [{"role": "user", "content": "нарисуй кота"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("![image](data:image/jpeg;base64,/9j/"),
        "{content}"
    );
    // Downloaded with the chat request's context.
    assert_eq!(harness.upstream("/content").len(), 1);
}

async fn images(harness: &crate::common::Harness, body: Value) -> (u16, Value) {
    let response = harness
        .post("/v1/images/generations", body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn images_generations_draw_on_both_contracts() {
    for contract in [Contract::V1, Contract::V2] {
        let harness = on(contract).await;
        let (status, body) = images(
            &harness,
            json!({"prompt": "a red cat", "model": "dall-e-3", "n": 2, "size": "1024x1024", "quality": "hd"}),
        )
        .await;
        assert_eq!(status, 200, "{contract:?}: {body}");
        let data = body["data"].as_array().unwrap();
        assert_eq!(data.len(), 2, "{body}");
        for image in data {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(image["b64_json"].as_str().unwrap())
                .unwrap();
            assert_eq!(&bytes[..2], [0xFF, 0xD8], "a JPEG");
            assert!(image.get("url").is_none());
        }
        assert!(body["created"].is_i64());
        assert_eq!(harness.upstream("/chat/completions").len(), 2);
        assert_eq!(harness.upstream("/content").len(), 2);
        let sent: Value =
            serde_json::from_slice(&harness.upstream("/chat/completions")[0].body).unwrap();
        match contract {
            Contract::V2 => {
                assert_eq!(sent["tools"], json!([{"image_generate": {}}]));
                assert_eq!(
                    sent["tool_config"],
                    json!({"mode": "forced", "tool_name": "image_generate"})
                );
            }
            Contract::V1 => assert_eq!(sent["function_call"], "auto"),
        }

        // `url`: a link to the Files API, which serves the picture.
        let response = harness
            .http
            .post(format!("{}/images/generations", harness.base))
            .bearer_auth(KEY)
            .json(&json!({"prompt": "a cat", "response_format": "url"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let url = body["data"][0]["url"].as_str().unwrap();
        let path = url.split_once("/v1/files/").map(|(_, rest)| rest).unwrap();
        let picture = harness
            .get(&format!("/v1/files/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(picture.status(), 200, "{url}");
        assert_eq!(&picture.bytes().await.unwrap()[..2], [0xFF, 0xD8]);

        // Both paths are one route to the metrics.
        let metrics = harness
            .get("/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let served: f64 = metrics
            .lines()
            .filter(|line| {
                line.starts_with("gigachat_adapter_requests_total{")
                    && line.contains("route=\"/v1/images/generations\"")
            })
            .map(|line| line.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
            .sum();
        assert_eq!(served, 2.0, "{metrics}");
    }
}

#[tokio::test]
async fn images_generations_refuse_bad_values_in_openais_envelope() {
    let harness = on(Contract::V2).await;
    for (body, param) in [
        (json!({"prompt": "x", "n": 11}), "n"),
        (
            json!({"prompt": "x", "response_format": "png"}),
            "response_format",
        ),
        (json!({"prompt": ""}), "prompt"),
    ] {
        let (status, answer) = images(&harness, body).await;
        assert_error(status, &answer, 400, None);
        assert_eq!(answer["error"]["param"], param, "{answer}");
    }
    assert!(harness.upstream("/chat/completions").is_empty());
}

async fn responses(harness: &crate::common::Harness, body: Value) -> Value {
    let response = harness.post("/v1/responses", body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("x-gigachat-adapter-dropped-tools")
            .is_none()
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn responses_built_in_tools_are_their_own_items() {
    let harness = on(Contract::V2).await;
    let searched = responses(
        &harness,
        json!({"input": "search: Python 3.14", "tools": [{"type": "web_search"}]}),
    )
    .await;
    spec().assert_valid("Response", &searched);
    let output = searched["output"].as_array().unwrap();
    assert_eq!(output[0]["type"], "web_search_call", "{searched}");
    assert_eq!(output[0]["status"], "completed");
    assert!(
        !output[0]["action"]["sources"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(output[1]["type"], "message");
    let part = &output[1]["content"][0];
    assert_citations(
        part["text"].as_str().unwrap(),
        part["annotations"].as_array().unwrap(),
    );

    let drawn = responses(
        &harness,
        json!({"input": "draw a cat", "tools": [{"type": "image_generation"}], "store": false}),
    )
    .await;
    spec().assert_valid("Response", &drawn);
    assert_eq!(
        drawn["output"][0]["type"], "image_generation_call",
        "{drawn}"
    );
    let result = drawn["output"][0]["result"].as_str().unwrap();
    assert!(result.starts_with("/9j/"), "base64 of a JPEG");
    let text = drawn["output"][1]["content"][0]["text"].as_str().unwrap();
    assert!(!text.contains("![image]"), "{text}");

    let coded = responses(
        &harness,
        json!({"input": "code: 2**100", "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}),
    )
    .await;
    spec().assert_valid("Response", &coded);
    let call = &coded["output"][0];
    assert_eq!(call["type"], "code_interpreter_call", "{coded}");
    assert_eq!(call["code"], Value::Null);
    assert_eq!(call["outputs"], Value::Null);
    assert_eq!(coded["output"][1]["type"], "message");
}

#[tokio::test]
async fn a_streamed_responses_search_announces_its_item_and_citations() {
    let harness = on(Contract::V2).await;
    let text = harness
        .post(
            "/v1/responses",
            json!({"input": "search: Python 3.14", "tools": [{"type": "web_search_preview"}], "stream": true}),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<Value> = text
        .split("\n\n")
        .filter_map(|frame| frame.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    for event in &events {
        spec().assert_stream_event(event);
    }
    let names: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let at = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("{name}: {names:?}"))
    };
    assert!(at("response.web_search_call.completed") < at("response.output_text.delta"));
    assert!(at("response.output_text.annotation.added") < at("response.output_text.done"));
    let completed = events.last().unwrap();
    assert_eq!(completed["type"], "response.completed");
    assert_eq!(
        completed["response"]["output"][0]["type"],
        "web_search_call"
    );
    assert!(
        !completed["response"]["output"][0]["action"]["sources"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn messages_web_search_server_tool_is_answered_with_its_blocks() {
    let harness = on(Contract::V2).await;
    let response = harness
        .post(
            "/v1/messages",
            json!({"model": "GigaChat", "max_tokens": 200,
                   "messages": [{"role": "user", "content": "search: Python 3.14"}],
                   "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]}),
        )
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("x-gigachat-adapter-dropped-tools")
            .is_none()
    );
    let message: Value = response.json().await.unwrap();
    let content = message["content"].as_array().unwrap();
    assert_eq!(content[0]["type"], "server_tool_use", "{message}");
    assert_eq!(content[0]["input"]["query"], "search: Python 3.14");
    assert_eq!(content[1]["type"], "web_search_tool_result");
    assert_eq!(content[1]["tool_use_id"], content[0]["id"]);
    let results = content[1]["content"].as_array().unwrap();
    assert!(!results.is_empty());
    assert!(results.iter().all(|r| r["encrypted_content"].is_string()));
    assert_eq!(content[2]["type"], "text");
    let citations = content[2]["citations"].as_array().unwrap();
    assert!(!citations.is_empty(), "{message}");
    assert!(
        citations
            .iter()
            .all(|c| c["type"] == "web_search_result_location"
                && c["cited_text"].as_str().is_some_and(|t| !t.is_empty()))
    );
    assert_eq!(
        message["usage"]["server_tool_use"]["web_search_requests"],
        1
    );

    // On v1 the server tool is left out, as before.
    let v1 = on(Contract::V1).await;
    let response = v1
        .post(
            "/v1/messages",
            json!({"model": "GigaChat", "max_tokens": 200,
                   "messages": [{"role": "user", "content": "search: Python 3.14"}],
                   "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-gigachat-adapter-dropped-tools"],
        "web_search_20250305"
    );
}
