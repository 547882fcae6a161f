//! Non-streaming chat: shape, key order, determinism, validations, functions, structured output, images.

use std::time::Duration;

use gigachat_emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::common::{Env, hello, keys, status_text};

#[tokio::test]
async fn answer_has_the_recorded_shape_and_key_order() {
    let env = Env::start().await;
    let response = env
        .http
        .post(env.url("/chat/completions"))
        .bearer_auth(&env.token)
        .header("X-Request-ID", "req-1")
        .header("X-Session-ID", "sess-1")
        .json(&hello())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "ALPN negotiates h2"
    );
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(headers["x-request-id"], "req-1");
    assert_eq!(headers["x-session-id"], "sess-1");
    let text = response.text().await.unwrap();
    assert!(!text.ends_with('\n'));
    assert!(!text.contains(": "), "compact JSON");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        keys(&body),
        ["choices", "created", "model", "object", "usage"]
    );
    assert_eq!(body["model"], "GigaChat:2.0.28.2");
    assert_eq!(body["object"], "chat.completion");
    assert!(body.get("id").is_none());
    let choice = &body["choices"][0];
    assert_eq!(keys(choice), ["message", "index", "finish_reason"]);
    assert_eq!(keys(&choice["message"]), ["content", "role"]);
    assert_eq!(choice["finish_reason"], "stop");
    let usage = &body["usage"];
    assert_eq!(
        keys(usage),
        [
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "precached_prompt_tokens"
        ]
    );
    assert_eq!(usage["prompt_tokens"], 17);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        )
    );
    let content = choice["message"]["content"].as_str().unwrap();
    assert_eq!(content.split(' ').count(), 24);
    assert_eq!(env.emu.requests().last().unwrap().http_version, "HTTP/2.0");
}

#[tokio::test]
async fn fresh_ids_when_the_client_sends_none() {
    let env = Env::start().await;
    let response = env.post("/chat/completions", &hello()).await;
    for name in ["x-request-id", "x-session-id"] {
        let value = response.headers()[name].to_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(value).unwrap().get_version_num(), 4);
    }
}

