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

    // Built-in tools act only when offered.
    let answer: Value = env
        .post_v2(&simple("Draw a pink cat"))
        .await
        .json()
        .await
        .unwrap();
    let content = &answer["messages"][0]["content"];
    assert_eq!(keys(&content[0]), ["text"]);
    assert!(answer["messages"][0].get("tool_state_id").is_none());
}

fn two_functions() -> Value {
    json!([{"functions":{"specifications":[
        {"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
        {"name":"get_rate","parameters":{"type":"object","properties":{"currency":{"type":"string"}},"required":["currency"]}}]}}])
}

/// A v2 request offering the two functions, with this last user message.
fn with_functions(text: &str) -> Value {
    let mut body = simple(text);
    body["tools"] = two_functions();
    body
}

/// The assistant message (the last one) of a v2 answer.
fn assistant(answer: &Value) -> &Value {
    answer["messages"].as_array().unwrap().last().unwrap()
}

async fn error_of(env: &Env, body: &Value) -> (u16, Value) {
    let response = env.post_v2(body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn v2_parallel_calls_have_distinct_ids_and_one_state_id() {
    let env = Env::start().await;
    let prompt = r#"call:get_weather args:{"city":"Kazan"} and call:get_rate"#;
    let mut body = with_functions(prompt);
    body["model_options"] = json!({"parallel_tool_calls": true});
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    assert_eq!(answer["finish_reason"], "function_call");
    let message = assistant(&answer);
    assert!(message["tool_state_id"].is_string());
    let calls: Vec<&Value> = message["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|part| &part["function_call"])
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["name"], "get_weather");
    assert_eq!(calls[0]["arguments"], json!({"city":"Kazan"}));
    assert_eq!(calls[1]["name"], "get_rate");
    assert!(calls[1]["arguments"]["currency"].is_string());
    let (a, b) = (
        calls[0]["id"].as_str().unwrap(),
        calls[1]["id"].as_str().unwrap(),
    );
    assert!(!a.is_empty() && a != b, "{a} {b}");

    // Without the flag only the first marker is called.
    let answer: Value = env
        .post_v2(&with_functions(prompt))
        .await
        .json()
        .await
        .unwrap();
    let content = assistant(&answer)["content"].as_array().unwrap();
    assert_eq!(content.len(), 1);
    assert_eq!(content[0]["function_call"]["name"], "get_weather");
}

#[tokio::test]
async fn v2_call_ids_can_be_switched_off() {
    let env = Env::with(gigachat_emulator::EmulatorConfig {
        function_call_ids: false,
        ..Default::default()
    })
    .await;
    let answer: Value = env
        .post_v2(&with_functions("call:get_rate"))
        .await
        .json()
        .await
        .unwrap();
    let call = &assistant(&answer)["content"][0]["function_call"];
    assert_eq!(keys(call), ["name", "arguments"]);
}

/// A history with two calls (ids `a`, `b`) and the given tool messages after it.
fn answered(tool_messages: Vec<Value>) -> Value {
    let mut messages = vec![
        json!({"role":"user","content":[{"text":"weather and rate"}]}),
        json!({"role":"assistant","tools_state_id":"s1","content":[
            {"function_call":{"id":"a","name":"get_weather","arguments":{"city":"Kazan"}}},
            {"function_call":{"id":"b","name":"get_rate","arguments":{"currency":"USD"}}}]}),
    ];
    messages.extend(tool_messages);
    json!({"model":"GigaChat-3-Ultra","tools":two_functions(),"messages":messages})
}

#[tokio::test]
async fn v2_results_grouped_or_split_are_matched_by_id() {
    let env = Env::start().await;
    let weather = json!({"function_result":{"id":"a","name":"get_weather","result":{"temp_c":8}}});
    let rate = json!({"function_result":{"id":"b","name":"get_rate","result":{"rub":90.5}}});
    let grouped = answered(vec![
        json!({"role":"tool","tools_state_id":"s1","content":[rate.clone(), weather.clone()]}),
    ]);
    let split = answered(vec![
        json!({"role":"tool","tool_state_id":"s1","content":[rate.clone()]}),
        json!({"role":"tool","content":[weather.clone()]}),
    ]);
    for body in [grouped, split] {
        let response = env.post_v2(&body).await;
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["finish_reason"], "stop");
        assert!(assistant(&answer)["content"][0]["text"].is_string());
        assert!(assistant(&answer)["tool_state_id"].is_string());
    }

    // A call left without a result, and a result that answers no call.
    let missing = answered(vec![json!({"role":"tool","content":[weather.clone()]})]);
    let (status, error) = error_of(&env, &missing).await;
    assert_eq!(status, 422);
    assert_eq!(error["status"], 422);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("'get_rate' (id b)"),
        "{error}"
    );
    let stray = json!({"function_result":{"id":"c","name":"get_rate","result":{}}});
    let extra = answered(vec![
        json!({"role":"tool","content":[weather, rate, stray]}),
    ]);
    let (status, error) = error_of(&env, &extra).await;
    assert_eq!(status, 422);
    assert!(
        error["message"].as_str().unwrap().contains("(id c)"),
        "{error}"
    );
}

#[tokio::test]
async fn v2_mode_any_calls_a_listed_function() {
    let env = Env::start().await;
    let any = json!({"mode":"any","functions_names_any":["get_rate","get_weather"]});
    let mut body = with_functions("no marker here");
    body["tool_config"] = any.clone();
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    assert_eq!(answer["finish_reason"], "function_call");
    assert_eq!(
        assistant(&answer)["content"][0]["function_call"]["name"],
        "get_rate",
        "the first listed name"
    );
    let mut body = with_functions("call:get_weather please");
    body["tool_config"] = any.clone();
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    assert_eq!(
        assistant(&answer)["content"][0]["function_call"]["name"],
        "get_weather",
        "the listed name with a marker"
    );
    let mut body = with_functions(r#"call:get_weather then call:get_rate args:{"currency":"EUR"}"#);
    body["tool_config"] = any.clone();
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    let content = assistant(&answer)["content"].as_array().unwrap();
    assert_eq!(content.len(), 1);
    assert_eq!(
        content[0]["function_call"]["name"], "get_rate",
        "first listed"
    );
    assert_eq!(
        content[0]["function_call"]["arguments"],
        json!({"currency":"EUR"})
    );
    body["model_options"] = json!({"parallel_tool_calls": true});
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    let names: Vec<&Value> = assistant(&answer)["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|part| &part["function_call"]["name"])
        .collect();
    assert_eq!(
        names,
        ["get_weather", "get_rate"],
        "every marked listed name"
    );
}

#[tokio::test]
async fn v2_forcing_continues_while_the_mode_is_present() {
    let env = Env::start().await;
    let weather = json!({"function_result":{"id":"a","name":"get_weather","result":{"t":1}}});
    let rate = json!({"function_result":{"id":"b","name":"get_rate","result":{"r":2}}});
    let mut body = answered(vec![json!({"role":"tool","content":[weather, rate]})]);
    body["tool_config"] = json!({"mode":"forced","function_name":"get_weather"});
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    assert_eq!(answer["finish_reason"], "function_call");
    body["tool_config"] = json!({"mode":"any"});
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    assert_eq!(answer["finish_reason"], "function_call");
    body.as_object_mut().unwrap().remove("tool_config");
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    assert_eq!(answer["finish_reason"], "stop", "without the mode: text");
}

#[tokio::test]
async fn v2_tool_config_is_validated() {
    let env = Env::start().await;
    let cases = [
        (
            json!({"mode":"function"}),
            "tool_config.mode must be one of: auto, none, forced, any",
        ),
        (
            json!({"mode":"forced","function_name":"nope"}),
            "'nope' is not a function declared",
        ),
        (
            json!({"mode":"forced","tool_name":"web_search"}),
            "'web_search' is not a built-in tool offered",
        ),
        (
            json!({"mode":"forced"}),
            "function_name or tool_config.tool_name is required",
        ),
        (
            json!({"mode":"any","functions_names_any":["get_rate","nope"]}),
            "names 'nope'",
        ),
        (
            json!({"mode":"any","functions_names_any":[]}),
            "at least one declared function",
        ),
    ];
    for (config, expected) in cases {
        let mut body = with_functions("hi");
        body["tool_config"] = config.clone();
        let (status, error) = error_of(&env, &body).await;
        assert_eq!(status, 422, "{config}");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with("Invalid params: "), "{message}");
        assert!(message.contains(expected), "{config}: {message}");
    }
    let mut body = with_functions("hi");
    body["tool_config"] = json!({"mode":"none"});
    body["tools_state_id"] = json!("top-level state");
    body["model_options"] = json!({"parallel_tool_calls": false,
        "reasoning": {"effort": "medium", "max_tokens": 64}});
    assert_eq!(env.post_v2(&body).await.status(), 200);
}

#[tokio::test]
async fn v2_reasoning_messages_are_not_accepted_back() {
    let env = Env::start().await;
    let body = json!({"model":"GigaChat-3-Ultra","messages":[
        {"role":"user","content":[{"text":"q"}]},
        {"role":"reasoning","content":[{"text":"thoughts"}]},
        {"role":"assistant","content":[{"text":"a"}]},
        {"role":"user","content":[{"text":"q2"}]}]});
    let (status, error) = error_of(&env, &body).await;
    assert_eq!(status, 422);
    assert_eq!(error["message"], "Invalid params: unknown role 'reasoning'");
}
