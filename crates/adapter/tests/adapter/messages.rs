//! Anthropic's Messages API (`/v1/messages`, non-streamed, and `count_tokens`) through the adapter
//! against the emulator, as Anthropic's SDKs and Claude Code call it (`x-api-key`,
//! `anthropic-version`). There is no official JSON schema of the answers: [`assert_message`] and
//! [`assert_anthropic_error`] check every field the SDKs' types require.

use std::time::Duration;

use base64::Engine as _;
use gigachat_emulator::Fault;
use serde_json::{Value, json};

use crate::common::{Harness, KEY, Options, start, start_with};

impl Harness {
    /// POSTs `body` to `path` as an Anthropic client does and returns (status, headers, body).
    async fn anthropic(&self, path: &str, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
        self.anthropic_with_key(path, body, KEY).await
    }

    async fn anthropic_with_key(
        &self,
        path: &str,
        body: Value,
        key: &str,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
            .header(
                "anthropic-beta",
                "claude-code-20250219,no-such-beta-2099-01-01",
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.json().await.unwrap())
    }

    pub(crate) async fn messages(&self, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
        self.anthropic("/v1/messages?beta=true", body).await
    }
}

/// Asserts `body` is a `message` as Anthropic's SDK types have it.
pub(crate) fn assert_message(body: &Value) {
    assert_eq!(body["type"], "message", "{body}");
    assert_eq!(body["role"], "assistant", "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("msg_"), "{body}");
    assert!(body["model"].is_string(), "{body}");
    assert!(
        matches!(
            body["stop_reason"].as_str(),
            Some("end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "refusal")
        ),
        "{body}"
    );
    assert!(
        body.get("stop_sequence")
            .is_some_and(|s| s.is_null() || s.is_string()),
        "{body}"
    );
    for block in body["content"].as_array().unwrap() {
        match block["type"].as_str() {
            Some("text") => assert!(block["text"].is_string(), "{block}"),
            Some("thinking") => {
                assert!(block["thinking"].is_string(), "{block}");
                assert!(
                    block["signature"].as_str().is_some_and(|s| !s.is_empty()),
                    "{block}"
                );
            }
            Some("tool_use") => {
                assert!(
                    block["id"].as_str().unwrap().starts_with("toolu_"),
                    "{block}"
                );
                assert!(block["name"].is_string(), "{block}");
                assert!(block["input"].is_object(), "{block}");
            }
            other => panic!("unexpected block {other:?}: {body}"),
        }
    }
    let usage = &body["usage"];
    for field in [
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ] {
        assert!(usage[field].is_u64(), "{field}: {body}");
    }
}

/// Asserts `body` is Anthropic's error envelope with this status and type; returns its message.
fn assert_anthropic_error(status: u16, body: &Value, expected_status: u16, kind: &str) -> String {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(body["request_id"].is_string(), "{body}");
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    assert!(!message.contains("https://"), "leak: {message}");
    message
}

fn hello() -> Value {
    json!({"model": "GigaChat-2-Max", "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hello"}]})
}

fn weather_tool() -> Value {
    json!({"name": "get_weather", "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
        "required": ["city"]}})
}

#[tokio::test]
async fn a_text_answer_is_a_message_with_request_ids() {
    let harness = start().await;
    for path in ["/v1/messages?beta=true", "/v1/messages", "/messages"] {
        let (status, headers, body) = harness.anthropic(path, hello()).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_message(&body);
        assert_eq!(body["stop_reason"], "end_turn");
        assert!(!body["content"][0]["text"].as_str().unwrap().is_empty());
        // The same prompt again is read from GigaChat's cache: counted there, not twice.
        let usage = &body["usage"];
        let prompt = usage["input_tokens"].as_u64().unwrap()
            + usage["cache_read_input_tokens"].as_u64().unwrap();
        assert!(prompt > 0, "{body}");
        assert_eq!(headers["request-id"], headers["x-request-id"]);
    }
    let sent = harness.upstream_chat_bodies();
    assert_eq!(sent.len(), 3);
    assert_eq!(
        sent[0]["messages"],
        json!([{"role": "user", "content": "Hello"}])
    );
    assert_eq!(sent[0]["max_tokens"], 100);
}

