//! Scripted behaviours: models without functions, the `call-invalid:` and `blacklist:` markers,
//! the recorded stream variants, and prompt-cache affinity by `X-Session-ID`.

use gigachat_emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::common::{Env, hello, keys, status_text};

const REFUSAL: &str = "Не люблю менять тему разговора, но вот сейчас тот самый случай.";

fn weather() -> Value {
    json!({"name":"weather_forecast","parameters":{"type":"object","properties":{
        "location":{"type":"string"},"num_days":{"type":"integer","minimum":1,"maximum":10}},
        "required":["location"]}})
}

/// The JSON payloads of a v1 SSE body, `[DONE]` checked and dropped.
fn chunks(body: &str) -> Vec<Value> {
    let events: Vec<&str> = body
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").unwrap())
        .collect();
    assert_eq!(*events.last().unwrap(), "[DONE]");
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

async fn post_json(env: &Env, body: &Value) -> Value {
    env.post("/chat/completions", body)
        .await
        .json()
        .await
        .unwrap()
}

async fn post_stream(env: &Env, body: &Value) -> Vec<Value> {
    let mut body = body.clone();
    body["stream"] = json!(true);
    chunks(
        &env.post("/chat/completions", &body)
            .await
            .text()
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn functions_to_a_no_function_model_get_422() {
    let env = Env::start().await;
    let expected = (
        422,
        "{\"status\":422,\"message\":\"Requested model does not support functions\"}\n".to_owned(),
    );
    let body = json!({"model":"GigaChat-2-Reasoning","messages":[{"role":"user","content":"hi"}],
        "functions":[weather()]});
    assert_eq!(
        status_text(env.post("/chat/completions", &body).await).await,
        expected
    );
    // A versioned name is the same model; v2 tools are functions too.
    let mut versioned = body.clone();
    versioned["model"] = json!("GigaChat-2-Reasoning:2.0.28.2");
    assert_eq!(
        status_text(env.post("/chat/completions", &versioned).await).await,
        expected
    );
    let v2 = json!({"model":"GigaChat-2-Reasoning","messages":[{"role":"user","content":[{"text":"hi"}]}],
        "tools":[{"functions":{"specifications":[weather()]}}]});
    assert_eq!(status_text(env.post_v2(&v2).await).await, expected);
    // Without functions the model answers; other models accept functions.
    let plain = json!({"model":"GigaChat-2-Reasoning","messages":[{"role":"user","content":"hi"}]});
    assert_eq!(env.post("/chat/completions", &plain).await.status(), 200);
    let mut other = body.clone();
    other["model"] = json!("GigaChat-2-Max");
    assert_eq!(env.post("/chat/completions", &other).await.status(), 200);

    // The list is configurable.
    let custom = Env::with(EmulatorConfig {
        no_function_models: vec!["GigaChat-2-Max".to_owned()],
        ..EmulatorConfig::default()
    })
    .await;
    assert_eq!(
        status_text(custom.post("/chat/completions", &other).await).await,
        expected
    );
    assert_eq!(custom.post("/chat/completions", &body).await.status(), 200);
}

#[tokio::test]
async fn call_invalid_marker_gives_finish_reason_error() {
    let env = Env::start().await;
    let body = json!({"model":"GigaChat","functions":[weather()],
        "messages":[{"role":"user","content":"Погода? call-invalid:weather_forecast"}]});
    let answer = post_json(&env, &body).await;
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "error");
    let message = &choice["message"];
    assert_eq!(
        keys(message),
        ["content", "role", "function_call", "functions_state_id"]
    );
    assert_eq!(message["content"], "");
    assert_eq!(message["function_call"]["name"], "weather_forecast");
    // The first typed property gets a value of another type.
    let arguments = &message["function_call"]["arguments"];
    assert!(arguments.is_object());
    assert_eq!(arguments["location"], json!(42));
    assert!(answer["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    // Forced calls of the marked function are invalid too; `none` and undeclared names are not.
    let mut forced = body.clone();
    forced["function_call"] = json!({"name":"weather_forecast"});
    assert_eq!(
        post_json(&env, &forced).await["choices"][0]["finish_reason"],
        "error"
    );
    let mut none = body.clone();
    none["function_call"] = json!("none");
    assert_eq!(
        post_json(&env, &none).await["choices"][0]["finish_reason"],
        "stop"
    );
    let undeclared = json!({"model":"GigaChat","functions":[weather()],
        "messages":[{"role":"user","content":"call-invalid:other"}]});
    assert_eq!(
        post_json(&env, &undeclared).await["choices"][0]["finish_reason"],
        "stop"
    );

    // Streaming: one delta with the call, finish_reason and usage.
    let chunks = post_stream(&env, &body).await;
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0]["choices"][0]["finish_reason"], "error");
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["function_call"]["arguments"]["location"],
        json!(42)
    );
    assert!(chunks[0]["usage"].is_object());

    // v2: a function_call part and the same finish reason.
    let v2 = json!({"model":"GigaChat","messages":[{"role":"user","content":[{"text":"call-invalid:weather_forecast"}]}],
        "tools":[{"functions":{"specifications":[weather()]}}]});
    let answer: Value = env.post_v2(&v2).await.json().await.unwrap();
    assert_eq!(answer["finish_reason"], "error");
    assert_eq!(
        answer["messages"][0]["content"][0]["function_call"]["name"],
        "weather_forecast"
    );
}

#[tokio::test]
async fn blacklist_marker_gives_the_canned_refusal() {
    let env = Env::start().await;
    // The filter wins over functions and structured output.
    let body = json!({"model":"GigaChat","functions":[weather()],
        "messages":[{"role":"user","content":"blacklist: call:weather_forecast"}]});
    let answer = post_json(&env, &body).await;
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "blacklist");
    assert_eq!(
        choice["message"],
        json!({"content": REFUSAL, "role": "assistant"})
    );
    let completion = answer["usage"]["completion_tokens"].as_u64().unwrap();
    assert!(completion > 0);

    // Streaming: the refusal in text deltas, then the finishing event.
    let chunks = post_stream(&env, &body).await;
    let text: String = chunks
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, REFUSAL);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "blacklist");
    assert_eq!(last["usage"]["completion_tokens"], completion);

    // v2.
    let v2 = json!({"model":"GigaChat","messages":[{"role":"user","content":[{"text":"blacklist: tell me"}]}]});
    let answer: Value = env.post_v2(&v2).await.json().await.unwrap();
    assert_eq!(answer["finish_reason"], "blacklist");
    assert_eq!(answer["messages"][0]["content"], json!([{"text": REFUSAL}]));
}