#[tokio::test]
async fn same_request_same_text_and_usage_matches_tokens_count() {
    let env = Env::start().await;
    let first: Value = env
        .post("/chat/completions", &hello())
        .await
        .json()
        .await
        .unwrap();
    let second: Value = env
        .post("/chat/completions", &hello())
        .await
        .json()
        .await
        .unwrap();
    let content = first["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(content, second["choices"][0]["message"]["content"]);
    let other = json!({"model":"GigaChat","messages":[{"role":"user","content":"Something else"}]});
    let third: Value = env
        .post("/chat/completions", &other)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(content, third["choices"][0]["message"]["content"]);

    let counted: Value = env
        .post(
            "/tokens/count",
            &json!({"model":"GigaChat","input":[content]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(counted[0]["tokens"], first["usage"]["completion_tokens"]);
}

#[tokio::test]
async fn repeated_prefix_is_precached() {
    let env = Env::start().await;
    let first: Value = env
        .post("/chat/completions", &hello())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["usage"]["precached_prompt_tokens"], 0);
    let longer = json!({"model":"GigaChat","messages":[
        {"role":"user","content":"Say 'Hello' and nothing else"},
        {"role":"assistant","content":"Hello."},
        {"role":"user","content":"Again"}]});
    let second: Value = env
        .post("/chat/completions", &longer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["usage"]["precached_prompt_tokens"], 17);
}

#[tokio::test]
async fn max_tokens_cuts_with_length() {
    let env = Env::start().await;
    let mut body = hello();
    body["max_tokens"] = json!(5);
    let answer: Value = env
        .post("/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["finish_reason"], "length");
    assert!(answer["usage"]["completion_tokens"].as_u64().unwrap() <= 5);
}

#[tokio::test]
async fn errors_have_the_documented_bodies() {
    let env = Env::start().await;
    let cases = [
        (
            json!({"model":"NonExistentModel","messages":[{"role":"user","content":"Hello"}]}),
            404,
            "No such model",
        ),
        (
            json!({"model":"GigaChat","messages":[{"role":"user","content":"a"},{"role":"system","content":"b"}]}),
            422,
            "Invalid params: system message must be the first message",
        ),
        (
            json!({"model":"GigaChat","messages":[{"role":"system","content":"a"},{"role":"system","content":"b"}]}),
            422,
            "Invalid params: system message must be the first message",
        ),
        (
            json!({"model":"GigaChat","messages":[{"role":"user","content":"a"}],"repetition_penalty":0}),
            422,
            "Invalid params: repetition_penalty must be in range (0, +inf)",
        ),
        (
            json!({"model":"GigaChat","messages":[{"role":"user","content":"a"}],"temperature":0}),
            422,
            "",
        ),
        (
            json!({"model":"GigaChat","messages":[{"role":"user","content":"a"}],"top_p":1.5}),
            422,
            "",
        ),
        (
            json!({"model":"GigaChat","messages":[{"role":"user","content":"a"}],
            "functions":[{"name":"f","parameters":{"type":"object","properties":{"data":{"type":"object"}}}}]}),
            422,
            "Field 'properties.data.properties' is missing",
        ),
        (
            json!({"model":"GigaChat","messages":[
            {"role":"user","content":"a"},
            {"role":"assistant","content":"","function_call":{"name":"f","arguments":{}}},
            {"role":"user","content":"b"}]}),
            422,
            "Invalid params: every assistant function call must have a result in history",
        ),
        (
            json!({"model":"GigaChat","messages":[
            {"role":"user","content":"a"},
            {"role":"assistant","content":"","function_call":{"name":"f","arguments":{}}},
            {"role":"function","name":"f","content":"not json"}]}),
            422,
            "",
        ),
        (
            json!({"model":"GigaChat","messages":[{"role":"user","content":"a"}],"function_call":{"name":"undeclared"}}),
            422,
            "",
        ),
        (
            json!({"model":"GigaChat","messages":[{"role":"user","content":"a","attachments":["00000000-0000-0000-0000-000000000000"]}]}),
            422,
            "",
        ),
    ];
    for (body, status, message) in cases {
        let (got_status, text) = status_text(env.post("/chat/completions", &body).await).await;
        assert_eq!(got_status, status, "{body}: {text}");
        assert!(text.ends_with('\n'), "error bodies end with a newline");
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(keys(&parsed), ["status", "message"]);
        assert_eq!(parsed["status"], status);
        if !message.is_empty() {
            assert_eq!(parsed["message"], message);
        }
    }
    let response = env
        .http
        .post(env.url("/chat/completions"))
        .bearer_auth(&env.token)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_text(response).await,
        (
            400,
            "{\"status\":400,\"message\":\"Your request contains invalid JSON syntax.\"}\n"
                .to_owned()
        )
    );
}

#[tokio::test]
async fn not_found_error_is_byte_exact() {
    let env = Env::start().await;
    let body = json!({"model":"NonExistentModel","messages":[{"role":"user","content":"Hello"}]});
    let (status, text) = status_text(env.post("/chat/completions", &body).await).await;
    assert_eq!(status, 404);
    assert_eq!(text, "{\"status\":404,\"message\":\"No such model\"}\n");
    assert_eq!(text.len(), 41, "recorded Content-Length");
}

#[tokio::test]
async fn context_window_gives_413() {
    let env = Env::with(EmulatorConfig {
        context_window_tokens: 20,
        ..EmulatorConfig::default()
    })
    .await;
    let body = json!({"model":"GigaChat","messages":[{"role":"user","content":"one two three four five six seven eight nine ten eleven twelve"}]});
    let (status, text) = status_text(env.post("/chat/completions", &body).await).await;
    assert_eq!(
        (status, text.as_str()),
        (413, "{\"status\":413,\"message\":\"Payload too large\"}\n")
    );
}

fn weather() -> Value {
    json!({
        "name": "weather_forecast",
        "description": "Forecast",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "num_days": {"type": "integer", "minimum": 1, "maximum": 10},
                "format": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "detailed": {"type": "boolean"},
                "hours": {"type": "array", "items": {"type": "number"}},
                "where": {"type": "object", "properties": {"lat": {"type": "number"}}}
            },
            "required": ["location", "num_days"]
        }
    })
}

#[tokio::test]
async fn forced_function_call_has_object_arguments() {
    let env = Env::start().await;
    let body = json!({"model":"GigaChat-2-Max","messages":[{"role":"user","content":"Погода в Москве?"}],
        "functions":[weather()],"function_call":{"name":"weather_forecast","partial_arguments":{"location":"Москва"}}});
    let answer: Value = env
        .post("/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["model"], "GigaChat-2-Max:2.0.28.2");
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "function_call");
    let message = &choice["message"];
    assert_eq!(
        keys(message),
        ["content", "role", "function_call", "functions_state_id"]
    );
    assert_eq!(message["content"], "");
    let call = &message["function_call"];
    assert_eq!(call["name"], "weather_forecast");
    let args = &call["arguments"];
    assert_eq!(args["location"], "Москва");
    let days = args["num_days"].as_i64().unwrap();
    assert!((1..=10).contains(&days));
    assert!(["celsius", "fahrenheit"].contains(&args["format"].as_str().unwrap()));
    assert!(args["detailed"].is_boolean());
    assert!(args["hours"].is_array());
    assert!(args["where"]["lat"].is_number());
    uuid::Uuid::parse_str(message["functions_state_id"].as_str().unwrap()).unwrap();

    // The round trip: a function result is answered with text.
    let follow_up = json!({"model":"GigaChat-2-Max","functions":[weather()],"messages":[
        {"role":"user","content":"Погода в Москве?"},
        message,
        {"role":"function","name":"weather_forecast","content":"{\"temperature\":-3}"}]});
    let text: Value = env
        .post("/chat/completions", &follow_up)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(text["choices"][0]["finish_reason"], "stop");
    assert!(
        !text["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn auto_calls_only_on_the_marker() {
    let env = Env::start().await;
    let plain = json!({"model":"GigaChat","messages":[{"role":"user","content":"Погода?"}],
        "functions":[weather()],"function_call":"auto"});
    let answer: Value = env
        .post("/chat/completions", &plain)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    let marked = json!({"model":"GigaChat","messages":[{"role":"user","content":"Погода? call:weather_forecast"}],
        "functions":[weather()],"function_call":"auto"});
    let answer: Value = env
        .post("/chat/completions", &marked)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["finish_reason"], "function_call");
    let none = json!({"model":"GigaChat","messages":[{"role":"user","content":"call:weather_forecast"}],
        "functions":[weather()],"function_call":"none"});
    let answer: Value = env
        .post("/chat/completions", &none)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn marker_arguments_are_the_exact_arguments() {
    let env = Env::start().await;
    let call_of = |content: &str, function_call: Value| {
        json!({"model":"GigaChat","messages":[{"role":"user","content":content}],
            "functions":[weather()],"function_call":function_call})
    };
    let exact = call_of(
        r#"call:weather_forecast args:{"location": "Тверь", "extra": [1]} please"#,
        json!("auto"),
    );
    let answer: Value = env
        .post("/chat/completions", &exact)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["finish_reason"], "function_call");
    assert_eq!(
        answer["choices"][0]["message"]["function_call"]["arguments"],
        json!({"location": "Тверь", "extra": [1]}),
        "exactly the given object, nothing generated beside it"
    );

    // Forced: the partial arguments are merged over the marker's.
    let forced = call_of(
        r#"call:weather_forecast args:{"location": "Тверь", "num_days": 2}"#,
        json!({"name": "weather_forecast", "partial_arguments": {"num_days": 3}}),
    );
    let answer: Value = env
        .post("/chat/completions", &forced)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["function_call"]["arguments"],
        json!({"location": "Тверь", "num_days": 3})
    );

    // Not a JSON object: generated arguments, as without `args:`.
    let broken = call_of(
        "call:weather_forecast args:{location: Тверь}",
        json!("auto"),
    );
    let answer: Value = env
        .post("/chat/completions", &broken)
        .await
        .json()
        .await
        .unwrap();
    let arguments = &answer["choices"][0]["message"]["function_call"]["arguments"];
    assert!(arguments["num_days"].is_i64(), "generated: {arguments}");
    assert!(
        arguments["where"]["lat"].is_number(),
        "generated: {arguments}"
    );
}

#[tokio::test]
async fn structured_output_follows_the_schema() {
    let env = Env::with(EmulatorConfig {
        response_object: "chat.completions".to_owned(),
        ..EmulatorConfig::default()
    })
    .await;
    let body = json!({"model":"GigaChat-3-Ultra","messages":[{"role":"user","content":"Return JSON"}],
        "response_format":{"type":"json_schema","strict":true,"schema":{
            "type":"object","title":"Out","required":["answer","n"],
            "properties":{"answer":{"type":"string"},"n":{"type":"integer","minimum":0,"maximum":10}}}}});
    let answer: Value = env
        .post("/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["object"], "chat.completions");
    assert_eq!(answer["model"], "GigaChat-3-Ultra:32.3.7.3");
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("{\n    \""),
        "pretty-printed like the recording: {content}"
    );
    let parsed: Value = serde_json::from_str(content).unwrap();
    assert!(parsed["answer"].is_string());
    assert!((0..=10).contains(&parsed["n"].as_i64().unwrap()));
}

#[tokio::test]
async fn drawing_generates_a_downloadable_jpeg() {
    let env = Env::start().await;
    let body = json!({"model":"GigaChat","messages":[{"role":"user","content":"Нарисуй розового кота"}],"function_call":"auto"});
    let response = env
        .http
        .post(env.url("/chat/completions"))
        .bearer_auth(&env.token)
        .header("X-Client-ID", "client-7")
        .json(&body)
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    let message = &answer["choices"][0]["message"];
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert!(message["functions_state_id"].is_string());
    let content = message["content"].as_str().unwrap();
    let id = content
        .strip_prefix("<img src=\"")
        .and_then(|rest| rest.split_once('"'))
        .map(|(id, _)| id)
        .unwrap();
    assert!(content.contains("fuse=\"true\"/>"));

    let without = env.get(&format!("/files/{id}/content")).await;
    assert_eq!(without.status(), 403, "X-Client-ID must be repeated");
    let with = env
        .http
        .get(env.url(&format!("/files/{id}/content")))
        .bearer_auth(&env.token)
        .header("X-Client-ID", "client-7")
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
    assert_eq!(with.headers()["content-type"], "image/jpeg");
    let bytes = with.bytes().await.unwrap();
    assert_eq!(&bytes[..3], &[0xff, 0xd8, 0xff]);
}

#[tokio::test]
async fn concurrency_limit_answers_429() {
    let env = Env::with(EmulatorConfig {
        concurrency_limit: Some(1),
        first_event_delay: Duration::from_millis(300),
        ..EmulatorConfig::default()
    })
    .await;
    let mut streaming = hello();
    streaming["stream"] = json!(true);
    let first = env.post("/chat/completions", &streaming).await;
    assert_eq!(first.status(), 200);
    let (status, text) = status_text(env.post("/chat/completions", &hello()).await).await;
    assert_eq!(
        (status, text.as_str()),
        (429, "{\"status\":429,\"message\":\"Too many requests\"}\n")
    );
    first.text().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(env.post("/chat/completions", &hello()).await.status(), 200);
}

#[tokio::test]
async fn attachments_are_checked() {
    let env = Env::start().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let part = reqwest::multipart::Part::bytes(vec![0xff, 0xd8, 0xff, 0xe0])
            .file_name("a.jpg")
            .mime_str("image/jpeg")
            .unwrap();
        let form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("purpose", "general");
        let file: Value = env
            .http
            .post(env.url("/files"))
            .bearer_auth(&env.token)
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(file["id"].as_str().unwrap().to_owned());
    }
    let one = json!({"model":"GigaChat","messages":[{"role":"user","content":"Что на картинке?","attachments":[ids[0]]}]});
    assert_eq!(env.post("/chat/completions", &one).await.status(), 200);
    let two = json!({"model":"GigaChat","messages":[{"role":"user","content":"Что на картинках?","attachments":ids}]});
    let (status, text) = status_text(env.post("/chat/completions", &two).await).await;
    assert_eq!(status, 422, "{text}");
}

#[tokio::test]
async fn non_json_function_result_wording_depends_on_the_host() {
    let env = Env::start().await;
    let body = json!({"model":"GigaChat","functions":[{"name":"f","parameters":{"type":"object","properties":{}}}],
        "messages":[{"role":"user","content":"q"},
            {"role":"assistant","content":"","function_call":{"name":"f","arguments":{}}},
            {"role":"function","name":"f","content":"not json"}]});
    let (status, text) = status_text(env.post("/chat/completions", &body).await).await;
    assert_eq!(status, 422);
    assert_eq!(
        text,
        "{\"status\":422,\"message\":\"INVALID_PARAMS: invalid function result for function json string `not json`\"}\n"
    );
    let legacy = env
        .http
        .post(env.legacy_url("/chat/completions"))
        .bearer_auth(&env.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, text) = status_text(legacy).await;
    assert_eq!(status, 422);
    assert!(
        text.contains("Invalid params: function message content must be a valid JSON"),
        "{text}"
    );
}