/// GigaChat's cached prompt tokens are Anthropic's cache reads, outside `input_tokens`.
#[tokio::test]
async fn cache_reads_are_counted_apart_from_the_input() {
    let harness = start().await;
    let long = "Tell me about the weather in Moscow today, please. ".repeat(40);
    let request = json!({"max_tokens": 50, "metadata": {"user_id": "user_1"},
        "messages": [{"role": "user", "content": long}]});
    let (_, _, first) = harness.messages(request.clone()).await;
    let (status, _, second) = harness.messages(request).await;
    assert_eq!(status, 200, "{second}");
    assert_message(&second);
    let cached = second["usage"]["cache_read_input_tokens"].as_u64().unwrap();
    assert!(cached > 0, "{second}");
    // The prompt is the same: what is now read from the cache left `input_tokens`.
    let total = |body: &Value| {
        body["usage"]["input_tokens"].as_u64().unwrap()
            + body["usage"]["cache_read_input_tokens"].as_u64().unwrap()
    };
    assert_eq!(total(&first), total(&second), "{first}\n{second}");
    assert_eq!(second["usage"]["cache_creation_input_tokens"], 0);
}

#[tokio::test]
async fn system_blocks_become_the_system_message() {
    let harness = start().await;
    let (status, _, body) = harness
        .messages(json!({"max_tokens": 100,
            "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
                       {"type": "text", "text": "Answer in English."}],
            "thinking": {"type": "adaptive"}, "context_management": {"edits": []},
            "output_config": {"effort": "high"}, "top_k": 3,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_message(&body);
    let sent = &harness.upstream_chat_bodies()[0];
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "You are terse.\n\nAnswer in English."})
    );
    assert_eq!(sent["messages"][1]["content"], "Hi");
}

