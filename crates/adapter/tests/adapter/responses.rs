//! The Responses API (`/v1/responses`, non-streamed) through the adapter against the emulator:
//! every answer parsed with async-openai's Responses types and validated against the `Response`
//! schema of the OpenAI description (`../shared/openai-spec`, `E2E_OPENAI_SPEC` overrides it).

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::common::{Harness, Options, assert_error, start, start_with};

/// `Response` of the OpenAI description, compiled once.
fn response_schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = std::env::var_os("E2E_OPENAI_SPEC").map_or_else(
            || {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../../shared/openai-spec/openapi-subset.json")
            },
            Into::into,
        );
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("the OpenAI description {}: {err}", path.display()));
        let document: Value = serde_json::from_str(&text).unwrap();
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/components/schemas/Response",
            "components": document["components"],
        });
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .unwrap()
    })
}

/// Asserts `body` is a `response` object as the spec and async-openai have it.
fn assert_response(body: &Value) {
    let errors: Vec<String> = response_schema()
        .iter_errors(body)
        .map(|err| format!("{err} at {}", err.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{body:#}");
    let parsed: Result<async_openai::types::responses::Response, _> =
        serde_json::from_value(body.clone());
    assert!(parsed.is_ok(), "{parsed:?}\n{body:#}");
    assert_eq!(body["object"], "response");
    assert!(body["id"].as_str().unwrap().starts_with("resp_"), "{body}");
}

impl Harness {
    /// POSTs a Responses request to `path` and returns (status, headers, JSON body).
    async fn responses_at(
        &self,
        path: &str,
        body: Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = self.post(path, body).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.json().await.unwrap())
    }

    async fn responses(&self, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
        self.responses_at("/v1/responses", body).await
    }
}

/// The text of the answer's message item.
fn output_text(body: &Value) -> String {
    let message = body["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "message")
        .unwrap_or_else(|| panic!("no message item: {body}"));
    message["content"][0]["text"].as_str().unwrap().to_owned()
}

fn weather_tool() -> Value {
    json!({"type": "function", "name": "get_weather", "description": "Weather for a city",
        "strict": false, "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}}, "required": ["city"]}})
}

fn patch_tool() -> Value {
    json!({"type": "custom", "name": "apply_patch",
        "description": "Edit files with a patch.",
        "format": {"type": "grammar", "syntax": "lark",
                   "definition": "start: begin_patch hunk+ end_patch\nbegin_patch: \"*** Begin Patch\" LF"}})
}

#[tokio::test]
async fn text_input_is_answered_as_a_response() {
    let harness = start().await;
    for path in ["/v1/responses", "/responses"] {
        let (status, _, body) = harness
            .responses_at(path, json!({"model": "GigaChat", "input": "Hello"}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_response(&body);
        assert_eq!(body["status"], "completed");
        assert!(!output_text(&body).is_empty());
        assert!(
            body["usage"]["input_tokens"].as_u64().unwrap() > 0,
            "{body}"
        );
        assert_eq!(
            body["usage"]["input_tokens_details"]["cache_write_tokens"],
            0
        );
        assert!(body["completed_at"].is_number());
    }
    let sent = harness.upstream_chat_bodies();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0]["messages"],
        json!([{"role": "user", "content": "Hello"}])
    );
}

#[tokio::test]
async fn instructions_and_developer_messages_become_the_system_message() {
    let harness = start().await;
    let (status, _, body) = harness
        .responses(json!({
            "instructions": "Answer briefly.",
            "input": [
                {"type": "message", "id": "msg_1", "role": "developer",
                 "content": [{"type": "input_text", "text": "You are a coding agent."}]},
                {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
            ],
            "metadata": {"run": "7"},
            "client_metadata": {"session_id": "ignored"},
            "store": false
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_response(&body);
    assert_eq!(body["instructions"], "Answer briefly.");
    assert_eq!(body["metadata"], json!({"run": "7"}));
    assert_eq!(body["store"], false);
    let sent = &harness.upstream_chat_bodies()[0];
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(
        sent["messages"][0]["content"],
        "Answer briefly.\n\nYou are a coding agent."
    );
    assert_eq!(sent["messages"][1]["content"], "Hi");
}

#[tokio::test]
async fn function_tool_round_trip() {
    let harness = start().await;
    let (status, _, body) = harness
        .responses(json!({
            "input": "Weather in Moscow?",
            "tools": [weather_tool()],
            "tool_choice": {"type": "function", "name": "get_weather"}
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_response(&body);
    let call = body["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "function_call")
        .unwrap_or_else(|| panic!("no call: {body}"))
        .clone();
    assert_eq!(call["name"], "get_weather");
    assert!(call["id"].as_str().unwrap().starts_with("fc_"));
    let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert!(arguments["city"].is_string(), "{arguments}");

    // The call and its output go back, as the SDKs send them (the call item echoed).
    let (status, _, body) = harness
        .responses(json!({
            "input": [
                {"role": "user", "content": "Weather in Moscow?"},
                call,
                {"type": "function_call_output", "call_id": call["call_id"], "output": "{\"t\": 21}"}
            ],
            "tools": [weather_tool()]
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_response(&body);
    assert!(!output_text(&body).is_empty());
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
}

/// Two calls of one answer come back grouped (calls, then outputs, as Codex sends them): each
/// becomes its own call/result pair upstream.
#[tokio::test]
async fn two_calls_of_one_answer_go_back_as_two_pairs() {
    let harness = start().await;
    let (status, _, body) = harness
        .responses(json!({
            "input": [
                {"role": "user", "content": "Weather in Moscow and Kazan?"},
                {"type": "reasoning", "id": "rs_1", "summary": [], "content": null, "encrypted_content": "X"},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
                 "arguments": "{\"city\":\"Moscow\"}", "status": "completed"},
                {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "get_weather",
                 "arguments": "{\"city\":\"Kazan\"}", "status": "completed"},
                {"type": "function_call_output", "call_id": "call_1", "output": "21"},
                {"type": "function_call_output", "call_id": "call_2", "output": "18"}
            ],
            "tools": [weather_tool()],
            "parallel_tool_calls": true
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_response(&body);
    let sent = &harness.upstream_chat_bodies()[0];
    let messages = sent["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["user", "assistant", "function", "assistant", "function"]
    );
    assert_eq!(
        messages[1]["function_call"]["arguments"],
        json!({"city": "Moscow"})
    );
    assert_eq!(messages[2]["content"], "{\"result\":21}");
    assert_eq!(
        messages[3]["function_call"]["arguments"],
        json!({"city": "Kazan"})
    );
    assert_eq!(messages[4]["content"], "{\"result\":18}");
}

#[tokio::test]
async fn custom_tool_round_trip() {
    let harness = start().await;
    let (status, _, body) = harness
        .responses(json!({
            "input": "Add a file hello.txt",
            "tools": [weather_tool(), patch_tool()],
            "tool_choice": {"type": "custom", "name": "apply_patch"}
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_response(&body);
    let call = body["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "custom_tool_call")
        .unwrap_or_else(|| panic!("no custom call: {body}"))
        .clone();
    assert_eq!(call["name"], "apply_patch");
    assert!(call["id"].as_str().unwrap().starts_with("ctc_"));
    assert!(call["input"].is_string(), "{call}");
    assert!(call.get("arguments").is_none());
    let sent = &harness.upstream_chat_bodies()[0];
    let function = &sent["functions"][1];
    assert_eq!(function["name"], "apply_patch");
    assert_eq!(function["parameters"]["required"], json!(["input"]));
    assert!(
        function["description"]
            .as_str()
            .unwrap()
            .contains("lark grammar:\nstart: begin_patch"),
        "{function}"
    );

    let patch = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n";
    let (status, _, body) = harness
        .responses(json!({
            "input": [
                {"role": "user", "content": "Add a file hello.txt"},
                {"type": "custom_tool_call", "id": "ctc_1", "status": "completed",
                 "call_id": call["call_id"], "name": "apply_patch", "input": patch},
                {"type": "custom_tool_call_output", "id": "ctco_1", "call_id": call["call_id"],
                 "output": "Success. Updated the following files:\nA hello.txt\n"}
            ],
            "tools": [patch_tool()]
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_response(&body);
    let sent = &harness.upstream_chat_bodies()[1];
    assert_eq!(
        sent["messages"][1]["function_call"],
        json!({"name": "apply_patch", "arguments": {"input": patch}})
    );
    assert!(
        sent["messages"][2]["content"]
            .as_str()
            .unwrap()
            .contains("A hello.txt")
    );
}

#[tokio::test]
async fn left_out_tools_are_named_in_a_header() {
    let harness = start().await;
    let (status, headers, body) = harness
        .responses(json!({
            "input": "Hi",
            "tools": [
                weather_tool(),
                {"type": "web_search", "external_web_access": false},
                {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents",
                 "tools": [{"type": "function", "name": "spawn_agent"}]},
                {"type": "tool_search", "execution": "client"}
            ],
            "tool_choice": "auto"
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_response(&body);
    assert_eq!(
        headers["x-gigachat-adapter-dropped-tools"],
        "web_search,namespace,tool_search"
    );
    assert_eq!(body["tools"].as_array().unwrap().len(), 4);
    let sent = &harness.upstream_chat_bodies()[0];
    let functions: Vec<&str> = sent["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(functions, ["get_weather"]);

    // Browsers may read it (CORS exposes it).
    let browser = start_with(Options {
        args: vec!["--cors-allowed-hosts".into(), "https://webui.test".into()],
        ..Options::default()
    })
    .await;
    let response = browser
        .post(
            "/v1/responses",
            json!({"input": "Hi", "tools": [{"type": "web_search"}]}),
        )
        .header("origin", "https://webui.test")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-gigachat-adapter-dropped-tools"],
        "web_search"
    );
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        exposed.contains("x-gigachat-adapter-dropped-tools"),
        "{exposed}"
    );

    // No header when nothing was left out.
    let (_, headers, _) = harness
        .responses(json!({"input": "Hi", "tools": [weather_tool()]}))
        .await;
    assert!(headers.get("x-gigachat-adapter-dropped-tools").is_none());
}

#[tokio::test]
async fn forcing_a_left_out_tool_is_refused() {
    let harness = start().await;
    for choice in [
        json!({"type": "web_search_preview"}),
        json!({"type": "function", "name": "spawn_agent"}),
        json!("required"),
    ] {
        let (status, _, body) = harness
            .responses(json!({
                "input": "Hi",
                "tools": [{"type": "web_search"}],
                "tool_choice": choice
            }))
            .await;
        assert_error(status, &body, 400, None);
        assert_eq!(body["error"]["param"], "tool_choice", "{body}");
    }
    assert!(harness.upstream_chat_bodies().is_empty());
}

#[tokio::test]
async fn unserved_modes_are_refused_by_name() {
    let harness = start().await;
    for (extra, param) in [
        (json!({"background": true}), "background"),
        (json!({"conversation": "conv_1"}), "conversation"),
        (json!({"prompt": {"id": "pmpt_1"}}), "prompt"),
    ] {
        let mut body = json!({"input": "Hi"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, _, body) = harness.responses(body).await;
        assert_error(status, &body, 400, None);
        assert_eq!(body["error"]["param"], param, "{body}");
    }
    let response = harness
        .post("/v1/responses/resp_123/cancel", json!({}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_error(status, &body, 400, None);
    assert!(harness.upstream_chat_bodies().is_empty());
}

#[tokio::test]
async fn malformed_items_are_named_by_path() {
    let harness = start().await;
    for (input, param) in [
        (
            json!([{"role": "user", "content": "x"},
                   {"type": "function_call", "name": "f", "arguments": "{}"}]),
            "input[1]",
        ),
        (
            json!([{"type": "function_call", "call_id": 5, "name": "f", "arguments": "{}"}]),
            "input[0].call_id",
        ),
        (
            json!([{"role": "user", "content": [{"type": "input_video"}]}]),
            "input[0].content[0].type",
        ),
        (
            json!([{"role": "user", "content": "x"},
                   {"type": "function_call_output", "call_id": "nope", "output": "?"}]),
            "input[1].call_id",
        ),
        (
            json!([{"role": "user", "content": "x"},
                   {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]),
            "input[1]",
        ),
        (
            json!([{"type": "item_reference", "id": "msg_unknown"}]),
            "input[0].id",
        ),
    ] {
        let (status, _, body) = harness.responses(json!({"input": input})).await;
        assert_error(status, &body, 400, None);
        assert_eq!(body["error"]["param"], param, "{body}");
    }
    assert!(harness.upstream_chat_bodies().is_empty());
}

#[tokio::test]
async fn unknown_model_is_a_404_in_openai_envelope() {
    let harness = start().await;
    let (status, _, body) = harness
        .responses(json!({"model": "NoSuchModel", "input": "Hi"}))
        .await;
    assert_error(status, &body, 404, Some("model_not_found"));
}

#[tokio::test]
async fn cut_answers_are_incomplete() {
    let harness = start().await;
    let (status, _, body) = harness
        .responses(json!({"input": "Tell me a long story", "max_output_tokens": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_response(&body);
    assert_eq!(body["status"], "incomplete");
    assert_eq!(body["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(body["max_output_tokens"], 1);
    assert_eq!(harness.upstream_chat_bodies()[0]["max_tokens"], 1);

    let (status, _, body) = harness
        .responses(json!({"input": "blacklist: something"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_response(&body);
    assert_eq!(body["status"], "incomplete");
    assert_eq!(body["incomplete_details"]["reason"], "content_filter");
}

#[tokio::test]
async fn prompt_cache_key_is_the_gigachat_session() {
    let harness = start().await;
    let (status, _, body) = harness
        .responses(json!({"input": "Hi", "prompt_cache_key": "thread-42"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = &harness.upstream("/chat/completions")[0];
    assert_eq!(
        sent.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("x-session-id"))
            .map(|(_, value)| value.as_str()),
        Some("thread-42")
    );
}

#[tokio::test]
async fn input_tokens_are_counted_by_gigachat() {
    let harness = start().await;
    let (status, _, body) = harness
        .responses_at(
            "/v1/responses/input_tokens?beta=true",
            json!({"model": "GigaChat", "instructions": "Be brief.", "input": "Hello there",
                   "tools": [weather_tool(), {"type": "web_search"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "response.input_tokens");
    let total = body["input_tokens"].as_u64().unwrap();
    let sent: Value = serde_json::from_slice(&harness.upstream("/tokens/count")[0].body).unwrap();
    let texts: Vec<&str> = sent["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(texts[..2], ["Be brief.", "Hello there"]);
    assert!(texts[2].contains("get_weather"), "{texts:?}");
    assert!(total > 0);
    assert!(harness.upstream_chat_bodies().is_empty());
}

/// Serves one small PDF over HTTP on 127.0.0.1 (as a generic download, as real servers often do).
async fn document_server() -> String {
    let pdf: &'static [u8] =
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";
    let app = axum::Router::new().route(
        "/report.pdf",
        axum::routing::get(
            move || async move { ([("content-type", "application/octet-stream")], pdf) },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/report.pdf", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// Files by URL are fetched (where fetching is allowed), uploaded and attached; a file part that
/// cannot be fetched is named by its Responses path.
#[tokio::test]
async fn files_by_url_are_fetched_and_attached() {
    let url = document_server().await;
    let request = json!({"input": [{"role": "user", "content": [
        {"type": "input_text", "text": "Summarise the report"},
        {"type": "input_file", "file_url": url, "filename": "report.pdf"}
    ]}]});
    let refused = start().await;
    let (status, _, body) = refused.responses(request.clone()).await;
    assert_error(status, &body, 400, Some("forbidden_url"));
    assert_eq!(body["error"]["param"], "input[0].content[1]", "{body}");

    let allowed = start_with(Options {
        args: vec!["--fetch-allowed-networks".into(), "127.0.0.1/32".into()],
        ..Options::default()
    })
    .await;
    let (status, _, body) = allowed.responses(request).await;
    assert_eq!(status, 200, "{body}");
    assert_response(&body);
    let upload = allowed
        .upstream("/files")
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("the document was uploaded");
    assert!(String::from_utf8_lossy(&upload.body).contains("report.pdf"));
    let sent = &allowed.upstream_chat_bodies()[0];
    assert_eq!(
        sent["messages"][0]["attachments"].as_array().unwrap().len(),
        1
    );
}
