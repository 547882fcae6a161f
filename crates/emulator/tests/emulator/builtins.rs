//! v2 built-in tools: triggers, answer parts, state ids, usage, stream tool events, file downloads.

use serde_json::{Value, json};

use crate::common::{Env, keys, sse_events, v2_simple};

fn offering(text: &str, tool: &str) -> Value {
    let mut body = v2_simple(text);
    body["tools"] = json!([{ tool: {} }]);
    body
}

fn forced(text: &str, tool: &str) -> Value {
    let mut body = offering(text, tool);
    body["tool_config"] = json!({"mode":"forced","tool_name":tool});
    body
}

#[tokio::test]
async fn web_search_answers_cited_text_with_sources_in_the_same_part() {
    let env = Env::start().await;
    let mut body = forced("What is new in Python?", "web_search");
    body["tools"] = json!([{"web_search":{"type":"actual_info_web_search"}}]);
    let answer: Value = env.post_v2(&body).await.json().await.unwrap();
    assert_eq!(answer["finish_reason"], "stop");
    let message = &answer["messages"][0];
    assert!(message["tool_state_id"].is_string());
    let parts = message["content"].as_array().unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(keys(&parts[0]), ["text", "inline_data"]);
    let text = parts[0]["text"].as_str().unwrap();
    let sources = parts[0]["inline_data"]["sources"].as_object().unwrap();
    assert_eq!(parts[0]["inline_data"]["images"], json!([]));
    for key in sources.keys() {
        assert!(text.contains(&format!("[sources=[{key}]]")), "{text}");
        assert!(
            sources[key]["url"]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );
        assert!(sources[key]["title"].is_string());
    }
    let input = answer["usage"]["input_tokens"].as_u64().unwrap();
    assert!(input > 20_000, "search results are in the prompt: {input}");

    // Under auto the `search:` marker triggers it; without the marker (or the tool) it does not.
    let answer: Value = env
        .post_v2(&offering("search: python news", "web_search"))
        .await
        .json()
        .await
        .unwrap();
    assert!(answer["messages"][0]["content"][0]["inline_data"].is_object());
    let answer: Value = env
        .post_v2(&offering("python news", "web_search"))
        .await
        .json()
        .await
        .unwrap();
    let part = &answer["messages"][0]["content"][0];
    assert!(part.get("inline_data").is_none());
    assert!(
        answer["messages"][0]["tool_state_id"].is_string(),
        "tools offered"
    );
    assert!(answer["usage"]["input_tokens"].as_u64().unwrap() < 1000);
    let answer: Value = env
        .post_v2(&v2_simple("search: python news"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        answer["messages"][0]["content"][0]
            .get("inline_data")
            .is_none()
    );
    assert!(answer["messages"][0].get("tool_state_id").is_none());
}

#[tokio::test]
async fn code_and_url_tools_answer_text() {
    let env = Env::start().await;
    for (body, tool) in [
        (
            offering("code: sum of primes", "code_interpreter"),
            "code_interpreter",
        ),
        (
            forced("Read https://example.com", "url_content_extraction"),
            "url_content_extraction",
        ),
    ] {
        let answer: Value = env.post_v2(&body).await.json().await.unwrap();
        let message = &answer["messages"][0];
        assert!(message["tool_state_id"].is_string(), "{tool}");
        assert_eq!(keys(&message["content"][0]), ["text"], "{tool}");
        let mut stream = body.clone();
        stream["stream"] = json!(true);
        let text = env.post_v2(&stream).await.text().await.unwrap();
        let events = sse_events(&text);
        let names: Vec<&str> = events.iter().filter_map(|(n, _)| n.as_deref()).collect();
        assert_eq!(names[0], "response.tool.in_progress", "{tool}: {names:?}");
        assert_eq!(names[1], "response.tool.completed", "{tool}");
        let completed: Value = serde_json::from_str(&events[1].1).unwrap();
        assert_eq!(completed["messages"][0]["role"], "reasoning");
        let execution = &completed["messages"][0]["content"][0]["tool_execution"];
        assert_eq!(execution["name"], tool);
        assert_eq!(execution["status"], "success");
        assert_eq!(names[2], "response.message.delta");
        assert_eq!(*names.last().unwrap(), "response.message.done");
    }
}

#[tokio::test]
async fn web_search_stream_puts_sources_on_the_first_text_delta() {
    let env = Env::start().await;
    let mut body = forced("news", "web_search");
    body["stream"] = json!(true);
    let text = env.post_v2(&body).await.text().await.unwrap();
    let deltas: Vec<Value> = sse_events(&text)
        .into_iter()
        .filter(|(name, _)| name.as_deref() == Some("response.message.delta"))
        .map(|(_, data)| serde_json::from_str(&data).unwrap())
        .collect();
    assert!(deltas.len() > 1);
    assert!(deltas[0]["messages"][0]["content"][0]["inline_data"]["sources"]["1"].is_object());
    assert!(deltas[0]["messages"][0]["tool_state_id"].is_string());
    assert!(
        deltas[1..]
            .iter()
            .all(|d| d["messages"][0]["content"][0].get("inline_data").is_none())
    );
    let joined: String = deltas
        .iter()
        .map(|d| d["messages"][0]["content"][0]["text"].as_str().unwrap())
        .collect();
    assert!(joined.contains("[sources=[1]]"), "{joined}");
}

#[tokio::test]
async fn generated_files_download_only_with_the_same_client_id() {
    let env = Env::start().await;
    let url = format!("{}/v2/chat/completions", env.emu.api_origin());
    for (body, target, mime) in [
        (
            forced("a square icon", "image_generate"),
            "image",
            "image/jpeg",
        ),
        (
            forced("a cube", "model_3d_generate"),
            "3dmodel",
            "model/gltf-binary",
        ),
    ] {
        let answer: Value = env
            .http
            .post(&url)
            .bearer_auth(&env.token)
            .header("X-Client-ID", "client-a")
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let message = &answer["messages"][0];
        assert!(message["tool_state_id"].is_string());
        let file = &message["content"][0]["files"][0];
        assert_eq!(file["target"], target);
        assert_eq!(file["mime"], mime);
        assert!(message["content"][1]["text"].is_string());
        let content = env.url(&format!("/files/{}/content", file["id"].as_str().unwrap()));
        let fetch = |client: Option<&'static str>| {
            let mut request = env.http.get(&content).bearer_auth(&env.token);
            if let Some(client) = client {
                request = request.header("X-Client-ID", client);
            }
            request.send()
        };
        assert_eq!(
            fetch(Some("client-a")).await.unwrap().status(),
            200,
            "{target}"
        );
        assert_eq!(
            fetch(Some("client-b")).await.unwrap().status(),
            403,
            "{target}"
        );
        assert_eq!(fetch(None).await.unwrap().status(), 403, "{target}");
    }
}