#[tokio::test]
async fn a_tool_round_trip() {
    let harness = start().await;
    let question = json!({"role": "user", "content": "call:get_weather Weather in Moscow?"});
    let (status, headers, body) = harness
        .messages(json!({"max_tokens": 200, "tools": [weather_tool()], "messages": [question]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_message(&body);
    assert!(headers.get("x-gigachat-adapter-dropped-tools").is_none());
    assert_eq!(body["stop_reason"], "tool_use");
    let call = body["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|block| block["type"] == "tool_use")
        .unwrap_or_else(|| panic!("no tool_use: {body}"))
        .clone();
    assert_eq!(call["name"], "get_weather");
    assert!(call["input"]["city"].is_string(), "{call}");

    // The call goes back as the SDK sends it (the whole content echoed), with its result.
    let (status, _, body) = harness
        .messages(
            json!({"max_tokens": 200, "tools": [weather_tool()], "messages": [
                question,
                {"role": "assistant", "content": body["content"]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": call["id"], "content": "{\"t\": 21}"}
                ]}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_message(&body);
    assert_eq!(body["stop_reason"], "end_turn");
    let sent = &harness.upstream_chat_bodies()[1];
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "function"]);
    assert_eq!(sent["messages"][1]["function_call"]["name"], "get_weather");
    assert_eq!(sent["messages"][2]["content"], "{\"t\":21}");
    // GigaChat's function state came back with the call's id.
    let first = &harness.upstream_chat_bodies()[0];
    assert!(first.get("functions").is_some(), "{first}");
}

/// A base64 image block is uploaded once and attached; the same image again is not re-uploaded.
#[tokio::test]
async fn an_image_block_is_uploaded_once_and_attached() {
    let harness = start().await;
    let picture = image::RgbaImage::from_fn(8, 8, |x, y| {
        image::Rgba([7, x as u8 * 10, y as u8 * 10, 255])
    });
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(picture)
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(png.into_inner());
    let request = json!({"max_tokens": 100, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in the picture?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    ]}]});
    for _ in 0..2 {
        let (status, _, body) = harness.messages(request.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_message(&body);
    }
    let uploads = harness
        .upstream("/files")
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(uploads, 1);
    for sent in harness.upstream_chat_bodies() {
        assert_eq!(
            sent["messages"][0]["attachments"].as_array().unwrap().len(),
            1,
            "{sent}"
        );
    }
}

#[tokio::test]
async fn server_tools_are_left_out_and_named_in_a_header() {
    let harness = start().await;
    let (status, headers, body) = harness
        .messages(
            json!({"max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
                      weather_tool()]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_message(&body);
    assert_eq!(
        headers["x-gigachat-adapter-dropped-tools"],
        "web_search_20250305"
    );
    let sent = &harness.upstream_chat_bodies()[0];
    assert_eq!(sent["functions"].as_array().unwrap().len(), 1, "{sent}");
}

#[tokio::test]
async fn client_mistakes_are_400s_in_anthropics_envelope() {
    let harness = start().await;
    let forced = json!({"max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "tool_choice": {"type": "tool", "name": "web_search"}});
    let (status, headers, body) = harness.messages(forced).await;
    let message = assert_anthropic_error(status, &body, 400, "invalid_request_error");
    assert!(message.starts_with("tool_choice"), "{message}");
    assert_eq!(headers["request-id"], body["request_id"].as_str().unwrap());
    assert_eq!(headers["x-should-retry"], "false");

    let (status, _, body) = harness
        .messages(json!({"messages": [{"role": "user", "content": "Hi"}]}))
        .await;
    let message = assert_anthropic_error(status, &body, 400, "invalid_request_error");
    assert!(message.contains("max_tokens"), "{message}");

    let (status, _, body) = harness
        .messages(json!({"max_tokens": 1, "messages": [
            {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
            {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "AA=="}}]}]}))
        .await;
    let message = assert_anthropic_error(status, &body, 400, "invalid_request_error");
    assert!(
        message.contains("messages[2].content[0].source") && message.contains("media_type"),
        "{message}"
    );

    let response = harness
        .http
        .post(format!("{}/v1/messages", harness.base))
        .header("x-api-key", KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_anthropic_error(status, &body, 400, "invalid_request_error");
}

#[tokio::test]
async fn a_wrong_key_or_an_unknown_route_or_model_in_anthropics_envelope() {
    let harness = start().await;
    let (status, _, body) = harness
        .anthropic_with_key("/v1/messages", hello(), "wrong")
        .await;
    let message = assert_anthropic_error(status, &body, 401, "authentication_error");
    assert!(message.contains("x-api-key"), "{message}");

    let (status, _, body) = harness.anthropic("/v1/messages/batches", hello()).await;
    assert_anthropic_error(status, &body, 404, "not_found_error");
    let wrong_method = harness
        .http
        .get(format!("{}/v1/messages", harness.base))
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap();
    let status = wrong_method.status().as_u16();
    let body: Value = wrong_method.json().await.unwrap();
    assert_anthropic_error(status, &body, 405, "invalid_request_error");

    let mut unknown = hello();
    unknown["model"] = json!("no-such-model");
    let (status, _, body) = harness.messages(unknown).await;
    let message = assert_anthropic_error(status, &body, 404, "not_found_error");
    assert!(message.contains("no-such-model"), "{message}");

    // An OpenAI client on an OpenAI route keeps OpenAI's envelope.
    let (status, _, body) = harness
        .chat(json!({"model": "no-such-model",
        "messages": [{"role": "user", "content": "Hi"}]}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "model_not_found", "{body}");
}

#[tokio::test]
async fn gigachat_failures_map_to_anthropics_statuses() {
    for (fault_status, retry_after, status, kind) in [
        (429, Some(Duration::from_secs(3)), 429, "rate_limit_error"),
        (503, None, 529, "overloaded_error"),
        (409, None, 529, "overloaded_error"),
        (402, None, 402, "billing_error"),
        (500, None, 502, "api_error"),
    ] {
        let harness = start_with(Options {
            settings: Box::new(|settings| settings.max_retries = 0),
            ..Options::default()
        })
        .await;
        harness.emulator.faults().push(Fault::Status {
            status: fault_status,
            retry_after,
            times: 5,
        });
        let (code, headers, body) = harness.messages(hello()).await;
        assert_anthropic_error(code, &body, status, kind);
        if let Some(after) = retry_after {
            assert_eq!(headers["retry-after"], after.as_secs().to_string());
        }
        let retry = status == 429 || status >= 500;
        assert_eq!(
            headers["x-should-retry"],
            if retry { "true" } else { "false" },
            "{fault_status}"
        );
    }
}

#[tokio::test]
async fn count_tokens_counts_with_gigachat() {
    let harness = start().await;
    let (status, headers, body) = harness
        .anthropic(
            "/v1/messages/count_tokens?beta=true",
            json!({
            "model": "GigaChat-2-Max", "system": "Be brief.", "tools": [weather_tool()],
            "messages": [{"role": "user", "content": "How many tokens is this?"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["input_tokens"].as_u64().unwrap() > 0, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert!(headers.contains_key("request-id"));
    let counted = harness.upstream("/tokens/count");
    assert_eq!(counted.len(), 1);
    let sent: Value = serde_json::from_slice(&counted[0].body).unwrap();
    let texts = sent["input"].to_string();
    assert!(
        texts.contains("Be brief.") && texts.contains("get_weather"),
        "{texts}"
    );
}

/// Claude Code's names (`claude-*`) and its `max_tokens: 1` probe, through a wildcard alias.
#[tokio::test]
async fn models_in_both_shapes_and_wildcard_aliases() {
    let harness = start_with(Options {
        args: vec![
            "--model-aliases".into(),
            "claude-*=GigaChat-2-Max,claude-haiku-4-5=GigaChat-2".into(),
        ],
        ..Options::default()
    })
    .await;
    let (status, _, body) = harness
        .messages(
            json!({"model": "claude-sonnet-4-5-20250929", "max_tokens": 1,
            "messages": [{"role": "user", "content": "Say hello in many words"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_message(&body);
    assert_eq!(body["stop_reason"], "max_tokens");
    let (_, _, _) = harness
        .messages(json!({"model": "claude-haiku-4-5", "max_tokens": 5,
            "messages": [{"role": "user", "content": "Hi"}]}))
        .await;
    let models: Vec<String> = harness
        .upstream_chat_bodies()
        .iter()
        .map(|sent| sent["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(models, ["GigaChat-2-Max", "GigaChat-2"]);

    let anthropic_get = |path: &str| {
        harness
            .http
            .get(format!("{}{path}", harness.base))
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01")
    };
    let list: Value = anthropic_get("/v1/models")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["has_more"], false, "{list}");
    let data = list["data"].as_array().unwrap();
    assert!(data.iter().all(|m| m["type"] == "model"
        && m["lifecycle"] == "active"
        && m["display_name"].is_string()
        && m["created_at"].as_str().unwrap().ends_with('Z')));
    assert_eq!(list["first_id"], data[0]["id"]);
    assert_eq!(list["last_id"], data[data.len() - 1]["id"]);
    let one = anthropic_get("/v1/models/claude-opus-4-1")
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let one: Value = one.json().await.unwrap();
    assert_eq!(one["id"], "claude-opus-4-1");
    assert_eq!(one["type"], "model");
    let missing = anthropic_get("/v1/models/no-such-model")
        .send()
        .await
        .unwrap();
    let status = missing.status().as_u16();
    assert_anthropic_error(
        status,
        &missing.json().await.unwrap(),
        404,
        "not_found_error",
    );

    // Without `anthropic-version`: OpenAI's shape.
    let (status, openai) = {
        let response = harness.get("/v1/models").send().await.unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(openai["object"], "list", "{openai}");
    assert!(openai.get("has_more").is_none());
}

#[tokio::test]
async fn the_root_answers_without_a_key() {
    let harness = start().await;
    for method in [reqwest::Method::HEAD, reqwest::Method::GET] {
        let response = harness
            .http
            .request(method.clone(), format!("{}/", harness.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method}");
    }
    let api = harness
        .http
        .get(format!("{}/v1/models", harness.base))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
}

/// The adapter's own refusals (a body over the limit; a head too large, answered by the
/// connection layer before any request exists) are in Anthropic's envelope on its routes too.
#[tokio::test]
async fn size_limits_are_told_in_anthropics_envelope() {
    let harness = start_with(Options {
        args: vec!["--max-request-bytes".into(), "2000".into()],
        ..Options::default()
    })
    .await;
    let mut big = hello();
    big["messages"][0]["content"] = json!("x".repeat(5000));
    let (status, headers, body) = harness.messages(big).await;
    assert_anthropic_error(status, &body, 413, "request_too_large");
    assert_eq!(headers["request-id"], body["request_id"].as_str().unwrap());

    let many: String = (0..1000).map(|i| format!("x-h{i}: v\r\n")).collect();
    let (status, head, body) = crate::connections::exchange(
        &harness,
        format!("POST /v1/messages HTTP/1.1\r\n{many}\r\n").as_bytes(),
    )
    .await;
    assert_anthropic_error(status, &body, 431, "request_too_large");
    assert!(head.contains("request-id: "), "{head}");
}