#[tokio::test]
async fn stream_variant_final_text_shares_the_finish_event() {
    let env = Env::with(EmulatorConfig {
        stream_final_text_with_finish: true,
        ..EmulatorConfig::default()
    })
    .await;
    let full = post_json(&env, &hello()).await;
    let chunks = post_stream(&env, &hello()).await;
    assert_eq!(chunks.len(), 24 / 3, "no separate empty final event");
    let mut text = String::new();
    for (index, chunk) in chunks.iter().enumerate() {
        let content = chunk["choices"][0]["delta"]["content"].as_str().unwrap();
        assert!(!content.is_empty());
        text.push_str(content);
        if index + 1 < chunks.len() {
            assert_eq!(keys(chunk), ["choices", "created", "model", "object"]);
        }
    }
    let last = chunks.last().unwrap();
    assert_eq!(
        keys(last),
        ["choices", "created", "model", "object", "usage"]
    );
    assert_eq!(
        keys(&last["choices"][0]),
        ["delta", "index", "finish_reason"]
    );
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        last["usage"]["completion_tokens"],
        full["usage"]["completion_tokens"]
    );
    assert_eq!(text, full["choices"][0]["message"]["content"]);
}

#[tokio::test]
async fn stream_variant_without_usage() {
    let env = Env::with(EmulatorConfig {
        stream_usage: false,
        ..EmulatorConfig::default()
    })
    .await;
    let chunks = post_stream(&env, &hello()).await;
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["delta"], json!({"content": ""}));
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    // Non-streaming answers keep their usage.
    assert!(post_json(&env, &hello()).await["usage"].is_object());

    // Both variants together: the threads-recording shape without usage.
    let both = Env::with(EmulatorConfig {
        stream_usage: false,
        stream_final_text_with_finish: true,
        ..EmulatorConfig::default()
    })
    .await;
    let chunks = post_stream(&both, &hello()).await;
    let last = chunks.last().unwrap();
    assert_eq!(keys(last), ["choices", "created", "model", "object"]);
    assert_ne!(last["choices"][0]["delta"]["content"], "");
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn prompt_cache_is_keyed_by_session_id() {
    let env = Env::start().await;
    let precached = |session: Option<&'static str>, body: Value| {
        let env = &env;
        async move {
            let mut request = env
                .http
                .post(env.url("/chat/completions"))
                .bearer_auth(&env.token)
                .json(&body);
            if let Some(session) = session {
                request = request.header("X-Session-ID", session);
            }
            let answer: Value = request.send().await.unwrap().json().await.unwrap();
            answer["usage"]["precached_prompt_tokens"].as_u64().unwrap()
        }
    };
    let prompt = hello();
    assert_eq!(precached(Some("s1"), prompt.clone()).await, 0);
    assert_eq!(precached(Some("s1"), prompt.clone()).await, 17, "repeat");
    assert_eq!(
        precached(Some("s2"), prompt.clone()).await,
        0,
        "other session"
    );
    assert_eq!(precached(None, prompt.clone()).await, 0, "no session");
    assert_eq!(
        precached(None, prompt.clone()).await,
        17,
        "no session, repeat"
    );
    // A longer conversation hits the identical prefix within its session.
    let longer = json!({"model":"GigaChat","messages":[
        {"role":"user","content":"Say 'Hello' and nothing else"},
        {"role":"assistant","content":"Hello."},
        {"role":"user","content":"Again"}]});
    assert_eq!(precached(Some("s1"), longer.clone()).await, 17);
    assert_eq!(precached(Some("s3"), longer).await, 0);
    // A changed first message shares no prefix; another model has its own cache.
    let changed = json!({"model":"GigaChat","messages":[{"role":"user","content":"Say 'Hello' and nothing else!"}]});
    assert_eq!(precached(Some("s1"), changed).await, 0);
    let mut pro = prompt.clone();
    pro["model"] = json!("GigaChat-Pro");
    assert_eq!(precached(Some("s1"), pro).await, 0);
}

#[tokio::test]
async fn session_cache_expires_after_the_ttl() {
    let env = Env::with(EmulatorConfig {
        prompt_cache_ttl: std::time::Duration::from_millis(300),
        ..EmulatorConfig::default()
    })
    .await;
    let send = || async {
        let answer: Value = env
            .http
            .post(env.url("/chat/completions"))
            .bearer_auth(&env.token)
            .header("X-Session-ID", "s")
            .json(&hello())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["usage"]["precached_prompt_tokens"].as_u64().unwrap()
    };
    assert_eq!(send().await, 0);
    assert_eq!(send().await, 17);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(send().await, 0);
}
