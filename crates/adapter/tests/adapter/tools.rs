//! Tool calling and structured outputs through the adapter, against the emulator's function calling.

use async_openai::types::chat::{CreateChatCompletionResponse, CreateChatCompletionStreamResponse};
use serde_json::{Value, json};

use super::common::{Harness, assert_error, start};

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "Weather forecast for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "enum": [1, 3, 7]},
                "units": {"anyOf": [{"type": "string", "enum": ["c", "f"]}, {"type": "null"}]}
            },
            "required": ["city", "days"],
            "additionalProperties": false
        }
    }})
}

fn mcp_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "mcp__fs/read file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
    }})
}

fn tool_request(text: &str, choice: Value) -> Value {
    json!({
        "messages": [{"role": "user", "content": text}],
        "tools": [weather_tool(), mcp_tool()],
        "tool_choice": choice
    })
}

/// The single tool call of a non-streaming answer, checked against OpenAI's shape.
fn the_call(body: &Value) -> (String, String, Value) {
    let _: CreateChatCompletionResponse = serde_json::from_value(body.clone()).unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{body}");
    assert!(choice["message"]["content"].is_null(), "{body}");
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["type"], "function");
    let id = calls[0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("call_"));
    let arguments = calls[0]["function"]["arguments"].as_str().unwrap();
    (
        id,
        calls[0]["function"]["name"].as_str().unwrap().to_owned(),
        serde_json::from_str(arguments).unwrap(),
    )
}

fn assert_weather_arguments(arguments: &Value) {
    assert!(arguments["city"].is_string(), "{arguments}");
    assert!(
        [1, 3, 7].contains(&arguments["days"].as_i64().unwrap_or(0)),
        "days restored to the client's integer enum: {arguments}"
    );
}

#[tokio::test]
async fn forced_tool_call_comes_back_in_openai_shape() {
    let harness = start().await;
    let (status, _, body) = harness
        .chat(tool_request(
            "Weather in Moscow?",
            json!({"type": "function", "function": {"name": "get_weather"}}),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, name, arguments) = the_call(&body);
    assert_eq!(name, "get_weather");
    assert_weather_arguments(&arguments);

    let sent = &harness.upstream_chat_bodies()[0];
    assert_eq!(sent["function_call"], json!({"name": "get_weather"}));
    let functions = sent["functions"].as_array().unwrap();
    assert_eq!(
        functions[0]["parameters"]["properties"]["days"]["enum"],
        json!(["1", "3", "7"])
    );
    assert!(
        functions[0]["parameters"]
            .get("additionalProperties")
            .is_none()
    );
    let alias = functions[1]["name"].as_str().unwrap();
    assert_ne!(alias, "mcp__fs/read file");
    assert!(alias.chars().next().unwrap().is_ascii_alphabetic());
}

#[tokio::test]
async fn auto_call_and_aliased_names_map_back() {
    let harness = start().await;
    // The emulator calls F under "auto" when the prompt says `call:F`; F is the alias we sent.
    harness.chat(tool_request("warm-up", json!("auto"))).await;
    let alias = harness.upstream_chat_bodies()[0]["functions"][1]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, body) = harness
        .chat(tool_request(
            &format!("read it call:{alias}"),
            json!("auto"),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, name, arguments) = the_call(&body);
    assert_eq!(name, "mcp__fs/read file");
    assert!(arguments["path"].is_string());
}

#[tokio::test]
async fn required_with_several_tools_always_calls_one() {
    let harness = start().await;
    let (status, _, body) = harness
        .chat(tool_request("anything", json!("required")))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, name, arguments) = the_call(&body);
    assert!(["get_weather", "mcp__fs/read file"].contains(&name.as_str()));
    assert!(arguments.is_object());
    let sent = &harness.upstream_chat_bodies()[0];
    let forced = sent["function_call"]["name"].as_str().unwrap();
    assert!(
        sent["functions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == forced)
    );
}

#[tokio::test]
async fn tool_round_trip_restores_state_and_pairs() {
    let harness = start().await;
    let (_, _, first) = harness
        .chat(tool_request(
            "Weather?",
            json!({"type": "function", "function": {"name": "get_weather"}}),
        ))
        .await;
    let (id, _, arguments) = the_call(&first);
    let (status, _, second) = harness
        .chat(json!({
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": null, "tool_calls": first["choices"][0]["message"]["tool_calls"]},
                {"role": "tool", "tool_call_id": id, "content": "Sunny, +20"}
            ],
            "tools": [weather_tool(), mcp_tool()]
        }))
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["choices"][0]["finish_reason"], "stop");
    assert!(second["choices"][0]["message"]["content"].is_string());
    let sent = &harness.upstream_chat_bodies()[1];
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["function_call"]["name"], "get_weather");
    assert_eq!(
        messages[1]["function_call"]["arguments"]["days"],
        arguments["days"]
    );
    let expected_state = translate::tools::state_id(&id).unwrap();
    assert_eq!(messages[1]["functions_state_id"], expected_state);
    assert_eq!(messages[2]["role"], "function");
    assert_eq!(messages[2]["name"], "get_weather");
    assert_eq!(messages[2]["content"], r#"{"result":"Sunny, +20"}"#);
}

