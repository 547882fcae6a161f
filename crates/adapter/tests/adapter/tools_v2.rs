//! Tools on GigaChat's v2 contract (`GIGACHAT_API_VERSION=2`) through the three front doors, against
//! the emulator's v2 parallel calls: several calls of one answer come back as several chat
//! `tool_calls` (streamed with their own `index`), Responses `function_call` items and Messages
//! `tool_use` blocks, with ids that send the results back to GigaChat grouped and matched by
//! GigaChat's call ids; `required`/`any` is v2's `any`. Answers are checked against the OpenAI
//! description and async-openai's types.

use async_openai::types::chat::{CreateChatCompletionResponse, CreateChatCompletionStreamResponse};
use serde_json::{Value, json};

use crate::common::{Harness, KEY, Options, start_with};
use crate::openai_spec::spec;

async fn start_v2() -> Harness {
    start_with(Options {
        settings: Box::new(|settings| settings.api_version = gigachat::Contract::V2),
        ..Options::default()
    })
    .await
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "get_rate", "description": "Exchange rate",
            "parameters": {"type": "object", "properties": {"currency": {"type": "string"}}, "required": ["currency"]}}}
    ])
}

/// The user's turn that makes the emulator call both tools (with exact arguments).
const BOTH: &str =
    r#"call:get_weather args:{"city": "Kazan"} call:get_rate args:{"currency": "USD"}"#;

