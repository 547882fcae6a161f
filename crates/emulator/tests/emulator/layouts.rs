//! Both hosts' path layouts (api.giga.chat's `/v1`, the older host's `/api/v1`) and the recorded
//! usage accounting (`prompt_tokens` without the cached part, total = prompt + completion).

use serde_json::{Value, json};

use crate::common::{Env, hello, scoped, status_text};

#[tokio::test]
async fn base_urls_name_each_layout() {
    let env = Env::start().await;
    let origin = env.emu.api_origin();
    assert_eq!(env.emu.api_base_url(), format!("{origin}/v1"));
    assert_eq!(env.emu.legacy_api_base_url(), format!("{origin}/api/v1"));
    assert_eq!(env.emu.control_url(), format!("{origin}/_emulator"));
}

#[tokio::test]
async fn every_endpoint_answers_in_both_layouts() {
    let env = Env::start().await;
    let origin = env.emu.api_origin();
    for prefix in ["", "/api"] {
        let models = env
            .http
            .get(format!("{origin}{prefix}/v1/models"))
            .bearer_auth(&env.token)
            .send()
            .await
            .unwrap();
        assert_eq!(models.status(), 200, "{prefix}/v1/models");
        let chat = env
            .http
            .post(format!("{origin}{prefix}/v1/chat/completions"))
            .bearer_auth(&env.token)
            .json(&hello())
            .send()
            .await
            .unwrap();
        assert_eq!(chat.status(), 200, "{prefix}/v1/chat/completions");
        let v2 = env
            .http
            .post(format!("{origin}{prefix}/v2/chat/completions"))
            .bearer_auth(&env.token)
            .json(&json!({"model":"GigaChat-2","messages":[{"role":"user","content":[{"text":"Hi"}]}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(v2.status(), 200, "{prefix}/v2/chat/completions");
    }
    let paths: Vec<String> = env.emu.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.contains(&"/v1/models".to_owned()), "{paths:?}");
    assert!(paths.contains(&"/api/v1/models".to_owned()), "{paths:?}");
    // Unknown paths stay 404 in both.
    let (status, _) = status_text(env.get("/nothing-here").await).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn token_endpoint_exists_only_in_the_older_layout() {
    let env = Env::start().await;
    let password = |url: String| {
        env.http
            .post(url)
            .basic_auth("emulator-user", Some("emulator-password"))
            .send()
    };
    // api.giga.chat does not serve /token.
    let (status, body) = status_text(password(env.url("/token")).await.unwrap()).await;
    assert_eq!(status, 404, "{body}");
    let legacy = password(env.legacy_url("/token")).await.unwrap();
    assert_eq!(legacy.status(), 200);
    let token: Value = legacy.json().await.unwrap();
    let tok = token["tok"].as_str().unwrap();
    // A token from the older layout works in the new one (one service behind both).
    let models = env
        .http
        .get(env.url("/models"))
        .bearer_auth(tok)
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
}

#[tokio::test]
async fn default_chat_models_are_listed() {
    let env = Env::start().await;
    let list: Value = env.get("/models").await.json().await.unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for model in [
        "GigaChat-2",
        "GigaChat-2-Pro",
        "GigaChat-2-Max",
        "GigaChat",
        "GigaChat-Pro",
        "GigaChat-Max",
    ] {
        assert!(ids.contains(&model), "{model} missing from {ids:?}");
    }
}

/// A conversation whose first turn is `hello()`, so the second request finds it in the cache.
fn follow_up() -> Value {
    json!({"model":"GigaChat","messages":[
        {"role":"user","content":"Say 'Hello' and nothing else"},
        {"role":"assistant","content":"Hello."},
        {"role":"user","content":"Again"}]})
}

/// Checks the recorded rule on a v1 usage object and returns (prompt, precached).
fn recorded_rule(usage: &Value) -> (u64, u64) {
    let number = |key: &str| usage[key].as_u64().unwrap();
    assert_eq!(
        number("total_tokens"),
        number("prompt_tokens") + number("completion_tokens"),
        "{usage}"
    );
    (number("prompt_tokens"), number("precached_prompt_tokens"))
}

#[tokio::test]
async fn cached_tokens_are_left_out_of_prompt_tokens() {
    let env = Env::start().await;
    let session = |body: &Value| {
        env.http
            .post(env.url("/chat/completions"))
            .bearer_auth(&env.token)
            .header("X-Session-ID", "usage-1")
            .json(body)
            .send()
    };
    let first: Value = session(&hello()).await.unwrap().json().await.unwrap();
    assert_eq!(recorded_rule(&first["usage"]), (17, 0));
    let second: Value = session(&follow_up()).await.unwrap().json().await.unwrap();
    let (prompt, cached) = recorded_rule(&second["usage"]);
    assert_eq!(cached, 17, "the first turn is cached");
    // The same conversation without a cache hit: its whole prompt is counted.
    let cold: Value = env
        .post("/chat/completions", &follow_up())
        .await
        .json()
        .await
        .unwrap();
    let (whole, none) = recorded_rule(&cold["usage"]);
    assert_eq!(none, 0);
    assert_eq!(
        prompt + cached,
        whole,
        "prompt_tokens excludes the cached part"
    );
}

#[tokio::test]
async fn stream_usage_follows_the_same_rule() {
    let env = Env::start().await;
    let mut warm = hello();
    warm["stream"] = json!(true);
    let _ = env.post("/chat/completions", &warm).await.text().await;
    let mut again = follow_up();
    again["stream"] = json!(true);
    let text = env
        .post("/chat/completions", &again)
        .await
        .text()
        .await
        .unwrap();
    let usage = text
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find_map(|chunk| chunk.get("usage").cloned())
        .unwrap();
    let (prompt, cached) = recorded_rule(&usage);
    assert_eq!(cached, 17);
    assert!(prompt > 0, "{usage}");
}

#[tokio::test]
async fn v2_input_tokens_leave_cached_tokens_out() {
    let env = Env::start().await;
    let body = |texts: &[&str]| {
        let messages: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let role = if i % 2 == 0 { "user" } else { "assistant" };
                json!({"role": role, "content": [{"text": text}]})
            })
            .collect();
        json!({"model": "GigaChat-2", "messages": messages})
    };
    let first = env.post_v2(&body(&["Say 'Hello' and nothing else"])).await;
    assert_eq!(first.status(), 200);
    let second: Value = env
        .post_v2(&body(&["Say 'Hello' and nothing else", "Hello.", "Again"]))
        .await
        .json()
        .await
        .unwrap();
    let usage = &second["usage"];
    let number = |value: &Value| value.as_u64().unwrap();
    let cached = number(&usage["input_tokens_details"]["cached_tokens"]);
    assert!(cached > 0, "{usage}");
    // As recorded (3963 and 3710): input == details.prompt_tokens, total = input + output.
    assert_eq!(
        usage["input_tokens"],
        usage["input_tokens_details"]["prompt_tokens"]
    );
    assert_eq!(
        number(&usage["total_tokens"]),
        number(&usage["input_tokens"]) + number(&usage["output_tokens"])
    );
    // The same request to a fresh emulator (nothing cached): input = the uncached part + cached.
    let fresh = Env::start().await;
    let cold: Value = fresh
        .post_v2(&body(&["Say 'Hello' and nothing else", "Hello.", "Again"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cold["usage"]["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(
        number(&usage["input_tokens"]) + cached,
        number(&cold["usage"]["input_tokens"]),
        "{usage} vs {}",
        cold["usage"]
    );
}

#[tokio::test]
async fn gigachat_3_answers_only_on_the_new_host_to_individuals() {
    let env = Env::start().await;
    let ultra = json!({"model":"GigaChat-3-Ultra","messages":[{"role":"user","content":"Hi"}]});
    let v2 =
        json!({"model":"GigaChat-3-Ultra","messages":[{"role":"user","content":[{"text":"Hi"}]}]});
    let no_such_model = (
        404,
        "{\"status\":404,\"message\":\"No such model\"}\n".to_owned(),
    );
    let post = |url: String, body: &Value, token: &str| {
        env.http
            .post(url)
            .bearer_auth(token.to_owned())
            .json(body)
            .send()
    };
    let origin = env.emu.api_origin();
    let ok = post(env.url("/chat/completions"), &ultra, &env.token)
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let ok = post(format!("{origin}/v2/chat/completions"), &v2, &env.token)
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let legacy = post(env.legacy_url("/chat/completions"), &ultra, &env.token)
        .await
        .unwrap();
    assert_eq!(status_text(legacy).await, no_such_model);
    let legacy_v2 = post(format!("{origin}/api/v2/chat/completions"), &v2, &env.token)
        .await
        .unwrap();
    assert_eq!(status_text(legacy_v2).await, no_such_model);
    // GigaChat-2 answers in both.
    let mut two = ultra.clone();
    two["model"] = json!("GigaChat-2");
    let legacy_two = post(env.legacy_url("/chat/completions"), &two, &env.token)
        .await
        .unwrap();
    assert_eq!(legacy_two.status(), 200);

    // A business (CORP) key: not for GigaChat-3-Ultra, even on the new host.
    let (corp, http, token) = scoped("GIGACHAT_API_CORP").await;
    let response = http
        .post(format!("{}/chat/completions", corp.api_base_url()))
        .bearer_auth(token)
        .json(&ultra)
        .send()
        .await
        .unwrap();
    assert_eq!(status_text(response).await, no_such_model);
}