#[tokio::test]
async fn parallel_calls_in_history_become_consecutive_pairs() {
    let harness = start().await;
    let (status, _, body) = harness
        .chat(json!({
            "messages": [
                {"role": "user", "content": "Weather in two cities?"},
                {"role": "assistant", "content": "Checking both.", "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Омск\",\"days\":1}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Тула\",\"days\":3}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_b", "content": "{\"t\": 5}"},
                {"role": "tool", "tool_call_id": "call_a", "content": "{\"t\": 7}"}
            ],
            "tools": [weather_tool()]
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = &harness.upstream_chat_bodies()[0];
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["user", "assistant", "function", "assistant", "function"]
    );
    assert_eq!(sent["messages"][1]["content"], "Checking both.");
    assert_eq!(
        sent["messages"][1]["function_call"]["arguments"]["city"],
        "Омск"
    );
    assert_eq!(sent["messages"][2]["content"], r#"{"t":7}"#);
    assert_eq!(
        sent["messages"][3]["function_call"]["arguments"]["city"],
        "Тула"
    );
    assert_eq!(sent["messages"][4]["content"], r#"{"t":5}"#);
}

#[tokio::test]
async fn broken_tool_history_is_rejected_before_gigachat() {
    let harness = start().await;
    let call = json!({"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}});
    for (messages, param) in [
        (
            json!([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}]),
            "messages[1].tool_calls[0]",
        ),
        (
            json!([{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_z", "content": "r"}]),
            "messages[1]",
        ),
        (
            json!([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}, {"role": "tool", "tool_call_id": "call_z", "content": "r"}]),
            "messages[2].tool_call_id",
        ),
        (
            json!([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "not json"}}]}, {"role": "tool", "tool_call_id": "c", "content": "r"}]),
            "messages[1].tool_calls[0].function.arguments",
        ),
    ] {
        let (status, _, body) = harness
            .chat(json!({"messages": messages, "tools": [weather_tool()]}))
            .await;
        assert_error(status, &body, 400, None);
        assert_eq!(body["error"]["param"], param, "{body}");
    }
    assert!(harness.upstream("/chat/completions").is_empty());
}

#[tokio::test]
async fn streamed_tool_call_deltas() {
    let harness = start().await;
    let mut request = tool_request(
        "Weather?",
        json!({"type": "function", "function": {"name": "get_weather"}}),
    );
    request["stream"] = json!(true);
    request["stream_options"] = json!({"include_usage": true});
    let (status, events) = harness.stream(request).await;
    assert_eq!(status, 200);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| {
            let _: CreateChatCompletionStreamResponse = serde_json::from_str(e).unwrap();
            serde_json::from_str(e).unwrap()
        })
        .collect();
    let deltas: Vec<&Value> = chunks
        .iter()
        .flat_map(|c| c["choices"].as_array().unwrap())
        .filter_map(|c| c["delta"].get("tool_calls"))
        .flat_map(|calls| calls.as_array().unwrap())
        .collect();
    assert_eq!(deltas.len(), 2);
    assert!(deltas[0]["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(deltas[0]["type"], "function");
    assert_eq!(deltas[0]["function"]["name"], "get_weather");
    assert!(deltas[1].get("id").is_none());
    let arguments: Value =
        serde_json::from_str(deltas[1]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_weather_arguments(&arguments);
    let finishes: Vec<&Value> = chunks
        .iter()
        .flat_map(|c| c["choices"].as_array().unwrap())
        .filter_map(|c| c.get("finish_reason").filter(|f| !f.is_null()))
        .collect();
    assert_eq!(finishes, [&json!("tool_calls")]);
    assert!(chunks.last().unwrap()["usage"].is_object());
}

#[tokio::test]
async fn legacy_functions_answer_with_function_call() {
    let harness = start().await;
    let (status, _, body) = harness
        .chat(json!({
            "messages": [{"role": "user", "content": "x"}],
            "functions": [weather_tool()["function"]],
            "function_call": {"name": "get_weather"}
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    let message = &body["choices"][0]["message"];
    assert_eq!(body["choices"][0]["finish_reason"], "function_call");
    assert_eq!(message["function_call"]["name"], "get_weather");
    assert!(message.get("tool_calls").is_none());
}

#[tokio::test]
async fn invalid_arguments_finish_is_still_a_tool_call() {
    let harness = start().await;
    let (status, _, body) = harness
        .chat(tool_request("call-invalid:get_weather", json!("auto")))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, name, _) = the_call(&body);
    assert_eq!(name, "get_weather");
}

#[tokio::test]
async fn blacklist_is_content_filter() {
    let harness = start().await;
    let (_, _, body) = harness
        .chat(json!({"messages": [{"role": "user", "content": "blacklist: topic"}]}))
        .await;
    assert_eq!(body["choices"][0]["finish_reason"], "content_filter");
}

fn person_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 0},
            "level": {"enum": [1, 2, 3]},
            "tags": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["name", "age", "level", "tags"],
        "additionalProperties": false
    })
}

async fn structured(harness: &Harness, stream: bool) -> Value {
    let request = json!({
        "messages": [{"role": "user", "content": "Make up a person"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": person_schema(), "strict": true}},
        "stream": stream
    });
    if stream {
        let (_, events) = harness.stream(request).await;
        let text: String = events[..events.len() - 1]
            .iter()
            .map(|e| serde_json::from_str::<Value>(e).unwrap())
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        serde_json::from_str(&text).unwrap()
    } else {
        let (status, _, body) = harness.chat(request).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(body["choices"][0]["message"]["content"].as_str().unwrap()).unwrap()
    }
}

#[tokio::test]
async fn json_schema_output_satisfies_the_schema() {
    let harness = start().await;
    let person = structured(&harness, false).await;
    assert!(person["name"].is_string());
    assert!(person["age"].as_i64().unwrap() >= 0);
    assert!(
        [1, 2, 3].contains(&person["level"].as_i64().unwrap()),
        "{person}"
    );
    assert!(
        person["tags"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string)
    );
    let sent = &harness.upstream_chat_bodies()[0];
    assert_eq!(sent["response_format"]["type"], "json_schema");
    assert_eq!(sent["response_format"]["strict"], true);
    assert!(sent["response_format"]["schema"]["properties"]["name"].is_object());
    assert!(
        sent["response_format"].get("json_schema").is_none(),
        "GigaChat's flat form"
    );
    let streamed = structured(&harness, true).await;
    assert!(streamed["name"].is_string());
}

#[tokio::test]
async fn json_object_mode_asks_and_checks() {
    let harness = start().await;
    let (status, _, body) = harness
        .chat(json!({
            "messages": [{"role": "user", "content": "Give me data"}],
            "response_format": {"type": "json_object"}
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    let content: Value =
        serde_json::from_str(body["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(content.is_object());
    let sent = &harness.upstream_chat_bodies()[0];
    assert_eq!(sent["messages"][0]["role"], "system");
    assert!(
        sent["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("JSON object")
    );
}

#[tokio::test]
async fn tools_and_structured_output_together() {
    let harness = start().await;
    let (status, _, body) = harness
        .chat(json!({
            "messages": [{"role": "user", "content": "x"}],
            "tools": [weather_tool()],
            "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": person_schema()}}
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = &harness.upstream_chat_bodies()[0];
    assert!(sent["functions"].is_array() && sent["response_format"].is_object());
}