/// The v2 bodies the emulator received.
fn v2_bodies(harness: &Harness) -> Vec<Value> {
    harness
        .upstream("/v2/chat/completions")
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// `(name, arguments)` of each call, and the ids, of a chat message's `tool_calls`.
fn calls_of(message: &Value) -> (Vec<(String, Value)>, Vec<String>) {
    let calls = message["tool_calls"].as_array().unwrap();
    let named = calls
        .iter()
        .map(|call| {
            assert_eq!(call["type"], "function");
            let arguments = call["function"]["arguments"].as_str().unwrap();
            (
                call["function"]["name"].as_str().unwrap().to_owned(),
                serde_json::from_str(arguments).unwrap(),
            )
        })
        .collect();
    let ids = calls
        .iter()
        .map(|call| call["id"].as_str().unwrap().to_owned())
        .collect();
    (named, ids)
}

fn both_calls() -> Vec<(String, Value)> {
    vec![
        ("get_weather".into(), json!({"city": "Kazan"})),
        ("get_rate".into(), json!({"currency": "USD"})),
    ]
}

/// Asserts the v2 request sent both calls back in one assistant message, with GigaChat's ids and
/// state, each answered by a result naming its call; returns GigaChat's call ids.
fn assert_grouped_history(sent: &Value, answered: &[(&str, &str)]) -> Vec<String> {
    let messages = sent["messages"].as_array().unwrap();
    let assistant = messages
        .iter()
        .position(|m| m["role"] == "assistant")
        .unwrap_or_else(|| panic!("no assistant message: {sent}"));
    let parts = messages[assistant]["content"].as_array().unwrap();
    let calls: Vec<&Value> = parts
        .iter()
        .filter_map(|part| part.get("function_call"))
        .collect();
    assert_eq!(calls.len(), 2, "both calls in one message: {sent}");
    let ids: Vec<String> = calls
        .iter()
        .map(|call| call["id"].as_str().unwrap().to_owned())
        .collect();
    assert_ne!(ids[0], ids[1]);
    let state = messages[assistant]["tools_state_id"].as_str().unwrap();
    let results: Vec<(String, String, Value)> = messages[assistant + 1..]
        .iter()
        .filter(|m| m["role"] == "tool")
        .flat_map(|m| {
            assert_eq!(m["tools_state_id"], state, "{m}");
            m["content"].as_array().unwrap().clone()
        })
        .map(|part| {
            let result = &part["function_result"];
            (
                result["id"].as_str().unwrap().to_owned(),
                result["name"].as_str().unwrap().to_owned(),
                result["result"].clone(),
            )
        })
        .collect();
    let expected: Vec<(String, String, Value)> = answered
        .iter()
        .zip(&ids)
        .map(|((name, result), id)| {
            (
                id.clone(),
                (*name).to_owned(),
                serde_json::from_str(result).unwrap(),
            )
        })
        .collect();
    let mut sorted = results.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected_sorted = expected.clone();
    expected_sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(sorted, expected_sorted, "{sent}");
    ids
}

#[tokio::test]
async fn chat_parallel_calls_and_their_results_round_trip() {
    let harness = start_v2().await;
    let question = json!({"role": "user", "content": BOTH});
    let (status, _, body) = harness
        .chat(json!({"messages": [question], "tools": tools()}))
        .await;
    assert_eq!(status, 200, "{body}");
    spec().assert_valid("CreateChatCompletionResponse", &body);
    let _: CreateChatCompletionResponse = serde_json::from_value(body.clone()).unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{body}");
    let (calls, ids) = calls_of(&choice["message"]);
    assert_eq!(calls, both_calls());
    assert_ne!(ids[0], ids[1]);
    let first = &v2_bodies(&harness)[0];
    assert_eq!(
        first["model_options"]["parallel_tool_calls"], true,
        "OpenAI's default: {first}"
    );

    // The results come back out of order, as clients may send them.
    let (status, _, answer) = harness
        .chat(json!({"tools": tools(), "messages": [
            question,
            choice["message"],
            {"role": "tool", "tool_call_id": ids[1], "content": "90.5"},
            {"role": "tool", "tool_call_id": ids[0], "content": "{\"temp_c\": 8}"}
        ]}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["finish_reason"], "stop", "{answer}");
    let sent = &v2_bodies(&harness)[1];
    let gigachat_ids = assert_grouped_history(
        sent,
        &[
            ("get_weather", r#"{"temp_c": 8}"#),
            ("get_rate", "{\"result\": 90.5}"),
        ],
    );
    for (id, gigachat_id) in ids.iter().zip(&gigachat_ids) {
        assert_eq!(
            translate::tools::decode_call_id(id).call_id.as_ref(),
            Some(gigachat_id)
        );
    }
}

#[tokio::test]
async fn chat_streams_parallel_calls_with_their_own_indexes() {
    let harness = start_v2().await;
    let question = json!({"role": "user", "content": BOTH});
    let (status, events) = harness
        .stream(json!({"messages": [question], "tools": tools(), "stream": true}))
        .await;
    assert_eq!(status, 200, "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|event| {
            let chunk: Value = serde_json::from_str(event).unwrap();
            spec().assert_valid("CreateChatCompletionStreamResponse", &chunk);
            let _: CreateChatCompletionStreamResponse =
                serde_json::from_value(chunk.clone()).unwrap();
            chunk
        })
        .collect();
    // Per index: the id and name (first delta), then the arguments, as OpenAI streams them.
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for chunk in &chunks {
        for delta in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let index = delta["index"].as_u64().unwrap() as usize;
            if let Some(id) = delta["id"].as_str() {
                assert_eq!(index, calls.len(), "indexes count up: {delta}");
                calls.push((
                    id.to_owned(),
                    delta["function"]["name"].as_str().unwrap().to_owned(),
                    String::new(),
                ));
            }
            if let Some(piece) = delta["function"]["arguments"].as_str() {
                calls[index].2.push_str(piece);
            }
        }
    }
    let named: Vec<(String, Value)> = calls
        .iter()
        .map(|(_, name, arguments)| (name.clone(), serde_json::from_str(arguments).unwrap()))
        .collect();
    assert_eq!(named, both_calls());
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    // The streamed ids send the results back grouped too.
    let tool_calls: Vec<Value> = calls
        .iter()
        .map(|(id, name, arguments)| {
            json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
        })
        .collect();
    let (status, _, answer) = harness
        .chat(json!({"tools": tools(), "messages": [
            question,
            {"role": "assistant", "content": null, "tool_calls": tool_calls},
            {"role": "tool", "tool_call_id": calls[0].0, "content": "sunny"},
            {"role": "tool", "tool_call_id": calls[1].0, "content": "90.5"}
        ]}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_grouped_history(
        &v2_bodies(&harness)[1],
        &[
            ("get_weather", r#"{"result": "sunny"}"#),
            ("get_rate", r#"{"result": 90.5}"#),
        ],
    );
}

/// Calls without GigaChat ids (the June 2026 IFT recording has none) still get distinct client ids,
/// and go back one call per message, each followed by its result (matched in order).
#[tokio::test]
async fn parallel_calls_without_gigachat_ids_go_back_as_pairs() {
    let harness = start_with(Options {
        emulator: gigachat_emulator::EmulatorConfig {
            function_call_ids: false,
            ..gigachat_emulator::EmulatorConfig::default()
        },
        settings: Box::new(|settings| settings.api_version = gigachat::Contract::V2),
        ..Options::default()
    })
    .await;
    let question = json!({"role": "user", "content": BOTH});
    let (status, _, body) = harness
        .chat(json!({"messages": [question], "tools": tools()}))
        .await;
    assert_eq!(status, 200, "{body}");
    let message = &body["choices"][0]["message"];
    let (calls, ids) = calls_of(message);
    assert_eq!(calls, both_calls());
    assert_ne!(ids[0], ids[1], "distinct ids without GigaChat's");
    let (status, _, answer) = harness
        .chat(json!({"tools": tools(), "messages": [
            question,
            message,
            {"role": "tool", "tool_call_id": ids[1], "content": "90.5"},
            {"role": "tool", "tool_call_id": ids[0], "content": "sunny"}
        ]}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let sent = &v2_bodies(&harness)[1];
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant", "tool"]);
    let state = sent["messages"][1]["tools_state_id"].as_str().unwrap();
    assert_eq!(sent["messages"][3]["tools_state_id"], state);
    assert_eq!(
        sent["messages"][2]["content"][0]["function_result"]["result"],
        json!({"result": "sunny"})
    );
    assert_eq!(
        sent["messages"][4]["content"][0]["function_result"]["name"],
        "get_rate"
    );
}

/// `required` is v2's `any` over every tool (no router function); `parallel_tool_calls: false`
/// reaches GigaChat and one call comes back.
#[tokio::test]
async fn required_is_any_and_parallel_can_be_turned_off() {
    let harness = start_v2().await;
    let (status, _, body) = harness
        .chat(
            json!({"messages": [{"role": "user", "content": "Weather?"}], "tools": tools(),
            "tool_choice": "required", "parallel_tool_calls": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    spec().assert_valid("CreateChatCompletionResponse", &body);
    let (calls, _) = calls_of(&body["choices"][0]["message"]);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "get_weather", "the first listed tool");
    let sent = &v2_bodies(&harness)[0];
    assert_eq!(
        sent["tool_config"],
        json!({"mode": "any", "functions_names_any": ["get_weather", "get_rate"]})
    );
    let functions = &sent["tools"][0]["functions"]["specifications"];
    assert_eq!(functions.as_array().unwrap().len(), 2, "no router: {sent}");
    assert_eq!(sent["model_options"]["parallel_tool_calls"], false);

    let (status, _, body) = harness
        .chat(
            json!({"messages": [{"role": "user", "content": BOTH}], "tools": tools(),
            "parallel_tool_calls": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (calls, _) = calls_of(&body["choices"][0]["message"]);
    assert_eq!(calls, both_calls()[..1]);
}

fn response_tools() -> Value {
    json!([
        {"type": "function", "name": "get_weather", "strict": false,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"type": "function", "name": "get_rate", "strict": false,
            "parameters": {"type": "object", "properties": {"currency": {"type": "string"}}, "required": ["currency"]}}
    ])
}

/// The `function_call` items of a Response: `(output_index, call_id, name, arguments)`.
fn function_call_items(response: &Value) -> Vec<(usize, String, String, Value)> {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, item)| item["type"] == "function_call")
        .map(|(index, item)| {
            (
                index,
                item["call_id"].as_str().unwrap().to_owned(),
                item["name"].as_str().unwrap().to_owned(),
                serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

fn assert_response(body: &Value) {
    spec().assert_valid("Response", body);
    let parsed: Result<async_openai::types::responses::Response, _> =
        serde_json::from_value(body.clone());
    assert!(parsed.is_ok(), "{parsed:?}\n{body:#}");
}

#[tokio::test]
async fn responses_parallel_function_calls_are_items_and_round_trip_stored() {
    let harness = start_v2().await;
    let response = harness
        .post(
            "/v1/responses",
            json!({"model": "GigaChat", "input": BOTH, "tools": response_tools(), "store": true}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_response(&body);
    let items = function_call_items(&body);
    let named: Vec<(String, Value)> = items
        .iter()
        .map(|(_, _, name, arguments)| (name.clone(), arguments.clone()))
        .collect();
    assert_eq!(named, both_calls(), "{body}");
    assert_ne!(items[0].1, items[1].1);

    // Continue the stored response with both outputs: they go to GigaChat grouped.
    let response = harness
        .post(
            "/v1/responses",
            json!({"model": "GigaChat", "tools": response_tools(),
            "previous_response_id": body["id"],
            "input": [
                {"type": "function_call_output", "call_id": items[1].1, "output": "90.5"},
                {"type": "function_call_output", "call_id": items[0].1, "output": "sunny"}
            ]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_response(&answer);
    assert_eq!(answer["status"], "completed", "{answer}");
    assert_grouped_history(
        &v2_bodies(&harness)[1],
        &[
            ("get_weather", r#"{"result": "sunny"}"#),
            ("get_rate", r#"{"result": 90.5}"#),
        ],
    );
}

/// Every `data:` of a Responses stream, validated against the spec.
async fn responses_stream(harness: &Harness, body: Value) -> Vec<Value> {
    let response = harness.post("/v1/responses", body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    text.split_terminator("\n\n")
        .map(|frame| {
            let (_, data) = frame.split_once("data: ").unwrap();
            let event: Value = serde_json::from_str(data).unwrap();
            spec().assert_stream_event(&event);
            event
        })
        .collect()
}

#[tokio::test]
async fn responses_stream_parallel_function_calls_at_their_output_indexes() {
    let harness = start_v2().await;
    let events = responses_stream(
        &harness,
        json!({"model": "GigaChat", "input": BOTH, "tools": response_tools(), "stream": true}),
    )
    .await;
    let added: Vec<(u64, String, String)> = events
        .iter()
        .filter(|e| {
            e["type"] == "response.output_item.added" && e["item"]["type"] == "function_call"
        })
        .map(|e| {
            (
                e["output_index"].as_u64().unwrap(),
                e["item"]["call_id"].as_str().unwrap().to_owned(),
                e["item"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let names: Vec<&str> = added.iter().map(|(_, _, name)| name.as_str()).collect();
    assert_eq!(names, ["get_weather", "get_rate"]);
    assert_eq!(added[1].0, added[0].0 + 1, "{added:?}");
    // Each call's arguments arrive on its own item, and `done` repeats them whole.
    for (output_index, call_id, _) in &added {
        let done = events
            .iter()
            .find(|e| {
                e["type"] == "response.function_call_arguments.done"
                    && e["output_index"] == *output_index
            })
            .unwrap_or_else(|| panic!("no arguments.done for {call_id}"));
        let arguments: Value = serde_json::from_str(done["arguments"].as_str().unwrap()).unwrap();
        assert!(both_calls().iter().any(|(_, a)| *a == arguments), "{done}");
    }
    let completed = events.last().unwrap();
    assert_eq!(completed["type"], "response.completed");
    let items = function_call_items(&completed["response"]);
    let ids: Vec<&str> = items.iter().map(|(_, id, _, _)| id.as_str()).collect();
    assert_eq!(ids, [added[0].1.as_str(), added[1].1.as_str()]);
}

impl Harness {
    /// POSTs a Messages request as Anthropic's SDK does; the raw response.
    async fn anthropic_messages(&self, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/messages", self.base))
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

fn anthropic_tools() -> Value {
    json!([
        {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"name": "get_rate", "input_schema": {"type": "object", "properties": {"currency": {"type": "string"}}, "required": ["currency"]}}
    ])
}

/// `(id, name, input)` of a message's `tool_use` blocks.
fn tool_uses(content: &Value) -> Vec<(String, String, Value)> {
    content
        .as_array()
        .unwrap()
        .iter()
        .filter(|block| block["type"] == "tool_use")
        .map(|block| {
            (
                block["id"].as_str().unwrap().to_owned(),
                block["name"].as_str().unwrap().to_owned(),
                block["input"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn messages_parallel_tool_use_blocks_round_trip() {
    let harness = start_v2().await;
    let question = json!({"role": "user", "content": BOTH});
    let response = harness
        .anthropic_messages(json!({"max_tokens": 200,
            "tools": anthropic_tools(), "messages": [question]}))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "message", "{body}");
    assert_eq!(body["stop_reason"], "tool_use", "{body}");
    let uses = tool_uses(&body["content"]);
    let named: Vec<(String, Value)> = uses
        .iter()
        .map(|(id, name, input)| {
            assert!(id.starts_with("toolu_"), "{id}");
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{id}"
            );
            (name.clone(), input.clone())
        })
        .collect();
    assert_eq!(named, both_calls());

    let response = harness
        .anthropic_messages(json!({"max_tokens": 200,
        "tools": anthropic_tools(), "messages": [
            question,
            {"role": "assistant", "content": body["content"]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": uses[0].0, "content": "sunny"},
                {"type": "tool_result", "tool_use_id": uses[1].0, "content": "90.5"}
            ]}
        ]}))
        .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["stop_reason"], "end_turn", "{answer}");
    assert_grouped_history(
        &v2_bodies(&harness)[1],
        &[
            ("get_weather", r#"{"result": "sunny"}"#),
            ("get_rate", r#"{"result": 90.5}"#),
        ],
    );
}

#[tokio::test]
async fn messages_stream_one_tool_use_block_per_call() {
    let harness = start_v2().await;
    let response = harness
        .anthropic_messages(json!({"max_tokens": 200,
            "tools": anthropic_tools(), "stream": true,
            "messages": [{"role": "user", "content": BOTH}]}))
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let events: Vec<Value> = text
        .split_terminator("\n\n")
        .map(|frame| {
            let (name, data) = frame
                .strip_prefix("event: ")
                .and_then(|rest| rest.split_once("\ndata: "))
                .unwrap_or_else(|| panic!("not an `event:` + `data:` frame: {frame:?}"));
            let event: Value = serde_json::from_str(data).unwrap();
            assert_eq!(event["type"], name);
            event
        })
        .collect();
    // Blocks: started, input JSON, stopped, in index order; one per call.
    let mut blocks: Vec<(String, String)> = Vec::new();
    for event in &events {
        match event["type"].as_str().unwrap() {
            "content_block_start" if event["content_block"]["type"] == "tool_use" => {
                assert_eq!(event["index"], blocks.len() as u64, "{event}");
                assert_eq!(event["content_block"]["input"], json!({}));
                blocks.push((
                    event["content_block"]["name"].as_str().unwrap().to_owned(),
                    String::new(),
                ));
            }
            "content_block_delta" if event["delta"]["type"] == "input_json_delta" => {
                let index = event["index"].as_u64().unwrap() as usize;
                blocks[index]
                    .1
                    .push_str(event["delta"]["partial_json"].as_str().unwrap());
            }
            _ => {}
        }
    }
    let named: Vec<(String, Value)> = blocks
        .into_iter()
        .map(|(name, input)| (name, serde_json::from_str(&input).unwrap()))
        .collect();
    assert_eq!(named, both_calls());
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(events.last().unwrap()["type"], "message_stop");
}
